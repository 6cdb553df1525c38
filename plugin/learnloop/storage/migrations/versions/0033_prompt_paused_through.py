"""prompt_schedules.paused_through: a community's owners pause one of its prompts through a local date (a bank
holiday, a break); no run of a date up to it is sent.

Revision ID: 0033
Revises: 0032
"""
import sqlalchemy as sa
from alembic import op

revision = '0033'
down_revision = '0032'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('prompt_schedules', sa.Column('paused_through', sa.Date(), nullable=True))


def downgrade() -> None:
    op.execute("ALTER TABLE prompt_schedules DROP COLUMN paused_through")  # in place: no copy of the table on SQLite
