"""Repositories: the only place that knows how records are queried and written."""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Dialect, Table, TypeDecorator, bindparam, func, insert, select, update
from sqlalchemy.types import TypeEngine
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from learnloop.storage.transaction import Transaction
from learnloop.storage.tables import (
    Community,
    Cursor,
    ContentItem,
    Event,
    Feedback,
    InstanceSecret,
    OutboxMessage,
    Rating,
)


def dialect_insert(dialect: str) -> Callable[..., Any]:
    """The dialect's INSERT construct, which has ON CONFLICT (both backends' syntax is the same)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _partial_index_where(dialect: str, table: Table, keys: tuple[str, ...]) -> Any:
    """The WHERE clause of the unique index over `keys` when it is partial (an ON CONFLICT target must
    repeat it), else None."""
    for index in table.indexes:
        if index.unique and tuple(column.name for column in index.columns) == keys:
            return index.dialect_kwargs.get(f"{dialect}_where")
    return None


@functools.cache
def _insert_ignoring(dialect: str, table: Table, columns: tuple[str, ...], keys: tuple[str, ...]) -> Any:
    """Built once per table and column set: building a statement costs more than running it."""
    statement = dialect_insert(dialect)(table).values({name: bindparam(name) for name in columns})
    return statement.on_conflict_do_nothing(
        index_elements=list(keys), index_where=_partial_index_where(dialect, table, keys),
    ).returning(table.c[keys[0]])


def insert_ignoring_conflicts(session: Session, table: Table, values: dict[str, Any], keys: list[str]) -> bool:
    """INSERT that does nothing when a row with the same unique keys exists; True if it inserted."""
    connection = session.connection()
    statement = _insert_ignoring(connection.dialect.name, table, tuple(sorted(values)), tuple(keys))
    return connection.execute(statement, values).first() is not None


def insert_many_ignoring_conflicts(session: Session, table: Table, rows: list[dict[str, Any]], keys: list[str]) -> None:
    """One executemany INSERT of rows of the same columns, each skipped when its unique keys exist."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect.name
    connection.execute(dialect_insert(dialect)(table).on_conflict_do_nothing(
        index_elements=keys, index_where=_partial_index_where(dialect, table, tuple(keys))), rows)


@dataclass(frozen=True)
class _DriverStatement:
    """A statement compiled once for one dialect, with its parameters' type conversions."""

    sql: str
    in_order: Callable[[dict[str, Any]], tuple[Any, ...]] | None  # qmark: the values in order; None: named
    converters: tuple[tuple[str, Callable[[Any], Any]], ...]

    def arguments(self, params: dict[str, Any]) -> Any:
        if self.converters:
            params = dict(params)
            for name, convert in self.converters:
                params[name] = convert(params[name])
        return params if self.in_order is None else self.in_order(params)


def _in_order(positions: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    if len(positions) > 1:
        return operator.itemgetter(*positions)
    return lambda params: tuple(params[name] for name in positions)


_last_datetimes: dict[tuple[type, str], list[tuple[Any, Any]]] = {}


def _remembering_last(convert: Callable[[Any], Any], kind: tuple[type, str]) -> Callable[[Any], Any]:
    """A datetime's conversion, kept for the next call with the same object by every statement that converts
    datetimes of this type for this dialect: one request passes the same `now` to several statements.
    (The pair is replaced whole, so threads never see half of one.)"""
    last = _last_datetimes.setdefault(kind, [(object(), None)])

    def converted(value: Any) -> Any:
        seen, result = last[0]
        if value is seen:
            return result
        result = convert(value)
        last[0] = (value, result)
        return result

    return converted


_driver_statements: dict[tuple[str, ClauseElement], _DriverStatement] = {}


def _driver_statement(statement: ClauseElement, dialect: Dialect) -> _DriverStatement:
    compiled = statement.compile(dialect=dialect)
    if isinstance(statement, Insert):  # no client-side default may be silently skipped
        given = set(compiled.binds)
        missing = [c.name for c in statement.table.columns if c.default is not None and c.name not in given]
        if missing:
            raise ValueError(f"{statement.table.name}: pass {missing}, their defaults are not applied here")
    converters = []
    for name, bind in compiled.binds.items():
        convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if convert is not None:
            if _holds_datetimes(bind.type):
                convert = _remembering_last(convert, (type(bind.type), dialect.name))
            converters.append((name, convert))
    positional = compiled.positional and compiled.positiontup is not None
    return _DriverStatement(compiled.string, _in_order(tuple(compiled.positiontup)) if positional else None,
                            tuple(converters))


def _holds_datetimes(type_: TypeEngine[Any]) -> bool:
    return isinstance(type_.impl_instance if isinstance(type_, TypeDecorator) else type_, DateTime)


def run_on_driver(tx: Transaction, statement: ClauseElement, params: dict[str, Any]) -> Any:
    """Run a statement built once straight on the DB-API cursor of the unit of work's transaction; returns
    the cursor (rows are plain tuples). Same SQL, same transaction, same type conversions as
    `session.connection().execute`, without SQLAlchemy's per-execution work, which costs several times
    what SQLite needs to run the statement: this is for the paths run on every request (rating, webhook
    deliveries). Engine events such as before_cursor_execute do not see these statements.

    Every value named by the statement must be in `params`."""
    cursor, dialect = tx.cursor(), tx.dialect
    compiled = _driver_statements.get((dialect.name, statement))
    if compiled is None:
        compiled = _driver_statements[(dialect.name, statement)] = _driver_statement(statement, dialect)
    cursor.execute(compiled.sql, compiled.arguments(params))
    return cursor


def _insert_ignoring_on_driver(tx: Transaction, table: Table, values: dict[str, Any], keys: list[str]) -> bool:
    """`insert_ignoring_conflicts` for the per-request paths, through `run_on_driver`."""
    statement = _insert_ignoring(tx.dialect.name, table, tuple(sorted(values)), tuple(keys))
    return run_on_driver(tx, statement, values).fetchone() is not None


class Repository:
    """Reads and writes through one unit of work's transaction: the ORM `session`, made on first use,
    or `run_on_driver(self.tx, ...)` on the paths every request takes."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx

    @property
    def session(self) -> Session:
        return self.tx.session


class SecretRepository(Repository):
    def get_or_create(self, name: str, candidate: str, now: datetime) -> str:
        insert_ignoring_conflicts(
            self.session, InstanceSecret.__table__, {"name": name, "value": candidate, "created_at": now}, ["name"]
        )
        return self.session.scalars(select(InstanceSecret.value).where(InstanceSecret.name == name)).one()


@dataclass(frozen=True)
class ItemRef:
    id: int
    url: str
    title: str | None
    community_id: int | None


@dataclass(frozen=True)
class RatedItem:
    """An item as a rating left it: what a reply names, and the totals its score comes from."""

    id: int
    url: str
    title: str | None
    community_id: int | None
    stars_sum: int
    ratings_count: int


MAX_KNOWN_ITEMS = 50_000


@dataclass
class KnownRows:
    """Ids of committed rows that never go away, kept per process so that the paths every click takes skip
    the lookup: communities by (channel, name), content items by normalised URL. Nothing deletes a
    community or an item, and an id is only remembered once read back from a committed row."""

    communities: dict[tuple[str, str], int] = field(default_factory=dict)
    items: dict[str, int] = field(default_factory=dict)

    def remember_item(self, url: str, item_id: int) -> None:
        if len(self.items) >= MAX_KNOWN_ITEMS:  # bounded: start again rather than track recency
            self.items.clear()
        self.items[url] = item_id


_C, _I, _R, _E = Community.__table__, ContentItem.__table__, Rating.__table__, Event.__table__

# The rating path runs on every click, so its statements are built once, not per call:
# building a statement costs several times what SQLite needs to run it.
_COMMUNITY_BY_CHANNEL = select(_C.c.id, _C.c.name, _C.c.team_id).where(_C.c.channel_id == bindparam("channel_id"))
_COMMUNITY_RENAME = update(_C).where(_C.c.id == bindparam("cid")).values(
    name=bindparam("new_name"), team_id=bindparam("new_team_id"))
_COMMUNITY_TOTALS = (
    update(_C).where(_C.c.id == bindparam("cid"))
    .values(stars_sum=_C.c.stars_sum + bindparam("d_stars"), ratings_count=_C.c.ratings_count + bindparam("d_count"))
    .returning(_C.c.stars_sum, _C.c.ratings_count)
)
_ITEM_COLUMNS = (_I.c.id, _I.c.url, _I.c.title, _I.c.community_id)
_ITEM_BY_URL = select(*_ITEM_COLUMNS).where(_I.c.url == bindparam("url"))
_ITEM_BY_ID = select(*_ITEM_COLUMNS).where(_I.c.id == bindparam("item_id"))
_ITEM_TOTALS = (
    update(_I).where(_I.c.id == bindparam("b_item_id"))
    .values(stars_sum=_I.c.stars_sum + bindparam("d_stars"), ratings_count=_I.c.ratings_count + bindparam("d_count"))
    .returning(*_ITEM_COLUMNS, _I.c.stars_sum, _I.c.ratings_count)
)


@functools.cache
def _rating_upsert(dialect: str) -> Any:
    """Insert a rating or change the one there, returning the stars it replaced (NULL for a new one): the
    SET list reads the row as it was, so `previous_stars` takes the old `stars`."""
    statement = dialect_insert(dialect)(_R).values({name: bindparam(name) for name in (
        "item_id", "user_id", "stars", "community_id", "created_at", "updated_at")})
    return statement.on_conflict_do_update(
        index_elements=["item_id", "user_id"],
        set_={"previous_stars": _R.c.stars, "stars": statement.excluded.stars, "updated_at": statement.excluded.updated_at},
    ).returning(_R.c.previous_stars)


_EVENT_INSERT = insert(_E).values({name: bindparam(name) for name in (
    "kind", "occurred_at", "recorded_at", "community_id", "actor_id", "item_id", "dedupe_key", "data")})
_O = OutboxMessage.__table__
_OUTBOX_FINISH = update(_O).where(_O.c.id == bindparam("b_id")).values(
    status=bindparam("b_status", type_=_O.c.status.type), sent_at=bindparam("b_sent_at", type_=_O.c.sent_at.type),
    result=bindparam("b_result", type_=_O.c.result.type), last_error=bindparam("b_error", type_=_O.c.last_error.type),
    next_attempt_at=bindparam("b_next", type_=_O.c.next_attempt_at.type),
    attempts=_O.c.attempts - bindparam("b_undo", type_=_O.c.attempts.type))


@dataclass(frozen=True)
class ClaimedMessage:
    """An outbox message leased to one delivery pass."""

    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
_FEEDBACK_INSERT = insert(Feedback.__table__).values({name: bindparam(name) for name in (
    "item_id", "community_id", "author_id", "stars", "comment", "status", "created_at")})


class CommunityRepository(Repository):
    def __init__(self, tx: Transaction, known: KnownRows) -> None:
        super().__init__(tx)
        self.known = known.communities
        self._inserted: set[str] = set()

    def by_channel(self, channel_id: str) -> Community | None:
        return self.session.scalars(select(Community).where(Community.channel_id == channel_id)).one_or_none()

    def get(self, community_id: int) -> Community | None:
        return self.session.get(Community, community_id)

    def ensure(self, channel_id: str, team_id: str | None, name: str, now: datetime) -> int:
        """The id of the channel's community, created on first sight; a configured name replaces a guessed one.
        An id read back from a committed row is remembered (`KnownRows`) and the next request skips the query."""
        remembered = self.known.get((channel_id, name))
        if remembered is not None:
            return remembered
        row = run_on_driver(self.tx, _COMMUNITY_BY_CHANNEL, {"channel_id": channel_id}).fetchone()
        committed = row is not None and channel_id not in self._inserted
        if row is None:
            self._inserted.add(channel_id)
            _insert_ignoring_on_driver(
                self.tx, _C,
                {"channel_id": channel_id, "team_id": team_id or None, "name": name, "created_at": now,
                 "ratings_count": 0, "stars_sum": 0},
                ["channel_id"],
            )
            row = run_on_driver(self.tx, _COMMUNITY_BY_CHANNEL, {"channel_id": channel_id}).fetchone()
        community_id, row_name, row_team_id = row
        new_team = row_team_id or team_id or None
        if row_name != name or new_team != row_team_id:
            run_on_driver(self.tx, _COMMUNITY_RENAME, {"cid": community_id, "new_name": name, "new_team_id": new_team})
        elif committed and row_team_id:
            self.known[(channel_id, name)] = int(community_id)
        return int(community_id)

    def add_to_rating_totals(self, community_id: int, stars_delta: int, count_delta: int) -> tuple[int, int]:
        """Atomic in SQL (`SET stars_sum = stars_sum + n`); returns the new (stars_sum, ratings_count)."""
        stars_sum, ratings_count = run_on_driver(
            self.tx, _COMMUNITY_TOTALS, {"cid": community_id, "d_stars": stars_delta, "d_count": count_delta}
        ).fetchone()
        return int(stars_sum), int(ratings_count)


class ContentRepository(Repository):
    def __init__(self, tx: Transaction, known: KnownRows) -> None:
        super().__init__(tx)
        self.known = known
        self._inserted: set[str] = set()

    def by_url(self, url: str) -> ContentItem | None:
        return self.session.scalars(select(ContentItem).where(ContentItem.url == url)).one_or_none()

    def ref(self, item_id: int) -> ItemRef | None:
        row = run_on_driver(self.tx, _ITEM_BY_ID, {"item_id": item_id}).fetchone()
        return ItemRef(*row) if row else None

    def ensure(
        self, url: str, *, kind: str, community_id: int | None, shared_by: str | None,
        title: str | None, now: datetime,
    ) -> tuple[ItemRef, bool]:
        """The item for a normalised URL, and whether this call created it."""
        row = run_on_driver(self.tx, _ITEM_BY_URL, {"url": url}).fetchone()
        created = False
        if row is None:
            self._inserted.add(url)
            created = _insert_ignoring_on_driver(
                self.tx, _I,
                {"url": url, "kind": kind, "community_id": community_id, "first_shared_by": shared_by,
                 "title": title, "ratings_count": 0, "stars_sum": 0, "created_at": now},
                ["url"],
            )
            row = run_on_driver(self.tx, _ITEM_BY_URL, {"url": url}).fetchone()
        elif url not in self._inserted:
            self.known.remember_item(url, int(row[0]))
        return ItemRef(*row), created

    def id_for(self, url: str, *, kind: Callable[[], str], community_id: int | None, shared_by: str | None,
               now: datetime) -> int:
        """The id of the item for a normalised URL, created on first sight (of `kind()`); no query once this
        process has read the item back (`KnownRows`)."""
        known = self.known.items.get(url)
        if known is not None:
            return known
        item, _ = self.ensure(url, kind=kind(), community_id=community_id, shared_by=shared_by, title=None, now=now)
        return item.id

    def add_to_rating_totals(self, item_id: int, stars_delta: int, count_delta: int) -> RatedItem:
        """Atomic in SQL (`SET stars_sum = stars_sum + n`); returns the item with its new totals."""
        row = run_on_driver(
            self.tx, _ITEM_TOTALS, {"b_item_id": item_id, "d_stars": stars_delta, "d_count": count_delta}
        ).fetchone()
        return RatedItem(*row)

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(ContentItem)) or 0


class RatingRepository(Repository):
    def of(self, item_id: int, user_id: str) -> Rating | None:
        return self.session.scalars(
            select(Rating).where(Rating.item_id == item_id, Rating.user_id == user_id)
        ).one_or_none()

    def put(self, item_id: int, user_id: str, stars: int, community_id: int | None, now: datetime) -> int | None:
        """Set a person's rating of an item; returns the rating it replaced, if any.

        One upsert: two clicks at once from the same person meet at the unique key, and the second
        one changes the first one's row and returns its stars."""
        row = run_on_driver(self.tx, _rating_upsert(self.tx.dialect.name), {
            "item_id": item_id, "user_id": user_id, "stars": stars, "community_id": community_id,
            "created_at": now, "updated_at": now}).fetchone()
        return None if row[0] is None else int(row[0])

    def by_user(self, user_id: str) -> list[Rating]:
        return list(self.session.scalars(select(Rating).where(Rating.user_id == user_id).order_by(Rating.id)))


class FeedbackRepository(Repository):
    def add(self, feedback: Feedback) -> None:
        self.session.add(feedback)

    def record(self, *, item_id: int, community_id: int | None, author_id: str, stars: int, comment: str,
               now: datetime) -> None:
        """The rating path's insert, without the ORM's flush bookkeeping."""
        run_on_driver(self.tx, _FEEDBACK_INSERT, {
            "item_id": item_id, "community_id": community_id, "author_id": author_id, "stars": stars,
            "comment": comment, "status": "open", "created_at": now})

    def for_community(self, community_id: int, status: str = "open") -> list[Feedback]:
        return list(
            self.session.scalars(
                select(Feedback)
                .where(Feedback.community_id == community_id, Feedback.status == status)
                .order_by(Feedback.created_at.desc())
            )
        )


class EventLog(Repository):
    """Append-only: events are inserted, never updated."""

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
            run_on_driver(self.tx, _EVENT_INSERT, values)
            return True
        return _insert_ignoring_on_driver(self.tx, _E, values, ["dedupe_key"])

    def append_many(self, kind: str, events: list[dict[str, Any]], *, recorded_at: datetime) -> None:
        """Several events of one kind in one statement; each dict has occurred_at, community_id, actor_id and
        dedupe_key. An event whose dedupe key was recorded before is skipped."""
        insert_many_ignoring_conflicts(self.session, _E, [
            {"kind": kind, "recorded_at": recorded_at, "item_id": None, "data": {}, **event} for event in events],
            ["dedupe_key"])

    def of_kind(self, kind: str) -> list[Event]:
        return list(self.session.scalars(select(Event).where(Event.kind == kind).order_by(Event.id)))


class Outbox(Repository):
    def enqueue(self, kind: str, payload: dict[str, Any], *, key: str, now: datetime) -> bool:
        """Queue an intent once per key; False when the same key was queued before."""
        return _insert_ignoring_on_driver(
            self.tx,
            _O,
            {"kind": kind, "payload": payload, "idempotency_key": key, "status": "pending", "attempts": 0,
             "next_attempt_at": now, "created_at": now},
            ["idempotency_key"],
        )

    def due(self, now: datetime, limit: int, kinds: list[str]) -> list[OutboxMessage]:
        statement = (
            select(OutboxMessage)
            .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now,
                   OutboxMessage.kind.in_(kinds))
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(self.session.scalars(statement))

    def enqueue_many(self, kind: str, messages: list[tuple[str, dict[str, Any]]], *, now: datetime) -> None:
        """`enqueue` for many (key, payload) pairs in one statement; a key queued before is skipped."""
        insert_many_ignoring_conflicts(self.session, _O, [
            {"kind": kind, "payload": payload, "idempotency_key": key, "status": "pending", "attempts": 0,
             "next_attempt_at": now, "created_at": now} for key, payload in messages], ["idempotency_key"])

    def claim(self, now: datetime, limit: int, kinds: list[str], lease_until: datetime) -> list[ClaimedMessage]:
        """Lease what is due, oldest first: one attempt more each, not due again before `lease_until`.
        Two statements whatever the number of messages (PostgreSQL: rows another worker holds are skipped)."""
        ids = list(self.session.scalars(
            select(_O.c.id).where(_O.c.status == "pending", _O.c.next_attempt_at <= now, _O.c.kind.in_(kinds))
            .order_by(_O.c.next_attempt_at, _O.c.id).limit(limit).with_for_update(skip_locked=True)))
        if not ids:
            return []
        rows = self.session.execute(
            update(_O).where(_O.c.id.in_(ids)).values(attempts=_O.c.attempts + 1, next_attempt_at=lease_until)
            .returning(_O.c.id, _O.c.kind, _O.c.payload, _O.c.attempts))
        claimed = {row.id: ClaimedMessage(row.id, row.kind, dict(row.payload), row.attempts) for row in rows}
        return [claimed[message_id] for message_id in ids]

    def finish_many(self, outcomes: list[dict[str, Any]]) -> None:
        """Write back what became of claimed messages, in one executemany UPDATE. Each dict has
        b_id, b_status, b_sent_at, b_result, b_error, b_next (next_attempt_at) and b_undo (1 when the
        claim did not count as an attempt, as after a 429)."""
        if outcomes:
            self.session.connection().execute(_OUTBOX_FINISH, outcomes)

    def get(self, message_id: int) -> OutboxMessage | None:
        return self.session.get(OutboxMessage, message_id)

    def pending(self) -> list[OutboxMessage]:
        return list(self.session.scalars(
            select(OutboxMessage).where(OutboxMessage.status == "pending").order_by(OutboxMessage.id)
        ))


class CursorRepository(Repository):
    def get(self, name: str) -> str | None:
        row = self.session.get(Cursor, name)
        return row.position if row else None

    def move(self, name: str, position: str, now: datetime) -> None:
        row = self.session.get(Cursor, name)
        if row is None:
            self.session.add(Cursor(name=name, position=position, updated_at=now))
        else:
            row.position, row.updated_at = position, now
