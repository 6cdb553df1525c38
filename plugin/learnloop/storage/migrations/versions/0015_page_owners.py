"""Pages have owners and a life of review: page and space owners named in chat (page_owners), the week's review
list (page_reviews) with the community's owners it falls back to (review_owners), when a page was last
reviewed and the mapped space it lies in, each community's review interval and the week its list was worked
out, and each person's week marker for their message about pages to review.

Feedback is triaged as new / planned / resolved / hidden: what was 'open' is 'new' (nobody had said a fix was
planned); resolved and hidden stay. Undone, new and planned are 'open' again.

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
WHEN = sa.DateTime(timezone=True)
STATES = "status IN ('new', 'planned', 'resolved', 'hidden')"
OLD_STATES = "status IN ('open', 'resolved', 'hidden')"
KIND_FITS = ("(kind = 'space' AND item_id IS NULL AND community_id IS NOT NULL AND wiki IS NOT NULL "
             "AND space IS NOT NULL) OR (kind IN ('page', 'declined') AND item_id IS NOT NULL AND space IS NULL)")


def upgrade() -> None:
    op.create_table('page_owners',
    sa.Column('id', ID, nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('item_id', ID, nullable=True),
    sa.Column('community_id', ID, nullable=True),
    sa.Column('wiki', sa.String(length=40), nullable=True),
    sa.Column('space', sa.String(length=200), nullable=True),
    sa.Column('user_id', sa.String(length=26), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=True),
    sa.Column('created_at', WHEN, nullable=False),
    sa.CheckConstraint(KIND_FITS, name=op.f('ck_page_owners_kind_fits')),
    sa.ForeignKeyConstraint(['item_id'], ['content_items.id'], name=op.f('fk_page_owners_item_id_content_items'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'],
                            name=op.f('fk_page_owners_community_id_communities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_page_owners'))
    )
    op.create_index('uq_page_owners_item', 'page_owners', ['item_id', 'user_id'], unique=True,
                    sqlite_where=sa.text('item_id IS NOT NULL'), postgresql_where=sa.text('item_id IS NOT NULL'))
    op.create_index('uq_page_owners_space', 'page_owners', ['community_id', 'wiki', 'space', 'user_id'], unique=True,
                    sqlite_where=sa.text("kind = 'space'"), postgresql_where=sa.text("kind = 'space'"))
    op.create_index('ix_page_owners_user', 'page_owners', ['user_id'], unique=False)
    op.create_table('page_reviews',
    sa.Column('item_id', ID, nullable=False),
    sa.Column('community_id', ID, nullable=False),
    sa.Column('week', sa.Date(), nullable=False),
    sa.Column('reasons', sa.Boolean(), nullable=False),
    sa.Column('score_drop', sa.Boolean(), nullable=False),
    sa.Column('overdue', sa.Boolean(), nullable=False),
    sa.Column('score', sa.Double(), nullable=True),
    sa.Column('score_before', sa.Double(), nullable=True),
    sa.Column('trend', sa.String(length=5), nullable=True),
    sa.Column('ratings', sa.Integer(), nullable=True),
    sa.Column('last_reviewed', WHEN, nullable=False),
    sa.Column('flagged_at', WHEN, nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['content_items.id'], name=op.f('fk_page_reviews_item_id_content_items'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'],
                            name=op.f('fk_page_reviews_community_id_communities')),
    sa.PrimaryKeyConstraint('item_id', name=op.f('pk_page_reviews'))
    )
    op.create_index(op.f('ix_page_reviews_community_id'), 'page_reviews', ['community_id'], unique=False)
    op.create_table('review_owners',
    sa.Column('community_id', ID, nullable=False),
    sa.Column('week', sa.Date(), nullable=False),
    sa.Column('user_id', sa.String(length=26), nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'],
                            name=op.f('fk_review_owners_community_id_communities')),
    sa.PrimaryKeyConstraint('community_id', 'week', 'user_id', name=op.f('pk_review_owners'))
    )
    with op.batch_alter_table('content_items') as batch_op:
        batch_op.add_column(sa.Column('space', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('reviewed_at', WHEN, nullable=True))
    with op.batch_alter_table('communities') as batch_op:
        batch_op.add_column(sa.Column('review_interval_days', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('review_week', sa.Date(), nullable=True))
    with op.batch_alter_table('members') as batch_op:
        batch_op.add_column(sa.Column('review_week', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('review_notes_after', WHEN, nullable=True))
    # The old rule must go before 'open' becomes 'new', and the new one can only come after.
    with op.batch_alter_table('feedback') as batch_op:
        batch_op.drop_constraint('status_known', type_='check')
    op.execute("UPDATE feedback SET status = 'new' WHERE status NOT IN ('resolved', 'hidden')")
    with op.batch_alter_table('feedback') as batch_op:
        batch_op.create_check_constraint('status_known', STATES)


def downgrade() -> None:
    with op.batch_alter_table('feedback') as batch_op:
        batch_op.drop_constraint('status_known', type_='check')
    op.execute("UPDATE feedback SET status = 'open' WHERE status IN ('new', 'planned')")
    with op.batch_alter_table('feedback') as batch_op:
        batch_op.create_check_constraint('status_known', OLD_STATES)
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch copy of content_items would drop the old table,
    # and with foreign keys on, SQLite deletes the ratings and feedback that cascade from it.
    for table, column in (('members', 'review_notes_after'), ('members', 'review_week'),
                          ('communities', 'review_week'), ('communities', 'review_interval_days'),
                          ('content_items', 'reviewed_at'), ('content_items', 'space')):
        op.drop_column(table, column)
    op.drop_table('review_owners')
    op.drop_index(op.f('ix_page_reviews_community_id'), table_name='page_reviews')
    op.drop_table('page_reviews')
    op.drop_index('ix_page_owners_user', table_name='page_owners')
    op.drop_index('uq_page_owners_space', table_name='page_owners')
    op.drop_index('uq_page_owners_item', table_name='page_owners')
    op.drop_table('page_owners')
