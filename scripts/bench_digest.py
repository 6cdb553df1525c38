#!/usr/bin/env python3
"""Network benchmark (issue 18): the weekly digest and the "you might also find useful" suggestions of one
community of 10,000 members with 1,000,000 ratings. See docs/performance.md for the method.

    .venv/bin/python scripts/bench_digest.py                 # SQLite
    .venv/bin/python scripts/bench_digest.py --scale 0.05    # a quick run (a twentieth of the members and ratings)

Prints the time of each step as `learnloop worker` would take it (the rollups' fold, the first co-ratings pass,
the digest, the dashboard's build for the same community as a reference, every member's suggestions planned and
recorded, the co-ratings of 5,000 more ratings), the time per member, the upkeep per rating and the process's
peak RSS; then the targets: digest < 30 s per community, suggestions < 10 ms per member.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

import bench_dashboard as dash
import benchlib as b

FULL = {"members": 10_000, "ratings": 1_000_000, "items": 3_000, "weeks": 12}
TARGET_DIGEST_S, TARGET_MEMBER_MS = 30.0, 10.0
WEEK_US = 7 * 86_400_000_000
MORE = 5000  # ratings added after the first co-ratings pass

MEASURE = r'''
import json, resource, sys, time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo
from learnloop.bootstrap import build_runtime
from learnloop.mattermost.network_messages import digest_post, suggestions_dm
from learnloop.services import dashboard
from learnloop.services.network import digest, suggestions
from learnloop.services.network.weekly import DueDM
from learnloop.services.network.co_ratings import fold_co_ratings
from learnloop.services.prompts.timing import preferences_of
from learnloop.services.rating import Rater, rate_item
from learnloop.services.rollups import fold_all
from sqlalchemy import text
spec = json.loads(sys.argv[1])
runtime = build_runtime()
key, k, url = runtime.signing_key, runtime.settings.min_group_size, runtime.settings.public_url_text
now = datetime.now(timezone.utc)
took = {}

def timed(name, work):
    started = time.perf_counter()
    result = work()
    took[name] = time.perf_counter() - started
    return result

timed("rollups_s", lambda: fold_all(runtime.uow, key, k, now, reader=runtime.reader))
timed("co_ratings_from_table_s", lambda: fold_co_ratings(runtime.uow, key, now, reader=runtime.reader))
with runtime.reader() as uow:
    community = uow.communities.get(spec["community"])
    found = timed("digest_s", lambda: digest.build(uow, community, now - timedelta(days=7), now, k, ZoneInfo("UTC")))
    post = digest_post(found, k, url, key)
    period = dashboard.Period.last_weeks(now.date(), 4)
    timed("dashboard_reference_s", lambda: dashboard.build(uow, spec["community"], period, k))
    members = uow.network.suggestion_members(now.date() + timedelta(days=7))
    due = [DueDM(m.user_id, now.date(), now - timedelta(minutes=1), ZoneInfo("UTC"),
                 preferences_of(m)) for m in members]
    inside = {m.user_id: {spec["community"]} for m in members}
    planned = timed("suggestions_plan_s", lambda: suggestions.plan(
        uow, due, {}, inside, key, k, now, lambda user, items: suggestions_dm(user, items, url, key)))
with runtime.uow() as uow:
    queued = timed("suggestions_record_s", lambda: suggestions.record(uow, planned, now))
with runtime.reader() as uow:
    items = [row[0] for row in uow.session.execute(text("SELECT id FROM content_items ORDER BY id LIMIT 500"))]
for n in range(spec["more"]):
    with runtime.uow() as uow:
        rate_item(uow, runtime.settings, Rater(f"z{n:025d}", spec["channel"]), items[n % len(items)], 5, None,
                  now)
later = now + timedelta(minutes=1)
timed("co_ratings_more_s", lambda: fold_co_ratings(runtime.uow, key, later, reader=runtime.reader))
print(json.dumps({**took, "members": len(due), "with_suggestions": queued, "digest_items": len(found.top),
                  "digest_pages": len(found.new_pages) + len(found.updated_pages),
                  "digest_bytes": len(json.dumps(post)),
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''


def generate(volumes: dict[str, int], seed: int, end_us: int) -> tuple[dash.Data, list[str]]:
    """Members who rate about ratings/members items each (a few rate many), popular items far more often
    (Zipf), over `weeks` weeks; six in ten items are wiki pages, some edited in the last week."""
    rng = random.Random(seed)
    members = [f"m{n:025d}" for n in range(volumes["members"])]
    start = end_us - volumes["weeks"] * WEEK_US
    data = dash.Data()
    for n in range(1, volumes["items"] + 1):
        wiki, created = rng.random() < 0.6, start + rng.randrange(volumes["weeks"] * WEEK_US // 2)
        url = f"https://wiki.example.com/wiki/Page_{n}" if wiki else f"https://blog.example.org/post-{n}"
        data.items.append([n, url, "wiki_page" if wiki else "link", f"Page {n}", rng.choice(members), 0, 0, created])
        data.events.append((created, "wiki_page_created" if wiki else "link_shared", rng.choice(members), n, {}))
        if wiki and rng.random() < 0.05:
            data.events.append((end_us - rng.randrange(WEEK_US), "wiki_page_updated", None, n, {"major": True}))
    weights = [1 / (rank + 1) ** 0.8 for rank in range(volumes["items"])]
    mean = volumes["ratings"] / volumes["members"]
    for member in members:
        wanted = min(volumes["items"] // 2, max(1, int(rng.expovariate(1 / mean))))
        chosen: set[int] = set()
        while len(chosen) < wanted:
            chosen.update(rng.choices(range(1, volumes["items"] + 1), weights, k=wanted - len(chosen)))
        for item in chosen:
            stars = rng.choices((1, 2, 3, 4, 5), (1, 1, 3, 5, 4))[0]
            at = start + rng.randrange(volumes["weeks"] * WEEK_US)
            data.ratings.append((len(data.ratings) + 1, item, member, stars, max(at, data.items[item - 1][7])))
            data.items[item - 1][5] += 1
            data.items[item - 1][6] += stars
            data.events.append((data.ratings[-1][4], "rating", member, item, {"stars": stars}))
    data.events.sort(key=lambda event: event[0])
    return data, members


def run(args: argparse.Namespace, target: b.Target, workdir: Path, cleanups: b.Cleanups) -> dict[str, Any]:
    volumes = {key: max(1, round(value * args.scale)) if key in ("members", "ratings") else value
               for key, value in FULL.items()}
    database = b.make_database(args, workdir, "bench_digest", cleanups)
    env = b.learnloop_env(workdir / "digest", database.url)
    target.migrate(env)
    data, members = generate(volumes, args.seed, int((time.time() - 300) * 1e6))
    b.log(f"{len(members)} members, {len(data.ratings)} ratings, {len(data.events)} events generated")
    loaded = dash.load(database, data, members)
    b.sql(database.url, "UPDATE members SET suggestions = :yes", yes=True)
    b.log(f"loaded in {loaded:.0f} s")
    measured = target.run(MEASURE, env, {"community": dash.COMMUNITY, "channel": dash.CHANNEL, "more": MORE})
    volumes["ratings"] = len(data.ratings)
    return {"volumes": volumes, **measured}


def report(result: dict[str, Any], args: argparse.Namespace, target: b.Target) -> int:
    per_member_ms = 1000 * (result["suggestions_plan_s"] + result["suggestions_record_s"]) / max(1, result["members"])
    per_rating_ms = 1000 * result["co_ratings_more_s"] / MORE
    volumes = result["volumes"]
    print(f"\nlearnloop digest and suggestions at {target.revision()}, "
          f"{'PostgreSQL' if args.database_url else 'SQLite'}: {volumes['members']} members, "
          f"{volumes['ratings']} ratings, {volumes['items']} items, {volumes['weeks']} weeks")
    print(b.table(["step", "seconds", "note"], [
        ["rollups fold (setup)", round(result["rollups_s"], 1), "every event once"],
        ["co-ratings from the ratings table", round(result["co_ratings_from_table_s"], 1), "first pass only"],
        ["digest: build and render", round(result["digest_s"], 2),
         f"{result['digest_items']} items, {result['digest_pages']} pages, {result['digest_bytes']} bytes"],
        ["dashboard, 4 weeks (reference)", round(result["dashboard_reference_s"], 2), "same community, same run"],
        ["suggestions: plan", round(result["suggestions_plan_s"], 1), f"{result['members']} members"],
        ["suggestions: record", round(result["suggestions_record_s"], 1), f"{result['with_suggestions']} queued"],
        [f"co-ratings of {MORE} more ratings", round(result["co_ratings_more_s"], 2),
         f"{per_rating_ms:.3f} ms per rating"],
    ]))
    print(f"worker peak RSS: {result['rss_mb']:.0f} MB")
    print(f"digest: {result['digest_s']:.2f} s per community (target < {TARGET_DIGEST_S:g} s) "
          f"{b.verdict(result['digest_s'] < TARGET_DIGEST_S)}")
    print(f"suggestions: {per_member_ms:.2f} ms per member (target < {TARGET_MEMBER_MS:g} ms) "
          f"{b.verdict(per_member_ms < TARGET_MEMBER_MS)}")
    return 0


def options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", type=float, default=1.0, help="a share of the members and ratings")
    parser.add_argument("--seed", type=int, default=18)


if __name__ == "__main__":
    sys.exit(b.main(__doc__, options, run, report))
