"""The one transaction of a unit of work, on one SQLAlchemy connection.

Core statements (the per-request paths: a rating, a webhook delivery) run on the connection itself. The ORM's
Session, for the use cases that read better with it, is made on first use, bound to the same connection, and
controls its transaction: whichever of the two starts it, both work inside it, and committing commits both."""

from __future__ import annotations

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session


class Transaction:
    def __init__(self, engine: Engine) -> None:
        self.connection: Connection = engine.connect()
        self._session: Session | None = None

    @property
    def dialect(self) -> str:
        return self.connection.dialect.name

    @property
    def session(self) -> Session:
        if self._session is None:
            self._session = Session(bind=self.connection, join_transaction_mode="control_fully",
                                    expire_on_commit=False, autoflush=True)
        return self._session

    def commit(self) -> None:
        if self._session is not None and self._session.in_transaction():
            self._session.commit()
        if self.connection.in_transaction():
            self.connection.commit()

    def rollback(self) -> None:
        if self._session is not None and self._session.in_transaction():
            self._session.rollback()
        if self.connection.in_transaction():
            self.connection.rollback()

    def flush(self) -> None:
        if self._session is not None:
            self._session.flush()

    def close(self) -> None:
        try:
            if self._session is not None:
                self._session.close()
        finally:
            self.connection.close()
