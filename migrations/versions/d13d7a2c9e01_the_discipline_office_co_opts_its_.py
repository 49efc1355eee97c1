"""the discipline office co-opts its members: invitations

Revision ID: d13d7a2c9e01
Revises: d09d5c0a1e2b
Create Date: 2026-12-01 22:06:40.136595

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd13d7a2c9e01'
down_revision = 'd09d5c0a1e2b'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('office_invitation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('proposed_by_id', sa.Integer(), nullable=True),
    sa.Column('proposed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'accepted', 'declined', 'cancelled')", name=op.f('ck_office_invitation_status')),
    sa.ForeignKeyConstraint(['agency_id'], ['agency.id'], name=op.f('fk_office_invitation_agency_id_agency')),
    sa.ForeignKeyConstraint(['proposed_by_id'], ['user.id'], name=op.f('fk_office_invitation_proposed_by_id_user')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_office_invitation_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_office_invitation'))
    )
    with op.batch_alter_table('office_invitation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_office_invitation_agency_id'), ['agency_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_office_invitation_user_id'), ['user_id'], unique=False)



def downgrade():
    with op.batch_alter_table('office_invitation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_office_invitation_user_id'))
        batch_op.drop_index(batch_op.f('ix_office_invitation_agency_id'))

    op.drop_table('office_invitation')
