"""Prompts reach everyone exactly once: crashes, 429 storms, downtime and parallel delivery."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import func, select

from learnloop.bootstrap import Runtime
from learnloop.mattermost import delivery as mattermost_delivery
from learnloop.services.outbox_kinds import SEND_NUDGE, SEND_PROMPT
from learnloop.services.prompts.preferences import pause, set_enabled, set_nudges, set_quiet_hours
from learnloop.storage.tables import Delivery, Event, Member, OutboxMessage
from tests.conftest import FakeClock
from tests.contract.mattermost_openapi import MattermostContract
from tests.prompts.world import (
    FRIDAY_DUE,
    THURSDAY,
    Person,
    World,
    add_schedule,
    courier,
    planned_world,
    reasons,
    statuses,
    uid,
)

UTC = UTC


def due_world(runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock,
              people: list[Person]) -> World:
    """`planned_world` at the prompt's due time, Mattermost ready to answer for statuses, DMs and posts."""
    world = planned_world(runtime, mattermost_contract, clock, people)
    clock.now = FRIDAY_DUE
    world.serve_statuses()
    world.serve_dm_and_posts(len(people))
    return world


def test_a_crash_between_sending_and_marking_sent_does_not_send_twice(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    ann = Person("ann")
    world = due_world(runtime, mattermost_contract, clock, [ann])

    def crash(*args, **kwargs):
        raise SystemExit("worker killed")

    monkeypatch.setattr(mattermost_delivery, "mark_sent", crash)
    with pytest.raises(SystemExit):
        world.tick()
    assert len(world.prompt_posts()) == 1, "the post went out before the crash"
    monkeypatch.undo()

    sent_post = {"id": uid("post1"), "channel_id": uid("dmann"), "message": "", "user_id": uid("bot"),
                 "props": {"learnloop_delivery": 1}, "create_at": 1, "update_at": 1, "delete_at": 0}
    mattermost_contract.add("GET", f"/api/v4/channels/{uid('dmann')}/posts",
                            json={"order": [sent_post["id"]], "posts": {sent_post["id"]: sent_post}})
    clock.advance(minutes=2)
    world.tick()
    assert len(world.prompt_posts()) == 1, "the retry found the post and did not send again"
    assert statuses(runtime) == {"sent": 1}
    with runtime.uow() as uow:
        assert uow.session.scalars(select(OutboxMessage)).one().status == "sent"


def test_a_retry_after_a_crash_finds_the_prompt_after_the_person_turned_nudges_off(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker dies between posting a prompt and recording it; while it is down the person turns nudges off.
    Mattermost's `?since=` gives only the posts changed after it: the retry looks from when the prompt was queued,
    which turning nudges off does not move."""
    ann = Person("ann")
    world = planned_world(runtime, mattermost_contract, clock, [ann])
    clock.now = FRIDAY_DUE
    world.serve_statuses()
    posted: list[dict] = []

    def create(request: requests.PreparedRequest, _match: re.Match[str]) -> tuple[int, dict]:
        body = json.loads(request.body or b"{}")
        now_ms = int(clock.now.timestamp() * 1000)
        post = {"id": uid(f"post{len(posted) + 1}"), "channel_id": body["channel_id"], "message": body["message"],
                "user_id": uid("bot"), "props": body.get("props") or {}, "create_at": now_ms, "update_at": now_ms,
                "delete_at": 0, "root_id": ""}
        posted.append(post)
        return 201, post

    def since(request: requests.PreparedRequest, _match: re.Match[str]) -> tuple[int, dict]:
        after = int(parse_qs(urlsplit(request.url or "").query)["since"][0])
        found = [post for post in posted if post["update_at"] > after]
        return 200, {"order": [post["id"] for post in found], "posts": {post["id"]: post for post in found}}

    mattermost_contract.add("POST", "/api/v4/channels/direct", status=201, json={"id": uid("dmann"), "type": "D"})
    mattermost_contract.add_handler("POST", re.compile(r"/api/v4/posts$"), create)
    mattermost_contract.add_handler("GET", re.compile(r"/api/v4/channels/[a-z0-9]{26}/posts"), since)

    def crash(*args, **kwargs):
        raise SystemExit("worker killed")

    monkeypatch.setattr(mattermost_delivery, "mark_sent", crash)
    with pytest.raises(SystemExit):
        world.tick()
    monkeypatch.undo()
    clock.advance(minutes=10)
    with runtime.uow() as uow:
        set_nudges(uow, ann.id, False, clock.now)
    clock.advance(minutes=1)
    courier(runtime).deliver()
    assert len(posted) == 1
    assert statuses(runtime) == {"sent": 1}


def test_a_429_storm_delays_but_loses_and_duplicates_nothing(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    people = [Person(f"p{n:02d}") for n in range(6)]
    world = planned_world(runtime, mattermost_contract, clock, people)
    clock.now = FRIDAY_DUE
    world.serve_statuses()
    limited = {"Content-Type": "text/plain; charset=utf-8", "X-RateLimit-Reset": "3", "X-RateLimit-Limit": "101",
               "X-RateLimit-Remaining": "0"}
    for person in people:
        mattermost_contract.add("POST", "/api/v4/channels/direct", status=201,
                                json={"id": uid("dm" + person.name), "type": "D"})
    for round_ in range(12):
        mattermost_contract.add("POST", "/api/v4/posts", status=429, body="limit exceeded\n", headers=limited)
        mattermost_contract.add("POST", "/api/v4/posts", status=201,
                                json={"id": uid(f"post{round_}"), "channel_id": "x", "message": ""})
    for _ in range(20):
        world.tick()
        clock.advance(seconds=3)
        if statuses(runtime) == {"sent": len(people)}:
            break
    assert statuses(runtime) == {"sent": len(people)}
    with runtime.uow() as uow:
        ids = set(uow.session.scalars(select(Delivery.id)))
    assert {c.json["props"]["learnloop_delivery"] for c in world.prompt_posts()} == ids
    with runtime.uow() as uow:
        messages = list(uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == SEND_PROMPT)))
    assert all(m.status == "sent" and m.attempts <= 2 for m in messages), "429s are not counted as failures"


def test_runs_missed_while_the_worker_was_down(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    """Back within the window: sent once. Back after it closed: expired, never sent late."""
    ann = Person("ann")
    world = World(runtime, mattermost_contract, people=[ann])
    add_schedule(runtime, repeat="daily", time="09:00", window="12h", anchor=date(2026, 11, 2))
    for _ in range(3):
        world.serve_members()
    clock.now = datetime(2026, 11, 4, 12, 0, tzinfo=UTC)
    world.serve_statuses()
    world.serve_dm_and_posts(1)
    world.tick()
    with runtime.uow() as uow:
        by_day = {d.due_at.date(): d.status for d in uow.session.scalars(select(Delivery))}
    assert by_day[date(2026, 11, 2)] == "expired" and by_day[date(2026, 11, 3)] == "expired"
    assert by_day[date(2026, 11, 4)] == "sent"
    assert len(world.prompt_posts()) == 1
    world.tick()
    assert len(world.prompt_posts()) == 1


def test_parallel_delivery_sends_each_prompt_once(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    people = [Person(f"m{n:03d}") for n in range(40)]
    world = due_world(runtime, mattermost_contract, clock, people)
    from learnloop.jobs.prompts import run_prompt_pass

    run_prompt_pass(runtime)
    report = courier(runtime, concurrency=8).deliver(1000)
    assert report.sent == len(people)
    delivered = sorted(c.json["props"]["learnloop_delivery"] for c in world.prompt_posts())
    assert delivered == sorted(set(delivered)) and len(delivered) == len(people)
    with runtime.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Member).where(Member.dm_channel_id.is_not(None))) \
            == len(people), "each DM channel id is kept for next time"


def test_one_private_nudge_before_the_window_closes_unless_turned_off(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    ann, bob = Person("ann"), Person("bob")
    world = planned_world(runtime, mattermost_contract, clock, [ann, bob])
    from learnloop.services.prompts.preferences import set_nudges

    with runtime.uow() as uow:
        set_nudges(uow, bob.id, False, clock.now)
    clock.now = FRIDAY_DUE
    world.serve_statuses()
    world.serve_dm_and_posts(2)
    world.tick()
    clock.now = datetime(2026, 11, 7, 5, 31, tzinfo=UTC)
    world.serve_statuses()
    world.serve_dm_and_posts(2)
    world.tick()
    world.tick()
    nudges = [c for c in world.calls("POST", "/api/v4/posts") if "reminder" in c.json.get("message", "")]
    assert [c.json["channel_id"] for c in nudges] == [uid("dmann")], "one nudge, only to the person who wants them"
    assert "nudges off" in nudges[0].json["message"]


def test_nudges_turned_off_and_on_again_before_the_prompt_remind_of_it(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    """Friday's prompt (16:30 Berlin, open 16h) is planned on Thursday; that afternoon Ann turns reminders off,
    then on again."""
    ann = Person("ann")
    world = planned_world(runtime, mattermost_contract, clock, [ann])
    with runtime.uow() as uow:
        set_nudges(uow, ann.id, False, clock.now)
    with runtime.uow() as uow:
        set_nudges(uow, ann.id, True, clock.now)
    clock.now = FRIDAY_DUE
    world.serve_statuses()
    world.serve_dm_and_posts(2)
    world.tick()
    clock.now = datetime(2026, 11, 7, 5, 31, tzinfo=UTC)  # Sat 06:31 Berlin, two hours before it closes
    world.serve_statuses()
    world.tick()
    world.tick()
    nudges = [c for c in world.calls("POST", "/api/v4/posts") if "reminder" in (c.json.get("message") or "")]
    assert [c.json["channel_id"] for c in nudges] == [uid("dmann")], "reminders are on again: one for Friday's"


NUDGE_DUE = datetime(2026, 11, 7, 5, 31, tzinfo=UTC)
"""06:31 in Berlin, when the prompt `due_world` sends is due its nudge."""


def prompted(runtime: Runtime, contract: MattermostContract, clock: FakeClock, person: Person) -> World:
    """`due_world` once the prompt has gone out to the person."""
    world = due_world(runtime, contract, clock, [person])
    world.tick()
    assert len(world.prompt_posts()) == 1
    return world


@pytest.mark.parametrize("held_by", ["quiet hours", "prompts off", "pause", "do not disturb"])
def test_a_nudge_keeps_to_the_settings_a_prompt_keeps_to(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock, held_by: str
) -> None:
    ann = Person("ann")
    world = prompted(runtime, mattermost_contract, clock, ann)
    with runtime.uow() as uow:
        if held_by == "quiet hours":  # the nudge falls due at 06:31 in Berlin
            set_quiet_hours(uow, ann.id, "22:00-07:00", clock.now)
        elif held_by == "prompts off":
            set_enabled(uow, ann.id, False, clock.now)
        elif held_by == "pause":
            pause(uow, ann.id, "2w", clock.now)
    if held_by == "do not disturb":
        ann.status = "dnd"
    clock.now = NUDGE_DUE
    world.serve_statuses()
    world.serve_dm_and_posts(1)
    world.tick()
    world.tick()

    def nudges() -> list[str]:
        return [c.json["message"] for c in world.calls("POST", "/api/v4/posts") if "reminder" in c.json["message"]]

    assert nudges() == [], f"no nudge in {held_by}"
    if held_by == "quiet hours":
        clock.now = datetime(2026, 11, 7, 6, 1, tzinfo=UTC)  # 07:01 in Berlin: quiet hours are over
        world.serve_statuses()
        world.serve_dm_and_posts(1)
        world.tick()
        world.tick()
        assert len(nudges()) == 1, "the nudge waits for the quiet hours to end, while the prompt is still open"


class Outage:
    """Mattermost refusing every post (503) until it is `back`; DM channels and their posts are still answered."""

    def __init__(self, contract: MattermostContract, people: list[Person]) -> None:
        self.back = False
        self.accepted: list[dict] = []
        for person in people:
            contract.add("POST", "/api/v4/channels/direct", status=201,
                         json={"id": uid("dm" + person.name), "type": "D"})
        contract.add("GET", re.compile(r"/api/v4/channels/[a-z0-9]{26}/posts"), json={"order": [], "posts": {}})
        contract.add_handler("POST", re.compile(r"/api/v4/posts$"), self.create)

    def create(self, request: requests.PreparedRequest, _match: re.Match[str]) -> tuple[int, dict]:
        if not self.back:
            return 503, {"id": "api.context.unavailable", "message": "down", "status_code": 503}
        body = json.loads(request.body or b"{}")
        self.accepted.append(body)
        return 201, {"id": uid(f"post{len(self.accepted)}"), "channel_id": body["channel_id"], "message": ""}


def outage_from_the_due_time(runtime: Runtime, contract: MattermostContract, clock: FakeClock,
                             person: Person) -> tuple[World, Outage]:
    """`planned_world` at the prompt's due time, its first try to post the prompt meeting the outage."""
    world = planned_world(runtime, contract, clock, [person])
    clock.now = FRIDAY_DUE
    world.serve_statuses()
    outage = Outage(contract, [person])
    world.tick()
    return world, outage


def change_meanwhile(runtime: Runtime, person: Person, held_by: str, now: datetime) -> None:
    """While a post waits out the outage, the person turns prompts off, pauses them for two weeks, or turns nudges
    off."""
    with runtime.uow() as uow:
        if held_by == "prompts off":
            set_enabled(uow, person.id, False, now)
        elif held_by == "pause":
            pause(uow, person.id, "2w", now)
        else:
            set_nudges(uow, person.id, False, now)


def event_kinds(runtime: Runtime) -> list[str]:
    with runtime.uow() as uow:
        return sorted(uow.session.scalars(select(Event.kind).where(Event.kind.like("prompt_%"))))


def test_a_prompt_held_up_until_its_answer_window_closed_expires_unsent(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    """Mattermost down for three hours from the moment a two-hour prompt falls due: the prompt is not posted with
    its answers closed, and not counted unanswered (its receiver never had it)."""
    ann = Person("ann")
    world = World(runtime, mattermost_contract, people=[ann])
    add_schedule(runtime, window="2h", anchor=date(2026, 11, 2))
    clock.now = THURSDAY
    world.serve_members()
    world.tick()
    clock.now = FRIDAY_DUE
    world.serve_statuses()
    outage = Outage(mattermost_contract, [ann])
    world.tick()  # queued; the first try meets the outage
    for _ in range(3 * 12):
        clock.advance(minutes=5)
        courier(runtime).deliver()
    outage.back = True
    clock.advance(minutes=15)
    courier(runtime).deliver()
    world.tick()
    assert outage.accepted == []
    assert reasons(runtime, "expired") == ["window closed"]
    assert event_kinds(runtime) == [], "neither sent nor unanswered"


@pytest.mark.parametrize(("held_by", "reason"), [("prompts off", "prompts off"), ("pause", "paused")])
def test_prompts_turned_off_or_paused_while_a_prompt_waits_out_an_outage_are_not_sent(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock, held_by: str, reason: str
) -> None:
    ann = Person("ann")
    world, outage = outage_from_the_due_time(runtime, mattermost_contract, clock, ann)
    clock.advance(minutes=5)
    change_meanwhile(runtime, ann, held_by, clock.now)
    outage.back = True
    clock.advance(minutes=15)
    courier(runtime).deliver()
    world.tick()
    assert outage.accepted == []
    assert reasons(runtime, "skipped") == [reason]
    assert event_kinds(runtime) == [], "never sent, so not unanswered"


def test_a_prompt_held_up_into_its_receivers_quiet_hours_waits_for_them_to_end(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    ann = Person("ann")
    world, outage = outage_from_the_due_time(runtime, mattermost_contract, clock, ann)  # 16:31 in Berlin
    with runtime.uow() as uow:
        set_quiet_hours(uow, ann.id, "16:40-18:00", clock.now)
    outage.back = True
    clock.advance(minutes=20)
    courier(runtime).deliver()
    assert outage.accepted == [] and statuses(runtime) == {"scheduled": 1}
    clock.now = datetime(2026, 11, 6, 17, 1, tzinfo=UTC)  # 18:01 in Berlin
    world.serve_statuses()
    world.tick()
    assert len(outage.accepted) == 1 and statuses(runtime) == {"sent": 1}


@pytest.mark.parametrize(("held_by", "outcome"), [("prompts off", {"skipped": "prompts off"}),
                                                   ("nudges off", {"skipped": "nudges off"}),
                                                   (None, {"post_id": uid("post1")})])
def test_a_nudge_held_up_by_an_outage_keeps_to_the_settings_changed_meanwhile(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock, held_by: str | None,
    outcome: dict[str, str]
) -> None:
    """With nothing changed meanwhile (None), the one nudge goes out once Mattermost is back."""
    ann = Person("ann")
    world = prompted(runtime, mattermost_contract, clock, ann)
    clock.now = NUDGE_DUE
    world.serve_statuses()
    outage = Outage(mattermost_contract, [ann])
    world.tick()
    clock.advance(minutes=5)
    if held_by is not None:
        change_meanwhile(runtime, ann, held_by, clock.now)
    outage.back = True
    clock.advance(minutes=10)
    world.tick()
    with runtime.uow() as uow:
        [nudge] = uow.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == SEND_NUDGE))
    assert nudge.result == outcome
    assert [body["channel_id"] for body in outage.accepted] == ([] if held_by else [uid("dmann")])
