"""reflections: an index of the pages learnloop published to, which ingest asks for each wiki change (a learning
log an admin moved is still learnloop's own page).

Revision ID: 0031
Revises: 0030
"""
import sqlalchemy as sa
from alembic import op

revision = '0031'
down_revision = '0030'
branch_labels = None
depends_on = None


WHERE = sa.text('published_page_ref IS NOT NULL')


def upgrade() -> None:
    op.create_index('ix_reflections_published_page', 'reflections', ['published_wiki', 'published_page_ref'],
                    unique=False, sqlite_where=WHERE, postgresql_where=WHERE)


def downgrade() -> None:
    op.drop_index('ix_reflections_published_page', table_name='reflections')
