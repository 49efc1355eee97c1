"""Registrations reported to the discipline office of the level above (直报上级, issue 15): each
route from the registrant's bureau to the agency above it, by the registrant or their office.

Revision ID: 6e3096c8ec3f
Revises: 681a585a0692
Create Date: 2026-12-02 10:14:42.754115

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '6e3096c8ec3f'
down_revision = '681a585a0692'
branch_labels = None
depends_on = None

def upgrade():
    op.create_table('incident_route',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('from_agency_id', sa.Integer(), nullable=False),
    sa.Column('to_agency_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('direct', 'referred')", name=op.f('ck_incident_route_kind')),
    sa.ForeignKeyConstraint(['actor_id'], ['user.id'], name=op.f('fk_incident_route_actor_id_user')),
    sa.ForeignKeyConstraint(['from_agency_id'], ['agency.id'], name=op.f('fk_incident_route_from_agency_id_agency')),
    sa.ForeignKeyConstraint(['incident_id'], ['incident.id'], name=op.f('fk_incident_route_incident_id_incident')),
    sa.ForeignKeyConstraint(['to_agency_id'], ['agency.id'], name=op.f('fk_incident_route_to_agency_id_agency')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_route'))
    )
    with op.batch_alter_table('incident_route', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incident_route_from_agency_id'), ['from_agency_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_incident_route_incident_id'), ['incident_id'], unique=False)

def downgrade():
    with op.batch_alter_table('incident_route', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incident_route_incident_id'))
        batch_op.drop_index(batch_op.f('ix_incident_route_from_agency_id'))

    op.drop_table('incident_route')
