"""An erase that commits while the worker is posting the person's prompt: the worker's record of the post, whom
it went to and their DM channel, finds no message left to write it on."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from learnloop.bootstrap import Runtime
from learnloop.jobs.outbox import Courier
from learnloop.jobs.worker import Worker
from learnloop.mattermost.wiki_messages import announcer
from learnloop.services import personal_data
from learnloop.services.outbox_kinds import SEND_PROMPT
from tests.conftest import FakeClock
from tests.contract.mattermost_openapi import MattermostContract
from tests.privacy.test_personal_data import everything_stored
from tests.prompts.world import FRIDAY_DUE, Person, courier, planned_world, uid

ANN = Person("ann")


def test_an_erase_while_my_prompt_is_being_posted_leaves_nothing_naming_me(
        runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock, engine: Engine,
        monkeypatch: pytest.MonkeyPatch) -> None:
    world = planned_world(runtime, mattermost_contract, clock, [ANN])
    clock.now = FRIDAY_DUE
    world.serve_statuses()
    Worker(runtime).run_prompts()  # the prompt is queued
    world.serve_dm_and_posts(1)
    record = Courier._record

    def erase_then_record(self: Courier, outcomes: list[Any]) -> None:  # Ann erases while the post is being made
        with runtime.uow() as uow:
            personal_data.erase(uow, ANN.id, ANN.name, runtime.clock(), runtime.signing_key, announcer(runtime))
        assert ANN.id not in everything_stored(engine)
        record(self, outcomes)

    monkeypatch.setattr(Courier, "_record", erase_then_record)
    report = courier(runtime).deliver(kinds=[SEND_PROMPT])
    assert (report.sent, report.retried, report.failed, report.errors) == (1, 0, 0, []), "the worker copes"
    stored = everything_stored(engine)
    assert ANN.id not in stored and uid("dmann") not in stored, \
        "the sent prompt's result names her and her DM channel, kept for LEARNLOOP_RETENTION_DAYS"
