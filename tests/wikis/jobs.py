"""The worker's wiki jobs, wired as `learnloop worker` wires them, for tests."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from learnloop.bootstrap import Runtime
from learnloop.jobs import wiki as wiki_jobs
from learnloop.storage import locks
from learnloop.storage.outbox import ClaimedMessage
from learnloop.wikis import FETCH_JOB, PUBLISH_JOB, UNPUBLISH_JOB, WikiHost
from learnloop.wiring import wiki_hosts
from tests.conftest import START


def poll_wikis(runtime: Runtime) -> int:
    hosts = wiki_hosts()
    return sum(wiki_jobs.poll_wiki(runtime, wiki, hosts[wiki.kind]) for wiki in runtime.settings.wikis)


def handlers(runtime: Runtime, hosts: Mapping[str, WikiHost] | None = None) -> dict[str, Any]:
    return wiki_jobs.handlers(runtime, hosts or wiki_hosts(),
                              lambda name: locks.held(runtime.engine, name, wait=True))


def message(kind: str, payload: dict[str, Any], attempt: int, queued_at: datetime = START) -> ClaimedMessage:
    return ClaimedMessage(0, kind, f"test:{kind}", payload, attempt, queued_at)


def fetch(runtime: Runtime, payload: dict[str, Any], attempt: int = 1) -> Any:
    return handlers(runtime)[FETCH_JOB](message(FETCH_JOB, payload, attempt))


def publish(runtime: Runtime, payload: dict[str, Any], attempt: int = 1, queued_at: datetime = START) -> Any:
    return handlers(runtime)[PUBLISH_JOB](message(PUBLISH_JOB, payload, attempt, queued_at))


def unpublish(runtime: Runtime, payload: dict[str, Any], attempt: int = 1) -> Any:
    return handlers(runtime)[UNPUBLISH_JOB](message(UNPUBLISH_JOB, payload, attempt))
