"""Engines for the embedded SQLite store and the PostgreSQL scale-out store."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_AUTOCHECKPOINT_PAGES = 20_000
"""SQLite's own checkpoint runs inside the COMMIT that fills the WAL past this many pages, so inside the
writer lock: every other writer waits while it copies pages and syncs the file (tens of milliseconds,
the web's p99). The worker checkpoints every second instead (`checkpoint_wal`), outside any
transaction. Under the inbound benchmark's writes without pause, each of those PASSIVE checkpoints
copied every frame (up to 15,500 of them), so the WAL starts over before this threshold (about
80 MB); the file on disk keeps the largest size it reached."""
READ_ONLY = "learnloop_read_only"
"""Execution option: a transaction that only reads (on SQLite it then takes no write lock; WAL
readers never wait for the writer)."""


_held = threading.local()


class WriterLockedConnection(sqlite3.Connection):
    """A SQLite connection whose write transactions first take a cross-process writer lock (flock on
    `<database>-writer.lock`), given back when the transaction commits or rolls back.

    Why: SQLite's busy handler polls with growing sleeps (1, 2, 5 ... 100 ms). A process that writes
    often, like the worker during a fan-out, finds the lock free at once each time, while a web request
    sleeping in the busy handler keeps missing it, for seconds. A process waiting on flock is woken when
    the lock is given back, so writers take turns and a web request waits for one worker transaction."""

    writer_lock_path: str | None = None
    _lock_fd: int | None = None
    _lock_pid: int | None = None
    _locked = False

    def acquire_writer_lock(self) -> None:
        if self.writer_lock_path is None or getattr(_held, "locked", False):
            return  # in memory, or this thread holds it through another connection: the busy timeout applies
        if self._lock_fd is None or self._lock_pid != os.getpid():  # a forked process opens its own
            self._lock_fd, self._lock_pid = os.open(self.writer_lock_path, os.O_RDWR | os.O_CREAT, 0o600), os.getpid()
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        self._locked = _held.locked = True

    def release_writer_lock(self) -> None:
        if self._locked and self._lock_fd is not None:
            self._locked = _held.locked = False
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.release_writer_lock()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.release_writer_lock()

    def close(self) -> None:
        try:
            self.release_writer_lock()
            if self._lock_fd is not None and self._lock_pid == os.getpid():
                os.close(self._lock_fd)
            self._lock_fd = None
        finally:
            super().close()


def _writer_lock_path(url: URL) -> str | None:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:") or url.query.get("mode") == "memory":
        return None
    return os.path.abspath(database) + "-writer.lock"


def _configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, a busy timeout, and writers that take the write lock up front.

    pysqlite's own transaction handling is turned off so that each writing transaction starts with
    BEGIN IMMEDIATE (read-only ones with a plain BEGIN): two concurrent read-then-write transactions would otherwise deadlock on
    the lock upgrade and one would fail at once instead of waiting for the busy timeout.
    """

    lock_path = _writer_lock_path(engine.url)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        if isinstance(dbapi_connection, WriterLockedConnection):
            dbapi_connection.writer_lock_path = lock_path
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_AUTOCHECKPOINT_PAGES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        begin_sqlite_transaction(connection.connection.driver_connection,
                                 read_only=connection.get_execution_options().get(READ_ONLY, False))


def begin_sqlite_transaction(dbapi_connection: sqlite3.Connection, *, read_only: bool) -> None:
    """BEGIN IMMEDIATE after the writer lock, or a plain BEGIN for a reader; nothing when the connection is
    in a transaction already (a unit of work's cursor began it, and its ORM session joins)."""
    if dbapi_connection.in_transaction:
        return
    if read_only:
        dbapi_connection.execute("BEGIN")
        return
    locked = isinstance(dbapi_connection, WriterLockedConnection)
    if locked:
        dbapi_connection.acquire_writer_lock()
    try:
        dbapi_connection.execute("BEGIN IMMEDIATE")
    except BaseException:
        if locked:
            dbapi_connection.release_writer_lock()
        raise


def checkpoint_wal(engine: Engine) -> tuple[int, int, int] | None:
    """Copy the WAL's pages into the SQLite database file without waiting for readers or writers
    (PASSIVE) and outside any transaction, so no writer waits for it. Returns SQLite's (busy, pages in
    the WAL, pages copied); None for a database without a WAL (PostgreSQL, in memory)."""
    if engine.dialect.name != "sqlite" or _writer_lock_path(engine.url) is None:
        return None
    pooled = engine.raw_connection()
    try:
        row = pooled.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()  # type: ignore[union-attr]
    finally:
        pooled.close()
    return (int(row[0]), int(row[1]), int(row[2])) if row else None


def make_engine(url: str, **options: Any) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                                                  "factory": WriterLockedConnection}, **options)
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **options)
