"""events.id never reused on SQLite (AUTOINCREMENT): without it SQLite gives a new row the highest id plus one, so
when an erase or retention deleted the newest events, the next events took ids the folds' cursors had passed and
were never counted. The table is copied once on SQLite (a minute or so per million events); PostgreSQL's sequence
never reuses an id, so nothing changes there.

Revision ID: 0028
Revises: 0027
"""
from alembic import op

revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def _recreate(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table("events", recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}):
        pass


def upgrade() -> None:
    _recreate(True)


def downgrade() -> None:
    _recreate(False)
