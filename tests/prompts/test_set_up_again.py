"""A prompt stopped and set up again: a date it was already sent for is not sent again, the dates after are."""

from __future__ import annotations

from datetime import UTC, datetime

from learnloop.bootstrap import Runtime
from learnloop.services.prompts import setup as prompt_setup
from tests.conftest import FakeClock
from tests.contract.mattermost_openapi import MattermostContract
from tests.prompts.world import FRIDAY_DUE, Person, add_schedule, planned_world, uid


def test_a_prompt_stopped_and_set_up_again_the_same_day_is_not_sent_twice(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    ann = Person("ann")
    world = planned_world(runtime, mattermost_contract, clock, [ann])  # weekly Fri 16:30 Berlin
    clock.now = FRIDAY_DUE
    world.serve_statuses()
    world.serve_dm_and_posts(1)
    world.tick()
    assert len(world.prompt_posts()) == 1
    clock.now = datetime(2026, 11, 6, 16, 0, tzinfo=UTC)  # Fri 17:00 Berlin: the owner stops it, sets it up again
    with runtime.uow() as uow:
        [row] = uow.schedules.active()
        prompt_setup.stop(uow, row, clock.now)
    add_schedule(runtime)  # the same questions, weekly on Friday at 16:30: its first date is today
    world.serve_members()
    world.serve_statuses()
    world.serve_dm_and_posts(2)
    world.tick()
    assert len(world.prompt_posts()) == 1, "this Friday's prompt came a second time"
    clock.now = datetime(2026, 11, 13, 15, 31, tzinfo=UTC)  # next Friday
    world.serve_members()
    world.serve_statuses()
    world.tick()
    assert len(world.prompt_posts()) == 2, "next Friday's comes as usual"


def test_set_up_again_after_some_got_the_date_the_others_still_do(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    """Stopped after the Tokyo member's Friday prompt went out, before the Berlin member's was due: set up again,
    Berlin gets Friday's, Tokyo not a second one."""
    tokyo, berlin = Person("tok", timezone="Asia/Tokyo"), Person("ber")
    world = planned_world(runtime, mattermost_contract, clock, [tokyo, berlin])  # weekly Fri 16:30, planned Thu
    clock.now = datetime(2026, 11, 6, 7, 31, tzinfo=UTC)  # Fri 16:31 in Tokyo
    world.serve_statuses()
    world.serve_dm_and_posts(4)
    world.tick()
    assert len(world.prompt_posts()) == 1
    clock.now = datetime(2026, 11, 6, 9, 0, tzinfo=UTC)  # Fri 10:00 in Berlin: stopped and set up again
    with runtime.uow() as uow:
        [row] = uow.schedules.active()
        prompt_setup.stop(uow, row, clock.now)
    add_schedule(runtime)
    world.serve_members()
    world.tick()
    clock.now = FRIDAY_DUE  # Fri 16:31 in Berlin
    world.serve_statuses()
    world.tick()
    assert len(world.prompt_posts()) == 2
    assert world.prompt_posts()[-1].json["channel_id"] == uid("dmber")
