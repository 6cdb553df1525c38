"""A person who travels: Mattermost's automatic time zone follows them, and so do the prompts planned for them."""

from __future__ import annotations

from datetime import UTC, date, datetime

from learnloop.bootstrap import Runtime
from tests.conftest import FakeClock
from tests.contract.mattermost_openapi import MattermostContract
from tests.prompts.world import Person, World, add_schedule


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
    clock.now = datetime(2026, 11, 5, 15, 31, tzinfo=UTC)  # 16:30 in Berlin, 10:30 in New York
    world.serve_statuses()
    world.serve_dm_and_posts(1)
    world.tick()
    assert world.prompt_posts() == [], "not at 10:30 where she is"
    clock.now = datetime(2026, 11, 5, 21, 31, tzinfo=UTC)  # 16:30 in New York
    world.serve_statuses()
    world.tick()
    assert len(world.prompt_posts()) == 1
