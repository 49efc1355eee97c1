"""records filed after their year's statement was signed, and the addenda that account for them

Revision ID: c11c01a5e7b2
Revises: b10b01a7c3e5
Create Date: 2026-12-01 21:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c11c01a5e7b2'
down_revision = 'b10b01a7c3e5'
branch_labels = None
depends_on = None


def upgrade():
    for table in ('incident', 'monthly_report'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('after_signing', sa.Boolean(), nullable=False,
                                          server_default=sa.false()))

    with op.batch_alter_table('statement_addendum', schema=None) as batch_op:
        batch_op.add_column(sa.Column('incident_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('report_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_statement_addendum_incident_id'), ['incident_id'],
                              unique=False)
        batch_op.create_index(batch_op.f('ix_statement_addendum_report_id'), ['report_id'],
                              unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_statement_addendum_incident_id_incident'),
                                    'incident', ['incident_id'], ['id'])
        batch_op.create_foreign_key(
            batch_op.f('fk_statement_addendum_report_id_monthly_report'), 'monthly_report',
            ['report_id'], ['id'])


def downgrade():
    with op.batch_alter_table('statement_addendum', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_statement_addendum_report_id_monthly_report'),
                                 type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_statement_addendum_incident_id_incident'),
                                 type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_statement_addendum_report_id'))
        batch_op.drop_index(batch_op.f('ix_statement_addendum_incident_id'))
        batch_op.drop_column('report_id')
        batch_op.drop_column('incident_id')

    for table in ('monthly_report', 'incident'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('after_signing')
