"""After worker downtime or a pause, several dates of one prompt may be due at once: each person gets the newest
only, and the older ones are skipped as such, not counted as left unanswered."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from learnloop.bootstrap import Runtime
from learnloop.jobs import prompts as prompt_jobs
from learnloop.services.prompts.membership import MemberProfile
from learnloop.services.prompts.runs import apply_decisions, decide, expire, plan_deliveries, plan_runs, read_due
from learnloop.storage.tables import Delivery, Event, PromptRun
from tests.conftest import FakeClock
from tests.contract.mattermost_openapi import MattermostContract
from tests.prompts.world import Person, World, add_schedule, reasons, slash

ANN = Person("ann")


def daily_world(runtime: Runtime, contract: MattermostContract, passes: int) -> World:
    """A daily 09:00 Berlin prompt with a three-day window, from Monday 2 November."""
    world = World(runtime, contract, people=[ANN])
    add_schedule(runtime, repeat="daily", time="09:00", window="3d", anchor=date(2026, 11, 2))
    for _ in range(passes):
        world.serve_members()
    return world


def sent_dates(runtime: Runtime) -> list[date]:
    with runtime.uow() as uow:
        return sorted(uow.session.scalars(select(PromptRun.local_date).join(Delivery, Delivery.run_id == PromptRun.id)
                                          .where(Delivery.status == "sent")))


def unanswered(runtime: Runtime) -> int:
    with runtime.uow() as uow:
        return len(uow.session.scalars(select(Event).where(Event.kind == "prompt_unanswered")).all())


@pytest.mark.parametrize("batch", [50, 1], ids=["one batch", "one delivery per batch"])
def test_back_after_days_of_downtime_a_person_gets_the_newest_prompt_only(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock, monkeypatch: pytest.MonkeyPatch,
    batch: int,
) -> None:
    monkeypatch.setattr(prompt_jobs, "DISPATCH_BATCH", batch)
    world = daily_world(runtime, mattermost_contract, passes=6)
    clock.now = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)  # Mon 08:00 Berlin, the last pass before the outage
    world.tick()
    clock.now = datetime(2026, 11, 5, 11, 0, tzinfo=UTC)  # Thu 12:00 Berlin: Tue, Wed and Thu are still open
    world.serve_statuses()
    world.serve_dm_and_posts(3)
    world.tick()
    assert len(world.prompt_posts()) == 1
    assert sent_dates(runtime) == [date(2026, 11, 5)]
    assert reasons(runtime, "skipped") == ["a newer one was due"] * 2
    world.tick()
    assert len(world.prompt_posts()) == 1
    assert unanswered(runtime) == 0, "the prompts she never got are not counted as left unanswered"


def test_prompts_held_by_a_pause_do_not_all_arrive_when_it_ends(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock, client: FlaskClient
) -> None:
    world = daily_world(runtime, mattermost_contract, passes=4)
    clock.now = datetime(2026, 11, 2, 7, 30, tzinfo=UTC)  # Mon 08:30 Berlin
    assert "Your own prompts are paused until" in slash(client, ANN, "prompts pause 2d")["text"]
    for day in (2, 3):  # Mon and Tue 09:01 Berlin: each prompt waits for the pause to end
        clock.now = datetime(2026, 11, day, 8, 1, tzinfo=UTC)
        world.serve_statuses()
        world.tick()
    assert world.prompt_posts() == []
    clock.now = datetime(2026, 11, 4, 7, 31, tzinfo=UTC)  # Wed 08:31 Berlin: the pause has ended
    world.serve_statuses()
    world.serve_dm_and_posts(2)
    world.tick()
    assert len(world.prompt_posts()) == 1
    assert sent_dates(runtime) == [date(2026, 11, 3)]
    assert reasons(runtime, "skipped") == ["a newer one was due"]


def test_two_workers_taking_the_missed_prompts_between_them_send_the_newest_only(
    runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock
) -> None:
    world = daily_world(runtime, mattermost_contract, passes=3)
    clock.now = datetime(2026, 11, 2, 7, 0, tzinfo=UTC)
    world.tick()
    clock.now = datetime(2026, 11, 5, 11, 0, tzinfo=UTC)
    with runtime.uow() as uow:  # back: Thursday's run planned as a pass starts, then the closed ones expired
        plan_runs(uow, clock.now)
        [thursday] = [run.id for run in uow.runs.unplanned() if run.local_date == date(2026, 11, 5)]
        plan_deliveries(uow, thursday, [MemberProfile(ANN.id, ANN.name, ANN.timezone)], clock.now)
        expire(uow, clock.now)
    with runtime.reader() as first_reader:  # one worker holds Tuesday's (on PostgreSQL the other skips it)
        first = decide(read_due(first_reader, clock.now, 1), clock.now, {})
        with runtime.reader() as second_reader:
            second = decide(read_due(second_reader, clock.now, 50), clock.now, {})
    for decided in (second, first):
        with runtime.uow() as uow:
            apply_decisions(uow, decided, clock.now)
    world.serve_statuses()
    world.serve_dm_and_posts(3)
    world.tick()
    assert len(world.prompt_posts()) == 1
    assert sent_dates(runtime) == [date(2026, 11, 5)]
