"""deliveries.zone_read_at: when the person's time zone was read again the day before their prompt, so that a
zone moved east (the prompt now due earlier than planned) is seen in time; once per prompt.

Revision ID: 0035
Revises: 0034
"""
import sqlalchemy as sa
from alembic import op

revision = '0035'
down_revision = '0034'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('deliveries', sa.Column('zone_read_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE deliveries DROP COLUMN zone_read_at")  # in place: no copy of the table on SQLite
