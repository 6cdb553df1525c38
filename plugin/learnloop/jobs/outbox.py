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


def _finish(runtime: Runtime, message_id: int, *, now: datetime, result: dict[str, Any] | None = None,
            retry_at: datetime | None = None, error: str | None = None, failed: bool = False,
            not_an_attempt: bool = False, record: Callable[[UnitOfWork], None] | None = None) -> None:
    """Record the outcome; `not_an_attempt` gives back the attempt a rate-limited message was charged."""
    with runtime.uow() as uow:
        message = uow.outbox.get(message_id)
        if message is None:
            return
        if not_an_attempt:
            message.attempts = max(0, message.attempts - 1)
        if error is None:
            message.status, message.sent_at, message.result, message.last_error = "sent", now, result, None
            if record is not None:
                record(uow)
        else:
            message.last_error = error[:500]
            if failed:
                message.status = "failed"
            else:
                message.next_attempt_at = retry_at or now
        uow.commit()


@dataclass
class _Pass:
    """What the threads of one delivery pass share."""

    report: DeliveryReport = field(default_factory=DeliveryReport)
    lock: threading.Lock = field(default_factory=threading.Lock)
    rate_limited_until: datetime | None = None


def _deliver_one(runtime: Runtime, client: MattermostClient | None, handlers: dict[str, Handler],
                 claimed: tuple[int, str, dict[str, Any], int], state: _Pass) -> None:
    message_id, kind, payload, attempts = claimed
    report, lock = state.report, state.lock
    if state.rate_limited_until is not None:
        _finish(runtime, message_id, now=runtime.clock(), retry_at=state.rate_limited_until,
                error="waiting for Mattermost's rate limit to reset", not_an_attempt=True)
        return
    handler = handlers.get(kind)
    if handler is None:
        _finish(runtime, message_id, now=runtime.clock(), error=f"no handler for '{kind}'", failed=True)
        with lock:
            report.failed += 1
        return
    try:
        result = handler(runtime, client, payload, attempts)
    except RateLimited as exc:
        now = runtime.clock()
        retry_at = now + timedelta(seconds=exc.retry_after)
        with lock:
            state.rate_limited_until = max(retry_at, state.rate_limited_until or retry_at)
        _finish(runtime, message_id, now=now, retry_at=retry_at, error=str(exc), not_an_attempt=True)
        with lock:
            report.retried += 1
            report.errors.append(str(exc))
        return
    except MattermostError as exc:
        now = runtime.clock()
        give_up = not exc.retryable or attempts >= MAX_ATTEMPTS
        _finish(runtime, message_id, now=now, retry_at=now + backoff(attempts), error=str(exc), failed=give_up)
        with lock:
            report.errors.append(str(exc))
            if give_up:
                report.failed += 1
            else:
                report.retried += 1
        if give_up:
            log.warning("outbox message %s (%s) failed for good: %s", message_id, kind, exc)
        return
    if isinstance(result, Delivered):
        _finish(runtime, message_id, now=runtime.clock(), result=result.result, record=result.record)
    else:
        _finish(runtime, message_id, now=runtime.clock(), result=result)
    with lock:
        report.sent += 1


def deliver_due(runtime: Runtime, handlers: dict[str, Handler], *, limit: int = 200, concurrency: int = 1) -> DeliveryReport:
    """One pass over what is due. With concurrency > 1, calls run in parallel threads (a fan-out
    to thousands of members is bound by Mattermost's latency, not by our CPU); after a 429 the
    rest of the pass is put back until the limit resets."""
    state = _Pass()
    client = runtime.mattermost()
    kinds = [kind for kind in handlers if client is not None or not kind.startswith(MATTERMOST_PREFIX)]
    claimed = _claim(runtime, runtime.clock(), limit, kinds)
    if concurrency <= 1:
        for message in claimed:
            _deliver_one(runtime, client, handlers, message, state)
    else:
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="outbox") as pool:
            list(pool.map(lambda message: _deliver_one(runtime, client, handlers, message, state), claimed))
    return state.report
