#!/usr/bin/env python3
"""Scale-out benchmark (issue 14): 1, 2 and 3 `learnloop worker` processes on one PostgreSQL database fanning out
one prompt to every member (10,000) and 1,000 shared links against the Mattermost stand-in; then again with 2
and 3 workers, one of them killed (SIGKILL) mid-run. See docs/performance.md for the method.

    .venv/bin/python scripts/bench_scaleout.py --small   # 300 members and 100 links: a quick check

Prints, per run: workers, whether one was killed, the time from the workers' start to the last message sent,
messages per second, and per kind (prompts, shared links) how many were lost and duplicated at the stand-in
(both must be 0; exit status 1 otherwise). The database defaults to LEARNLOOP_TEST_DATABASE_URL.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import bench_fanout as fanout
import benchlib as b

RUNS = [(1, False), (2, False), (3, False), (2, True), (3, True)]  # (workers, one killed mid-run)


def kill_one(database: b.Database, workers: list[b.Proc]) -> int | None:
    """SIGKILL the worker holding the most claimed messages (its calls in flight); its pid. Before claims named
    their worker (baseline checkouts) there is no telling: the first worker is killed."""
    ours = [worker.pid for worker in workers if worker.alive()]
    try:
        owners = [int(str(owner).split(":")[1]) for (owner,) in b.sql(
            database.url, "SELECT claimed_by FROM outbox WHERE status = 'pending' AND claimed_by IS NOT NULL "
                          "GROUP BY claimed_by ORDER BY count(*) DESC")]
    except Exception:  # noqa: BLE001  (no claimed_by column)
        owners = ours[:1]
    for pid in (pid for pid in owners if pid in ours):
        os.kill(pid, signal.SIGKILL)
        return pid
    return None


def one_run(args: argparse.Namespace, target: b.Target, standin: b.Proc, world: fanout.World, workdir: Path,
            cleanups: b.Cleanups, workers_count: int, kill: bool) -> dict[str, Any]:
    """A fresh schema, the prompt and the shares queued, then `workers_count` workers until all is sent."""
    standin_url = f"http://{b.HOST}:{standin.port}"
    b.http_json(standin_url + "/_reset", {})
    home = workdir / f"run-{workers_count}{'-kill' if kill else ''}"
    database = b.make_database(args, home, "bench_scaleout", cleanups)
    env = fanout.worker_env(home, database, standin, world)
    fanout.set_up(target, env, world, shares=args.shares)
    prompts = len(world.people())
    total = prompts + args.shares
    workers = [b.Proc(f"worker-{n}", target.command("worker"), env, home) for n in range(workers_count)]
    started = time.time()
    for worker in workers:
        worker.start()
    killed = None
    try:
        deadline = time.monotonic() + args.timeout
        while time.monotonic() < deadline:
            time.sleep(0.25)
            counts = fanout.progress(database)
            if kill and killed is None and counts.get("o_sent", 0) >= total * 0.3:
                killed = kill_one(database, workers)
            if counts.get("d_sent", 0) >= prompts and counts.get("o_sent", 0) >= total:
                break
    finally:
        for worker in workers:
            worker.stop()
    stats = b.http_json(standin_url + "/_stats")
    finished = fanout.last_sent_at(database, "outbox")
    seconds = (finished.timestamp() - started) if finished and counts.get("o_sent", 0) >= total else None
    # posts from before the outbox marker (baseline checkouts) cannot be told apart: no count for them
    unmarked = stats["posts"]["other"] > 0 and not stats["distinct"]["outbox"]
    return {"workers": workers_count, "prompts": prompts, "killed": killed,
            "seconds": None if seconds is None else round(seconds, 1),
            "messages_per_s": round(total / seconds, 1) if seconds else None,
            "lost": {"prompts": prompts - stats["distinct"]["prompt"],
                     "shares": None if unmarked else args.shares - stats["distinct"]["outbox"]},
            "duplicated": {"prompts": stats["duplicates"]["prompt"] + stats["people_prompted_twice"],
                           "shares": None if unmarked else stats["duplicates"]["outbox"]},
            "looked_for_posts": stats["requests"].get("GET /channels/{id}/posts", 0)}


def report(results: list[dict[str, Any]], args: argparse.Namespace, target: b.Target) -> int:
    bad = any(n for r in results for n in [*r["lost"].values(), *r["duplicated"].values()] if n is not None)
    print(f"\nlearnloop scale-out at {target.revision()}: {results[0]['prompts']} prompts and {args.shares} shared "
          f"links per run, PostgreSQL, stand-in answering in {args.latency_ms:g} ms, the outbox lease as deployed")
    rows = [[r["workers"], "yes" if r["killed"] else "", r["seconds"], r["messages_per_s"],
             f"{r['lost']['prompts']}/{r['duplicated']['prompts']}",
             "unmarked" if r["lost"]["shares"] is None else f"{r['lost']['shares']}/{r['duplicated']['shares']}",
             r["looked_for_posts"]] for r in results]
    print(b.table(["workers", "one killed", "time s", "messages/s", "prompts lost/dup", "shares lost/dup",
                   "posts looked for"], rows))
    print(f"lost and duplicated: {'0 in every run: PASS' if not bad else 'FAIL'}")
    return 1 if bad else 0


def run(args: argparse.Namespace, target: b.Target, workdir: Path, cleanups: b.Cleanups) -> list[dict[str, Any]]:
    if args.small:
        args.members, args.shares = 300, 100
    if not args.database_url or args.database_url.startswith("sqlite"):
        raise RuntimeError("needs PostgreSQL: --database-url or LEARNLOOP_TEST_DATABASE_URL")
    standin, world = fanout.start_standin(workdir / "standin", args.members, args.latency_ms, args.seed,
                                          budget=len(RUNS) * (args.timeout + 120))
    cleanups.append(standin.stop)
    results = []
    for workers, kill in RUNS:
        b.log(f"{workers} worker(s){', one killed mid-run' if kill else ''}")
        results.append(one_run(args, target, standin, world, workdir, cleanups, workers, kill))
        b.log(f"  {results[-1]}")
    return results


def options(parser: argparse.ArgumentParser) -> None:
    parser.set_defaults(database_url=os.environ.get("LEARNLOOP_TEST_DATABASE_URL"))
    parser.add_argument("--small", action="store_true", help="300 members and 100 shared links: a quick check")
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--shares", type=int, default=1_000)
    parser.add_argument("--latency-ms", type=float, default=5.0, help="the stand-in's answer time")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up on a run after this long")
    parser.add_argument("--seed", type=int, default=7)


if __name__ == "__main__":
    sys.exit(b.main(__doc__, options, run, report))
