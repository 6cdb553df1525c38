"""An operator's day: `learnloop worker` at the default level logs what it did, not that it woke up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

RUN_SECONDS = 8.0


@pytest.mark.slow
def test_an_idle_worker_is_quiet(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("LEARNLOOP_")}
    env.update({"LEARNLOOP_DATABASE_URL": f"sqlite:///{tmp_path / 'quiet.db'}", "LEARNLOOP_SECRET_KEY": "k" * 40})
    worker = subprocess.Popen([sys.executable, "-m", "learnloop.cli", "worker"], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(RUN_SECONDS)
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    lines = [line for line in output.splitlines() if line.strip()]
    assert any("worker" in line and "started" in line for line in lines), output
    assert len(lines) <= 5, f"{len(lines)} lines in {RUN_SECONDS:.0f} s of doing nothing:\n{output}"
    assert not any("apscheduler" in line or "Running job" in line for line in lines), output
