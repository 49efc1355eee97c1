"""audit log entries carry their agency; statements note the log count at signing

Revision ID: d09d5c0a1e2b
Revises: bf444950eea4
Create Date: 2026-12-01 21:27:46.881035

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd09d5c0a1e2b'
down_revision = 'bf444950eea4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('annual_statement', schema=None) as batch_op:
        batch_op.add_column(sa.Column('log_count', sa.Integer(), nullable=True))

    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('agency_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_audit_log_agency_id'), ['agency_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_audit_log_agency_id_agency'), 'agency', ['agency_id'], ['id'])



def downgrade():
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_audit_log_agency_id_agency'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_audit_log_agency_id'))
        batch_op.drop_column('agency_id')

    with op.batch_alter_table('annual_statement', schema=None) as batch_op:
        batch_op.drop_column('log_count')

