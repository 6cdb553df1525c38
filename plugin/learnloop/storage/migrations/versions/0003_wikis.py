"""Wikis: reader positions (cursors), page announcements gathering bursts of edits, published reflection links.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cursors',
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('position', sa.String(length=100), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_cursors'))
    )
    op.create_table('announcements',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('item_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('community_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_page', sa.Boolean(), nullable=False),
    sa.Column('edits', sa.Integer(), nullable=False),
    sa.Column('authors', sa.JSON(), nullable=False),
    sa.Column('summaries', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('first_event_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'queued', 'dropped')", name=op.f('ck_announcements_status_known')),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_announcements_community_id_communities')),
    sa.ForeignKeyConstraint(['item_id'], ['content_items.id'], name=op.f('fk_announcements_item_id_content_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_announcements'))
    )
    with op.batch_alter_table('announcements', schema=None) as batch_op:
        batch_op.create_index('ix_announcements_due', ['status', 'due_at'], unique=False)

    with op.batch_alter_table('reflections', schema=None) as batch_op:
        batch_op.add_column(sa.Column('published_url', sa.String(length=2048), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('reflections', schema=None) as batch_op:
        batch_op.drop_column('published_url')

    with op.batch_alter_table('announcements', schema=None) as batch_op:
        batch_op.drop_index('ix_announcements_due')

    op.drop_table('announcements')
    op.drop_table('cursors')
