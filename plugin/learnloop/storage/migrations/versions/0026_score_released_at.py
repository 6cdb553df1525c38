"""item_scores.released_at: when a shown score last moved (released_through is the newest rating it holds). What
moved in a digest's week, and a page's recent trend, go by it: going by the newest rating, a digest preview just
before and just after a minute told when someone rated. Scores shown before count as moved on the Monday after
the week of their newest rating, when a week's end would have moved them: never the rating's own time.

Revision ID: 0026
Revises: 0025
"""
from datetime import UTC, datetime, time, timedelta

import sqlalchemy as sa
from alembic import op

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('item_scores', sa.Column('released_at', sa.DateTime(timezone=True), nullable=True))
    bind = op.get_bind()
    naive = bind.dialect.name == "sqlite"  # as tables.UtcDateTime stores
    scores = sa.table('item_scores', sa.column('released_through', sa.DateTime(True)),
                      sa.column('released_at', sa.DateTime(True)))
    days = {(through if through.tzinfo is None else through.astimezone(UTC)).date()  # UTC, whatever the session's
            for through in bind.execute(sa.select(scores.c.released_through)).scalars()}
    mondays = {day - timedelta(days=day.weekday()) for day in days}
    for monday in sorted(mondays):
        start = datetime.combine(monday, time()) if naive else datetime.combine(monday, time(), UTC)
        bind.execute(scores.update().where(scores.c.released_through >= start,
                                           scores.c.released_through < start + timedelta(weeks=1))
                     .values(released_at=start + timedelta(weeks=1)))


def downgrade() -> None:
    op.execute("ALTER TABLE item_scores DROP COLUMN released_at")  # in place: no copy of the table on SQLite
