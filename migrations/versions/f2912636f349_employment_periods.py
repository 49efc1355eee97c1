"""employment periods

Employment becomes periods (agency, department, from, to): one per existing account, from its
agency, department, joining and leaving dates. With one period a person owns every month from
the one they joined in to the one they left in, as the scope rule read the user row before.

Revision ID: f2912636f349
Revises: d8726bb33b43
Create Date: 2026-12-02 10:11:04.137038

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'f2912636f349'
down_revision = 'd8726bb33b43'
branch_labels = None
depends_on = None

# One period per account; the months as 'YYYY-MM' of its dates (app/filing/scope.py).
BACKFILL = """
INSERT INTO employment (user_id, agency_id, department_id, started_on, ended_on,
                        first_period, last_period)
SELECT id, agency_id, department_id, joined_on, left_on, {month_joined}, {month_left}
FROM "user"
"""
MONTH = {"sqlite": "substr({column}, 1, 7)", "postgresql": "to_char({column}, 'YYYY-MM')"}


def upgrade():
    op.create_table('employment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('department_id', sa.Integer(), nullable=True),
    sa.Column('started_on', sa.Date(), nullable=False),
    sa.Column('ended_on', sa.Date(), nullable=True),
    sa.Column('first_period', sa.String(length=7), nullable=False),
    sa.Column('last_period', sa.String(length=7), nullable=True),
    sa.CheckConstraint('(ended_on IS NULL) = (last_period IS NULL)', name=op.f('ck_employment_open_until_now')),
    sa.CheckConstraint('ended_on IS NULL OR ended_on >= started_on', name=op.f('ck_employment_ends_after_start')),
    sa.ForeignKeyConstraint(['agency_id'], ['agency.id'], name=op.f('fk_employment_agency_id_agency')),
    sa.ForeignKeyConstraint(['department_id'], ['department.id'], name=op.f('fk_employment_department_id_department')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_employment_user_id_user')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_employment')),
    sa.UniqueConstraint('user_id', 'started_on', name=op.f('uq_employment_user_id_started_on'))
    )
    with op.batch_alter_table('employment', schema=None) as batch_op:
        batch_op.create_index('ix_employment_open', ['user_id'], unique=True, sqlite_where=sa.text('ended_on IS NULL'), postgresql_where=sa.text('ended_on IS NULL'))
        batch_op.create_index('ix_employment_scope', ['agency_id', 'first_period'], unique=False)

    month = MONTH[op.get_bind().dialect.name]
    op.execute(BACKFILL.format(month_joined=month.format(column="joined_on"),
                               month_left=month.format(column="left_on")))


def downgrade():
    with op.batch_alter_table('employment', schema=None) as batch_op:
        batch_op.drop_index('ix_employment_scope')
        batch_op.drop_index('ix_employment_open', sqlite_where=sa.text('ended_on IS NULL'), postgresql_where=sa.text('ended_on IS NULL'))

    op.drop_table('employment')
