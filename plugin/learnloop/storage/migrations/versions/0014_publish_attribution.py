"""A reflection published to the wiki remembers its author's choice to be named or not, the mark its section
carries, and where that section went (wiki, the wiki's id of the page, its title): enough to find it again
and remove it when its author asks, without the reflection's text. Reflections already waiting to be
published keep the old mark (`learnloop-reflection-<id>`) and are named, as they were going to be.

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('reflections') as batch_op:
        batch_op.add_column(sa.Column('publish_attribution', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('publish_marker', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('published_wiki', sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column('published_page_ref', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('published_title', sa.String(length=255), nullable=True))
        batch_op.create_check_constraint('attribution_known', "publish_attribution IN ('name', 'anonymous')")
    op.execute("UPDATE reflections SET publish_attribution = 'name' WHERE visibility = 'wiki'")
    op.execute("UPDATE reflections SET publish_marker = 'learnloop-reflection-' || id "
               "WHERE visibility = 'wiki' AND publish_state = 'queued'")


def downgrade() -> None:
    with op.batch_alter_table('reflections') as batch_op:
        batch_op.drop_constraint('attribution_known', type_='check')
        for column in ('published_title', 'published_page_ref', 'published_wiki', 'publish_marker',
                       'publish_attribution'):
            batch_op.drop_column(column)
