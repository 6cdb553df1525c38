"""`learnloop worker`, with the times a scale-out test scales down read from the environment.

As deployed the outbox lease is 60 s, the fold runs every minute and waits 30 s for events to settle, and
the prompt pass runs every 30 s. A test that kills a worker and waits for its lease to run out, or that
watches many folds race, would take minutes. Each LEARNLOOP_TEST_* variable below replaces one of those
constants before the worker starts; everything else is `learnloop worker` unchanged.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta


def scale_times() -> None:
    from learnloop.jobs import outbox, worker
    from learnloop.services import rollups

    def seconds(name: str) -> float | None:
        value = os.environ.get(f"LEARNLOOP_TEST_{name}")
        return float(value) if value else None

    if (lease := seconds("LEASE_SECONDS")) is not None:
        outbox.LEASE = timedelta(seconds=lease)
        outbox.RENEW_EVERY = outbox.LEASE / 4
    if (fold := seconds("ROLLUP_SECONDS")) is not None:
        worker.ROLLUP_SECONDS = fold
    if (settle := seconds("SETTLE_SECONDS")) is not None:
        rollups.SETTLE = timedelta(seconds=settle)
    if (prompts := seconds("PROMPT_SECONDS")) is not None:
        worker.PROMPT_INTERVAL_SECONDS = prompts


if __name__ == "__main__":
    scale_times()
    from learnloop.cli import main

    sys.exit(main(["worker", *sys.argv[1:]]))
