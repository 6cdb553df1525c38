"""A person's own pause: `/learn prompts pause 2w|until <YYYY-MM-DD>`."""

from __future__ import annotations

from datetime import UTC, datetime

from flask.testing import FlaskClient

from learnloop.bootstrap import Runtime
from tests.conftest import FakeClock
from tests.contract.mattermost_openapi import MattermostContract
from tests.prompts.world import THURSDAY, Person, planned_world, reasons, slash


def test_a_prompt_of_the_last_day_of_my_pause_is_not_sent_at_midnight_after_it(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock, client: FlaskClient
) -> None:
    """Weekly Friday 16:30 Berlin, answers open 16h. On Thursday Ann pauses her prompts through Friday."""
    ann = Person("ann")
    world = planned_world(runtime, mattermost_contract, clock, [ann])
    clock.now = THURSDAY
    assert "through Fri 06 Nov" in slash(client, ann, "prompts pause until 2026-11-06")["text"]
    for now in (datetime(2026, 11, 6, 15, 31, tzinfo=UTC),   # Fri 16:31 Berlin: paused
                datetime(2026, 11, 6, 23, 0, tzinfo=UTC),    # Sat 00:00 Berlin: the pause is over
                datetime(2026, 11, 6, 23, 1, tzinfo=UTC)):
        clock.now = now
        world.serve_statuses()
        world.serve_dm_and_posts(1)
        world.tick()
    assert world.prompt_posts() == [], \
        "Friday's prompt falls inside the pause: not posted to Ann at 00:00 on Saturday"
    assert reasons(runtime, "skipped") == ["paused"]
