"""Alembic, driven from code: `learnloop db upgrade`, `learnloop serve`, the worker and the tests use this.

Migrations run under a lock every process on the database shares (storage.locks), so processes started
together on a database that needs migrating take turns: the first migrates, the others find it at head."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from learnloop.storage import locks

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
LOCK = "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def current(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    with locks.held(engine, LOCK, wait=True):
        before = current(engine)
        command.upgrade(alembic_config(engine), revision)
        after = current(engine)
    if after != before:
        log.info("database schema upgraded from %s to %s", before or "empty", after)


def downgrade(engine: Engine, revision: str) -> None:
    with locks.held(engine, LOCK, wait=True):
        command.downgrade(alembic_config(engine), revision)
