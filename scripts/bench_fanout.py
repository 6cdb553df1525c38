"""Fan-out benchmark (issue 3): one reflection prompt to N channel members, against a local
Mattermost stand-in that answers every call in 5 ms, while the web process answers slash commands.

    .venv/bin/python scripts/bench_fanout.py                      # 10,000 members, SQLite, `learnloop worker`
    .venv/bin/python scripts/bench_fanout.py --members 1000       # a quick run
    .venv/bin/python scripts/bench_fanout.py --worker loop        # prompt pass + outbox passes back to back
    .venv/bin/python scripts/bench_fanout.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python scripts/bench_fanout.py --instrument --py-spy   # where the worker's time goes
    ... --json                                                     # one JSON document on stdout

What one run does, all on loopback:

1. starts scripts/mattermost_standin.py as a subprocess: one channel with N members (ids of 26
   characters, time zones from UTC-11 to UTC+14, some set by hand, some unset), plus the bot and a
   deactivated account that must not be prompted; every call is answered after --latency-ms;
2. makes a fresh SQLite database (or, with --database-url, a throw-away schema in PostgreSQL that is
   dropped at the end), migrates it, and creates one community and one one-off prompt schedule for
   the channel with learnloop's own service functions (in this process). The schedule's local date
   and time are chosen so that every member's personal due moment has passed when the worker starts
   (the westernmost zone, UTC-11, fell due 60 s earlier; UTC+14 a day earlier) and every answer
   window (2 days) is still open: all N deliveries are due at once;
3. starts `learnloop serve` (gunicorn, --web-workers workers) on the same database;
4. sends slash commands to it at a fixed rate (open loop: latency counted from each request's
   scheduled time; `/learn rate <url> <stars>` and `/learn prompts` in the community's channel) for
   a warm-up, then a baseline without the worker, then all through the fan-out;
5. starts the worker (t0) and waits until every delivery is `sent` (or --timeout):
   --worker service (default): `learnloop worker` exactly as deployed (APScheduler: the prompt pass
     every 30 s, the first at start; the outbox job every 1 s, passes of 200 messages back to back
     while they come full, LEARNLOOP_OUTBOX_CONCURRENCY threads);
   --worker loop: the same functions (run_prompt_pass, then deliver_due until the outbox is empty,
     repeated) back to back in one subprocess, without the scheduler's intervals: what the code can
     do when nothing waits for a timer;
6. prints: members, fan-out time (t0 until the last delivery's sent_at), prompts per second, the
   phases (all planned, all queued, all sent), duplicates (the stand-in's record of posts per
   delivery id, and the database), deliveries not sent, web p50/p99 before and during the fan-out,
   CPU used by each process, and PASS/FAIL against the targets (< 60 s, 0 duplicates, p99 < 50 ms).

t0 is the worker's start: every delivery is already due then. In production the planning part
(listing members, one delivery row each) normally happens up to two days ahead, when the run is
planned; here it is inside the measured time, and the phases show how long it took.

--instrument runs the worker with timers around learnloop's own functions (prompt pass steps,
outbox claim/finish, each handler step, each Mattermost call, SQLite write-lock waits and holds),
without changing any code; --py-spy samples the worker with py-spy (from the venv) and prints the
functions it was seen in most.

Every loop is bounded in count and time; servers are stopped at the end (their own process
groups). Exit status: 0 when it ran (targets missed or not, unless --strict: then 3), 1 when a
prompt was posted twice or to the wrong people, 2 when the benchmark could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_common import (  # noqa: E402
    ConnectionPool,
    ServerProcess,
    SystemCpu,
    TransportError,
    clean_env,
    format_table,
    free_port,
    fresh_postgres_schema,
    http_post,
    percentile,
    self_cpu_seconds,
    send_paced,
    tree_cpu_seconds,
)

HOST = "127.0.0.1"
COMMAND_ROUTE = "/mattermost/command"
COMMAND_TOKEN = "fanoutbench7tokenxq3j5x7p8p"
SECRET_KEY = "bench-fanout-secret-key-0123456789-abcdefghijklmnop"
SCHEDULE_TZ = "Europe/Berlin"
WINDOW = "2d"
DUE_LEAD = timedelta(seconds=60)  # the last zone fell due this long before the schedule was made
TARGET_SECONDS = 60.0
TARGET_P99_MS = 50.0
POLL_SECONDS = 0.25
WARMUP_SECONDS = 3.0
RATE_SHARE = 0.75  # the rest are `/learn prompts`
URLS = 400


# ============================================================================================
# The worker child: `python bench_fanout.py --child service|loop` (a subprocess, like production)


class Timers:
    """Seconds and calls per name, summed over threads (wall time, GIL waits included)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])  # calls, seconds, max
        self.local = threading.local()

    def add(self, name: str, seconds: float) -> None:
        with self.lock:
            entry = self.totals[name]
            entry[0] += 1
            entry[1] += seconds
            entry[2] = max(entry[2], seconds)

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.add(name, time.perf_counter() - started)

        timed.__wrapped__ = function  # type: ignore[attr-defined]
        return timed

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {name: {"calls": int(c), "seconds": round(s, 4), "max_ms": round(m * 1000, 2)}
                    for name, (c, s, m) in sorted(self.totals.items())}


_ID_IN_PATH = re.compile(r"/[a-z0-9]{26}(?=/|$)")


def instrument(runtime: Any, timers: Timers) -> None:
    """Timers around learnloop's functions, by patching module attributes in this process only."""
    import learnloop.jobs.mattermost_delivery as delivery
    import learnloop.jobs.outbox as outbox
    import learnloop.jobs.prompts as prompts
    from learnloop.mattermost.client import MattermostClient
    from learnloop.services.outbox_kinds import SEND_PROMPT
    from sqlalchemy import event

    for name in ("member_profiles", "plan_runs", "plan_deliveries", "expire_and_nudge", "read_due", "apply_decisions",
                 "_statuses"):
        setattr(prompts, name, timers.wrap(f"prompt pass: {name}", getattr(prompts, name)))
    prompts.run_prompt_pass = timers.wrap("prompt pass (whole)", prompts.run_prompt_pass)
    for name in ("_claim", "_load", "_finish_many"):
        setattr(outbox, name, timers.wrap(f"outbox: {name}", getattr(outbox, name)))
    for name in ("_already_posted", "prompt_post", "mark_sent"):
        setattr(delivery, name, timers.wrap(f"send_prompt: {name}", getattr(delivery, name)))
    batch = delivery.HANDLERS[SEND_PROMPT]
    delivery.HANDLERS[SEND_PROMPT] = outbox.BatchHandler(
        timers.wrap("send_prompt: load (whole batch)", batch.load), timers.wrap("send_prompt: send (one)", batch.send),
        timers.wrap("send_prompt: record (whole batch)", batch.record))
    original_send = MattermostClient._send

    def send(self: Any, method: str, url: str, label: str, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original_send(self, method, url, label, **kwargs)
        finally:
            timers.add(f"http {method} {_ID_IN_PATH.sub('/{id}', label)}", time.perf_counter() - started)

    MattermostClient._send = send  # type: ignore[method-assign]
    local = timers.local

    # Database: every statement is timed by its verb. On SQLite each transaction starts with
    # BEGIN IMMEDIATE, so its time is the wait for the write lock, and BEGIN..COMMIT is how long
    # this process holds the lock (the web process waits meanwhile).
    @event.listens_for(runtime.engine, "before_cursor_execute")
    def _before(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        local.statement_started = time.perf_counter()

    @event.listens_for(runtime.engine, "after_cursor_execute")
    def _after(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        now = time.perf_counter()
        verb = statement.lstrip().split(None, 1)[0].upper()
        took = now - getattr(local, "statement_started", now)
        if verb == "BEGIN":
            timers.add("db: BEGIN IMMEDIATE (SQLite: write-lock wait)", took)
            local.began = now
        else:
            timers.add(f"db: {verb} statements", took)

    def _ended(kind: str) -> Callable[[Any], None]:
        def listener(connection: Any) -> None:
            began = getattr(local, "began", None)
            if began is not None:
                timers.add(f"db: transaction held, BEGIN..{kind}", time.perf_counter() - began)
                local.began = None
        return listener

    event.listen(runtime.engine, "commit", _ended("COMMIT"))
    event.listen(runtime.engine, "rollback", _ended("ROLLBACK"))

    checkout: dict[int, float] = {}

    @event.listens_for(runtime.engine, "checkout")
    def _checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        checkout[id(dbapi_connection)] = time.perf_counter()

    @event.listens_for(runtime.engine, "checkin")
    def _checkin(dbapi_connection: Any, record: Any) -> None:
        started = checkout.pop(id(dbapi_connection), None)
        if started is not None:
            timers.add("db: connection checked out (session open)", time.perf_counter() - started)


def child_main(mode: str, stats_file: str | None, limit: int, concurrency: int, max_seconds: float) -> int:
    import logging

    from learnloop.bootstrap import build_runtime

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("bench_fanout.child")
    runtime = build_runtime()
    timers = Timers()
    if stats_file:
        instrument(runtime, timers)
    stop = threading.Event()
    steps: list[dict[str, Any]] = []
    started = time.monotonic()

    def dump() -> None:
        if stats_file:
            data = {"timers": timers.snapshot(), "steps": steps[-400:], "seconds": time.monotonic() - started}
            Path(stats_file + ".tmp").write_text(json.dumps(data))
            os.replace(stats_file + ".tmp", stats_file)

    def dumper() -> None:
        while not stop.wait(1.0):
            dump()

    threading.Thread(target=dumper, daemon=True).start()
    # bounded: stop by itself after max_seconds whatever happens
    watchdog = threading.Timer(max_seconds, lambda: os.kill(os.getpid(), signal.SIGTERM))
    watchdog.daemon = True
    watchdog.start()
    try:
        if mode == "service":
            from learnloop.jobs.worker import run_forever

            run_forever(runtime)  # installs its own SIGTERM handler; returns after it
        else:
            from learnloop.jobs.mattermost_delivery import HANDLERS
            from learnloop.jobs.outbox import deliver_due
            from learnloop.jobs.prompts import run_prompt_pass

            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            log.info("bench loop worker: prompt pass, then outbox passes of %s until empty, back to back", limit)
            while not stop.is_set():
                t = time.monotonic()
                report = run_prompt_pass(runtime)
                dispatch = report.dispatch
                steps.append({"step": "prompt_pass", "at": round(t - started, 3), "s": round(time.monotonic() - t, 3),
                              "runs": report.runs_created, "planned": report.deliveries_planned,
                              "queued": dispatch.queued if dispatch else 0})
                log.info("prompt pass %.2fs: %s runs, %s planned, %s", time.monotonic() - t, report.runs_created,
                         report.deliveries_planned, dispatch)
                passes = 0
                while not stop.is_set() and passes < 10_000:
                    t = time.monotonic()
                    sent = deliver_due(runtime, HANDLERS, limit=limit, concurrency=concurrency)
                    passes += 1
                    steps.append({"step": "outbox_pass", "at": round(t - started, 3),
                                  "s": round(time.monotonic() - t, 3), "sent": sent.sent, "retried": sent.retried,
                                  "failed": sent.failed})
                    if not (sent.sent or sent.retried or sent.failed):
                        break
                if not (report.deliveries_planned or (dispatch and dispatch.queued)) and passes <= 1:
                    stop.wait(0.2)  # idle: nothing planned, queued or sent
    finally:
        stop.set()
        watchdog.cancel()
        dump()
    return 0


# ============================================================================================
# Databases


@dataclass
class Database:
    url: str
    kind: str
    sqlite_path: Path | None = None
    cleanup: Callable[[], None] | None = None
    app_name: str | None = None  # PostgreSQL application_name of learnloop's connections (to find their backends)


def prepare_database(requested: str | None, workdir: Path) -> Database:
    if not requested:
        path = workdir / "fanout.db"
        return Database(f"sqlite:///{path}", "sqlite", sqlite_path=path)
    if requested.startswith("sqlite"):
        raise SystemExit("--database-url is for PostgreSQL; SQLite is the default (a fresh file each run)")
    schema = fresh_postgres_schema(requested, "bench_fanout")
    return Database(schema.url, f"postgresql (schema {schema.name})", cleanup=schema.drop, app_name=schema.name)


class Poller:
    """Counts of deliveries and outbox messages by status, read without taking any write lock."""

    def __init__(self, database: Database) -> None:
        self.database = database
        if database.sqlite_path is not None:
            self.connection = sqlite3.connect(str(database.sqlite_path), timeout=5, isolation_level=None,
                                              check_same_thread=False)
            self.engine = None
        else:
            from sqlalchemy import create_engine

            self.connection = None
            url = database.url.replace(f"application_name={database.app_name}", f"application_name={database.app_name}_poll")
            self.engine = create_engine(url, pool_size=1)

    def _rows(self, sql: str) -> list[tuple[Any, ...]]:
        if self.connection is not None:
            return list(self.connection.execute(sql).fetchall())
        from sqlalchemy import text

        assert self.engine is not None
        with self.engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql)).all()]

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for status, n in self._rows("SELECT status, count(*) FROM deliveries GROUP BY status"):
            counts[f"d_{status}"] = int(n)
        for status, n in self._rows("SELECT status, count(*) FROM outbox GROUP BY status"):
            counts[f"o_{status}"] = int(n)
        counts["deliveries"] = sum(v for k, v in counts.items() if k.startswith("d_"))
        return counts

    def backend_pids(self) -> list[int]:
        """PostgreSQL backends serving learnloop's processes (local server), found by application_name."""
        if self.database.app_name is None:
            return []
        rows = self._rows(f"SELECT pid FROM pg_stat_activity WHERE application_name = '{self.database.app_name}'")
        return [int(row[0]) for row in rows]

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
        if self.engine is not None:
            self.engine.dispose()


# ============================================================================================
# Setup: the schedule that makes every member due at once


def choose_due(now: datetime, zones: set[str], timeout: float) -> tuple[Any, str, dict[str, Any]]:
    """(local date, HH:MM) so that every zone's due moment is at most now - DUE_LEAD and every
    window (WINDOW) is still open at now + timeout + margin."""
    from zoneinfo import ZoneInfo

    from learnloop.domain.schedules import Schedule, due_at, parse_window

    window = parse_window(WINDOW)
    zones = set(zones) | {SCHEDULE_TZ, "UTC"}
    offsets = {zone: now.astimezone(ZoneInfo(zone)).utcoffset() for zone in zones}
    west = min(offsets, key=lambda zone: offsets[zone])
    local = (now - DUE_LEAD).astimezone(ZoneInfo(west)).replace(second=0, microsecond=0)
    for _ in range(180):  # DST edges: step back a minute at a time until every zone is due (bounded)
        schedule = Schedule(rrule="FREQ=DAILY;COUNT=1", local_time=local.time().replace(tzinfo=None), window=window)
        dues = {zone: due_at(schedule, local.date(), ZoneInfo(zone)) for zone in zones}
        latest, earliest = max(dues.values()), min(dues.values())
        if latest <= now - DUE_LEAD + timedelta(seconds=59) and earliest + window > now + timedelta(seconds=timeout + 600):
            return local.date(), local.strftime("%H:%M"), {
                "local_date": local.date().isoformat(), "local_time": local.strftime("%H:%M"), "westernmost": west,
                "first_due_utc": earliest.isoformat(), "last_due_utc": latest.isoformat(),
                "spread_hours": round((latest - earliest).total_seconds() / 3600, 2)}
        local -= timedelta(minutes=1)
    raise RuntimeError("could not find a local time at which every zone is due and no window has closed")


def setup_database(database: Database, settings_env: dict[str, str], world: Any, timeout: float) -> dict[str, Any]:
    """Migrate, then one community and one one-off schedule, with learnloop's own services."""
    for key, value in settings_env.items():
        if key.startswith("LEARNLOOP_"):
            os.environ[key] = value
    from learnloop.bootstrap import build_runtime
    from learnloop.config import load_settings
    from learnloop.services import prompt_schedules
    from learnloop.services.communities import community_for_channel
    from learnloop.storage.migrate import upgrade

    settings = load_settings()
    runtime = build_runtime(settings)
    started = time.monotonic()
    upgrade(runtime.engine)
    migrated = time.monotonic() - started
    now = datetime.now(timezone.utc)
    local_date, local_time, due = choose_due(now, world.zones(), timeout)
    with runtime.uow() as uow:
        community_id = community_for_channel(uow, settings, channel_id=world.channel_id, team_id=world.team_id,
                                             channel_name="learning-guild", now=now)
        row = prompt_schedules.create(
            uow, community_id=community_id, timezone=SCHEDULE_TZ,
            setup=prompt_schedules.PromptSetup(
                questions=["What did you learn this week?", "What will you try next because of it?"],
                scale_question="How useful was this week's learning (1-5)?", repeat="FREQ=DAILY;COUNT=1",
                local_time=local_time, window=WINDOW, default_visibility="private",
                label="fan-out benchmark"),
            created_by=world.people()[0]["id"], now=now, anchor=local_date)
        schedule_id = row.id
    runtime.engine.dispose()
    return {"community_id": community_id, "schedule_id": schedule_id, "migrate_s": round(migrated, 2), **due}


# ============================================================================================
# The web load: open loop until told to stop


@dataclass
class Samples:
    scheduled: array = field(default_factory=lambda: array("d"))  # monotonic seconds
    latency_ms: array = field(default_factory=lambda: array("d"))  # NaN on a transport error
    status: array = field(default_factory=lambda: array("i"))
    kind: array = field(default_factory=lambda: array("b"))  # 0 rate, 1 prompts
    ok: array = field(default_factory=lambda: array("b"))
    errors: Counter[str] = field(default_factory=Counter)
    bad_answers: list[str] = field(default_factory=list)
    max_send_lag_ms: float = 0.0
    connections_opened: int = 0


class SlashWorkload:
    """Pre-built `/learn rate <url> <stars>` and `/learn prompts` requests in the community's channel."""

    MARKERS = (b"/5 from ", b"Your prompts")

    def __init__(self, world: Any, seed: int, count: int = 3000) -> None:
        rng = random.Random(seed)
        people = world.people()
        users = [people[rng.randrange(len(people))] for _ in range(min(300, len(people)))]
        urls = [f"https://wiki.acme.example/wiki/Runbook_{n}" if n % 3 else f"https://docs.acme.example/guide/page-{n}"
                for n in range(URLS)]
        self.requests: list[bytes] = []
        self.kinds: list[int] = []
        for index in range(count):
            user = users[rng.randrange(len(users))]
            if rng.random() < RATE_SHARE:
                kind, text = 0, f"rate {urls[min(URLS - 1, int(rng.paretovariate(1.2)) - 1)]} {rng.choice((3, 4, 4, 5, 5))}"
            else:
                kind, text = 1, "prompts"
            fields = {
                "channel_id": world.channel_id, "channel_name": "learning-guild", "command": "/learn",
                "response_url": f"http://{HOST}:1/hooks/commands/{index:026d}", "root_id": "",
                "team_domain": "acme", "team_id": world.team_id, "text": text, "token": COMMAND_TOKEN,
                "trigger_id": f"dHJpZ2dlcjp7{index:012d}", "user_id": user["id"], "user_name": user["username"],
            }
            body = urlencode(sorted(fields.items()), quote_via=quote).encode("ascii")
            self.requests.append(http_post(COMMAND_ROUTE, HOST, body, {"Authorization": f"Token {COMMAND_TOKEN}",
                                                                       "Accept": "application/json"}))
            self.kinds.append(kind)


async def open_loop_until(port: int, workload: SlashWorkload, *, rate: float, stop: threading.Event,
                          max_seconds: float, samples: Samples, timeout: float = 30.0,
                          max_connections: int = 64, idle_close_s: float = 1.0) -> None:
    """Requests at fixed times (every 1/rate s) until `stop` is set or max_seconds pass; each latency is
    measured from its scheduled time (a stalled server is charged for the queue behind the stall).
    bench_common's open_loop runs for a fixed time; this one stops on an event, without a gap."""
    pool = ConnectionPool(HOST, port, max_connections=max_connections, idle_close_s=idle_close_s, timeout=timeout)

    async def one(index: int, scheduled: float) -> None:
        n = index % len(workload.requests)
        status, latency, ok = 0, math.nan, 0
        try:
            connection = await pool.acquire()
        except (OSError, asyncio.TimeoutError) as exc:
            samples.errors[f"connect: {type(exc).__name__}"] += 1
        else:
            try:
                status, body = await connection.send(workload.requests[n], timeout)
                latency = (connection.done_at - scheduled) * 1000
                ok = int(status == 200 and workload.MARKERS[workload.kinds[n]] in body)
                if not ok and len(samples.bad_answers) < 5:
                    samples.bad_answers.append(f"{status}: {body[:200]!r}")
            except (TransportError, TimeoutError, OSError) as exc:
                samples.errors[type(exc).__name__] += 1
                connection.close()
            finally:
                pool.release(connection)
        samples.scheduled.append(scheduled)
        samples.latency_ms.append(latency)
        samples.status.append(status)
        samples.kind.append(workload.kinds[n])
        samples.ok.append(ok)

    paced = await send_paced(rate, int(rate * max_seconds) + 1, one, timeout=timeout, stop=stop)
    samples.max_send_lag_ms = paced.max_send_lag_ms
    if paced.abandoned:
        samples.errors["abandoned"] += paced.abandoned
    samples.connections_opened = pool.opened
    pool.close()


def latency_summary(samples: Samples, start: float, end: float) -> dict[str, Any]:
    chosen = [i for i in range(len(samples.scheduled)) if start <= samples.scheduled[i] < end]
    answered = sorted(samples.latency_ms[i] for i in chosen if not math.isnan(samples.latency_ms[i]))
    by_kind = {}
    for kind, name in ((0, "rate"), (1, "prompts")):
        values = sorted(samples.latency_ms[i] for i in chosen
                        if samples.kind[i] == kind and not math.isnan(samples.latency_ms[i]))
        by_kind[name] = {"n": len(values), "p50_ms": _r(percentile(values, 50)), "p99_ms": _r(percentile(values, 99))}
    return {
        "seconds": round(end - start, 2), "requests": len(chosen), "answered": len(answered),
        "ok": sum(samples.ok[i] for i in chosen), "not_ok": sum(1 for i in chosen if not samples.ok[i]),
        "p50_ms": _r(percentile(answered, 50)), "p90_ms": _r(percentile(answered, 90)),
        "p99_ms": _r(percentile(answered, 99)), "max_ms": _r(answered[-1]) if answered else None,
        "over_50ms": sum(1 for v in answered if v > TARGET_P99_MS), "by_kind": by_kind,
    }


def _r(value: float | None, digits: int = 1) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(value, digits)


# ============================================================================================
# py-spy: where the worker was seen


def spy_summary(raw_path: Path, top: int = 22) -> dict[str, Any]:
    """Collapsed stacks (py-spy --format raw) -> the functions most often on the stack, and at its top."""
    inclusive: Counter[str] = Counter()
    leaf: Counter[str] = Counter()
    total = 0
    idle_markers = ("wait (threading.py", "select (selectors.py", "_worker (concurrent/futures/thread.py",
                    "sleep", "get (queue.py")
    try:
        lines = raw_path.read_text(errors="replace").splitlines()
    except OSError:
        return {}
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        frames = [re.sub(r"\(/.*?/(site-packages|lib/python3\.\d+|plugin)/", "(", f) for f in frames]
        top_frame = frames[-1]
        if any(marker in top_frame for marker in idle_markers):
            continue  # a thread waiting for work is not where time goes
        total += count
        leaf[top_frame] += count
        for frame in set(frames):
            inclusive[frame] += count
    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / max(1, total), 1)) for name, n in counter.most_common(top)]
    interesting = Counter({k: v for k, v in inclusive.items() if "learnloop/" in k or "sqlalchemy" in k or "requests" in k
                           or "sqlite" in k or "psycopg" in k or "json" in k})
    return {"busy_samples": total, "inclusive_pct": share(interesting), "self_pct": share(leaf)}


# ============================================================================================
# The run


@dataclass
class Run:
    args: argparse.Namespace
    workdir: Path
    database: Database | None = None
    standin: ServerProcess | None = None
    web: ServerProcess | None = None
    worker: ServerProcess | None = None
    spy: subprocess.Popen[bytes] | None = None
    timeline: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def stop_all(self) -> None:
        if self.spy is not None and self.spy.poll() is None:
            self.spy.send_signal(signal.SIGINT)
            try:
                self.spy.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.spy.kill()
        for server in (self.worker, self.web, self.standin):
            if server is not None:
                try:
                    server.stop()
                except Exception as exc:  # noqa: BLE001  (keep stopping the others)
                    self.notes.append(f"stopping {server.name}: {exc}")


def http_json(url: str, timeout: float = 30.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def verify(database: Database, world: Any, standin_url: str) -> dict[str, Any]:
    """Duplicates and omissions, from the database and from the stand-in's record of posts."""
    from learnloop.services.outbox_kinds import SEND_PROMPT
    from sqlalchemy import create_engine, text

    engine = create_engine(database.url)
    try:
        with engine.connect() as connection:
            statuses = dict(connection.execute(text("SELECT status, count(*) FROM deliveries GROUP BY status")).all())
            dup_rows = connection.execute(text(
                "SELECT count(*) FROM (SELECT run_id, user_id FROM deliveries GROUP BY run_id, user_id "
                "HAVING count(*) > 1) AS d")).scalar_one()
            dup_post_ids = connection.execute(text(
                "SELECT count(*) FROM (SELECT post_id FROM deliveries WHERE post_id IS NOT NULL GROUP BY post_id "
                "HAVING count(*) > 1) AS d")).scalar_one()
            prompt_messages = connection.execute(text(
                "SELECT count(*), count(DISTINCT idempotency_key), sum(CASE WHEN attempts > 1 THEN 1 ELSE 0 END), "
                "sum(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), sum(CASE WHEN status = 'pending' THEN 1 ELSE 0 END) "
                "FROM outbox WHERE kind = :kind"), {"kind": SEND_PROMPT}).one()
            kinds = dict(connection.execute(text("SELECT kind, count(*) FROM outbox GROUP BY kind")).all())
            rows = connection.execute(text("SELECT id, user_id, post_id, status FROM deliveries")).all()
            times = connection.execute(text(
                "SELECT min(sent_at), max(sent_at) FROM deliveries WHERE status = 'sent'")).one()
            queued = connection.execute(text(
                "SELECT min(created_at), max(created_at) FROM outbox WHERE kind = :kind"), {"kind": SEND_PROMPT}).one()
    finally:
        engine.dispose()
    posts = http_json(standin_url + "/_posts")  # delivery id -> post ids, from the stand-in
    people = {person["id"] for person in world.people()}
    delivery_users = Counter(row.user_id for row in rows)
    mismatched = sum(1 for row in rows if row.status == "sent" and posts.get(str(row.id), [None])[-1] != row.post_id)
    return {
        "deliveries_by_status": {str(k): int(v) for k, v in statuses.items()},
        "db_duplicate_deliveries": int(dup_rows),
        "db_people_with_two_deliveries": sum(1 for n in delivery_users.values() if n > 1),
        "db_duplicate_post_ids": int(dup_post_ids),
        "db_deliveries_for_non_members": sum(1 for user in delivery_users if user not in people),
        "members_without_delivery": len(people - set(delivery_users)),
        "send_prompt_messages": int(prompt_messages[0] or 0),
        "send_prompt_distinct_keys": int(prompt_messages[1] or 0),
        "send_prompt_retried": int(prompt_messages[2] or 0),
        "send_prompt_failed": int(prompt_messages[3] or 0),
        "send_prompt_pending": int(prompt_messages[4] or 0),
        "outbox_by_kind": {str(k): int(v) for k, v in kinds.items()},
        "sent_post_id_mismatches": mismatched,
        "first_sent_at": _as_utc(times[0]), "last_sent_at": _as_utc(times[1]),
        "first_queued_at": _as_utc(queued[0]), "last_queued_at": _as_utc(queued[1]),
    }


def _as_utc(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def cores_used(cpu: dict[str, Any], seconds: float) -> dict[str, float]:
    """Cores used by each part during the fan-out, and by everything else on the (shared) machine."""
    cores = {name: round(cpu.get(f"{name}_s", 0.0) / seconds, 2)
             for name in ("worker", "web", "postgres", "standin", "bench")}
    busy = cpu.get("machine", {}).get("busy_pct", 0.0) / 100 * (os.cpu_count() or 1)
    cores["machine_busy"] = round(busy, 2)
    cores["others_on_machine"] = round(max(0.0, busy - sum(v for k, v in cores.items() if k != "machine_busy")), 2)
    return cores


def base_env(home: Path, database: Database, standin: dict[str, Any], args: argparse.Namespace, **extra: str) -> dict[str, str]:
    return clean_env(
        ["LEARNLOOP_", "GUNICORN_"],
        LEARNLOOP_DATABASE_URL=database.url, LEARNLOOP_MATTERMOST_URL=standin["url"],
        LEARNLOOP_MATTERMOST_BOT_TOKEN=standin["token"], LEARNLOOP_MATTERMOST_BOT_USER_ID=standin["bot_user_id"],
        LEARNLOOP_MATTERMOST_COMMAND_TOKENS=COMMAND_TOKEN, LEARNLOOP_SECRET_KEY=SECRET_KEY,
        LEARNLOOP_PUBLIC_URL="http://127.0.0.1:8080", LEARNLOOP_CONFIG_FILE=str(home / "learnloop.toml"),
        LEARNLOOP_OUTBOX_CONCURRENCY=str(args.concurrency), XDG_RUNTIME_DIR=str(home), PYTHONUNBUFFERED="1",
        **extra,
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    from mattermost_standin import World

    workdir = Path(tempfile.mkdtemp(prefix="bench_fanout_"))
    (workdir / "learnloop.toml").write_text("# empty: every setting comes from the environment\n")
    state = Run(args, workdir)
    result: dict[str, Any] = {"members": args.members, "worker_mode": args.worker, "workdir": str(workdir)}
    try:
        return _run(state, result, World)
    finally:
        state.stop_all()
        if state.database is not None and state.database.cleanup is not None and not args.keep:
            try:
                state.database.cleanup()
            except Exception as exc:  # noqa: BLE001
                result.setdefault("notes", []).append(f"dropping the schema: {exc}")
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(state: Run, result: dict[str, Any], World: Any) -> dict[str, Any]:
    args, workdir = state.args, state.workdir
    python = sys.executable
    # 1. the stand-in
    world = World.synthetic(args.members, seed=args.seed, dnd_percent=args.dnd_percent)
    standin_port = free_port(HOST)
    ready_file = workdir / "standin.json"
    budget = args.timeout + args.baseline_seconds + 180
    state.standin = ServerProcess(
        "standin", [python, str(HERE / "mattermost_standin.py"), "--port", str(standin_port), "--members",
                    str(args.members), "--latency-ms", str(args.latency_ms), "--seed", str(args.seed),
                    "--dnd-percent", str(args.dnd_percent), "--max-seconds", str(budget), "--ready-file",
                    str(ready_file)],
        env=clean_env(["LEARNLOOP_"], PYTHONUNBUFFERED="1"), cwd=workdir, port=standin_port, host=HOST)
    state.standin.start()
    state.standin.wait_ready("/_stats", timeout=60)
    standin = json.loads(ready_file.read_text())
    if standin["channel_id"] != world.channel_id:
        raise RuntimeError("the stand-in's world differs from this process's copy (seed?)")
    expected = sum(1 for person in world.people() if world.statuses[person["id"]] != "dnd")
    result.update({"latency_ms": args.latency_ms, "expected_sent": expected, "people": len(world.people())})

    # 2. the database, migrated, with one community and one schedule due for everybody
    state.database = database = prepare_database(args.database_url, workdir)
    result["database"] = database.kind
    setup = setup_database(database, base_env(workdir, database, standin, args), world, args.timeout)
    result["schedule"] = setup

    # 3. the web process
    web_home = workdir / "web"
    web_home.mkdir()
    (web_home / "learnloop.toml").write_text("# empty\n")
    web_port = free_port(HOST)
    web_env = base_env(web_home, database, standin, args, LEARNLOOP_HOST=HOST, LEARNLOOP_PORT=str(web_port),
                       LEARNLOOP_WEB_WORKERS=str(args.web_workers))
    state.web = ServerProcess("web", [python, "-m", "learnloop.cli", "serve"], env=web_env, cwd=web_home,
                              port=web_port, host=HOST)
    state.web.start()
    state.web.wait_ready("/healthz", timeout=90)
    deadline = time.monotonic() + 20
    while len(state.web.pids()) - 1 < args.web_workers and time.monotonic() < deadline:
        time.sleep(0.1)

    # 4. + 5. load, baseline, worker, until all sent
    worker_home = workdir / "worker"
    worker_home.mkdir()
    (worker_home / "learnloop.toml").write_text("# empty\n")
    worker_env = base_env(worker_home, database, standin, args)
    stats_file = worker_home / "timers.json"
    if args.worker == "service" and not args.instrument:
        worker_argv = [python, "-m", "learnloop.cli", "worker"]
    else:
        worker_argv = [python, str(Path(__file__).resolve()), "--child", args.worker, "--child-limit",
                       str(args.outbox_limit), "--concurrency", str(args.concurrency),
                       "--child-max-seconds", str(args.timeout + 30)]
        if args.instrument:
            worker_argv += ["--child-stats", str(stats_file)]
    state.worker = ServerProcess("worker", worker_argv, env=worker_env, cwd=worker_home, port=0, host=HOST)
    result["worker_command"] = " ".join(Path(a).name if a == python else a for a in worker_argv[:4])

    poller = Poller(database)
    stop = threading.Event()
    marks: dict[str, float] = {}
    cpu: dict[str, Any] = {}
    samples = Samples()
    workload = SlashWorkload(world, args.seed)
    web_pids = state.web.pids()
    standin_pids = state.standin.pids()
    failure: list[BaseException] = []

    def controller() -> None:
        try:
            time.sleep(WARMUP_SECONDS)
            marks["baseline_start"] = time.monotonic()
            time.sleep(args.baseline_seconds)
            backends: dict[int, float] = {pid: tree_cpu_seconds([pid]) for pid in poller.backend_pids()}
            backends_before = dict(backends)
            before = {"web": tree_cpu_seconds(web_pids), "standin": tree_cpu_seconds(standin_pids),
                      "bench": self_cpu_seconds(), "system": SystemCpu.now()}
            marks["t0"] = time.monotonic()
            marks["t0_wall"] = time.time()
            state.worker.start()
            if args.py_spy:
                spy = shutil.which("py-spy", path=str(Path(python).parent)) or shutil.which("py-spy")
                if spy:
                    state.spy = subprocess.Popen(
                        [spy, "record", "--pid", str(state.worker.pid), "--rate", "100", "--nonblocking",
                         "--format", "raw", "--output", str(worker_home / "spy.txt"), "--duration",
                         str(int(args.timeout + 5)), "--subprocesses"],
                        stdout=subprocess.DEVNULL, stderr=open(worker_home / "spy.log", "wb"), start_new_session=True)
                else:
                    state.notes.append("py-spy not found: --py-spy ignored")
            worker_pids: set[int] = set()
            deadline = marks["t0"] + args.timeout
            while time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
                worker_pids.update(state.worker.pids())
                now = time.monotonic()
                try:
                    counts = poller.counts()
                except Exception as exc:  # noqa: BLE001  (a busy database: try again next time)
                    state.notes.append(f"poll: {type(exc).__name__}")
                    continue
                state.timeline.append({"t": round(now - marks["t0"], 2), **counts})
                if database.app_name is not None and len(state.timeline) % 4 == 1:
                    for pid in poller.backend_pids():
                        backends[pid] = tree_cpu_seconds([pid]) or backends.get(pid, 0.0)
                total = counts.get("deliveries", 0)
                if total >= expected and "planned" not in marks:
                    marks["planned"] = now
                if counts.get("d_queued", 0) + counts.get("d_sent", 0) >= expected and "queued" not in marks:
                    marks["queued"] = now
                if counts.get("d_sent", 0) and "first_sent" not in marks:
                    marks["first_sent"] = now
                finished = counts.get("d_sent", 0) + counts.get("d_skipped", 0) >= len(world.people())
                if finished and counts.get("d_sent", 0) >= expected:
                    marks["done"] = now
                    break
                if state.worker.process is not None and state.worker.process.poll() is not None:
                    state.notes.append(f"the worker exited early with {state.worker.process.returncode}")
                    break
            marks["end"] = time.monotonic()
            cpu["worker_s"] = tree_cpu_seconds(sorted(worker_pids | set(state.worker.pids())))
            for pid in list(backends):
                backends[pid] = tree_cpu_seconds([pid]) or backends[pid]
            cpu["postgres_s"] = sum(max(0.0, cpu_s - backends_before.get(pid, 0.0)) for pid, cpu_s in backends.items())
            after_system = SystemCpu.now()
            cpu.update({"web_s": tree_cpu_seconds(web_pids) - before["web"],
                        "standin_s": tree_cpu_seconds(standin_pids) - before["standin"],
                        "bench_s": self_cpu_seconds() - before["bench"],
                        "machine": after_system.since(before["system"])})
        except BaseException as exc:  # noqa: BLE001
            failure.append(exc)
        finally:
            stop.set()

    thread = threading.Thread(target=controller, name="controller", daemon=True)
    gc.collect()
    gc.disable()
    try:
        thread.start()
        max_load = WARMUP_SECONDS + args.baseline_seconds + args.timeout + 5
        asyncio.run(open_loop_until(web_port, workload, rate=args.rate, stop=stop, max_seconds=max_load,
                                    samples=samples))
    finally:
        gc.enable()
    thread.join(timeout=args.timeout + 60)
    if failure:
        raise failure[0]
    if state.spy is not None:
        state.spy.send_signal(signal.SIGINT)
        try:
            state.spy.wait(timeout=20)
        except subprocess.TimeoutExpired:
            state.spy.kill()
    state.worker.stop(grace=15)
    time.sleep(0.2)
    poller.close()

    # 6. what happened
    t0 = marks["t0"]
    check = verify(database, world, standin["url"])
    stats = http_json(standin["url"] + "/_stats")
    t0_wall = datetime.fromtimestamp(marks["t0_wall"], timezone.utc)
    sent = check["deliveries_by_status"].get("sent", 0)
    all_sent = sent >= expected and "done" in marks
    fanout_s = (check["last_sent_at"] - t0_wall).total_seconds() if all_sent and check["last_sent_at"] else None
    measured_s = fanout_s if fanout_s is not None else marks["end"] - t0
    sent_in_time = sent if fanout_s is not None else max((p.get("d_sent", 0) for p in state.timeline), default=0)
    end = marks.get("done", marks["end"])
    phases = {
        "all_planned_s": _r(marks["planned"] - t0, 2) if "planned" in marks else None,
        "first_queued_s": _r((check["first_queued_at"] - t0_wall).total_seconds(), 2) if check["first_queued_at"] else None,
        "all_queued_s": _r(marks["queued"] - t0, 2) if "queued" in marks else None,
        "first_sent_s": _r((check["first_sent_at"] - t0_wall).total_seconds(), 2) if check["first_sent_at"] else None,
        "all_sent_s": _r(fanout_s, 2),
    }
    duplicates_standin = stats["duplicate_posts"] + stats["people_with_more_than_one_prompt"] + stats["prompt_posts_to_non_members"]
    duplicates_db = (check["db_duplicate_deliveries"] + check["db_people_with_two_deliveries"]
                     + check["db_duplicate_post_ids"] + check["db_deliveries_for_non_members"]
                     + (check["send_prompt_messages"] - check["send_prompt_distinct_keys"]))
    web_baseline = latency_summary(samples, marks["baseline_start"], t0)
    web_fanout = latency_summary(samples, t0, end)
    web_phases = {}
    if "planned" in marks:
        web_phases["planning"] = latency_summary(samples, t0, marks["planned"])
        web_phases["after_planning"] = latency_summary(samples, marks["planned"], end)
    windows = []
    step = 5.0
    at = t0
    while at < end and len(windows) < 200:
        summary = latency_summary(samples, at, min(end, at + step))
        sent_by = max((p.get("d_sent", 0) for p in state.timeline if p["t"] <= at + step - t0), default=0)
        windows.append({"from_s": round(at - t0, 1), "sent_by_end": sent_by, "p50_ms": summary["p50_ms"],
                        "p99_ms": summary["p99_ms"], "max_ms": summary["max_ms"], "requests": summary["requests"]})
        at += step
    not_sent = expected - sent
    cpu_seconds = max(1e-6, end - t0)
    result.update({
        "fanout_s": _r(fanout_s, 2), "measured_until_s": _r(measured_s, 2),
        "prompts_per_s": _r(sent_in_time / measured_s if measured_s else 0.0, 1), "sent_in_time": sent_in_time,
        "sent": sent, "not_sent": not_sent, "phases": phases,
        "duplicates": {"standin": duplicates_standin, "database": duplicates_db,
                       "standin_duplicate_posts": stats["duplicate_posts"],
                       "standin_people_prompted_twice": stats["people_with_more_than_one_prompt"],
                       "standin_posts_to_non_members": stats["prompt_posts_to_non_members"]},
        "db": {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in check.items()},
        "standin": {k: stats[k] for k in ("posts_created", "prompt_posts", "dm_channels", "requests", "statuses")},
        "web": {"rate": args.rate, "workers": args.web_workers, "baseline": web_baseline, "during_fanout": web_fanout,
                "phases": web_phases, "windows": windows, "errors": dict(samples.errors),
                "bad_answers": samples.bad_answers, "max_send_lag_ms": _r(samples.max_send_lag_ms),
                "connections_opened": samples.connections_opened},
        "cpu": {**{k: (round(v, 2) if isinstance(v, float) else v) for k, v in cpu.items()},
                "cores_used": cores_used(cpu, cpu_seconds)},
        "timeline": state.timeline[:: max(1, len(state.timeline) // 60)],
        "notes": state.notes,
    })
    targets = {
        "fanout_under_60s": bool(fanout_s is not None and fanout_s < args.target_seconds),
        "no_duplicates": duplicates_standin == 0 and duplicates_db == 0,
        "all_sent": not_sent == 0,
        "web_p99_under_50ms": bool(web_fanout["p99_ms"] is not None and web_fanout["p99_ms"] < args.target_p99_ms
                                   and web_fanout["not_ok"] == 0),
    }
    result["targets"] = targets
    result["pass"] = all(targets.values())
    if stats_file.exists():
        result["worker_timers"] = json.loads(stats_file.read_text())
    if args.py_spy and (worker_home / "spy.txt").exists():
        result["py_spy"] = spy_summary(worker_home / "spy.txt")
    result["worker_log_tail"] = state.worker.log_tail(12).splitlines() if not args.json else []
    return result


# ============================================================================================
# Output


def print_report(result: dict[str, Any]) -> None:
    phases, web, dup = result["phases"], result["web"], result["duplicates"]
    print(f"\nlearnloop fan-out benchmark: {result['members']} members, stand-in answers in {result['latency_ms']} ms, "
          f"{result['database']}, worker: {result['worker_mode']} ({result['worker_command']})")
    sched = result["schedule"]
    print(f"schedule: one-off at {sched['local_time']} local on {sched['local_date']} (zone {SCHEDULE_TZ} for people "
          f"without one); personal due moments spread over {sched['spread_hours']} h, the last "
          f"{int(DUE_LEAD.total_seconds())} s before setup; all due when the worker starts (t0)")
    fanout = result["fanout_s"]
    rows = [
        ["members prompted (expected sent)", result["expected_sent"]],
        ["sent (by the end of the measurement)", f"{result['sent']} ({result['sent_in_time']})"],
        ["deliveries not sent", result["not_sent"]],
        ["fan-out time, t0 -> last sent_at", f"{fanout:.1f} s" if fanout is not None else
         f"not finished in {result['measured_until_s']:.0f} s"],
        ["prompts per second", result["prompts_per_s"]],
        ["  all planned (deliveries rows) at", _s(phases["all_planned_s"])],
        ["  first queued / all queued at", f"{_s(phases['first_queued_s'])} / {_s(phases['all_queued_s'])}"],
        ["  first sent at", _s(phases["first_sent_s"])],
        ["duplicates (stand-in: posts per delivery, people twice, non-members)", dup["standin"]],
        ["duplicates (database: rows, post ids, outbox keys, non-members)", dup["database"]],
        ["send_prompt messages retried / failed", f"{result['db']['send_prompt_retried']} / {result['db']['send_prompt_failed']}"],
    ]
    print(format_table(["fan-out", "value"], rows))
    print("stand-in requests: " + ", ".join(f"{k} {v}" for k, v in result["standin"]["requests"].items()))
    base, during = web["baseline"], web["during_fanout"]
    print()
    web_rows = [["baseline (no worker)", base["requests"], base["p50_ms"], base["p90_ms"], base["p99_ms"], base["max_ms"], base["not_ok"]],
                ["during the fan-out", during["requests"], during["p50_ms"], during["p90_ms"], during["p99_ms"],
                 during["max_ms"], during["not_ok"]]]
    for name, summary in web["phases"].items():
        web_rows.append([f"  {name.replace('_', ' ')}", summary["requests"], summary["p50_ms"], summary["p90_ms"],
                         summary["p99_ms"], summary["max_ms"], summary["not_ok"]])
    print(format_table([f"web: slash commands at {web['rate']:g}/s, open loop", "requests", "p50 ms", "p90 ms",
                        "p99 ms", "max ms", "not ok"], web_rows))
    if web["errors"] or web["bad_answers"]:
        print(f"  errors: {web['errors']}  bad answers: {web['bad_answers'][:3]}")
    print("\nevery 5 s from t0: " + "  ".join(
        f"[{w['from_s']:.0f}s sent {w['sent_by_end']} p99 {w['p99_ms']}]" for w in web["windows"][:40]))
    cpu = result["cpu"]
    machine = cpu.get("machine", {})
    used = cpu["cores_used"]
    print(f"\nCPU during the fan-out, cores of {os.cpu_count()}: worker {used['worker']}, web {used['web']}, "
          f"PostgreSQL backends {used['postgres']}, stand-in {used['standin']}, load generator {used['bench']}; "
          f"machine busy {used['machine_busy']} (others' processes {used['others_on_machine']}), "
          f"steal {machine.get('steal_pct')} %")
    if "worker_timers" in result:
        timers = result["worker_timers"]["timers"]
        rows = [[name, t["calls"], f"{t['seconds']:.2f}", f"{1000 * t['seconds'] / max(1, t['calls']):.2f}", t["max_ms"]]
                for name, t in sorted(timers.items(), key=lambda item: -item[1]["seconds"]) if t["seconds"] or "statements" in name]
        print("\nworker timers (wall seconds summed over threads):")
        print(format_table(["what", "calls", "total s", "mean ms", "max ms"], rows))
    if result.get("py_spy"):
        spy = result["py_spy"]
        print(f"\npy-spy, worker, {spy['busy_samples']} busy samples; on the stack (%):")
        for name, pct in spy["inclusive_pct"]:
            print(f"  {pct:5.1f}  {name}")
        print("  at the top of the stack (%):")
        for name, pct in spy["self_pct"][:12]:
            print(f"  {pct:5.1f}  {name}")
    targets = result["targets"]
    print("\ntargets: " + ", ".join(f"{name} {'PASS' if ok else 'FAIL'}" for name, ok in targets.items())
          + f"  =>  {'PASS' if result['pass'] else 'FAIL'}")
    for note in result.get("notes", []):
        print(f"note: {note}")


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=5.0, help="the stand-in's answer time")
    parser.add_argument("--database-url", help="PostgreSQL (a throw-away schema is made and dropped); default: fresh SQLite")
    parser.add_argument("--worker", choices=("service", "loop"), default="service",
                        help="service: `learnloop worker` as deployed; loop: its passes back to back")
    parser.add_argument("--concurrency", type=int, default=8, help="LEARNLOOP_OUTBOX_CONCURRENCY (default 8, as deployed)")
    parser.add_argument("--outbox-limit", type=int, default=200, help="messages per outbox pass in --worker loop")
    parser.add_argument("--rate", type=float, default=50.0, help="slash commands per second to the web process")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--baseline-seconds", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=240.0, help="give up on the fan-out after this long")
    parser.add_argument("--target-seconds", type=float, default=TARGET_SECONDS)
    parser.add_argument("--target-p99-ms", type=float, default=TARGET_P99_MS)
    parser.add_argument("--dnd-percent", type=float, default=0.0, help="members on do-not-disturb (skipped, not sent)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--instrument", action="store_true", help="time learnloop's steps inside the worker")
    parser.add_argument("--py-spy", action="store_true", help="sample the worker with py-spy")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, database) and the schema")
    parser.add_argument("--strict", action="store_true", help="exit 3 when a target is missed")
    parser.add_argument("--child", choices=("service", "loop"), help=argparse.SUPPRESS)
    parser.add_argument("--child-stats", help=argparse.SUPPRESS)
    parser.add_argument("--child-limit", type=int, default=200, help=argparse.SUPPRESS)
    parser.add_argument("--child-max-seconds", type=float, default=300.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args.child, args.child_stats, args.child_limit, args.concurrency, args.child_max_seconds)
    if not 1 <= args.members <= 100_000 or args.timeout > 1200 or args.rate <= 0 or args.rate > 2000:
        parser.error("--members 1..100000, --timeout at most 1200 s, --rate 0..2000")
    try:
        result = run(args)
    except Exception as exc:  # noqa: BLE001
        print(f"bench_fanout: could not run: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print_report(result)
        if not result["pass"] and result.get("worker_log_tail"):
            print("\nworker log (last lines):\n" + "\n".join(result["worker_log_tail"]))
    duplicates = result["duplicates"]["standin"] + result["duplicates"]["database"]
    if duplicates:
        return 1
    if args.strict and not result["pass"]:
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
