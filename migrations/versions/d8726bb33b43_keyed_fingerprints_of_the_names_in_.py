"""Keyed fingerprints of the person and organisation of each incident version (issue 15 item 5:
pattern alerts grouped in SQL and across agencies), in a table of their own beside the sealed,
immutable version rows. Made as registrations are sealed from now on; no data migration (it
needs the installation's secret and, for sealed rows, the office's keys): the office's next
queue request fills its year, `flask keys fingerprints` what is still in clear.

Revision ID: d8726bb33b43
Revises: 6e3096c8ec3f
Create Date: 2026-12-02 10:11:29.512570

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'd8726bb33b43'
down_revision = '6e3096c8ec3f'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('fingerprint',
    sa.Column('version_id', sa.Integer(), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('key_id', sa.String(length=8), nullable=False),
    sa.Column('person', sa.String(length=32), nullable=True),
    sa.Column('organisation', sa.String(length=32), nullable=True),
    sa.ForeignKeyConstraint(['agency_id'], ['agency.id'], name=op.f('fk_fingerprint_agency_id_agency')),
    sa.ForeignKeyConstraint(['version_id'], ['incident_version.id'], name=op.f('fk_fingerprint_version_id_incident_version')),
    sa.PrimaryKeyConstraint('version_id', name=op.f('pk_fingerprint'))
    )
    with op.batch_alter_table('fingerprint', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fingerprint_organisation'), ['organisation'], unique=False)
        batch_op.create_index(batch_op.f('ix_fingerprint_person'), ['person'], unique=False)


def downgrade():
    with op.batch_alter_table('fingerprint', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fingerprint_person'))
        batch_op.drop_index(batch_op.f('ix_fingerprint_organisation'))

    op.drop_table('fingerprint')
