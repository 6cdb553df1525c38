"""Helpers for learnloop's loopback benchmarks (bench_inbound.py; reusable by later ones).

Nothing here imports learnloop: it starts servers as subprocesses, drives them over loopback
with a small asyncio HTTP/1.1 keep-alive client, and measures what the servers cost.

The load generator is deliberately minimal (pre-built request bytes, an asyncio.Protocol that
parses only the status line and Content-Length) so that on a small machine it takes as little
CPU as possible away from the servers it measures. Two modes:

- closed loop: N connections, each sends its next request as soon as the previous answer
  arrived, for a fixed time: the throughput a server sustains.
- open loop: requests are scheduled at a fixed rate whatever the server does; each latency is
  measured from the *scheduled* send time, so a stalled server is charged for the requests
  queued behind the stall (no coordinated omission). Requests are spread over a pool of
  keep-alive connections, opening another one when all are busy (bounded).

Every loop is bounded in count and in time.
"""

from __future__ import annotations

import asyncio
import gc
import http.client
import json
import os
import signal
import socket
import subprocess
import time
from array import array
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

# (index of the request in the workload, status or 0 on a transport error, body, error name or None)
ResponseHook = Callable[[int, int, bytes, "str | None"], None]
# index -> (request bytes, anything); called once per request, in order
RequestSource = Callable[[int], bytes]


# --------------------------------------------------------------------------------------------
# Small numeric and formatting helpers


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of already sorted values; NaN when empty."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), int(-(-q * len(sorted_values) // 100))))
    return sorted_values[rank - 1]


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def clean_env(drop_prefixes: Sequence[str], **values: str) -> dict[str, str]:
    """os.environ without variables starting with any of drop_prefixes, plus values."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(tuple(drop_prefixes))}
    env.update(values)
    return env


def http_post(path: str, authority: str, body: bytes, extra_headers: Mapping[str, str] | None = None) -> bytes:
    """A raw HTTP/1.1 keep-alive POST of a form-encoded body, as bytes ready to send."""
    head = [f"POST {path} HTTP/1.1", f"Host: {authority}", "Content-Type: application/x-www-form-urlencoded",
            f"Content-Length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in (extra_headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


# --------------------------------------------------------------------------------------------
# CPU accounting (Linux /proc)


def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, utime+stime seconds) of a live process, or None."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def process_tree(pid: int) -> list[int]:
    """pid and all its live descendants."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _proc_stat(int(entry))
            if stat is not None:
                parents.setdefault(stat[0], []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(parents.get(current, []))
    return tree


def tree_cpu_seconds(pids: Sequence[int]) -> float:
    total = 0.0
    for pid in pids:
        stat = _proc_stat(pid)
        if stat is not None:
            total += stat[1]
    return total


def self_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


@dataclass(frozen=True)
class SystemCpu:
    """A snapshot of /proc/stat's aggregate line, to tell how busy (and how stolen) the machine was."""

    busy: int
    idle: int
    steal: int

    @classmethod
    def now(cls) -> SystemCpu:
        with open("/proc/stat") as handle:
            parts = [int(x) for x in handle.readline().split()[1:]]
        user, nice, system, idle, iowait, irq, softirq, steal = (parts + [0] * 8)[:8]
        return cls(busy=user + nice + system + irq + softirq, idle=idle + iowait, steal=steal)

    def since(self, earlier: SystemCpu) -> dict[str, float]:
        busy, idle, steal = self.busy - earlier.busy, self.idle - earlier.idle, self.steal - earlier.steal
        total = max(1, busy + idle + steal)
        return {"busy_pct": round(100 * busy / total, 1), "idle_pct": round(100 * idle / total, 1),
                "steal_pct": round(100 * steal / total, 1)}


# --------------------------------------------------------------------------------------------
# Server subprocesses


class ServerProcess:
    """A server started in its own session (process group), logging to a file, stopped with it."""

    def __init__(self, name: str, argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, port: int,
                 host: str = "127.0.0.1", log_path: Path | None = None) -> None:
        self.name, self.argv, self.env, self.cwd = name, list(argv), dict(env), cwd
        self.host, self.port = host, port
        self.log_path = log_path or cwd / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, path: str = "/healthz", timeout: float = 60.0) -> float:
        """Poll GET path until it answers 200; returns seconds waited. Raises RuntimeError."""
        started = time.monotonic()
        deadline = started + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited before it was ready (code {self.process and self.process.returncode})\n"
                                   + self.log_tail())
            try:
                connection = http.client.HTTPConnection(self.host, self.port, timeout=2)
                connection.request("GET", path)
                response = connection.getresponse()
                response.read()
                connection.close()
                if response.status == 200:
                    return time.monotonic() - started
                last = f"HTTP {response.status}"
            except OSError as exc:
                last = type(exc).__name__
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready on {self.host}:{self.port}{path} after {timeout:.0f}s ({last})\n"
                           + self.log_tail())

    def pids(self) -> list[int]:
        return process_tree(self.pid)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(f"  [{self.name}] {line}" for line in text[-lines:])

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the server's own process group, then SIGKILL it if it does not exit in time."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=5)


# --------------------------------------------------------------------------------------------
# The load generator


@dataclass
class PostgresSchema:
    """A fresh schema on a PostgreSQL server for one benchmark run. `url` reaches it: search_path is the
    schema, and so is application_name, which finds the backends serving it in pg_stat_activity."""

    admin_url: str
    name: str

    @property
    def url(self) -> str:
        separator = "&" if "?" in self.admin_url else "?"
        return f"{self.admin_url}{separator}options=-csearch_path%3D{self.name}&application_name={self.name}"

    def drop(self) -> None:
        from sqlalchemy import create_engine, text  # learnloop's own dependency

        admin = create_engine(self.admin_url)
        try:
            with admin.begin() as connection:
                connection.execute(text(f"DROP SCHEMA IF EXISTS {self.name} CASCADE"))
        finally:
            admin.dispose()


def fresh_postgres_schema(requested: str, prefix: str) -> PostgresSchema:
    """Create `<prefix>_<random>` on the server of a postgresql:// or postgresql+psycopg:// URL."""
    import secrets

    from sqlalchemy import create_engine, text

    url = ("postgresql+psycopg://" + requested.split("://", 1)[1] if requested.startswith("postgresql://")
           else requested)
    schema = PostgresSchema(url, f"{prefix}_{secrets.token_hex(4)}")
    admin = create_engine(url)
    try:
        with admin.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema.name}"))
    finally:
        admin.dispose()
    return schema


class TransportError(Exception):
    pass


class _Http(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with at most one request in flight."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.closed = False
        self.fresh = True
        self.done_at = 0.0
        self.idle_since = loop.time()
        self._status = 0
        self._body_start = -1
        self._end = -1
        self._close_after = False

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None:
            return
        buffer = self.buffer
        if self._body_start < 0:
            head_end = buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = bytes(buffer[:head_end]).lower()
            try:
                self._status = int(head[9:12])
                at = head.index(b"\r\ncontent-length:") + 17
                stop = head.find(b"\r\n", at)
                length = int(head[at:stop if stop >= 0 else None])
            except ValueError:
                self._fail(TransportError("response without a status or Content-Length"))
                return
            self._close_after = b"\r\nconnection: close" in head
            self._body_start = head_end + 4
            self._end = self._body_start + length
        if len(buffer) < self._end:
            return
        body = bytes(buffer[self._body_start:self._end])
        del buffer[:self._end]
        self.done_at = self.idle_since = self.loop.time()
        waiter, status = self.waiter, self._status
        self._reset()
        if self._close_after:
            self.close()
        if not waiter.done():
            waiter.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(TransportError(f"connection closed by server ({type(exc).__name__ if exc else 'EOF'})"))

    # ours
    def _reset(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.waiter, self.timer, self._body_start, self._end = None, None, -1, -1

    def _fail(self, error: Exception) -> None:
        waiter = self.waiter
        self._reset()
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def _timed_out(self) -> None:
        self.timer = None
        self._fail(TimeoutError("no complete answer in time"))
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def send(self, request: bytes, timeout: float) -> asyncio.Future[tuple[int, bytes]]:
        if self.closed or self.transport is None or self.transport.is_closing():
            raise TransportError("connection is closed")
        self.fresh = False
        self.waiter = self.loop.create_future()
        self.timer = self.loop.call_later(timeout, self._timed_out)
        self.transport.write(request)
        return self.waiter


async def _connect(host: str, port: int) -> _Http:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(lambda: _Http(loop), host, port)
    return protocol


@dataclass
class PhaseResult:
    """What one load phase measured."""

    name: str
    mode: str  # "closed" or "open"
    duration_s: float = 0.0
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies_ms: array = field(default_factory=lambda: array("d"))
    max_send_lag_ms: float = 0.0
    connections_opened: int = 0
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    system: dict[str, float] = field(default_factory=dict)
    target_rate: float | None = None
    concurrency: int | None = None

    @property
    def completed(self) -> int:
        return sum(self.statuses.values())

    @property
    def rps(self) -> float:
        return self.completed / self.duration_s if self.duration_s > 0 else 0.0

    def count_5xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def count_non_2xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300)

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)
        done = max(1, self.completed)

        def ms(q: float) -> float | None:  # None, not NaN, when nothing completed (valid JSON)
            return round(percentile(ordered, q), 2) if ordered else None

        return {
            "name": self.name, "mode": self.mode, "duration_s": round(self.duration_s, 3),
            "target_rate": self.target_rate, "concurrency": self.concurrency,
            "sent": self.sent, "completed": self.completed, "rps": round(self.rps, 1),
            "p50_ms": ms(50), "p90_ms": ms(90), "p99_ms": ms(99), "max_ms": ms(100),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "status_5xx": self.count_5xx(), "non_2xx": self.count_non_2xx(),
            "transport_errors": dict(self.errors), "max_send_lag_ms": round(self.max_send_lag_ms, 2),
            "connections_opened": self.connections_opened,
            "server_cpu_ms_per_req": round(1000 * self.server_cpu_s / done, 3),
            "client_cpu_ms_per_req": round(1000 * self.client_cpu_s / done, 3),
            "server_cores_used": round(self.server_cpu_s / self.duration_s, 2) if self.duration_s else None,
            "client_cores_used": round(self.client_cpu_s / self.duration_s, 2) if self.duration_s else None,
            "machine": self.system,
        }


class _Accounting:
    """Server process-tree CPU, our own CPU and the machine's CPU around a phase.

    The cycle collector is paused for the phase so that it cannot stall the client mid-phase
    (a stall would be charged to the server as latency in the open loop).
    """

    def __init__(self, server_pids: Sequence[int]) -> None:
        self.pids = list(server_pids)

    def __enter__(self) -> _Accounting:
        self.gc_was_enabled = gc.isenabled()
        gc.collect()
        gc.disable()
        self.system, self.server, self.client = SystemCpu.now(), tree_cpu_seconds(self.pids), self_cpu_seconds()
        return self

    def finish(self, result: PhaseResult) -> None:
        result.server_cpu_s = tree_cpu_seconds(self.pids) - self.server
        result.client_cpu_s = self_cpu_seconds() - self.client
        result.system = SystemCpu.now().since(self.system)

    def __exit__(self, *_: object) -> None:
        if self.gc_was_enabled:
            gc.enable()


async def closed_loop(
    name: str, host: str, port: int, *, request_for: RequestSource, next_index: Callable[[], int],
    on_response: ResponseHook, concurrency: int, duration: float, timeout: float = 10.0,
    server_pids: Sequence[int] = (),
) -> PhaseResult:
    """`concurrency` keep-alive connections, each sending back to back for `duration` seconds.

    The connections are opened one at a time, each after the one before has had its first answer, and
    the measured window starts once all are open. Why: gunicorn's workers each accept from the shared
    listening socket and keep a kept-alive connection for good. Sixteen connects at once were often all
    accepted by whichever worker woke first, which then served the whole phase alone while the other
    idled: throughput halved in one round of three, for the bare app and learnloop alike. Opened
    while the others are sending, a connection goes to the worker that is free to accept it. Requests
    answered while the connections open are passed to `on_response` but not counted in the result."""
    loop = asyncio.get_running_loop()
    result = PhaseResult(name=name, mode="closed", concurrency=concurrency)
    latencies, statuses, errors = result.latencies_ms, result.statuses, result.errors
    measuring = False
    window: list[float] = [0.0, float("inf")]  # start, deadline

    async def client(opened: asyncio.Event) -> None:
        connection: _Http | None = None
        while loop.time() < window[1]:
            if connection is None or connection.closed:
                try:
                    connection = await asyncio.wait_for(_connect(host, port), timeout)
                    result.connections_opened += 1
                except (OSError, asyncio.TimeoutError) as exc:
                    errors[f"connect: {type(exc).__name__}"] += 1
                    await asyncio.sleep(0.05)
                    continue
            index = next_index()
            request = request_for(index)
            counted = measuring
            result.sent += counted
            started = loop.time()
            try:
                status, body = await connection.send(request, timeout)
            except (TransportError, TimeoutError, OSError) as exc:
                errors[type(exc).__name__] += counted
                on_response(index, 0, b"", type(exc).__name__)
                connection.close()
                opened.set()
                continue
            if counted:
                latencies.append((connection.done_at - started) * 1000)
                statuses[status] += 1
            on_response(index, status, body, None)
            opened.set()
        if connection is not None:
            connection.close()

    tasks = []
    for _ in range(concurrency):
        opened = asyncio.Event()
        tasks.append(asyncio.ensure_future(client(opened)))
        await asyncio.wait_for(opened.wait(), timeout)
    with _Accounting(server_pids) as accounting:
        measuring = True
        window[:] = [loop.time(), loop.time() + duration]
        await asyncio.wait_for(asyncio.gather(*tasks), duration + timeout + 5)
        result.duration_s = loop.time() - window[0]
        accounting.finish(result)
    return result


class ConnectionPool:
    """Keep-alive connections for an open loop: at most `max_connections`, the most recently used first.

    Connections idle for longer than idle_close_s are not reused (gunicorn closes keep-alive
    connections after 2 s idle; reusing one at that moment would race the server's close).
    """

    def __init__(self, host: str, port: int, *, max_connections: int, idle_close_s: float, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.max_connections, self.idle_close_s = max_connections, idle_close_s
        self.opened = 0
        self._idle: list[_Http] = []
        self._open = 0
        self._freed: asyncio.Queue[None] = asyncio.Queue()

    async def acquire(self) -> _Http:
        loop = asyncio.get_running_loop()
        while True:
            while self._idle:
                connection = self._idle.pop()  # LIFO: keep a few connections hot
                if not connection.closed and loop.time() - connection.idle_since < self.idle_close_s:
                    return connection
                connection.close()
                self._open -= 1
            if self._open < self.max_connections:
                self._open += 1
                try:
                    connection = await asyncio.wait_for(_connect(self.host, self.port), self.timeout)
                except BaseException:
                    self._open -= 1
                    raise
                self.opened += 1
                return connection
            await self._freed.get()

    def release(self, connection: _Http) -> None:
        if connection.closed:
            self._open -= 1
        else:
            self._idle.append(connection)
        self._freed.put_nowait(None)

    def close(self) -> None:
        for connection in self._idle:
            connection.close()


@dataclass
class Paced:
    began: float
    sent: int = 0
    max_send_lag_ms: float = 0.0
    abandoned: int = 0


async def send_paced(rate: float, limit: int, send: Callable[[int, float], Any], *, timeout: float,
                     stop: Any = None) -> Paced:
    """Start `send(i, scheduled)` at `began + i / rate` for i < limit, or until `stop` (an Event) is set;
    then wait up to timeout + 5 s for them and abandon the rest. Bounded in count and time."""
    loop = asyncio.get_running_loop()
    paced = Paced(began=loop.time() + 0.01)
    tasks: set[asyncio.Task[None]] = set()
    for i in range(limit):
        if stop is not None and stop.is_set():
            break
        scheduled = paced.began + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        paced.max_send_lag_ms = max(paced.max_send_lag_ms, (loop.time() - scheduled) * 1000)
        paced.sent += 1
        task = loop.create_task(send(i, scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(set(tasks), timeout=timeout + 5)
    for task in list(tasks):  # anything still running after the timeout is abandoned
        task.cancel()
        paced.abandoned += 1
    return paced


async def open_loop(
    name: str, host: str, port: int, *, request_for: RequestSource, next_index: Callable[[], int],
    on_response: ResponseHook, rate: float, duration: float, timeout: float = 10.0,
    max_connections: int = 128, idle_close_s: float = 1.0, server_pids: Sequence[int] = (),
) -> PhaseResult:
    """int(rate * duration) requests at fixed times; latency is measured from each scheduled time."""
    loop = asyncio.get_running_loop()
    result = PhaseResult(name=name, mode="open", target_rate=rate)
    latencies, statuses, errors = result.latencies_ms, result.statuses, result.errors
    pool = ConnectionPool(host, port, max_connections=max_connections, idle_close_s=idle_close_s,
                          timeout=timeout)

    async def one(index: int, scheduled: float) -> None:
        request = request_for(index)
        try:
            connection = await pool.acquire()
        except (OSError, asyncio.TimeoutError) as exc:
            errors[f"connect: {type(exc).__name__}"] += 1
            on_response(index, 0, b"", type(exc).__name__)
            return
        try:
            status, body = await connection.send(request, timeout)
        except (TransportError, TimeoutError, OSError) as exc:
            errors[type(exc).__name__] += 1
            on_response(index, 0, b"", type(exc).__name__)
            connection.close()
            return
        finally:
            pool.release(connection)
        latencies.append((connection.done_at - scheduled) * 1000)
        statuses[status] += 1
        on_response(index, status, body, None)

    with _Accounting(server_pids) as accounting:
        paced = await send_paced(rate, max(1, int(rate * duration)),
                                 lambda _i, scheduled: one(next_index(), scheduled), timeout=timeout)
        result.sent, result.max_send_lag_ms = paced.sent, paced.max_send_lag_ms
        if paced.abandoned:
            errors["abandoned"] += paced.abandoned
        result.duration_s = loop.time() - paced.began
        accounting.finish(result)
    result.connections_opened = pool.opened
    pool.close()
    return result


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
