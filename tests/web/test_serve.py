"""`learnloop serve` for real: gunicorn's stock gthread worker with one thread (the SQLite default) and two
threads (the PostgreSQL default). Both must behave the same to a client."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

TOKEN = "k4m8c2w6r1t9y3u7i5o0p2a4sd"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Served:
    def __init__(self, port: int, log: Path) -> None:
        self.port, self.log = port, log

    def connect(self, timeout: float = 10.0) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)


def _read_response(sock: socket.socket, buffer: bytearray) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length from `sock`; bytes after it stay in `buffer`."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a response")
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in header_lines)}
    length = int(headers["content-length"])
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed inside a body")
        rest += chunk
    buffer[:] = rest[length:]
    return int(status_line.split()[1]), headers, rest[:length]


def _get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


@pytest.fixture(scope="module", params=[1, 2], ids=["gthread, 1 thread", "gthread, 2 threads"])
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp_path = tmp_path_factory.mktemp("served")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEARNLOOP_") and k != "XDG_RUNTIME_DIR"}
    env["HOME"] = str(tmp_path)
    env.update(LEARNLOOP_DATABASE_URL=f"sqlite:///{tmp_path / 'served.db'}", LEARNLOOP_HOST="127.0.0.1",
               LEARNLOOP_PORT="1", LEARNLOOP_WEB_WORKERS="1", LEARNLOOP_WEB_THREADS=str(request.param),
               LEARNLOOP_MATTERMOST_COMMAND_TOKENS=TOKEN, LEARNLOOP_CONFIG_FILE=str(tmp_path / "learnloop.toml"))
    (tmp_path / "learnloop.toml").write_text("")
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "learnloop.cli", "serve", "--port", str(port)], env=env,
                                   cwd=tmp_path,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as probe:
                    probe.sendall(_get("/healthz"))
                    if _read_response(probe, bytearray())[0] == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("learnloop serve did not start:\n" + log.read_text(errors="replace"))
            time.sleep(0.1)
        yield Served(port, log)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_stock_gthread_worker_serves_on_the_port_given_on_the_command_line(served: Served) -> None:
    log = served.log.read_text()
    assert "Using worker: gthread" in log and f"127.0.0.1:{served.port}" in log
    home = served.log.parent
    assert not (home / ".gunicorn").exists(), "no control socket in the home folder, which two instances would share"


def test_the_rating_page_for_the_longest_url_is_served(served: Served) -> None:
    """A URL of 2,048 characters whose every character is percent-encoded in the page's address: 6,000 and more
    characters of request line, which gunicorn's default limit (4,094) refuses before learnloop sees it."""
    url = "https://wiki.example.com/?" + "a=&" * 674
    path = "/rate?url=" + "".join(f"%{byte:02X}" for byte in url.encode())
    with served.connect() as sock:
        sock.sendall(_get(path))
        status, _, body = _read_response(sock, bytearray())
    assert len(path) > 6000 and status == 401 and b"Sign in to rate" in body


def test_requests_on_one_kept_alive_connection_are_all_answered(served: Served) -> None:
    with served.connect() as sock:
        buffer = bytearray()
        for _ in range(5):
            sock.sendall(_get("/healthz"))
            status, headers, body = _read_response(sock, buffer)
            assert status == 200 and json.loads(body)["status"] == "ok"
            assert headers.get("connection", "keep-alive").lower() != "close"


def test_pipelined_requests_are_answered_in_order(served: Served) -> None:
    with served.connect() as sock:
        sock.sendall(_get("/healthz") + _get("/no-such-page") + _get("/healthz"))
        buffer = bytearray()
        assert [_read_response(sock, buffer)[0] for _ in range(3)] == [200, 404, 200]


def test_a_slash_command_with_a_wrong_token_is_refused_through_the_server(served: Served) -> None:
    body = b"token=wrong&user_id=ob7m4qhjzjfy5c6qgbwkz3mn8r&channel_id=fukk3xq1bbn8fgmsiwh4xprwdh&command=%2Flearn&text=help"
    request = (b"POST /mattermost/command HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               b"Content-Type: application/x-www-form-urlencoded\r\nAuthorization: Token wrong\r\n"
               b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    with served.connect() as sock:
        sock.sendall(request)
        status, headers, answer = _read_response(sock, bytearray())
    assert status == 401 and headers["content-type"].startswith("application/json")
    assert "error" in json.loads(answer)


def test_a_connection_that_sends_nothing_holds_up_no_one(served: Served, request: pytest.FixtureRequest) -> None:
    """With one thread, gthread waits up to 5 s for a new connection's first bytes before serving the next (put
    a proxy such as nginx in front, which only forwards whole requests); with two, the other thread serves."""
    if request.node.callspec.params["served"] == 1:
        pytest.skip("one thread waits for the idle connection's first bytes")
    with served.connect() as idle:
        with served.connect(timeout=4) as other:
            other.sendall(_get("/healthz"))
            assert _read_response(other, bytearray())[0] == 200
        idle.settimeout(30)
        assert idle.recv(1) == b""  # closed by the server once the keep-alive time has passed


def test_a_client_that_hangs_up_mid_request_leaves_the_worker_serving(served: Served) -> None:
    with served.connect() as partial:
        partial.sendall(b"POST /mattermost/command HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\ntoken=")
    with served.connect() as sock:
        sock.sendall(_get("/healthz"))
        assert _read_response(sock, bytearray())[0] == 200
