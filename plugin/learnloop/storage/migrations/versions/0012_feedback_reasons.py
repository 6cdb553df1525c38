"""Feedback can carry the reason a reader gave for a low rating in the wiki widget (outdated, unclear,
incomplete, broken link, other), so owners can count reasons per page.

Numbered 0010 as agreed while it was written, it comes after 0011 and 0012, which reached main first: a
database already at 0012 then still gets it (had 0011 been moved behind it, such a database would count it
as applied).

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

REASONS = "reason IS NULL OR reason IN ('outdated', 'unclear', 'incomplete', 'broken_link', 'other')"


def upgrade() -> None:
    with op.batch_alter_table('feedback') as batch_op:
        batch_op.add_column(sa.Column('reason', sa.String(length=16), nullable=True))
        batch_op.create_check_constraint('reason_known', REASONS)


def downgrade() -> None:
    with op.batch_alter_table('feedback') as batch_op:
        batch_op.drop_constraint('reason_known', type_='check')
        batch_op.drop_column('reason')
