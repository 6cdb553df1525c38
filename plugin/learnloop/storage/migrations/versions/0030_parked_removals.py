"""parked_removals: a section its author asked to have taken off while its learning log was deleted (in the
wiki's trash), kept so that it is taken off when the page is restored.

Revision ID: 0030
Revises: 0029
"""
import sqlalchemy as sa
from alembic import op

revision = '0030'
down_revision = '0029'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('parked_removals',
    sa.Column('id', ID, autoincrement=True, nullable=False),
    sa.Column('wiki', sa.String(length=40), nullable=False),
    sa.Column('page_ref', sa.String(length=100), nullable=False),
    sa.Column('marker', sa.String(length=100), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('parked_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_parked_removals')),
    sa.UniqueConstraint('wiki', 'page_ref', 'marker', name='uq_parked_removals_section')
    )


def downgrade() -> None:
    op.drop_table('parked_removals')
