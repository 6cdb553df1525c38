"""Locks shared by every process on one database, so that a job that folds, plans or polls runs once per
tick however many workers there are, and migrations run once however many processes start together.

PostgreSQL: session advisory locks (`pg_try_advisory_lock`) on a connection of their own, held while the
job runs and released when it ends (or when the process dies: the server ends its session). SQLite: an
flock on a file beside the database; the operating system releases it when the process dies."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text

from learnloop.storage import sqlite

_memory_locks: dict[str, threading.Lock] = {}
_memory_guard = threading.Lock()


_KEY = "('x' || substr(md5(current_schema() || ':learnloop:' || :name), 1, 16))::bit(64)::bigint"
"""A signed 64-bit advisory key for a lock name, within the schema learnloop's tables are in (two
installations in two schemas of one database do not hold each other's locks)."""


@contextmanager
def held(engine: Engine, name: str, *, wait: bool = False) -> Iterator[bool]:
    """Hold the lock `name` while the block runs. Yields True when this process holds it; with `wait`
    False, yields False at once when another process does (the job then skips this tick)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            if wait:
                connection.execute(text(f"SELECT pg_advisory_lock({_KEY})"), {"name": name})
                got = True
            else:
                got = bool(connection.execute(text(f"SELECT pg_try_advisory_lock({_KEY})"), {"name": name}).scalar())
            connection.commit()
            try:
                yield got
            finally:
                if got:
                    connection.execute(text(f"SELECT pg_advisory_unlock({_KEY})"), {"name": name})
                    connection.commit()
        return
    path = sqlite.database_path(engine.url)
    if path is None:
        with _memory_guard:
            lock = _memory_locks.setdefault(name, threading.Lock())
        got = lock.acquire(blocking=wait)
        try:
            yield got
        finally:
            if got:
                lock.release()
        return
    with sqlite.file_lock(f"{path}-{name}.lock", wait=wait) as got:
        yield got
