"""Deliver outbox messages: claim with a lease, call the host, then mark sent or retry.

No database transaction is held open across a network call (on SQLite that would block the
web process). A claimed message is leased for LEASE; if the worker dies mid-call the lease
runs out and another pass picks the message up again.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from learnloop.bootstrap import Runtime
from learnloop.storage.unit_of_work import UnitOfWork
from learnloop.mattermost.client import MattermostClient, MattermostError, RateLimited

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
MATTERMOST_PREFIX = "mattermost."
"""Messages of these kinds wait in the outbox while no Mattermost bot is configured."""
MAX_ATTEMPTS = 10
BASE_BACKOFF_SECONDS = 2.0
MAX_BACKOFF_SECONDS = 15 * 60.0

@dataclass(frozen=True)
class Delivered:
    """A handler's result plus what to record about it in the same transaction that marks the
    message sent (one write instead of two per message during a fan-out)."""

    result: dict[str, Any]
    record: Callable[[UnitOfWork], None]


Handler = Callable[[Runtime, MattermostClient | None, dict[str, Any], int], "dict[str, Any] | Delivered | None"]
"""Called with the message's payload and its attempt number (1 on the first try)."""


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def backoff(attempts: int) -> timedelta:
    """Exponential: 2 s, 4 s, 8 s ... capped at 15 minutes."""
    return timedelta(seconds=min(MAX_BACKOFF_SECONDS, BASE_BACKOFF_SECONDS * 2 ** max(0, attempts - 1)))


def _claim(runtime: Runtime, now: datetime, limit: int, kinds: list[str]) -> list[tuple[int, str, dict[str, Any], int]]:
    with runtime.uow() as uow:
        messages = uow.outbox.due(now, limit, kinds)
        claimed = []
        for message in messages:
            message.attempts += 1
            message.next_attempt_at = now + LEASE
            claimed.append((message.id, message.kind, dict(message.payload), message.attempts))
        uow.commit()
    return claimed


@dataclass
class _Outcome:
    """What became of one claimed message; written back together with others (see FINISH_BATCH)."""

    message_id: int
    result: dict[str, Any] | None = None
    record: Callable[[UnitOfWork], None] | None = None
    error: str | None = None
    retry_at: datetime | None = None
    failed: bool = False
    not_an_attempt: bool = False


FINISH_BATCH = 25
"""Outcomes written per transaction: a fan-out writes once per 25 messages, not once per message.
A worker that dies mid-batch leaves at most this many messages to be tried again (prompts look for
their post before sending again; see mattermost_delivery.send_prompt)."""


def _apply(uow: UnitOfWork, outcome: _Outcome, now: datetime) -> None:
    message = uow.outbox.get(outcome.message_id)
    if message is None:
        return
    if outcome.not_an_attempt:
        message.attempts = max(0, message.attempts - 1)
    if outcome.error is None:
        message.status, message.sent_at, message.result, message.last_error = "sent", now, outcome.result, None
        if outcome.record is not None:
            outcome.record(uow)
    else:
        message.last_error = outcome.error[:500]
        if outcome.failed:
            message.status = "failed"
        else:
            message.next_attempt_at = outcome.retry_at or now


def _finish_many(runtime: Runtime, outcomes: list[_Outcome]) -> None:
    if not outcomes:
        return
    with runtime.uow() as uow:
        now = runtime.clock()
        for outcome in outcomes:
            _apply(uow, outcome, now)
        uow.commit()


@dataclass
class _Pass:
    """What the threads of one delivery pass share."""

    report: DeliveryReport = field(default_factory=DeliveryReport)
    lock: threading.Lock = field(default_factory=threading.Lock)
    rate_limited_until: datetime | None = None


def _deliver_one(runtime: Runtime, client: MattermostClient | None, handlers: dict[str, Handler],
                 claimed: tuple[int, str, dict[str, Any], int], state: _Pass) -> _Outcome:
    message_id, kind, payload, attempts = claimed
    report, lock = state.report, state.lock
    if state.rate_limited_until is not None:
        return _Outcome(message_id, error="waiting for Mattermost's rate limit to reset",
                        retry_at=state.rate_limited_until, not_an_attempt=True)
    handler = handlers.get(kind)
    if handler is None:
        with lock:
            report.failed += 1
        return _Outcome(message_id, error=f"no handler for '{kind}'", failed=True)
    try:
        result = handler(runtime, client, payload, attempts)
    except RateLimited as exc:
        retry_at = runtime.clock() + timedelta(seconds=exc.retry_after)
        with lock:
            state.rate_limited_until = max(retry_at, state.rate_limited_until or retry_at)
            report.retried += 1
            report.errors.append(str(exc))
        return _Outcome(message_id, error=str(exc), retry_at=retry_at, not_an_attempt=True)
    except MattermostError as exc:
        give_up = not exc.retryable or attempts >= MAX_ATTEMPTS
        with lock:
            report.errors.append(str(exc))
            if give_up:
                report.failed += 1
            else:
                report.retried += 1
        if give_up:
            log.warning("outbox message %s (%s) failed for good: %s", message_id, kind, exc)
        return _Outcome(message_id, error=str(exc), retry_at=runtime.clock() + backoff(attempts), failed=give_up)
    with lock:
        report.sent += 1
    if isinstance(result, Delivered):
        return _Outcome(message_id, result=result.result, record=result.record)
    return _Outcome(message_id, result=result)


def deliver_due(runtime: Runtime, handlers: dict[str, Handler], *, limit: int = 200, concurrency: int = 1) -> DeliveryReport:
    """One pass over what is due. With concurrency > 1, calls run in parallel threads (a fan-out
    to thousands of members is bound by Mattermost's latency, not by our CPU); after a 429 the
    rest of the pass is put back until the limit resets."""
    state = _Pass()
    client = runtime.mattermost()
    kinds = [kind for kind in handlers if client is not None or not kind.startswith(MATTERMOST_PREFIX)]
    claimed = _claim(runtime, runtime.clock(), limit, kinds)
    pending: list[_Outcome] = []

    def collect(outcome: _Outcome) -> None:
        pending.append(outcome)
        if len(pending) >= FINISH_BATCH:
            _finish_many(runtime, pending)
            pending.clear()

    try:
        if concurrency <= 1:
            for message in claimed:
                collect(_deliver_one(runtime, client, handlers, message, state))
        else:
            with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="outbox") as pool:
                for outcome in pool.map(lambda message: _deliver_one(runtime, client, handlers, message, state),
                                        claimed):
                    collect(outcome)
    finally:
        _finish_many(runtime, pending)
    return state.report
