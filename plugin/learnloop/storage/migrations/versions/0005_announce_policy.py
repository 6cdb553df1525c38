"""Owners choose, per community, which wiki changes are announced in their channel.

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('communities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('announce_policy', sa.String(length=20), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('communities', schema=None) as batch_op:
        batch_op.drop_column('announce_policy')

