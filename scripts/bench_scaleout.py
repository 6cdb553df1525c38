#!/usr/bin/env python3
"""Scale-out benchmark (issue 14): 1, 2 and 3 `learnloop worker` processes on one PostgreSQL database fanning out
one prompt to every member (10,000) and 1,000 shared links against the Mattermost stand-in; then again with 2
and 3 workers, one of them killed (SIGKILL) mid-run. See docs/performance.md for the method.

    .venv/bin/python scripts/bench_scaleout.py --small            # 300 members and 100 links: a quick check
    .venv/bin/python scripts/bench_scaleout.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python scripts/bench_scaleout.py --learnloop-python /work/baseline/.venv/bin/python

Prints, per run: workers, whether one was killed, the time from the workers' start to the last message sent,
messages per second, and per kind (prompts, shared links) how many were lost and duplicated at the stand-in
(both must be 0). The database defaults to LEARNLOOP_TEST_DATABASE_URL. Exit status: 0 when it ran, 1 when a
message was lost or duplicated, 2 when it could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bench_fanout as fanout
import benchlib as b

RUNS = [(1, False), (2, False), (3, False), (2, True), (3, True)]  # (workers, one killed mid-run)


def claims(database: b.Database) -> Counter[str]:
    rows = b.sql(database.url, "SELECT claimed_by, count(*) FROM outbox WHERE status = 'pending' "
                               "AND claimed_by IS NOT NULL GROUP BY claimed_by")
    return Counter({str(owner): int(n) for owner, n in rows})


def kill_one(database: b.Database, workers: list[b.Proc]) -> int | None:
    """SIGKILL the worker holding the most claimed messages (its calls in flight); its pid. Before claims named
    their worker (baseline checkouts) there is no telling: the first worker is killed."""
    ours = [worker.pid for worker in workers if worker.alive()]
    try:
        owners = [int(owner.split(":")[1]) for owner, _ in claims(database).most_common()]
    except Exception:  # noqa: BLE001  (no claimed_by column)
        owners = ours[:1]
    for pid in owners:
        if pid in ours:
            os.kill(pid, signal.SIGKILL)
            return pid
    return None


def last_message_at(database: b.Database) -> float | None:
    value = b.sql(database.url, "SELECT max(sent_at) FROM outbox WHERE status = 'sent'")[0][0]
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return None if value is None else (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def one_run(args: argparse.Namespace, target: b.Target, standin: b.Proc, world: fanout.World, workdir: Path,
            workers_count: int, kill: bool) -> dict[str, Any]:
    """A fresh schema, the prompt and the shares queued, then `workers_count` workers until all is sent."""
    standin_url = f"http://{b.HOST}:{standin.port}"
    b.http_json(standin_url + "/_reset", {})
    home = workdir / f"run-{workers_count}{'-kill' if kill else ''}"
    database = b.make_database(args.database_url, home, "bench_scaleout")
    try:
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
        finished = last_message_at(database)
        seconds = (finished - started) if finished and counts.get("o_sent", 0) >= total else None
        # posts from before the outbox marker (baseline checkouts) cannot be told apart: no count for them
        unmarked = stats["posts"]["other"] > 0 and not stats["distinct"]["outbox"]
        return {"workers": workers_count, "killed": killed, "seconds": None if seconds is None else round(seconds, 1),
                "messages_per_s": round(total / seconds, 1) if seconds else None,
                "lost": {"prompts": prompts - stats["distinct"]["prompt"],
                         "shares": None if unmarked else args.shares - stats["distinct"]["outbox"]},
                "duplicated": {"prompts": stats["duplicates"]["prompt"] + stats["people_prompted_twice"],
                               "shares": None if unmarked else stats["duplicates"]["outbox"]},
                "deduplicated_by_pending_post_id": stats["deduplicated_by_pending_post_id"],
                "looked_for_posts": stats["requests"].get("GET /channels/{id}/posts", 0)}
    finally:
        if not args.keep:
            database.drop()


def report(results: list[dict[str, Any]], args: argparse.Namespace, target: b.Target, members: int) -> int:
    bad = any(n for r in results for n in [*r["lost"].values(), *r["duplicated"].values()] if n is not None)
    if args.json:
        print(json.dumps({"revision": target.revision(), "members": members, "shares": args.shares, "runs": results},
                         indent=2))
    else:
        print(f"\nlearnloop scale-out at {target.revision()}: {members} prompts and {args.shares} shared links per "
              f"run, PostgreSQL, stand-in answering in {args.latency_ms:g} ms, the outbox lease as deployed")
        rows = [[r["workers"], "yes" if r["killed"] else "", r["seconds"], r["messages_per_s"],
                 f"{r['lost']['prompts']}/{r['duplicated']['prompts']}",
                 "unmarked" if r["lost"]["shares"] is None else f"{r['lost']['shares']}/{r['duplicated']['shares']}",
                 r["looked_for_posts"]] for r in results]
        print(b.table(["workers", "one killed", "time s", "messages/s", "prompts lost/dup", "shares lost/dup",
                       "posts looked for"], rows))
        print(f"lost and duplicated: {'0 in every run: PASS' if not bad else 'FAIL'}")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    b.add_common_options(parser)
    parser.set_defaults(database_url=os.environ.get("LEARNLOOP_TEST_DATABASE_URL"))
    parser.add_argument("--small", action="store_true", help="300 members and 100 shared links: a quick check")
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--shares", type=int, default=1_000)
    parser.add_argument("--latency-ms", type=float, default=5.0, help="the stand-in's answer time")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up on a run after this long")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.small:
        args.members, args.shares = 300, 100
    if not args.database_url or args.database_url.startswith("sqlite"):
        parser.error("needs PostgreSQL: --database-url or LEARNLOOP_TEST_DATABASE_URL")
    target = b.Target(args.learnloop_python)
    with b.workspace("bench-scaleout-", args.keep) as (workdir, cleanups):
        try:
            standin, world = fanout.start_standin(workdir / "standin", args.members, args.latency_ms, args.seed,
                                                  budget=len(RUNS) * (args.timeout + 120))
            cleanups.append(standin.stop)
            results = []
            for workers, kill in RUNS:
                b.log(f"{workers} worker(s){', one killed mid-run' if kill else ''}")
                results.append(one_run(args, target, standin, world, workdir, workers, kill))
                b.log(f"  {results[-1]}")
        except (RuntimeError, OSError) as exc:
            b.log(f"could not run: {exc}")
            return 2
    return report(results, args, target, len(world.people()))


if __name__ == "__main__":
    sys.exit(main())
