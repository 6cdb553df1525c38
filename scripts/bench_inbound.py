#!/usr/bin/env python3
"""Inbound benchmark (issue 2): `/learn rate` under `learnloop serve` against a bare Flask app under the same
gunicorn settings, on loopback. See docs/performance.md for the method.

    .venv/bin/python scripts/bench_inbound.py                       # SQLite, about a minute
    .venv/bin/python scripts/bench_inbound.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python scripts/bench_inbound.py --learnloop-python /work/baseline/.venv/bin/python   # the baseline

Prints req/s per server and round (wrk, closed loop), p50/p99 at --rate req/s (open loop, latency from each
request's scheduled time), CPU per request (learnloop's includes its worker and PostgreSQL backends), the
throughput ratio learnloop/bare against its target, then a check of every stored rating. Exit status: 0 when it
ran (3 with --strict and a missed target), 1 when learnloop answered or stored wrong, 2 when it could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import string
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import benchlib as b

ROUTE = "/mattermost/command"
COMMAND_TOKEN = "xr3j5x7p8pfk7mqqddy9xkxs4a"
TARGET_RATIO, TARGET_P99_MS, TARGET_RATE = 0.5, 25.0, 200.0
COMMENTS = ["Saved me an hour", "The rollback section is out of date", "Clear and short, thanks", "Missing a step"]
WORDS = ["Deploying", "Onboarding", "Release", "Incident", "Kafka", "Terraform", "Budget", "Security", "Runbook"]

BARE_APP = '''"""The baseline: `learnloop serve` (same gunicorn settings) serving a Flask app that only parses
the request and answers 200. Written by scripts/bench_inbound.py."""
import sys

from flask import Flask, jsonify, request

bare = Flask("bench_bare")


@bare.post("/mattermost/command")
def command():
    return jsonify(response_type="ephemeral", text="ok", app="bench-bare", user_id=request.form.get("user_id", ""))


@bare.post("/wiki/<name>/events")
def wiki_events(name):
    delivery = request.get_json(force=True, silent=True) or {}
    return jsonify(status="ok", queued=1, ignored=False, app="bench-bare", id=delivery.get("id", ""))


@bare.get("/healthz")
def healthz():
    return jsonify(status="ok", app="bench-bare")


try:
    import learnloop.wiring as wiring  # the app factory `learnloop serve` calls
except ImportError:  # before the wiring module (baseline checkouts)
    import learnloop.web.app as wiring
wiring.create_app = lambda runtime=None: bare
from learnloop.cli import main

sys.exit(main(["serve"]))
'''


# ------------------------------------------------------------------------------------------ the workload


def _mm_id(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(26))


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
            self.requests.append(self._request(rating, index, rng))

    def batch(self, first: int, count: int) -> list[bytes]:
        """The requests of indices first .. first+count-1 (the workload wraps around)."""
        return [self.requests[(first + k) % len(self.requests)] for k in range(count)]

    def _request(self, rating: Rating, index: int, rng: random.Random) -> bytes:
        user_id, user_name = self.users[rating.user]
        channel_id, channel_name, team_id = self.channels[rating.user % len(self.channels)]
        url = self.urls[rating.url] + ("?utm_source=chat" if rng.random() < 0.15 else "")
        text = f"rate {url} {rating.stars}" + (f" {rng.choice(COMMENTS)}" if rating.comment else "")
        form = {"channel_id": channel_id, "channel_name": channel_name, "command": "/learn", "root_id": "",
                "response_url": f"http://mattermost.test/hooks/commands/{_mm_id(rng)}", "team_domain": "acme",
                "team_id": team_id, "text": text, "token": COMMAND_TOKEN, "trigger_id": f"trigger{index:012d}",
                "user_id": user_id, "user_name": user_name}
        return b.raw_post(ROUTE, urlencode(sorted(form.items()), quote_via=quote).encode(),
                          {"Accept": "application/json"}, "application/x-www-form-urlencoded")


# ------------------------------------------------------------------------------------------ two servers


@dataclass
class Pair:
    """learnloop and the bare app, each under `learnloop serve` with the same gunicorn settings."""

    servers: dict[str, b.Proc]
    database: b.Database
    worker: b.Proc | None = None

    def worker_pids(self, name: str) -> list[int]:
        """The gunicorn workers of a server (its arbiter's children)."""
        return self.servers[name].pids()[1:]

    def extra_pids(self, name: str) -> list[int]:
        """Processes whose CPU counts as the server's beyond its gunicorn workers."""
        if name != "learnloop":
            return self.servers[name].pids()[:1]
        return (self.servers[name].pids()[:1] + (self.worker.pids() if self.worker else [])
                + self.database.backend_pids())


def start_pair(target: b.Target, database: b.Database, workdir: Path, args: argparse.Namespace, *,
               config: str = "", extra: dict[str, str] | None = None) -> Pair:
    """Both servers, each with `config` as its learnloop.toml, ready with all their gunicorn workers; and
    `learnloop worker` beside learnloop unless --no-worker."""
    threads = str(args.threads or (1 if database.url.startswith("sqlite") else 2))
    servers: dict[str, b.Proc] = {}
    for name in ("bare", "learnloop"):
        home, port = workdir / name, b.free_port()
        home.mkdir(parents=True, exist_ok=True)
        (home / "learnloop.toml").write_text(config or "# every setting comes from the environment\n")
        url = f"sqlite:///{home / 'unused.db'}" if name == "bare" else database.url
        env = b.learnloop_env(home, url, LEARNLOOP_HOST=b.HOST, LEARNLOOP_PORT=str(port),
                              LEARNLOOP_WEB_WORKERS=str(args.workers), LEARNLOOP_WEB_THREADS=threads,
                              LEARNLOOP_MATTERMOST_COMMAND_TOKENS=COMMAND_TOKEN, **(extra or {}))
        if name == "bare":
            (home / "bare_app.py").write_text(BARE_APP)
            argv = [target.python, str(home / "bare_app.py")]
        else:
            argv = target.command("serve")
        servers[name] = b.Proc(name, argv, env, home, port).start()
    pair = Pair(servers, database)
    for name, server in servers.items():
        waited = server.wait_http()
        b.log(f"{name} ready on port {server.port} after {waited:.1f} s")
    for name in servers:
        _wait_for(lambda name=name: len(pair.worker_pids(name)) >= args.workers, f"{name}'s gunicorn workers")
    if args.worker:
        learnloop = servers["learnloop"]
        pair.worker = b.Proc("worker", target.command("worker"), learnloop.env, learnloop.home).start()
        pair.worker.wait_log("started")
    return pair


def _wait_for(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)


@dataclass
class Sent:
    """What one server was sent and answered, by workload index (modulo the workload's length)."""

    certain: set[int] = field(default_factory=set)  # answered and accepted
    possible: set[int] = field(default_factory=set)  # sent (perhaps unanswered)
    accepted: int = 0
    answers: int = 0
    sent: int = 0


def measure(pair: Pair, requests: Callable[[str, int, int], list[bytes]], marker: dict[str, bytes],
            args: argparse.Namespace, workdir: Path) -> tuple[dict[str, Any], dict[str, Sent]]:
    """Warm-up, closed-loop rounds (alternating which server goes first) and one open loop per server.
    `requests(server, first, n)` builds the requests of indices first .. first+n-1 (signed requests must be
    fresh); indices run on across phases, and a phase that sends more than it was given wraps around."""
    results: dict[str, Any] = {name: {"rounds": []} for name in pair.servers}
    sent = {name: Sent() for name in pair.servers}
    next_index = dict.fromkeys(pair.servers, 0)

    def closed(name: str, seconds: float, connections: int) -> b.ClosedLoop:
        first = next_index[name]
        batch = requests(name, first, max(2000, int(args.expected_rps * seconds * 1.5)))
        runs = b.measured_wrk(pair.servers[name].port, batch, workers=lambda: pair.worker_pids(name),
                              others=lambda: pair.extra_pids(name), seconds=seconds, connections=connections,
                              marker=marker[name], workdir=workdir)
        into = sent[name]
        for run in runs:
            into.certain.update(first + i % len(batch) for i in run.indices(True))
            into.possible.update(first + i % len(batch) for i in run.indices(False))
            into.accepted, into.answers = into.accepted + run.accepted, into.answers + run.answers
            into.sent += run.requests_sent
        next_index[name] += len(batch)
        return runs[-1]

    for name in pair.servers:
        if args.warmup:
            closed(name, args.warmup, 4)
    for round_ in range(args.rounds):
        for name in (list(pair.servers) if round_ % 2 == 0 else list(reversed(pair.servers))):
            run = closed(name, args.duration, args.concurrency)
            b.log(f"{name} round {round_ + 1}: {run.rps:.0f} req/s")
            results[name]["rounds"].append(run)
    for name, server in pair.servers.items():
        first = next_index[name]
        batch = requests(name, first, int(args.rate * args.duration) + 1)

        def answered(index: int, status: int, body: bytes, name: str = name, first: int = first) -> None:
            ok = status == 200 and marker[name] in body
            sent[name].certain.update([first + index] if ok else [])
            sent[name].accepted += ok

        opened = asyncio.run(b.open_loop(server.port, lambda i, batch=batch: batch[i], rate=args.rate,
                                         seconds=args.duration, on_answer=answered))
        sent[name].possible.update(range(first, first + opened.sent))
        sent[name].sent += opened.sent
        sent[name].answers += len(opened.latencies_ms)
        next_index[name] += len(batch)
        results[name]["open"] = opened
    return results, sent


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    """Per server: rounds pooled (answers over time), CPU per request, the open loop's percentiles."""
    out = {}
    for name, result in results.items():
        rounds: list[b.ClosedLoop] = result["rounds"]
        answers = sum(r.answers for r in rounds)
        seconds = sum(r.answers / r.rps for r in rounds if r.rps)
        opened: b.OpenLoop = result["open"]
        out[name] = {"rps": round(answers / seconds, 1) if seconds else 0.0,
                     "rounds_rps": [round(r.rps) for r in rounds],
                     "closed_p50_ms": round(max(r.p50_ms for r in rounds), 2),
                     "closed_p99_ms": round(max(r.p99_ms for r in rounds), 2),
                     "cpu_ms_per_request": round(sum(r.cpu_ms_per_request * r.answers for r in rounds)
                                                 / max(answers, 1), 3),
                     "busiest_worker_share": [round(r.busiest_worker_share, 2) for r in rounds],
                     "errors": sum(r.errors for r in rounds) + sum(opened.errors.values()),
                     "open": {**opened.summary(), "rate_got": round(len(opened.latencies_ms) / opened.seconds, 1),
                              "statuses": dict(opened.statuses)}}
    return out


def servers_table(summary: dict[str, Any], rate: float, unit: str) -> str:
    rows = [[name, s["rps"], " ".join(map(str, s["rounds_rps"])), f"{s['closed_p50_ms']}/{s['closed_p99_ms']}",
             s["cpu_ms_per_request"], s["open"]["rate_got"], s["open"]["p50_ms"], s["open"]["p99_ms"],
             s["open"]["max_ms"], s["errors"]] for name, s in summary.items()]
    return b.table([f"server ({unit})", "closed/s", "per round", "p50/p99 ms", f"cpu ms/{unit}", f"@{rate:g}/s got",
                    "p50 ms", "p99 ms", "max ms", "errors"], rows)


def common_options(parser: argparse.ArgumentParser, duration: float, rounds: int) -> None:
    b.add_common_options(parser)
    parser.add_argument("--duration", type=float, default=duration, help="seconds of each measured phase")
    parser.add_argument("--rounds", type=int, default=rounds, help="closed-loop rounds per server")
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="open-loop requests per second")
    parser.add_argument("--concurrency", type=int, default=16, help="closed-loop connections")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of both servers")
    parser.add_argument("--threads", type=int, help="LEARNLOOP_WEB_THREADS of both (default: learnloop's)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per server (wrk: whole seconds)")
    parser.add_argument("--expected-rps", type=float, default=3000, help="sizes the prebuilt requests per phase")
    parser.add_argument("--no-worker", dest="worker", action="store_false",
                        help="no `learnloop worker` beside learnloop (by default it runs, and its CPU counts)")
    parser.add_argument("--strict", action="store_true", help="exit 3 when a target is missed")


# ------------------------------------------------------------------------------------------ the check


def check_ratings(workload: Workload, sent: Sent, url: str) -> list[str]:
    """What learnloop stored, read with plain SQL, against what it confirmed: one rating per confirmed
    (user, url) pair holding stars that were sent for it, and events within what was confirmed and sent."""
    n = len(workload.ratings)
    certain = {workload.ratings[i % n] for i in sent.certain}
    possible = {workload.ratings[i % n] for i in sent.possible}
    user_of = {user_id: k for k, (user_id, _) in enumerate(workload.users)}
    url_of = {page: k for k, page in enumerate(workload.urls)}
    items = dict(b.sql(url, "SELECT id, url FROM content_items"))
    stored: dict[tuple[int, int], int] = {}
    for item, user, stars in b.sql(url, "SELECT item_id, user_id, stars FROM ratings"):
        stored[(user_of.get(user, -1), url_of.get(items[item], -1))] = stars
    problems = []
    stars_sent: dict[tuple[int, int], set[int]] = defaultdict(set)
    for rating in possible:
        stars_sent[(rating.user, rating.url)].add(rating.stars)
    missing = {(r.user, r.url) for r in certain} - set(stored)
    if missing:
        problems.append(f"{len(missing)} confirmed (user, url) pairs have no stored rating")
    if wrong := sum(1 for pair, stars in stored.items() if stars not in stars_sent.get(pair, ())):
        problems.append(f"{wrong} stored ratings hold stars never sent for their (user, url) pair")
    events = b.sql(url, "SELECT count(*) FROM events WHERE kind = 'rating'")[0][0]
    if not sent.accepted <= events <= sent.sent:
        problems.append(f"{events} rating events for {sent.accepted} confirmed and {sent.sent} sent requests")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    common_options(parser, duration=8.0, rounds=2)
    parser.add_argument("--requests", type=int, default=24_000, help="distinct requests in the workload")
    parser.add_argument("--seed", type=int, default=20261102)
    args = parser.parse_args(argv)
    target = b.Target(args.learnloop_python)
    workload = Workload(args.seed, args.requests)
    with b.workspace("bench-inbound-", args.keep) as (workdir, cleanups):
        try:
            database = b.make_database(args.database_url, workdir, "bench_inbound")
            cleanups.append(lambda: None if args.keep else database.drop())
            pair = start_pair(target, database, workdir, args)
            cleanups.extend(server.stop for server in [*pair.servers.values(), *filter(None, [pair.worker])])
            # every confirmation says "... rated <page> **4/5** ..."
            markers = {"bare": b'"app":"bench-bare"', "learnloop": b"/5**"}
            results, sent = measure(pair, lambda _name, first, n: workload.batch(first, n), markers, args, workdir)
            for process in [pair.worker, *pair.servers.values()]:
                if process is not None:
                    process.stop()
        except (RuntimeError, OSError) as exc:
            b.log(f"could not run: {exc}")
            return 2
        problems = check_ratings(workload, sent["learnloop"], database.url)
        summary = summarise(results)
        return report(summary, sent, problems, args, target, database)


def report(summary: dict[str, Any], sent: dict[str, Sent], problems: list[str], args: argparse.Namespace,
           target: b.Target, database: b.Database, *, title: str = "inbound (/learn rate)", unit: str = "req",
           target_ratio: float = TARGET_RATIO, p99_target: bool = True) -> int:
    """Print the servers' table, the ratio and p99 against their targets, and the correctness check."""
    ratio = summary["learnloop"]["rps"] / max(summary["bare"]["rps"], 1e-9)
    p99 = summary["learnloop"]["open"]["p99_ms"]
    refused = {name: s.answers - s.accepted for name, s in sent.items()}
    if any(refused.values()):
        problems.append(f"answers that were not an acknowledgement: {refused}")
    checks = {"throughput_ratio": ratio >= target_ratio}
    if p99_target:
        checks["p99_at_200"] = args.rate == TARGET_RATE and p99 is not None and p99 < TARGET_P99_MS
    if args.json:
        print(json.dumps({"benchmark": title, "revision": target.revision(), "database": database.kind,
                          "servers": summary, "ratio": round(ratio, 3), "checks": checks, "problems": problems},
                         indent=2))
    else:
        print(f"\nlearnloop {title} at {target.revision()}, {database.kind}, {args.workers} gunicorn workers each; "
              f"closed loop: wrk, {args.concurrency} connections x {args.duration:g} s x {args.rounds} rounds; "
              f"open loop {args.rate:g}/s" + ("; `learnloop worker` beside learnloop" if args.worker else ""))
        print(servers_table(summary, args.rate, unit))
        print(f"throughput ratio learnloop/bare: {ratio:.2f} (target >= {target_ratio}) "
              f"{'PASS' if checks['throughput_ratio'] else 'FAIL'}")
        print(f"learnloop p50/p99 at {args.rate:g}/s: {summary['learnloop']['open']['p50_ms']}/{p99} ms"
              + (f" (target p99 < {TARGET_P99_MS:g} ms at {TARGET_RATE:g}/s) "
                 f"{'PASS' if checks['p99_at_200'] else 'FAIL'}" if p99_target else ""))
        print(f"correctness: {'PASS' if not problems else 'FAIL'} ({len(sent['learnloop'].certain)} requests "
              f"acknowledged)" + "".join(f"\n  problem: {p}" for p in problems))
    if problems:
        return 1
    return 3 if args.strict and not all(checks.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
