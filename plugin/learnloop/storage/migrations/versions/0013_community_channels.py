"""Communities of several channels: community_channels maps each channel to the community it counts
towards (every existing community's own channel to it, named from the community's `~name` where it has
one), with the channel's member count as Mattermost last gave it; a community whose channels joined another
is retired, and says which one took its history.

Revision ID: 0013
Revises: 0012
"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table('community_channels',
    sa.Column('channel_id', sa.String(length=26), nullable=False),
    sa.Column('community_id', ID, nullable=False),
    sa.Column('team_id', sa.String(length=26), nullable=True),
    sa.Column('channel_name', sa.String(length=64), nullable=True),
    sa.Column('member_count', sa.Integer(), nullable=True),
    sa.Column('member_count_at', WHEN, nullable=True),
    sa.Column('joined_at', WHEN, nullable=False),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_community_channels_community_id_communities')),
    sa.PrimaryKeyConstraint('channel_id', name=op.f('pk_community_channels'))
    )
    op.create_index(op.f('ix_community_channels_community_id'), 'community_channels', ['community_id'], unique=False)
    with op.batch_alter_table('communities') as batch_op:
        batch_op.add_column(sa.Column('retired_at', WHEN, nullable=True))
        batch_op.add_column(sa.Column('joined_into', ID, nullable=True))
        batch_op.create_foreign_key(op.f('fk_communities_joined_into_communities'), 'communities',
                                    ['joined_into'], ['id'])
    op.execute("INSERT INTO community_channels (channel_id, community_id, team_id, channel_name, joined_at) "
               "SELECT channel_id, id, team_id, "
               "CASE WHEN name LIKE '~%' THEN substr(name, 2, 64) END, created_at FROM communities")


def downgrade() -> None:
    with op.batch_alter_table('communities') as batch_op:
        batch_op.drop_constraint(op.f('fk_communities_joined_into_communities'), type_='foreignkey')
        batch_op.drop_column('joined_into')
        batch_op.drop_column('retired_at')
    op.drop_index(op.f('ix_community_channels_community_id'), table_name='community_channels')
    op.drop_table('community_channels')
