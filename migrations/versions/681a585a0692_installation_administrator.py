"""The installation administrator's role (issue 15): the user_role check admits install_admin.

Revision ID: 681a585a0692
Revises: 1beaa5cab97c
Create Date: 2026-12-02 10:40:00

"""
from alembic import op

revision = '681a585a0692'
down_revision = '1beaa5cab97c'
branch_labels = None
depends_on = None

# Frozen here as they are now (see c12c0de5e7a1).
ROLES_BEFORE = ('auditor', 'reviewer', 'leader', 'admin')
ROLES_AFTER = (*ROLES_BEFORE, 'install_admin')


def _in(column, codes):
    return f"{column} IN ({', '.join(repr(code) for code in codes)})"


def _check(codes):
    with op.batch_alter_table('user_role', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_user_role_role'), type_='check')
        batch_op.create_check_constraint(op.f('ck_user_role_role'), _in('role', codes))


def upgrade():
    _check(ROLES_AFTER)


def downgrade():
    op.execute("DELETE FROM user_role WHERE role = 'install_admin'")
    _check(ROLES_BEFORE)
