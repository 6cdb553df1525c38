#!/usr/bin/env python3
"""Dashboard benchmark (issue 5): page time of /dashboard/<id> over two years of history, and the worker's RSS.

    .venv/bin/python scripts/bench_dashboard.py                   # SQLite, and PostgreSQL if it answers
    .venv/bin/python scripts/bench_dashboard.py --scale 0.1       # a quick run (a tenth of every volume)
    .venv/bin/python scripts/bench_dashboard.py --database-url sqlite
    .venv/bin/python scripts/bench_dashboard.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test   # fresh schemas, dropped after
    .venv/bin/python scripts/bench_dashboard.py --profile always  # per-query times, plans, cProfile
    ... --json                                                    # one JSON document on stdout

Issue 5's targets: with 1,000,000 ratings, 200,000 reflections and 500,000 chat events over two
years, the dashboard page (default period, 4 weeks) answers with p95 < 150 ms over 50 loads, on
SQLite and on PostgreSQL, and its p95 is at most 1.5 times the p95 with 100,000 events: the cost
must not grow with history.

For each backend, and for each of two datasets ("small": 100,000 events; "full": the volumes
above), one run:

1. makes a fresh database (a SQLite file in a temp dir; or a throw-away schema of the PostgreSQL
   server, dropped at the end) and migrates it (learnloop.storage.migrate.upgrade);
2. writes a community straight into the tables (executemany on SQLite, COPY on PostgreSQL; never
   the service functions one by one), generated once per dataset (seeded) and shared by the
   backends: a few hundred members (26-character ids, activity skewed: a few people do most),
   thousands of content items (wiki pages with their created/updated events, shared links, chat
   permalinks, and the content items of shared reflections);
   - ratings as `ratings` rows (one per item and person) AND `rating` events; the items' and the
     community's rating totals are the sums of the rows; a few low ratings carry feedback;
   - reflections as `reflections` rows (sealed bodies) plus `reflection` events (40% answer a
     prompt), `reflection_shared` (15%, each with its content item) and `reflection_published`
     (3%) events; `prompt_sent` events on the Monday and Thursday 09:00 prompts (answered ones
     precede their reflection; a third go unanswered);
   - chat as `chat_post`, `reply` (threads per day), `link_shared` and `mention` events with the
     dedupe keys the ingestion would write;
   everything with `community_id`, `actor_id` and `occurred_at` spread over the history with a
   realistic pattern (a growing community, weekdays and office hours, quiet Christmas and August),
   ids in time order, `recorded_at` at least two minutes old (the worker skips events younger
   than 30 s);
3. runs the worker's folding (`rollups.fold_all`) in a separate process over the whole log (the
   catch-up after two years of history) and reports its time and peak RSS (wait4's ru_maxrss);
4. starts `learnloop serve` (gunicorn, as deployed, --web-workers workers) on that database with
   the signed-in person configured as the community's owner (no Mattermost call), signs in with a
   one-time link (POST /signin/<token>, the session cookie), and loads /dashboard/<id> --loads
   times per period, round robin after a warm-up: the default 4 weeks (the target), plus 12 weeks
   and a custom two-year period as extra rows; p50/p95/max, and the web worker's RSS;
5. checks the page against the log (the 4-week "Ratings given" equals the rating events of those
   weeks; every event was folded once);
6. folds 5,000 more (fresh) events in another process: the worker's steady-state pass.

The "small" dataset is, by default (--small-shape history), the same community with a short
history: the same members and the same weekly activity as the full one's recent weeks, but only
the most recent ~3-4 weeks of it (items, ratings... scaled down with it). Comparing the two shows
whether the page's cost grows with history. --small-shape uniform instead spreads 100,000 events
over the same two years (18 times less activity per week).

When a target is missed (or with --profile always) it profiles the page in this process on the
same databases, small and full side by side: dashboard.build per period with every SQL statement
captured (SQLAlchemy cursor events) and timed alone with its rows fetched (SQLite does most of its
work in fetchall), EXPLAIN QUERY PLAN (SQLite) / EXPLAIN (ANALYZE, BUFFERS) (PostgreSQL) of each,
the whole page through the Flask test client with the view's build, charts and template timed,
cProfile's top functions, and what-ifs: each slow query timed alternately against what it could
be, using scratch tables in the benchmark's own database (dropped after; no package code changes):
(1) COUNT(DISTINCT) rewritten as count(*) over SELECT DISTINCT, (2) per-week distinct counts kept by
the fold instead of COUNT(*) over weekly_members, (3) a stored, indexed item score instead of
scanning and sorting every rated item, (4) the fixed periods' distinct counts kept by the worker,
on SQLite (5) top_content without the (community_id, ratings_count) index, and on PostgreSQL
(5) work_mem 64MB (the sort spills to disk at 4MB) and (6) both 1 and 5. Since migration 0007
the package does (2), (3) and (4) itself; in those what-ifs "as is" is the query the page ran
before, kept as the reference, and the custom two-year period still counts distinct members.

On PostgreSQL the tables are ANALYZEd after the fold (autovacuum would do so within minutes of
such a load); SQLite gets no ANALYZE (learnloop never runs it).

Every step is bounded (--fold-timeout, --period-seconds); servers are stopped (their own process
groups) and schemas dropped at the end unless --keep. Exit status: 0 when it ran (targets missed
or not, unless --strict: then 3), 1 when a check failed (wrong figures, non-200 pages), 2 when
the benchmark could not run.
"""

from __future__ import annotations

import argparse
import bisect
import cProfile
import http.client
import json
import os
import pstats
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from itertools import accumulate
from operator import itemgetter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import (  # noqa: E402
    PostgresSchema,
    ServerProcess,
    clean_env,
    format_table,
    free_port,
    fresh_postgres_schema,
    median,
    percentile,
)

HOST = "127.0.0.1"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SECRET_KEY = "bench-dashboard-secret-key-0123456789-abcdefghijklmnopq"
PUBLIC_URL = "https://learnloop.example.com"
OWNER_ID = "benchowner0000000000000000"
CHANNEL_ID = "benchdashboardchannel00000"
COMMUNITY_NAME = "Data guild (benchmark)"
COMMUNITY_ID = 1
TARGET_P95_MS = 150.0
TARGET_RATIO = 1.5
FULL_RATINGS, FULL_REFLECTIONS, FULL_CHAT = 1_000_000, 200_000, 500_000
SMALL_EVENTS = 100_000
INCREMENTAL_EVENTS = 5_000
PERIODS = ("4w", "12w", "2y")
TARGET_PERIOD = "4w"

# Shares of the generated community
ANSWERED_SHARE = 0.40          # reflections that answer a prompt
UNANSWERED_PER_ANSWERED = 0.5  # prompts sent and not answered, per answered one
SHARED_SHARE = 0.15            # reflections shared with the community (each becomes a content item)
PUBLISHED_SHARE = 0.03         # reflections published to the wiki
UPDATES_PER_PAGE = 5           # wiki_page_updated events per page
RATING_KIND_SHARE = {"wiki_page": 0.55, "link": 0.25, "chat_post": 0.05, "reflection": 0.15}
REPLY_SHARE, LINK_SHARE, MENTION_SHARE = 0.30, 0.10, 0.08  # per chat post

DAY_US = 86_400_000_000
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
WEEKDAY_WEIGHT = (1.0, 1.1, 1.1, 1.0, 0.75, 0.12, 0.08)
HOUR_WEIGHT = (0.05, 0.03, 0.03, 0.03, 0.05, 0.1, 0.3, 0.8, 1.5, 1.6, 1.5, 1.4, 0.9, 1.3, 1.5, 1.4, 1.2,
               0.8, 0.4, 0.3, 0.25, 0.2, 0.15, 0.08)
HOUR_CUM = list(accumulate(HOUR_WEIGHT))
ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
TOPICS = ("Onboarding", "VPN access", "Deploy checklist", "Incident review", "Data pipeline", "Code review",
          "Testing strategy", "On-call handbook", "Architecture notes", "Release process", "Dashboards", "SQL tips")
COMMENTS = ("The VPN steps are out of date.", "Missing the part about staging.", "Too long, hard to follow.",
            "Links in section 3 are broken.", "Needs an example.", "Does not match what we do now.")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def to_us(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


# --------------------------------------------------------------------------------------------
# What to generate


@dataclass(frozen=True)
class Shape:
    name: str
    ratings: int
    reflections: int
    chat: int
    members: int
    wiki_pages: int
    links: int
    permalinks: int
    days: int

    @property
    def answered(self) -> int:
        return round(self.reflections * ANSWERED_SHARE)

    @property
    def prompts_sent(self) -> int:
        return self.answered + round(self.answered * UNANSWERED_PER_ANSWERED)

    @property
    def shared(self) -> int:
        return round(self.reflections * SHARED_SHARE)

    @property
    def published(self) -> int:
        return round(self.reflections * PUBLISHED_SHARE)

    def events(self) -> int:
        return (self.ratings + self.reflections + self.shared + self.published + self.chat + self.prompts_sent
                + self.wiki_pages * (1 + UPDATES_PER_PAGE))


def full_shape(scale: float, members: int) -> Shape:
    return Shape("full", ratings=round(FULL_RATINGS * scale), reflections=round(FULL_REFLECTIONS * scale),
                 chat=round(FULL_CHAT * scale), members=members, wiki_pages=max(20, round(4000 * scale)),
                 links=max(20, round(6000 * scale)), permalinks=max(10, round(2000 * scale)), days=730)


def small_shape(full: Shape, events: int, mode: str, end_us: int) -> Shape:
    share = min(1.0, events / full.events())
    days = full.days if mode == "uniform" else Calendar.recent_days(end_us, full.days, share)
    return Shape("small", ratings=round(full.ratings * share), reflections=round(full.reflections * share),
                 chat=round(full.chat * share), members=full.members,
                 wiki_pages=max(5, round(full.wiki_pages * share)), links=max(5, round(full.links * share)),
                 permalinks=max(3, round(full.permalinks * share)), days=days)


class Calendar:
    """Days of the history with activity weights (a growing community, weekdays, office hours,
    quiet at Christmas and in August), and timestamps (µs since the epoch, UTC) drawn from them."""

    def __init__(self, end_us: int, days: int, rng: random.Random) -> None:
        self.rng = rng
        self.end_us = end_us
        today = end_us // DAY_US
        self.n = max(1, days)
        self.first_day = today - self.n + 1
        self.end_sec = (end_us - today * DAY_US) // 1_000_000
        weights = [self.weight(self.first_day + i, self.n - 1 - i) for i in range(self.n)]
        weights[-1] *= self.end_sec / 86_400
        self.weights = weights
        self.cum = list(accumulate(weights))
        self.total = self.cum[-1]

    @staticmethod
    def weight(day: int, age: int) -> float:
        d = date.fromordinal(EPOCH_ORDINAL + day)
        trend = 0.35 + 0.65 * max(0.0, 1.0 - age / 730)
        season = 0.25 if (d.month == 12 and d.day >= 22) or (d.month == 1 and d.day <= 2) else \
            0.6 if d.month == 8 else 1.0
        return trend * WEEKDAY_WEIGHT[d.weekday()] * season

    @classmethod
    def recent_days(cls, end_us: int, days: int, share: float) -> int:
        """How many recent days hold `share` of the activity of `days` days (same weekly rate)."""
        whole = cls(end_us, days, random.Random(0))
        target, total = share * whole.total, 0.0
        for back, value in enumerate(reversed(whole.weights), start=1):
            total += value
            if total >= target:
                return back
        return days

    def _at(self, u: float) -> int:
        rng = self.rng
        day = min(self.n - 1, bisect.bisect_right(self.cum, u))
        hour = min(23, bisect.bisect_right(HOUR_CUM, rng.random() * HOUR_CUM[-1]))
        sec = hour * 3600 + rng.randrange(3600)
        if day == self.n - 1 and sec >= self.end_sec:
            sec = rng.randrange(max(1, self.end_sec))
        return (self.first_day + day) * DAY_US + sec * 1_000_000 + rng.randrange(1_000_000)

    def any(self) -> int:
        return self._at(self.rng.random() * self.total)

    def index(self, moment: int) -> int:
        return min(self.n - 1, max(0, moment // DAY_US - self.first_day))

    def after(self, moment: int, within_days: int | None = None) -> int:
        """A moment after `moment` (within that many days), drawn from the activity pattern."""
        day = self.index(moment)
        low = self.cum[day - 1] if day else 0.0
        high = self.cum[min(self.n - 1, day + within_days)] if within_days else self.total
        value = self._at(low + self.rng.random() * (high - low))
        if value <= moment:
            value = moment + self.rng.randrange(60_000_000, 6 * 3_600_000_000)
        return min(value, self.end_us)

    def day_weight(self, day: int) -> float:
        return self.weights[day]

    def prompt_times(self) -> list[int]:
        """The Monday and Thursday 09:00 UTC prompts of the history."""
        times = []
        for i in range(self.n):
            day = self.first_day + i
            moment = day * DAY_US + 9 * 3_600_000_000
            if date.fromordinal(EPOCH_ORDINAL + day).weekday() in (0, 3) and moment < self.end_us - 3_600_000_000:
                times.append(moment)
        return times


@dataclass
class Dataset:
    shape: Shape
    end_us: int
    members: list[str]
    items: list[list[Any]]           # [id, url, kind, title, first_shared_by, created_us, ratings_count, stars_sum]
    ratings: list[tuple[Any, ...]]   # (item_id, user_id, stars, at_us)
    feedback: list[tuple[Any, ...]]  # (item_id, author_id, stars, comment, status, at_us)
    reflections: list[tuple[Any, ...]]  # (id, user, body, scale, visibility, shared_item_id, state, url, at_us)
    events: list[tuple[Any, ...]]    # (occurred_us, recorded_us, kind, actor, item_id, dedupe_key, data) by time
    seconds: float = 0.0

    def counts(self) -> dict[str, Any]:
        kinds: dict[str, int] = defaultdict(int)
        for event in self.events:
            kinds[event[2]] += 1
        item_kinds: dict[str, int] = defaultdict(int)
        for item in self.items:
            item_kinds[item[2]] += 1
        first = min(event[0] for event in self.events) if self.events else self.end_us
        return {"events": len(self.events), "events_by_kind": dict(sorted(kinds.items())),
                "ratings_rows": len(self.ratings), "reflections_rows": len(self.reflections),
                "feedback_rows": len(self.feedback), "members": len(self.members), "content_items": len(self.items),
                "content_items_by_kind": dict(sorted(item_kinds.items())),
                "history_days": round((self.end_us - first) / DAY_US, 1)}


def _id(rng: random.Random, taken: set[str]) -> str:
    while True:
        value = "".join(rng.choices(ALNUM, k=26))
        if value not in taken:
            taken.add(value)
            return value


def _allocate(total: int, weights: list[float], cap: int, rng: random.Random) -> list[int]:
    """Integers proportional to weights, each at most cap, summing to total."""
    if not weights or total <= 0:
        return [0] * len(weights)
    if total > cap * len(weights):
        raise SystemExit(f"cannot place {total} ratings on {len(weights)} items at most {cap} each: "
                         "raise --members or the scale")
    scale = total / sum(weights)
    counts = [min(cap, int(w * scale)) for w in weights]
    left = total - sum(counts)
    cum = list(accumulate(weights))
    population = range(len(weights))
    for _ in range(60):
        if left <= 0:
            break
        for i in rng.choices(population, cum_weights=cum, k=left):
            if counts[i] < cap and left > 0:
                counts[i] += 1
                left -= 1
    for i in population:  # what the weighted draws could not place (only near the caps)
        if left <= 0:
            break
        room = min(cap - counts[i], left)
        counts[i] += room
        left -= room
    return counts


def generate(shape: Shape, end_us: int, seed: int) -> Dataset:
    from learnloop.domain.sealing import seal

    started = time.perf_counter()
    rng = random.Random(f"{seed}:{shape.name}")
    cal = Calendar(end_us, shape.days, rng)
    taken: set[str] = {OWNER_ID}
    members = [OWNER_ID] + [_id(rng, taken) for _ in range(shape.members - 1)]
    usernames = {user: "owner" if n == 0 else f"member{n}" for n, user in enumerate(members)}
    member_index = range(len(members))
    activity = [1.0 / (i + 3) ** 0.9 for i in member_index]
    activity_cum = list(accumulate(activity))
    reflect_cum = list(accumulate(w ** 0.5 for w in activity))
    events: list[tuple[Any, ...]] = []
    items: list[list[Any]] = []
    popularity: list[float] = []
    quality: list[float] = []

    def add_item(url: str, kind: str, title: str | None, by: str | None, created: int, pop: float) -> int:
        item_id = len(items) + 1
        items.append([item_id, url, kind, title, by, created, 0, 0])
        popularity.append(pop)
        quality.append(rng.choice((2.5, 3.0, 3.5, 4.0, 4.0, 4.5, 4.5, 5.0)))
        return item_id

    # Wiki pages (created and updated events), shared links, chat permalinks
    pages = []
    for n in range(shape.wiki_pages):
        created = cal.any()
        topic = TOPICS[n % len(TOPICS)]
        item_id = add_item(f"https://wiki.example.com/wiki/{topic.replace(' ', '_')}_{n}", "wiki_page",
                           f"{topic} ({n})", None, created, rng.paretovariate(1.3) * 2)
        pages.append(item_id)
        events.append((created, "wiki_page_created", None, item_id, f"wiki:docs:{len(events)}",
                       '{"wiki": "docs", "minor": false}'))
    for _ in range(shape.wiki_pages * UPDATES_PER_PAGE):
        item_id = rng.choice(pages)
        minor = "true" if rng.random() < 0.6 else "false"
        events.append((cal.after(items[item_id - 1][5]), "wiki_page_updated", None, item_id,
                       f"wiki:docs:{len(events)}", f'{{"wiki": "docs", "minor": {minor}}}'))
    for n in range(shape.links):
        by = members[rng.choices(member_index, cum_weights=activity_cum)[0]]
        add_item(f"https://blog.example.org/posts/{n}-{TOPICS[n % len(TOPICS)].lower().replace(' ', '-')}",
                 "link", f"Article {n}", by, cal.any(), rng.paretovariate(1.3))
    for n in range(shape.permalinks):
        by = members[rng.choices(member_index, cum_weights=activity_cum)[0]]
        add_item(f"https://chat.example.com/data-guild/pl/{_id(rng, taken)}", "chat_post", None, by, cal.any(),
                 rng.paretovariate(1.5) * 0.5)
    shareable = sorted((items[i][5], items[i][0]) for i in range(len(items)) if items[i][2] in ("link", "chat_post"))
    shareable_times = [moment for moment, _ in shareable]

    # Reflections, their prompts, their shared items
    sealed = [seal(f"This week I learned about {topic.lower()}: " + "notes " * (5 + n % 40), SECRET_KEY.encode())
              for n, topic in enumerate(TOPICS * 6)]
    prompt_times = cal.prompt_times() or [end_us - 4 * 3_600_000_000]
    prompt_cum = list(accumulate(cal.day_weight(cal.index(moment)) + 1e-9 for moment in prompt_times))
    answered = set(rng.sample(range(shape.reflections), shape.answered))
    visibility = ["community"] * shape.shared + ["wiki"] * shape.published
    visibility += ["private"] * (shape.reflections - len(visibility))
    rng.shuffle(visibility)
    prompts = 0
    drafts = []
    for n in range(shape.reflections):
        user = members[rng.choices(member_index, cum_weights=reflect_cum)[0]]
        if n in answered:
            sent = rng.choices(prompt_times, cum_weights=prompt_cum)[0] + rng.randrange(1800) * 1_000_000
            events.append((sent, "prompt_sent", user, None, f"prompt_sent:{prompts}", "{}"))
            prompts += 1
            moment = min(end_us, sent + int(min(rng.expovariate(1 / 14_400), 172_800) * 1_000_000) + 1)
        else:
            moment = cal.any()
        drafts.append((moment, user, n in answered, visibility[n]))
    for _ in range(shape.prompts_sent - prompts):
        sent = rng.choices(prompt_times, cum_weights=prompt_cum)[0] + rng.randrange(1800) * 1_000_000
        events.append((sent, "prompt_sent", rng.choice(members), None, f"prompt_sent:{prompts}", "{}"))
        prompts += 1
    drafts.sort(key=itemgetter(0))
    reflections = []
    for reflection_id, (moment, user, was_answered, shown) in enumerate(drafts, start=1):
        events.append((moment, "reflection", user, None, None,
                       '{"answered_prompt": true}' if was_answered else '{"answered_prompt": false}'))
        shared_item, state, published_url = None, None, None
        if shown == "community":
            shared_item = add_item(f"{PUBLIC_URL}/reflections/{reflection_id}", "reflection",
                                   f"Reflection by @{usernames[user]}",
                                   user, moment, rng.paretovariate(1.5) * 0.7)
            events.append((moment, "reflection_shared", user, shared_item, None, "{}"))
        elif shown == "wiki":
            state, published_url = "published", f"https://wiki.example.com/wiki/Learning_log/{reflection_id}"
            events.append((moment, "reflection_published", user, None, None, "{}"))
        reflections.append((reflection_id, user, rng.choice(sealed), rng.choice((None, 1, 2, 3, 4, 5)), shown,
                            shared_item, state, published_url, moment))

    # Ratings: one row per item and person, and its event; totals from the rows
    cap = max(1, int(len(members) * 0.5))
    by_kind: dict[str, list[int]] = defaultdict(list)
    for item in items:
        by_kind[item[2]].append(item[0])
    budgets = {kind: share for kind, share in RATING_KIND_SHARE.items() if by_kind.get(kind)}
    scale = sum(budgets.values())
    per_kind = {kind: round(shape.ratings * share / scale) for kind, share in budgets.items()}
    per_kind[next(iter(per_kind))] += shape.ratings - sum(per_kind.values())
    ratings, feedback = [], []
    rating_data = {stars: f'{{"stars": {stars}, "previous": null}}' for stars in range(1, 6)}
    for kind, budget in per_kind.items():
        ids = by_kind[kind]
        # popular items get more ratings, and so do items that were there for more of the history
        before = [cal.index(items[i - 1][5]) for i in ids]
        weights = [popularity[i - 1] * max(1e-6, cal.total - (cal.cum[day - 1] if day else 0.0))
                   for i, day in zip(ids, before)]
        for item_id, count in zip(ids, _allocate(budget, weights, cap, rng)):
            if not count:
                continue
            chosen: dict[int, None] = {}
            for _ in range(8):
                for i in rng.choices(member_index, cum_weights=activity_cum, k=2 * (count - len(chosen)) + 4):
                    chosen[i] = None
                    if len(chosen) == count:
                        break
                if len(chosen) == count:
                    break
            if len(chosen) < count:
                rest = [i for i in member_index if i not in chosen]
                rng.shuffle(rest)
                chosen.update(dict.fromkeys(rest[:count - len(chosen)]))
            item = items[item_id - 1]
            created, mean = item[5], quality[item_id - 1]
            for i in chosen:
                user = members[i]
                moment = cal.after(created, 28 if rng.random() < 0.5 else None)
                stars = min(5, max(1, round(rng.gauss(mean, 0.9))))
                ratings.append((item_id, user, stars, moment))
                item[6] += 1
                item[7] += stars
                events.append((moment, "rating", user, item_id, None, rating_data[stars]))
                if stars <= 3 and rng.random() < 0.012:
                    age_days = (end_us - moment) / DAY_US
                    if age_days < 21:
                        status = "open" if rng.random() < 0.7 else "resolved"
                    else:
                        status = rng.choices(("open", "resolved", "hidden"), (0.05, 0.85, 0.10))[0]
                    feedback.append((item_id, user, stars, rng.choice(COMMENTS), status, moment))

    # Chat: posts, replies in threads, links shared, mentions; exactly shape.chat events
    emitted, post = 0, 0
    replies_expected = shape.chat * REPLY_SHARE / (1 + REPLY_SHARE + LINK_SHARE + MENTION_SHARE)
    while emitted < shape.chat:
        moment = cal.any()
        author = members[rng.choices(member_index, cum_weights=activity_cum)[0]]
        base = f"mattermost:post:p{post:025d}"
        post += 1
        found = [(moment, "chat_post", author, None, base, "{}")]
        if rng.random() < REPLY_SHARE:
            day = cal.index(moment)
            threads = max(1, int(replies_expected * cal.day_weight(day) / cal.total / 3) + 1)
            root = f"r{day:07d}{rng.randrange(threads):018d}"
            found.append((moment, "reply", author, None, f"{base}:reply", f'{{"root_id": "{root}"}}'))
        if rng.random() < LINK_SHARE:
            available = bisect.bisect_right(shareable_times, moment)
            if available:
                item_id = shareable[min(available - 1, int(available * rng.random() ** 0.5))][1]
                found.append((moment, "link_shared", author, item_id, f"{base}:link:{item_id}", "{}"))
        if rng.random() < MENTION_SHARE:
            found.append((moment, "mention", author, None, f"{base}:mention",
                          f'{{"people": {rng.choice((1, 1, 1, 2, 3))}}}'))
        found = found[:shape.chat - emitted]
        events.extend(found)
        emitted += len(found)

    events.sort(key=itemgetter(0))
    done = [(occurred, min(end_us, occurred + rng.randrange(2_000_000)), kind, actor, item, key, data)
            for occurred, kind, actor, item, key, data in events]
    return Dataset(shape, end_us, members, items, ratings, feedback, reflections, done,
                   seconds=time.perf_counter() - started)


def extra_chat_events(count: int, members: list[str], end_us: int, seed: int) -> list[tuple[Any, ...]]:
    """Fresh chat events for the steady-state fold: occurred in the hour before end_us, recorded by end_us
    (pass a moment at least 30 s ago, so that the worker does not leave them for its next pass)."""
    rng = random.Random(seed)
    found = []
    for n in range(count):
        moment = end_us - rng.randrange(60_000_000, 3_600_000_000)
        author = rng.choice(members)
        kind = rng.choice(("chat_post", "chat_post", "reply", "mention"))
        data = '{"root_id": "rextra000000000000000000000"}' if kind == "reply" else \
            '{"people": 1}' if kind == "mention" else "{}"
        found.append((moment, min(end_us, moment + 1_000_000), kind, author, None, f"bench:extra:{seed}:{n}", data))
    found.sort(key=itemgetter(0))
    return found


# --------------------------------------------------------------------------------------------
# Writing it into a database


class Stamps:
    """µs since the epoch -> the text each backend stores (SQLAlchemy's SQLite format; timestamptz)."""

    def __init__(self, suffix: str) -> None:
        self.suffix = suffix
        self.days: dict[int, str] = {}

    def __call__(self, value: int) -> str:
        day, rest = divmod(value, DAY_US)
        prefix = self.days.get(day)
        if prefix is None:
            prefix = self.days[day] = date.fromordinal(EPOCH_ORDINAL + day).isoformat() + " "
        seconds, micro = divmod(rest, 1_000_000)
        hours, seconds = divmod(seconds, 3600)
        minutes, seconds = divmod(seconds, 60)
        return f"{prefix}{hours:02d}:{minutes:02d}:{seconds:02d}.{micro:06d}{self.suffix}"


def _rows(ds: Dataset, stamp: Stamps, truth: tuple[Any, Any], first_event_id: int = 1) -> dict[str, Any]:
    """Row iterators per table, in insert order, with explicit ids."""
    yes, no = truth
    created = stamp(ds.events[0][0] if ds.events else ds.end_us)
    now = stamp(ds.end_us)
    ratings_count = len(ds.ratings)
    stars_sum = sum(r[2] for r in ds.ratings)
    return {
        "communities": ("id, channel_id, team_id, name, ratings_count, stars_sum, announce_policy, created_at",
                        [(COMMUNITY_ID, CHANNEL_ID, None, COMMUNITY_NAME, ratings_count, stars_sum, None, created)]),
        "members": ("user_id, username, timezone, dm_channel_id, prompts_enabled, paused_until, time_of_day, "
                    "quiet_hours, nudges, updated_at",
                    ((user, "owner" if user == OWNER_ID else f"member{n}", "Europe/Berlin", None, yes, None, None,
                      None, yes, now) for n, user in enumerate(ds.members))),
        "content_items": ("id, url, kind, title, community_id, first_shared_by, ratings_count, stars_sum, created_at",
                          ((i[0], i[1], i[2], i[3], COMMUNITY_ID, i[4], i[6], i[7], stamp(i[5])) for i in ds.items)),
        "reflections": ("id, user_id, community_id, delivery_id, body, scale, visibility, shared_item_id, "
                        "publish_state, published_url, created_at, updated_at",
                        ((r[0], r[1], COMMUNITY_ID, None, r[2], r[3], r[4], r[5], r[6], r[7], stamp(r[8]),
                          stamp(r[8])) for r in ds.reflections)),
        "ratings": ("id, item_id, user_id, stars, community_id, created_at, updated_at",
                    ((n, r[0], r[1], r[2], COMMUNITY_ID, stamp(r[3]), stamp(r[3]))
                     for n, r in enumerate(ds.ratings, start=1))),
        "feedback": ("id, item_id, community_id, author_id, stars, comment, status, created_at",
                     ((n, f[0], COMMUNITY_ID, f[1], f[2], f[3], f[4], stamp(f[5]))
                      for n, f in enumerate(ds.feedback, start=1))),
        "events": ("id, kind, occurred_at, recorded_at, community_id, actor_id, item_id, dedupe_key, data",
                   ((n, e[2], stamp(e[0]), stamp(e[1]), COMMUNITY_ID, e[3], e[4], e[5], e[6])
                    for n, e in enumerate(ds.events, start=first_event_id))),
    }


def load_sqlite(path: Path, ds: Dataset) -> float:
    started = time.perf_counter()
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=OFF")
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA foreign_keys=OFF")
        connection.execute("PRAGMA cache_size=-400000")
        connection.execute("BEGIN")
        for table, (columns, rows) in _rows(ds, Stamps(""), (1, 0)).items():
            marks = ", ".join("?" * len(columns.split(",")))
            connection.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
        connection.execute("COMMIT")
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()
    return time.perf_counter() - started


def append_events_sqlite(path: Path, events: list[tuple[Any, ...]]) -> None:
    connection = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        first = connection.execute("SELECT coalesce(max(id), 0) + 1 FROM events").fetchone()[0]
        stamp = Stamps("")
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(
            "INSERT INTO events (id, kind, occurred_at, recorded_at, community_id, actor_id, item_id, dedupe_key, data)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ((n, e[2], stamp(e[0]), stamp(e[1]), COMMUNITY_ID, e[3], e[4], e[5], e[6])
             for n, e in enumerate(events, start=first)))
        connection.execute("COMMIT")
    finally:
        connection.close()


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def _copy(cursor: Any, table: str, columns: str, rows: Any, chunk: int = 20_000) -> None:
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        buffer: list[str] = []
        for row in rows:
            buffer.append("\t".join(map(_copy_text, row)))
            if len(buffer) >= chunk:
                copy.write("\n".join(buffer) + "\n")
                buffer.clear()
        if buffer:
            copy.write("\n".join(buffer) + "\n")


def load_postgres(url: str, ds: Dataset) -> float:
    from learnloop.storage.engine import make_engine

    started = time.perf_counter()
    engine = make_engine(url)
    raw = engine.raw_connection()
    try:
        connection = raw.driver_connection
        with connection.cursor() as cursor:
            try:  # skip the per-row FK triggers during the bulk load when allowed (the data is consistent)
                cursor.execute("SET LOCAL session_replication_role = replica")
            except Exception:  # noqa: BLE001  (not a superuser: load with the checks)
                connection.rollback()
            for table, (columns, rows) in _rows(ds, Stamps("+00"), ("t", "f")).items():
                _copy(cursor, table, columns, rows)
            for table in ("communities", "content_items", "reflections", "ratings", "feedback", "events"):
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                               f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)")
        connection.commit()
    finally:
        raw.close()
        engine.dispose()
    return time.perf_counter() - started


def append_events_postgres(url: str, events: list[tuple[Any, ...]]) -> None:
    from learnloop.storage.engine import make_engine

    engine = make_engine(url)
    raw = engine.raw_connection()
    try:
        connection = raw.driver_connection
        stamp = Stamps("+00")
        with connection.cursor() as cursor:
            _copy(cursor, "events", "kind, occurred_at, recorded_at, community_id, actor_id, item_id, dedupe_key, data",
                  ((e[2], stamp(e[0]), stamp(e[1]), COMMUNITY_ID, e[3], e[4], e[5], e[6]) for e in events))
        connection.commit()
    finally:
        raw.close()
        engine.dispose()


# --------------------------------------------------------------------------------------------
# Databases


@dataclass
class Database:
    backend: str  # "sqlite" or "postgresql"
    url: str
    label: str
    path: Path | None = None
    schema: str | None = None
    admin_url: str | None = None

    def size_mb(self) -> float | None:
        if self.path is not None:
            total = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*"))
            return round(total / 2**20, 1)
        from sqlalchemy import create_engine, text

        engine = create_engine(self.admin_url)
        try:
            with engine.connect() as connection:
                value = connection.execute(text(
                    "SELECT sum(pg_total_relation_size(format('%I.%I', schemaname, tablename)::regclass)) "
                    "FROM pg_tables WHERE schemaname = :schema"), {"schema": self.schema}).scalar()
        finally:
            engine.dispose()
        return round((value or 0) / 2**20, 1)

    def drop(self) -> None:
        if self.schema is not None and self.admin_url is not None:
            PostgresSchema(self.admin_url, self.schema).drop()


def postgres_answers(url: str) -> bool:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:  # noqa: BLE001
        return False
    finally:
        engine.dispose()


def make_database(backend_url: str, size: str, workdir: Path) -> Database:
    if backend_url == "sqlite":
        path = workdir / f"{size}.db"
        return Database("sqlite", f"sqlite:///{path}", "sqlite", path=path)
    schema = fresh_postgres_schema(backend_url, f"bench_dash_{size}")
    return Database("postgresql", schema.url, f"postgresql ({schema.name})", schema=schema.name,
                    admin_url=schema.admin_url)


def bench_settings(url: str) -> Any:
    from learnloop.config import Settings

    return Settings(database_url=url, secret_key=SECRET_KEY, public_url=PUBLIC_URL, access_log=False,
                    communities=[{"name": COMMUNITY_NAME, "channel_id": CHANNEL_ID, "owners": [OWNER_ID]}])


def write_config(home: Path) -> Path:
    path = home / "learnloop.toml"
    path.write_text(f'[[communities]]\nname = "{COMMUNITY_NAME}"\nchannel_id = "{CHANNEL_ID}"\n'
                    f'owners = ["{OWNER_ID}"]\n')
    return path


# --------------------------------------------------------------------------------------------
# The worker's fold, in its own process


def child_fold(url: str) -> int:
    from learnloop.bootstrap import build_runtime
    from learnloop.services.rollups import fold_all

    runtime = build_runtime(bench_settings(url))
    started = time.perf_counter()
    folded = fold_all(runtime.uow, runtime.signing_key, datetime.now(timezone.utc))
    seconds = time.perf_counter() - started
    runtime.engine.dispose()
    # VmHWM is the peak RSS of this process image; getrusage's ru_maxrss would include the RSS of the
    # (large) benchmark process this one was forked from, carried over the exec.
    print(json.dumps({"folded": folded, "seconds": seconds, "memory": process_memory(os.getpid())}))
    return 0


def run_fold(url: str, home: Path, timeout: float, label: str) -> dict[str, Any]:
    env = clean_env(["LEARNLOOP_"], LEARNLOOP_CONFIG_FILE=str(home / "learnloop.toml"), PYTHONUNBUFFERED="1")
    log_path = home / f"fold-{label}.log"
    started = time.perf_counter()
    with open(log_path, "wb") as stderr:
        process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child-fold", url],
                                   stdout=subprocess.PIPE, stderr=stderr, stdin=subprocess.DEVNULL, env=env)
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        try:
            output = process.stdout.read() if process.stdout else b""
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
        finally:
            timer.cancel()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"the fold process exited with {process.returncode} after {wall:.0f}s"
                           f"{' (timeout)' if wall >= timeout else ''}:\n{tail}")
    report = json.loads(output.decode().strip().splitlines()[-1])
    return {"events": report["folded"], "fold_s": round(report["seconds"], 2), "process_wall_s": round(wall, 2),
            "events_per_s": round(report["folded"] / report["seconds"]) if report["seconds"] else None,
            "peak_rss_mb": report["memory"].get("VmHWM"), "final_rss_mb": report["memory"].get("VmRSS"),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 2)}


def vacuum_analyze_postgres(db: Database) -> float:
    """What autovacuum would do within minutes of such a load, done now so that it does not run
    during the measurement; only this schema's tables."""
    from sqlalchemy import create_engine, text

    started = time.perf_counter()
    engine = create_engine(db.url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            tables = connection.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = :schema"),
                                        {"schema": db.schema}).scalars().all()
            for table in tables:
                connection.execute(text(f'VACUUM (ANALYZE) "{db.schema}"."{table}"'))
    finally:
        engine.dispose()
    return time.perf_counter() - started


# --------------------------------------------------------------------------------------------
# Page loads against `learnloop serve`


class Browser:
    """One keep-alive connection that keeps the session cookie up to date."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.connection = http.client.HTTPConnection(host, port, timeout=60)
        self.cookie: str | None = None

    def request(self, method: str, path: str) -> tuple[int, bytes, float, http.client.HTTPMessage]:
        headers = {"Content-Length": "0"} if method == "POST" else {}
        if self.cookie:
            headers["Cookie"] = f"learnloop_session={self.cookie}"
        for attempt in (1, 2):
            try:
                started = time.perf_counter()
                self.connection.request(method, path, headers=headers)
                response = self.connection.getresponse()
                body = response.read()
                elapsed = (time.perf_counter() - started) * 1000
                break
            except (http.client.RemoteDisconnected, ConnectionError, http.client.CannotSendRequest):
                self.connection.close()
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
                if attempt == 2:
                    raise
        for header in response.headers.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            if name.strip() == "learnloop_session":
                self.cookie = rest.split(";", 1)[0]
        return response.status, body, elapsed, response.headers

    def close(self) -> None:
        self.connection.close()


def period_paths(today: date) -> dict[str, str]:
    start = (today - timedelta(days=730)).isoformat()
    return {"4w": f"/dashboard/{COMMUNITY_ID}", "12w": f"/dashboard/{COMMUNITY_ID}?period=12w",
            "2y": f"/dashboard/{COMMUNITY_ID}?period=custom&start={start}&end={today.isoformat()}"}


def process_memory(pid: int) -> dict[str, float]:
    values = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, amount = line.split(":", 1)
                values[name] = round(int(amount.split()[0]) / 1024, 1)
    except OSError:
        pass
    return values


def expected_ratings(url: str, first: date) -> int:
    from sqlalchemy import func, select

    from learnloop.storage.engine import make_engine
    from learnloop.storage.tables import Event

    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(Event).where(
                Event.kind == "rating", Event.community_id == COMMUNITY_ID,
                Event.occurred_at >= datetime(first.year, first.month, first.day, tzinfo=timezone.utc))).scalar())
    finally:
        engine.dispose()


def issue_signin(url: str) -> str:
    from learnloop.bootstrap import build_runtime
    from learnloop.services import signin

    runtime = build_runtime(bench_settings(url))
    try:
        with runtime.uow() as uow:
            return signin.issue(uow, user_id=OWNER_ID, username="owner", next_path=f"/dashboard/{COMMUNITY_ID}",
                                now=datetime.now(timezone.utc))
    finally:
        runtime.engine.dispose()


class Site:
    """`learnloop serve` on one dataset's database, and a signed-in browser for it."""

    def __init__(self, db: Database, home: Path, args: argparse.Namespace, label: str) -> None:
        self.db, self.label = db, label
        port = free_port(HOST)
        env = clean_env(
            ["LEARNLOOP_", "GUNICORN_"], LEARNLOOP_HOST=HOST, LEARNLOOP_PORT=str(port),
            LEARNLOOP_WEB_WORKERS=str(args.web_workers), LEARNLOOP_WEB_THREADS=str(args.web_threads),
            LEARNLOOP_DATABASE_URL=db.url, LEARNLOOP_SECRET_KEY=SECRET_KEY,
            LEARNLOOP_PUBLIC_URL=f"http://{HOST}:{port}", LEARNLOOP_CONFIG_FILE=str(home / "learnloop.toml"),
            XDG_RUNTIME_DIR=str(home), PYTHONUNBUFFERED="1")
        self.server = ServerProcess(f"serve-{label.replace('/', '-')}", [sys.executable, "-m", "learnloop.cli", "serve"],
                                    env=env, cwd=home, port=port, host=HOST)
        self.browser: Browser | None = None
        self.samples: dict[str, list[float]] = {name: [] for name in PERIODS}
        self.statuses: dict[str, dict[int, int]] = {name: defaultdict(int) for name in PERIODS}
        self.sizes: dict[str, int] = {}
        self.first_page = b""
        self.started: dict[str, float] = {}

    def start(self) -> None:
        self.server.start()
        self.server.wait_ready("/healthz", timeout=120)
        self.browser = Browser(HOST, self.server.port)
        status, _, _, headers = self.browser.request("POST", f"/signin/{issue_signin(self.db.url)}")
        if status != 303 or not self.browser.cookie:
            raise RuntimeError(f"{self.label}: sign-in answered {status} (Location {headers.get('Location')}), "
                               "no session cookie")

    def load(self, name: str, path: str, measured: bool) -> None:
        assert self.browser is not None
        status, body, elapsed, _ = self.browser.request("GET", path)
        self.statuses[name][status] += 1
        if name == TARGET_PERIOD and not self.first_page:
            self.first_page = body
        if measured:
            self.samples[name].append(elapsed)
            self.sizes[name] = len(body)

    def memory(self) -> list[dict[str, float]]:
        return [process_memory(pid) for pid in self.server.pids() if pid != self.server.pid]

    def stop(self) -> None:
        if self.browser is not None:
            self.browser.close()
        self.server.stop()

    def summary(self, checks: list[dict[str, Any]], today: date, memory: list[dict[str, float]]) -> dict[str, Any]:
        from learnloop.services.dashboard import Period

        pages = {}
        for name, values in self.samples.items():
            ordered = sorted(values)
            pages[name] = {"loads": len(values), "p50_ms": round(percentile(ordered, 50), 1),
                           "p95_ms": round(percentile(ordered, 95), 1),
                           "max_ms": round(ordered[-1], 1) if ordered else None,
                           "mean_ms": round(sum(values) / len(values), 1) if values else None,
                           "bytes": self.sizes.get(name),
                           "statuses": {str(k): v for k, v in sorted(self.statuses[name].items())}}
            bad = sum(v for k, v in self.statuses[name].items() if k != 200)
            checks.append({"check": f"{self.label}: {name} pages answered 200", "ok": bad == 0 and bool(values),
                           "detail": dict(self.statuses[name])})
        period = Period.last_weeks(today, 4)  # the page's 4-week "Ratings given" against the log
        expected = expected_ratings(self.db.url, period.first)
        found = re.search(r"<td>Ratings given</td><td>([^<]+)</td>", self.first_page.decode("utf-8", "replace"))
        shown = found.group(1).replace(",", "") if found else None
        checks.append({"check": f"{self.label}: 4-week 'Ratings given' equals the rating events since {period.first}",
                       "ok": shown == str(expected), "detail": {"page": shown, "events": expected}})
        return {"pages": pages, "web_workers": len(memory),
                "web_worker_rss_mb": max((m.get("VmRSS", 0) for m in memory), default=None),
                "web_worker_peak_rss_mb": max((m.get("VmHWM", 0) for m in memory), default=None)}


def measure_pages(sites: dict[str, Site], args: argparse.Namespace, checks: list[dict[str, Any]]
                  ) -> tuple[dict[str, Any], dict[str, float]]:
    """Every dataset's server up at once; loads round robin over (dataset, period), so that the
    machine's noise falls on all of them alike. One request in flight at a time."""
    from bench_common import SystemCpu

    results: dict[str, Any] = {}
    try:
        for site in sites.values():
            site.start()
        today = datetime.now(timezone.utc).date()
        paths = period_paths(today)
        for _ in range(args.warmup):
            for site in sites.values():
                for name, path in paths.items():
                    site.load(name, path, measured=False)
        began = SystemCpu.now()
        for site in sites.values():
            site.started = {name: time.monotonic() for name in paths}
        for _ in range(args.loads):
            for site in sites.values():
                for name, path in paths.items():
                    if time.monotonic() - site.started[name] > args.period_seconds and len(site.samples[name]) >= 5:
                        continue  # bounded: a slow period stops early (reported as fewer loads)
                    site.load(name, path, measured=True)
        machine = SystemCpu.now().since(began)
        memory = {size: site.memory() for size, site in sites.items()}
    finally:
        for site in sites.values():
            site.stop()
    for size, site in sites.items():
        results[size] = site.summary(checks, today, memory[size])
    return results, machine


# --------------------------------------------------------------------------------------------
# Rollup sizes and consistency


def rollup_stats(url: str, today: date) -> dict[str, Any]:
    from sqlalchemy import func, select

    from learnloop.services.dashboard import Period
    from learnloop.storage.engine import make_engine
    from learnloop.storage.tables import Event, WeeklyCount, WeeklyMember

    weeks = Period.last_weeks(today, 4).weeks
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            def scalar(statement: Any) -> int:
                return int(connection.execute(statement).scalar() or 0)

            return {
                "weekly_counts_rows": scalar(select(func.count()).select_from(WeeklyCount)),
                "weekly_members_rows": scalar(select(func.count()).select_from(WeeklyMember)),
                "weekly_members_rows_4w": scalar(select(func.count()).select_from(WeeklyMember)
                                                 .where(WeeklyMember.week.in_(weeks))),
                "weekly_members_4w_by_metric": dict(sorted(
                    ((metric, int(count)) for metric, count in connection.execute(
                        select(WeeklyMember.metric, func.count()).where(WeeklyMember.week.in_(weeks))
                        .group_by(WeeklyMember.metric)).all()), key=lambda pair: -pair[1])),
                "folded_ratings": scalar(select(func.sum(WeeklyCount.value)).where(WeeklyCount.metric == "ratings")),
                "rating_events": scalar(select(func.count()).select_from(Event).where(Event.kind == "rating")),
            }
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------------
# Profiling (in this process, on the same database)

LABELS = (
    (r"^begin", "BEGIN (a transaction per request)"),
    (r"sum\(weekly_counts\.value\)", "_totals: SUM(weekly_counts) by metric"),
    (r"count\(distinct\(?weekly_members\.member", "_totals: COUNT(DISTINCT weekly_members.member) by metric"),
    (r"select weekly_counts\.week, weekly_counts\.metric, weekly_counts\.value", "_weekly: weekly_counts rows (values, members)"),
    (r"select weekly_members\.week, weekly_members\.metric, count\(\*\)", "_weekly: COUNT(weekly_members) by week, metric"),
    (r"from period_members", "_totals: stored period members"),
    (r"from events where events\.id >", "top_content: ratings not folded yet"),
    (r"from item_scores", "top_content: stored scores, first rows"),
    (r"from score_bases", "top_content: score basis"),
    (r"select content_items\.id, content_items\.title", "top_content: titles of the top items"),
    (r"from content_items.*order by", "top_content: items by score (no stored scores)"),
    (r"from cursors", "the fold's cursor"),
    (r"from feedback", "open_feedback"),
    (r"from communities", "community by id"),
)


def _label(statement: str) -> str:
    flat = " ".join(statement.split()).lower()
    for pattern, label in LABELS:
        if re.search(pattern, flat):
            return label
    return flat[:70]


def profile_database(db: Database, repeats: int) -> dict[str, Any]:
    from sqlalchemy import event

    from learnloop.bootstrap import build_runtime
    from learnloop.services import dashboard as dashboards
    from learnloop.services import signin
    from learnloop.web.app import create_app

    runtime = build_runtime(bench_settings(db.url))
    engine = runtime.engine
    recording: dict[str, Any] = {"into": None}

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        into = recording["into"]
        began = conn.info.pop("bench_started", None)
        if into is not None and began is not None:
            into.append((statement, parameters, (time.perf_counter() - began) * 1000))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    today = datetime.now(timezone.utc).date()
    periods = {"4w": dashboards.Period.last_weeks(today, 4), "12w": dashboards.Period.last_weeks(today, 12),
               "2y": dashboards.Period(today - timedelta(days=730), today)}
    k = runtime.settings.min_group_size
    result: dict[str, Any] = {"periods": {}}
    prepare_what_ifs(engine, db.backend, periods)
    try:
        for name, period in periods.items():
            for _ in range(2):
                with runtime.uow() as uow:
                    dashboards.build(uow, COMMUNITY_ID, period, k)
            per_statement: dict[str, list[float]] = defaultdict(list)
            params: dict[str, Any] = {}
            builds = []
            for _ in range(repeats):
                records: list[Any] = []
                recording["into"] = records
                started = time.perf_counter()
                with runtime.uow() as uow:
                    dashboards.build(uow, COMMUNITY_ID, period, k)
                builds.append((time.perf_counter() - started) * 1000)
                recording["into"] = None
                for statement, parameters, ms in records:
                    per_statement[statement].append(ms)
                    params[statement] = parameters
            queries = []
            for statement, times in per_statement.items():
                label = _label(statement)
                alone = None if label.startswith("BEGIN") else \
                    time_alone(engine, statement, params[statement], repeats)
                plan = None if label.startswith("BEGIN") else explain(engine, db.backend, statement, params[statement])
                queries.append({"query": label, "median_ms": round(alone if alone is not None else median(times), 2),
                                "in_build_execute_ms": round(median(times), 2),
                                "calls_per_build": round(len(times) / repeats, 2), "plan": plan,
                                "statement": " ".join(statement.split())[:400]})
            queries.sort(key=lambda q: -q["median_ms"] * q["calls_per_build"])
            result["periods"][name] = {"build_median_ms": round(median(builds), 1),
                                       "sql_median_ms": round(sum(q["median_ms"] * q["calls_per_build"]
                                                                  for q in queries), 1),
                                       "queries": queries,
                                       "what_if": what_ifs(engine, db.backend, name, period, repeats)}
        # the whole page in this process (Flask test client, no HTTP), and where its time goes: the
        # view's own calls (build, the two charts, the template) are timed by wrapping them
        import learnloop.web.dashboard_views as views

        app = create_app(runtime)
        client = app.test_client()
        with runtime.uow() as uow:
            token = signin.issue(uow, user_id=OWNER_ID, username="owner", next_path="/", now=datetime.now(timezone.utc))
        client.post(f"/signin/{token}")
        parts: dict[str, float] = defaultdict(float)
        originals = {name: getattr(views, name) for name in ("trend_chart", "split_chart", "render_template")
                     if hasattr(views, name)}
        original_build = dashboards.build

        def timed(name: str, function: Any) -> Any:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    return function(*args, **kwargs)
                finally:
                    parts[name] += (time.perf_counter() - started) * 1000
            return wrapper

        for name, function in originals.items():
            setattr(views, name, timed(name, function))
        dashboards.build = timed("build", original_build)  # type: ignore[assignment]
        try:
            for name, path in period_paths(today).items():
                for _ in range(2):
                    client.get(path)
                times, split = [], defaultdict(list)
                for _ in range(repeats):
                    parts.clear()
                    started = time.perf_counter()
                    response = client.get(path)
                    times.append((time.perf_counter() - started) * 1000)
                    for part, ms in parts.items():
                        split[part].append(ms)
                    if response.status_code != 200:
                        raise RuntimeError(f"in-process page {path} answered {response.status_code}")
                result["periods"][name]["page_in_process_median_ms"] = round(median(times), 1)
                result["periods"][name]["page_parts_median_ms"] = {part: round(median(v), 1)
                                                                   for part, v in split.items()}
        finally:
            for name, function in originals.items():
                setattr(views, name, function)
            dashboards.build = original_build  # type: ignore[assignment]
        profiler = cProfile.Profile()
        path = period_paths(today)[TARGET_PERIOD]
        profiler.enable()
        for _ in range(repeats):
            client.get(path)
        profiler.disable()
        result["cprofile_4w"] = cprofile_summary(profiler, repeats)
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
        drop_what_ifs(engine)
        engine.dispose()
    return result


WHAT_IF_PEOPLE = "bench_whatif_weekly_people"
WHAT_IF_SCORES = "bench_whatif_item_scores"
WHAT_IF_PERIODS = "bench_whatif_period_people"
STORED_PERIODS = ("4w", "12w")  # the page's fixed periods: the worker could keep their distinct counts


def prepare_what_ifs(engine: Any, backend: str, periods: dict[str, Any]) -> None:
    """Scratch tables in the benchmark's own database (dropped after), standing for changes the
    package could make: per-week distinct counts kept by the fold, a stored and indexed item score,
    and the distinct counts of the fixed periods (4 and 12 weeks) kept by the worker."""
    from sqlalchemy import func, select

    from learnloop.domain.scores import community_prior
    from learnloop.storage.tables import WeeklyMember as M

    with engine.begin() as connection:
        stars, count = connection.exec_driver_sql(
            f"SELECT stars_sum, ratings_count FROM communities WHERE id = {COMMUNITY_ID}").one()
        prior = community_prior(stars, count)
        for name in (WHAT_IF_PEOPLE, WHAT_IF_SCORES, WHAT_IF_PERIODS):
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
        connection.exec_driver_sql(f"CREATE TABLE {WHAT_IF_PERIODS} (community_id INTEGER, first_week DATE, "
                                   "weeks INTEGER, metric VARCHAR(30), value INTEGER, "
                                   "PRIMARY KEY (community_id, first_week, weeks, metric))")
        for name in STORED_PERIODS:
            weeks = periods[name].weeks
            for metric, value in connection.execute(
                    select(M.metric, func.count(func.distinct(M.member)))
                    .where(M.community_id == COMMUNITY_ID, M.week.in_(weeks)).group_by(M.metric)).all():
                connection.exec_driver_sql(
                    f"INSERT INTO {WHAT_IF_PERIODS} VALUES ({COMMUNITY_ID}, '{weeks[0].isoformat()}', {len(weeks)}, "
                    f"'{metric}', {int(value)})")
        connection.exec_driver_sql(
            f"CREATE TABLE {WHAT_IF_PEOPLE} AS SELECT community_id, week, metric, count(*) AS value "
            "FROM weekly_members GROUP BY community_id, week, metric")
        connection.exec_driver_sql(f"CREATE UNIQUE INDEX {WHAT_IF_PEOPLE}_key ON {WHAT_IF_PEOPLE} "
                                   "(community_id, week, metric)")
        connection.exec_driver_sql(
            f"CREATE TABLE {WHAT_IF_SCORES} AS SELECT id AS item_id, community_id, ratings_count, "
            f"({prior.weight * prior.mean!r} + stars_sum) / ({prior.weight!r} + ratings_count) AS score "
            "FROM content_items WHERE ratings_count > 0")
        connection.exec_driver_sql(f"CREATE INDEX {WHAT_IF_SCORES}_rank ON {WHAT_IF_SCORES} "
                                   "(community_id, score DESC, ratings_count DESC)")
        if backend == "postgresql":
            connection.exec_driver_sql(f"ANALYZE {WHAT_IF_PEOPLE}")
            connection.exec_driver_sql(f"ANALYZE {WHAT_IF_SCORES}")


def drop_what_ifs(engine: Any) -> None:
    with engine.begin() as connection:
        for name in (WHAT_IF_PEOPLE, WHAT_IF_SCORES, WHAT_IF_PERIODS):
            connection.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")


class _Same:
    """A context manager handing back an already open connection."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def __enter__(self) -> Any:
        return self.connection

    def __exit__(self, *_: object) -> None:
        return None


def what_ifs(engine: Any, backend: str, name: str, period: Any, repeats: int) -> list[dict[str, Any]]:
    """Each slow query as it is and as it could be, timed alternately on the same database; `same`
    says whether both give the dashboard the same answer."""
    from sqlalchemy import Float, cast, column, func, select, table

    from learnloop.domain.scores import community_prior
    from learnloop.storage.tables import Community, ContentItem as I, WeeklyMember as M

    weeks = period.weeks
    where = (M.community_id == COMMUNITY_ID, M.week.in_(weeks))
    totals = select(M.metric, func.count(func.distinct(M.member))).where(*where).group_by(M.metric)
    distinct = select(M.metric, M.member).where(*where).distinct().subquery()
    totals_rewritten = select(distinct.c.metric, func.count()).group_by(distinct.c.metric)
    weekly = select(M.week, M.metric, func.count()).where(*where).group_by(M.week, M.metric)
    people = table(WHAT_IF_PEOPLE, column("community_id"), column("week"), column("metric"), column("value"))
    weekly_stored = select(people.c.week, people.c.metric, people.c.value).where(
        people.c.community_id == COMMUNITY_ID, people.c.week.in_(weeks))
    scores = table(WHAT_IF_SCORES, column("item_id"), column("community_id"), column("ratings_count"),
                   column("score"))
    stored = table(WHAT_IF_PERIODS, column("community_id"), column("first_week"), column("weeks"), column("metric"),
                   column("value"))
    totals_stored = select(stored.c.metric, stored.c.value).where(
        stored.c.community_id == COMMUNITY_ID, stored.c.first_week == weeks[0], stored.c.weeks == len(weeks))
    with engine.connect() as connection:
        stars, count = connection.execute(select(Community.stars_sum, Community.ratings_count)
                                          .where(Community.id == COMMUNITY_ID)).one()
    prior = community_prior(stars, count)
    score = (prior.weight * prior.mean + I.stars_sum) / (prior.weight + I.ratings_count)
    top = select(I.url, score.label("score")).where(I.community_id == COMMUNITY_ID, I.ratings_count > 0) \
        .order_by(score.desc(), I.ratings_count.desc()).limit(10)
    top_indexed = select(I.url, cast(scores.c.score, Float)).join(scores, scores.c.item_id == I.id) \
        .where(scores.c.community_id == COMMUNITY_ID) \
        .order_by(scores.c.score.desc(), scores.c.ratings_count.desc()).limit(10)
    experiments = [
        ("_totals people: COUNT(DISTINCT member) -> count(*) over SELECT DISTINCT metric, member",
         totals, totals_rewritten, None),
        ("_weekly people: COUNT(*) by week, metric -> per-week counts kept by the fold (scratch table)",
         weekly, weekly_stored, None),
        ("top_content: scan + sort all rated items -> stored score, index (community_id, score)",
         top, top_indexed, None),
        ("_totals people of the fixed 4w/12w periods -> kept by the worker (scratch table; a custom period "
         "still needs the query)", totals, totals_stored if name in STORED_PERIODS else None, None),
    ]
    if backend == "sqlite":
        sql = (f"SELECT url, ({prior.weight * prior.mean!r} + stars_sum) / ({prior.weight!r} + ratings_count) AS score "
               "FROM content_items{hint} WHERE community_id = {community} AND ratings_count > 0 "
               "ORDER BY score DESC, ratings_count DESC LIMIT 10")
        experiments.append(
            ("top_content on SQLite: with the planner's choice of index -> NOT INDEXED (a plain scan)",
             sql.format(hint="", community=COMMUNITY_ID), sql.format(hint=" NOT INDEXED", community=COMMUNITY_ID),
             None))
    if backend == "postgresql":
        experiments += [
            ("_totals people with SET LOCAL work_mem = '64MB' (the sort spills at 4 MB)", totals, totals,
             "SET LOCAL work_mem = '64MB'"),
            ("_totals people rewritten, and work_mem 64MB", totals, totals_rewritten, "SET LOCAL work_mem = '64MB'"),
        ]
    found = []
    for label, as_is, alternative, setting in experiments:
        if alternative is None:
            found.append({"query": label, "as_is_ms": None, "alternative_ms": None, "same": True, "rows": None})
            continue
        timings: dict[str, list[float]] = {"as_is": [], "alternative": []}
        rows: dict[str, Any] = {}
        # one connection unless a setting needs a second one (PostgreSQL only: on SQLite every
        # transaction of learnloop's engine takes the write lock, so two would wait for each other)
        with engine.connect() as plain, (engine.connect() if setting else _Same(plain)) as changed:
            if setting:
                changed.exec_driver_sql(setting)
            for _ in range(repeats + 1):
                for key, connection, statement in (("as_is", plain, as_is), ("alternative", changed, alternative)):
                    started = time.perf_counter()
                    rows[key] = (connection.exec_driver_sql(statement) if isinstance(statement, str)
                                 else connection.execute(statement)).all()
                    timings[key].append((time.perf_counter() - started) * 1000)
        if label.startswith("top_content"):  # the same items in the same order
            same = [r[0] for r in rows["as_is"]] == [r[0] for r in rows["alternative"]]
        else:
            same = sorted(tuple(map(str, r)) for r in rows["as_is"]) == \
                sorted(tuple(map(str, r)) for r in rows["alternative"])
        found.append({"query": label, "as_is_ms": round(median(timings["as_is"][1:]), 2),
                      "alternative_ms": round(median(timings["alternative"][1:]), 2), "same": same,
                      "rows": len(rows["as_is"])})
    return found


def time_alone(engine: Any, statement: str, parameters: Any, repeats: int) -> float:
    """Median ms of executing one captured statement and fetching all its rows (SQLite does most of
    its work in fetchall, which cursor events do not see)."""
    times = []
    with engine.connect() as connection:
        for _ in range(repeats + 1):
            started = time.perf_counter()
            connection.exec_driver_sql(statement, parameters).all()
            times.append((time.perf_counter() - started) * 1000)
    return median(times[1:])


def explain(engine: Any, backend: str, statement: str, parameters: Any) -> list[str]:
    try:
        with engine.connect() as connection:
            if backend == "sqlite":
                rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
                return [str(row[-1]) for row in rows]
            rows = connection.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).all()
            return [str(row[0]) for row in rows]
    except Exception as exc:  # noqa: BLE001  (a plan is a diagnostic; never fail the run on it)
        return [f"(EXPLAIN failed: {type(exc).__name__}: {exc})"]


def cprofile_summary(profiler: cProfile.Profile, calls: int, top: int = 14) -> dict[str, Any]:
    stats = pstats.Stats(profiler)
    rows = []
    for (filename, line, function), (_, ncalls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        short = filename.split("site-packages/")[-1].split("plugin/")[-1]
        rows.append((tottime, cumtime, ncalls, f"{short}:{line}({function})"))
    own = sorted(rows, reverse=True)[:top]
    wanted = ("services/dashboard.py", "web/charts.py", "web/dashboard_views.py", "flask/templating.py",
              "domain/learning_metrics.py", "domain/privacy.py")
    steps = sorted((r for r in rows if any(w in r[3] for w in wanted) and r[1] / calls >= 0.0005),
                   key=lambda r: -r[1])[:top]
    return {"per_page_own_time_ms": [(name, round(1000 * t / calls, 2), round(1000 * c / calls, 2), n // calls)
                                     for t, c, n, name in own],
            "per_page_cumulative_ms": [(name, round(1000 * c / calls, 2)) for t, c, n, name in steps]}


# --------------------------------------------------------------------------------------------
# The run


@dataclass
class Run:
    args: argparse.Namespace
    workdir: Path
    end_us: int
    datasets: dict[str, Dataset] = field(default_factory=dict)
    shapes: dict[str, Shape] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)


def dataset(run: Run, size: str) -> Dataset:
    if size not in run.datasets:
        shape = run.shapes[size]
        log(f"generating the {size} dataset ({shape.events():,} events over {shape.days} days)")
        run.datasets[size] = generate(shape, run.end_us, run.args.seed)
        log(f"  generated in {run.datasets[size].seconds:.1f}s")
    return run.datasets[size]


def prepare(run: Run, backend_url: str, size: str, home: Path) -> tuple[Database, dict[str, Any]]:
    """A fresh database with the dataset written and folded."""
    from learnloop.storage.engine import make_engine
    from learnloop.storage.migrate import upgrade

    ds = dataset(run, size)
    db = make_database(backend_url, size, run.workdir)
    label = f"{db.backend}/{size}"
    result: dict[str, Any] = {"database": db.label, "dataset": ds.counts(), "generation_s": round(ds.seconds, 1)}
    try:
        log(f"{label}: migrating")
        engine = make_engine(db.url)
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        log(f"{label}: writing {len(ds.events):,} events, {len(ds.ratings):,} ratings, "
            f"{len(ds.reflections):,} reflections")
        result["load_s"] = round(load_sqlite(db.path, ds) if db.backend == "sqlite" else load_postgres(db.url, ds), 1)
        log(f"{label}: written in {result['load_s']}s; folding in a separate process")
        result["fold"] = run_fold(db.url, home, run.args.fold_timeout, f"{db.backend}-{size}")
        log(f"{label}: folded {result['fold']['events']:,} events in {result['fold']['fold_s']}s, "
            f"peak RSS {result['fold']['peak_rss_mb']} MB")
        if db.backend == "postgresql":
            result["vacuum_analyze_s"] = round(vacuum_analyze_postgres(db), 1)
        result["rollups"] = rollup_stats(db.url, datetime.now(timezone.utc).date())
    except BaseException:
        if not run.args.keep:
            db.drop()
        raise
    run.checks.append({"check": f"{label}: every event folded once", "ok": result["fold"]["events"] == len(ds.events),
                       "detail": {"folded": result["fold"]["events"], "events": len(ds.events)}})
    run.checks.append({"check": f"{label}: weekly ratings add up to the rating events",
                       "ok": result["rollups"]["folded_ratings"] == result["rollups"]["rating_events"],
                       "detail": {k: result["rollups"][k] for k in ("folded_ratings", "rating_events")}})
    return db, result


def incremental_fold(run: Run, db: Database, size: str, home: Path) -> dict[str, Any]:
    """The worker's steady state: 5,000 fresh events on top of the folded history."""
    extra = extra_chat_events(INCREMENTAL_EVENTS, run.datasets[size].members,
                              to_us(datetime.now(timezone.utc)) - 40_000_000, run.args.seed)
    if db.backend == "sqlite":
        append_events_sqlite(db.path, extra)
    else:
        append_events_postgres(db.url, extra)
    return run_fold(db.url, home, run.args.fold_timeout, f"{db.backend}-{size}-incremental")


def bench_backend(run: Run, backend_url: str) -> dict[str, Any]:
    home = run.workdir / ("sqlite" if backend_url == "sqlite" else "postgresql")
    home.mkdir(parents=True, exist_ok=True)
    write_config(home)
    out: dict[str, Any] = {"sizes": {}}
    databases: dict[str, Database] = {}
    try:
        for size in run.args.sizes:
            db, result = prepare(run, backend_url, size, home)
            databases[size] = db
            out["sizes"][size] = result
        backend = next(iter(databases.values())).backend
        log(f"{backend}: serving {' and '.join(databases)} and loading the dashboard "
            f"({run.args.loads} loads per dataset and period, round robin)")
        sites = {size: Site(db, home, run.args, f"{db.backend}/{size}") for size, db in databases.items()}
        pages, out["machine_during_loads"] = measure_pages(sites, run.args, run.checks)
        for size, db in databases.items():
            out["sizes"][size].update(pages[size])
            page = pages[size]["pages"][TARGET_PERIOD]
            log(f"{db.backend}/{size}: 4w p50 {page['p50_ms']} ms, p95 {page['p95_ms']} ms")
        for size, db in databases.items():
            out["sizes"][size]["fold_incremental"] = incremental_fold(run, db, size, home)
            out["sizes"][size]["database_mb"] = db.size_mb()
        out["targets"] = targets(out["sizes"])
        missed = any(t["ok"] is False for t in out["targets"].values())
        if run.args.profile == "always" or (run.args.profile == "auto" and missed):
            out["profile"] = {}
            for size, db in databases.items():
                log(f"{db.backend}/{size}: profiling dashboard.build and the page in this process")
                out["profile"][size] = profile_database(db, run.args.profile_repeats)
    finally:
        if not run.args.keep:
            for db in databases.values():
                try:
                    db.drop()
                except Exception as exc:  # noqa: BLE001
                    log(f"could not drop {db.label}: {exc}")
    return out


def targets(sizes: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    full = sizes.get("full")
    small = sizes.get("small")
    if full:
        p95 = full["pages"][TARGET_PERIOD]["p95_ms"]
        found["p95_full"] = {"target": f"4-week page p95 < {TARGET_P95_MS:.0f} ms at full size", "value": p95,
                             "ok": p95 < TARGET_P95_MS}
    if full and small:
        ratio = full["pages"][TARGET_PERIOD]["p95_ms"] / max(0.001, small["pages"][TARGET_PERIOD]["p95_ms"])
        found["ratio"] = {"target": f"4-week p95 full/small <= {TARGET_RATIO}", "value": round(ratio, 2),
                          "ok": ratio <= TARGET_RATIO,
                          "p50_ratio": round(full["pages"][TARGET_PERIOD]["p50_ms"]
                                             / max(0.001, small["pages"][TARGET_PERIOD]["p50_ms"]), 2)}
    return found


# --------------------------------------------------------------------------------------------
# Report


def print_report(result: dict[str, Any]) -> None:
    config = result["config"]
    print(f"\nDashboard benchmark (issue 5): scale {config['scale']}, small dataset '{config['small_shape']}', "
          f"{config['loads']} loads per period, {config['web_workers']} web worker(s)")
    shapes = config["shapes"]
    rows = [[name, f"{s['events']:,}", f"{s['ratings']:,}", f"{s['reflections']:,}", f"{s['chat']:,}",
             s["members"], s["days"]] for name, s in shapes.items()]
    print(format_table(["dataset", "events", "ratings", "reflections", "chat", "members", "days"], rows))
    for backend, data in result["backends"].items():
        print(f"\n== {backend}")
        if "error" in data:
            print(f"   could not run: {data['error']}")
            continue
        rows = []
        for size, s in data["sizes"].items():
            for name, page in s["pages"].items():
                rows.append([f"{size} {name}", page["loads"], page["p50_ms"], page["p95_ms"], page["max_ms"],
                             f"{(page['bytes'] or 0) / 1024:.0f}"])
        print(format_table(["page (dataset, period)", "loads", "p50 ms", "p95 ms", "max ms", "KiB"], rows))
        rows = []
        for size, s in data["sizes"].items():
            fold, inc, roll = s["fold"], s["fold_incremental"], s["rollups"]
            rows.append([size, f"{s['dataset']['events']:,}", s["generation_s"], s["load_s"], fold["fold_s"],
                         f"{fold['events_per_s']:,}", fold["peak_rss_mb"], inc["fold_s"], inc["peak_rss_mb"],
                         s["web_worker_rss_mb"], f"{roll['weekly_members_rows']:,}",
                         f"{roll['weekly_members_rows_4w']:,}", s["database_mb"]])
        print(format_table(["dataset", "events", "gen s", "load s", "fold s", "fold ev/s", "fold RSS MB",
                            "fold+5k s", "fold+5k RSS", "web RSS MB", "weekly_members", "wm 4w", "db MB"], rows))
        machine = data.get("machine_during_loads", {})
        print(f"  machine during the loads: {machine.get('busy_pct')}% busy, {machine.get('steal_pct')}% stolen "
              f"({config['machine']['cpus']} CPUs); fold RSS = the fold process's VmHWM")
        for size, s in data["sizes"].items():
            by_metric = s["rollups"]["weekly_members_4w_by_metric"]
            print(f"  {size}: weekly_members rows in the 4 weeks by metric: "
                  + ", ".join(f"{metric} {count:,}" for metric, count in list(by_metric.items())[:8]))
        for target in data.get("targets", {}).values():
            extra = f" (p50 ratio {target['p50_ratio']}, for information)" if "p50_ratio" in target else ""
            print(f"  {'PASS' if target['ok'] else 'FAIL'}  {target['target']}: {target['value']}{extra}")
        if "profile" in data:
            print_profile(data["profile"])
    print()
    for check in result["checks"]:
        if not check["ok"]:
            print(f"  CHECK FAILED  {check['check']}: {check['detail']}")
    print(f"checks: {sum(c['ok'] for c in result['checks'])}/{len(result['checks'])} passed;  "
          f"targets: {'all met' if result['targets_met'] else 'MISSED'}")


def print_profile(profile: dict[str, Any]) -> None:
    sizes = list(profile)
    print("\n  profile (in this process): each query executed and fetched alone; build = services.dashboard.build;"
          "\n  page = the whole page through the Flask test client (no HTTP); medians in ms")
    for period in PERIODS:
        header = ["query, " + period] + [f"{size} ms" for size in sizes]
        labels: list[str] = []
        for size in sizes:
            for q in profile[size]["periods"][period]["queries"]:
                if q["query"] not in labels:
                    labels.append(q["query"])
        rows = []
        for label in labels:
            row: list[Any] = [label]
            for size in sizes:
                q = next((q for q in profile[size]["periods"][period]["queries"] if q["query"] == label), None)
                row.append(f"{q['median_ms']:.2f}" + (f" x{q['calls_per_build']:g}" if q and q["calls_per_build"] != 1
                                                       else "") if q else "-")
            rows.append(row)
        for n, item in enumerate(profile[sizes[0]]["periods"][period]["what_if"]):
            row = [f"what-if {n + 1}"]
            for size in sizes:
                found = profile[size]["periods"][period]["what_if"][n]
                row.append("n/a" if found["alternative_ms"] is None else
                           f"{found['alternative_ms']:.2f} (as is {found['as_is_ms']:.2f})"
                           + ("" if found["same"] else " DIFFERENT"))
            rows.append(row)
        for name, key in (("SQL total", "sql_median_ms"), ("dashboard.build", "build_median_ms"),
                          ("whole page, in process", "page_in_process_median_ms")):
            rows.append([name] + [profile[size]["periods"][period].get(key) for size in sizes])
        for part in ("build", "trend_chart", "split_chart", "render_template"):
            rows.append([f"  of which the view's {part}"] + [
                profile[size]["periods"][period].get("page_parts_median_ms", {}).get(part) for size in sizes])
        print(format_table(header, rows))
    print("  what-ifs (scratch tables in the benchmark's database, timed alternately with the query as it is):")
    for n, item in enumerate(profile[sizes[0]]["periods"]["4w"]["what_if"]):
        print(f"    {n + 1}. {item['query']}")
    last = sizes[-1]
    print(f"\n  plans ({last}, 4w):")
    for q in profile[last]["periods"]["4w"]["queries"]:
        if q["plan"]:
            print(f"    {q['query']}:")
            for line in q["plan"][:12]:
                print(f"      {line}")
    print(f"\n  cProfile ({last}, 4w page), per page: own ms, cumulative ms, calls")
    for name, own, cumulative, calls in profile[last]["cprofile_4w"]["per_page_own_time_ms"][:10]:
        print(f"    {own:8.2f} {cumulative:8.2f} {calls:7d}  {name}")
    print("  learnloop steps, cumulative ms per page:")
    for name, cumulative in profile[last]["cprofile_4w"]["per_page_cumulative_ms"]:
        print(f"    {cumulative:8.2f}  {name}")


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every volume (both datasets) by this; 0.1 for a quick run (default 1)")
    parser.add_argument("--small-events", type=int, default=SMALL_EVENTS,
                        help="events of the small dataset before --scale (default 100,000)")
    parser.add_argument("--small-shape", choices=("history", "uniform"), default="history",
                        help="history: same weekly activity, shorter history (default); uniform: same two years")
    parser.add_argument("--sizes", default="small,full", help="datasets to run, in order (default small,full)")
    parser.add_argument("--members", type=int, default=600, help="members of the community (default 600)")
    parser.add_argument("--database-url", action="append",
                        help="'sqlite' (a temp file) or a PostgreSQL URL (fresh schemas, dropped after); repeatable. "
                             f"Default: sqlite, and {DEFAULT_POSTGRES} if it answers")
    parser.add_argument("--loads", type=int, default=50, help="measured loads per period (default 50)")
    parser.add_argument("--warmup", type=int, default=3, help="loads per period before measuring (default 3)")
    parser.add_argument("--period-seconds", type=float, default=120.0,
                        help="stop loading one period after this long (at least 5 loads; default 120)")
    parser.add_argument("--web-workers", type=int, default=1, help="gunicorn workers (default 1)")
    parser.add_argument("--web-threads", type=int, default=2, help="gunicorn threads per worker (default 2)")
    parser.add_argument("--fold-timeout", type=float, default=1200.0, help="kill a fold process after this long")
    parser.add_argument("--profile", choices=("auto", "always", "never"), default="auto",
                        help="profile when a target is missed (auto), always, or never")
    parser.add_argument("--profile-repeats", type=int, default=10)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    parser.add_argument("--json-file", type=Path, help="also write the JSON document to this file")
    parser.add_argument("--keep", action="store_true", help="keep the work directory and the PostgreSQL schemas")
    parser.add_argument("--strict", action="store_true", help="exit 3 when a target is missed")
    parser.add_argument("--child-fold", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_fold:
        return child_fold(args.child_fold)
    args.sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    if not set(args.sizes) <= {"small", "full"} or not args.sizes:
        parser.error("--sizes takes small, full or both")
    for name in [n for n in os.environ if n.startswith("LEARNLOOP_")]:
        del os.environ[name]  # this process reads only what the benchmark configures

    backends = args.database_url or ["sqlite"] + ([DEFAULT_POSTGRES] if postgres_answers(DEFAULT_POSTGRES) else [])
    workdir = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    os.environ["LEARNLOOP_CONFIG_FILE"] = str(write_config(workdir))
    end_us = to_us(datetime.now(timezone.utc)) - 120_000_000
    full = full_shape(args.scale, args.members)
    small = small_shape(full, round(args.small_events * args.scale), args.small_shape, end_us)
    run = Run(args, workdir, end_us, shapes={"full": full, "small": small})
    result: dict[str, Any] = {
        "config": {"scale": args.scale, "small_shape": args.small_shape, "loads": args.loads,
                   "warmup": args.warmup, "web_workers": args.web_workers, "web_threads": args.web_threads,
                   "seed": args.seed, "targets": {"p95_ms": TARGET_P95_MS, "ratio": TARGET_RATIO},
                   "shapes": {name: {**vars(run.shapes[name]), "events": run.shapes[name].events()}
                              for name in args.sizes},
                   "machine": {"cpus": os.cpu_count()}},
        "backends": {},
    }
    log(f"work directory {workdir}; backends: {', '.join(b.split('@')[-1] for b in backends)}")
    could_not_run = False
    try:
        for backend_url in backends:
            name = "sqlite" if backend_url == "sqlite" else "postgresql"
            try:
                result["backends"][name] = bench_backend(run, backend_url)
            except Exception as exc:  # noqa: BLE001  (report, go on with the next backend)
                log(f"{name}: {type(exc).__name__}: {exc}")
                traceback.print_exc(file=sys.stderr)
                result["backends"][name] = {"error": f"{type(exc).__name__}: {exc}"}
                could_not_run = True
        for name, data in result["backends"].items():
            for target in data.get("targets", {}).values():
                target["backend"] = name
        result["checks"] = run.checks
        all_targets = [t for data in result["backends"].values() for t in data.get("targets", {}).values()]
        result["targets_met"] = bool(all_targets) and all(t["ok"] for t in all_targets)
        if args.json_file:
            args.json_file.write_text(json.dumps(result, indent=2, default=str) + "\n")
        if args.json:
            print(json.dumps(result, indent=2, default=str))
        else:
            print_report(result)
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if could_not_run:
        return 2
    if not all(c["ok"] for c in run.checks):
        return 1
    if args.strict and not result["targets_met"]:
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
