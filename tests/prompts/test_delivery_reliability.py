"""Prompts reach everyone exactly once: crashes, 429 storms, downtime and parallel delivery."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from learnloop.bootstrap import Runtime
from learnloop.mattermost import delivery as mattermost_delivery
from learnloop.services.outbox_kinds import SEND_PROMPT
from learnloop.services.prompts.preferences import pause, set_enabled, set_quiet_hours
from learnloop.storage.tables import Delivery, Member, OutboxMessage
from tests.conftest import FakeClock
from tests.contract.mattermost_openapi import MattermostContract
from tests.prompts.world import FRIDAY_DUE, Person, World, add_schedule, courier, planned_world, statuses, uid

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


@pytest.mark.parametrize("held_by", ["quiet hours", "prompts off", "pause", "do not disturb"])
def test_a_nudge_keeps_to_the_settings_a_prompt_keeps_to(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock, held_by: str
) -> None:
    ann = Person("ann")
    world = due_world(runtime, mattermost_contract, clock, [ann])
    world.tick()
    assert len(world.prompt_posts()) == 1
    with runtime.uow() as uow:
        if held_by == "quiet hours":  # the nudge falls due at 06:31 in Berlin
            set_quiet_hours(uow, ann.id, "22:00-07:00", clock.now)
        elif held_by == "prompts off":
            set_enabled(uow, ann.id, False, clock.now)
        elif held_by == "pause":
            pause(uow, ann.id, "2w", clock.now)
    if held_by == "do not disturb":
        ann.status = "dnd"
    clock.now = datetime(2026, 11, 7, 5, 31, tzinfo=UTC)
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
