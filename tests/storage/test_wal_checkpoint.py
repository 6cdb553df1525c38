"""SQLite's WAL is checkpointed by the worker, outside any transaction, not inside a web request's COMMIT."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text
from tests.conftest import make_settings

from learnloop.bootstrap import build_runtime
from learnloop.jobs.worker import Worker
from learnloop.storage.engine import make_engine
from learnloop.storage.migrate import upgrade
from learnloop.storage.sqlite import AUTOCHECKPOINT_PAGES as SQLITE_AUTOCHECKPOINT_PAGES
from learnloop.storage.sqlite import checkpoint_wal


def _sqlite(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'learnloop.db'}")
    upgrade(engine)
    return engine


def _write_rows(engine: Engine, count: int) -> None:
    for n in range(count):
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO communities (channel_id, name, created_at) "
                "VALUES (:c, 'guild', '2026-11-02 09:00:00')"), {"c": f"channel{n:019d}"})


def test_a_commit_leaves_the_wal_to_the_worker(tmp_path: Path) -> None:
    engine = _sqlite(tmp_path)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == SQLITE_AUTOCHECKPOINT_PAGES
    _write_rows(engine, 20)
    wal = Path(f"{tmp_path / 'learnloop.db'}-wal")
    assert wal.stat().st_size > 0
    busy, pages, copied = checkpoint_wal(engine)  # type: ignore[misc]
    assert busy == 0 and pages > 0 and copied == pages
    engine.dispose()


def test_the_checkpoint_does_not_wait_for_an_open_write_transaction(tmp_path: Path) -> None:
    engine = _sqlite(tmp_path)
    _write_rows(engine, 5)
    with engine.begin() as writer:  # holds the writer lock and SQLite's write lock
        writer.execute(text("UPDATE communities SET name = 'guild 2'"))
        busy, pages, copied = checkpoint_wal(engine)  # type: ignore[misc]
    assert (busy, copied) == (0, pages)  # the committed pages, without waiting for the writer
    engine.dispose()


def test_the_worker_checkpoints_sqlite_and_leaves_postgresql_alone(tmp_path: Path, engine: Engine) -> None:
    sqlite_engine = _sqlite(tmp_path)
    database = tmp_path / "learnloop.db"
    _write_rows(sqlite_engine, 3)
    with sqlite_engine.begin() as connection:  # enough pages that the database file must grow
        connection.execute(text("CREATE TABLE filler (payload TEXT)"))
        connection.execute(text("INSERT INTO filler VALUES (:p)"), [{"p": "x" * 1000} for _ in range(500)])
    before = database.stat().st_size
    Worker(build_runtime(make_settings(), engine=sqlite_engine)).checkpoint()
    assert database.stat().st_size > before + 400_000
    sqlite_engine.dispose()
    if engine.dialect.name == "postgresql":
        assert checkpoint_wal(engine) is None
    assert checkpoint_wal(make_engine("sqlite://")) is None
