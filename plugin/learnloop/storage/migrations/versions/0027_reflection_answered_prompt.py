"""reflections.answered_prompt: whether a reflection answered a prompt, kept on the reflection itself. Its delivery
goes after the retention window (delivery_id is then emptied), and a reflection shared later must still count on
its side of the prompt split (domain.measures.SHARED_LATER). Reflections before it answered a prompt where they
still name a delivery.

Revision ID: 0027
Revises: 0026
"""
import sqlalchemy as sa
from alembic import op

revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('reflections', sa.Column('answered_prompt', sa.Boolean(), server_default=sa.text('false'),
                                           nullable=False))
    op.execute("UPDATE reflections SET answered_prompt = true WHERE delivery_id IS NOT NULL")


def downgrade() -> None:
    op.execute("ALTER TABLE reflections DROP COLUMN answered_prompt")  # in place: no copy of the table on SQLite
