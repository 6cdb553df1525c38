"""`/learn pages`: community owners name the owner of a page or of a wiki space the community maps (found through
Mattermost by username), take them off again, list who owns what and set how often pages need review; anyone
else, an unknown or deactivated person, a space the community does not map or a page it does not have is
refused with a sentence that says why, and nothing is stored."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from learnloop.bootstrap import Runtime
from learnloop.mattermost.wiki_messages import announcer
from learnloop.services import personal_data
from learnloop.storage.tables import Community, PageOwner
from tests.conftest import FakeClock
from tests.network.standin import StandIn
from tests.network.world import ingest, page_event, rate, share, uid
from tests.prompts.world import Person, slash

OWNER, BOB, CAROL, MALLORY = Person("owner"), Person("bob"), Person("carol"), Person("mallory")
PAGE = "https://outline.example.com/doc/p1"


@pytest.fixture
def known(runtime: Runtime, clock: FakeClock, standin: StandIn) -> StandIn:
    """A wiki page of the community's Engineering collection, and bob and carol in Mattermost."""
    ingest(runtime, page_event(1, "created", clock.now - timedelta(hours=1)))
    standin.users.update({"bob": BOB.id, "carol": CAROL.id, "gone": uid("gone"), "helper-bot": uid("helperbot")})
    standin.deactivated.add(uid("gone"))
    standin.bots.add(uid("helperbot"))
    return standin


def owners(runtime: Runtime) -> list[tuple[Any, ...]]:
    with runtime.reader() as uow:
        return [tuple(row) for row in uow.session.execute(
            select(PageOwner.kind, PageOwner.item_id, PageOwner.space, PageOwner.user_id, PageOwner.username)
            .order_by(PageOwner.id))]


def test_owners_name_page_and_space_owners_list_them_and_take_them_off(client: FlaskClient, runtime: Runtime,
                                                                       known: StandIn) -> None:
    reply = slash(client, OWNER, f"pages owner {PAGE} @bob")["text"]
    assert reply.startswith("@bob now owns the page Page p1: they hear about it privately in a weekly message")
    assert "already owns the page Page p1; nothing changed" in slash(client, OWNER, f"pages owner {PAGE} @Bob")["text"]
    reply = slash(client, OWNER, "pages owner engineering @carol")["text"]
    assert reply.startswith("@carol now owns the wiki space Engineering (handbook): they hear about every page of it")
    assert slash(client, OWNER, "pages owner handbook:Engineering @carol")["text"].startswith("@carol already owns")
    [(_, item_id, _, _, _), _] = owners(runtime)
    assert owners(runtime) == [("page", item_id, None, BOB.id, "bob"),
                               ("space", None, "Engineering", CAROL.id, "carol")]
    listing = slash(client, OWNER, "pages")["text"]
    assert "Pages need review every 180 days" in listing
    assert "- Engineering (handbook): @carol" in listing and f"- [Page p1]({PAGE}): @bob" in listing
    reply = slash(client, OWNER, "pages owner Engineering @carol remove")["text"]
    assert reply.startswith("@carol no longer owns the wiki space Engineering (handbook).")
    reply = slash(client, OWNER, "pages owner Engineering @carol remove")["text"]
    assert reply == "Nothing changed: @carol is not named as an owner of Engineering (handbook)."
    assert owners(runtime) == [("page", item_id, None, BOB.id, "bob")]
    assert "No page or space has an owner named yet." not in slash(client, OWNER, "pages")["text"]


def test_owners_set_how_often_pages_need_review(client: FlaskClient, runtime: Runtime, known: StandIn) -> None:
    assert "now need review every 90 days" in slash(client, OWNER, "pages interval 90d")["text"]
    assert "now need review every 182 days" in slash(client, OWNER, "pages interval 26w")["text"]
    assert "Pages need review every 182 days" in slash(client, OWNER, "pages")["text"]


def stored(runtime: Runtime) -> tuple[int, list[int | None]]:
    with runtime.reader() as uow:
        return (uow.session.scalar(select(func.count()).select_from(PageOwner)) or 0,
                list(uow.session.scalars(select(Community.review_interval_days))))


@pytest.mark.parametrize(("person", "text", "expected"), [
    (MALLORY, f"pages owner {PAGE} @bob", "Only this community's owners"),
    (MALLORY, "pages", "Only this community's owners"),
    (MALLORY, "pages interval 30d", "Only this community's owners"),
    (OWNER, f"pages owner {PAGE} @nobody", "Mattermost has no user @nobody: check the name"),
    (OWNER, f"pages owner {PAGE} @gone", "@gone's account is deactivated"),
    (OWNER, f"pages owner {PAGE} @helper-bot", "@helper-bot is a bot"),
    (OWNER, "pages owner Marketing @bob",
     "Nothing changed: 'Marketing' is neither a page's URL nor a wiki space this community maps (it maps "
     "Engineering (handbook))"),
    (OWNER, "pages owner https://outline.example.com/doc/unknown @bob",
     "learnloop does not know https://outline.example.com/doc/unknown as a page yet"),
    (OWNER, "pages owner @bob", "Name the page (its URL) or space, then the person with @"),
    (OWNER, "pages owner Engineering bob",
     "Put @ before the username: `/learn pages owner Engineering @bob`, if bob is whom you mean. Nothing changed."),
    (OWNER, f"pages owner {PAGE} Bob remove", f"Put @ before the username: `/learn pages owner {PAGE} @bob remove`"),
    (OWNER, "pages owner Engineering", "Name the page (its URL) or space, then the person with @"),
    (OWNER, "pages interval soon", "'soon' is not an interval: use days or weeks, for example 180d or 26w. Usage: "
                                   "`/learn pages interval <days>d`, for example `/learn pages interval 90d`. Nothing "
                                   "changed."),
    (OWNER, "pages interval", "The interval is missing: use days or weeks, for example 180d or 26w. Usage: "
                              "`/learn pages interval <days>d`, for example `/learn pages interval 90d`."),
    (OWNER, "pages interval 3d", "3 days is outside what learnloop takes: from 7 days"),
    (OWNER, "pages interval 9999w", "69993 days is outside what learnloop takes"),
    (OWNER, "pages everything", "Usage: `/learn pages | pages owner <url or space> @person [remove]"),
])
def test_refusals_say_why_and_store_nothing(client: FlaskClient, runtime: Runtime, known: StandIn, person: Person,
                                            text: str, expected: str) -> None:
    before = stored(runtime)
    assert expected in slash(client, person, text)["text"]
    assert stored(runtime) == before and before[0] == 0


def test_a_page_of_another_community_is_named_in_that_community(client: FlaskClient, runtime: Runtime,
                                                                known: StandIn) -> None:
    other = "https://blog.example.com/elsewhere"
    share(runtime, uid("ann"), other)
    with runtime.uow() as uow:
        item = uow.items.by_url(other)
        item.community_id = uow.communities.ensure("otherchannel00000000000000", None, "Other", runtime.clock())
        uow.commit()
    reply = slash(client, OWNER, f"pages owner {other} @bob")["text"]
    assert reply.startswith(f"Nothing changed: {other} is not one of this community's pages")
    assert owners(runtime) == []


def test_an_owner_finds_what_they_own_in_their_data_and_erasing_it_takes_them_off(
        client: FlaskClient, runtime: Runtime, known: StandIn) -> None:
    slash(client, OWNER, f"pages owner {PAGE} @bob")
    slash(client, OWNER, "pages owner Engineering @bob")
    with runtime.uow() as uow:
        mine = personal_data.export(uow, BOB.id, None, runtime.signing_key, runtime.clock())["pages_and_spaces_you_own"]
    assert [(row["kind"], row["url"], row["space"]) for row in mine] == [("page", PAGE, None),
                                                                          ("space", None, "Engineering")]
    with runtime.uow() as uow:
        personal_data.erase(uow, BOB.id, "bob", runtime.clock(), runtime.signing_key, announcer(runtime))
    assert owners(runtime) == []


def test_naming_an_owner_does_not_tell_whether_someone_rated_a_link(client: FlaskClient, runtime: Runtime,
                                                                    known: StandIn) -> None:
    """A link someone rated but nobody shared is as unknown as one nobody rated: the reply to an owner must not
    say that someone rated it, nor in which community."""
    rate(runtime, uid("alice"), "https://jobs.rival.example/apply", 1)
    rated = slash(client, OWNER, "pages owner https://jobs.rival.example/apply @bob")["text"]
    never = slash(client, OWNER, "pages owner https://jobs.rival.example/other @bob")["text"]
    assert rated == never.replace("/other", "/apply") and "does not know" in rated
    assert owners(runtime) == []
