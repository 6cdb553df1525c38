"""Weekly rollups maintained from the event log, so a dashboard never rescans history.

The worker folds new events (after the `rollups` cursor) into weekly totals and weekly member
sets; people enter those sets only as keyed hashes, enough to count distinct people."""

from __future__ import annotations

import hashlib
import hmac
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from learnloop.storage.tables import ContentItem, Event, WeeklyCount, WeeklyMember
from learnloop.storage.unit_of_work import UnitOfWork

CURSOR = "rollups"
BATCH = 5000
SETTLE = timedelta(seconds=30)
"""Events younger than this wait for the next pass: on PostgreSQL a smaller id can commit after a
larger one, and the cursor must never step over an event that is still to come."""

PEOPLE_METRICS = frozenset({
    "ratings", "links_shared", "posts", "replies", "mentions", "reflections", "reflections_shared",
    "reflections_published", "prompts_sent", "prompts_answered",
})
"""Measures that describe what people did: shown only when at least k distinct people stand behind them."""


def week_of(moment: datetime) -> date:
    day = moment.date()
    return day - timedelta(days=day.weekday())


def member_key(user_id: str, key: bytes) -> str:
    return hmac.new(key, user_id.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


@dataclass(frozen=True)
class Contribution:
    metric: str
    member: str | None = None


def contributions(event: Event, item_kind: str | None, key: bytes) -> list[Contribution]:
    person = member_key(event.actor_id, key) if event.actor_id else None
    data = event.data or {}
    kind = event.kind
    if kind == "rating":
        found = [Contribution("ratings", person), Contribution("items_rated", f"item:{event.item_id}")]
        if item_kind == "reflection" and data.get("previous") is None:
            found.append(Contribution("reflection_ratings"))
        return found
    if kind == "reply":
        return [Contribution("replies", person), Contribution("threads", f"root:{data.get('root_id')}")]
    if kind == "reflection":
        found = [Contribution("reflections", person)]
        if data.get("answered_prompt"):
            found.append(Contribution("prompts_answered", person))
        return found
    simple = {"link_shared": "links_shared", "chat_post": "posts", "mention": "mentions",
              "reflection_shared": "reflections_shared", "reflection_published": "reflections_published",
              "prompt_sent": "prompts_sent", "wiki_page_created": "new_pages", "wiki_page_updated": "page_updates"}
    metric = simple.get(kind)
    if metric is None:
        return []
    return [Contribution(metric, person if metric in PEOPLE_METRICS else None)]


def _upsert_counts(uow: UnitOfWork, counts: dict[tuple[int, date, str], int]) -> None:
    if not counts:
        return
    connection = uow.session.connection()
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    table = WeeklyCount.__table__
    rows = [{"community_id": c, "week": w, "metric": m, "value": v} for (c, w, m), v in counts.items()]
    statement = insert(table).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=["community_id", "week", "metric"], set_={"value": table.c.value + statement.excluded.value})
    connection.execute(statement)


def _insert_members(uow: UnitOfWork, members: set[tuple[int, date, str, str]]) -> None:
    if not members:
        return
    connection = uow.session.connection()
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    rows = [{"community_id": c, "week": w, "metric": m, "member": who} for c, w, m, who in members]
    for start in range(0, len(rows), 500):
        connection.execute(insert(WeeklyMember.__table__).values(rows[start:start + 500]).on_conflict_do_nothing())


def fold_new_events(uow: UnitOfWork, key: bytes, now: datetime, *, batch: int = BATCH) -> int:
    """Fold up to `batch` events past the cursor into the rollups, in one transaction with the cursor."""
    after = int(uow.cursors.get(CURSOR) or 0)
    events = list(uow.session.scalars(
        select(Event).where(Event.id > after, Event.recorded_at <= now - SETTLE).order_by(Event.id).limit(batch)))
    if not events:
        return 0
    item_ids = {event.item_id for event in events if event.kind == "rating" and event.item_id}
    kinds = dict(uow.session.execute(select(ContentItem.id, ContentItem.kind).where(ContentItem.id.in_(item_ids))).all()) \
        if item_ids else {}
    counts: dict[tuple[int, date, str], int] = defaultdict(int)
    members: set[tuple[int, date, str, str]] = set()
    for event in events:
        if event.community_id is None:
            continue
        week = week_of(event.occurred_at)
        for part in contributions(event, kinds.get(event.item_id), key):
            counts[(event.community_id, week, part.metric)] += 1
            if part.member:
                members.add((event.community_id, week, part.metric, part.member))
    _upsert_counts(uow, counts)
    _insert_members(uow, members)
    uow.cursors.move(CURSOR, str(events[-1].id), now)
    uow.commit()
    return len(events)


def fold_all(uow_factory, key: bytes, now: datetime) -> int:
    total = 0
    while True:
        with uow_factory() as uow:
            done = fold_new_events(uow, key, now)
        total += done
        if done < BATCH:
            return total


def weeks_between(first: date, last: date) -> Iterable[date]:
    week = first - timedelta(days=first.weekday())
    while week <= last:
        yield week
        week += timedelta(days=7)
