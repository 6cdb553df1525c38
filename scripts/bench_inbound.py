#!/usr/bin/env python3
"""Benchmark learnloop's inbound slash command against a bare Flask app, on loopback.

    .venv/bin/python scripts/bench_inbound.py                 # SQLite in a temp dir, about a minute
    .venv/bin/python scripts/bench_inbound.py --json          # machine-readable results
    .venv/bin/python scripts/bench_inbound.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres   # a fresh schema, dropped after

In one run it starts two servers with `learnloop serve` (so both get exactly the gunicorn
settings `learnloop serve` uses: its worker class, --workers of them, same threads, access log):

- learnloop, on a fresh database (a temp SQLite file, or a fresh schema of --database-url);
- a bare Flask app that only parses the form and returns 200: the same `learnloop serve`
  process with learnloop.web.app.create_app swapped for the bare app before gunicorn starts.

Both are driven with the same sequence of `/learn rate <url> <1-5> [comment]` requests
(realistic Mattermost forms: many users and URLs, some re-ratings, some comments, tracking
parameters that normalise away) by the same load generator: an asyncio HTTP/1.1 keep-alive
client in this process (scripts/bench_common.py). For each server it measures

1. throughput: a closed loop of --concurrency connections for --duration seconds, repeated
   --rounds times, alternating which server goes first (the machine is shared and noisy);
2. latency: an open loop at --rate requests/s for --duration seconds, latency measured from
   each request's scheduled send time (no coordinated omission): p50/p99/max and errors.

It prints req/s, p50/p99, CPU per request, the learnloop/bare throughput ratio and PASS/FAIL
against the targets (ratio >= 0.6; learnloop p99 < 25 ms at 200 req/s). Then it checks what
learnloop stored (plain SQL on its database): one rating per distinct (user, url) pair that got a
confirmation, totals on items and communities that add up, one event per accepted request,
one feedback row per accepted comment, and no 5xx from either server.

Exit status: 0 when it ran (even if a performance target is missed, unless --strict: then 3),
1 when learnloop's stored data or answers were wrong, 2 when the benchmark could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import re
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from learnloop.config import default_web_threads  # noqa: E402
from bench_common import (  # noqa: E402
    PhaseResult,
    ServerProcess,
    clean_env,
    closed_loop,
    format_table,
    free_port,
    fresh_postgres_schema,
    http_post,
    open_loop,
)

HOST = "127.0.0.1"
ROUTE = "/mattermost/command"
GENERATOR = ("python asyncio HTTP/1.1 keep-alive client (scripts/bench_common.py), one process, "
             "pre-built requests; the same for both servers")
TARGET_RATIO = 0.6
TARGET_P99_MS = 25.0
TARGET_RATE = 200.0
COMMAND_TOKENS = ["xr3j5x7p8pfk7mqqddy9xkxs4a", "9xq6tgwj1jrjbm3xjfsqtrnxwe", "k4m8c2w6r1t9y3u7i5o0p2a4sd"]
SECRET_KEY = "bench-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
ALNUM = string.ascii_lowercase + string.digits

BARE_APP = '''
"""The baseline: the same `learnloop serve` (same gunicorn settings), serving an app that only
parses the slash command form and answers 200. Written by scripts/bench_inbound.py."""
import sys

from flask import Flask, jsonify, request

bare = Flask("bench_bare")


@bare.post("/mattermost/command")
def command():
    form = request.form
    return jsonify(response_type="ephemeral", text="ok", app="bench-bare", user_id=form.get("user_id", "")), 200


@bare.get("/healthz")
def healthz():
    return jsonify(status="ok", app="bench-bare")


def create_bare_app(runtime=None):
    return bare


if __name__ == "__main__":
    import learnloop.web.app

    learnloop.web.app.create_app = create_bare_app  # `learnloop serve` imports it when it runs
    from learnloop.cli import main

    sys.exit(main(["serve"]))
'''

COMMENTS = [
    "Saved me an hour", "The rollback section is out of date", "Clear and short, thanks",
    "Missing the VPN step", "Exactly what I needed for onboarding", "Too long, skip to the checklist",
    "Diagrams would help", "Worked on the first try",
]
WORDS = ["Deploying", "Onboarding", "Release", "Incident", "Postmortem", "Kafka", "Terraform", "Budget",
         "Hiring", "Security", "Review", "Testing", "Runbook", "Glossary", "Roadmap", "Metrics"]


# --------------------------------------------------------------------------------------------
# The workload: one deterministic sequence of slash commands, sent to both servers


def _mm_id(rng: random.Random) -> str:
    return "".join(rng.choice(ALNUM) for _ in range(26))


@dataclass(frozen=True)
class Intent:
    user: int
    url: int
    stars: int
    comment: bool


class Workload:
    """Request i is the same bytes for every server; intents[i] says what it means."""

    def __init__(self, seed: int, *, users: int, urls: int, channels: int, repeat_fraction: float,
                 comment_fraction: float) -> None:
        self.rng = random.Random(seed)
        rng = self.rng
        self.repeat_fraction, self.comment_fraction = repeat_fraction, comment_fraction
        self.teams = [(_mm_id(rng), domain) for domain in ("acme", "acme-labs")]
        self.channels = [(_mm_id(rng), f"guild-{n:02d}", self.teams[n % len(self.teams)]) for n in range(channels)]
        self.users = [(_mm_id(rng), f"user{n:04d}") for n in range(users)]
        self.urls = [self._url(n) for n in range(urls)]
        # popular pages get most ratings (Zipf-like), but there is a long tail
        weights = [1 / (n + 1) ** 0.8 for n in range(urls)]
        self.url_cum_weights = list(_accumulate(weights))
        self.intents: list[Intent] = []
        self.requests: list[bytes] = []

    def _url(self, n: int) -> str:
        word = WORDS[n % len(WORDS)]
        kind = n % 4
        if kind == 0:
            return f"https://wiki.acme.example/wiki/{word}_guide_{n}"
        if kind == 1:
            return f"https://docs.acme.example/handbook/{word.lower()}/page-{n}"
        if kind == 2:
            return f"https://git.acme.example/platform/{word.lower()}-{n}/-/blob/main/README.md"
        return f"https://blog.example.org/2026/{n % 12 + 1:02d}/{word.lower()}-lessons-{n}"

    def _variant(self, url: str, rng: random.Random | None = None) -> str:
        """How people paste it: sometimes with tracking parameters or a fragment (normalised away)."""
        roll = (rng or self.rng).random()
        if roll < 0.15:
            return url + "?utm_source=chat&utm_medium=mattermost"
        if roll < 0.20:
            return url + "#details"
        if roll < 0.23:
            scheme, netloc, path, query, fragment = urlsplit(url)
            return urlunsplit((scheme, netloc.upper(), path + "/", query, fragment))
        return url

    def _next_intent(self) -> Intent:
        rng, count = self.rng, len(self.intents)
        stars = rng.choices((1, 2, 3, 4, 5), weights=(1, 1, 3, 5, 4))[0]
        comment = rng.random() < self.comment_fraction
        if count and rng.random() < self.repeat_fraction:
            earlier = self.intents[rng.randrange(count)]  # rate the same item again (an update)
            return Intent(earlier.user, earlier.url, stars, comment)
        user = rng.randrange(len(self.users))
        url = rng.choices(range(len(self.urls)), cum_weights=self.url_cum_weights)[0]
        return Intent(user, url, stars, comment)

    def _build(self, intent: Intent, index: int) -> bytes:
        rng = self.rng
        user_id, user_name = self.users[intent.user]
        if rng.random() < 0.9:
            channel_id, channel_name, (team_id, team_domain) = self.channels[intent.user % len(self.channels)]
        else:
            channel_id, channel_name, (team_id, team_domain) = rng.choice(self.channels)
        url = self._variant(self.urls[intent.url])
        args = f"{url} {intent.stars}" if rng.random() < 0.9 else f"{intent.stars} {url}"
        if intent.comment:
            args += " " + rng.choice(COMMENTS)
        token = COMMAND_TOKENS[0] if rng.random() < 0.8 else COMMAND_TOKENS[1]
        fields = {
            "channel_id": channel_id, "channel_name": channel_name, "command": "/learn",
            "response_url": f"http://mattermost.test/hooks/commands/{_mm_id(rng)}", "root_id": "",
            "team_domain": team_domain, "team_id": team_id, "text": f"rate {args}", "token": token,
            "trigger_id": f"dHJpZ2dlcjp7{index:012d}{_mm_id(rng)}", "user_id": user_id, "user_name": user_name,
        }
        body = urlencode(sorted(fields.items()), quote_via=quote).encode("ascii")
        return http_post(ROUTE, HOST, body, {"Authorization": f"Token {token}", "Accept": "application/json",
                                              "User-Agent": "Mattermost-Bot/1.1"})

    def extend(self, count: int) -> None:
        while len(self.requests) < count:
            intent = self._next_intent()
            self.intents.append(intent)
            self.requests.append(self._build(intent, len(self.requests)))

    # Built once before anything is measured; a fast server wraps around and sends the sequence
    # again (the same people rating the same pages again), so nothing is generated mid-phase.
    def request(self, index: int) -> bytes:
        return self.requests[index % len(self.requests)]

    def intent(self, index: int) -> Intent:
        return self.intents[index % len(self.intents)]


def _accumulate(values: list[float]) -> list[float]:
    total, out = 0.0, []
    for value in values:
        total += value
        out.append(total)
    return out


# --------------------------------------------------------------------------------------------
# What each server answered


@dataclass
class Tracker:
    """Per server: which requests were accepted, refused, failed, and what that implies for storage."""

    name: str
    accepts: bytes  # an answer is a success only if it contains this
    workload: Workload
    next: int = 0
    ok: int = 0
    ok_comments: int = 0
    ok_pairs: set[tuple[int, int]] = field(default_factory=set)
    stars_sent: dict[tuple[int, int], set[int]] = field(default_factory=lambda: defaultdict(set))
    unanswered_pairs: set[tuple[int, int]] = field(default_factory=set)
    unanswered: int = 0
    unanswered_comments: int = 0
    refused: Counter[int] = field(default_factory=Counter)  # status of answers that were not a success
    samples: list[str] = field(default_factory=list)

    def next_index(self) -> int:
        index = self.next
        self.next += 1
        return index

    def on_response(self, index: int, status: int, body: bytes, error: str | None) -> None:
        intent = self.workload.intent(index)
        pair = (intent.user, intent.url)
        if error is None and status == 200 and self.accepts in body:
            self.ok += 1
            self.ok_comments += intent.comment
            self.ok_pairs.add(pair)
            self.stars_sent[pair].add(intent.stars)
            return
        if error is not None:  # may or may not have been stored
            self.unanswered += 1
            self.unanswered_comments += intent.comment
            self.unanswered_pairs.add(pair)
            self.stars_sent[pair].add(intent.stars)
        else:
            self.refused[status] += 1
        if len(self.samples) < 5:
            self.samples.append(f"{status or error}: {body[:300].decode('utf-8', 'replace')}")


# --------------------------------------------------------------------------------------------
# Servers and databases


@dataclass
class Database:
    url: str
    kind: str
    cleanup: Any = None  # callable, or None


def prepare_database(requested: str | None, workdir: Path) -> Database:
    if not requested:
        return Database(f"sqlite:///{workdir / 'learnloop' / 'bench.db'}", "sqlite")
    if requested.startswith("sqlite"):
        return Database(requested, "sqlite")
    schema = fresh_postgres_schema(requested, "bench")
    return Database(schema.url, f"postgresql (schema {schema.name})", schema.drop)


def postgres_backend_pids(database: Database) -> list[int]:
    """PostgreSQL backends serving the learnloop server (found by application_name), if local."""
    if not database.kind.startswith("postgresql"):
        return []
    from sqlalchemy import create_engine, text

    schema = database.kind.split("schema ", 1)[1].rstrip(")")
    engine = create_engine(database.url.split("?", 1)[0])
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
                                      {"name": schema}).all()
    finally:
        engine.dispose()
    return [int(row[0]) for row in rows if Path(f"/proc/{int(row[0])}").exists()]


def server_env(*, port: int, workers: int, threads: int | None, database_url: str, home: Path) -> dict[str, str]:
    extra = {} if threads is None else {"LEARNLOOP_WEB_THREADS": str(threads)}
    return clean_env(
        ["LEARNLOOP_", "GUNICORN_"],
        LEARNLOOP_HOST=HOST, LEARNLOOP_PORT=str(port), LEARNLOOP_WEB_WORKERS=str(workers),
        LEARNLOOP_DATABASE_URL=database_url, LEARNLOOP_MATTERMOST_COMMAND_TOKENS=",".join(COMMAND_TOKENS),
        LEARNLOOP_SECRET_KEY=SECRET_KEY, LEARNLOOP_PUBLIC_URL="http://127.0.0.1:8080",
        LEARNLOOP_CONFIG_FILE=str(home / "learnloop.toml"),
        XDG_RUNTIME_DIR=str(home),  # gunicorn's control socket goes here, one per server
        PYTHONUNBUFFERED="1", **extra,
    )


def make_servers(workdir: Path, workers: int, database: Database, threads: int | None = None, *,
                 bare_app: str = BARE_APP, config: str = "# empty: every setting comes from the environment\n"
                 ) -> dict[str, ServerProcess]:
    """The bare app and learnloop, each with the same `learnloop.toml` (`config`) and gunicorn settings."""
    servers = {}
    for name in ("bare", "learnloop"):
        home = workdir / name
        home.mkdir(parents=True, exist_ok=True)
        (home / "learnloop.toml").write_text(config)
        port = free_port(HOST)
        if name == "bare":
            (home / "bench_bare_app.py").write_text(bare_app)
            argv = [sys.executable, str(home / "bench_bare_app.py")]
            url = f"sqlite:///{home / 'unused.db'}"
        else:
            argv = [sys.executable, "-m", "learnloop.cli", "serve"]
            url = database.url
        # the bare app's unused database is SQLite: it gets learnloop's threads, and so its worker class
        env = server_env(port=port, workers=workers, threads=threads or default_web_threads(database.url),
                         database_url=url, home=home)
        servers[name] = ServerProcess(name, argv, env=env, cwd=home, port=port, host=HOST)
    return servers


def start_servers(servers: dict[str, ServerProcess], workers: int) -> None:
    """Start both, then wait until each answers, is the app it should be, and runs all its workers."""
    for server in servers.values():
        server.start()
    for name, server in servers.items():
        waited = server.wait_ready("/healthz", timeout=60)
        check_identity(server, expect_bare=name == "bare")
        running = wait_for_workers(server, workers)
        log(f"{name} ready on {HOST}:{server.port} after {waited:.1f} s ({running} workers)")
        if running != workers:
            raise RuntimeError(f"{name} runs {running} workers, expected {workers}")
    log(f"both run {gunicorn_worker_class(servers)}")


def start_worker(run: BenchRun, timeout: float = 30.0) -> ServerProcess:
    """`learnloop worker` on learnloop's database and settings, as deployed beside `learnloop serve`."""
    learnloop = run.servers["learnloop"]
    worker = run.worker = ServerProcess("worker", [sys.executable, "-m", "learnloop.cli", "worker"], env=learnloop.env,
                                        cwd=learnloop.cwd, port=0, host=HOST)
    worker.start()
    deadline = time.monotonic() + timeout
    while "worker started" not in worker.log_path.read_text(errors="replace"):
        if worker.process is None or worker.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("learnloop worker did not start\n" + worker.log_tail())
        time.sleep(0.1)
    log("learnloop worker started")
    return worker


def check_identity(server: ServerProcess, expect_bare: bool) -> None:
    """Make sure the bare server really serves the bare app, and learnloop learnloop."""
    import http.client

    connection = http.client.HTTPConnection(server.host, server.port, timeout=5)
    connection.request("GET", "/healthz")
    body = connection.getresponse().read()
    connection.close()
    if (b"bench-bare" in body) != expect_bare:
        raise RuntimeError(f"{server.name} on port {server.port} serves the wrong app: /healthz said {body[:200]!r}")


def gunicorn_worker_class(servers: dict[str, ServerProcess]) -> str:
    """The gunicorn worker class both servers run, from their logs; they must run the same one."""
    found = {name: re.findall(r"Using worker: (\S+)", server.log_path.read_text(errors="replace"))
             for name, server in servers.items()}
    classes = {name: names[-1] if names else "unknown" for name, names in found.items()}
    if len(set(classes.values())) != 1:
        raise RuntimeError(f"the servers run different gunicorn workers: {classes}")
    return next(iter(classes.values()))


def wait_for_workers(server: ServerProcess, expected: int, timeout: float = 20.0) -> int:
    """gunicorn answers as soon as one worker is up; wait for all of them (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        count = len(server.pids()) - 1
        if count >= expected or time.monotonic() > deadline:
            return count
        time.sleep(0.1)


# --------------------------------------------------------------------------------------------
# Checking what learnloop stored


def verify_storage(workload: Workload, tracker: Tracker, database_url: str) -> dict[str, Any]:
    """Reads the stored rows with plain SQL (not learnloop's models: only the columns checked here)."""
    from sqlalchemy import create_engine, text  # learnloop's own dependency

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            def rows(sql: str) -> list[dict[str, Any]]:
                return [dict(row) for row in connection.execute(text(sql)).mappings()]

            ratings = rows("SELECT item_id, user_id, stars FROM ratings")
            items = rows("SELECT id, url, community_id, ratings_count, stars_sum FROM content_items")
            communities = rows("SELECT id, ratings_count, stars_sum FROM communities")
            events = int(connection.execute(text("SELECT count(*) FROM events WHERE kind = 'rating'")).scalar_one())
            feedback = int(connection.execute(text("SELECT count(*) FROM feedback")).scalar_one())
    except Exception as exc:  # noqa: BLE001  (report what could not be read)
        return {"ok": False, "problems": [f"could not read the stored data: {type(exc).__name__}: {str(exc)[:300]}"]}
    finally:
        engine.dispose()
    problems: list[str] = []

    def within(label: str, stored: int, low: int, high: int) -> None:
        if not low <= stored <= high:
            problems.append(f"{label}: stored {stored}, expected {low}" + (f"..{high}" if high != low else ""))

    possible_pairs = tracker.ok_pairs | tracker.unanswered_pairs
    within("ratings vs distinct (user, url) pairs confirmed", len(ratings), len(tracker.ok_pairs), len(possible_pairs))
    within("rating events vs confirmed requests", events, tracker.ok, tracker.ok + tracker.unanswered)
    within("feedback rows vs confirmed comments", feedback, tracker.ok_comments,
           tracker.ok_comments + tracker.unanswered_comments)

    user_index = {user_id: n for n, (user_id, _) in enumerate(workload.users)}
    url_index = {url: n for n, url in enumerate(workload.urls)}
    item_url = {item["id"]: item["url"] for item in items}
    stored_pairs: set[tuple[int, int]] = set()
    unknown = wrong_stars = 0
    per_item: dict[int, list[int]] = defaultdict(list)
    for rating in ratings:
        per_item[rating["item_id"]].append(rating["stars"])
        pair = (user_index.get(rating["user_id"], -1), url_index.get(item_url.get(rating["item_id"], ""), -1))
        if -1 in pair:
            unknown += 1
            continue
        stored_pairs.add(pair)
        if rating["stars"] not in tracker.stars_sent.get(pair, ()):
            wrong_stars += 1
    missing = len(tracker.ok_pairs - stored_pairs)
    if unknown:
        problems.append(f"{unknown} ratings name a user or URL the benchmark never sent (URL normalisation?)")
    if missing:
        problems.append(f"{missing} confirmed (user, url) pairs have no stored rating")
    if wrong_stars:
        problems.append(f"{wrong_stars} ratings hold stars that were never sent for that pair")

    item_problems = 0
    community_totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for item in items:
        stars = per_item.get(item["id"], [])
        if item["ratings_count"] != len(stars) or item["stars_sum"] != sum(stars):
            item_problems += 1
        if item["community_id"] is not None:
            community_totals[item["community_id"]][0] += sum(stars)
            community_totals[item["community_id"]][1] += len(stars)
    if item_problems:
        problems.append(f"{item_problems} of {len(items)} items have ratings_count/stars_sum that do not match "
                        "their ratings (lost updates?)")
    community_problems = sum(
        1 for c in communities if [c["stars_sum"], c["ratings_count"]] != community_totals.get(c["id"], [0, 0])
    )
    if community_problems:
        problems.append(f"{community_problems} of {len(communities)} communities have totals that do not match "
                        "their items' ratings")
    return {
        "ok": not problems, "problems": problems,
        "ratings_stored": len(ratings), "distinct_pairs_confirmed": len(tracker.ok_pairs),
        "requests_confirmed": tracker.ok, "requests_unanswered": tracker.unanswered,
        "rating_events": events, "feedback_rows": feedback, "comments_confirmed": tracker.ok_comments,
        "items": len(items), "communities": len(communities),
    }


# --------------------------------------------------------------------------------------------
# The run


def new_parser(doc: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(description=doc.split("\n\n")[0], epilog=textwrap.dedent("""
        Defaults take about a minute on a 2-core machine. Everything runs on 127.0.0.1; servers are
        stopped at the end, on errors and on Ctrl-C."""), formatter_class=argparse.RawDescriptionHelpFormatter)


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """How both servers run and how hard the closed loop drives them: the same in every inbound benchmark."""
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop connections (default 16)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers for both servers (default 2)")
    parser.add_argument("--threads", type=int, help="gunicorn threads per worker for both servers "
                        "(LEARNLOOP_WEB_THREADS; default: learnloop's own default)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per server (default 2)")
    parser.add_argument("--database-url", help="learnloop's database; PostgreSQL gets a fresh schema, dropped after "
                        "(default: a fresh SQLite file in a temp dir)")


def add_output_options(parser: argparse.ArgumentParser, *, strict: str) -> None:
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    parser.add_argument("--strict", action="store_true", help=strict)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (server logs, SQLite database) and a PostgreSQL schema")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = new_parser(__doc__)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds of each measured phase (default 8)")
    parser.add_argument("--rounds", type=int, default=2, help="closed-loop rounds per server, alternating order (default 2)")
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="open-loop requests per second (default 200)")
    add_server_options(parser)
    parser.add_argument("--no-worker", dest="worker", action="store_false",
                        help="do not run `learnloop worker` beside learnloop's server. By default it runs, as deployed "
                        "(it checkpoints SQLite's WAL, folds events into the dashboards' counts, delivers the outbox), "
                        "and its CPU counts as learnloop's")
    parser.add_argument("--seed", type=int, default=20261102, help="workload seed (default fixed)")
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--urls", type=int, default=1500)
    parser.add_argument("--channels", type=int, default=12)
    parser.add_argument("--requests", type=int, default=24_000,
                        help="distinct requests built up front; a server that sends more wraps around (default 24000)")
    add_output_options(parser, strict="exit 3 when a performance target is missed")
    args = parser.parse_args(argv)
    if not 0.5 <= args.duration <= 300 or not 1 <= args.rounds <= 20 or not 1 <= args.concurrency <= 512 \
            or not 1 <= args.workers <= 64 or not 1 <= args.rate <= 20000 or not 0 <= args.warmup <= 60 \
            or not 1000 <= args.requests <= 500_000 or (args.threads is not None and not 1 <= args.threads <= 64):
        parser.error("out of range: duration 0.5..300, rounds 1..20, concurrency 1..512, workers 1..64, "
                     "rate 1..20000, warmup 0..60, requests 1000..500000, threads 1..64")
    return args


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def combined(results: list[PhaseResult]) -> dict[str, Any]:
    """Closed-loop rounds taken together: total answers over total time, latencies pooled."""
    merged = PhaseResult(name=results[0].name, mode="closed", concurrency=results[0].concurrency)
    for result in results:
        merged.duration_s += result.duration_s
        merged.sent += result.sent
        merged.statuses.update(result.statuses)
        merged.errors.update(result.errors)
        merged.latencies_ms.extend(result.latencies_ms)
        merged.connections_opened += result.connections_opened
        merged.server_cpu_s += result.server_cpu_s
        merged.client_cpu_s += result.client_cpu_s
    summary = merged.summary()
    summary["machine"] = {key: round(sum(r.system.get(key, 0) for r in results) / len(results), 1)
                          for key in ("busy_pct", "idle_pct", "steal_pct")}
    summary["rounds_rps"] = [round(r.rps, 1) for r in results]
    return summary


async def measure(args: argparse.Namespace, run: BenchRun, trackers: dict[str, Tracker],
                  workload: Workload) -> dict[str, Any]:
    servers = run.servers

    def loop_args(name: str) -> dict[str, Any]:
        tracker = trackers[name]
        return {"request_for": workload.request, "next_index": tracker.next_index,
                "on_response": tracker.on_response, "server_pids": run.pids(name)}

    for name, server in servers.items():
        if args.warmup:
            log(f"warm-up {name}: {args.warmup:g} s")
            await closed_loop(f"{name} warm-up", HOST, server.port, concurrency=4, duration=args.warmup,
                              **loop_args(name))
    closed: dict[str, list[PhaseResult]] = {name: [] for name in servers}
    for round_ in range(args.rounds):
        order = list(servers) if round_ % 2 == 0 else list(reversed(servers))
        for name in order:
            log(f"closed loop {name}, round {round_ + 1}/{args.rounds}: {args.concurrency} connections, "
                f"{args.duration:g} s")
            result = await closed_loop(name, HOST, servers[name].port, concurrency=args.concurrency,
                                       duration=args.duration, **loop_args(name))
            log(f"  {result.rps:.0f} req/s")
            closed[name].append(result)
            await asyncio.sleep(0.5)
    opened: dict[str, PhaseResult] = {}
    for name in servers:
        log(f"open loop {name}: {args.rate:g} req/s for {args.duration:g} s")
        opened[name] = await open_loop(name, HOST, servers[name].port, rate=args.rate, duration=args.duration,
                                       **loop_args(name))
        await asyncio.sleep(0.5)
    return {name: {"closed": combined(closed[name]), "open": opened[name].summary()} for name in servers}


def kept_up_and_cpu_lines(results: dict[str, Any], checks: dict[str, Any], rate: float, cpu_ratio: float,
                          database: Database, *, unit: str, per_second: str) -> list[str]:
    """The report's lines on whether learnloop kept up with the open loop, and on CPU per `unit`."""
    bare, learn = results["bare"], results["learnloop"]
    lines = [] if checks["open_loop_kept_up"]["pass"] else [
        f"  learnloop did not keep up with the open loop: {learn['open']['rps']:.0f} of {rate:g} {per_second} "
        f"answered per second, so its latencies include a growing queue"]
    return lines + [
        f"server CPU per {unit}: bare {bare['closed']['server_cpu_ms_per_req']:.2f} ms, learnloop "
        f"{learn['closed']['server_cpu_ms_per_req']:.2f} ms (bare/learnloop {cpu_ratio:.2f})"
        + (" [learnloop's figure includes its PostgreSQL backends]" if database.kind.startswith("postgresql") else "")]


def ms(value: Any) -> str:
    return "-" if value is None else f"{value:.1f}"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def servers_table(results: dict[str, Any], rate: float, *, per_second: str = "req/s", cpu: str = "cpu ms/req") -> str:
    """Both servers' closed- and open-loop figures, one row each; the labels name what a request is."""
    rows = []
    for name in ("bare", "learnloop"):
        c, o = results[name]["closed"], results[name]["open"]
        rows.append([
            name, f"{c['rps']:.0f}", " ".join(f"{x:.0f}" for x in c["rounds_rps"]), f"{ms(c['p50_ms'])}/{ms(c['p99_ms'])}",
            f"{c['server_cpu_ms_per_req']:.2f}", f"{o['rps']:.0f}", ms(o["p50_ms"]), ms(o["p99_ms"]), ms(o["max_ms"]),
            f"{o['status_5xx'] + c['status_5xx']}/{o['non_2xx'] + c['non_2xx']}/"
            f"{sum(o['transport_errors'].values()) + sum(c['transport_errors'].values())}",
        ])
    headers = ["server", per_second, "per round", "p50/p99 ms", cpu, f"@{rate:g}/s got", "p50 ms",
               "p99 ms", "max ms", "5xx/non2xx/neterr"]
    return format_table(headers, rows)


def report(results: dict[str, Any], correctness: dict[str, Any], trackers: dict[str, Tracker], args: argparse.Namespace,
           database: Database, meta: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    bare, learn = results["bare"], results["learnloop"]
    ratio = learn["closed"]["rps"] / bare["closed"]["rps"] if bare["closed"]["rps"] else 0.0
    cpu_ratio = (bare["closed"]["server_cpu_ms_per_req"] / learn["closed"]["server_cpu_ms_per_req"]
                 if learn["closed"]["server_cpu_ms_per_req"] else 0.0)
    p99 = learn["open"]["p99_ms"]
    fivexx = sum(results[n][m]["status_5xx"] for n in results for m in ("closed", "open"))
    at_target_rate = abs(args.rate - TARGET_RATE) < 1e-9
    checks = {
        "throughput_ratio": {"value": round(ratio, 3), "target": f">= {TARGET_RATIO}", "pass": ratio >= TARGET_RATIO},
        "p99_ms_at_rate": {"value": p99, "target": f"< {TARGET_P99_MS} at {TARGET_RATE:g} req/s",
                           "pass": at_target_rate and p99 is not None and p99 < TARGET_P99_MS,
                           "rate": args.rate},
        "open_loop_kept_up": {"value": learn["open"]["rps"], "pass": learn["open"]["rps"] >= 0.95 * args.rate},
        "no_5xx": {"value": fivexx, "pass": fivexx == 0},
        "all_valid_requests_accepted": {"value": {n: dict(t.refused) for n, t in trackers.items()},
                                        "pass": not any(t.refused for t in trackers.values())},
        "storage": {"pass": correctness.get("ok", False)},
    }
    performance_ok = all(checks[k]["pass"] for k in ("throughput_ratio", "p99_ms_at_rate", "open_loop_kept_up"))
    correct = all(checks[k]["pass"] for k in ("no_5xx", "all_valid_requests_accepted", "storage"))
    data = {
        "generator": GENERATOR, "config": meta, "database": database.kind,
        "servers": results, "cpu_cost_ratio_bare_over_learnloop": round(cpu_ratio, 3),
        "checks": checks, "correctness": correctness, "performance_pass": performance_ok, "correct": correct,
    }
    if args.json:
        print(json.dumps(data, indent=2))
        return data, performance_ok


    lines = [
        "",
        f"learnloop inbound benchmark at {meta['revision']}: {meta['workers']} gunicorn workers "
        f"({meta['worker_class']}, threads: {meta['threads']}, via `learnloop serve`) each, database {database.kind}; "
        + ("`learnloop worker` beside learnloop, its CPU counted as learnloop's" if meta["learnloop_worker"]
           else "no `learnloop worker`"),
        f"load generator: {GENERATOR}",
        f"closed loop: {args.concurrency} connections x {args.duration:g} s x {args.rounds} rounds; "
        f"open loop: {args.rate:g} req/s x {args.duration:g} s, latency from scheduled send time",
        f"machine: {meta['cpus']} CPUs; busy/steal during closed loops: bare {bare['closed']['machine']['busy_pct']}%/"
        f"{bare['closed']['machine']['steal_pct']}%, learnloop {learn['closed']['machine']['busy_pct']}%/"
        f"{learn['closed']['machine']['steal_pct']}%; client used {bare['closed']['client_cores_used']} / "
        f"{learn['closed']['client_cores_used']} cores",
        "",
        servers_table(results, args.rate),
        "",
        f"throughput ratio learnloop/bare: {ratio:.2f} (target >= {TARGET_RATIO}) {verdict(checks['throughput_ratio']['pass'])}",
        f"learnloop p99 at {args.rate:g} req/s: {ms(p99)} ms (target < {TARGET_P99_MS:g} ms at {TARGET_RATE:g} req/s) "
        f"{verdict(checks['p99_ms_at_rate']['pass'])}" + ("" if at_target_rate else " (not measured at the target rate)"),
        *kept_up_and_cpu_lines(results, checks, args.rate, cpu_ratio, database, unit="request", per_second="req/s"),
    ]
    if correctness:
        status = verdict(correct)
        lines.append(
            f"correctness {status}: {correctness.get('ratings_stored')} ratings stored for "
            f"{correctness.get('distinct_pairs_confirmed')} distinct (user, url) pairs confirmed; "
            f"{correctness.get('rating_events')} rating events for {correctness.get('requests_confirmed')} confirmed "
            f"requests; {correctness.get('feedback_rows')} feedback rows; 5xx: {fivexx}"
        )
        for problem in correctness.get("problems", []):
            lines.append(f"  problem: {problem}")
    for name, tracker in trackers.items():
        if tracker.refused or tracker.unanswered:
            lines.append(f"  {name}: refused {dict(tracker.refused)}, unanswered {tracker.unanswered}; e.g. "
                         + " | ".join(tracker.samples[:2]))
    print("\n".join(lines))
    return data, performance_ok


@dataclass
class BenchRun:
    """What a benchmark run holds that must be cleaned up however it ends."""

    workdir: Path
    keep: bool
    servers: dict[str, ServerProcess] = field(default_factory=dict)
    database: Database | None = None
    worker: ServerProcess | None = None

    def stop(self) -> None:
        for process in [*self.servers.values(), *([self.worker] if self.worker else [])]:
            process.stop()

    def pids(self, name: str) -> list[int]:
        """The processes whose CPU counts as a server's. learnloop's: its server, its worker, and on
        PostgreSQL the database backends."""
        if name != "learnloop":
            return self.servers[name].pids()
        assert self.database is not None
        pids = self.servers["learnloop"].pids() + (self.worker.pids() if self.worker else [])
        return pids + postgres_backend_pids(self.database)


def run_benchmark(args: argparse.Namespace, prefix: str, body: Callable[[BenchRun], int]) -> int:
    """Run `body` with SIGTERM/Ctrl-C handled; always stop the servers and drop a PostgreSQL schema.

    Exit status: body's (0, or 3 for a missed target with --strict), 1 when learnloop's stored data or answers
    were wrong, 2 when the benchmark could not run, 130 when interrupted. The temp dir is kept after 1 and 2."""
    def terminate(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    run = BenchRun(Path(tempfile.mkdtemp(prefix=prefix)), keep=args.keep)
    try:
        (run.workdir / "learnloop").mkdir()
        status = body(run)
        run.keep = run.keep or status == 1
        return status
    except KeyboardInterrupt:
        log("interrupted; stopping the servers")
        return 130
    except (RuntimeError, OSError) as exc:
        run.keep = True
        log(f"benchmark could not run: {exc}")
        return 2
    finally:
        run.stop()
        if run.database is not None and run.database.cleanup is not None and not args.keep:
            try:
                run.database.cleanup()
            except Exception as exc:  # noqa: BLE001  (report, do not mask the result)
                log(f"could not drop the benchmark schema: {exc}")
        if run.keep:
            log(f"server logs and database kept in {run.workdir}")
        else:
            shutil.rmtree(run.workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()

    def body(run: BenchRun) -> int:
        run.database = database = prepare_database(args.database_url, run.workdir)
        workload = Workload(args.seed, users=args.users, urls=args.urls, channels=args.channels,
                            repeat_fraction=0.25, comment_fraction=0.3)
        workload.extend(args.requests)
        gc.collect()
        gc.freeze()  # the workload's objects never need the cycle collector
        _check_urls_normalise(workload)
        run.servers = make_servers(run.workdir, args.workers, database, args.threads)
        start_servers(run.servers, args.workers)
        if args.worker:
            start_worker(run)
        trackers = {
            "bare": Tracker("bare", b'"app":"bench-bare"', workload),
            # every confirmation says "Community score: 4.1/5 from 3 ratings."; refusals do not
            "learnloop": Tracker("learnloop", b"/5 from ", workload),
        }
        results = asyncio.run(measure(args, run, trackers, workload))
        run.stop()
        log("checking what learnloop stored")
        correctness = verify_storage(workload, trackers["learnloop"], database.url)
        meta = {"revision": _revision(), "workers": args.workers, "threads": args.threads
                or f"{default_web_threads(database.url)} (learnloop's default)",
                "worker_class": gunicorn_worker_class(run.servers), "learnloop_worker": args.worker,
                "cpus": os.cpu_count(), "duration_s": args.duration, "rounds": args.rounds,
                "concurrency": args.concurrency, "rate": args.rate, "warmup_s": args.warmup, "seed": args.seed,
                "users": args.users, "urls": args.urls, "channels": args.channels,
                "requests_built": len(workload.requests), "elapsed_s": round(time.monotonic() - started, 1)}
        data, performance_ok = report(results, correctness, trackers, args, database, meta)
        if not data["correct"]:
            return 1
        return 3 if args.strict and not performance_ok else 0

    return run_benchmark(args, "learnloop-bench-", body)


def _revision() -> str:
    """Which learnloop the servers run: the git commit of the package that `import learnloop` finds
    (the servers inherit this environment), noting uncommitted changes to it."""
    import importlib.util

    spec = importlib.util.find_spec("learnloop")
    if spec is None or not spec.origin:
        return "unknown"
    package = Path(spec.origin).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=package, capture_output=True, text=True,
                              timeout=5)
        changed = subprocess.run(["git", "status", "--porcelain", "--", "."], cwd=package, capture_output=True,
                                 text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return f"learnloop from {package}"
    if head.returncode != 0:
        return f"learnloop from {package} (not a git checkout)"
    return head.stdout.strip() + (" with uncommitted changes to the package" if changed else "")


def _check_urls_normalise(workload: Workload) -> None:
    """The storage check maps stored URLs back to the workload's; make sure learnloop agrees."""
    try:
        from learnloop.domain.urls import normalise_url
    except ImportError:
        return
    rng = random.Random(0)
    for url in workload.urls[:50]:
        for variant in {url, *(workload._variant(url, rng) for _ in range(10))}:
            if normalise_url(variant) != url:
                raise RuntimeError(f"workload URL {variant} does not normalise to {url} ({normalise_url(variant)})")


if __name__ == "__main__":
    sys.exit(main())
