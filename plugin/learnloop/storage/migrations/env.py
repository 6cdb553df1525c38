"""Alembic environment: the engine comes from the caller (see storage/migrate.py).

On SQLite, batch mode rebuilds a table by copying it, dropping the old one and renaming the copy; with foreign
keys on, dropping a table others refer to would delete their rows (ON DELETE CASCADE) or fail. So migrations
run with them off, as SQLite's documentation for such changes says, and are refused if they leave more rows
with a missing reference than there were."""

from collections import Counter

from alembic import context
from sqlalchemy import Connection, text

from learnloop.storage.tables import Base

engine = context.config.attributes["engine"]


def dangling(connection: Connection) -> Counter[tuple[str, str]]:
    """Rows whose reference is missing, by (table, the table it refers to)."""
    return Counter((row[0], row[2]) for row in connection.execute(text("PRAGMA foreign_key_check")))


with engine.connect() as connection:
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:  # before the transaction begins: the pragma does nothing inside one
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
    try:
        context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=sqlite,
                          compare_type=True)
        with context.begin_transaction():
            before = dangling(connection) if sqlite else Counter()
            context.run_migrations()
            if sqlite and (more := dangling(connection) - before):
                raise RuntimeError(f"a migration left rows whose references are missing: {dict(more)}")
        connection.commit()
    finally:
        if sqlite:
            connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")
