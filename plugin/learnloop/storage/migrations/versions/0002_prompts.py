"""Reflection prompts: members and their settings, schedules, runs, deliveries, reflections.

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('members',
    sa.Column('user_id', sa.String(length=26), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=True),
    sa.Column('timezone', sa.String(length=64), nullable=True),
    sa.Column('dm_channel_id', sa.String(length=26), nullable=True),
    sa.Column('prompts_enabled', sa.Boolean(), nullable=False),
    sa.Column('paused_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('time_of_day', sa.String(length=5), nullable=True),
    sa.Column('quiet_hours', sa.String(length=11), nullable=True),
    sa.Column('nudges', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_members'))
    )
    op.create_table('prompt_schedules',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('community_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=True),
    sa.Column('questions', sa.JSON(), nullable=False),
    sa.Column('rrule', sa.String(length=300), nullable=False),
    sa.Column('local_time', sa.String(length=5), nullable=False),
    sa.Column('window_minutes', sa.Integer(), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('anchor_date', sa.Date(), nullable=False),
    sa.Column('default_visibility', sa.String(length=10), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('planned_through', sa.Date(), nullable=True),
    sa.Column('created_by', sa.String(length=26), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("default_visibility IN ('private', 'community', 'wiki')", name=op.f('ck_prompt_schedules_visibility_known')),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_prompt_schedules_community_id_communities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prompt_schedules'))
    )
    with op.batch_alter_table('prompt_schedules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_prompt_schedules_community_id'), ['community_id'], unique=False)

    op.create_table('prompt_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('schedule_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('members_planned', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['schedule_id'], ['prompt_schedules.id'], name=op.f('fk_prompt_runs_schedule_id_prompt_schedules'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prompt_runs')),
    sa.UniqueConstraint('schedule_id', 'local_date', name='uq_prompt_runs_schedule_date')
    )
    op.create_table('deliveries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.String(length=26), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('window_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.String(length=40), nullable=True),
    sa.Column('post_id', sa.String(length=26), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('nudge_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('scheduled', 'queued', 'sent', 'answered', 'skipped', 'expired')", name=op.f('ck_deliveries_status_known')),
    sa.ForeignKeyConstraint(['run_id'], ['prompt_runs.id'], name=op.f('fk_deliveries_run_id_prompt_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deliveries')),
    sa.UniqueConstraint('run_id', 'user_id', name='uq_deliveries_run_user')
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_due', ['status', 'due_at'], unique=False)

    op.create_table('reflections',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('user_id', sa.String(length=26), nullable=False),
    sa.Column('community_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('delivery_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('scale', sa.Integer(), nullable=True),
    sa.Column('visibility', sa.String(length=10), nullable=False),
    sa.Column('shared_item_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('publish_state', sa.String(length=20), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("visibility IN ('private', 'community', 'wiki')", name=op.f('ck_reflections_visibility_known')),
    sa.ForeignKeyConstraint(['community_id'], ['communities.id'], name=op.f('fk_reflections_community_id_communities')),
    sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], name=op.f('fk_reflections_delivery_id_deliveries'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['shared_item_id'], ['content_items.id'], name=op.f('fk_reflections_shared_item_id_content_items'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reflections'))
    )
    with op.batch_alter_table('reflections', schema=None) as batch_op:
        batch_op.create_index('ix_reflections_user_time', ['user_id', 'created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('reflections', schema=None) as batch_op:
        batch_op.drop_index('ix_reflections_user_time')

    op.drop_table('reflections')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_due')

    op.drop_table('deliveries')
    op.drop_table('prompt_runs')
    with op.batch_alter_table('prompt_schedules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_prompt_schedules_community_id'))

    op.drop_table('prompt_schedules')
    op.drop_table('members')
