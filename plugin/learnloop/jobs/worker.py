"""`learnloop worker`: the process that runs background work, driven by APScheduler. Its jobs and their
outbox handlers are wired here.

Any number of workers may run against one PostgreSQL database: outbox messages are claimed one worker at
a time, and every job that folds, plans or polls takes a lock shared by all workers and skips its tick
when another worker holds it (storage.locks)."""

from __future__ import annotations

import logging
import signal
import time
from contextlib import AbstractContextManager
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler

from learnloop.bootstrap import Runtime
from learnloop.jobs import HEARTBEAT, HEARTBEAT_SECONDS
from learnloop.jobs import wiki as wiki_jobs
from learnloop.jobs.network import run_network_pass
from learnloop.jobs.outbox import CallGate, Courier, DeliveryReport, Handler, worker_id
from learnloop.jobs.prompts import run_prompt_pass, writing
from learnloop.mattermost import delivery as mattermost_delivery
from learnloop.services import retention
from learnloop.services.rollups import fold_all, keep_current
from learnloop.storage import locks
from learnloop.storage.sqlite import checkpoint_wal
from learnloop.wiring import wiki_hosts

log = logging.getLogger(__name__)

OUTBOX_INTERVAL_SECONDS = 1.0
OUTBOX_PASS_LIMIT = 200
OUTBOX_BUSY_SECONDS = 15.0
WIKI_POLL_SECONDS = 60.0
ROLLUP_SECONDS = 60.0
PROMPT_INTERVAL_SECONDS = 30.0
CHECKPOINT_SECONDS = 1.0
RETENTION_SECONDS = 3600.0
NETWORK_SECONDS = 120.0


class Worker:
    def __init__(self, runtime: Runtime, *, owner: str | None = None) -> None:
        self.runtime = runtime
        self.owner = owner or worker_id()
        self.gate = CallGate() if runtime.engine.dialect.name == "sqlite" else None
        self.hosts = wiki_hosts()
        handlers: dict[str, Handler] = dict(wiki_jobs.handlers(
            runtime, self.hosts, lambda name: locks.held(runtime.engine, name, wait=True)))
        client = runtime.mattermost()
        if client is not None:
            handlers.update(mattermost_delivery.handlers(runtime, client))
        self.courier = Courier(runtime.uow, runtime.clock, handlers, owner=self.owner,
                               concurrency=runtime.settings.outbox_concurrency, gate=self.gate)

    def _locked(self, name: str) -> AbstractContextManager[bool]:
        return locks.held(self.runtime.engine, name)

    def deliver_outbox(self) -> DeliveryReport:
        """Passes back to back while each finds a full batch (a fan-out), for at most OUTBOX_BUSY_SECONDS: one
        pass per scheduler tick would cap delivery at OUTBOX_PASS_LIMIT messages a second."""
        report = DeliveryReport()
        started = time.monotonic()
        while True:
            one = self.courier.deliver(OUTBOX_PASS_LIMIT)
            report.merge(one)
            if one.claimed < OUTBOX_PASS_LIMIT or time.monotonic() - started >= OUTBOX_BUSY_SECONDS:
                break
        if report.sent or report.retried or report.failed:
            log.info("outbox: %s sent, %s to retry, %s failed", report.sent, report.retried, report.failed)
        return report

    def run_prompts(self) -> None:
        with self._locked("prompts") as mine:
            if not mine:
                return
            report = run_prompt_pass(self.runtime, self.gate)
        if report.runs_created or report.deliveries_planned or (report.dispatch and report.dispatch.queued):
            log.info("prompts: %s runs, %s deliveries planned, %s", report.runs_created, report.deliveries_planned,
                     report.dispatch)

    def run_wikis(self) -> None:
        """Poll the wikis that cannot push, and ask those that name pages by id which page each item first rated
        or shared by its URL is."""
        recorded = identifying = 0
        for wiki in self.runtime.settings.wikis:
            with self._locked(f"wiki-poll-{wiki.name}") as mine:
                if not mine:
                    continue
                host = self.hosts[wiki.kind]
                recorded += wiki_jobs.poll_wiki(self.runtime, wiki, host)
                if host.names_pages_by_id:
                    identifying += wiki_jobs.identify_pages(self.runtime, wiki)
        if recorded or identifying:
            log.info("wikis: %s changes recorded, %s pages to identify", recorded, identifying)

    def run_rollups(self) -> int:
        """Fold new events, then bring the release blocks and stored scores up to date where no event did."""
        runtime = self.runtime
        k = runtime.settings.min_group_size
        with self._locked("rollups") as mine:
            if not mine:
                return 0
            folded = fold_all(runtime.uow, runtime.signing_key, k, runtime.clock(), reader=runtime.reader)
            with runtime.uow() as uow:
                keep_current(uow, k, runtime.clock())
        if folded:
            log.info("rollups: %s events folded", folded)
        return folded

    def run_network(self) -> None:
        with self._locked("network") as mine:
            if not mine:
                return
            report = run_network_pass(self.runtime, self.gate)
        if report.folded or report.sent:
            log.info("network: %s", report)

    def run_retention(self) -> None:
        with self._locked("retention") as mine:
            if not mine:
                return
            with self.runtime.uow() as uow:
                removed = retention.purge(uow, self.runtime.clock(), self.runtime.settings.retention_days)
        if removed.total:
            log.info("retention: %s", removed)

    def heartbeat(self) -> None:
        with writing(self.gate), self.runtime.uow() as uow:
            uow.cursors.move(HEARTBEAT, self.owner, self.runtime.clock())
            uow.commit()

    def checkpoint(self) -> None:
        """SQLite: move the WAL into the database file here, so that no web request does it inside the writer
        lock (see storage.sqlite)."""
        result = checkpoint_wal(self.runtime.engine)
        if result is not None and result[0]:
            log.debug("WAL checkpoint could not finish: %s of %s pages copied", result[2], result[1])

    def run_once(self) -> DeliveryReport:
        """Everything due, once: what the scheduled passes do, callable from tests and cron."""
        self.heartbeat()
        self.run_prompts()
        self.run_wikis()
        self.run_rollups()
        self.run_network()
        self.run_retention()
        report = self.deliver_outbox()
        self.checkpoint()
        return report

    def run_forever(self) -> None:
        scheduler = BlockingScheduler(timezone="UTC")
        now = self.runtime.clock()
        jobs = [(self.deliver_outbox, OUTBOX_INTERVAL_SECONDS, None), (self.run_wikis, WIKI_POLL_SECONDS, now),
                (self.run_rollups, ROLLUP_SECONDS, now), (self.run_network, NETWORK_SECONDS, now),
                (self.run_prompts, PROMPT_INTERVAL_SECONDS, now),
                (self.heartbeat, HEARTBEAT_SECONDS, now), (self.run_retention, RETENTION_SECONDS, now)]
        if self.runtime.engine.dialect.name == "sqlite":
            jobs.append((self.checkpoint, CHECKPOINT_SECONDS, None))
        for job, seconds, first in jobs:
            scheduler.add_job(job, "interval", seconds=seconds, id=job.__name__, max_instances=1, coalesce=True,
                              **({"next_run_time": first} if first is not None else {}))

        def _stop(signum: int, _frame: FrameType | None) -> None:
            log.info("worker stopping (signal %s)", signum)
            scheduler.shutdown(wait=True)

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        if self.runtime.mattermost() is None:
            log.warning("no LEARNLOOP_MATTERMOST_URL / LEARNLOOP_MATTERMOST_BOT_TOKEN: messages wait in the outbox")
        log.info("worker %s started", self.owner)
        scheduler.start()


def run_once(runtime: Runtime) -> DeliveryReport:
    return Worker(runtime).run_once()
