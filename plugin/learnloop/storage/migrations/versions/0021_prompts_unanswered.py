"""The prompts sent are no longer a measure of their own: less the prompts answered, on another grid of blocks,
they were the few people who did not answer. Prompts nobody answered are counted instead, beside the
reflections written (domain.measures.UNANSWERED), from the week after this upgrade on an install that has sent
prompts: the prompts whose window closed before it lapse (skipped, for the reason 'lapsed') without being
counted, as they were counted as sent. No table is rebuilt (on SQLite a rebuilt deliveries table would set
every reflection's delivery_id to NULL through its foreign key).

Revision ID: 0021
Revises: 0020
"""
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

UNANSWERED_SINCE = "prompts_unanswered_since"
"""services.rollups.UNANSWERED_SINCE (a migration keeps its own copy of the names it writes)."""


def upgrade() -> None:
    bind = op.get_bind()
    now = datetime.now(UTC)
    stored_now = now.replace(tzinfo=None) if bind.dialect.name == "sqlite" else now  # as tables.UtcDateTime stores
    weekly = sa.table('weekly_counts', sa.column('metric', sa.String))
    runs = sa.table('prompt_runs', sa.column('id', sa.Integer))
    prompted = bind.execute(sa.select(sa.func.count()).select_from(weekly).where(weekly.c.metric == 'prompts_sent')
                            ).scalar() or bind.execute(sa.select(sa.func.count()).select_from(runs)).scalar()
    for table in ('weekly_counts', 'weekly_members', 'release_blocks'):
        op.execute(f"DELETE FROM {table} WHERE metric = 'prompts_sent'")
    deliveries = sa.table('deliveries', sa.column('status', sa.String), sa.column('reason', sa.String),
                          sa.column('window_end', sa.DateTime(True)))
    bind.execute(deliveries.update().where(deliveries.c.status == 'sent', deliveries.c.window_end <= stored_now)
                 .values(status='skipped', reason='lapsed'))
    if prompted:
        today = now.date()
        next_week = today - timedelta(days=today.weekday()) + timedelta(weeks=1)
        cursors = sa.table('cursors', sa.column('name', sa.String), sa.column('position', sa.String),
                           sa.column('updated_at', sa.DateTime(True)))
        bind.execute(cursors.delete().where(cursors.c.name == UNANSWERED_SINCE))
        bind.execute(cursors.insert().values(name=UNANSWERED_SINCE, position=next_week.isoformat(),
                                             updated_at=stored_now))


def downgrade() -> None:
    """The prompts sent count again from the events that come after a downgrade; lapsed prompts stay closed."""
    op.execute(f"DELETE FROM cursors WHERE name = '{UNANSWERED_SINCE}'")
    for table in ('weekly_counts', 'weekly_members', 'release_blocks'):
        op.execute(f"DELETE FROM {table} WHERE metric = 'prompts_unanswered'")
