"""Deliver outbox messages: claim with a lease that names its owner, call the host, record each outcome as
the call completes.

Every effect a person can see happens once, through crashes, slow hosts and any number of workers:

- A claim names its worker and lasts LEASE; the worker renews it while it works (a slow host cannot make
  a pass outlive its lease), and only the owner can finish the message.
- Outcomes are written as calls complete, in small batches (at most FLUSH_SECONDS after each call), not
  once per pass: a worker killed mid-pass leaves only the calls of its last moments unrecorded.
- A message tried before (attempt > 1) may have had its effect already: each handler looks for it before
  acting again (a post carries its message's key, and Mattermost also drops a post whose
  `pending_post_id` it saw in the last 30 seconds); see mattermost.delivery.

No database transaction is held open across a network call (on SQLite that would block the web process).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import OperationalError

from learnloop.clock import Clock
from learnloop.errors import HostError
from learnloop.services.outbox_kinds import RESPOND
from learnloop.storage.outbox import ClaimedMessage
from learnloop.storage.unit_of_work import UnitOfWork
from learnloop.wikis import UNPUBLISH_JOB

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
RENEW_EVERY = LEASE / 4
FLUSH_SECONDS = 0.25
FLUSH_SIZE = 50
MAX_WRITE_WAIT = 1.0
"""The pass's last write of outcomes is tried again (a database restarting takes seconds), waiting 0.1 s more after
each try up to this many seconds, until its lease has less than RENEW_EVERY left: outcomes not written are carried
out again by another worker once their lease ends, and a reply to a slash command cannot be looked for first."""
MAX_ATTEMPTS = 10
RETRY_FOR = timedelta(hours=6)
"""A message a host keeps failing is given up only after MAX_ATTEMPTS and RETRY_FOR since it was queued: a
Mattermost upgrade or a bot token being replaced must not lose the messages queued meanwhile."""
BASE_BACKOFF_SECONDS = 2.0
MAX_BACKOFF_SECONDS = 15 * 60.0
RATE_LIMITED_FOR = timedelta(days=1)
"""A host's 429 holds a message back without counting an attempt, but not for ever: a day after it was queued,
a message still refused so is given up."""
GATE_MAX_WAIT = timedelta(seconds=1)
GONE_WHEN_DONE = frozenset({RESPOND})
"""Kinds whose messages are deleted, not kept, once sent or given up: an ephemeral reply to a slash command has
no use after that, and it holds what it told the person (an erase reply: their buttons and wiki pages)."""
BLANKED_WHEN_DONE = frozenset({UNPUBLISH_JOB})
"""Kinds whose messages are emptied of payload, result and error once sent or given up, their rows kept: a removal
from a wiki holds who asked, the page and the section's marker, and may be asked for after an erase; its key
(the wiki and the marker, naming nobody) still answers a second ask that it was done, instead of doing it again."""
BLANK_FLAG = "blank_when_done"
"""A payload flag that has one message emptied once sent or given up, as the kinds of BLANKED_WHEN_DONE are: a
direct message telling someone what became of a removal they asked for (after an erase, maybe); its kept key
stops a removal tried again from telling them twice."""

Message = ClaimedMessage
SimpleHandler = Callable[[Message], "dict[str, Any] | None"]
"""Carries out one message (its attempt number says whether it was tried before); raises HostError."""


@dataclass(frozen=True)
class BatchHandler:
    """A kind whose messages of one pass are read together before their calls and recorded together after
    them, in the transaction that marks them sent: a fan-out then costs a few statements per batch instead
    of a read and a write transaction per message."""

    load: Callable[[list[Message]], Any]
    """One read for all the pass's messages of this kind; what it returns is handed to each `send`."""
    send: Callable[[Message, Any], dict[str, Any]]
    """The calls for one message, in the pass's threads (no database); raises HostError."""
    record: Callable[[UnitOfWork, list[dict[str, Any]], datetime], None]
    """Writes what the sent messages' results say, before the commit that marks them sent."""
    abandon: Callable[[UnitOfWork, list[tuple[dict[str, Any], str]], datetime], None] | None = None
    """Writes what it means that these messages failed for good (each payload with its error)."""


Handler = SimpleHandler | BatchHandler


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


def gives_up(message: Message, error: HostError | None, now: datetime) -> bool:
    """Whether the outbox gives a message up after this failure of its call (None: an unexpected error, tried
    again as a host's passing failure): it cannot succeed, it was tried MAX_ATTEMPTS times over RETRY_FOR, or the
    host still rate limits it RATE_LIMITED_FOR after it was queued. A handler asks before raising, to record what
    giving up means; the outbox decides with the time the call began, so what it gives up the handler has too."""
    if error is not None and error.retry_after is not None:
        return now - message.created_at >= RATE_LIMITED_FOR
    if error is not None and not error.retryable:
        return True
    return message.attempts >= MAX_ATTEMPTS and now - message.created_at >= RETRY_FOR


def blanked_when_done(message: Message) -> bool:
    return message.kind in BLANKED_WHEN_DONE or message.payload.get(BLANK_FLAG) is True


def why_given_up(error: HostError) -> str:
    """What a message given up after this failure records as its error."""
    return f"still rate limited a day after it was queued: {error}" if error.retry_after is not None else str(error)


def backoff(attempts: int) -> timedelta:
    """Exponential: 2 s, 4 s, 8 s ... capped at 15 minutes."""
    return timedelta(seconds=min(MAX_BACKOFF_SECONDS, BASE_BACKOFF_SECONDS * 2 ** max(0, attempts - 1)))


def worker_id() -> str:
    """This process, as its claims name it."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


class CallGate:
    """On SQLite: keeps this process's delivery threads from starting calls while one of its write
    transactions runs.

    Why: during a fan-out the delivery threads keep the GIL busy. A thread inside a write transaction gets the
    GIL back after each SQLite statement only after waiting its turn among them, so its transaction, and the
    writer lock the web waits for, lasted several times longer. Calls under way finish; new ones wait until
    the transaction ends (at most GATE_MAX_WAIT). PostgreSQL writers do not block one another, so there the
    gate is not used."""

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


@dataclass
class _Outcome:
    """What became of one claimed message."""

    message: Message
    result: dict[str, Any] | None = None
    error: str | None = None
    retry_at: datetime | None = None
    failed: bool = False
    not_an_attempt: bool = False


class Courier:
    """Carries out this worker's outbox messages, kind by kind through `handlers`."""

    def __init__(self, uow: Callable[[], UnitOfWork], clock: Clock, handlers: dict[str, Handler], *,
                 owner: str | None = None, concurrency: int = 1, gate: CallGate | None = None) -> None:
        self.uow = uow
        self.clock = clock
        self.handlers = handlers
        self.owner = owner or worker_id()
        self.concurrency = concurrency
        self.gate = gate

    def _writing(self) -> Any:
        return self.gate.writing() if self.gate is not None else nullcontext()

    def _claim(self, limit: int, kinds: list[str]) -> list[Message]:
        now = self.clock()
        with self._writing(), self.uow() as uow:
            claimed = uow.outbox.claim(self.owner, now, limit, kinds, now + LEASE)
            uow.commit()
        return claimed

    def _renew(self, ids: list[int]) -> None:
        with self._writing(), self.uow() as uow:
            uow.outbox.renew(self.owner, ids, self.clock() + LEASE)
            uow.commit()

    def _record(self, outcomes: list[_Outcome]) -> None:
        """Write back what became of these messages, and what their batch handlers make of it, in one
        transaction."""
        if not outcomes:
            return
        with self._writing(), self.uow() as uow:
            now = self.clock()
            rows: list[dict[str, Any]] = []
            gone: list[int] = []
            blank: list[int] = []
            for outcome in outcomes:
                sent = outcome.error is None
                if (sent or outcome.failed) and outcome.message.kind in GONE_WHEN_DONE:
                    gone.append(outcome.message.id)
                    continue
                if (sent or outcome.failed) and blanked_when_done(outcome.message):
                    blank.append(outcome.message.id)
                rows.append({
                    "b_id": outcome.message.id,
                    "b_status": "sent" if sent else "failed" if outcome.failed else "pending",
                    "b_sent_at": now if sent else None, "b_result": outcome.result if sent else None,
                    "b_error": None if sent else (outcome.error or "").replace("\x00", "")[:500],  # PostgreSQL: no NUL
                    "b_next": outcome.retry_at or now,
                    "b_undo": 1 if outcome.not_an_attempt else 0,
                })
            uow.outbox.finish_many(self.owner, rows, gone=gone)
            uow.outbox.blank_done(blank)
            for kind in sorted({outcome.message.kind for outcome in outcomes}):
                handler = self.handlers.get(kind)
                if not isinstance(handler, BatchHandler):
                    continue
                mine = [o for o in outcomes if o.message.kind == kind]
                results = [o.result for o in mine if o.error is None and o.result]
                if results:
                    handler.record(uow, results, now)
                failed = [(o.message.payload, o.error or "") for o in mine if o.failed]
                if failed and handler.abandon is not None:
                    handler.abandon(uow, failed, now)
            uow.commit()

    def deliver(self, limit: int = 200, *, kinds: list[str] | None = None) -> DeliveryReport:
        """One pass over what is due: claim, read what batch handlers need, call, and record outcomes as the
        calls complete. After a 429 the rest of the pass is put back until the limit resets, without counting
        it as an attempt."""
        report = DeliveryReport()
        leased_at = time.monotonic()
        claimed = self._claim(limit, kinds if kinds is not None else sorted(self.handlers))
        report.claimed = len(claimed)
        if not claimed:
            return report
        keeper = _LeaseKeeper(self, [m.id for m in claimed], leased_at)
        pass_ = _Pass(self, report, keeper)
        keeper.start()
        try:
            pass_.loaded = self._load(claimed)
            pass_.run(claimed)
        finally:
            try:
                pass_.flush(force=True)
            finally:
                keeper.stop()
        return report

    def _load(self, claimed: list[Message]) -> dict[str, Any]:
        loaded: dict[str, Any] = {}
        for kind, handler in self.handlers.items():
            if isinstance(handler, BatchHandler):
                mine = [message for message in claimed if message.kind == kind]
                if mine:
                    loaded[kind] = handler.load(mine)
        return loaded


class _LeaseKeeper:
    """Renews the lease on this pass's messages not yet recorded, every RENEW_EVERY, while the pass runs."""

    def __init__(self, courier: Courier, ids: list[int], leased_at: float) -> None:
        self.courier = courier
        self.pending = set(ids)
        self.leased_at = leased_at
        """When the lease was last set to LEASE from then (time.monotonic)."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-lease", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def done(self, ids: list[int]) -> None:
        with self._lock:
            self.pending.difference_update(ids)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def lasts(self, seconds: float) -> bool:
        """Whether the lease still has these seconds left, and RENEW_EVERY after them."""
        return time.monotonic() + seconds < self.leased_at + (LEASE - RENEW_EVERY).total_seconds()

    def _run(self) -> None:
        while not self._stop.wait(RENEW_EVERY.total_seconds()):
            with self._lock:
                ids = sorted(self.pending)
            if ids:
                try:
                    renewing = time.monotonic()
                    self.courier._renew(ids)
                    self.leased_at = renewing
                except Exception:  # a failed renewal is retried at the next tick; the lease has time left
                    log.exception("could not renew the lease on %s outbox messages", len(ids))


def _host_of(message: Message) -> str:
    """Which host a message calls, whose rate limit it shares: its wiki, else Mattermost."""
    wiki = message.payload.get("wiki") if isinstance(message.payload, dict) else None
    return f"wiki:{wiki}" if isinstance(wiki, str) and wiki else "mattermost"


@dataclass
class _Pass:
    courier: Courier
    report: DeliveryReport
    keeper: _LeaseKeeper
    loaded: dict[str, Any] = field(default_factory=dict)
    rate_limited_until: dict[str, datetime] = field(default_factory=dict)
    """When each host that answered 429 in this pass may be called again (`_host_of`)."""
    unrecorded: list[_Outcome] = field(default_factory=list)
    last_flush: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def flush(self, *, force: bool = False) -> None:
        due = force or len(self.unrecorded) >= FLUSH_SIZE or time.monotonic() - self.last_flush >= FLUSH_SECONDS
        if not due or not self.unrecorded:
            return
        batch = list(self.unrecorded)
        attempt = 0
        while True:
            attempt += 1
            try:
                self.courier._record(batch)
                break
            except OperationalError as exc:  # a deadlock with another worker, the database restarting or busy
                # (not an error in the outcomes themselves, which would fail every time)
                wait = min(MAX_WRITE_WAIT, 0.1 * attempt)
                if force and not self.keeper.lasts(wait):
                    raise
                log.warning("could not record %d outcomes (attempt %d): %s", len(batch), attempt, exc)
                if not force:
                    return  # kept for the pass's next write
                time.sleep(wait)
        del self.unrecorded[:len(batch)]
        self.keeper.done([outcome.message.id for outcome in batch])
        self.last_flush = time.monotonic()

    def run(self, claimed: list[Message]) -> None:
        if self.courier.concurrency <= 1:
            for message in claimed:
                self.unrecorded.append(self.one(message))
                self.flush()
            return
        with ThreadPoolExecutor(max_workers=self.courier.concurrency, thread_name_prefix="outbox") as pool:
            running: set[Future[_Outcome]] = {pool.submit(self.one, message) for message in claimed}
            while running:
                done, running = wait(running, timeout=FLUSH_SECONDS, return_when=FIRST_COMPLETED)
                self.unrecorded.extend(future.result() for future in done)
                self.flush()

    def _call(self, handler: Handler, message: Message) -> dict[str, Any] | None:
        if isinstance(handler, BatchHandler):
            return handler.send(message, self.loaded[message.kind])
        return handler(message)

    def one(self, message: Message) -> _Outcome:
        courier, report = self.courier, self.report
        host = _host_of(message)
        waiting = self.rate_limited_until.get(host)
        if waiting is not None:
            return _Outcome(message, error="waiting for the host's rate limit to reset", retry_at=waiting,
                            not_an_attempt=True)
        handler = courier.handlers.get(message.kind)
        if handler is None:
            with self.lock:
                report.failed += 1
            return _Outcome(message, error=f"no handler for '{message.kind}'", failed=True)
        if courier.gate is not None:
            courier.gate.wait()
        began = courier.clock()
        try:
            result = self._call(handler, message)
        except HostError as exc:
            if exc.retry_after is not None and gives_up(message, exc, began):
                return self._failure(message, why_given_up(exc), give_up=True)
            if exc.retry_after is not None:
                retry_at = courier.clock() + timedelta(seconds=exc.retry_after)
                with self.lock:
                    self.rate_limited_until[host] = max(retry_at, self.rate_limited_until.get(host, retry_at))
                    report.retried += 1
                    report.errors.append(str(exc))
                return _Outcome(message, error=str(exc), retry_at=retry_at, not_an_attempt=True)
            return self._failure(message, str(exc), give_up=gives_up(message, exc, began))
        except Exception as exc:  # an answer of a shape nobody expected, or a defect: this message alone fails
            return self._failure(message, f"{type(exc).__name__}: {exc}"[:500],
                                 give_up=gives_up(message, None, began), unexpected=True)
        with self.lock:
            report.sent += 1
        return _Outcome(message, result=result)

    def _failure(self, message: Message, error: str, *, give_up: bool, unexpected: bool = False) -> _Outcome:
        """A failed call: tried again after a backoff, or given up (`gives_up`). An unexpected error is logged
        with its traceback each time; a host's, once given up."""
        with self.lock:
            self.report.errors.append(error)
            if give_up:
                self.report.failed += 1
            else:
                self.report.retried += 1
        if give_up or unexpected:
            log.warning("outbox message %s (%s) %s: %s", message.id, message.kind,
                        "failed for good" if give_up else "failed, to be retried", error, exc_info=unexpected)
        return _Outcome(message, error=error, retry_at=self.courier.clock() + backoff(message.attempts),
                        failed=give_up)
