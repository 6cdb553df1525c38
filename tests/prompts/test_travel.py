"""A person who travels: Mattermost's automatic time zone follows them, and so do the prompts planned for them."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime

import pytest
from flask.testing import FlaskClient

from learnloop.bootstrap import Runtime
from tests.conftest import FakeClock
from tests.contract.mattermost_openapi import MattermostContract
from tests.prompts.world import CHANNEL, FRIDAY_DUE, THURSDAY, Person, World, add_schedule, planned_world, slash


def prompted_at_16_30_in_new_york(world: World, clock: FakeClock, day: date) -> None:
    """Nothing at 16:31 in Berlin (10:31 in New York), the prompt at 16:31 in New York."""
    clock.now = datetime(day.year, day.month, day.day, 15, 31, tzinfo=UTC)
    world.serve_statuses()
    world.serve_dm_and_posts(1)
    world.tick()
    assert world.prompt_posts() == [], "not at 10:31 where she is"
    clock.now = datetime(day.year, day.month, day.day, 21, 31, tzinfo=UTC)
    world.serve_statuses()
    world.tick()
    assert len(world.prompt_posts()) == 1


def test_a_person_who_flies_to_new_york_is_prompted_at_16_30_new_york_time(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    ann = Person("ann")  # Europe/Berlin
    world = World(runtime, mattermost_contract, people=[ann])
    add_schedule(runtime, repeat="daily", time="16:30", window="12h", anchor=date(2026, 11, 4))
    clock.now = datetime(2026, 11, 4, 8, 0, tzinfo=UTC)  # Wed: the runs of Wed, Thu and Fri are planned
    world.serve_members()
    world.tick()
    ann.timezone = "America/New_York"  # Thursday morning she lands in New York
    clock.now = datetime(2026, 11, 5, 8, 0, tzinfo=UTC)  # Thursday's pass plans Saturday and learns her new zone
    world.serve_members()
    world.tick()
    prompted_at_16_30_in_new_york(world, clock, date(2026, 11, 5))


def test_a_zone_learned_as_the_prompt_falls_due_still_moves_it(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    ann = Person("ann")
    world = planned_world(runtime, mattermost_contract, clock, [ann])  # Friday 16:30 Berlin, planned on Thursday
    ann.timezone = "America/New_York"  # she flies on Friday morning; no pass plans anything before hers is due
    world.serve_members()
    prompted_at_16_30_in_new_york(world, clock, date(2026, 11, 6))


def test_a_new_time_given_while_the_worker_decides_the_prompt_leaves_the_queued_prompt_alone(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock, client: FlaskClient
) -> None:
    """PostgreSQL: the worker holds the due prompt's row while it queues it; the person's new time of day, given
    meanwhile, waits and then moves only what is still planned."""
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writer lock runs the two transactions one after the other")
    ann = Person("ann")
    planned_world(runtime, mattermost_contract, clock, [ann])
    clock.now = FRIDAY_DUE
    with runtime.reader() as uow:
        [due] = uow.deliveries.due(clock.now, 10)
        before = due.due_at
    held = threading.Event()

    def worker() -> None:
        with runtime.uow() as uow:
            uow.deliveries.lock_scheduled([due.id])
            uow.deliveries.decide_many([{"b_id": due.id, "b_status": "queued", "b_due": before, "b_reason": None,
                                         "b_now": clock.now}])
            held.set()
            time.sleep(0.5)
            uow.commit()

    thread = threading.Thread(target=worker)
    thread.start()
    assert held.wait(10)
    slash(client, ann, "prompts time 08:00")
    thread.join(10)
    with runtime.reader() as uow:
        after = uow.deliveries.get(due.id)
        assert after is not None and (after.status, after.due_at) == ("queued", before)


def test_someone_who_flew_east_past_their_prompt_time_still_gets_it(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    """Ann flies from Berlin to Tokyo on Friday; learnloop learns it when her prompt falls due at 16:30 in Berlin,
    when 16:30 in Tokyo has long passed: she is asked then, within the answer time the prompt had, not never."""
    ann, ken = Person("ann"), Person("ken", timezone="Asia/Tokyo")
    world = World(runtime, mattermost_contract, people=[ann, ken])
    add_schedule(runtime, anchor=date(2026, 11, 2), window="4h")
    clock.now = THURSDAY
    world.serve_members()
    world.tick()
    clock.now = datetime(2026, 11, 5, 16, 0, tzinfo=UTC)  # the day before, her zone is read again: still Berlin
    world.tick()
    ann.timezone = "Asia/Tokyo"
    clock.now = datetime(2026, 11, 6, 7, 31, tzinfo=UTC)  # 16:31 in Tokyo: Ken is asked
    world.serve_statuses()
    world.serve_dm_and_posts(2)
    world.tick()
    clock.now = datetime(2026, 11, 6, 15, 31, tzinfo=UTC)  # 16:31 in Berlin: Ann's prompt falls due
    world.serve_statuses()
    world.tick()
    assert len(world.prompt_posts()) == 2


def test_a_zone_moved_east_the_day_before_moves_the_prompt_to_the_new_local_time(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    """Weekly Friday 16:30 prompt, planned on Thursday while Ann is in New York (due 21:30 UTC). On Thursday
    she moves to Berlin and Mattermost's automatic zone follows: 16:30 for her is now 15:30 UTC."""
    ann = Person("ann", timezone="America/New_York")
    world = planned_world(runtime, mattermost_contract, clock, [ann])
    ann.timezone = "Europe/Berlin"
    clock.now = datetime(2026, 11, 6, 15, 31, tzinfo=UTC)  # Fri 16:31 in Berlin
    world.serve_statuses()
    world.serve_dm_and_posts(1)
    world.tick()
    assert len(world.prompt_posts()) == 1, "asked at 16:30 where she is now, not at 22:30"


def test_the_zones_of_those_due_a_prompt_within_a_day_are_read_again_once(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    """Ann's prompt is due on Friday at 21:30 UTC (16:30 in New York); Thursday at 20:00 UTC it is a day away."""
    ann = Person("ann", timezone="America/New_York")
    world = planned_world(runtime, mattermost_contract, clock, [ann])
    asked = world.calls("POST", f"/api/v4/channels/{CHANNEL}/members/ids")
    clock.now = datetime(2026, 11, 5, 20, 0, tzinfo=UTC)
    world.tick()
    world.tick()
    assert (len(asked), len(world.calls("POST", f"/api/v4/channels/{CHANNEL}/members/ids"))) == (0, 1)
