"""`learnloop worker`: the one process that runs background work, driven by APScheduler."""

from __future__ import annotations

import logging
import signal
import time
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler

from learnloop.bootstrap import Runtime
from learnloop.jobs import mattermost_delivery, wiki
from learnloop.jobs.outbox import DeliveryReport, deliver_due
from learnloop.jobs.prompts import run_prompt_pass
from learnloop.services.rollups import fold_all, keep_current
from learnloop.storage.engine import checkpoint_wal

log = logging.getLogger(__name__)

HANDLERS = {**mattermost_delivery.HANDLERS, **wiki.HANDLERS}
OUTBOX_INTERVAL_SECONDS = 1.0
OUTBOX_PASS_LIMIT = 200
OUTBOX_BUSY_SECONDS = 15.0
WIKI_POLL_SECONDS = 60.0
ROLLUP_SECONDS = 60.0
PROMPT_INTERVAL_SECONDS = 30.0
CHECKPOINT_SECONDS = 1.0


def deliver_outbox(runtime: Runtime) -> DeliveryReport:
    """Passes back to back while each finds a full batch (a fan-out), for at most OUTBOX_BUSY_SECONDS:
    one pass per scheduler tick would cap delivery at OUTBOX_PASS_LIMIT messages a second."""
    report = DeliveryReport()
    started = time.monotonic()
    while True:
        one = deliver_due(runtime, HANDLERS, limit=OUTBOX_PASS_LIMIT, concurrency=runtime.settings.outbox_concurrency)
        report.merge(one)
        if one.claimed < OUTBOX_PASS_LIMIT or time.monotonic() - started >= OUTBOX_BUSY_SECONDS:
            break
    if report.sent or report.retried or report.failed:
        log.info("outbox: %s sent, %s to retry, %s failed", report.sent, report.retried, report.failed)
    return report


def run_prompts(runtime: Runtime) -> None:
    report = run_prompt_pass(runtime)
    if report.runs_created or report.deliveries_planned or (report.dispatch and report.dispatch.queued):
        log.info("prompts: %s runs, %s deliveries planned, %s", report.runs_created, report.deliveries_planned,
                 report.dispatch)


def run_wikis(runtime: Runtime) -> None:
    recorded = wiki.poll_wikis(runtime)
    queued = wiki.announce_due(runtime)
    if recorded or queued:
        log.info("wikis: %s changes recorded, %s announcements queued", recorded, queued)


def run_rollups(runtime: Runtime) -> int:
    """Fold new events, then bring the dashboard's stored counts up to date where no event did
    (a new week's fixed periods, scores after an upgrade)."""
    folded = fold_all(runtime.uow, runtime.signing_key, runtime.clock(), reader=runtime.reader)
    with runtime.uow() as uow:
        keep_current(uow, runtime.clock())
    return folded


def checkpoint(runtime: Runtime) -> None:
    """SQLite: move the WAL into the database file here, so that no web request does it inside the
    writer lock (see storage.engine.SQLITE_AUTOCHECKPOINT_PAGES)."""
    result = checkpoint_wal(runtime.engine)
    if result is not None and result[0]:
        log.debug("WAL checkpoint could not finish: %s of %s pages copied", result[2], result[1])


def run_once(runtime: Runtime) -> DeliveryReport:
    """Everything due, once: what the scheduled passes do, callable from tests and cron."""
    run_prompts(runtime)
    run_wikis(runtime)
    run_rollups(runtime)
    report = deliver_outbox(runtime)
    checkpoint(runtime)
    return report


def run_forever(runtime: Runtime) -> None:
    scheduler = BlockingScheduler(timezone="UTC")
    scheduler.add_job(deliver_outbox, "interval", args=[runtime], seconds=OUTBOX_INTERVAL_SECONDS, id="outbox",
                      max_instances=1, coalesce=True)
    scheduler.add_job(run_wikis, "interval", args=[runtime], seconds=WIKI_POLL_SECONDS, id="wikis",
                      max_instances=1, coalesce=True, next_run_time=runtime.clock())
    scheduler.add_job(run_rollups, "interval", args=[runtime], seconds=ROLLUP_SECONDS, id="rollups",
                      max_instances=1, coalesce=True, next_run_time=runtime.clock())
    if runtime.engine.dialect.name == "sqlite":
        scheduler.add_job(checkpoint, "interval", args=[runtime], seconds=CHECKPOINT_SECONDS, id="checkpoint",
                          max_instances=1, coalesce=True)
    scheduler.add_job(run_prompts, "interval", args=[runtime], seconds=PROMPT_INTERVAL_SECONDS, id="prompts",
                      max_instances=1, coalesce=True, next_run_time=runtime.clock())

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("worker stopping (signal %s)", signum)
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if runtime.mattermost() is None:
        log.warning("no LEARNLOOP_MATTERMOST_URL / LEARNLOOP_MATTERMOST_BOT_TOKEN: messages wait in the outbox")
    log.info("worker started")
    scheduler.start()
