"""item_scores.released_at: when a shown score last moved (released_through is the newest rating it holds). What
moved in a digest's week, and a page's recent trend, go by it: going by the newest rating, a digest preview just
before and just after a minute told when someone rated. Scores released before count from their newest rating.

Revision ID: 0026
Revises: 0025
"""
import sqlalchemy as sa
from alembic import op

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('item_scores', sa.Column('released_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE item_scores SET released_at = released_through")


def downgrade() -> None:
    op.execute("ALTER TABLE item_scores DROP COLUMN released_at")  # in place: no copy of the table on SQLite
