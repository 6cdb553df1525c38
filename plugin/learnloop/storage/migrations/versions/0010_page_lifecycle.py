"""Pages are followed through their life: a content item that is a wiki page knows its wiki and the wiki's
id of the page (unique together, where set), and a page deleted from its wiki is retired. Rows from before
have neither; they get them on their page's next event.

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('content_items') as batch_op:
        batch_op.add_column(sa.Column('wiki', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('page_ref', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('retired_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index('uq_content_items_page', 'content_items', ['wiki', 'page_ref'], unique=True,
                    sqlite_where=sa.text('page_ref IS NOT NULL'), postgresql_where=sa.text('page_ref IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('uq_content_items_page', table_name='content_items')
    with op.batch_alter_table('content_items') as batch_op:
        batch_op.drop_column('retired_at')
        batch_op.drop_column('page_ref')
        batch_op.drop_column('wiki')
