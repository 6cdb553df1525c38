"""What the web pages, Mattermost's views and the worker's jobs use of the running service (a Runtime), and
nothing more: no engine, no connection pool, no Flask app."""

from __future__ import annotations

from typing import Protocol

from learnloop.clock import Clock
from learnloop.config import Settings
from learnloop.storage.unit_of_work import UnitOfWork


class Service(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def signing_key(self) -> bytes: ...

    def uow(self) -> UnitOfWork: ...

    def reader(self) -> UnitOfWork: ...
