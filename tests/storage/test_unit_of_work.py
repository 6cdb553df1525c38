"""A unit of work is one transaction, whether its repositories use the DB-API cursor, the ORM session
or both, in either order; it commits only when told to and rolls back everything else."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
from sqlalchemy import Engine, event, func, select

from learnloop.bootstrap import Runtime
from learnloop.storage.tables import Community, ContentItem, Event, Member

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


def _count(engine: Engine, model: type) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(model)) or 0)


def _driver_write(uow, channel: str = "chan0000000000000000000001") -> int:
    """A community and an event, written through the cursor (the rating path's statements)."""
    community_id = uow.communities.ensure(channel, "team0000000000000000000001", "guild", NOW)
    uow.events.append("rating", occurred_at=NOW, recorded_at=NOW, community_id=community_id, actor_id="u1")
    return community_id


def _orm_write(uow, user_id: str = "user0000000000000000000001") -> None:
    uow.members.ensure(user_id, NOW, username="ada")
    uow.session.flush()


def _write_both(uow, order: str) -> None:
    if order == "cursor first":
        _driver_write(uow)
        _orm_write(uow)
    else:
        _orm_write(uow)
        _driver_write(uow)


@pytest.mark.parametrize("order", ["cursor first", "session first"])
def test_both_views_commit_together(runtime: Runtime, engine: Engine, order: str) -> None:
    with runtime.uow() as uow:
        _write_both(uow, order)
        uow.commit()
    assert (_count(engine, Community), _count(engine, Event), _count(engine, Member)) == (1, 1, 1)


@pytest.mark.parametrize("order", ["cursor first", "session first"])
def test_leaving_without_commit_rolls_back_both_views(runtime: Runtime, engine: Engine, order: str) -> None:
    with runtime.uow() as uow:
        _write_both(uow, order)
    assert (_count(engine, Community), _count(engine, Event), _count(engine, Member)) == (0, 0, 0)


def test_an_error_rolls_back_what_the_cursor_wrote(runtime: Runtime, engine: Engine) -> None:
    with pytest.raises(RuntimeError), runtime.uow() as uow:
        _driver_write(uow)
        raise RuntimeError("the use case failed half-way")
    assert _count(engine, Event) == 0
    with runtime.uow() as uow:  # and the connection went back to the pool usable
        _driver_write(uow)
        uow.commit()
    assert _count(engine, Event) == 1


def test_work_after_a_commit_is_a_new_transaction(runtime: Runtime, engine: Engine) -> None:
    with runtime.uow() as uow:
        _driver_write(uow)
        uow.commit()
        _driver_write(uow, channel="chan0000000000000000000002")
        _orm_write(uow)
    assert (_count(engine, Community), _count(engine, Event), _count(engine, Member)) == (1, 1, 0)


def test_the_session_sees_what_the_cursor_wrote_in_the_same_transaction(runtime: Runtime) -> None:
    with runtime.uow() as uow:
        community_id = _driver_write(uow)
        assert uow.session.get(Community, community_id) is not None


def test_a_rating_never_builds_an_orm_session(runtime: Runtime, engine: Engine) -> None:
    """The per-request path stays on the cursor: an ORM session there costs more than its SQL."""
    from learnloop.services.rating import Rater, rate_url

    with runtime.uow() as uow:
        outcome = rate_url(uow, runtime.settings, Rater("user0000000000000000000001", "chan0000000000000000000001",
                                                        "team0000000000000000000001", "guild"),
                           "https://wiki.example.com/Page", 4, "useful", NOW)
        assert uow.transaction._session is None  # noqa: SLF001
    assert outcome.ratings_count == 1
    assert (_count(engine, ContentItem), _count(engine, Event)) == (1, 1)


def test_a_reader_takes_no_write_lock(runtime: Runtime, engine: Engine) -> None:
    """On SQLite a reader begins with a plain BEGIN, so it never waits for a writer."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's writer lock")
    statements: list[str] = []

    with runtime.uow() as writer:
        _driver_write(writer)  # holds the write lock until it commits
        done = threading.Event()

        def read() -> None:
            with runtime.reader() as reader:
                statements.append(str(reader.session.scalar(select(func.count()).select_from(Event))))
            done.set()

        thread = threading.Thread(target=read)
        thread.start()
        assert done.wait(5), "the reader waited for the writer"
        thread.join()
        writer.commit()
    assert statements == ["0"]


def test_the_session_joins_without_a_second_begin(runtime: Runtime, engine: Engine) -> None:
    begins: list[str] = []
    listener = lambda conn, cursor, statement, *args: begins.append(statement)  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        with runtime.uow() as uow:
            _driver_write(uow)
            _orm_write(uow)
            uow.commit()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert not [s for s in begins if s.strip().upper().startswith("BEGIN")]
    assert _count(engine, Member) == 1
