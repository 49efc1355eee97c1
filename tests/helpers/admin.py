"""The administrator's account form as the page posts it."""

from __future__ import annotations


def user_form(**overrides) -> dict:
    return {"staff_no": "N001", "name": "新同事", "email": "n001@example.org", "department": "0",
            "roles": ["auditor"], "joined_on": "2025-03-01", **overrides}


def logs(db, action: str) -> list[dict]:
    """The details of the audit entries of `action`, oldest first."""
    import json

    import sqlalchemy as sa

    from app.models import AuditLog

    db.session.expire_all()
    return [json.loads(entry.detail) for entry in db.session.scalars(
        sa.select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id))]


def fresh(db, model, record_id):
    """The record as the database holds it now."""
    db.session.expire_all()
    return db.session.get(model, record_id)
