"""reflections.shared_post_id: the channel post of a shared reflection, which its author's edit updates and their
delete removes. The outbox message that made it goes after the retention window, so the posts of reflections
shared before are copied from the results of those messages still kept.

Revision ID: 0032
Revises: 0031
"""
import json

import sqlalchemy as sa
from alembic import op

revision = '0032'
down_revision = '0031'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('reflections', sa.Column('shared_post_id', sa.String(length=26), nullable=True))
    connection = op.get_bind()
    sent = connection.execute(sa.text("SELECT idempotency_key, result FROM outbox WHERE status = 'sent' "
                                      "AND idempotency_key LIKE 'share-reflection:%'")).all()
    for key, result in sent:
        number = key.removeprefix("share-reflection:")
        found = (json.loads(result) if isinstance(result, str) else result or {}).get("post_id")
        if number.isdigit() and isinstance(found, str) and len(found) == 26:
            connection.execute(sa.text("UPDATE reflections SET shared_post_id = :post WHERE id = :id"),
                               {"post": found, "id": int(number)})


def downgrade() -> None:
    op.execute("ALTER TABLE reflections DROP COLUMN shared_post_id")  # in place: no copy of the table on SQLite
