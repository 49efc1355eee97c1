"""Content encryption at rest (issue 13): key rings, the agency key, its grants, the sessions'
unlocked keys, each incident's wrapped content key; sealed columns become Text (ciphertext is
longer than the clear text limits). `flask keys init` seals what is still in clear.

Revision ID: 1beaa5cab97c
Revises: f17c4a2d9b60
Create Date: 2026-12-02 05:47:18.837466

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '1beaa5cab97c'
down_revision = 'f17c4a2d9b60'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('agency_key',
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('public_key', sa.String(length=64), nullable=False),
    sa.Column('recovery_sealed', sa.Text(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agency.id'], name=op.f('fk_agency_key_agency_id_agency')),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_agency_key_created_by_id_user')),
    sa.PrimaryKeyConstraint('agency_id', name=op.f('pk_agency_key'))
    )
    op.create_table('key_ring',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('public_key', sa.String(length=64), nullable=False),
    sa.Column('private_sealed', sa.Text(), nullable=False),
    sa.Column('kdf_salt', sa.String(length=64), nullable=False),
    sa.Column('kdf_params', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_key_ring_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_key_ring'))
    )
    with op.batch_alter_table('key_ring', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_key_ring_user_id'), ['user_id'], unique=False)

    op.create_table('key_grant',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('ring_id', sa.Integer(), nullable=False),
    sa.Column('wrapped', sa.Text(), nullable=False),
    sa.Column('granted_by_id', sa.Integer(), nullable=True),
    sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agency.id'], name=op.f('fk_key_grant_agency_id_agency')),
    sa.ForeignKeyConstraint(['granted_by_id'], ['user.id'], name=op.f('fk_key_grant_granted_by_id_user')),
    sa.ForeignKeyConstraint(['ring_id'], ['key_ring.id'], name=op.f('fk_key_grant_ring_id_key_ring')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_key_grant_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_key_grant')),
    sa.UniqueConstraint('agency_id', 'user_id', name=op.f('uq_key_grant_agency_id_user_id'))
    )
    with op.batch_alter_table('key_grant', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_key_grant_user_id'), ['user_id'], unique=False)

    op.create_table('session_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('ring_id', sa.Integer(), nullable=False),
    sa.Column('session_version', sa.Integer(), nullable=False),
    sa.Column('sealed', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ring_id'], ['key_ring.id'], name=op.f('fk_session_key_ring_id_key_ring')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_session_key_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_session_key')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_session_key_token_hash'))
    )
    with op.batch_alter_table('session_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_session_key_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.alter_column('filename',
               existing_type=sa.VARCHAR(length=200),
               type_=sa.Text(),
               existing_nullable=False)
        batch_op.add_column(sa.Column('stored_sha256', sa.String(length=64), nullable=True))

    with op.batch_alter_table('held_evidence', schema=None) as batch_op:
        batch_op.alter_column('filename',
               existing_type=sa.VARCHAR(length=200),
               type_=sa.Text(),
               existing_nullable=False)

    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.add_column(sa.Column('key_for_agency', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('key_for_registrant', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('key_for_office', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('registrant_ring_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_incident_registrant_ring_id_key_ring'), 'key_ring', ['registrant_ring_id'], ['id'])

    with op.batch_alter_table('incident_version', schema=None) as batch_op:
        batch_op.alter_column('actor_name',
               existing_type=sa.VARCHAR(length=64),
               type_=sa.Text(),
               existing_nullable=False)
        batch_op.alter_column('actor_org',
               existing_type=sa.VARCHAR(length=120),
               type_=sa.Text(),
               existing_nullable=False)
        batch_op.alter_column('actor_position',
               existing_type=sa.VARCHAR(length=64),
               type_=sa.Text(),
               existing_nullable=False)

    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.alter_column('totp_secret',
               existing_type=sa.VARCHAR(length=64),
               type_=sa.Text(),
               existing_nullable=True)



def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.alter_column('totp_secret',
               existing_type=sa.Text(),
               type_=sa.VARCHAR(length=64),
               existing_nullable=True)

    with op.batch_alter_table('incident_version', schema=None) as batch_op:
        batch_op.alter_column('actor_position',
               existing_type=sa.Text(),
               type_=sa.VARCHAR(length=64),
               existing_nullable=False)
        batch_op.alter_column('actor_org',
               existing_type=sa.Text(),
               type_=sa.VARCHAR(length=120),
               existing_nullable=False)
        batch_op.alter_column('actor_name',
               existing_type=sa.Text(),
               type_=sa.VARCHAR(length=64),
               existing_nullable=False)

    with op.batch_alter_table('incident', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_incident_registrant_ring_id_key_ring'), type_='foreignkey')
        batch_op.drop_column('registrant_ring_id')
        batch_op.drop_column('key_for_office')
        batch_op.drop_column('key_for_registrant')
        batch_op.drop_column('key_for_agency')

    with op.batch_alter_table('held_evidence', schema=None) as batch_op:
        batch_op.alter_column('filename',
               existing_type=sa.Text(),
               type_=sa.VARCHAR(length=200),
               existing_nullable=False)

    with op.batch_alter_table('evidence', schema=None) as batch_op:
        batch_op.drop_column('stored_sha256')
        batch_op.alter_column('filename',
               existing_type=sa.Text(),
               type_=sa.VARCHAR(length=200),
               existing_nullable=False)

    with op.batch_alter_table('session_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_session_key_user_id'))

    op.drop_table('session_key')
    with op.batch_alter_table('key_grant', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_key_grant_user_id'))

    op.drop_table('key_grant')
    with op.batch_alter_table('key_ring', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_key_ring_user_id'))

    op.drop_table('key_ring')
    op.drop_table('agency_key')
