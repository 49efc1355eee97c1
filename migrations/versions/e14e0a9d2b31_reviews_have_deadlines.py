"""Reviews have deadlines: when a case last changed state and reached the office, the agency's
review deadline and digest choice, and the notices to the discipline office (issue 14)

Revision ID: e14e0a9d2b31
Revises: c12c0de5e7a1
Create Date: 2027-01-12 09:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'e14e0a9d2b31'
down_revision = 'c12c0de5e7a1'
branch_labels = None
depends_on = None

# Frozen here as they are now (see c12c0de5e7a1): the outbox kinds before and after.
KINDS_BEFORE = ('period_open', 'approaching', 'deadline_day', 'overdue', 'digest', 'returned',
                'review_finished', 'test', 'annual_confirmation', 'signin_link',
                'incident_after_signing', 'report_after_signing', 'office_proposed',
                'office_granted', 'office_withdrawn')
KINDS_AFTER = (*KINDS_BEFORE, 'incident_arrived', 'incident_supplemented', 'arrivals_digest',
               'reviews_overdue')


def _kinds(kinds):
    return f"kind IN ({', '.join(repr(kind) for kind in kinds)})"


def upgrade():
    with op.batch_alter_table('agency', schema=None) as batch_op:
        batch_op.add_column(sa.Column('review_due_days', sa.Integer(), server_default='10',
                                      nullable=False))
        batch_op.add_column(sa.Column('review_digest', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
        batch_op.create_check_constraint(op.f('ck_agency_review_due_days'),
                                         'review_due_days BETWEEN 1 AND 60')

    with op.batch_alter_table('review', schema=None) as batch_op:
        batch_op.add_column(sa.Column('changed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('waiting_since', sa.DateTime(timezone=True),
                                      nullable=True))
    # The history is in the review steps: the last change of status, the last supplement;
    # a case with neither has been waiting since it was registered.
    op.execute(
        "UPDATE review SET"
        " changed_at = COALESCE((SELECT max(review_action.at) FROM review_action"
        "   WHERE review_action.review_id = review.id"
        "   AND review_action.from_status <> review_action.to_status),"
        "  (SELECT incident.registered_at FROM incident WHERE incident.id = review.incident_id),"
        "  review.updated_at),"
        " waiting_since = COALESCE((SELECT max(review_action.at) FROM review_action"
        "   WHERE review_action.review_id = review.id AND review_action.action = 'supplement'),"
        "  (SELECT incident.registered_at FROM incident WHERE incident.id = review.incident_id),"
        "  review.updated_at)")
    with op.batch_alter_table('review', schema=None) as batch_op:
        batch_op.alter_column('changed_at', existing_type=sa.DateTime(timezone=True),
                              nullable=False)
        batch_op.alter_column('waiting_since', existing_type=sa.DateTime(timezone=True),
                              nullable=False)

    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_outbox_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_outbox_kind'), _kinds(KINDS_AFTER))


def downgrade():
    # The new kinds' notices cannot stay under the old constraint.
    op.execute(f"DELETE FROM outbox WHERE kind NOT IN ({', '.join(repr(k) for k in KINDS_BEFORE)})")
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_outbox_kind'), type_='check')
        batch_op.create_check_constraint(op.f('ck_outbox_kind'), _kinds(KINDS_BEFORE))

    with op.batch_alter_table('review', schema=None) as batch_op:
        batch_op.drop_column('waiting_since')
        batch_op.drop_column('changed_at')

    with op.batch_alter_table('agency', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_agency_review_due_days'), type_='check')
        batch_op.drop_column('review_digest')
        batch_op.drop_column('review_due_days')
