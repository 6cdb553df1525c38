"""Did one request change the database? SQLite says so exactly (PRAGMA data_version, read on a connection of
our own, changes whenever another connection commits); elsewhere every table's rows are compared."""

from __future__ import annotations

import sqlite3
from typing import Protocol

from sqlalchemy import Engine

from learnloop.storage.tables import Base


class WriteProbe(Protocol):
    def mark(self) -> object: ...

    def changed_since(self, mark: object) -> bool: ...


class SqliteDataVersion:
    def __init__(self, path: str) -> None:
        self._connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def mark(self) -> object:
        return self._connection.execute("PRAGMA data_version").fetchone()[0]

    def changed_since(self, mark: object) -> bool:
        return self.mark() != mark

    def close(self) -> None:
        self._connection.close()


class RowSnapshot:
    """Every row of every table, compared as text (fine for a fuzz database; far too slow for a real one)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def mark(self) -> object:
        with self._engine.connect() as connection:
            return {table.name: sorted(repr(tuple(row)) for row in connection.execute(table.select()))
                    for table in Base.metadata.sorted_tables}

    def changed_since(self, mark: object) -> bool:
        return self.mark() != mark


def probe_for(engine: Engine) -> SqliteDataVersion | RowSnapshot:
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:":
            raise ValueError("the write probe needs a SQLite file")
        return SqliteDataVersion(database)
    return RowSnapshot(engine)
