"""Notices to an agency's messaging channels (WeCom, DingTalk, the OA's webhook): each outbox row
names its channel, and each agency's channels are kept with their secrets encrypted (issue 17)

Revision ID: f17c4a2d9b60
Revises: ea345607c518
Create Date: 2027-02-01 09:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'f17c4a2d9b60'
down_revision = 'ea345607c518'
branch_labels = None
depends_on = None

# Frozen here as they are now (see c12c0de5e7a1).
FAILURES_BEFORE = ('unreachable', 'deferred', 'refused', 'obsolete', 'deactivated', 'replaced')
FAILURES_AFTER = (*FAILURES_BEFORE, 'channel_down', 'channel_refused', 'channel_off')
CHANNELS = ('email', 'wecom', 'dingtalk', 'webhook')


def _in(column, codes):
    return f"{column} IN ({', '.join(repr(code) for code in codes)})"


def upgrade():
    op.create_table(
        'channel_settings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('agency_id', sa.Integer(), nullable=False),
        sa.Column('channel', sa.String(length=12), nullable=False),
        sa.Column('enabled', sa.Boolean(), nullable=False),
        sa.Column('url', sa.Text(), nullable=False),
        sa.Column('secret', sa.Text(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(_in('channel', CHANNELS[1:]), name=op.f('ck_channel_settings_channel')),
        sa.ForeignKeyConstraint(['agency_id'], ['agency.id'],
                                name=op.f('fk_channel_settings_agency_id_agency')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_settings')),
        sa.UniqueConstraint('agency_id', 'channel', name=op.f('uq_channel_settings_agency_id_channel')),
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=12), server_default='email',
                                      nullable=False))
        batch_op.create_check_constraint(op.f('ck_outbox_channel'), _in('channel', CHANNELS))
        batch_op.drop_constraint(op.f('ck_outbox_failure'), type_='check')
        batch_op.create_check_constraint(op.f('ck_outbox_failure'),
                                         _in('failure', (*FAILURES_AFTER, '')))


def downgrade():
    op.execute("DELETE FROM outbox WHERE channel <> 'email'")
    op.execute(f"UPDATE outbox SET failure = 'refused' WHERE NOT ({_in('failure', (*FAILURES_BEFORE, ''))})")
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_outbox_failure'), type_='check')
        batch_op.create_check_constraint(op.f('ck_outbox_failure'),
                                         _in('failure', (*FAILURES_BEFORE, '')))
        batch_op.drop_constraint(op.f('ck_outbox_channel'), type_='check')
        batch_op.drop_column('channel')
    op.drop_table('channel_settings')
