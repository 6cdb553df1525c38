"""Engines for the embedded SQLite store and the PostgreSQL scale-out store."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

SQLITE_BUSY_TIMEOUT_MS = 10_000
READ_ONLY = "learnloop_read_only"
"""Execution option: a transaction that only reads (on SQLite it then takes no write lock; WAL
readers never wait for the writer)."""


def _configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, a busy timeout, and writers that take the write lock up front.

    pysqlite's own transaction handling is turned off so that each writing transaction starts with
    BEGIN IMMEDIATE (read-only ones with a plain BEGIN): two concurrent read-then-write transactions would otherwise deadlock on
    the lock upgrade and one would fail at once instead of waiting for the busy timeout.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def make_engine(url: str, **options: Any) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **options)
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **options)
