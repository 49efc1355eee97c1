"""key ring bound to the password hash

A ring notes the password hash it was last opened under (a SHA-256 of it): while that is the
account's current hash, opening the ring proves the password, and a sign-in costs one Argon2id
computation instead of two. Existing rings get it at their owner's next sign-in.

Revision ID: b7c1e0a4d2f9
Revises: f2912636f349
Create Date: 2026-12-02 19:50:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7c1e0a4d2f9'
down_revision = 'f2912636f349'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('key_ring', schema=None) as batch_op:
        batch_op.add_column(sa.Column('password_tag', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('key_ring', schema=None) as batch_op:
        batch_op.drop_column('password_tag')
