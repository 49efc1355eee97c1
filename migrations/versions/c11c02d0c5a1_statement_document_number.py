"""the annual statement's document number (发文字号) and the agency's pattern for it

Revision ID: c11c02d0c5a1
Revises: c11c01a5e7b2
Create Date: 2026-12-01 21:55:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c11c02d0c5a1'
down_revision = 'c11c01a5e7b2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('agency', schema=None) as batch_op:
        batch_op.add_column(sa.Column('document_number_pattern', sa.String(length=60),
                                      nullable=False, server_default=''))
    with op.batch_alter_table('annual_statement', schema=None) as batch_op:
        batch_op.add_column(sa.Column('document_number', sa.String(length=80), nullable=False,
                                      server_default=''))


def downgrade():
    with op.batch_alter_table('annual_statement', schema=None) as batch_op:
        batch_op.drop_column('document_number')
    with op.batch_alter_table('agency', schema=None) as batch_op:
        batch_op.drop_column('document_number_pattern')
