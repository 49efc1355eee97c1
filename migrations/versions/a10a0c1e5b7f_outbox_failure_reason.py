"""Outbox: why a notice waits or gave up, as a code the pages translate

Revision ID: a10a0c1e5b7f
Revises: c11c02d0c5a1
Create Date: 2026-12-01 21:45:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'a10a0c1e5b7f'
down_revision = 'c11c02d0c5a1'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('failure', sa.String(length=16), nullable=False,
                                      server_default=''))


def downgrade():
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('failure')
