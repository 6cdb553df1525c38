#!/usr/bin/env python3
"""Dashboard benchmark (issue 5): a community with 1,000,000 ratings, 200,000 reflections and 500,000 chat events
over two years (about 1.88 M events), against the same community with 100,000 events. See docs/performance.md
for the method.

    .venv/bin/python scripts/bench_dashboard.py                 # SQLite
    .venv/bin/python scripts/bench_dashboard.py --scale 0.05    # a quick run (a twentieth of every volume)

For each dataset it prints the events written, the catch-up fold's time and peak RSS (`fold_all`), the worker's
first pass after it (`keep_current`) and a week end's scan of every rated page when nothing moved, the
dashboard's build time p50/p95 for 4 weeks, 12 weeks and two years (`dashboard.build`), the fold of 5,000 more
events, and whether every event was folded once (exit status 1 if not); then the targets: 4-week p95 < 150 ms,
full/small p95 <= 1.5.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import accumulate
from pathlib import Path
from typing import Any

import benchlib as b

COMMUNITY, CHANNEL, MEMBERS = 1, "benchdashboardchannel00001", 600
WEEK_US, HOUR_US = 7 * 86_400_000_000, 3_600_000_000
FULL = {"ratings": 1_000_000, "reflections": 200_000, "chat": 500_000, "items": 8000, "weeks": 104}
SMALL_EVENTS = 100_000
TARGET_P95_MS, TARGET_RATIO = 150.0, 1.5

FOLD = r'''
import inspect, json, resource, time
from datetime import datetime, timezone
from learnloop.bootstrap import build_runtime
from learnloop.services import rollups
from learnloop.services.rollups import fold_all
runtime = build_runtime()
key, k = runtime.signing_key, runtime.settings.min_group_size
head = (runtime.uow, key, k) if "k" in inspect.signature(fold_all).parameters else (runtime.uow, key)
started = time.perf_counter()
folded = fold_all(*head, datetime.now(timezone.utc), reader=runtime.reader)
seconds = time.perf_counter() - started
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
first = scan = None
if hasattr(rollups, "release_every_score"):  # scores move at a week's end: the pass scans every rated item
    with runtime.uow() as uow:
        started = time.perf_counter()
        rollups.keep_current(uow, k, datetime.now(timezone.utc))
        first = time.perf_counter() - started
    with runtime.uow() as uow:
        started = time.perf_counter()
        rollups.release_every_score(uow, k, datetime.now(timezone.utc))
        uow.commit()
        scan = time.perf_counter() - started
print(json.dumps({"events": folded, "seconds": seconds, "rss_mb": rss_mb, "first_pass_s": first,
                  "week_end_scan_s": scan}))
'''

PAGES = r'''
import json, sys, time
from datetime import datetime, timedelta, timezone
from learnloop.bootstrap import build_runtime
from learnloop.services import dashboard
runtime, spec = build_runtime(), json.loads(sys.argv[1])
today, k = datetime.now(timezone.utc).date(), runtime.settings.min_group_size
periods = {"4 weeks": dashboard.Period.last_weeks(today, 4), "12 weeks": dashboard.Period.last_weeks(today, 12),
           "2 years": dashboard.Period.whole_weeks(today - timedelta(days=728), today)
           if hasattr(dashboard.Period, "whole_weeks") else dashboard.Period.last_weeks(today, 104)}
times = {name: [] for name in periods}
for n in range(spec["warmup"] + spec["loads"]):
    for name, period in periods.items():
        with runtime.reader() as uow:
            started = time.perf_counter()
            dashboard.build(uow, spec["community"], period, k)
            took = (time.perf_counter() - started) * 1000
        if n >= spec["warmup"]:
            times[name].append(took)
print(json.dumps(times))
'''


@dataclass
class Data:
    """Rows per table, as tuples in column order; times are µs since the epoch."""

    items: list[tuple[Any, ...]] = field(default_factory=list)
    ratings: list[tuple[Any, ...]] = field(default_factory=list)
    reflections: list[tuple[Any, ...]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)  # (at_us, kind, actor, item_id, data)


def generate(volumes: dict[str, int], growth: bool, seed: int, end_us: int) -> tuple[Data, list[str]]:
    rng = random.Random(seed)
    start, weeks = end_us - volumes["weeks"] * WEEK_US, volumes["weeks"]
    weights = list(accumulate(0.3 + 0.7 * w / max(1, weeks - 1) if growth else 1.0 for w in range(weeks)))
    members = [f"m{n:025d}" for n in range(MEMBERS)]

    def when() -> int:  # weeks weighted by the community's growth, weekdays and office hours mostly
        week = rng.choices(range(weeks), cum_weights=weights)[0]
        day = rng.choices(range(7), (5, 5, 5, 5, 4, 1, 1))[0]
        return min(start + week * WEEK_US + day * 24 * HOUR_US + int((8 + rng.random() * 10) * HOUR_US), end_us - 1)

    def someone() -> str:  # a few people do most
        return members[min(MEMBERS - 1, int(rng.paretovariate(0.9)) - 1)]

    data = Data()
    for n in range(1, volumes["items"] + 1):
        wiki = rng.random() < 0.6
        created = when()
        url = f"https://wiki.example.com/wiki/Page_{n}" if wiki else f"https://blog.example.org/post-{n}"
        data.items.append([n, url, "wiki_page" if wiki else "link", f"Page {n}", someone(), created])
        data.events.append((created, "wiki_page_created" if wiki else "link_shared", someone(), n, {}))
    pairs: set[tuple[int, str]] = set()
    while len(data.ratings) < volumes["ratings"]:
        item = min(len(data.items), int(rng.paretovariate(0.6)))
        pair = (item, someone() if rng.random() < 0.7 else rng.choice(members))
        if pair in pairs:
            continue
        pairs.add(pair)
        stars, at = rng.choices((1, 2, 3, 4, 5), (1, 1, 3, 5, 4))[0], max(when(), data.items[item - 1][5])
        data.ratings.append((len(data.ratings) + 1, item, pair[1], stars, at))
        data.events.append((at, "rating", pair[1], item, {"stars": stars}))
    for n in range(1, volumes["reflections"] + 1):
        author, at = someone(), when()
        visibility = rng.choices(("private", "community", "wiki"), (80, 17, 3))[0]
        answered = rng.random() < 0.4
        data.reflections.append((n, author, f"sealed-{n}", visibility, at))
        if answered:
            data.events.append((at - HOUR_US, "prompt_sent", author, None, {}))
        elif rng.random() < 0.3:
            data.events.append((at, "prompt_sent", rng.choice(members), None, {}))
        data.events.append((at, "reflection", author, None, {"visibility": visibility, "answered_prompt": answered}))
        if visibility != "private":
            data.events.append((at, "reflection_shared" if visibility == "community" else "reflection_published",
                                author, None, {}))
    for _ in range(volumes["chat"]):
        kind = rng.choices(("chat_post", "reply", "link_shared", "mention"), (60, 25, 10, 5))[0]
        data.events.append((when(), kind, someone(), None, {"root_id": f"r{rng.randrange(50_000)}"}
                            if kind == "reply" else {}))
    data.events.sort(key=lambda event: event[0])
    return data, members


def stamp(value: int, suffix: str) -> str:
    """µs since the epoch as the text each backend stores (SQLAlchemy's SQLite format; timestamptz)."""
    return datetime.fromtimestamp(value / 1e6, UTC).strftime("%Y-%m-%d %H:%M:%S.%f") + suffix


def table_rows(data: Data, members: list[str], suffix: str, first_event: int) -> dict[str, tuple[str, Any]]:
    """Per table: its columns and an iterator of rows, with explicit ids."""
    created = stamp(data.events[0][0], suffix)
    recorded = stamp(int(time.time() * 1e6) - 5 * 60_000_000, suffix)  # settled: older than the fold's 30 s
    return {
        "communities": ("id, channel_id, name, created_at", [(COMMUNITY, CHANNEL, "Data guild", created)]),
        "members": ("user_id, username, timezone, prompts_enabled, nudges, updated_at",
                    ((m, f"member{n}", "Europe/Berlin", True, True, created) for n, m in enumerate(members))),
        "content_items": ("id, url, kind, title, community_id, first_shared_by, created_at",
                          ((i[0], i[1], i[2], i[3], COMMUNITY, i[4], stamp(i[5], suffix)) for i in data.items)),
        "reflections": ("id, user_id, community_id, body, visibility, created_at, updated_at",
                        ((r[0], r[1], COMMUNITY, r[2], r[3], stamp(r[4], suffix), stamp(r[4], suffix))
                         for r in data.reflections)),
        "ratings": ("id, item_id, user_id, stars, community_id, created_at, updated_at",
                    ((r[0], r[1], r[2], r[3], COMMUNITY, stamp(r[4], suffix), stamp(r[4], suffix))
                     for r in data.ratings)),
        "events": ("id, kind, occurred_at, recorded_at, community_id, actor_id, item_id, data",
                   ((n, e[1], stamp(e[0], suffix), recorded, COMMUNITY, e[2], e[3], json.dumps(e[4]))
                    for n, e in enumerate(data.events, start=first_event))),
    }


def insert(database: b.Database, tables: dict[str, tuple[str, Any]]) -> float:
    """Executemany on SQLite, COPY on PostgreSQL (never the services one by one); the seconds it took."""
    started = time.perf_counter()
    if database.schema is None:
        connection = sqlite3.connect(database.url.removeprefix("sqlite:///"), isolation_level=None, timeout=30)
        connection.execute("BEGIN")
        for table, (columns, rows) in tables.items():
            marks = ", ".join("?" * len(columns.split(",")))
            connection.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
        connection.execute("COMMIT")
        connection.close()
        return time.perf_counter() - started
    import psycopg

    with psycopg.connect(database.url.replace("postgresql+psycopg", "postgresql")) as connection, \
            connection.cursor() as cursor:
        for table, (columns, rows) in tables.items():
            with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            if table != "members":
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                               f"(SELECT max(id) FROM {table}))")
        cursor.execute("ANALYZE")
    return time.perf_counter() - started


def load(database: b.Database, data: Data, members: list[str], first_event: int = 1,
         only: tuple[str, ...] = ()) -> float:
    """`data` (the tables in `only`, or all) straight into the tables; the seconds it took."""
    tables = table_rows(data, members, "" if database.schema is None else "+00", first_event)
    return insert(database, {name: rows for name, rows in tables.items() if name in only or not only})


def one_dataset(args: argparse.Namespace, target: b.Target, workdir: Path, cleanups: b.Cleanups, name: str,
                volumes: dict[str, int], growth: bool) -> dict[str, Any]:
    home = workdir / name
    database = b.make_database(args, workdir, f"bench_dash_{name}", cleanups)
    env = b.learnloop_env(home, database.url)
    target.migrate(env)
    data, members = generate(volumes, growth, args.seed, int((time.time() - 120) * 1e6))
    b.log(f"{name}: {len(data.events)} events generated")
    loaded = load(database, data, members)
    fold = target.run(FOLD, env)
    b.log(f"{name}: folded {fold['events']} events in {fold['seconds']:.1f} s")
    folded_ratings = b.sql(database.url, "SELECT coalesce(sum(value), 0) FROM weekly_counts WHERE metric = 'ratings'")
    pages = target.run(PAGES, env, {"community": COMMUNITY, "warmup": 5, "loads": args.loads})
    extra = Data(events=[(int((time.time() - 120) * 1e6), "chat_post", members[n % MEMBERS], None, {})
                         for n in range(5000)])
    load(database, extra, [], first_event=len(data.events) + 1, only=("events",))
    incremental = target.run(FOLD, env)
    ratings = sum(1 for e in data.events if e[1] == "rating")
    return {"events": len(data.events), "load_s": round(loaded, 1), "fold_s": round(fold["seconds"], 1),
            "fold_rss_mb": round(fold["rss_mb"]), "incremental_fold_s": round(incremental["seconds"], 2),
            **{name: None if fold.get(name) is None else round(fold[name], 2)
               for name in ("first_pass_s", "week_end_scan_s")},
            "folded_once": fold["events"] == len(data.events) and int(folded_ratings[0][0]) == ratings
            and incremental["events"] == 5000,
            "pages": {period: {"p50_ms": round(b.percentile(ms, 50) or 0, 1),
                               "p95_ms": round(b.percentile(ms, 95) or 0, 1)} for period, ms in pages.items()}}


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace, target: b.Target) -> int:
    full, small = results["full"], results["small"]
    p95 = full["pages"]["4 weeks"]["p95_ms"]
    ratio = p95 / max(small["pages"]["4 weeks"]["p95_ms"], 1e-9)
    print(f"\nlearnloop dashboard at {target.revision()}, {'PostgreSQL' if args.database_url else 'SQLite'}, "
          f"scale {args.scale:g}, {args.loads} builds per period")
    periods = list(full["pages"])
    rows = [[name, r["events"], r["load_s"], r["fold_s"], r["fold_rss_mb"], r["incremental_fold_s"],
             *("–" if r.get(name) is None else r[name] for name in ("first_pass_s", "week_end_scan_s")),
             *(f"{r['pages'][p]['p50_ms']}/{r['pages'][p]['p95_ms']}" for p in periods),
             "yes" if r["folded_once"] else "NO"] for name, r in results.items()]
    print(b.table(["dataset", "events", "load s", "fold s", "fold RSS MB", "+5000 fold s", "first pass s",
                   "week-end scan s", *(f"{p} p50/p95 ms" for p in periods), "folded once"], rows))
    print(f"4-week p95 at full size: {p95} ms (target < {TARGET_P95_MS:g}) {b.verdict(p95 < TARGET_P95_MS)}")
    print(f"full/small 4-week p95: {ratio:.2f} (target <= {TARGET_RATIO}) {b.verdict(ratio <= TARGET_RATIO)}")
    return 0 if all(r["folded_once"] for r in results.values()) else 1


def run(args: argparse.Namespace, target: b.Target, workdir: Path, cleanups: b.Cleanups) -> dict[str, Any]:
    full = {k: max(1, round(v * args.scale)) if k != "weeks" else v for k, v in FULL.items()}
    events = full["ratings"] + 1.78 * full["reflections"] + full["chat"] + full["items"]
    share = min(1.0, SMALL_EVENTS * args.scale / events)
    # the same community with a short history: the full one's recent weekly activity, for the last few weeks
    small = {k: max(1, round(v * share)) for k, v in full.items() if k != "weeks"}
    small["weeks"], small["items"] = max(1, math.ceil(share * FULL["weeks"] * 0.65)), max(200, full["items"] // 4)
    return {"small": one_dataset(args, target, workdir, cleanups, "small", small, growth=False),
            "full": one_dataset(args, target, workdir, cleanups, "full", full, growth=True)}


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", type=float, default=1.0, help="a share of every volume (0.05 for a quick run)")
    parser.add_argument("--loads", type=int, default=50, help="dashboard builds per period and dataset")
    parser.add_argument("--seed", type=int, default=5)


if __name__ == "__main__":
    sys.exit(b.main(__doc__, options, run, report))
