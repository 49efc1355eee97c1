"""filing tally for the compliance trend

Revision ID: 3f1c2a9b7d40
Revises: d0e5ec8916ec
Create Date: 2026-11-27 04:20:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3f1c2a9b7d40'
down_revision = 'd0e5ec8916ec'
branch_labels = None
depends_on = None

# The reports already filed, counted as app.tally.rebuild counts them: per agency and period,
# late ones, and those whose latest version lists incidents.
BACKFILL = """
INSERT INTO filing_tally (agency_id, period, filed, late, with_incidents)
SELECT u.agency_id, r.period, COUNT(*),
       COUNT(CASE WHEN r.late THEN 1 END),
       COUNT(CASE WHEN EXISTS (
           SELECT 1 FROM report_version v
           WHERE v.report_id = r.id AND NOT v.is_zero
             AND NOT EXISTS (SELECT 1 FROM report_version n
                             WHERE n.report_id = v.report_id AND n.number > v.number)
       ) THEN 1 END)
FROM monthly_report r JOIN "user" u ON u.id = r.user_id
GROUP BY u.agency_id, r.period
"""


def upgrade():
    op.create_table('filing_tally',
    sa.Column('agency_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('filed', sa.Integer(), nullable=False),
    sa.Column('late', sa.Integer(), nullable=False),
    sa.Column('with_incidents', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['agency_id'], ['agency.id'], name=op.f('fk_filing_tally_agency_id_agency')),
    sa.PrimaryKeyConstraint('agency_id', 'period', name=op.f('pk_filing_tally'))
    )
    op.execute(BACKFILL)


def downgrade():
    op.drop_table('filing_tally')
