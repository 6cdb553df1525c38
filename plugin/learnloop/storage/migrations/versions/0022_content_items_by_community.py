"""A community's items are found through an index: the dashboard's pages too early to rank, the owners' pages
to review and the network's reads filter on content_items.community_id, and without it each read every item of
every community.

Revision ID: 0022
Revises: 0021
"""
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_content_items_community_id', 'content_items', ['community_id'])


def downgrade() -> None:
    op.drop_index('ix_content_items_community_id', table_name='content_items')
