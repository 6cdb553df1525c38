"""The fast tier (`make test-fast`) holds no test that needs PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_every_postgresql_parameter_is_in_the_postgresql_tier() -> None:
    env = {**os.environ, "LEARNLOOP_TEST_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly",
                                "-m", "not postgresql", "tests/storage"],
                               cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    ids = [line for line in collected.splitlines() if "::" in line]
    assert ids, collected
    assert [node for node in ids if "postgresql" in node.partition("[")[2]] == []
