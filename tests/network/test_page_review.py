"""The life of a page: a page is listed for review when "outdated" or "broken link" reasons pile up (3 people),
when its score drops (k-guarded), or when nobody reviewed it within the interval; its owners get one private
message on Monday at their own time (pause, quiet hours and do not disturb as for suggestions), once per week
whatever the workers and replies do, with *Mark reviewed* and *Not mine*. A quiet week sends nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, select

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.config import Settings
from learnloop.jobs.worker import Worker
from learnloop.mattermost.page_messages import NOT_MINE_ACTION
from learnloop.mattermost.signed_state import button_context
from learnloop.mattermost.wiki_messages import announcer
from learnloop.services import page_review, personal_data
from learnloop.services.rating import give_reason
from learnloop.storage.tables import ContentItem, Feedback, OutboxMessage, PageOwner
from tests.conftest import FakeClock, shown_scores
from tests.network.standin import StandIn
from tests.network.world import OWNER, ingest, page_event, rate, settings_for, tick, uid
from tests.prompts.world import Person, click, slash

K = 5
BOB, ADMIN, CAROL = Person("bob"), Person("admin"), Person("carol")
OWNER_P = Person("owner")
PAGE = "https://outline.example.com/doc/p1"
MONDAY_0901_BERLIN = datetime(2026, 11, 2, 8, 1, tzinfo=UTC)
NEXT_MONDAY_0901_BERLIN = MONDAY_0901_BERLIN + timedelta(weeks=1)
HEADER = "**Pages that need you this week.**"


def reviews_to(standin: StandIn, person: Person) -> list[dict[str, Any]]:
    return [p for p in standin.dms_to(person.id) if p["message"].startswith(HEADER)]


@pytest.fixture
def settings() -> Settings:
    """No channel post for new pages here: the only posts are the messages under test."""
    return settings_for(OWNER, announce="digest_only")


def a_page(runtime: Runtime, clock: FakeClock, days_ago: int, n: int = 1) -> None:
    """A page of the Engineering collection that learnloop first saw `days_ago` days ago."""
    now = clock.now
    clock.now = now - timedelta(days=days_ago)
    ingest(runtime, page_event(n, "created", clock.now))
    clock.now = now


def review_messages(runtime: Runtime) -> list[str]:
    with runtime.reader() as uow:
        return list(uow.session.scalars(select(OutboxMessage.idempotency_key)
                                        .where(OutboxMessage.idempotency_key.like("review:%"))))


def reasons(runtime: Runtime, people: int, reason: str = "outdated", url: str = PAGE) -> None:
    for n in range(people):
        rate(runtime, uid(f"reader{n}"), url, 2)
        with runtime.uow() as uow:
            give_reason(uow, uid(f"reader{n}"), url, reason, f"note {n}: the steps changed", runtime.clock())


def bob_owns(client: FlaskClient, standin: StandIn, url: str = PAGE) -> None:
    standin.users["bob"] = BOB.id
    assert "@bob now owns" in slash(client, OWNER_P, f"pages owner {url} @bob")["text"]


def context_of(dm: dict[str, Any], label: str) -> dict[str, Any]:
    [button] = [a for attachment in dm["props"]["attachments"] for a in attachment.get("actions", [])
                if a["name"] == label]
    return button["integration"]["context"]


@pytest.mark.parametrize(("people", "listed"), [(2, False), (3, True)])
def test_reasons_from_three_people_list_the_page_for_its_owner_only(
        client: FlaskClient, runtime: Runtime, clock: FakeClock, standin: StandIn, people: int, listed: bool) -> None:
    a_page(runtime, clock, 2)
    bob_owns(client, standin)
    reasons(runtime, people)
    reasons(runtime, 1, "broken_link")  # the same first person again: a reason replaces their own, still one person
    tick(runtime, clock)
    tick(runtime, clock)
    if not listed:
        assert standin.posts == {} and review_messages(runtime) == [], "nothing needs review: no message at all"
        return
    [dm] = reviews_to(standin, BOB)
    assert reviews_to(standin, OWNER_P) == [], "a page with an owner of its own goes to that owner only"
    [page, ] = dm["props"]["attachments"]
    assert page["title_link"] == PAGE and page["title"] == "Page p1"
    text = page["text"]
    assert "**Why:** readers say it is outdated or has a broken link." in text
    assert f"Score: too early to tell (a score shows once {K} people have rated the page and the week has ended)." in text
    assert "Reasons given (still open): Outdated 2 · Broken link 1" in text
    assert "> note 1: the steps changed" in text and "> note 0: the steps changed" in text
    assert not any(uid(f"reader{n}") in str(dm) or f"reader{n}" in str(dm) for n in range(people)), "nobody named"
    assert "2026" not in text and "/5" not in text, "no exact time, no stars"
    assert [a["name"] for a in page["actions"]] == ["Mark reviewed", "Not mine"]
    assert context_of(dm, "Mark reviewed")["for"] == BOB.id


@pytest.mark.parametrize(("people", "flagged"), [(K - 1, False), (K, True), (K + 1, True)])
def test_a_score_that_drops_lists_the_page_only_when_k_people_stand_behind_both_scores(
        client: FlaskClient, runtime: Runtime, clock: FakeClock, standin: StandIn, people: int, flagged: bool) -> None:
    start = clock.now
    a_page(runtime, clock, 42)
    clock.now = start - timedelta(weeks=6)
    for n in range(people):
        rate(runtime, uid(f"reader{n}"), PAGE, 5)
    shown_scores(runtime)
    clock.now = start - timedelta(weeks=1)
    for n in range(people):
        rate(runtime, uid(f"reader{n}"), PAGE, 1)
    shown_scores(runtime)
    clock.now = start
    bob_owns(client, standin)
    tick(runtime, clock)
    if not flagged:
        assert standin.posts == {} and review_messages(runtime) == [], "fewer than k people: nothing listed"
        return
    [dm] = reviews_to(standin, BOB)
    text = dm["props"]["attachments"][0]["text"]
    assert "**Why:** its score dropped." in text
    prior = (5 * 3 + people) / (5 + people)
    now_score, before = (5 * prior + people) / (5 + people), (5 * prior + 5 * people) / (5 + people)
    assert f"Score: {now_score:.1f}/5 from {people} ratings, down from {before:.1f} before its latest {K} or more " \
        "ratings." in text


def test_a_page_not_reviewed_within_the_interval_goes_to_the_community_owners(
        client: FlaskClient, runtime: Runtime, clock: FakeClock, standin: StandIn) -> None:
    a_page(runtime, clock, 181)
    a_page(runtime, clock, 179, n=2)
    standin.channel_admins.add(ADMIN.id)
    tick(runtime, clock)
    [dm] = reviews_to(standin, OWNER_P)
    [page] = dm["props"]["attachments"]
    assert page["title"] == "Page p1", "only the page past the interval"
    assert "nobody has reviewed it since 05 May 2026 (it is due every 180 days)" in page["text"]
    assert len(reviews_to(standin, ADMIN)) == 1, "the channel's admins own the community too"
    assert "no trend" not in page["text"] and "too early to tell" in page["text"]


def test_a_deactivated_channel_admin_gets_no_review_and_the_other_owners_still_do(
        client: FlaskClient, runtime: Runtime, clock: FakeClock, standin: StandIn) -> None:
    """Mattermost still opens a direct channel to a deactivated account and takes the post, which nobody reads."""
    a_page(runtime, clock, 181)
    standin.channel_admins |= {ADMIN.id, CAROL.id}
    standin.deactivated.add(ADMIN.id)
    tick(runtime, clock)
    assert reviews_to(standin, ADMIN) == [] and f"review:{ADMIN.id}:2026-11-02" not in review_messages(runtime)
    assert len(reviews_to(standin, CAROL)) == 1 and len(reviews_to(standin, OWNER_P)) == 1


def test_a_page_owner_deactivated_since_they_were_named_gets_no_review(
        client: FlaskClient, runtime: Runtime, clock: FakeClock, standin: StandIn) -> None:
    a_page(runtime, clock, 2)
    bob_owns(client, standin)
    reasons(runtime, 3)
    standin.deactivated.add(BOB.id)
    tick(runtime, clock)
    tick(runtime, clock)
    assert reviews_to(standin, BOB) == [] and review_messages(runtime) == []


def test_the_interval_runs_from_when_the_wiki_named_the_page_never_from_a_rating(
        client: FlaskClient, runtime: Runtime, clock: FakeClock, standin: StandIn) -> None:
    """A page rated in chat long before any event of it says nothing of when it was rated: its interval starts
    when the wiki first names it."""
    now = clock.now
    clock.now = now - timedelta(days=200)
    rate(runtime, uid("reader0"), PAGE, 4)
    clock.now = now - timedelta(days=10)
    ingest(runtime, page_event(1, "updated", clock.now))
    clock.now = now
    tick(runtime, clock)
    assert review_messages(runtime) == []
    clock.now = now + timedelta(weeks=25)
    tick(runtime, clock)
    [dm] = reviews_to(standin, OWNER_P)
    assert "nobody has reviewed it since 23 Oct 2026" in dm["props"]["attachments"][0]["text"]


def test_the_owners_interval_decides_when_a_page_is_due(client: FlaskClient, runtime: Runtime, clock: FakeClock,
                                                        standin: StandIn) -> None:
    a_page(runtime, clock, 181)
    slash(client, OWNER_P, "pages interval 365d")
    tick(runtime, clock)
    assert standin.posts == {} and review_messages(runtime) == []
    clock.now = NEXT_MONDAY_0901_BERLIN
    slash(client, OWNER_P, "pages interval 90d")
    tick(runtime, clock)
    [dm] = reviews_to(standin, OWNER_P)
    assert "(it is due every 90 days)" in dm["props"]["attachments"][0]["text"]


def test_once_per_owner_and_week_through_a_lost_reply_and_two_workers(
        client: FlaskClient, runtime: Runtime, clock: FakeClock, standin: StandIn, engine: Engine) -> None:
    a_page(runtime, clock, 2)
    bob_owns(client, standin)
    reasons(runtime, 3)
    standin.lose_replies = 1
    other = build_runtime(runtime.settings, clock=clock, engine=engine)
    clock.advance(minutes=1)
    Worker(runtime).run_once()
    Worker(other).run_once()
    assert len(reviews_to(standin, BOB)) == 1, "the post was saved, its reply lost"
    for _ in range(3):
        clock.advance(minutes=10)
        Worker(other).run_once()
        Worker(runtime).run_once()
    assert len(reviews_to(standin, BOB)) == 1, "the retry found the post it made; the second worker queued nothing"
    with runtime.reader() as uow:
        [message] = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.idempotency_key.like("review:%")))
    assert (message.status, message.idempotency_key) == ("sent", f"review:{BOB.id}:2026-11-02")


def test_two_workers_planning_the_same_owner_at_once_queue_one_message(
        client: FlaskClient, runtime: Runtime, clock: FakeClock, standin: StandIn) -> None:
    a_page(runtime, clock, 2)
    bob_owns(client, standin)
    reasons(runtime, 3)
    with runtime.uow() as uow:
        page_review.list_week(uow, page_review.work_out(uow, page_review.communities_due(uow, clock.now), clock.now, K),
                              {}, clock.now)
    plans = []
    for _ in range(2):
        with runtime.reader() as uow:
            due = page_review.due(uow, runtime.settings, clock.now)
            plans.append(page_review.plan(uow, due, {}, clock.now, lambda user, pages, more: {"user_id": user}))
    with runtime.uow() as uow:
        assert page_review.record(uow, plans[0], clock.now) == 1
    with runtime.uow() as uow:
        assert page_review.record(uow, plans[1], clock.now) == 0, "the week is marked: the second plan is stale"


def test_pause_quiet_hours_and_do_not_disturb_are_honoured_as_for_suggestions(
        client: FlaskClient, runtime: Runtime, clock: FakeClock, standin: StandIn) -> None:
    a_page(runtime, clock, 2)
    bob_owns(client, standin)
    reasons(runtime, 3)
    slash(client, BOB, "prompts quiet 08:00-10:30")
    tick(runtime, clock)
    assert reviews_to(standin, BOB) == [], "quiet hours until 10:30 Berlin"
    clock.now = datetime(2026, 11, 2, 9, 31, tzinfo=UTC)
    tick(runtime, clock)
    assert len(reviews_to(standin, BOB)) == 1
    standin.statuses[BOB.id] = "dnd"
    clock.now = NEXT_MONDAY_0901_BERLIN + timedelta(hours=2)
    tick(runtime, clock)
    standin.statuses[BOB.id] = "online"
    tick(runtime, clock)
    assert len(reviews_to(standin, BOB)) == 1, "do not disturb skips the week"
    slash(client, BOB, "prompts pause 2w")
    clock.now += timedelta(days=7)
    tick(runtime, clock)
    assert len(reviews_to(standin, BOB)) == 1, "paused"


def test_mark_reviewed_resolves_the_reasons_and_takes_the_page_off_the_list(
        client: FlaskClient, runtime: Runtime, clock: FakeClock, standin: StandIn) -> None:
    a_page(runtime, clock, 200)
    bob_owns(client, standin)
    reasons(runtime, 3)
    tick(runtime, clock)
    [dm] = reviews_to(standin, BOB)
    context = context_of(dm, "Mark reviewed")
    assert "not yours" in click(client, Person("mallory"), context).get_json()["ephemeral_text"]
    reply = click(client, BOB, context).get_json()["ephemeral_text"]
    assert reply == (f"Marked reviewed: [Page p1]({PAGE}). Its 3 open reasons are marked resolved. It comes up again "
                     "in 180 days, or sooner if readers flag it.")
    with runtime.reader() as uow:
        assert uow.session.scalar(select(ContentItem.reviewed_at).where(ContentItem.url == PAGE)) == clock.now
        assert set(uow.session.scalars(select(Feedback.status))) == {"resolved"}
    rate(runtime, uid("late"), PAGE, 4)
    clock.now = NEXT_MONDAY_0901_BERLIN
    tick(runtime, clock)
    assert len(reviews_to(standin, BOB)) == 1, "reviewed: nothing the next week"


def test_not_mine_hands_the_page_back_to_the_community_owners_who_are_told(
        client: FlaskClient, runtime: Runtime, clock: FakeClock, standin: StandIn) -> None:
    a_page(runtime, clock, 200)
    bob_owns(client, standin)
    tick(runtime, clock)
    [dm] = reviews_to(standin, BOB)
    assert reviews_to(standin, OWNER_P) == []
    owner_button = button_context(NOT_MINE_ACTION, runtime.signing_key, for_user=OWNER,
                                  item_id=context_of(dm, "Not mine")["item_id"])
    refused = click(client, OWNER_P, owner_button).get_json()["ephemeral_text"]
    assert refused.startswith("Nothing changed: You are no longer one of this page's owners")
    reply = click(client, BOB, context_of(dm, "Not mine")).get_json()["ephemeral_text"]
    assert reply == (f"You no longer hear about [Page p1]({PAGE}). Nobody else owns it by name, so the community's "
                     "owners hear about it again (1 told now).")
    with runtime.reader() as uow:
        assert list(uow.session.scalars(select(PageOwner.user_id))) == []
    refused = click(client, BOB, context_of(dm, "Mark reviewed")).get_json()["ephemeral_text"]
    assert refused == f"You are no longer one of the owners of [Page p1]({PAGE}); nothing changed."
    tick(runtime, clock)
    [told] = [p for p in standin.dms_to(OWNER) if p["message"].startswith("Nobody owns")]
    assert f"`/learn pages owner {PAGE} @person`" in told["message"]
    [this_week] = reviews_to(standin, OWNER_P)
    assert this_week["props"]["attachments"][0]["title"] == "Page p1", "theirs from now on, this week's list too"
    again = click(client, OWNER_P, owner_button).get_json()["ephemeral_text"]
    assert "you hear about this page as one of its community's owners" in again.lower()
    clock.now = NEXT_MONDAY_0901_BERLIN
    tick(runtime, clock)
    assert len(reviews_to(standin, OWNER_P)) == 2, "and the weeks after"
    assert len(reviews_to(standin, BOB)) == 1


def test_a_space_owner_hears_of_its_pages_and_can_decline_one(client: FlaskClient, runtime: Runtime,
                                                              clock: FakeClock, standin: StandIn) -> None:
    a_page(runtime, clock, 200)
    a_page(runtime, clock, 200, n=2)
    standin.users["bob"] = BOB.id
    slash(client, OWNER_P, "pages owner Engineering @bob")
    tick(runtime, clock)
    [dm] = reviews_to(standin, BOB)
    assert [a["title"] for a in dm["props"]["attachments"]] == ["Page p1", "Page p2"]
    assert reviews_to(standin, OWNER_P) == []
    first = dm["props"]["attachments"][0]["actions"][1]["integration"]["context"]
    assert "Nobody else owns it by name" in click(client, BOB, first).get_json()["ephemeral_text"]
    with runtime.reader() as uow:
        assert sorted(uow.session.scalars(select(PageOwner.kind))) == ["declined", "space"]
    clock.now = NEXT_MONDAY_0901_BERLIN
    tick(runtime, clock)
    assert [a["title"] for a in reviews_to(standin, BOB)[1]["props"]["attachments"]] == ["Page p2"]
    assert [a["title"] for a in reviews_to(standin, OWNER_P)[0]["props"]["attachments"]] == ["Page p1"]


def test_a_person_a_readers_note_mentions_exports_that_line_of_the_owners_message_only(
        client: FlaskClient, runtime: Runtime, clock: FakeClock, standin: StandIn) -> None:
    """The owner's weekly message is theirs: someone a note names by @name takes away the line that names them,
    not the other readers' notes, nor whom the message went to."""
    a_page(runtime, clock, 2)
    bob_owns(client, standin)
    notes = ["the deploy steps changed", "broken since the move", "ask @carol, she rewrote the pipeline"]
    for n, note in enumerate(notes):
        rate(runtime, uid(f"reader{n}"), PAGE, 2)
        with runtime.uow() as uow:
            give_reason(uow, uid(f"reader{n}"), PAGE, "outdated", note, runtime.clock())
    tick(runtime, clock)
    assert reviews_to(standin, BOB)
    with runtime.uow() as uow:
        uow.members.ensure(CAROL.id, runtime.clock(), username="carol")
        uow.commit()
    with runtime.reader() as uow:
        data = personal_data.export(uow, CAROL.id, None, runtime.signing_key, runtime.clock())
    assert data["messages_naming_you"] == []
    [message] = data["messages_to_others_naming_you"]
    assert message["lines_naming_you"] == ["> ask @carol, she rewrote the pipeline"]
    assert "deploy steps" not in json.dumps(message, default=str) and BOB.id not in json.dumps(message, default=str)

    with runtime.uow() as uow:  # her erasure takes her name out of the owner's message, not the message away
        personal_data.erase(uow, CAROL.id, "carol", runtime.clock(), runtime.signing_key, announcer(runtime))
    with runtime.reader() as uow:
        kept = json.dumps([m.payload for m in uow.session.scalars(
            select(OutboxMessage).where(OutboxMessage.idempotency_key.like("review:%")))])
    assert "ask someone, she rewrote the pipeline" in kept and "the deploy steps changed" in kept
    assert "@carol" not in kept
    with runtime.reader() as uow:  # nor on the owners' triage list, where the note itself stays its writer's
        comments = sorted(uow.session.scalars(select(Feedback.comment)))
    assert comments == ["ask someone, she rewrote the pipeline", "broken since the move", "the deploy steps changed"]
