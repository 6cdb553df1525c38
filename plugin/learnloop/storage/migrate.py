"""Alembic, driven from code: `learnloop db upgrade`, `learnloop serve`, the worker and the tests use this.

Migrations run under a lock every process on the database shares (storage.locks), so processes started
together on a database that needs migrating take turns: the first migrates, the others find it at head."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from learnloop.storage import locks

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
LOCK = "migrations"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "heads") -> None:
    """To `revision`; by default every head, so migrations written on branches apply before they are joined."""
    with locks.held(engine, LOCK, wait=True):
        command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    with locks.held(engine, LOCK, wait=True):
        command.downgrade(alembic_config(engine), revision)
