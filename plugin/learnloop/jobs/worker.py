"""`learnloop worker`: the one process that runs background work, driven by APScheduler."""

from __future__ import annotations

import logging
import signal
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler

from learnloop.bootstrap import Runtime
from learnloop.jobs.mattermost_delivery import HANDLERS
from learnloop.jobs.outbox import DeliveryReport, deliver_due

log = logging.getLogger(__name__)

OUTBOX_INTERVAL_SECONDS = 1.0


def run_once(runtime: Runtime) -> DeliveryReport:
    """Everything due, once: what each scheduled pass does, callable from tests and cron."""
    report = deliver_due(runtime, HANDLERS)
    if report.sent or report.retried or report.failed:
        log.info("outbox: %s sent, %s to retry, %s failed", report.sent, report.retried, report.failed)
    return report


def run_forever(runtime: Runtime) -> None:
    scheduler = BlockingScheduler(timezone="UTC")
    scheduler.add_job(run_once, "interval", args=[runtime], seconds=OUTBOX_INTERVAL_SECONDS, id="outbox",
                      max_instances=1, coalesce=True)

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("worker stopping (signal %s)", signum)
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if runtime.mattermost() is None:
        log.warning("no LEARNLOOP_MATTERMOST_URL / LEARNLOOP_MATTERMOST_BOT_TOKEN: messages wait in the outbox")
    log.info("worker started")
    scheduler.start()
