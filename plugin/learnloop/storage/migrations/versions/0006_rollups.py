"""Weekly rollups for community dashboards, kept up to date from the event log.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('weekly_counts',
    sa.Column('community_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('week', sa.Date(), nullable=False),
    sa.Column('metric', sa.String(length=30), nullable=False),
    sa.Column('value', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_weekly_counts_community_id_communities')),
    sa.PrimaryKeyConstraint('community_id', 'week', 'metric', name=op.f('pk_weekly_counts'))
    )
    op.create_table('weekly_members',
    sa.Column('community_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('week', sa.Date(), nullable=False),
    sa.Column('metric', sa.String(length=30), nullable=False),
    sa.Column('member', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_weekly_members_community_id_communities')),
    sa.PrimaryKeyConstraint('community_id', 'week', 'metric', 'member', name=op.f('pk_weekly_members'))
    )


def downgrade() -> None:
    op.drop_table('weekly_members')
    op.drop_table('weekly_counts')
