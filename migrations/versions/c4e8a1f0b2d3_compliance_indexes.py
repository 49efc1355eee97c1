"""indexes for the compliance counts: reports' latest versions with incidents, filed and late

Every compliance figure (an agency's page, the tree's, the statement) counts in-scope auditors
LEFT JOIN their report for the month and its latest version if it lists incidents. A partial
index of the versions with incidents makes that probe find nothing for a zero report without
reading its row, and (user_id, period, late) counts filed and late from the index alone: the
national tree's compliance query went from 321 to 183 ms (bench/municipal.py).

Revision ID: c4e8a1f0b2d3
Revises: b7c1e0a4d2f9
Create Date: 2026-12-03 06:40:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c4e8a1f0b2d3'
down_revision = 'b7c1e0a4d2f9'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_report_version_with_incidents', 'report_version', ['report_id'],
                    unique=False, sqlite_where=sa.text('is_zero = 0'),
                    postgresql_where=sa.text('NOT is_zero'))
    op.create_index('ix_monthly_report_user_id_period_late', 'monthly_report',
                    ['user_id', 'period', 'late'], unique=False)


def downgrade():
    op.drop_index('ix_monthly_report_user_id_period_late', table_name='monthly_report')
    op.drop_index('ix_report_version_with_incidents', table_name='report_version')
