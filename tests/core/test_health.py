"""GET /healthz and `flask doctor`: the database, the schema's revision, the scheduler's last
round and the outbox backlog, ok or not."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app import create_app
from app.core import health
from app.core.codes import NoticeKind
from app.core.extensions import db as _db
from app.models import Outbox
from app.notices.cli import scheduled_round

CHECKS = {"database", "schema", "scheduler", "outbox"}


def stamp(revisions: set[str]) -> None:
    """What `flask db upgrade` leaves; the test schema is made by create_all and has none."""
    with _db.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
        connection.execute(sa.text("CREATE TABLE alembic_version "
                                   "(version_num VARCHAR(32) NOT NULL PRIMARY KEY)"))
        for revision in revisions:
            connection.execute(sa.text("INSERT INTO alembic_version VALUES (:r)"), {"r": revision})


@pytest.fixture
def stamped(db):
    stamp(health.migration_heads())
    yield
    with _db.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE alembic_version"))


def healthz(client) -> tuple[int, dict]:
    response = client.get("/healthz")
    return response.status_code, response.get_json()


def failing(client) -> set[str]:
    status, body = healthz(client)
    assert (status == 200) == (body["status"] == "ok")
    assert set(body["checks"]) == CHECKS and set(body["checks"].values()) <= {"ok", "fail"}
    return {name for name, state in body["checks"].items() if state == "fail"}


def test_all_ok_after_a_scheduler_round_on_a_schema_at_head(app, client, stamped, frozen,
                                                            caplog):
    assert failing(client) == {"scheduler"}           # the scheduler never ran
    with caplog.at_level(logging.INFO, logger="app"):
        scheduled_round(app)
    assert "round: 0 planned, 0 enqueued, 0 sent, 0 failed" in caplog.text
    assert healthz(client) == (200, {"status": "ok", "checks": dict.fromkeys(CHECKS, "ok")})


def test_a_scheduler_silent_for_too_long_fails(app, client, stamped, frozen):
    scheduled_round(app)
    frozen.advance(minutes=app.config["HEALTH_SCHEDULER_MINUTES"] - 1)
    assert failing(client) == set()
    frozen.advance(minutes=2)
    assert failing(client) == {"scheduler"}
    assert healthz(client)[0] == 503


def test_a_schema_behind_the_code_or_never_migrated_fails(app, client, db, stamped, frozen):
    scheduled_round(app)
    stamp({"7e25953cb537"})                           # the first migration only
    assert failing(client) == {"schema"}
    with _db.engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM alembic_version"))
    assert failing(client) == {"schema"}


def test_a_due_notice_nobody_delivers_fails_the_outbox(app, client, db, auditor, stamped,
                                                       frozen, smtp, monkeypatch):
    scheduled_round(app)
    limit = timedelta(minutes=app.config["HEALTH_OUTBOX_MINUTES"])
    db.session.add(Outbox(key="k1", user_id=auditor.id, kind="approaching", email=None,
                          next_attempt_at=frozen() - limit + timedelta(minutes=1)))
    db.session.commit()
    assert failing(client) == set()                   # due, but not for long
    frozen.advance(minutes=2)
    assert failing(client) == {"outbox"}
    monkeypatch.setitem(app.config, "SMTP_HOST", "")  # no mail server: e-mails wait by design
    assert failing(client) == set()


def test_healthz_needs_no_sign_in_and_gives_no_detail(client, db):
    response = client.get("/healthz")
    assert response.status_code == 503 and response.is_json
    assert "alembic" not in response.get_data(as_text=True)


def test_an_unreachable_database_fails_every_check_that_needs_it(tmp_path):
    down = create_app("testing", SQLALCHEMY_DATABASE_URI="postgresql+psycopg://"
                      "nobody@127.0.0.1:9/none?connect_timeout=2")
    status, body = healthz(down.test_client())
    assert status == 503
    assert body["checks"]["database"] == "fail" and body["checks"]["scheduler"] == "fail"


def test_doctor_prints_every_check_with_its_detail(app, runner, stamped, frozen):
    result = runner.invoke(args=["doctor"])
    assert result.exit_code == 1
    assert "FAIL scheduler" in result.output and "is `flask scheduler` running?" in result.output
    assert "ok   schema" in result.output and "at head" in result.output
    scheduled_round(app)
    result = runner.invoke(args=["doctor"])
    assert result.exit_code == 0, result.output
    assert "ok   scheduler  last round 0 min ago" in result.output


def test_a_round_logs_each_delivery_failure(app, db, smtp, auditor, stamped, frozen, caplog):
    from app.notices import outbox

    outbox.enqueue([outbox.Notice(auditor.id, NoticeKind.APPROACHING, "2025-03", 0, auditor.email,
                                  {"due": "2025-04-07"})], frozen())
    db.session.commit()
    smtp.stop()                                       # the mail server is down
    with caplog.at_level(logging.INFO, logger="app"):
        scheduled_round(app)
    assert "0 sent, 1 failed" in caplog.text
    assert "delivery failed for 1 notice(s): connect:" in caplog.text
