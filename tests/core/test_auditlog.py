"""The tamper-evident audit log: the chain, the seals and `flask audit verify`."""

import itertools
import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from app.core import auditlog
from app.core.cli import audit_group
from app.filing import records
from app.filing.periods import Period
from app.models import AuditLog, IncidentVersion, MonthlyReport, Review
from tests.helpers.review import make_incident
from tests.helpers.web import login

NOW = datetime(2025, 4, 3, 2, tzinfo=UTC)


@pytest.fixture
def record(db, auditor, frozen):
    """A small record: two incidents, a filed report, a few log entries."""
    first = make_incident(auditor)
    make_incident(auditor, actor_name="赵六")
    records.file_report(auditor, Period(2025, 3), zero=False, now=NOW)
    db.session.commit()
    return first


def verify(runner):
    return runner.invoke(audit_group, ["verify"])


def test_an_untouched_record_verifies(runner, record, db):
    result = verify(runner)
    assert result.exit_code == 0, result.output
    count = db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog))
    head = db.session.scalar(sa.select(AuditLog.hash).order_by(AuditLog.id.desc()).limit(1))
    assert result.output.strip() == f"OK: {count} entries, head {head}"


def test_each_entry_is_chained_to_the_previous(record, db):
    entries = db.session.scalars(sa.select(AuditLog).order_by(AuditLog.id)).all()
    assert entries[0].prev_hash == auditlog.GENESIS
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.hash
        assert after.hash == auditlog.entry_digest(before.hash, after)


def _second_entry(db) -> int:
    return db.session.scalars(sa.select(AuditLog.id).order_by(AuditLog.id)).all()[1]


def test_a_changed_log_row_is_named(runner, record, db):
    target = _second_entry(db)
    db.session.execute(sa.update(AuditLog).where(AuditLog.id == target).values(ip="10.0.0.9"))
    db.session.commit()
    result = verify(runner)
    assert result.exit_code == 1
    assert f"entry #{target}" in result.output


def test_a_deleted_log_row_is_found(runner, record, db):
    target = _second_entry(db)
    db.session.execute(sa.delete(AuditLog).where(AuditLog.id == target))
    db.session.commit()
    result = verify(runner)
    assert result.exit_code == 1 and f"entry #{target + 1}" in result.output


def test_an_inserted_log_row_is_found(runner, record, db):
    head = db.session.scalar(sa.select(AuditLog.hash).order_by(AuditLog.id.desc()).limit(1))
    db.session.add(AuditLog(at=NOW, action="forged", prev_hash=head, hash="f" * 64,
                            detail="{}"))
    db.session.commit()
    result = verify(runner)
    assert result.exit_code == 1 and "forged" in result.output


def test_a_changed_incident_is_named(runner, record, db):
    table = IncidentVersion.__table__  # the stored columns, as someone with the database would
    db.session.execute(sa.update(table).where(table.c.incident_id == record)
                       .values(description="改写后的内容"))
    db.session.commit()
    result = verify(runner)
    assert result.exit_code == 1
    assert "IncidentVersion" in result.output and "differs" in result.output


def test_a_deleted_incident_version_is_found(runner, record, db, auditor):
    version_id = db.session.scalar(sa.select(IncidentVersion.id)
                                   .where(IncidentVersion.incident_id == record))
    db.session.execute(sa.text("DELETE FROM report_version_incident WHERE incident_version_id"
                               " = :v"), {"v": version_id})
    db.session.execute(sa.text("DELETE FROM fingerprint WHERE version_id = :v"),
                       {"v": version_id})
    db.session.commit()
    # the rows that point at it go first (foreign keys, enforced on PostgreSQL); the sealed
    # version itself is what must be missed
    db.session.execute(sa.delete(IncidentVersion).where(IncidentVersion.id == version_id))
    db.session.commit()
    result = verify(runner)
    assert result.exit_code == 1
    assert f"IncidentVersion {version_id}" in result.output and "missing" in result.output


def test_a_version_inserted_behind_the_logs_back_is_found(runner, record, db):
    original = db.session.scalar(sa.select(IncidentVersion)
                                 .where(IncidentVersion.incident_id == record))
    columns = {c.key: getattr(original, c.key) for c in IncidentVersion.__table__.columns
               if c.key != "id"}
    db.session.execute(sa.insert(IncidentVersion.__table__).values(
        {**columns, "number": 2, "description": "伪造的新版本"}))
    db.session.commit()
    result = verify(runner)
    assert result.exit_code == 1 and "never recorded" in result.output


def test_a_changed_report_or_review_is_found(runner, record, db):
    db.session.execute(sa.update(MonthlyReport).values(late=True))
    db.session.commit()
    assert "MonthlyReport" in verify(runner).output
    db.session.execute(sa.update(MonthlyReport).values(late=False))
    db.session.execute(sa.update(Review).where(Review.incident_id == record)
                       .values(affected_independence=False, status="closed"))
    db.session.commit()
    assert "Review" in verify(runner).output


def test_review_steps_keep_the_record_verifiable(client, runner, record, db, make_user):
    office = make_user(roles={"reviewer"})
    login(client, office)
    from tests.helpers.review import FULL, step

    step(client, record, "start")
    step(client, record, "close", **FULL)
    assert verify(runner).exit_code == 0
    seals = [json.loads(e.detail).get("seal") for e in db.session.scalars(
        sa.select(AuditLog).where(AuditLog.action == "review.close"))]
    assert seals and {name for name, *_ in seals[0]} == {"Review", "ReviewAction"}


def test_the_log_page(app, db, record, make_user):
    for roles, status in (({"reviewer"}, 200), ({"admin"}, 200), ({"leader"}, 403),
                          ({"auditor"}, 403)):
        client = app.test_client()
        login(client, make_user(roles=roles))
        response = client.get(f"/review/log?object_type=Incident&object_id={record}")
        assert response.status_code == status
        body = response.get_data(as_text=True)
        assert "来电请求从轻处理" not in body
        if status == 200:
            assert "登记了打探干预情况" in body  # in words, no longer the code
