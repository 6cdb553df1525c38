"""item_aliases: the URLs a wiki page had before it moved, each naming the page's item, so a rating by an old URL
(an Outline embed keeps the URL it was pasted with) finds the item instead of making a second one.

Revision ID: 0029
Revises: 0028
"""
import sqlalchemy as sa
from alembic import op

revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('item_aliases',
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('item_id', ID, nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['content_items.id'], name=op.f('fk_item_aliases_item_id_content_items'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('url', name=op.f('pk_item_aliases'))
    )
    op.create_index(op.f('ix_item_aliases_item_id'), 'item_aliases', ['item_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_item_aliases_item_id'), table_name='item_aliases')
    op.drop_table('item_aliases')
