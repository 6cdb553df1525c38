"""Alembic, driven from code: `learnloop db upgrade`, `learnloop serve`, the worker and the tests use this.

Migrations run under a lock every process on the database shares (storage.locks), so processes started
together on a database that needs migrating take turns: the first migrates, the others find it at head."""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
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


def head() -> str | None:
    """The newest revision this learnloop knows."""
    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def revisions() -> set[str]:
    return {step.revision for step in ScriptDirectory(str(MIGRATIONS_DIR)).walk_revisions()}


class UnknownRevision(ValueError):
    """Alembic cannot go to that revision (none has that name); the message says which there are."""


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Upgrade to `revision` (never down: a revision older than the current one changes nothing); returns the
    revision the database is at. Raises UnknownRevision."""
    known = revisions()
    if revision != "head" and revision not in known:
        raise UnknownRevision(f"there is no revision {revision[:40]!r}: give 'head' or a "
                              f"revision from 0001 to {head()}")
    with locks.held(engine, LOCK, wait=True):
        before = current(engine)
        if before is not None and before not in known:
            raise UnknownRevision(f"the database is at revision {before[:40]!r}, which this learnloop does not know "
                                  f"(it knows 0001 to {head()}): a newer learnloop upgraded it. "
                                  "Run that version, or restore the backup taken before the upgrade")
        command.upgrade(alembic_config(engine), revision)
        after = current(engine)
    if after != before:
        log.info("database schema upgraded from %s to %s", before or "empty", after)
    return after


def downgrade(engine: Engine, revision: str) -> None:
    with locks.held(engine, LOCK, wait=True):
        command.downgrade(alembic_config(engine), revision)
