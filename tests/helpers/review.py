"""The discipline office's steps on a case, through the pages."""

from datetime import UTC, datetime

from app.filing import records
from app.review import workflow
from tests.helpers.web import post_form

NOW = datetime(2025, 4, 3, 2, tzinfo=UTC)


def make_incident(user, *, when=datetime(2025, 3, 20, 2, tzinfo=UTC), **fields):
    values = dict(occurred_at=when, category="plead", channel="phone", actor_name="李某某",
                  actor_org="区某局", actor_position="副局长", actor_relation="leading_cadre",
                  project_id=None, stage="fieldwork", description="来电请求从轻处理。",
                  response="refused")
    values.update(fields)
    incident = records.register_incident(user, records.IncidentData(**values), [], NOW)
    from app.core.extensions import db

    db.session.commit()
    return incident.id


def step(client, incident_id, action, **fields):
    """One step as the office takes it: an irreversible one (return, close, refer) confirmed
    on its summary, as the second click does."""
    url = f"/review/incidents/{incident_id}"
    confirmed = {"confirmed": "1"} if action in workflow.IRREVERSIBLE else {}
    return post_form(client, url, {"action": action, **confirmed, **fields})


FULL = {"note": "请补充对方原话。", "affected": "no",
        "determination": "审计人员当场拒绝，未受影响。", "referred_to": "区纪委监委",
        "referral_reason": "涉嫌违规干预审计。", "category": "ask_progress"}
