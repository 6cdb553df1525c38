"""The harness every benchmark shares: the learnloop measured, its processes, a throw-away database, CPU
accounting, wrk (closed loop), a small asyncio open loop (latency at a fixed rate), tables and `main`.

Nothing here imports learnloop: the learnloop measured is the one `--learnloop-python` has installed, so one
session can measure a baseline checkout beside the current code (`--learnloop-python ../baseline/.venv/bin/python`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WRK_SCRIPT = Path(__file__).with_name("wrk_requests.lua")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None when there are no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(1, min(len(ordered), -(-int(q * len(ordered)) // 100))) - 1]


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in cells]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def http_json(url: str, body: Any = None, timeout: float = 30.0) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return json.loads(answer.read())


def raw_post(path: str, body: bytes, headers: dict[str, str], content_type: str) -> bytes:
    """An HTTP/1.1 keep-alive POST as bytes, ready to send as it is."""
    head = [f"POST {path} HTTP/1.1", f"Host: {HOST}", f"Content-Type: {content_type}", f"Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


# ------------------------------------------------------------------------------------------ the target


@dataclass(frozen=True)
class Target:
    """The learnloop being measured: an interpreter that has it installed."""

    python: str

    def command(self, *args: str) -> list[str]:
        return [self.python, "-m", "learnloop.cli", *args]

    def run(self, code: str, env: dict[str, str], spec: Any = None, timeout: float = 3600) -> Any:
        """Run `code` in the target's interpreter, `spec` as JSON in sys.argv[1]; it prints one JSON document
        last, which is returned."""
        done = subprocess.run([self.python, "-c", code, json.dumps(spec)], env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"child failed ({done.returncode}):\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])

    def migrate(self, env: dict[str, str]) -> None:
        self.run("from learnloop.bootstrap import build_runtime\nfrom learnloop.storage.migrate import upgrade\n"
                 "upgrade(build_runtime().engine)\nprint('{}')", env)

    def revision(self) -> str:
        code = "import learnloop, os; print(os.path.dirname(learnloop.__file__))"
        package = subprocess.run([self.python, "-c", code], capture_output=True, text=True, timeout=60,
                                 check=True).stdout.strip()
        head = subprocess.run(["git", "-C", package, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=False)
        dirty = subprocess.run(["git", "-C", package, "status", "--porcelain", "--", "."], capture_output=True,
                               text=True, check=False).stdout.strip()
        return (head.stdout.strip() or package) + (" (uncommitted changes)" if dirty else "")


Cleanups = list[Callable[[], None]]


def main(doc: str | None, options: Callable[[argparse.ArgumentParser], None],
         run: Callable[[argparse.Namespace, Target, Path, Cleanups], Any],
         report: Callable[[Any, argparse.Namespace, Target], int]) -> int:
    """A benchmark's command line: the common options and its own, `run` in a workspace, then `report`.
    Exit status: `report`'s (0 when it ran, 1 when learnloop answered or stored wrong), 2 when it could not run."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--learnloop-python", default=sys.executable,
                        help="interpreter whose learnloop is measured (default: this one); e.g. a baseline checkout's")
    parser.add_argument("--database-url", help="PostgreSQL server: a throw-away schema is made and dropped "
                        "(default: a fresh SQLite file)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, SQLite) and the schema")
    options(parser)
    args = parser.parse_args()
    target = Target(args.learnloop_python)
    with workspace(Path(sys.argv[0]).stem + "-", args.keep) as (workdir, cleanups):
        try:
            result = run(args, target, workdir, cleanups)
        except (RuntimeError, OSError) as exc:
            log(f"could not run: {exc}")
            return 2
    return report(result, args, target)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


# ------------------------------------------------------------------------------------------ processes


class Proc:
    """A subprocess in its own process group, logging to a file; stopped with its group."""

    def __init__(self, name: str, argv: Sequence[str], env: dict[str, str], home: Path, port: int = 0) -> None:
        self.name, self.argv, self.env, self.home, self.port = name, list(argv), env, home, port
        self.log, self.pid = home / f"{name}.log", 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(self.argv, env=self.env, cwd=self.home, stdin=subprocess.DEVNULL,
                                            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.process.pid
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_http(self, path: str = "/healthz", timeout: float = 90) -> float:
        """Seconds until GET path answers 200."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"http://{HOST}:{self.port}{path}", timeout=2) as answer:
                    if answer.status == 200:
                        return time.monotonic() - started
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s\n{self.tail()}")

    def wait_log(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.log.read_text(errors="replace"):
            if not self.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: no '{text}' in its log\n{self.tail()}")
            time.sleep(0.1)

    def pids(self) -> list[int]:
        return process_tree(self.pid) if self.alive() else []

    def tail(self, lines: int = 25) -> str:
        text = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return "\n".join(f"  [{self.name}] {line}" for line in text[-lines:])

    def stop(self, grace: float = 15) -> None:
        if self.process is None or not self.alive():
            return
        os.killpg(self.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def learnloop_env(home: Path, database_url: str, config: str = "# every setting comes from the environment\n",
                  **values: str) -> dict[str, str]:
    """The environment a learnloop process gets: no inherited LEARNLOOP_* or GUNICORN_* variables, `config` as
    its learnloop.toml, and `values`."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "learnloop.toml").write_text(config)
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("LEARNLOOP_", "GUNICORN_"))},
            "LEARNLOOP_DATABASE_URL": database_url, "LEARNLOOP_CONFIG_FILE": str(home / "learnloop.toml"),
            "LEARNLOOP_SECRET_KEY": "bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
            "LEARNLOOP_PUBLIC_URL": "http://127.0.0.1:8080", "XDG_RUNTIME_DIR": str(home), "PYTHONUNBUFFERED": "1",
            **values}


# ------------------------------------------------------------------------------------------ databases


@dataclass
class Database:
    url: str
    kind: str
    schema: str | None = None
    admin_url: str | None = None

    def backend_pids(self) -> list[int]:
        """PostgreSQL backends serving this schema's connections (application_name), when the server is local."""
        if self.schema is None:
            return []
        rows = sql(self.admin_url or self.url, "SELECT pid FROM pg_stat_activity WHERE application_name = :n",
                   n=self.schema)
        return [int(pid) for (pid,) in rows if Path(f"/proc/{pid}").exists()]

    def drop(self) -> None:
        if self.schema is not None:
            sql(self.admin_url or self.url, f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")


def sql(url: str, statement: str, **params: Any) -> list[tuple[Any, ...]]:
    """One statement with plain SQLAlchemy (learnloop's dependency, not learnloop); the rows, if any."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            result = connection.execute(text(statement), params)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def make_database(args: argparse.Namespace, workdir: Path, prefix: str, cleanups: Cleanups) -> Database:
    """A fresh SQLite file in `workdir`, or a fresh schema on the PostgreSQL server of --database-url; dropped
    at the end unless --keep."""
    if not args.database_url:
        return Database(f"sqlite:///{workdir / f'{prefix}.db'}", "sqlite")
    admin = "postgresql+psycopg://" + args.database_url.split("://", 1)[1]
    schema = f"{prefix}_{secrets.token_hex(4)}"
    sql(admin, f"CREATE SCHEMA {schema}")
    url = f"{admin}{'&' if '?' in admin else '?'}options=-csearch_path%3D{schema}&application_name={schema}"
    database = Database(url, f"postgresql (schema {schema})", schema, admin)
    if not args.keep:
        cleanups.append(database.drop)
    return database


@contextmanager
def workspace(prefix: str, keep: bool) -> Iterator[tuple[Path, Cleanups]]:
    """A temp dir and a list of clean-ups that run however the benchmark ends (SIGTERM included)."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    cleanups: Cleanups = []

    def terminate(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    try:
        yield workdir, cleanups
    finally:
        for cleanup in reversed(cleanups):
            try:
                cleanup()
            except Exception as exc:  # noqa: BLE001  (keep cleaning up; say what failed)
                log(f"clean-up failed: {exc}")
        if keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


# ------------------------------------------------------------------------------------------ CPU


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, user+system CPU seconds) of a live process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def process_tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            children.setdefault(stat[0], []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        tree.append(current := todo.pop())
        todo.extend(children.get(current, []))
    return tree


def cpu_seconds(pids: Iterable[int]) -> dict[int, float]:
    return {pid: stat[1] for pid in pids if (stat := _stat(pid)) is not None}


def machine_busy() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    with open("/proc/stat") as handle:
        parts = [int(x) for x in handle.readline().split()[1:9]]
    return sum(parts) - parts[3] - parts[4], sum(parts)


class CpuWatch:
    """CPU used by groups of processes (and this one, the load generator) between start() and stop(), and how
    busy the machine was."""

    def __init__(self, groups: dict[str, Callable[[], list[int]]]) -> None:
        self.groups, self.seconds, self.machine_pct = groups, 0.0, 0.0
        self.used: dict[str, float] = {}

    def start(self) -> CpuWatch:
        self._pids = {name: pids() for name, pids in self.groups.items()}
        self._before = {name: cpu_seconds(pids) for name, pids in self._pids.items()}
        self._self, self._machine, self._t = sum(os.times()[:2]), machine_busy(), time.monotonic()
        return self

    def stop(self) -> CpuWatch:
        self.seconds = time.monotonic() - self._t
        for name, pids in self.groups.items():
            now = cpu_seconds(set(pids()) | set(self._pids[name]))
            self.used[name] = sum(max(0.0, used - self._before[name].get(pid, 0.0)) for pid, used in now.items())
        self.used["load generator"] = sum(os.times()[:2]) - self._self
        busy, total = machine_busy()
        self.machine_pct = 100 * (busy - self._machine[0]) / max(1, total - self._machine[1])
        return self

    def cores(self) -> dict[str, float]:
        return {name: round(used / max(self.seconds, 1e-9), 2) for name, used in self.used.items()}


# ------------------------------------------------------------------------------------------ wrk: closed loop


@dataclass
class ClosedLoop:
    """What one wrk run measured. Thread t sent requests offset+t, offset+t+threads, ... (sent[t] of them);
    at most `connections // threads` of each thread's last requests were still unanswered at the end."""

    rps: float
    p50_ms: float
    p99_ms: float
    answers: int
    accepted: int
    errors: int
    sent: list[int]
    offset: int
    threads: int
    connections: int
    cpu_ms_per_request: float = 0.0
    busiest_worker_share: float = 0.0

    def indices(self, certain: bool) -> Iterator[int]:
        """The workload indices this run sent; with `certain`, only those sure to have been answered."""
        in_flight = self.connections // self.threads if certain else 0
        for thread, count in enumerate(self.sent):
            # wrk calls thread 0's request() once before the run to check it: that request is never sent
            for k in range(1 if thread == 0 else 0, max(0, count - in_flight)):
                yield self.offset + thread + k * self.threads

    @property
    def requests_sent(self) -> int:
        return sum(self.sent) - 1


def wrk(port: int, requests: Sequence[bytes], *, seconds: float, connections: int, offset: int, marker: bytes,
        workdir: Path, threads: int = 2) -> ClosedLoop:
    """A closed loop: `connections` keep-alive connections sending the prebuilt `requests` back to back for
    `seconds`; an answer counts as accepted when it is a 200 that contains `marker`."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is missing: `make bench-tools` installs Debian's wrk package")
    requests_file, report = workdir / "wrk-requests.bin", workdir / "wrk-report.json"
    requests_file.write_bytes(b"".join(r + b"\0" for r in requests))
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s", "--timeout", "10s",
            "-s", str(WRK_SCRIPT), f"http://{HOST}:{port}", "--", str(requests_file), str(threads), str(offset),
            marker.decode()]
    subprocess.run(argv, env={**os.environ, "WRK_REPORT": str(report)}, capture_output=True, check=True,
                   timeout=seconds + 60)
    data = json.loads(report.read_text())
    return ClosedLoop(rps=data["requests"] / max(data["duration_us"] / 1e6, 1e-9), p50_ms=data["p50_us"] / 1000,
                      p99_ms=data["p99_us"] / 1000, answers=data["requests"], accepted=sum(data["accepted"]),
                      errors=data["errors"], sent=data["sent"], offset=offset, threads=threads,
                      connections=connections)


def measured_wrk(port: int, requests: Sequence[bytes], *, workers: Callable[[], list[int]],
                 others: Callable[[], list[int]], tries: int = 3, **options: Any) -> list[ClosedLoop]:
    """wrk with the server's CPU per request; run again (up to `tries` runs) while one gunicorn worker did more
    than 80% of the work. wrk opens its connections at once, and a worker that wakes first can accept them
    all and serve the phase alone while the others idle: a lottery, not the server's throughput. Every run is
    returned (each sent requests); the last is the measurement."""
    runs: list[ClosedLoop] = []
    while True:
        pids = workers()
        before = cpu_seconds(pids)
        watch = CpuWatch({"all": lambda pids=pids: pids + others()}).start()
        result = wrk(port, requests, offset=sum(sum(r.sent) for r in runs), **options)
        watch.stop()
        per_worker = [used - before.get(pid, used) for pid, used in cpu_seconds(pids).items()]
        result.busiest_worker_share = max(per_worker, default=0.0) / max(sum(per_worker), 1e-9)
        result.cpu_ms_per_request = 1000 * watch.used["all"] / max(result.answers, 1)
        runs.append(result)
        if len(pids) < 2 or result.busiest_worker_share <= 0.8 or len(runs) == tries:
            return runs
        log(f"  one worker served {100 * result.busiest_worker_share:.0f}% of that round: measured again")


# ------------------------------------------------------------------------------------------ open loop


@dataclass
class OpenLoop:
    latencies_ms: list[float] = field(default_factory=list)
    scheduled: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    seconds: float = 0.0

    def summary(self, since: float = float("-inf"), until: float = float("inf")) -> dict[str, Any]:
        chosen = [lat for lat, at in zip(self.latencies_ms, self.scheduled, strict=True) if since <= at < until]
        return {"requests": len(chosen), "p50_ms": _round(percentile(chosen, 50)),
                "p99_ms": _round(percentile(chosen, 99)), "max_ms": _round(max(chosen, default=None))}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).lower()
    length = int(head.split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
    return int(head[9:12]), await reader.readexactly(length)


async def open_loop(port: int, request_for: Callable[[int], bytes], *, rate: float, seconds: float,
                    on_answer: Callable[[int, int, bytes], None] | None = None, stop: Any = None,
                    timeout: float = 10.0) -> OpenLoop:
    """Request i is sent at start + i / rate whatever the server does, over keep-alive connections (a new one
    when all are busy); its latency runs from that scheduled moment, so a stall is charged for the queue behind
    it. Runs for `seconds`, or until `stop` (a threading.Event) is set; bounded in count and time."""
    loop, result = asyncio.get_running_loop(), OpenLoop()
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
    start = loop.time() + 0.05

    async def one(index: int, scheduled: float) -> None:
        while idle and (idle[-1][1].is_closing() or loop.time() - idle[-1][2] > 1.0):
            idle.pop()[1].close()
        try:
            reader, writer = (idle.pop()[:2] if idle else await asyncio.open_connection(HOST, port))
            writer.write(request_for(index))
            status, body = await asyncio.wait_for(_read_answer(reader), timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            result.errors[type(exc).__name__] += 1
            return
        idle.append((reader, writer, loop.time()))
        result.latencies_ms.append((loop.time() - scheduled) * 1000)
        result.scheduled.append(scheduled)
        if on_answer is not None:
            on_answer(index, status, body)

    tasks: set[asyncio.Task[None]] = set()
    for index in range(int(rate * seconds)):
        if stop is not None and stop.is_set():
            break
        scheduled = start + index / rate
        await asyncio.sleep(max(0.0, scheduled - loop.time()))
        task = loop.create_task(one(index, scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        result.sent += 1
    if tasks:
        await asyncio.wait(set(tasks), timeout=timeout + 5)
    result.seconds = loop.time() - start
    for _, writer, _ in idle:
        writer.close()
    return result
