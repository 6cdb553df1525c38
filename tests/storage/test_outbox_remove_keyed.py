"""`Outbox.remove_keyed` takes any number of whole keys, key starts and ends: an erase passes them for each prompt
its person was sent and each item only they knew, and SQLite refuses a statement of 1,000 terms or more."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from learnloop.bootstrap import Runtime
from learnloop.services.outbox_kinds import SEND_DM, SEND_NUDGE, SEND_PROMPT
from learnloop.storage.tables import OutboxMessage

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
MANY = 1200


def test_thousands_of_keys_key_starts_and_ends_remove_what_they_match_and_nothing_else(runtime: Runtime) -> None:
    with runtime.uow() as uow:
        uow.outbox.enqueue_many(SEND_PROMPT, [(f"prompt:{n}:1700000000", {}) for n in range(1, 2 * MANY)], now=NOW)
        uow.outbox.enqueue_many(SEND_DM, [(f"wiki:handbook:identify:{n}", {}) for n in range(1, 2 * MANY)], now=NOW)
        uow.outbox.enqueue_many(SEND_NUDGE, [(f"nudge:{n}", {}) for n in range(1, 2 * MANY)], now=NOW)
        uow.commit()
    with runtime.uow() as uow:
        removed = uow.outbox.remove_keyed([SEND_PROMPT], starting=[f"prompt:{n}:" for n in range(1, MANY)]) + \
            uow.outbox.remove_keyed([SEND_DM], ending=[f":identify:{n}" for n in range(1, MANY)]) + \
            uow.outbox.remove_keyed([SEND_NUDGE], exact=[f"nudge:{n}" for n in range(1, MANY)])
        uow.commit()
    with runtime.reader() as uow:
        kept = set(uow.session.scalars(select(OutboxMessage.idempotency_key)))
    assert removed == 3 * (MANY - 1)
    assert kept == {f"prompt:{n}:1700000000" for n in range(MANY, 2 * MANY)} | \
        {f"wiki:handbook:identify:{n}" for n in range(MANY, 2 * MANY)} | {f"nudge:{n}" for n in range(MANY, 2 * MANY)}
