"""Two `learnloop serve` processes started together on a fresh database both come up: each migrates before
it serves, and migrations take a lock every process on the database shares (storage.migrate)."""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Callable

import pytest
import requests
from sqlalchemy import text
from tests.scaleout.conftest import COMMAND_TOKEN, Fleet, wait_until

from learnloop.storage.engine import make_engine

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


def test_a_web_server_killed_mid_load_loses_no_acknowledged_rating(
        any_url: str, fleet: Callable[..., Fleet]) -> None:
    """Ratings sent one after another while `learnloop serve` is killed with SIGKILL (its whole process group)
    and started again: every rating it acknowledged is stored, and each once."""
    servers = fleet(any_url)
    port = free_port()
    acknowledged: list[tuple[str, str, int]] = []
    process = servers.serve(port)
    wait_until("learnloop serve", lambda: ready(port), timeout=60)

    def rate(n: int) -> None:
        user, url, stars = f"killtest{n:018d}", f"https://wiki.acme.example/p{n % 7}", 1 + n % 5
        body = {"token": COMMAND_TOKEN, "user_id": user, "user_name": f"u{n}", "channel_id": "c" * 26,
                "channel_name": "kill", "team_id": "t" * 26, "command": "/learn",
                "text": f"rate {url} {stars}", "trigger_id": "x", "response_url": ""}
        try:
            answer = requests.post(f"http://127.0.0.1:{port}/mattermost/command", data=body, timeout=5)
        except requests.RequestException:
            return
        if answer.status_code == 200 and "rated" in answer.json().get("text", ""):
            acknowledged.append((user, url, stars))

    sending = threading.Event()
    sending.set()

    def keep_rating(first: int) -> None:
        n = first
        while sending.is_set():
            rate(n)
            n += 2

    senders = [threading.Thread(target=keep_rating, args=(first,)) for first in (0, 1)]
    for sender in senders:
        sender.start()
    wait_until("ratings acknowledged", lambda: len(acknowledged) >= 100, timeout=60)
    os.killpg(process.pid, signal.SIGKILL)  # while both senders have requests in flight
    process.wait(timeout=10)
    servers.serve(port)
    wait_until("learnloop serve again", lambda: ready(port), timeout=60)
    wait_until("ratings acknowledged again", lambda: len(acknowledged) >= 250, timeout=60)
    sending.clear()
    for sender in senders:
        sender.join(timeout=10)
    engine = make_engine(any_url)
    try:
        with engine.connect() as connection:
            stored = {(user, url): (stars, count) for user, url, stars, count in connection.execute(text(
                "SELECT r.user_id, i.url, r.stars, count(*) OVER (PARTITION BY r.user_id, i.url) FROM ratings r "
                "JOIN content_items i ON i.id = r.item_id"))}
    finally:
        engine.dispose()
    assert all(stored.get((user, url)) == (stars, 1) for user, url, stars in acknowledged)
