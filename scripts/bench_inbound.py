#!/usr/bin/env python3
"""Inbound benchmark (issue 2): `/learn rate` under `learnloop serve` against a bare Flask app under the same
gunicorn settings, on loopback. See docs/performance.md for the method.

    .venv/bin/python scripts/bench_inbound.py                # SQLite, about a minute
    .venv/bin/python scripts/bench_inbound.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test

Prints req/s per server and round (wrk, closed loop), p50/p99 at --rate req/s (open loop, latency from each
request's scheduled time), CPU per request (learnloop's includes its worker and PostgreSQL backends), the
throughput ratio learnloop/bare against its target, then a check of every stored rating.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import string
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

import benchlib as b

ROUTE = "/mattermost/command"
COMMAND_TOKEN = "xr3j5x7p8pfk7mqqddy9xkxs4a"
TARGET_RATIO, TARGET_P99_MS, TARGET_RATE = 0.5, 25.0, 200.0
CONNECTIONS = 16
COMMENTS = ["Saved me an hour", "The rollback section is out of date", "Clear and short, thanks", "Missing a step"]
WORDS = ["Deploying", "Onboarding", "Release", "Incident", "Kafka", "Terraform", "Budget", "Security", "Runbook"]

BARE_APP = '''"""`learnloop serve` (same gunicorn settings) serving a Flask app that only parses the request."""
import sys

from flask import Flask, jsonify, request

bare = Flask("bench_bare")
bare.add_url_rule("/mattermost/command", "command", methods=["POST"], view_func=lambda: jsonify(
    response_type="ephemeral", text="ok", app="bench-bare", user_id=request.form.get("user_id", "")))
bare.add_url_rule("/wiki/<name>/events", "wiki", methods=["POST"], view_func=lambda name: jsonify(
    status="ok", queued=1, ignored=False, app="bench-bare",
    id=(request.get_json(force=True, silent=True) or {}).get("id", "")))
bare.add_url_rule("/healthz", "healthz", view_func=lambda: jsonify(status="ok", app="bench-bare"))
try:
    import learnloop.wiring as wiring  # the app factory `learnloop serve` calls
except ImportError:  # before the wiring module (baseline checkouts)
    import learnloop.web.app as wiring
wiring.create_app = lambda runtime=None: bare
from learnloop.cli import main

sys.exit(main(["serve"]))
'''


def _mm_id(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(26))


def slash_command(fields: dict[str, str]) -> bytes:
    """A Mattermost slash command's POST, as Mattermost sends it."""
    form = {"command": "/learn", "root_id": "", "team_domain": "acme", "token": COMMAND_TOKEN, **fields}
    return b.raw_post(ROUTE, urlencode(sorted(form.items()), quote_via=quote).encode(),
                      {"Accept": "application/json"}, "application/x-www-form-urlencoded")


@dataclass(frozen=True)
class Rating:
    user: int
    url: int
    stars: int
    comment: bool


class Workload:
    """Request i is the same bytes for both servers; ratings[i] says what it means. Popular pages get most
    ratings, a quarter re-rate an earlier pair, some carry a comment, some URLs carry tracking parameters."""

    def __init__(self, seed: int, count: int, users: int = 400, urls: int = 1500, channels: int = 12) -> None:
        rng = random.Random(seed)
        self.users = [(_mm_id(rng), f"user{n:04d}") for n in range(users)]
        self.urls = [f"https://wiki.acme.example/wiki/{WORDS[n % len(WORDS)]}_guide_{n}" for n in range(urls)]
        self.channels = [(_mm_id(rng), f"guild-{n:02d}", _mm_id(rng)) for n in range(channels)]
        weights = [1 / (n + 1) ** 0.8 for n in range(urls)]
        self.ratings: list[Rating] = []
        self.requests: list[bytes] = []
        for index in range(count):
            if self.ratings and rng.random() < 0.25:
                earlier = rng.choice(self.ratings)
                user, url = earlier.user, earlier.url
            else:
                user, url = rng.randrange(users), rng.choices(range(urls), weights)[0]
            rating = Rating(user, url, rng.choices((1, 2, 3, 4, 5), (1, 1, 3, 5, 4))[0], rng.random() < 0.3)
            self.ratings.append(rating)
            user_id, user_name = self.users[user]
            channel_id, channel_name, team_id = self.channels[user % len(self.channels)]
            page = self.urls[url] + ("?utm_source=chat" if rng.random() < 0.15 else "")
            text = f"rate {page} {rating.stars}" + (f" {rng.choice(COMMENTS)}" if rating.comment else "")
            self.requests.append(slash_command({
                "channel_id": channel_id, "channel_name": channel_name, "team_id": team_id, "text": text,
                "response_url": f"http://mattermost.test/hooks/commands/{_mm_id(rng)}", "user_id": user_id,
                "trigger_id": f"trigger{index:012d}", "user_name": user_name}))

    def batch(self, first: int, count: int) -> list[bytes]:
        """The requests of indices first .. first+count-1 (the workload wraps around)."""
        return [self.requests[(first + k) % len(self.requests)] for k in range(count)]


@dataclass
class Server:
    """One of the pair, and what it was sent and answered, by workload index (modulo the workload's length)."""

    proc: b.Proc
    helpers: list[b.Proc] = field(default_factory=list)  # `learnloop worker` beside it: its CPU counts
    database: b.Database | None = None  # and its PostgreSQL backends'
    rounds: list[b.ClosedLoop] = field(default_factory=list)
    open: b.OpenLoop = field(default_factory=b.OpenLoop)
    certain: set[int] = field(default_factory=set)  # answered and accepted
    possible: set[int] = field(default_factory=set)  # sent (perhaps unanswered)
    accepted: int = 0
    answers: int = 0
    sent: int = 0

    def workers(self) -> list[int]:
        """Its gunicorn workers (the arbiter's children)."""
        return self.proc.pids()[1:]

    def others(self) -> list[int]:
        """Processes whose CPU counts as the server's beyond its gunicorn workers."""
        return self.proc.pids()[:1] + [pid for helper in self.helpers for pid in helper.pids()] + (
            self.database.backend_pids() if self.database else [])


def start_pair(target: b.Target, database: b.Database, workdir: Path, args: argparse.Namespace,
               cleanups: b.Cleanups, config: str = "# every setting comes from the environment\n") -> dict[str, Server]:
    """The bare app and learnloop, each under `learnloop serve` with the same gunicorn settings and `config` as
    its learnloop.toml, ready with all their gunicorn workers; `learnloop worker` beside learnloop if args.worker."""
    threads = "1" if database.url.startswith("sqlite") else "2"  # learnloop's default for its database
    servers = {}
    for name in ("bare", "learnloop"):
        home, port = workdir / name, b.free_port()
        url = f"sqlite:///{home / 'unused.db'}" if name == "bare" else database.url
        env = b.learnloop_env(home, url, config, LEARNLOOP_HOST=b.HOST, LEARNLOOP_PORT=str(port),
                              LEARNLOOP_WEB_WORKERS=str(args.workers), LEARNLOOP_WEB_THREADS=threads,
                              LEARNLOOP_MATTERMOST_COMMAND_TOKENS=COMMAND_TOKEN)
        if name == "bare":
            (home / "bare_app.py").write_text(BARE_APP)
        argv = [target.python, str(home / "bare_app.py")] if name == "bare" else target.command("serve")
        servers[name] = Server(b.Proc(name, argv, env, home, port).start())
        cleanups.append(servers[name].proc.stop)
    for name, server in servers.items():
        b.log(f"{name} ready on port {server.proc.port} after {server.proc.wait_http():.1f} s")
        deadline = time.monotonic() + 30
        while len(server.workers()) < args.workers:
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {name}'s gunicorn workers")
            time.sleep(0.1)
    learnloop = servers["learnloop"]
    learnloop.database = database
    if args.worker:
        worker = b.Proc("worker", target.command("worker"), learnloop.proc.env, learnloop.proc.home).start()
        cleanups.append(worker.stop)
        learnloop.helpers.append(worker)
        worker.wait_log("started")
    return servers


def measure(servers: dict[str, Server], requests: Callable[[str, int, int], list[bytes]],
            marker: dict[str, bytes], args: argparse.Namespace, workdir: Path, expected_rps: float = 3000) -> None:
    """Warm-up, closed-loop rounds (alternating which server goes first) and one open loop per server, then
    every process stopped. `requests(server, first, n)` builds the requests of indices first .. first+n-1
    (signed requests must be fresh); indices run on across phases, and a phase wraps around what it was given."""
    next_index = dict.fromkeys(servers, 0)

    def closed(name: str, seconds: float, connections: int) -> b.ClosedLoop:
        first, server = next_index[name], servers[name]
        batch = requests(name, first, max(2000, int(expected_rps * seconds * 1.5)))
        runs = b.measured_wrk(server.proc.port, batch, workers=server.workers, others=server.others,
                              seconds=seconds, connections=connections, marker=marker[name], workdir=workdir)
        for run in runs:
            server.certain.update(first + i % len(batch) for i in run.indices(True))
            server.possible.update(first + i % len(batch) for i in run.indices(False))
            server.accepted, server.answers = server.accepted + run.accepted, server.answers + run.answers
            server.sent += run.requests_sent
        next_index[name] += len(batch)
        return runs[-1]

    for name in servers:
        if args.warmup:
            closed(name, args.warmup, 4)
    for round_ in range(args.rounds):
        for name in (list(servers) if round_ % 2 == 0 else list(reversed(servers))):
            servers[name].rounds.append(run := closed(name, args.duration, CONNECTIONS))
            b.log(f"{name} round {round_ + 1}: {run.rps:.0f} req/s")
    for name, server in servers.items():
        first = next_index[name]
        batch = requests(name, first, int(args.rate * args.duration) + 1)

        def answered(index: int, status: int, body: bytes, server: Server = server, first: int = first,
                     marker: bytes = marker[name]) -> None:
            if status == 200 and marker in body:
                server.certain.add(first + index)
                server.accepted += 1

        server.open = asyncio.run(b.open_loop(server.proc.port, lambda i, batch=batch: batch[i], rate=args.rate,
                                              seconds=args.duration, on_answer=answered))
        server.possible.update(range(first, first + server.open.sent))
        server.sent, server.answers = server.sent + server.open.sent, server.answers + len(server.open.latencies_ms)
        next_index[name] += len(batch)
    for server in servers.values():
        for process in [*server.helpers, server.proc]:
            process.stop()


def options(parser: argparse.ArgumentParser, duration: float = 8.0, rounds: int = 2) -> None:
    parser.add_argument("--duration", type=float, default=duration, help="seconds of each measured phase")
    parser.add_argument("--rounds", type=int, default=rounds, help="closed-loop rounds per server")
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="open-loop requests per second")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of both servers")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per server (wrk: whole seconds)")
    parser.add_argument("--no-worker", dest="worker", action="store_false",
                        help="no `learnloop worker` beside learnloop (by default it runs, and its CPU counts)")


def inbound_options(parser: argparse.ArgumentParser) -> None:
    options(parser)
    parser.add_argument("--requests", type=int, default=24_000, help="distinct requests in the workload")
    parser.add_argument("--seed", type=int, default=20261102)


def check_ratings(workload: Workload, sent: Server, url: str) -> list[str]:
    """What learnloop stored, read with plain SQL, against what it confirmed: one rating per confirmed
    (user, url) pair holding stars that were sent for it, and events within what was confirmed and sent."""
    n = len(workload.ratings)
    certain = {workload.ratings[i % n] for i in sent.certain}
    user_of = {user_id: k for k, (user_id, _) in enumerate(workload.users)}
    url_of = {page: k for k, page in enumerate(workload.urls)}
    items = dict(b.sql(url, "SELECT id, url FROM content_items"))
    stored = {(user_of.get(user, -1), url_of.get(items[item], -1)): stars
              for item, user, stars in b.sql(url, "SELECT item_id, user_id, stars FROM ratings")}
    stars_sent: dict[tuple[int, int], set[int]] = defaultdict(set)
    for rating in {workload.ratings[i % n] for i in sent.possible}:
        stars_sent[(rating.user, rating.url)].add(rating.stars)
    problems = []
    if missing := {(r.user, r.url) for r in certain} - set(stored):
        problems.append(f"{len(missing)} confirmed (user, url) pairs have no stored rating")
    if wrong := sum(1 for pair, stars in stored.items() if stars not in stars_sent.get(pair, ())):
        problems.append(f"{wrong} stored ratings hold stars never sent for their (user, url) pair")
    events = b.sql(url, "SELECT count(*) FROM events WHERE kind = 'rating'")[0][0]
    if not sent.accepted <= events <= sent.sent:
        problems.append(f"{events} rating events for {sent.accepted} confirmed and {sent.sent} sent requests")
    return problems


def run(args: argparse.Namespace, target: b.Target, workdir: Path,
        cleanups: b.Cleanups) -> tuple[dict[str, Server], list[str], str]:
    workload = Workload(args.seed, args.requests)
    database = b.make_database(args, workdir, "bench_inbound", cleanups)
    servers = start_pair(target, database, workdir, args, cleanups)
    # every confirmation says "... rated <page> **4/5** ..."
    markers = {"bare": b'"app":"bench-bare"', "learnloop": b"/5**"}
    measure(servers, lambda _name, first, n: workload.batch(first, n), markers, args, workdir)
    return servers, check_ratings(workload, servers["learnloop"], database.url), database.kind


def report(result: tuple[dict[str, Server], list[str], str], args: argparse.Namespace, target: b.Target, *,
           title: str = "inbound (/learn rate)", unit: str = "req", p99_target: bool = True) -> int:
    """Print the servers' table, the ratio and p99 against their targets, and the correctness check."""
    servers, problems, database = result
    rows, rps = [], {}
    for name, s in servers.items():
        answers = sum(r.answers for r in s.rounds)
        seconds = sum(r.answers / r.rps for r in s.rounds if r.rps)
        rps[name] = round(answers / seconds, 1) if seconds else 0.0
        cpu = sum(r.cpu_ms_per_request * r.answers for r in s.rounds) / max(answers, 1)
        opened = s.open.summary()
        rows.append([name, rps[name], " ".join(str(round(r.rps)) for r in s.rounds),
                     f"{round(max(r.p50_ms for r in s.rounds), 2)}/{round(max(r.p99_ms for r in s.rounds), 2)}",
                     round(cpu, 3), round(len(s.open.latencies_ms) / s.open.seconds, 1), opened["p50_ms"],
                     opened["p99_ms"], opened["max_ms"], sum(r.errors for r in s.rounds) + sum(s.open.errors.values())])
    ratio = rps["learnloop"] / max(rps["bare"], 1e-9)
    learnloop = servers["learnloop"].open.summary()
    refused = {name: s.answers - s.accepted for name, s in servers.items()}
    if any(refused.values()):
        problems.append(f"answers that were not an acknowledgement: {refused}")
    print(f"\nlearnloop {title} at {target.revision()}, {database}, {args.workers} gunicorn workers each; "
          f"closed loop: wrk, {CONNECTIONS} connections x {args.duration:g} s x {args.rounds} rounds; "
          f"open loop {args.rate:g}/s" + ("; `learnloop worker` beside learnloop" if args.worker else ""))
    print(b.table([f"server ({unit})", "closed/s", "per round", "p50/p99 ms", f"cpu ms/{unit}",
                   f"@{args.rate:g}/s got", "p50 ms", "p99 ms", "max ms", "errors"], rows))
    p99 = learnloop["p99_ms"]
    p99_ok = args.rate == TARGET_RATE and p99 is not None and p99 < TARGET_P99_MS
    print(f"throughput ratio learnloop/bare: {ratio:.2f} (target >= {TARGET_RATIO}) {b.verdict(ratio >= TARGET_RATIO)}")
    print(f"learnloop p50/p99 at {args.rate:g}/s: {learnloop['p50_ms']}/{p99} ms"
          + (f" (target p99 < {TARGET_P99_MS:g} ms at {TARGET_RATE:g}/s) {b.verdict(p99_ok)}" if p99_target else ""))
    print(f"correctness: {b.verdict(not problems)} ({len(servers['learnloop'].certain)} requests acknowledged)"
          + "".join(f"\n  problem: {p}" for p in problems))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(b.main(__doc__, inbound_options, run, report))
