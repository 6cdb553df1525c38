"""Reminders due for more people than one pass decides (NUDGE_BATCH) are asked about again on every pass."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from learnloop.bootstrap import Runtime
from learnloop.jobs import prompts as prompt_jobs
from tests.conftest import FakeClock
from tests.contract.mattermost_openapi import MattermostContract
from tests.prompts.world import CHANNEL, FRIDAY_DUE, Person, planned_world

PEOPLE = [Person("ann"), Person("bob"), Person("cyd")]


def test_each_persons_membership_is_asked_once_for_their_reminder(
        runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prompt_jobs, "NUDGE_BATCH", 1)  # stands for 1,000 of 3,000 reminders due at one moment
    world = planned_world(runtime, mattermost_contract, clock, PEOPLE)
    clock.now = FRIDAY_DUE
    world.serve_statuses()
    world.serve_dm_and_posts(3)
    world.tick()
    before = len(world.calls("POST", f"/api/v4/channels/{CHANNEL}/members/ids"))
    clock.now = datetime(2026, 11, 7, 5, 31, tzinfo=UTC)  # the three reminders are due
    for _ in range(3):
        world.serve_statuses()
        world.serve_dm_and_posts(1)
        world.tick()
    reminders = [c for c in world.calls("POST", "/api/v4/posts") if "reminder" in (c.json.get("message") or "")]
    assert len(reminders) == 3
    asked = Counter(user for call in world.calls("POST", f"/api/v4/channels/{CHANNEL}/members/ids")[before:]
                    for user in call.json)
    assert max(asked.values()) == 1, f"asked about again on every pass until their reminder is decided: {asked}"
