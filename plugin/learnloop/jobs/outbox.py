"""Deliver outbox messages: claim with a lease, call the host, then mark sent or retry.

No database transaction is held open across a network call (on SQLite that would block the
web process). A claimed message is leased for LEASE; if the worker dies mid-call the lease
runs out and another pass picks the message up again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from learnloop.bootstrap import Runtime
from learnloop.storage.repositories import ClaimedMessage
from learnloop.storage.unit_of_work import UnitOfWork
from learnloop.mattermost.client import MattermostClient, MattermostError, RateLimited

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
MATTERMOST_PREFIX = "mattermost."
"""Messages of these kinds wait in the outbox while no Mattermost bot is configured."""
MAX_ATTEMPTS = 10
BASE_BACKOFF_SECONDS = 2.0
MAX_BACKOFF_SECONDS = 15 * 60.0

Handler = Callable[[Runtime, MattermostClient | None, dict[str, Any], int], "dict[str, Any] | None"]
"""Called with the message's payload and its attempt number (1 on the first try)."""


@dataclass(frozen=True)
class BatchHandler:
    """A kind whose messages of one pass are read together before their calls and recorded together
    after them, in the transaction that marks them sent: a fan-out then costs a few statements per batch
    instead of a read and a write transaction per message (on SQLite, each a turn of the write lock)."""

    load: Callable[[Runtime, list[dict[str, Any]]], Any]
    """One read for all the pass's payloads of this kind; what it returns is handed to each `send`."""
    send: Callable[[Runtime, MattermostClient | None, dict[str, Any], int, Any], dict[str, Any]]
    """The calls for one message, in the pass's threads (no database); raises MattermostError."""
    record: Callable[[UnitOfWork, list[dict[str, Any]], datetime], None]
    """Writes what the sent messages' results say, before the commit that marks them sent."""
    abandon: Callable[[UnitOfWork, list[tuple[dict[str, Any], str]], datetime], None] | None = None
    """Writes what it means that these messages failed for good (each payload with its error), in the
    same commit that marks them failed."""


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def merge(self, other: DeliveryReport) -> None:
        self.claimed += other.claimed
        self.sent += other.sent
        self.retried += other.retried
        self.failed += other.failed
        self.errors.extend(other.errors)


def backoff(attempts: int) -> timedelta:
    """Exponential: 2 s, 4 s, 8 s ... capped at 15 minutes."""
    return timedelta(seconds=min(MAX_BACKOFF_SECONDS, BASE_BACKOFF_SECONDS * 2 ** max(0, attempts - 1)))


class CallGate:
    """Keeps this process's delivery threads from starting calls while one of its write transactions runs.

    Why: during a fan-out the delivery threads keep the GIL busy. A thread inside a write transaction
    gets the GIL back after each SQLite statement only after waiting its turn among them, so its
    transaction, and SQLite's write lock that the web waits for, lasted several times longer. Calls
    under way finish; new ones wait until the transaction ends (at most GATE_MAX_WAIT)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._writers = 0

    @contextmanager
    def writing(self) -> Iterator[None]:
        with self._changed:
            self._writers += 1
        try:
            yield
        finally:
            with self._changed:
                self._writers -= 1
                self._changed.notify_all()

    def wait(self) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._writers == 0, timeout=GATE_MAX_WAIT.total_seconds())


GATE_MAX_WAIT = timedelta(seconds=1)
CALL_GATE = CallGate()


def _claim(runtime: Runtime, now: datetime, limit: int, kinds: list[str]) -> list[ClaimedMessage]:
    with CALL_GATE.writing(), runtime.uow() as uow:
        claimed = uow.outbox.claim(now, limit, kinds, now + LEASE)
        uow.commit()
    return claimed


@dataclass
class _Outcome:
    """What became of one claimed message; written back with the rest of the pass's."""

    message: ClaimedMessage
    result: dict[str, Any] | None = None
    error: str | None = None
    retry_at: datetime | None = None
    failed: bool = False
    not_an_attempt: bool = False


def _finish_many(runtime: Runtime, handlers: dict[str, Handler | BatchHandler], outcomes: list[_Outcome]) -> None:
    if not outcomes:
        return
    with CALL_GATE.writing(), runtime.uow() as uow:
        now = runtime.clock()
        rows = []
        for outcome in outcomes:
            sent = outcome.error is None
            rows.append({
                "b_id": outcome.message.id, "b_status": "sent" if sent else "failed" if outcome.failed else "pending",
                "b_sent_at": now if sent else None, "b_result": outcome.result if sent else None,
                "b_error": None if sent else outcome.error[:500], "b_next": outcome.retry_at or now,
                "b_undo": 1 if outcome.not_an_attempt else 0,
            })
        uow.outbox.finish_many(rows)
        for kind in sorted({outcome.message.kind for outcome in outcomes}):
            handler = handlers.get(kind)
            if isinstance(handler, BatchHandler):
                results = [o.result for o in outcomes if o.message.kind == kind and o.error is None and o.result]
                if results:
                    handler.record(uow, results, now)
                failed = [(o.message.payload, o.error or "") for o in outcomes if o.message.kind == kind and o.failed]
                if failed and handler.abandon is not None:
                    handler.abandon(uow, failed, now)
        uow.commit()


@dataclass
class _Pass:
    """What the threads of one delivery pass share."""

    loaded: dict[str, Any] = field(default_factory=dict)
    report: DeliveryReport = field(default_factory=DeliveryReport)
    lock: threading.Lock = field(default_factory=threading.Lock)
    rate_limited_until: datetime | None = None


def _call(runtime: Runtime, client: MattermostClient | None, handler: Handler | BatchHandler,
          message: ClaimedMessage, state: _Pass) -> dict[str, Any] | None:
    if isinstance(handler, BatchHandler):
        return handler.send(runtime, client, message.payload, message.attempts, state.loaded[message.kind])
    return handler(runtime, client, message.payload, message.attempts)


def _deliver_one(runtime: Runtime, client: MattermostClient | None, handlers: dict[str, Handler | BatchHandler],
                 message: ClaimedMessage, state: _Pass) -> _Outcome:
    report, lock = state.report, state.lock
    if state.rate_limited_until is not None:
        return _Outcome(message, error="waiting for Mattermost's rate limit to reset",
                        retry_at=state.rate_limited_until, not_an_attempt=True)
    handler = handlers.get(message.kind)
    if handler is None:
        with lock:
            report.failed += 1
        return _Outcome(message, error=f"no handler for '{message.kind}'", failed=True)
    CALL_GATE.wait()
    try:
        result = _call(runtime, client, handler, message, state)
    except RateLimited as exc:
        retry_at = runtime.clock() + timedelta(seconds=exc.retry_after)
        with lock:
            state.rate_limited_until = max(retry_at, state.rate_limited_until or retry_at)
            report.retried += 1
            report.errors.append(str(exc))
        return _Outcome(message, error=str(exc), retry_at=retry_at, not_an_attempt=True)
    except MattermostError as exc:
        give_up = not exc.retryable or message.attempts >= MAX_ATTEMPTS
        with lock:
            report.errors.append(str(exc))
            if give_up:
                report.failed += 1
            else:
                report.retried += 1
        if give_up:
            log.warning("outbox message %s (%s) failed for good: %s", message.id, message.kind, exc)
        return _Outcome(message, error=str(exc), retry_at=runtime.clock() + backoff(message.attempts), failed=give_up)
    with lock:
        report.sent += 1
    return _Outcome(message, result=result)


def _load(runtime: Runtime, handlers: dict[str, Handler | BatchHandler],
          claimed: list[ClaimedMessage]) -> dict[str, Any]:
    loaded: dict[str, Any] = {}
    for kind, handler in handlers.items():
        if isinstance(handler, BatchHandler):
            payloads = [message.payload for message in claimed if message.kind == kind]
            if payloads:
                loaded[kind] = handler.load(runtime, payloads)
    return loaded


def deliver_due(runtime: Runtime, handlers: dict[str, Handler | BatchHandler], *, limit: int = 200,
                concurrency: int = 1) -> DeliveryReport:
    """One pass over what is due: claim (one write), read what batch handlers need (one read), call, then
    write every outcome back (one write). With concurrency > 1, calls run in parallel threads (a fan-out to
    thousands of members is bound by Mattermost's latency, not by our CPU); after a 429 the rest of the pass
    is put back until the limit resets.

    The write-back waits for the pass's calls: while the threads run, a transaction would wait for the GIL
    between statements and hold SQLite's write lock (and the web) several times longer. A worker that dies
    mid-pass leaves its messages leased; after LEASE they are tried again, and a prompt first looks for its
    post (see mattermost_delivery.send_prompt)."""
    state = _Pass()
    client = runtime.mattermost()
    kinds = [kind for kind in handlers if client is not None or not kind.startswith(MATTERMOST_PREFIX)]
    claimed = _claim(runtime, runtime.clock(), limit, kinds)
    state.report.claimed = len(claimed)
    outcomes: list[_Outcome] = []
    try:
        state.loaded = _load(runtime, handlers, claimed)
        if concurrency <= 1:
            for message in claimed:
                outcomes.append(_deliver_one(runtime, client, handlers, message, state))
        else:
            with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="outbox") as pool:
                outcomes.extend(pool.map(lambda message: _deliver_one(runtime, client, handlers, message, state),
                                         claimed))
    finally:
        _finish_many(runtime, handlers, outcomes)
    return state.report
