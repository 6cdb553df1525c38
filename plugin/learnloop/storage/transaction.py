"""The one database transaction of a unit of work, opened on first use.

It hands out two views of the same pooled connection: the DB-API cursor, for the statements run on
every request (a rating, a webhook delivery), and an ORM Session, made only when a repository needs
one. Why both: an ORM Session begins, commits and closes through several layers of bookkeeping that
cost about 0.14 ms per request on SQLite, several times what the statements of a rating cost, while
most use cases are better written with the ORM. Whichever view is used first begins the transaction;
the other joins it, so a unit of work is still one transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Dialect, Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import PoolProxiedConnection

from learnloop.storage.engine import READ_ONLY, begin_sqlite_transaction


class Transaction:
    def __init__(self, engine: Engine, sessions: sessionmaker[Session]) -> None:
        self._engine = engine
        self._sessions = sessions
        self._read_only = bool(engine.get_execution_options().get(READ_ONLY, False))
        self._sqlite = engine.dialect.name == "sqlite"
        self._pooled: PoolProxiedConnection | None = None
        self._dbapi: Any = None
        self._connection: Connection | None = None
        self._session: Session | None = None
        self._cursor: Any = None
        self._begun_on_driver = False

    @property
    def dialect(self) -> Dialect:
        return self._engine.dialect

    @property
    def session(self) -> Session:
        """An ORM Session on this transaction's connection; it joins a transaction the cursor began."""
        if self._session is None:
            self._connection = Connection(self._engine, self._checked_out())
            self._session = self._sessions(bind=self._connection)
        return self._session

    def cursor(self) -> Any:
        """The DB-API cursor of this transaction, which begins if it has not yet (on SQLite: the writer
        lock and BEGIN IMMEDIATE, or a plain BEGIN for a reader)."""
        dbapi = self._dbapi
        if dbapi is None:
            dbapi = self._checked_out().driver_connection
        if self._sqlite and not dbapi.in_transaction:
            begin_sqlite_transaction(dbapi, read_only=self._read_only)
        self._begun_on_driver = True
        if self._cursor is None:
            self._cursor = dbapi.cursor()
        return self._cursor

    def commit(self) -> None:
        if self._session is not None:
            self._session.commit()  # flushes, then commits the connection both views share
        if self._begun_on_driver and self._dbapi is not None:
            self._dbapi.commit()  # nothing left to commit if the session did
        self._begun_on_driver = False

    def flush(self) -> None:
        if self._session is not None:
            self._session.flush()

    def close(self) -> None:
        """Roll back whatever was not committed and give the connection back to the pool."""
        try:
            if self._session is not None:
                self._session.close()
            if self._begun_on_driver and self._dbapi is not None:
                self._dbapi.rollback()
        finally:
            self._begun_on_driver = False
            if self._cursor is not None:
                self._cursor.close()
            if self._connection is not None:
                self._connection.close()  # gives the pooled connection back
            elif self._pooled is not None:
                self._pooled.close()
            self._pooled = self._dbapi = self._connection = self._session = self._cursor = None

    def _checked_out(self) -> PoolProxiedConnection:
        if self._pooled is None:
            self._pooled = self._engine.raw_connection()
            self._dbapi = self._pooled.driver_connection
        return self._pooled
