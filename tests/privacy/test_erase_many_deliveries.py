"""Erasing someone who answered a workday prompt for two years (within the default 730-day retention)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from learnloop.bootstrap import Runtime
from learnloop.mattermost.wiki_messages import announcer
from learnloop.services import personal_data
from learnloop.storage.tables import Delivery, PromptRun
from tests.conftest import FakeClock
from tests.contract.mattermost_openapi import MattermostContract
from tests.prompts.world import Person, planned_world

ANN = Person("ann")


def test_erase_of_someone_with_520_prompts_succeeds(
        runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock) -> None:
    planned_world(runtime, mattermost_contract, clock, [ANN])
    with runtime.uow() as uow:
        first = uow.session.scalars(select(Delivery)).one()
        schedule_id = uow.session.get(PromptRun, first.run_id).schedule_id
        for n in range(1, 520):  # two years of workday prompts, all within retention
            run = PromptRun(schedule_id=schedule_id, local_date=date(2024, 11, 4) + timedelta(days=n),
                            members_planned=True, created_at=clock.now)
            uow.session.add(run)
            uow.session.flush()
            at = clock.now - timedelta(days=n)
            uow.session.add(Delivery(run_id=run.id, user_id=ANN.id, due_at=at, window_end=at + timedelta(hours=16),
                                     status="answered", sent_at=at, updated_at=at))
        uow.commit()
    with runtime.uow() as uow:
        personal_data.erase(uow, ANN.id, ANN.name, runtime.clock(), runtime.signing_key, announcer(runtime))
    with runtime.reader() as uow:
        assert uow.session.scalar(select(func.count()).select_from(Delivery)) == 0
