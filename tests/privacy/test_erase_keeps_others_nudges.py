"""Erasing one person must not delete another person's pending reminder (nudge) message."""

from __future__ import annotations

from sqlalchemy import select

from learnloop.bootstrap import Runtime
from learnloop.mattermost.wiki_messages import announcer
from learnloop.services import personal_data
from learnloop.services.outbox_kinds import SEND_NUDGE, delivery_keys
from learnloop.storage.tables import Delivery, OutboxMessage
from tests.conftest import FakeClock
from tests.contract.mattermost_openapi import MattermostContract
from tests.prompts.world import Person, planned_world

PEOPLE = [Person(f"p{n:02d}") for n in range(12)]


def test_erasing_delivery_1s_receiver_keeps_the_nudge_of_delivery_1x(
        runtime: Runtime, mattermost_contract: MattermostContract, clock: FakeClock) -> None:
    planned_world(runtime, mattermost_contract, clock, PEOPLE)
    with runtime.uow() as uow:
        receivers = {d.id: d.user_id for d in uow.session.scalars(select(Delivery))}
        first = min(receivers)
        other = next(i for i in sorted(receivers) if i != first and str(i).startswith(str(first)))
        assert receivers[other] != receivers[first]
        # the other person's reminder is queued, as prompts.runs.apply_nudges keys it
        uow.outbox.enqueue(SEND_NUDGE, {"delivery_id": other}, key=delivery_keys(other)[1], now=clock.now)
        uow.commit()
    with runtime.uow() as uow:
        personal_data.erase(uow, receivers[first], None, runtime.clock(), runtime.signing_key, announcer(runtime))
    with runtime.reader() as uow:
        keys = list(uow.session.scalars(select(OutboxMessage.idempotency_key).where(OutboxMessage.kind == SEND_NUDGE)))
    assert keys == [delivery_keys(other)[1]], "someone else's reminder was deleted by this erase"
