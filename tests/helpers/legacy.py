"""A registration as the portal stored it before content encryption (in clear, no content
key): what `flask keys init` finds on an upgraded installation."""

from app.core import auditlog
from app.core.extensions import db
from app.filing import evidence
from app.keys.fields import sealed_fields
from app.models import Incident


def make_legacy(incident: Incident) -> None:
    """Rewrite `incident`'s sealed columns in clear (read with the test process's keys), drop
    its content key, and seal the rows anew in the log, as an old version would have."""
    rows = [*incident.versions, incident.review, *incident.review.actions, *incident.evidence]
    clear = {id(row): {f.column: getattr(row, f.name) for f in sealed_fields(type(row))}
             for row in rows}
    files = {item.id: evidence.data_of(item) for item in incident.evidence}
    for row in rows:
        for column, value in clear[id(row)].items():
            setattr(row, column, value)
    for item in incident.evidence:
        item.stored_sha256 = None
        if item.content is not None:
            item.content.data = files[item.id]
    incident.key_for_agency = incident.key_for_registrant = incident.registrant_ring_id = None
    incident.__dict__.pop("_content_key", None)
    db.session.flush()
    auditlog.record("demo.loaded", None, seal=rows)
    db.session.commit()
