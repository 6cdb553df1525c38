"""Engines for the embedded SQLite store and the PostgreSQL scale-out store."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from learnloop.storage import sqlite
from learnloop.storage.sqlite import READ_ONLY

__all__ = ["READ_ONLY", "make_engine", "read_only"]


def make_engine(url: str, **options: Any) -> Engine:
    if make_url(url).get_backend_name() == "sqlite":
        sqlite.create_private(make_url(url))
        engine = create_engine(url, connect_args={"timeout": sqlite.BUSY_TIMEOUT_MS / 1000,
                                                  "factory": sqlite.WriterLockedConnection}, **options)
        sqlite.configure(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **options)


def read_only(engine: Engine) -> Engine:
    """The same engine for transactions that only read: on SQLite they take no write lock."""
    return engine.execution_options(**{READ_ONLY: True})
