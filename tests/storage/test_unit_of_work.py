"""A unit of work is one transaction, whether its repositories run Core statements, use the ORM or both, in
either order; it commits only when told to and rolls back everything else."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.exc import IntegrityError, PendingRollbackError

from learnloop.bootstrap import Runtime
from learnloop.storage.tables import Community, Event, Member

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _count(engine: Engine, model: type) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(model)) or 0)


def _core_write(uow, channel: str = "chan0000000000000000000001") -> int:
    """A community and an event, written with Core statements (the rating path's)."""
    community_id = uow.communities.ensure(channel, "team0000000000000000000001", "guild", NOW)
    uow.events.append("rating", occurred_at=NOW, recorded_at=NOW, community_id=community_id, actor_id="u1")
    return community_id


def _orm_write(uow, user_id: str = "user0000000000000000000001") -> None:
    uow.members.ensure(user_id, NOW, username="ada")
    uow.session.flush()


def _write_both(uow, order: str) -> None:
    if order == "core first":
        _core_write(uow)
        _orm_write(uow)
    else:
        _orm_write(uow)
        _core_write(uow)


@pytest.mark.parametrize("order", ["core first", "orm first"])
def test_core_and_orm_writes_commit_together(runtime: Runtime, engine: Engine, order: str) -> None:
    with runtime.uow() as uow:
        _write_both(uow, order)
        uow.commit()
    assert (_count(engine, Community), _count(engine, Event), _count(engine, Member)) == (1, 1, 1)


@pytest.mark.parametrize("order", ["core first", "orm first"])
def test_leaving_without_commit_rolls_back_core_and_orm_writes(runtime: Runtime, engine: Engine, order: str) -> None:
    with runtime.uow() as uow:
        _write_both(uow, order)
    assert (_count(engine, Community), _count(engine, Event), _count(engine, Member)) == (0, 0, 0)


def test_an_error_rolls_back_what_the_core_statements_wrote(runtime: Runtime, engine: Engine) -> None:
    with pytest.raises(RuntimeError), runtime.uow() as uow:
        _core_write(uow)
        raise RuntimeError("the use case failed half-way")
    assert _count(engine, Event) == 0
    with runtime.uow() as uow:  # and the connection went back to the pool usable
        _core_write(uow)
        uow.commit()
    assert _count(engine, Event) == 1


def test_work_after_a_commit_is_a_new_transaction(runtime: Runtime, engine: Engine) -> None:
    with runtime.uow() as uow:
        _core_write(uow)
        uow.commit()
        _core_write(uow, channel="chan0000000000000000000002")
        _orm_write(uow)
    assert (_count(engine, Community), _count(engine, Event), _count(engine, Member)) == (1, 1, 0)


@pytest.mark.parametrize("order", ["core first", "orm first"])
def test_each_commit_commits_what_was_written_since_the_last(runtime: Runtime, engine: Engine, order: str) -> None:
    with runtime.uow() as uow:
        _core_write(uow)
        uow.commit()
        if order == "orm first":
            _orm_write(uow)
        _core_write(uow, channel="chan0000000000000000000002")
        if order == "core first":
            _orm_write(uow)
        uow.commit()
        uow.rollback()  # nothing left to undo
    assert (_count(engine, Community), _count(engine, Event), _count(engine, Member)) == (2, 2, 1)


def test_an_explicit_rollback_undoes_both_and_the_next_work_commits(runtime: Runtime, engine: Engine) -> None:
    with runtime.uow() as uow:
        _write_both(uow, "core first")
        uow.rollback()
        _core_write(uow, channel="chan0000000000000000000002")
        uow.commit()
    assert (_count(engine, Community), _count(engine, Event), _count(engine, Member)) == (1, 1, 0)


def test_after_a_failed_flush_nothing_runs_until_the_unit_of_work_rolls_back(runtime: Runtime,
                                                                            engine: Engine) -> None:
    """As the Session alone refuses to go on, so do the Core statements on its connection: they would otherwise
    begin a transaction of their own without the writes the failed flush undid."""
    with runtime.uow() as uow:
        _core_write(uow)
        _orm_write(uow)
        uow.session.add(Member(user_id="user0000000000000000000001", updated_at=NOW))
        with pytest.raises(IntegrityError):
            uow.flush()
        with pytest.raises(PendingRollbackError):
            _core_write(uow, channel="chan0000000000000000000002")
        with pytest.raises(PendingRollbackError):
            uow.commit()
        uow.rollback()
        _core_write(uow, channel="chan0000000000000000000002")
        uow.commit()
    assert (_count(engine, Community), _count(engine, Event), _count(engine, Member)) == (1, 1, 0)


def test_the_orm_sees_what_core_statements_wrote_in_the_same_transaction(runtime: Runtime) -> None:
    with runtime.uow() as uow:
        community_id = _core_write(uow)
        assert uow.session.get(Community, community_id) is not None


def test_a_reader_takes_no_write_lock(runtime: Runtime, engine: Engine) -> None:
    """On SQLite a reader begins with a plain BEGIN, so it never waits for a writer."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's writer lock")
    statements: list[str] = []

    with runtime.uow() as writer:
        _core_write(writer)  # holds the write lock until it commits
        done = threading.Event()

        def read() -> None:
            with runtime.reader() as reader:
                statements.append(str(reader.session.scalar(select(func.count()).select_from(Event))))
                statements.append(str(reader.items.rateable_by_url("https://example.com/nothing")))  # Core
            done.set()

        thread = threading.Thread(target=read)
        thread.start()
        assert done.wait(5), "the reader waited for the writer"
        thread.join()
        writer.commit()
    assert statements == ["0", "None"]


def test_events_a_fold_counted_cannot_be_deleted_until_it_ends(runtime: Runtime, engine: Engine) -> None:
    """What a fold compares with what it read (held_between) stays in the database until the fold commits: an
    erase that deletes those events waits (PostgreSQL: the rows are locked FOR SHARE; SQLite: the write lock)."""
    with runtime.uow() as uow:
        for _ in range(3):
            _core_write(uow)
        uow.commit()
    with engine.connect() as connection:
        first, last = connection.execute(select(func.min(Event.id), func.max(Event.id))).one()
    deleted = threading.Event()

    def erase() -> None:
        with runtime.uow() as other:
            other.session.execute(delete(Event).where(Event.id == last))
            other.commit()
        deleted.set()

    with runtime.uow() as fold:
        assert fold.events.held_between(first - 1, last) == 3
        thread = threading.Thread(target=erase)
        thread.start()
        assert not deleted.wait(0.5), "an event the fold counted was deleted before the fold ended"
        fold.commit()
    assert deleted.wait(5)
    thread.join()
    assert _count(engine, Event) == 2
