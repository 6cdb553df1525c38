"""Prompts end to end: schedule → runs → one delivery per member at their own time → DM with
buttons → reflection. The clock is moved by hand; every Mattermost call is contract-checked."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from learnloop.bootstrap import Runtime
from learnloop.jobs import prompts as prompt_jobs
from learnloop.services.communities import community_for_channel, join
from learnloop.services.prompts import setup as prompt_setup
from learnloop.services.prompts.runs import plan_runs
from learnloop.storage.tables import Delivery, PromptRun
from tests.conftest import FakeClock
from tests.contract.mattermost_openapi import MattermostContract
from tests.prompts.world import (
    CHANNEL,
    FRIDAY_DUE,
    THURSDAY,
    Person,
    World,
    add_schedule,
    reasons,
    slash,
    statuses,
    uid,
)

UTC = UTC
ANN, BOB = Person("ann"), Person("bob", timezone="America/New_York")


@pytest.fixture
def world(runtime: Runtime, mattermost_contract: MattermostContract) -> World:
    return World(runtime, mattermost_contract, people=[ANN, BOB])


def deliveries(runtime: Runtime) -> dict[str, Delivery]:
    with runtime.uow() as uow:
        return {d.user_id: d for d in uow.session.scalars(select(Delivery))}



def test_each_member_gets_the_prompt_at_their_own_local_time(world: World, runtime: Runtime, clock: FakeClock) -> None:
    add_schedule(runtime, repeat="weekly fri", time="16:30", anchor=date(2026, 11, 2))
    clock.now = THURSDAY
    world.serve_members()
    world.tick()
    planned = deliveries(runtime)
    assert planned[ANN.id].due_at == datetime(2026, 11, 6, 15, 30, tzinfo=UTC), "16:30 in Berlin (CET)"
    assert planned[BOB.id].due_at == datetime(2026, 11, 6, 21, 30, tzinfo=UTC), "16:30 in New York (EST)"
    assert world.prompt_posts() == []

    clock.now = datetime(2026, 11, 6, 15, 31, tzinfo=UTC)
    world.serve_statuses([ANN])
    world.serve_dm_and_posts(1)
    world.tick()
    [post] = world.prompt_posts()
    assert post.json["channel_id"] == "dmann000000000000000000000"
    attachment = post.json["props"]["attachments"][0]
    assert "What did you learn this week?" in attachment["text"]
    assert [a["name"] for a in attachment["actions"]] == ["Reflect now", "Skip this one", "Snooze 1 day"]
    assert deliveries(runtime)[ANN.id].status == "sent"
    assert deliveries(runtime)[BOB.id].status == "scheduled"

    world.tick()
    assert len(world.prompt_posts()) == 1, "never twice"


@pytest.mark.parametrize("odd", ["Europe", "America/Argentina", "Mars/Olympus", "Europe/" + "x" * 80])
def test_a_time_zone_mattermost_holds_but_that_is_none_prompts_at_the_schedules_and_stops_no_one(
        world: World, runtime: Runtime, clock: FakeClock, odd: str) -> None:
    """Mattermost does not check the zone a person sets: a folder of the time zone database or a name too long
    for the column is the schedule's zone, and everyone else is prompted as before."""
    world.people = [ANN, Person("odd", timezone=odd)]
    add_schedule(runtime, repeat="weekly fri", time="16:30", anchor=date(2026, 11, 2))
    clock.now = THURSDAY
    world.serve_members()
    world.tick()
    planned = deliveries(runtime)
    assert planned[ANN.id].due_at == planned[world.people[1].id].due_at == datetime(2026, 11, 6, 15, 30, tzinfo=UTC)


def test_a_member_fourteen_hours_ahead_gets_the_same_local_date(world: World, runtime: Runtime) -> None:
    world.people = [Person("kiri", timezone="Pacific/Kiritimati"), Person("hono", timezone="Pacific/Honolulu")]
    add_schedule(runtime, repeat="weekly fri", time="09:00", timezone="Pacific/Honolulu", anchor=date(2026, 11, 2))
    runtime.clock.now = datetime(2026, 11, 4, 12, 0, tzinfo=UTC)
    world.serve_members()
    world.tick()
    planned = deliveries(runtime)
    assert planned[world.people[0].id].due_at == datetime(2026, 11, 5, 19, 0, tzinfo=UTC), "Fri 09:00 at UTC+14"
    assert planned[world.people[1].id].due_at == datetime(2026, 11, 6, 19, 0, tzinfo=UTC), "Fri 09:00 at UTC-10"


def test_across_a_dst_change_the_local_time_holds(world: World, runtime: Runtime, clock: FakeClock) -> None:
    world.people = [ANN]
    clock.now = datetime(2026, 10, 23, 6, 0, tzinfo=UTC)
    add_schedule(runtime, repeat="daily", time="09:00", anchor=date(2026, 10, 23))
    world.serve_members()
    world.tick()
    with runtime.uow() as uow:
        dues = sorted(d.due_at for d in uow.session.scalars(select(Delivery)))
    assert dues == [
        datetime(2026, 10, 23, 7, 0, tzinfo=UTC),
        datetime(2026, 10, 24, 7, 0, tzinfo=UTC),
        datetime(2026, 10, 25, 8, 0, tzinfo=UTC),
    ], "09:00 CEST (UTC+2), then 09:00 CET (UTC+1) after the change on Sunday 25 October"


def test_do_not_disturb_and_out_of_office_are_not_prompted(world: World, runtime: Runtime, clock: FakeClock) -> None:
    ann, bob = Person("ann", status="dnd"), Person("bob", timezone="Europe/Berlin", status="ooo")
    world.people = [ann, bob]
    add_schedule(runtime, anchor=date(2026, 11, 2))
    clock.now = THURSDAY
    world.serve_members()
    world.tick()
    clock.now = datetime(2026, 11, 6, 15, 31, tzinfo=UTC)
    world.serve_statuses()
    world.tick()
    assert world.prompt_posts() == []
    reasons = {user: d.reason for user, d in deliveries(runtime).items()}
    assert reasons == {ann.id: "do not disturb", bob.id: "out of office"}


def test_a_pause_that_ends_mid_window_delivers_when_it_ends(
    world: World, runtime: Runtime, clock: FakeClock, client: FlaskClient
) -> None:
    world.people = [ANN]
    add_schedule(runtime, anchor=date(2026, 11, 2), window="16h")
    clock.now = datetime(2026, 11, 5, 18, 0, tzinfo=UTC)
    assert "Your own prompts are paused until" in slash(client, ANN, "prompts pause 1d")["text"]
    world.serve_members()
    world.tick()
    clock.now = datetime(2026, 11, 6, 15, 31, tzinfo=UTC)
    world.serve_statuses()
    world.tick()
    delivery = deliveries(runtime)[ANN.id]
    assert delivery.status == "scheduled"
    assert delivery.due_at == datetime(2026, 11, 6, 18, 0, tzinfo=UTC), "waits for the end of the pause"
    assert world.prompt_posts() == []
    clock.now = datetime(2026, 11, 6, 18, 0, tzinfo=UTC)
    world.serve_dm_and_posts(1)
    world.tick()
    assert len(world.prompt_posts()) == 1


def _stop(runtime: Runtime, schedule_id: int) -> None:
    with runtime.uow() as uow:
        prompt_setup.stop(uow, uow.schedules.get(schedule_id), runtime.clock())


def test_a_stopped_prompt_planned_ahead_is_not_sent_and_a_sent_one_gets_no_reminder(
        world: World, runtime: Runtime, clock: FakeClock) -> None:
    """Runs are planned up to two days ahead: stopping the schedule stops those too ("nobody will be asked it
    again"), while a prompt already sent can still be answered, without a reminder."""
    world.people = [ANN]
    first = add_schedule(runtime, anchor=date(2026, 11, 2))
    second = add_schedule(runtime, repeat="weekly thu", time="09:00", anchor=date(2026, 11, 2))
    clock.now = datetime(2026, 11, 5, 7, 0, tzinfo=UTC)
    world.serve_members()
    world.serve_members()
    world.tick()
    clock.now = datetime(2026, 11, 5, 8, 1, tzinfo=UTC)
    world.serve_statuses()
    world.serve_dm_and_posts(1)
    world.tick()
    assert statuses(runtime) == {"sent": 1, "scheduled": 1}
    _stop(runtime, first)
    _stop(runtime, second)
    assert statuses(runtime) == {"sent": 1, "skipped": 1} and reasons(runtime, "skipped") == ["prompt stopped"]
    with runtime.uow() as uow:
        assert [d.nudge_at for d in uow.session.scalars(select(Delivery).where(Delivery.status == "sent"))] == [None]
    clock.now = FRIDAY_DUE
    world.tick()
    assert len(world.prompt_posts()) == 1


def test_a_run_whose_members_were_not_all_planned_is_not_planned_after_a_stop(
        world: World, runtime: Runtime, clock: FakeClock) -> None:
    world.people = [ANN]
    schedule = add_schedule(runtime, anchor=date(2026, 11, 2))
    clock.now = THURSDAY
    world.contract.add("GET", f"/api/v4/channels/{CHANNEL}/members", status=500,
                       json={"id": "x", "message": "down", "status_code": 500})
    world.tick()
    with runtime.uow() as uow:
        assert [run.schedule_id for run in uow.runs.unplanned()] == [schedule]
    _stop(runtime, schedule)
    world.serve_members()
    world.tick()
    assert statuses(runtime) == {}


@pytest.mark.parametrize(("created", "repeat", "zone", "first"), [
    (datetime(2026, 11, 2, 23, 0, tzinfo=UTC), "every 2 weeks mon", "Asia/Tokyo", date(2026, 11, 9)),
    (datetime(2026, 11, 3, 3, 0, tzinfo=UTC), "daily", "America/Los_Angeles", date(2026, 11, 2)),
])
def test_a_new_schedule_starts_from_the_community_s_today_not_utc_s(
        runtime: Runtime, clock: FakeClock, created: datetime, repeat: str, zone: str, first: date) -> None:
    """Tuesday 08:00 in Tokyo is still Monday in UTC: every other Monday starts next Monday, not in 13 days.
    Monday 19:00 in Los Angeles is Tuesday in UTC: tonight's 20:00 prompt is not skipped."""
    clock.now = created
    add_schedule(runtime, repeat=repeat, time="20:00" if repeat == "daily" else "10:00", window="2h", timezone=zone)
    for day in range(8):  # runs are planned up to two days ahead
        with runtime.uow() as uow:
            plan_runs(uow, created + timedelta(days=day))
    with runtime.uow() as uow:
        assert min(uow.session.scalars(select(PromptRun.local_date))) == first


def test_a_prompt_held_past_its_reminder_s_time_gets_no_reminder_a_minute_later(
        world: World, runtime: Runtime, clock: FakeClock, client: FlaskClient) -> None:
    """Friday 16:30 in Berlin, open 16 hours, its reminder at 06:30 on Saturday; quiet hours until 07:00 hold the
    prompt until then, so the reminder would come right after it: there is none."""
    world.people = [ANN]
    add_schedule(runtime, anchor=date(2026, 11, 2))
    slash(client, ANN, "prompts quiet 16:00-07:00")
    clock.now = THURSDAY
    world.serve_members()
    world.tick()
    clock.now = FRIDAY_DUE
    world.serve_statuses()
    world.tick()
    clock.now = datetime(2026, 11, 7, 6, 0, 30, tzinfo=UTC)
    world.serve_statuses()
    world.serve_dm_and_posts(2)
    world.tick()
    assert len(world.prompt_posts()) == 1
    clock.now += timedelta(minutes=5)
    world.serve_statuses()
    world.tick()
    messages = [call.json.get("message", "") for call in world.calls("POST", "/api/v4/posts")]
    assert len(messages) == 1 and not any("reminder" in message for message in messages)


def test_a_prompt_sent_on_time_in_the_shortest_window_with_a_reminder_keeps_it(
        world: World, runtime: Runtime, clock: FakeClock) -> None:
    """Open four hours, its reminder two hours in: the pass that sends it runs a little after it is due."""
    world.people = [ANN]
    add_schedule(runtime, anchor=date(2026, 11, 2), window="4h")
    clock.now = THURSDAY
    world.serve_members()
    world.tick()
    clock.now = FRIDAY_DUE + timedelta(seconds=20)
    world.serve_statuses()
    world.serve_dm_and_posts(1)
    world.tick()
    with runtime.reader() as uow:
        [delivery] = uow.session.scalars(select(Delivery)).all()
    assert delivery.status == "sent" and delivery.nudge_at == delivery.window_end - timedelta(hours=2)


def test_a_community_joining_another_sends_none_of_the_prompts_its_stopped_schedules_planned_ahead(
        world: World, runtime: Runtime, clock: FakeClock) -> None:
    """A join stops the joining community's schedules ("the prompts set up here are stopped"): as a stop does,
    it stops the prompts they planned ahead too."""
    world.people = [ANN]
    add_schedule(runtime, anchor=date(2026, 11, 2))
    clock.now = THURSDAY
    world.serve_members()
    world.tick()
    with runtime.uow() as uow:
        community_for_channel(uow, runtime.settings, channel_id=uid("other"), team_id=None, channel_name="other",
                              now=clock.now)
        joined = join(uow, runtime.settings, channel_id=CHANNEL, team_id=None, channel_name="data-guild",
                      other_channel_id=uid("other"), other_channel_name="other", k=5,
                      key=runtime.signing_key, now=clock.now)
    assert joined.prompts_stopped == 1 and statuses(runtime) == {"skipped": 1}
    clock.now = FRIDAY_DUE
    world.tick()
    assert world.prompt_posts() == []


def test_a_schedule_stopped_while_its_members_are_listed_plans_no_prompt(
        world: World, runtime: Runtime, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """Listing a large channel's members takes seconds, and an owner may stop the prompt meanwhile."""
    world.people = [ANN]
    schedule = add_schedule(runtime, anchor=date(2026, 11, 2))
    clock.now = THURSDAY
    world.serve_members()
    listed = prompt_jobs.community_profiles

    def listed_while_the_owner_stops(client: Any, channel_ids: list[str]) -> Any:
        profiles = listed(client, channel_ids)
        _stop(runtime, schedule)
        return profiles

    monkeypatch.setattr(prompt_jobs, "community_profiles", listed_while_the_owner_stops)
    world.tick()
    assert statuses(runtime) == {}
