#!/usr/bin/env python3
"""Fan-out benchmark (issue 3): one reflection prompt to every member of a channel through `learnloop worker`,
against the Mattermost stand-in (tests/standins/mattermost_http.py), while `learnloop serve` answers slash
commands at a fixed rate. See docs/performance.md for the method.

    .venv/bin/python scripts/bench_fanout.py                  # 10,000 members, SQLite
    .venv/bin/python scripts/bench_fanout.py --members 1000   # a quick run

Prints the fan-out time (the worker's start until the last delivery's sent_at), prompts per second, lost and
duplicated prompts (the stand-in's count per delivery id, and the database), the web's p50/p99 before and during
the fan-out, and the CPU each process used; exit status 1 when a prompt was lost or posted twice.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import bench_inbound as inbound
import benchlib as b

sys.path.insert(0, str(b.ROOT))
from tests.standins.mattermost_http import World

SCHEDULE_ZONE = "Europe/Berlin"  # the community's zone, for members who set none
TARGET_SECONDS, TARGET_P99_MS = 60.0, 50.0

SETUP = r'''
"""Migrate; one community with a one-off prompt due for everybody; `shares` links shared through the web app."""
import json, sys
from datetime import date, datetime, timezone

spec = json.loads(sys.argv[1])
from learnloop.bootstrap import build_runtime
from learnloop.services.communities import community_for_channel
from learnloop.storage.migrate import upgrade

runtime = build_runtime()
upgrade(runtime.engine)
now = datetime.now(timezone.utc)
fields = dict(questions=["What did you learn this week?", "What will you try next?"], scale_question=None,
              repeat="FREQ=DAILY;COUNT=1", local_time=spec["local_time"], window="2d", default_visibility="private",
              label="benchmark")
with runtime.uow() as uow:
    community = community_for_channel(uow, runtime.settings, channel_id=spec["channel_id"], team_id=spec["team_id"],
                                      channel_name="learning-guild", now=now)
    common = dict(community_id=community, created_by=spec["people"][0][0], now=now,
                  anchor=date.fromisoformat(spec["local_date"]))
    try:
        from learnloop.services.prompts.setup import PromptSetup, create
        create(uow, setup=PromptSetup(**fields, timezone=spec["timezone"]), **common)
    except ImportError:  # before services/prompts (baseline checkouts)
        from learnloop.services.prompt_schedules import PromptSetup, create
        create(uow, timezone=spec["timezone"], setup=PromptSetup(**fields), **common)
    uow.commit()
if spec["shares"]:
    try:
        from learnloop.wiring import create_app
    except ImportError:
        from learnloop.web.app import create_app
    client = create_app(runtime).test_client()
    for n in range(spec["shares"]):
        user_id, name = spec["people"][n % len(spec["people"])]
        form = {"channel_id": spec["channel_id"], "channel_name": "learning-guild", "command": "/learn",
                "team_id": spec["team_id"], "team_domain": "acme", "token": spec["token"], "user_id": user_id,
                "user_name": name, "trigger_id": f"share{n:08d}", "root_id": "",
                "text": f"share https://wiki.acme.example/wiki/Page_{n} the checklist at the end"}
        answer = client.post("/mattermost/command", data=form)
        assert answer.status_code == 200 and b"Thanks for sharing" in answer.data, answer.data[:300]
print(json.dumps({"community_id": community}))
'''


def due_everywhere(zones: set[str], lead: timedelta = timedelta(seconds=60)) -> tuple[str, str]:
    """(local date, HH:MM) at which the westernmost zone fell due `lead` ago: every zone east of it fell due
    earlier (at most 26 h earlier), so with a 2-day answer window every member is due and none has closed."""
    now = datetime.now(UTC)
    west = min(zones | {SCHEDULE_ZONE, "UTC"}, key=lambda zone: now.astimezone(ZoneInfo(zone)).utcoffset())
    local = (now - lead).astimezone(ZoneInfo(west))
    return local.date().isoformat(), local.strftime("%H:%M")


def start_standin(home: Path, members: int, latency_ms: float, seed: int, budget: float) -> tuple[b.Proc, World]:
    """The stand-in in its own process (so its CPU is its own), and this process's copy of its world."""
    port, ready = b.free_port(), home / "standin.json"
    argv = [sys.executable, "-m", "tests.standins.mattermost_http", "--port", str(port), "--members", str(members),
            "--latency-ms", str(latency_ms), "--seed", str(seed), "--max-seconds", str(budget),
            "--ready-file", str(ready)]
    proc = b.Proc("standin", argv, {"PYTHONPATH": str(b.ROOT), "PATH": "/usr/bin:/bin"}, home, port).start()
    proc.wait_http("/_stats", timeout=120)
    world = World.synthetic(members, seed=seed)
    if json.loads(ready.read_text())["channel_id"] != world.channel_id:
        raise RuntimeError("the stand-in's world differs from this process's copy")
    return proc, world


def worker_env(home: Path, database: b.Database, standin: b.Proc, world: World, **extra: str) -> dict[str, str]:
    return b.learnloop_env(home, database.url, LEARNLOOP_MATTERMOST_URL=f"http://{b.HOST}:{standin.port}",
                           LEARNLOOP_MATTERMOST_BOT_TOKEN=world.token, LEARNLOOP_MATTERMOST_BOT_USER_ID=world.bot["id"],
                           LEARNLOOP_MATTERMOST_COMMAND_TOKENS=inbound.COMMAND_TOKEN, **extra)


def set_up(target: b.Target, env: dict[str, str], world: World, shares: int = 0) -> None:
    local_date, local_time = due_everywhere(world.zones())
    target.run(SETUP, env, {"channel_id": world.channel_id, "team_id": world.team_id, "timezone": SCHEDULE_ZONE,
                            "local_date": local_date, "local_time": local_time, "shares": shares,
                            "token": inbound.COMMAND_TOKEN,
                            "people": [(p["id"], p["username"]) for p in world.people()[:500]]})


def progress(database: b.Database) -> dict[str, int]:
    """Deliveries and outbox messages by status."""
    counts: dict[str, int] = {}
    for prefix, table in (("d", "deliveries"), ("o", "outbox")):
        rows = b.sql(database.url, f"SELECT status, count(*) FROM {table} GROUP BY status")
        counts.update({f"{prefix}_{status}": int(n) for status, n in rows})
    return counts


def database_duplicates(database: b.Database) -> int:
    """Deliveries twice for one person and run, or two deliveries recorded with one post."""
    twice = b.sql(database.url, "SELECT count(*) FROM (SELECT run_id, user_id FROM deliveries GROUP BY run_id, "
                                "user_id HAVING count(*) > 1) AS d")[0][0]
    posts = b.sql(database.url, "SELECT count(*) FROM (SELECT post_id FROM deliveries WHERE post_id IS NOT NULL "
                                "GROUP BY post_id HAVING count(*) > 1) AS d")[0][0]
    return int(twice) + int(posts)


def last_sent_at(database: b.Database, table: str = "deliveries") -> datetime | None:
    value = b.sql(database.url, f"SELECT max(sent_at) FROM {table} WHERE status = 'sent'")[0][0]
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return None if value is None else (value if value.tzinfo else value.replace(tzinfo=UTC))


def slash_commands(world: World, seed: int, count: int = 2000) -> list[bytes]:
    """`/learn rate <url> <stars>` (three in four) and `/learn prompts` in the community's channel."""
    rng, people = random.Random(seed), world.people()[:300]
    out = []
    for n in range(count):
        user = rng.choice(people)
        text = f"rate https://wiki.acme.example/wiki/Runbook_{int(rng.paretovariate(1.2)) % 400} {rng.randint(3, 5)}" \
            if rng.random() < 0.75 else "prompts"
        out.append(inbound.slash_command({"channel_id": world.channel_id, "channel_name": "learning-guild",
                                          "team_id": world.team_id, "text": text, "trigger_id": f"trigger{n:012d}",
                                          "user_id": user["id"], "user_name": user["username"]}))
    return out


def run(args: argparse.Namespace, target: b.Target, workdir: Path, cleanups: b.Cleanups) -> dict[str, Any]:
    budget = args.warmup + args.baseline + args.timeout + 120
    standin, world = start_standin(workdir / "standin", args.members, args.latency_ms, args.seed, budget)
    cleanups.append(standin.stop)
    database = b.make_database(args, workdir, "bench_fanout", cleanups)
    expected = len(world.people())
    set_up(target, worker_env(workdir / "setup", database, standin, world), world)
    web_port = b.free_port()
    web = b.Proc("web", target.command("serve"), worker_env(
        workdir / "web", database, standin, world, LEARNLOOP_HOST=b.HOST, LEARNLOOP_PORT=str(web_port),
        LEARNLOOP_WEB_WORKERS="2"), workdir / "web", web_port).start()
    cleanups.append(web.stop)
    web.wait_http()
    worker = b.Proc("worker", target.command("worker"), worker_env(workdir / "worker", database, standin, world),
                    workdir / "worker")
    cleanups.append(worker.stop)
    marks: dict[str, float] = {}
    stop = threading.Event()
    watch = b.CpuWatch({"worker": worker.pids, "web": web.pids, "stand-in": standin.pids,
                        "postgresql": database.backend_pids})

    def controller() -> None:
        try:
            time.sleep(args.warmup)
            marks["baseline"] = time.monotonic()
            time.sleep(args.baseline)
            marks["t0"], marks["t0_wall"] = time.monotonic(), time.time()
            worker.start()
            watch.start()
            while time.monotonic() - marks["t0"] < args.timeout and worker.alive():
                time.sleep(0.25)
                counts = progress(database)
                if counts.get("d_sent", 0) + counts.get("d_skipped", 0) >= expected:
                    break
            marks["end"] = time.monotonic()
            watch.stop()
        finally:
            stop.set()

    thread = threading.Thread(target=controller, daemon=True)
    thread.start()
    requests = slash_commands(world, args.seed)
    web_load = asyncio.run(b.open_loop(web_port, lambda i: requests[i % len(requests)], rate=args.rate,
                                       seconds=budget, stop=stop))
    thread.join(timeout=30)
    worker.stop()
    stats = b.http_json(f"http://{b.HOST}:{standin.port}/_stats")
    counts, finished = progress(database), last_sent_at(database)
    fanout_s = (finished.timestamp() - marks["t0_wall"]) if finished and counts.get("d_sent", 0) >= expected else None
    return {
        "database": database.kind, "members": expected, "fanout_s": None if fanout_s is None else round(fanout_s, 1),
        "prompts_per_s": round(counts.get("d_sent", 0) / (fanout_s or (marks["end"] - marks["t0"])), 1),
        "sent": counts.get("d_sent", 0), "lost": expected - stats["distinct"]["prompt"],
        "duplicates_standin": stats["duplicates"]["prompt"] + stats["people_prompted_twice"]
        + stats["prompts_to_non_members"], "duplicates_database": database_duplicates(database),
        "web": {"baseline": web_load.summary(marks["baseline"], marks["t0"]),
                "during": web_load.summary(marks["t0"], marks["end"])},
        "cores": watch.cores(), "machine_busy_pct": round(watch.machine_pct, 1),
    }


def report(result: dict[str, Any], args: argparse.Namespace, target: b.Target) -> int:
    web = result["web"]
    p99 = web["during"]["p99_ms"]
    checks = {"fanout_under_60s": result["fanout_s"] is not None and result["fanout_s"] < TARGET_SECONDS,
              "no_duplicates_or_losses": not (result["lost"] or result["duplicates_standin"]
                                              or result["duplicates_database"]),
              "web_p99_under_50ms": p99 is not None and p99 < TARGET_P99_MS}
    print(f"\nlearnloop fan-out at {target.revision()}: {result['members']} members, {result['database']}, "
          f"stand-in answering in {args.latency_ms:g} ms")
    print(b.table(["fan-out", "value"], [
        ["fan-out time (worker start -> last sent_at)", f"{result['fanout_s']} s"],
        ["prompts per second", result["prompts_per_s"]], ["sent", result["sent"]], ["lost", result["lost"]],
        ["duplicated (stand-in: per delivery id, people twice, non-members)", result["duplicates_standin"]],
        ["duplicated (database: deliveries per person, post ids)", result["duplicates_database"]]]))
    print(b.table([f"web at {args.rate:g} commands/s", "requests", "p50 ms", "p99 ms", "max ms"],
                  [[phase, s["requests"], s["p50_ms"], s["p99_ms"], s["max_ms"]]
                   for phase, s in (("before (no worker)", web["baseline"]), ("during the fan-out", web["during"]))]))
    print("CPU cores during the fan-out: " + ", ".join(f"{k} {v}" for k, v in result["cores"].items())
          + f"; machine busy {result['machine_busy_pct']}%")
    print("targets: " + ", ".join(f"{k} {b.verdict(v)}" for k, v in checks.items()))
    return 0 if checks["no_duplicates_or_losses"] else 1


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=float, default=5.0, help="the stand-in's answer time")
    parser.add_argument("--rate", type=float, default=50.0, help="slash commands per second to the web")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--baseline", type=float, default=10.0, help="seconds of web load before the worker starts")
    parser.add_argument("--timeout", type=float, default=240.0, help="give up on the fan-out after this long")
    parser.add_argument("--seed", type=int, default=7)


if __name__ == "__main__":
    sys.exit(b.main(__doc__, options, run, report))
