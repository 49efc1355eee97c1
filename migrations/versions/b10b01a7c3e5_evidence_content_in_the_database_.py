"""Evidence content in the database, scheduler heartbeat.

Evidence bytes move from EVIDENCE_DIR into `evidence_content`, so they commit or roll back with
their registration. This migration only creates the table: the files already on disk are
copied in by `flask --app wsgi evidence import-files` (run once after upgrading; it checks each
file against its recorded SHA-256, and `flask audit verify` names any record still without
content). `heartbeat` holds the scheduler's last finished round for /healthz.

Revision ID: b10b01a7c3e5
Revises: d13d7a2c9e01
Create Date: 2026-12-01 21:21:20.054704

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b10b01a7c3e5'
down_revision = 'd13d7a2c9e01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('heartbeat',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_heartbeat'))
    )
    op.create_table('evidence_content',
    sa.Column('evidence_id', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['evidence_id'], ['evidence.id'], name=op.f('fk_evidence_content_evidence_id_evidence')),
    sa.PrimaryKeyConstraint('evidence_id', name=op.f('pk_evidence_content'))
    )


def downgrade():
    op.drop_table('evidence_content')
    op.drop_table('heartbeat')
