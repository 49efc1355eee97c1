"""The portal's log: a line per request with its id and user, tracebacks of unhandled errors,
and never the content of a registration, a password or a code."""

import io
import logging

import pytest
import sqlalchemy as sa

from app.core import logs
from app.core.extensions import db as _db
from app.filing import records
from app.models import Incident
from tests.helpers.factories import PASSWORD
from tests.helpers.filing import PNG, file_month, register
from tests.helpers.review import FULL, step
from tests.helpers.web import login, post_form

SECRET_TEXT = "请托人原话：把审计发现改成口头提醒XYZZY"


@pytest.fixture
def log_text(app):
    """What the portal's own handler writes (at DEBUG for the test), as it would reach stderr."""
    handler, logger = logs.handler_of(app), logging.getLogger(logs.LOGGER_NAME)
    stream, level = io.StringIO(), logger.level
    previous = handler.setStream(stream)
    logger.setLevel(logging.DEBUG)
    yield stream.getvalue
    handler.setStream(previous)
    logger.setLevel(level)


def boom():
    raise RuntimeError("forced failure")


def test_a_forced_500_logs_its_traceback_with_the_request_id(app, client, log_text,
                                                             monkeypatch):
    monkeypatch.setitem(app.view_functions, "auth.login", boom)
    response = client.get("/auth/login", headers={"X-Request-ID": "req-4711"})
    assert response.status_code == 500
    assert "Traceback" not in response.get_data(as_text=True)
    assert response.headers["X-Request-ID"] == "req-4711"
    text = log_text()
    assert "ERROR [req-4711]" in text
    assert "Traceback (most recent call last)" in text
    assert "RuntimeError: forced failure" in text
    assert "GET /auth/login 500" in text


def test_an_unsafe_request_id_is_replaced_and_each_request_gets_its_own(client, log_text):
    first = client.get("/auth/login", headers={"X-Request-ID": "evil id\" user=1"})
    second = client.get("/auth/login")
    ids = {first.headers["X-Request-ID"], second.headers["X-Request-ID"]}
    assert len(ids) == 2 and all(logs.SAFE_REQUEST_ID.fullmatch(i) for i in ids)
    assert "evil" not in log_text()
    request_id = second.headers["X-Request-ID"]
    assert f"[{request_id}] user=- app.request: GET /auth/login 200" in log_text()


def test_lines_name_the_signed_in_user_by_id(client, auditor, log_text):
    login(client, auditor)
    client.get("/")
    assert f"user={auditor.id} app.request: GET / 200" in log_text()


def test_the_whole_filing_and_review_flow_leaves_no_content_in_the_log(
        app, db, client, auditor, make_user, frozen, log_text):
    login(client, auditor)
    assert register(client, files=[("证据.png", PNG)], description=SECRET_TEXT,
                    actor_name="钱某某", response_detail="当场拒绝QWERTY").status_code == 302
    assert file_month(client, zero=False).status_code == 302
    office = make_user(name="纪检员", roles={"reviewer"})
    desk = app.test_client()
    login(desk, office)
    case = db.session.scalar(sa.select(Incident.id))
    assert SECRET_TEXT in desk.get(f"/review/incidents/{case}").get_data(as_text=True)
    assert step(desk, case, "comment", note="内部意见PLUGH").status_code == 302
    assert step(desk, case, "close", **FULL).status_code == 302
    text = log_text()
    assert f"user={office.id}" in text and f"user={auditor.id}" in text  # it did log the flow
    for secret in (SECRET_TEXT, "钱某某", "QWERTY", "PLUGH", FULL["determination"], PASSWORD):
        assert secret not in text


def test_a_failing_statement_does_not_copy_incident_text_into_the_log(
        client, auditor, frozen, log_text, monkeypatch):
    """An INSERT that fails carries its parameters in the exception's message unless the
    engine hides them."""
    def failing_register(user, data, uploads, now, **options):
        _db.session.execute(sa.text("INSERT INTO no_such_table (x) VALUES (:x)"),
                            {"x": data.description})

    monkeypatch.setattr(records, "register_incident", failing_register)
    login(client, auditor)
    assert register(client, description=SECRET_TEXT).status_code == 500
    text = log_text()
    assert "no_such_table" in text and SECRET_TEXT not in text


def test_a_password_never_reaches_the_log(client, auditor, log_text):
    post_form(
        client, "/auth/login", {"identifier": auditor.staff_no, "password": "wrong-" + PASSWORD}
    )
    login(client, auditor)
    assert PASSWORD not in log_text()
