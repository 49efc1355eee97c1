"""Codes as closed sets: the database refuses a role, status or kind outside app/core/codes.py

Revision ID: c12c0de5e7a1
Revises: a10a0c1e5b7f
Create Date: 2026-12-02 01:40:00

"""
from alembic import op

revision = 'c12c0de5e7a1'
down_revision = 'a10a0c1e5b7f'
branch_labels = None
depends_on = None

# Frozen here as they were when written: a later code needs its own migration.
CHECKS = {
    'annual_statement': [
        ('status',
         "status IN ('draft', 'locked')"),
    ],
    'outbox': [
        ('failure',
         "failure IN ('unreachable', 'deferred', 'refused', 'obsolete', 'deactivated', 'replaced', '')"),
        ('status',
         "status IN ('pending', 'sent', 'failed', 'portal')"),
        ('kind',
         "kind IN ('period_open', 'approaching', 'deadline_day', 'overdue', 'digest', 'returned', 'review_finished', 'test', 'annual_confirmation', 'signin_link', 'incident_after_signing', 'report_after_signing', 'office_proposed', 'office_granted', 'office_withdrawn')"),
    ],
    'sign_in_link': [
        ('purpose',
         "purpose IN ('first', 'reset')"),
    ],
    'user_role': [
        ('role',
         "role IN ('auditor', 'reviewer', 'leader', 'admin')"),
    ],
    'incident_version': [
        ('actor_relation',
         "actor_relation IN ('leading_cadre', 'audited_entity', 'colleague', 'relative_friend', 'intermediary', 'other')"),
        ('stage',
         "stage IN ('planning', 'fieldwork', 'reporting', 'follow_up', 'none')"),
        ('response',
         "response IN ('refused', 'procedure', 'reported_leader', 'reported_upwards', 'other')"),
        ('category',
         "category IN ('ask_progress', 'ask_documents', 'plead', 'change_findings', 'press_scope', 'private_meeting', 'benefits', 'other_interference', 'duty_inquiry')"),
        ('channel',
         "channel IN ('in_person', 'phone', 'message', 'letter', 'materials', 'third_party')"),
        ('kind',
         "kind IN ('probing', 'interfering', 'duty_inquiry')"),
    ],
    'review': [
        ('category',
         "category IN ('ask_progress', 'ask_documents', 'plead', 'change_findings', 'press_scope', 'private_meeting', 'benefits', 'other_interference', 'duty_inquiry')"),
        ('kind',
         "kind IN ('probing', 'interfering', 'duty_inquiry')"),
        ('status',
         "status IN ('new', 'in_review', 'returned', 'closed', 'referred')"),
    ],
    'review_action': [
        ('from_status',
         "from_status IN ('new', 'in_review', 'returned', 'closed', 'referred')"),
        ('action',
         "action IN ('start', 'return', 'supplement', 'close', 'refer', 'reclassify', 'comment')"),
        ('to_status',
         "to_status IN ('new', 'in_review', 'returned', 'closed', 'referred')"),
    ],
}


def upgrade():
    for table, checks in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, condition in checks:
                batch_op.create_check_constraint(op.f(f'ck_{table}_{name}'), condition)


def downgrade():
    for table, checks in CHECKS.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name, _condition in checks:
                batch_op.drop_constraint(op.f(f'ck_{table}_{name}'), type_='check')
