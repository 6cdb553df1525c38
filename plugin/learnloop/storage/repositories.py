"""Repositories: the only place that knows how records are queried and written."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from learnloop.storage.tables import (
    Community,
    ContentItem,
    Event,
    Feedback,
    InstanceSecret,
    OutboxMessage,
    Rating,
)


def insert_ignoring_conflicts(session: Session, table: Table, values: dict[str, Any], keys: list[str]) -> bool:
    """INSERT that does nothing when a row with the same unique keys exists; True if it inserted."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).values(**values).on_conflict_do_nothing(index_elements=keys)
    return session.execute(statement.returning(table.c[keys[0]])).first() is not None


class SecretRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get_or_create(self, name: str, candidate: str, now: datetime) -> str:
        insert_ignoring_conflicts(
            self.session, InstanceSecret.__table__, {"name": name, "value": candidate, "created_at": now}, ["name"]
        )
        return self.session.scalars(select(InstanceSecret.value).where(InstanceSecret.name == name)).one()


class CommunityRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_channel(self, channel_id: str) -> Community | None:
        return self.session.scalars(select(Community).where(Community.channel_id == channel_id)).one_or_none()

    def get(self, community_id: int) -> Community | None:
        return self.session.get(Community, community_id)

    def ensure(self, channel_id: str, team_id: str | None, name: str, now: datetime) -> Community:
        """The channel's community, created on first sight; a configured name replaces a guessed one."""
        community = self.by_channel(channel_id)
        if community is None:
            insert_ignoring_conflicts(
                self.session,
                Community.__table__,
                {"channel_id": channel_id, "team_id": team_id or None, "name": name, "created_at": now,
                 "ratings_count": 0, "stars_sum": 0},
                ["channel_id"],
            )
            community = self.by_channel(channel_id)
            assert community is not None
        if community.name != name:
            community.name = name
        if team_id and not community.team_id:
            community.team_id = team_id
        return community

    def add_to_rating_totals(self, community_id: int, stars_delta: int, count_delta: int) -> None:
        """Atomic in SQL (`SET stars_sum = stars_sum + n`), so concurrent ratings never lose a count."""
        community = self.session.get(Community, community_id)
        assert community is not None
        community.stars_sum = Community.stars_sum + stars_delta
        community.ratings_count = Community.ratings_count + count_delta


class ContentRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_url(self, url: str) -> ContentItem | None:
        return self.session.scalars(select(ContentItem).where(ContentItem.url == url)).one_or_none()

    def get(self, item_id: int, *, for_update: bool = False) -> ContentItem | None:
        statement = select(ContentItem).where(ContentItem.id == item_id)
        if for_update:
            statement = statement.with_for_update().execution_options(populate_existing=True)
        return self.session.scalars(statement).one_or_none()

    def ensure(
        self, url: str, *, kind: str, community_id: int | None, shared_by: str | None,
        title: str | None, now: datetime,
    ) -> tuple[ContentItem, bool]:
        """The item for a normalised URL, and whether this call created it."""
        item = self.by_url(url)
        created = False
        if item is None:
            created = insert_ignoring_conflicts(
                self.session,
                ContentItem.__table__,
                {"url": url, "kind": kind, "community_id": community_id, "first_shared_by": shared_by,
                 "title": title, "ratings_count": 0, "stars_sum": 0, "created_at": now},
                ["url"],
            )
            item = self.by_url(url)
            assert item is not None
        if title and not item.title:
            item.title = title
        return item, created

    def add_to_rating_totals(self, item: ContentItem, stars_delta: int, count_delta: int) -> None:
        item.stars_sum += stars_delta
        item.ratings_count += count_delta

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(ContentItem)) or 0


class RatingRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def of(self, item_id: int, user_id: str) -> Rating | None:
        return self.session.scalars(
            select(Rating).where(Rating.item_id == item_id, Rating.user_id == user_id)
        ).one_or_none()

    def add(self, rating: Rating) -> None:
        self.session.add(rating)

    def by_user(self, user_id: str) -> list[Rating]:
        return list(self.session.scalars(select(Rating).where(Rating.user_id == user_id).order_by(Rating.id)))


class FeedbackRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, feedback: Feedback) -> None:
        self.session.add(feedback)

    def for_community(self, community_id: int, status: str = "open") -> list[Feedback]:
        return list(
            self.session.scalars(
                select(Feedback)
                .where(Feedback.community_id == community_id, Feedback.status == status)
                .order_by(Feedback.created_at.desc())
            )
        )


class EventLog:
    """Append-only: events are inserted, never updated."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def append(
        self, kind: str, *, occurred_at: datetime, recorded_at: datetime, community_id: int | None = None,
        actor_id: str | None = None, item_id: int | None = None, dedupe_key: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> bool:
        """True if recorded; False if an event with the same dedupe key was recorded before."""
        values = {
            "kind": kind, "occurred_at": occurred_at, "recorded_at": recorded_at, "community_id": community_id,
            "actor_id": actor_id, "item_id": item_id, "dedupe_key": dedupe_key, "data": data or {},
        }
        if dedupe_key is None:
            self.session.add(Event(**values))
            return True
        return insert_ignoring_conflicts(self.session, Event.__table__, values, ["dedupe_key"])

    def of_kind(self, kind: str) -> list[Event]:
        return list(self.session.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)))


class Outbox:
    def __init__(self, session: Session) -> None:
        self.session = session

    def enqueue(self, kind: str, payload: dict[str, Any], *, key: str, now: datetime) -> bool:
        """Queue an intent once per key; False when the same key was queued before."""
        return insert_ignoring_conflicts(
            self.session,
            OutboxMessage.__table__,
            {"kind": kind, "payload": payload, "idempotency_key": key, "status": "pending", "attempts": 0,
             "next_attempt_at": now, "created_at": now},
            ["idempotency_key"],
        )

    def due(self, now: datetime, limit: int) -> list[OutboxMessage]:
        statement = (
            select(OutboxMessage)
            .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(self.session.scalars(statement))

    def get(self, message_id: int) -> OutboxMessage | None:
        return self.session.get(OutboxMessage, message_id)

    def pending(self) -> list[OutboxMessage]:
        return list(self.session.scalars(
            select(OutboxMessage).where(OutboxMessage.status == "pending").order_by(OutboxMessage.id)
        ))
