"""item_scores.counted_through: the people a shown score counts are those who rated the item by then. A score's
number of raters moves only by none or by at least k, so those who first rate an item later can wait while the
score moves with the others' ratings. The totals stored before it count everyone who had rated by their newest
rating.

Revision ID: 0034
Revises: 0033
"""
import sqlalchemy as sa
from alembic import op

revision = '0034'
down_revision = '0033'
branch_labels = None
depends_on = None

WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column('item_scores', sa.Column('counted_through', WHEN, nullable=True))
    op.execute("UPDATE item_scores SET counted_through = released_through")
    with op.batch_alter_table('item_scores') as batch_op:
        batch_op.alter_column('counted_through', existing_type=WHEN, nullable=False)


def downgrade() -> None:
    op.execute("ALTER TABLE item_scores DROP COLUMN counted_through")  # in place: no copy of the table on SQLite
