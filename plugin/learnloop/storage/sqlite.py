"""What the embedded SQLite store needs to serve a web process and a worker at once.

- WAL, foreign keys, a busy timeout, and writers that take SQLite's write lock up front
  (`BEGIN IMMEDIATE`): two read-then-write transactions would otherwise deadlock on the lock upgrade.
- A cross-process writer lock (flock) taken before `BEGIN IMMEDIATE`. SQLite's busy handler polls with
  growing sleeps (1, 2, 5 ... 100 ms): a process that writes often, like the worker during a fan-out,
  finds the lock free each time while a web request sleeping in the handler keeps missing it, for
  seconds. A process waiting on flock is woken when the lock is given back, so writers take turns.
- The worker checkpoints the WAL every second (`checkpoint_wal`), outside any transaction. SQLite's own
  checkpoint runs inside the COMMIT that fills the WAL past `AUTOCHECKPOINT_PAGES`, so inside the
  writer lock, where every other writer waits for it.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import URL

BUSY_TIMEOUT_MS = 10_000
AUTOCHECKPOINT_PAGES = 20_000
READ_ONLY = "learnloop_read_only"
"""Execution option: a transaction that only reads takes no write lock (WAL readers never wait)."""

_held = threading.local()


class DatabaseFolderUnusable(Exception):
    """The SQLite file, or a lock file beside it, cannot be created or opened in the database's folder."""

    def __init__(self, path: str, exc: OSError) -> None:
        super().__init__(f"cannot create or lock the database in {os.path.dirname(path)} "
                         f"({exc.strerror or exc}): make it writable by this user or set LEARNLOOP_DATABASE_URL")


def _open_beside_database(path: str, flags: int) -> int:
    try:
        return os.open(path, flags, 0o600)
    except FileExistsError:
        raise
    except OSError as exc:
        raise DatabaseFolderUnusable(path, exc) from None


class WriterLockedConnection(sqlite3.Connection):
    """A SQLite connection whose write transactions first take the cross-process writer lock (flock on
    `<database>-writer.lock`), given back when the transaction commits or rolls back."""

    writer_lock_path: str | None = None
    _lock_fd: int | None = None
    _lock_pid: int | None = None
    _locked = False

    def acquire_writer_lock(self) -> None:
        if self.writer_lock_path is None or getattr(_held, "locked", False):
            return  # in memory, or this thread holds it through another connection: the busy timeout applies
        if self._lock_fd is None or self._lock_pid != os.getpid():  # a forked process opens its own
            self._lock_fd = _open_beside_database(self.writer_lock_path, os.O_RDWR | os.O_CREAT)
            self._lock_pid = os.getpid()
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


def database_path(url: URL) -> str | None:
    """The database file, or None for an in-memory database."""
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:") or url.query.get("mode") == "memory":
        return None
    return os.path.abspath(database)


def create_private(url: URL) -> None:
    """Create the database file, if it is not there yet, readable by its owner only: it holds the signing key
    that opens every reflection. SQLite gives its WAL and shared-memory files the database file's permissions."""
    path = database_path(url)
    if path is not None and os.path.isdir(os.path.dirname(path)):
        with suppress(FileExistsError):
            os.close(_open_beside_database(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL))


def writer_lock_path(url: URL) -> str | None:
    path = database_path(url)
    return path + "-writer.lock" if path else None


def configure(engine: Engine) -> None:
    """Pragmas on every new connection, and BEGIN IMMEDIATE (after the writer lock) for writers."""
    lock_path = writer_lock_path(engine.url)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        if isinstance(dbapi_connection, WriterLockedConnection):
            dbapi_connection.writer_lock_path = lock_path
        dbapi_connection.isolation_level = None  # pysqlite's own transaction handling is off: we BEGIN
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "foreign_keys=ON", f"busy_timeout={BUSY_TIMEOUT_MS}",
                       "synchronous=NORMAL", f"wal_autocheckpoint={AUTOCHECKPOINT_PAGES}"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        dbapi_connection = connection.connection.driver_connection
        if connection.get_execution_options().get(READ_ONLY, False):
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


@contextmanager
def file_lock(path: str, *, wait: bool) -> Iterator[bool]:
    """An exclusive flock on `path` for as long as the block runs; yields False (without the lock) when
    `wait` is False and another process holds it."""
    fd = _open_beside_database(path, os.O_RDWR | os.O_CREAT)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def checkpoint_wal(engine: Engine) -> tuple[int, int, int] | None:
    """Copy the WAL's pages into the database file without waiting for readers or writers (PASSIVE),
    outside any transaction. Returns SQLite's (busy, pages in the WAL, pages copied); None without a WAL."""
    if engine.dialect.name != "sqlite" or database_path(engine.url) is None:
        return None
    pooled = engine.raw_connection()
    try:
        row = pooled.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()  # type: ignore[union-attr]
    finally:
        pooled.close()
    return (int(row[0]), int(row[1]), int(row[2])) if row else None
