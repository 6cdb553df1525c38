"""Runs are planned up to two days ahead, but who is prompted is who is still in the channel when the prompt is
due."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from learnloop.bootstrap import Runtime
from learnloop.mattermost.client import MattermostClient, MattermostError
from learnloop.storage.tables import Delivery
from tests.conftest import FakeClock
from tests.contract.mattermost_openapi import MattermostContract
from tests.prompts.world import (
    CHANNEL,
    FRIDAY_DUE,
    THURSDAY,
    Person,
    World,
    add_schedule,
    planned_world,
    reasons,
    statuses,
    uid,
)

ANN, BOB = Person("ann"), Person("bob")


def prompted(world: World) -> list[str]:
    """Whom the prompts posted were for."""
    ids = [call.json["props"]["learnloop_delivery"] for call in world.prompt_posts()]
    with world.runtime.uow() as uow:
        return sorted(person.name for delivery in uow.deliveries.many(ids)
                      for person in (ANN, BOB) if person.id == delivery.user_id)


def test_someone_who_left_the_channel_before_the_prompt_was_due_is_not_prompted(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    world = planned_world(runtime, mattermost_contract, clock, [ANN, BOB])  # Friday's run planned on Thursday
    world.people = [BOB]  # Thursday afternoon Ann leaves the channel
    world.serve_members()
    clock.now = FRIDAY_DUE
    world.serve_statuses([ANN, BOB])
    world.serve_dm_and_posts(2)
    world.tick()
    assert prompted(world) == ["bob"]
    assert reasons(runtime, "skipped") == ["left the channel"]


def test_nobody_is_prompted_while_mattermost_cannot_say_who_is_still_in_the_channel(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asked who of the people due is still in the channel, Mattermost answers 503 (busy in a fan-out): their
    prompts wait for a pass that can ask, within their answer window."""
    world = planned_world(runtime, mattermost_contract, clock, [ANN, BOB])
    clock.now = FRIDAY_DUE
    world.serve_statuses([ANN, BOB])
    world.serve_dm_and_posts(2)
    world.people = [ANN]  # Bob left the channel

    def unavailable(self: MattermostClient, channel_id: str, user_ids: list[str]) -> list[dict]:
        raise MattermostError("unavailable", status_code=503, call="POST /channels/{id}/members/ids")

    monkeypatch.setattr(MattermostClient, "get_channel_members_by_ids", unavailable)
    world.tick()
    assert prompted(world) == [] and statuses(runtime) == {"scheduled": 2}
    monkeypatch.undo()
    clock.advance(seconds=30)
    world.tick()
    assert prompted(world) == ["ann"]
    assert reasons(runtime, "skipped") == ["left the channel"]


def test_someone_who_joined_after_the_run_was_planned_is_prompted_from_the_next_run(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    """The people due are asked about, not the whole channel: a newcomer is planned with the next run (so someone
    who erased their data, still in the channel, is not planned again into the run of the day)."""
    world = planned_world(runtime, mattermost_contract, clock, [ANN])  # Friday's run planned on Thursday
    world.people = [ANN, BOB]  # Bob joins Thursday afternoon
    clock.now = FRIDAY_DUE
    world.serve_statuses()
    world.serve_dm_and_posts(2)
    world.tick()
    assert prompted(world) == ["ann"]
    clock.now = FRIDAY_DUE + timedelta(days=6)  # the next Thursday plans the next Friday
    world.serve_members()
    world.tick()
    with runtime.reader() as uow:
        assert BOB.id in {d.user_id for d in uow.session.scalars(select(Delivery))}


def test_only_the_people_due_are_asked_about_when_their_prompts_fall_due(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    people = [Person(f"m{n:02d}") for n in range(5)]
    world = World(runtime, mattermost_contract, people=people)
    add_schedule(runtime, anchor=date(2026, 11, 2))
    add_schedule(runtime, anchor=date(2026, 11, 2), questions=["What will you try next?"])
    clock.now = THURSDAY
    world.serve_members()
    world.tick()  # plans both of Friday's runs: one listing of the channel
    assert len(world.calls("GET", f"/api/v4/channels/{CHANNEL}/members")) == 1
    clock.now = FRIDAY_DUE
    world.serve_statuses()
    world.serve_dm_and_posts(10)
    world.tick()  # ten prompts due, of two schedules
    assert len(world.prompt_posts()) == 10
    assert len(world.calls("GET", f"/api/v4/channels/{CHANNEL}/members")) == 1, "no listing of the channel"
    [asked] = world.calls("POST", f"/api/v4/channels/{CHANNEL}/members/ids")
    assert sorted(asked.json) == sorted(p.id for p in people)


def test_an_archived_channel_plans_no_prompts_and_is_asked_about_once_a_pass(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    """Mattermost keeps an archived channel's members, but nothing can be posted there any more."""
    world = World(runtime, mattermost_contract, people=[ANN, BOB])
    add_schedule(runtime, anchor=date(2026, 11, 2))
    add_schedule(runtime, anchor=date(2026, 11, 2), questions=["What will you try next?"])
    world.archived.add(CHANNEL)
    clock.now = THURSDAY
    world.serve_members()
    world.tick()  # plans both of Friday's runs, for nobody
    with runtime.reader() as uow:
        assert list(uow.session.scalars(select(Delivery))) == []
    assert world.calls("GET", f"/api/v4/channels/{CHANNEL}/members") == []
    assert len(world.calls("GET", f"/api/v4/channels/{CHANNEL}")) == 1
    clock.now = FRIDAY_DUE
    world.tick()
    assert world.prompt_posts() == [] and len(world.calls("GET", f"/api/v4/channels/{CHANNEL}")) == 1


@pytest.mark.parametrize("gone", ["left the channel", "deactivated"])
def test_no_reminder_to_someone_gone_after_the_prompt_was_sent(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
    gone: str
) -> None:
    """Friday's prompt (16:30 Berlin, open 16h) goes to Ann and Bob; that evening Ann leaves the channel, or her
    account is deactivated. The reminders due on Saturday at 06:31 are checked as the prompts were: one call."""
    world = planned_world(runtime, mattermost_contract, clock, [ANN, BOB])
    clock.now = FRIDAY_DUE
    world.serve_statuses()
    world.serve_dm_and_posts(2)
    world.tick()
    assert prompted(world) == ["ann", "bob"]
    if gone == "deactivated":
        monkeypatch.setattr(world, "user", lambda p: {**World.user(world, p), "delete_at": int(p == ANN)})
    else:
        world.people = [BOB]
    asked_before = len(world.calls("POST", f"/api/v4/channels/{CHANNEL}/members/ids"))
    clock.now = datetime(2026, 11, 7, 5, 31, tzinfo=UTC)
    world.serve_statuses()
    world.serve_dm_and_posts(2)
    world.tick()
    world.tick()
    reminders = [c for c in world.calls("POST", "/api/v4/posts") if "reminder" in (c.json.get("message") or "")]
    assert [c.json["channel_id"] for c in reminders] == [uid("dmbob")]
    assert len(world.calls("POST", f"/api/v4/channels/{CHANNEL}/members/ids")) == asked_before + 1
    assert statuses(runtime) == {"sent": 2}, "Ann's prompt stays open until its window closes"
