"""Wiki changes, whatever the wiki: one item per page, idempotent, one post per burst, owners' choice."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.domain.wiki_events import WikiEvent
from learnloop.jobs.worker import run_once
from learnloop.mattermost.wiki_messages import announcer
from learnloop.services import personal_data, wiki_ingest
from learnloop.services.outbox_kinds import CREATE_POST, UPDATE_POST
from learnloop.storage.tables import Announcement, Community, ContentItem, Event, OutboxMessage
from learnloop.wiring import create_app
from tests.conftest import FakeClock, make_settings
from tests.contract.mattermost_openapi import MattermostContract
from tests.privacy.test_personal_data import everything_stored
from tests.prompts.world import CHANNEL, Person, slash

UTC = UTC
WIKI = {"name": "handbook", "kind": "outline", "url": "https://outline.example.com", "secret": "s" * 32,
        "api_token": "ol_api_test"}
COMMUNITY = {"name": "Data guild", "channel_id": CHANNEL, "owners": [Person("owner").id], "burst_minutes": 30,
             "wiki_spaces": [{"wiki": "handbook", "space": "Engineering"}]}


@pytest.fixture
def wiki_runtime(engine, clock: FakeClock) -> Runtime:
    return build_runtime(make_settings(wikis=[WIKI], communities=[COMMUNITY]), clock=clock, engine=engine)


def event(n: int, *, action: str = "updated", spaces: tuple[str, ...] = ("Engineering",), minor: bool = False,
          sizes: tuple[int | None, int | None] = (None, None), page: str = "p1") -> WikiEvent:
    return WikiEvent(wiki="handbook", event_id=f"e{n}", action=action, page_id=page, title=f"Deploying ({page})",
                     url=f"https://outline.example.com/doc/{page}", spaces=spaces, author=f"author{n % 2}",
                     summary=f"change {n}", occurred_at=datetime(2026, 11, 2, 9, n, tzinfo=UTC), minor=minor,
                     old_size=sizes[0], new_size=sizes[1])


def ingest(runtime: Runtime, *events: WikiEvent) -> list[wiki_ingest.IngestResult]:
    results = []
    for item in events:
        with runtime.uow() as uow:
            results.append(wiki_ingest.ingest(uow, runtime.settings, item, runtime.clock(),
                                              announcer(runtime)))
    return results


def rows(runtime: Runtime, model: type) -> list:
    with runtime.uow() as uow:
        return list(uow.session.scalars(select(model)))


def test_the_same_event_twice_changes_nothing(wiki_runtime: Runtime) -> None:
    first, again = ingest(wiki_runtime, event(1, action="created"), event(1, action="created"))
    assert (first.duplicate, again.duplicate) == (False, True)
    assert len(rows(wiki_runtime, Event)) == 1 and len(rows(wiki_runtime, Announcement)) == 1
    [item] = rows(wiki_runtime, ContentItem)
    assert (item.kind, item.title, item.url) == ("wiki_page", "Deploying (p1)", "https://outline.example.com/doc/p1")


def test_a_save_in_an_edit_session_already_counted_still_renames_the_page(wiki_runtime: Runtime) -> None:
    """A wiki that re-reads the page (Outline) counts an edit session once, and its later saves may rename it."""
    first = dataclasses.replace(event(1), current=True)
    renamed = dataclasses.replace(first, title="Deploying safely", url="https://outline.example.com/doc/p1-safely")
    created, saved, again = ingest(wiki_runtime, event(0, action="created"), first, renamed)
    assert (saved.duplicate, again.duplicate) == (False, True)
    assert [e.kind for e in rows(wiki_runtime, Event)] == ["wiki_page_created", "wiki_page_updated"]
    [item] = rows(wiki_runtime, ContentItem)
    assert (item.title, item.url) == ("Deploying safely", "https://outline.example.com/doc/p1-safely")
    logged = dataclasses.replace(renamed, current=False, title="Deploying (old)")
    ingest(wiki_runtime, logged)
    assert rows(wiki_runtime, ContentItem)[0].title == "Deploying safely", "a repeat from a log changes nothing"


def test_a_page_published_again_after_going_back_to_the_drafts_is_rateable_again(wiki_runtime: Runtime) -> None:
    created = dataclasses.replace(event(0, action="created"), event_id="p1:created", current=True)
    unpublished = dataclasses.replace(event(1, action="deleted"), current=True)
    ingest(wiki_runtime, created, unpublished)
    assert rows(wiki_runtime, ContentItem)[0].retired_at is not None
    # Outline's documents.publish: the page's creation, seen before, read as it is now (publishing saves the
    # document, so its updatedAt is after the unpublishing's)
    [again] = ingest(wiki_runtime, dataclasses.replace(created, occurred_at=event(2).occurred_at))
    assert again.duplicate and rows(wiki_runtime, ContentItem)[0].retired_at is None
    assert [e.kind for e in rows(wiki_runtime, Event)] == ["wiki_page_created", "wiki_page_deleted"]


def test_a_new_page_is_posted_at_once_and_its_burst_of_edits_updates_that_post(
    wiki_runtime: Runtime, clock: FakeClock, mattermost_contract: MattermostContract
) -> None:
    ingest(wiki_runtime, event(0, action="created"))
    [message] = rows(wiki_runtime, OutboxMessage)
    assert message.kind == CREATE_POST and message.next_attempt_at == clock.now, "posted at once, not after a window"
    attachment = message.payload["props"]["attachments"][0]
    assert message.payload["channel_id"] == CHANNEL and attachment["title"] == "Deploying (p1)"
    assert attachment["text"].startswith("New page by author0") and len(attachment["actions"]) == 5
    mattermost_contract.add("POST", "/api/v4/posts", status=201,
                            json={"id": "announcepost00000000000000", "channel_id": CHANNEL, "message": ""})
    run_once(wiki_runtime)
    clock.advance(minutes=5)
    ingest(wiki_runtime, *[event(n) for n in range(1, 20)])
    [announcement] = rows(wiki_runtime, Announcement)
    assert announcement.edits == 20, "one post for the whole burst"
    updates = [m for m in rows(wiki_runtime, OutboxMessage) if m.kind == UPDATE_POST]
    assert len(updates) == 19 and all(m.payload["post_key"] == f"announce:{announcement.id}" for m in updates)
    mattermost_contract.add("PUT", "/api/v4/posts/announcepost00000000000000/patch",
                            json={"id": "announcepost00000000000000", "channel_id": CHANNEL, "message": ""})
    run_once(wiki_runtime)
    patches = [c for c in mattermost_contract.calls if c.method == "PUT"]
    text = patches[-1].json["props"]["attachments"][0]["text"]
    assert "New page by author0, author1" in text and "> change 19" in text
    assert len([c for c in mattermost_contract.calls if c.method == "POST"]) == 1, "no second post"
    clock.advance(minutes=30)
    ingest(wiki_runtime, event(30))
    assert len(rows(wiki_runtime, Announcement)) == 2, "after the burst window a change is a new post"


def test_an_erase_takes_the_authors_name_out_of_the_announcements_and_their_stored_copies(
    wiki_runtime: Runtime, clock: FakeClock, mattermost_contract: MattermostContract, engine
) -> None:
    ingest(wiki_runtime, event(0, action="created"), event(1), event(2))
    mattermost_contract.add("POST", "/api/v4/posts", status=201,
                            json={"id": "announcepost00000000000000", "channel_id": CHANNEL, "message": ""})
    mattermost_contract.add("PUT", "/api/v4/posts/announcepost00000000000000/patch",
                            json={"id": "announcepost00000000000000", "channel_id": CHANNEL, "message": ""})
    run_once(wiki_runtime)
    assert "author1" in everything_stored(engine) and "change 1" in everything_stored(engine)
    with wiki_runtime.uow() as uow:
        uow.members.ensure(Person("author1").id, clock.now, username="author1")
        uow.commit()
    with wiki_runtime.reader() as uow:
        [page] = personal_data.export(uow, Person("author1").id, None, wiki_runtime.signing_key,
                                      clock.now)["page_announcements_naming_you"]
    assert page["your_edit_summaries"] == ["change 1"], "the summary they wrote, not author0's"

    with wiki_runtime.uow() as uow:
        erased = personal_data.erase(uow, Person("author1").id, "author1", clock.now, wiki_runtime.signing_key,
                                     announcer(wiki_runtime))
    assert erased.counts["page_announcements"] == 1
    stored = everything_stored(engine)
    assert "author1" not in stored, "not in the announcement, nor in any copy of its post"
    assert "change 1" not in stored and "change 2" in stored, "their edit summary goes, author0's stays"
    [announcement] = rows(wiki_runtime, Announcement)
    assert announcement.authors == [{"name": "author0"}] and announcement.edits == 3
    texts = [m.payload["props"]["attachments"][0]["text"] for m in rows(wiki_runtime, OutboxMessage)]
    assert len(texts) == 3 and all(text.startswith("New page by author0\n") for text in texts)

    clock.advance(minutes=5)
    ingest(wiki_runtime, event(4))
    run_once(wiki_runtime)
    patch = [c for c in mattermost_contract.calls if c.method == "PUT"][-1]
    assert patch.json["props"]["attachments"][0]["text"].startswith("New page by author0\n"), "later edits too"


def test_an_erase_takes_out_the_summaries_stored_without_their_writer(wiki_runtime: Runtime, clock: FakeClock) -> None:
    """Summaries stored before each kept its writer may be the erased person's: they go, the names they do not
    match stay."""
    ingest(wiki_runtime, event(0, action="created"), event(1))
    with wiki_runtime.uow() as uow:
        [row] = uow.session.scalars(select(Announcement)).all()
        row.summaries = [{"text": "change 0"}, {"text": "change 1"}]
        uow.commit()
    with wiki_runtime.uow() as uow:
        personal_data.erase(uow, Person("author1").id, "author1", clock.now, wiki_runtime.signing_key,
                            announcer(wiki_runtime))
    [announcement] = rows(wiki_runtime, Announcement)
    assert (announcement.authors, announcement.summaries) == ([{"name": "author0"}], [])


def test_bot_edits_and_the_learning_log_are_never_announced(engine, clock: FakeClock) -> None:
    runtime = build_runtime(make_settings(wikis=[WIKI], communities=[{**COMMUNITY, "learning_log_page": "Guild log"}]),
                            clock=clock, engine=engine)
    bot_edit = WikiEvent(**{**event(1, action="created").__dict__, "bot": True})
    log_page = WikiEvent(**{**event(2, action="created", page="log").__dict__, "title": "Guild log"})
    ingest(runtime, bot_edit, log_page)
    assert rows(runtime, Announcement) == [] and len(rows(runtime, ContentItem)) == 2


@pytest.mark.parametrize(("policy", "events", "announced"), [
    ("new_and_major", [event(1, action="created")], True),
    ("new_and_major", [event(1, minor=True)], False),
    ("new_and_major", [event(1, sizes=(10_000, 10_050))], False),
    ("new_and_major", [event(1, sizes=(10_000, 11_000))], True),
    ("new_pages", [event(1)], False),
    ("new_pages", [event(1, action="created")], True),
    ("digest_only", [event(1, action="created")], False),
    ("new_and_major", [event(1, action="deleted")], False),
])
def test_what_is_announced_follows_the_policy(engine, clock: FakeClock, policy: str, events: list, announced: bool) -> None:
    runtime = build_runtime(make_settings(wikis=[WIKI], communities=[{**COMMUNITY, "announce": policy}]),
                            clock=clock, engine=engine)
    ingest(runtime, *events)
    assert bool(rows(runtime, Announcement)) is announced


def test_pages_outside_mapped_spaces_are_recorded_but_not_announced(wiki_runtime: Runtime) -> None:
    ingest(wiki_runtime, event(1, action="created", spaces=("Marketing",)))
    [item] = rows(wiki_runtime, ContentItem)
    assert item.community_id is None and rows(wiki_runtime, Announcement) == []


def test_owners_choose_what_their_channel_hears(
    wiki_runtime: Runtime, mattermost_contract: MattermostContract
) -> None:
    client: FlaskClient = create_app(wiki_runtime).test_client()
    owner, member = Person("owner"), Person("ann")
    mattermost_contract.add("GET", f"/api/v4/channels/{CHANNEL}/members/{member.id}",
                            json={"channel_id": CHANNEL, "user_id": member.id, "roles": "channel_user"})
    team = "rdc9bgriktyx9p4kowh3dmgqyc"
    mattermost_contract.add("GET", f"/api/v4/teams/{team}/members/{member.id}",
                            json={"team_id": team, "user_id": member.id, "roles": "team_user"})
    assert "Only this community's owners" in slash(client, member, "wiki announce new_pages")["text"]
    assert slash(client, owner, "wiki announce everything")["text"] == (
        "'everything' is not a choice: use new_pages, new_and_major, digest_only. Usage: `/learn wiki announce "
        "new_pages|new_and_major|digest_only`, for example `/learn wiki announce new_pages`. Nothing changed.")
    assert slash(client, owner, "wiki announce")["text"] == (
        "What to announce is missing: use new_pages, new_and_major, digest_only. Usage: `/learn wiki announce "
        "new_pages|new_and_major|digest_only`, for example `/learn wiki announce new_pages`. Nothing changed.")
    assert "new pages only" in slash(client, owner, "wiki announce new_pages")["text"]
    assert "Engineering (handbook)" in slash(client, member, "wiki")["text"]
    ingest(wiki_runtime, event(1, sizes=(100, 5000)))
    assert rows(wiki_runtime, Announcement) == [], "a major update is not a new page"


def test_without_a_wiki_space_there_is_nothing_to_choose_and_nothing_is_saved(engine, clock: FakeClock) -> None:
    community = {key: value for key, value in COMMUNITY.items() if key != "wiki_spaces"}
    runtime = build_runtime(make_settings(wikis=[WIKI], communities=[community]), clock=clock, engine=engine)
    client: FlaskClient = create_app(runtime).test_client()
    text = slash(client, Person("owner"), "wiki announce new_pages")["text"]
    assert text.startswith("No wiki space feeds this channel yet; your admin maps spaces to communities in "
                           "learnloop.toml.") and "nothing changed" in text
    assert "now hears about" not in text
    assert [row.announce_policy for row in rows(runtime, Community)] == [None]


def test_unknown_wiki_names_get_401(client: FlaskClient) -> None:
    response = client.post("/wiki/nope/events", data=b"{}", content_type="application/json")
    assert response.status_code == 401
