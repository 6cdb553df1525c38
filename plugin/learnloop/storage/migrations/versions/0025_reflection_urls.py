"""Shared reflections are named by a random token, not their row id: the id counts everyone's reflections,
private ones too, so two shared reflections' addresses (on the dashboards, in the digest) told how many were
written between them. The items of reflections shared before get a token in place of the id.

Revision ID: 0025
Revises: 0024
"""
import re
import secrets

import sqlalchemy as sa
from alembic import op

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None

_BY_ID = re.compile(r"^(.*/reflections/)[0-9]+$")


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, url FROM content_items WHERE kind = 'reflection'")).all()
    for item_id, url in rows:
        found = _BY_ID.match(url)
        if found:
            connection.execute(sa.text("UPDATE content_items SET url = :url WHERE id = :id"),
                               {"url": found.group(1) + secrets.token_hex(8), "id": item_id})


def downgrade() -> None:
    """The ids are not put back: a token names the item as well."""
