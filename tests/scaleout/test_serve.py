"""Two `learnloop serve` processes started together on a fresh database both come up: each migrates before
it serves, and migrations take a lock every process on the database shares (storage.migrate)."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest
import requests
from tests.scaleout.conftest import Fleet, wait_until

pytestmark = pytest.mark.scaleout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ready(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_two_servers_started_together_on_a_fresh_database_both_come_up(
        any_url: str, fleet: Callable[..., Fleet]) -> None:
    servers = fleet(any_url)
    ports = [free_port(), free_port()]
    processes = [servers.serve(port) for port in ports]
    for port, process in zip(ports, processes, strict=True):
        wait_until(f"learnloop serve on port {port}",
                   lambda port=port, process=process: ready(port) or process.poll() is not None, timeout=60)
    assert [process.poll() for process in processes] == [None, None], servers.logs()
    assert all(ready(port) for port in ports)
