"""The one transaction of a unit of work, on one SQLAlchemy connection.

Core statements (the per-request paths: a rating, a webhook delivery) run on the connection itself. The ORM's
Session, for the use cases that read better with it, is made on first use, bound to the same connection, and
controls its transaction: whichever of the two starts it, both work inside it, and committing commits both.
After a failed flush both refuse to go on until the unit of work rolls back, as the Session alone would."""

from __future__ import annotations

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import PendingRollbackError
from sqlalchemy.orm import Session


class Transaction:
    def __init__(self, engine: Engine) -> None:
        self._connection = engine.connect()
        self._session: Session | None = None

    @property
    def connection(self) -> Connection:
        session = self._session
        if session is not None and session.in_transaction() and not session.is_active:
            raise PendingRollbackError("this unit of work's transaction was rolled back by a failed flush; "
                                       "roll it back before running anything else")
        return self._connection

    @property
    def dialect(self) -> str:
        return self._connection.dialect.name

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = Session(bind=self._connection, join_transaction_mode="control_fully",
                                    expire_on_commit=False, autoflush=True)
        return self._session

    def commit(self) -> None:
        if self._session is not None and self._session.in_transaction():
            self._session.commit()
        if self._connection.in_transaction():
            self._connection.commit()

    def rollback(self) -> None:
        if self._session is not None and self._session.in_transaction():
            self._session.rollback()
        if self._connection.in_transaction():
            self._connection.rollback()

    def flush(self) -> None:
        if self._session is not None:
            self._session.flush()

    def close(self) -> None:
        try:
            if self._session is not None:
                self._session.close()
        finally:
            self._connection.close()
