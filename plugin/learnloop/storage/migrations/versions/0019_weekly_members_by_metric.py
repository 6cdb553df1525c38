"""The weekly member sets are keyed (community, metric, week, member), the order every read filters in: a
distinct count over some weeks of one measure reads one range of the key instead of skipping over the
community's other measures week by week.

Revision ID: 0019
Revises: 0018
"""
from alembic import op

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def _key(columns: list[str]) -> None:
    with op.batch_alter_table('weekly_members', recreate='always') as batch_op:
        batch_op.drop_constraint('pk_weekly_members', type_='primary')
        batch_op.create_primary_key('pk_weekly_members', columns)


def upgrade() -> None:
    _key(['community_id', 'metric', 'week', 'member'])


def downgrade() -> None:
    _key(['community_id', 'week', 'metric', 'member'])
