"""prompt_schedules.paused_from and paused_through: a community's owners pause one of its prompts from the day
they do it through a local date (a bank holiday, a break); nothing of those dates is sent.

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
    op.add_column('prompt_schedules', sa.Column('paused_from', sa.Date(), nullable=True))
    op.add_column('prompt_schedules', sa.Column('paused_through', sa.Date(), nullable=True))


def downgrade() -> None:
    for column in ("paused_through", "paused_from"):  # in place: no copy of the table on SQLite
        op.execute(f"ALTER TABLE prompt_schedules DROP COLUMN {column}")
