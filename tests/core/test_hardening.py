"""Attacks and bad input from outside, through the HTTP layer: forged sessions, control
characters, numbers and dates out of range, lists of another agency, one's own case."""

from __future__ import annotations

import io
import os
import stat
import time

import openpyxl
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.sessions import SecureCookieSessionInterface

from app import create_app
from app.core.extensions import db as _db
from app.models import AuditLog, Incident, IncidentVersion, Outbox, ReviewAction, User
from tests.helpers import factories
from tests.helpers.filing import register
from tests.helpers.imports import HEADER_ZH, csv_file, preview
from tests.helpers.review import make_incident, step
from tests.helpers.web import login, post_form

OLD_PUBLISHED_KEY = "dev-only-not-secret"  # what config.py used to sign with by default


# Sessions and secrets ----------------------------------------------------------------------

def forged_cookie(secret: str, user: User) -> str:
    """A session cookie for `user`, signed with `secret`, as Flask and Flask-Login write it."""
    forger = Flask("forger")
    forger.secret_key = secret
    now = int(time.time())
    return SecureCookieSessionInterface().get_signing_serializer(forger).dumps(
        {"_user_id": user.get_id(), "_fresh": True, "_permanent": True,
         "login_at": now, "seen_at": now})


@pytest.fixture
def development_app(app, tmp_path, monkeypatch):
    """The configuration `make run` and a plain `gunicorn wsgi:app` use, on the suite's
    database, with a fresh instance folder."""
    monkeypatch.delenv("SECRET_KEY", raising=False)
    return create_app("development", instance_path=tmp_path,
                      SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
                      SERVER_NAME=None)


def test_a_cookie_forged_with_the_old_published_key_is_sent_to_sign_in(
        development_app, db, make_user):
    reviewer = make_user(roles={"reviewer"}, totp_secret=None)
    client = development_app.test_client()
    client.set_cookie("session", forged_cookie(OLD_PUBLISHED_KEY, reviewer))
    response = client.get("/review/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/auth/login")
    # The same forgery with the key the installation really uses would have worked: the test
    # fails if the key were ever a known one again.
    client.set_cookie("session", forged_cookie(development_app.secret_key, reviewer))
    assert client.get("/review/").headers.get("Location", "").startswith("/auth/account/two-factor")


def test_the_generated_key_is_kept_private_and_reused(development_app, tmp_path, app):
    key_file = tmp_path / "secret_key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert development_app.secret_key == key_file.read_text().strip()
    assert len(development_app.secret_key) >= 48 and development_app.secret_key != (
        OLD_PUBLISHED_KEY)
    again = create_app("development", instance_path=tmp_path,
                       SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"])
    assert again.secret_key == development_app.secret_key  # sessions survive a restart


def test_production_sends_hsts_and_development_does_not(app, tmp_path, monkeypatch,
                                                        development_app):
    monkeypatch.setenv("SECRET_KEY", "a-long-production-secret-for-this-test-only")
    monkeypatch.setenv("DATABASE_URL", app.config["SQLALCHEMY_DATABASE_URI"])
    production = create_app("production", instance_path=tmp_path / "prod")
    header = production.test_client().get("/auth/login").headers["Strict-Transport-Security"]
    assert header.startswith("max-age=31536000")
    assert "Strict-Transport-Security" not in development_app.test_client().get(
        "/auth/login").headers
    production.config["HSTS_SECONDS"] = 0
    assert "Strict-Transport-Security" not in production.test_client().get("/auth/login").headers


# Control characters ------------------------------------------------------------------------

CONTROL = "\x00"
MESSAGE = "无法保存的不可见控制字符"  # the zh-CN message next to the field


@pytest.fixture
def me(client, auditor, frozen):
    login(client, auditor)
    return auditor


@pytest.mark.parametrize("field", ["description", "actor_name", "response_detail"])
@pytest.mark.parametrize("character", ["\x00", "\x01", "\x1b", "\x7f"])
def test_a_control_character_in_an_incident_is_refused(client, me, db, field, character):
    response = register(client, **{field: f"前{character}后"})
    assert response.status_code == 400
    assert MESSAGE in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Incident)) == 0


def test_tab_and_line_ends_are_text(client, me, db):
    response = register(client, description="第一行\r\n\t第二行")
    assert response.status_code == 302


def test_a_control_character_in_a_review_comment_is_refused(client, db, make_user, auditor,
                                                            frozen):
    case = make_incident(auditor)
    login(client, make_user(roles={"reviewer"}))
    response = step(client, case, "comment", note=f"备注{CONTROL}")
    assert response.status_code == 400 and MESSAGE in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReviewAction)) == 0


def test_a_control_character_in_an_admin_form_is_refused(client, db, make_user, frozen):
    from tests.helpers.admin import user_form

    login(client, make_user(roles={"admin"}))
    response = post_form(client, "/admin/users/new", user_form(name="新\x01同事"))
    assert response.status_code == 400 and MESSAGE in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 1


def test_a_control_character_in_an_import_is_refused_by_line(app, db, make_user, frozen,
                                                             monkeypatch):
    monkeypatch.setitem(app.config, "TWO_FACTOR_ROLES", ())
    client = app.test_client()
    login(client, make_user(roles={"admin"}))
    response = preview(client, csv_file(HEADER_ZH, "A001,王\x01芳,,,审计人员,2024-03-01"))
    assert response.status_code == 400
    assert "第 2 行含有不可见的控制字符" in response.get_data(as_text=True)


def test_a_control_character_in_the_address_answers_400(client, me):
    for url in ("/filing/history?x=%00", "/review/?q=%01", "/review/log?object_type=%00"):
        response = client.get(url)
        assert response.status_code == 400, url
        assert "控制字符" in response.get_data(as_text=True)


def test_exports_survive_control_characters_already_stored(app, client, db, make_user,
                                                           auditor, frozen):
    case = make_incident(auditor)
    # Written behind the forms' back (before this check, or by SQL): \x01 passes both databases.
    version = db.session.scalar(sa.select(IncidentVersion)
                                .where(IncidentVersion.incident_id == case))
    version.description = "从轻\x01处理"  # sealed, as any write is
    db.session.execute(sa.update(User).where(User.id == auditor.id).values(name="张\x01伟"))
    db.session.commit()
    login(client, make_user(roles={"reviewer"}))
    xlsx = client.get("/review/export.xlsx")
    assert xlsx.status_code == 200
    cells = [c.value for row in openpyxl.load_workbook(io.BytesIO(xlsx.data)).active.iter_rows()
             for c in row]
    assert "张伟" in cells
    assert client.get("/review/export.csv").status_code == 200
    compliance = client.get("/compliance/export.xlsx?period=2025-03")
    assert compliance.status_code == 200
    names = [c.value for row in openpyxl.load_workbook(io.BytesIO(compliance.data)).active
             .iter_rows() for c in row]
    assert "张伟" in names


# Numbers and dates out of range ------------------------------------------------------------

def test_ids_beyond_the_integer_range_are_not_found(client, me):
    for url in ("/filing/incidents/99999999999999999999", "/filing/incidents/2147483648",
                "/filing/evidence/9223372036854775808", "/statement/99999"):
        assert client.get(url).status_code == 404, url


@pytest.mark.parametrize(
    "url",
    [
        "/review/?page=9223372036854775807",
        "/review/log?page=99999999999",
        "/admin/users?page=9223372036854775807",
        "/review/log?object_id=99999999999999999999",
    ],
)
def test_pages_beyond_the_range_answer_400(client, db, make_user, frozen, url, monkeypatch,
                                           app):
    monkeypatch.setitem(app.config, "TWO_FACTOR_ROLES", ())
    login(client, make_user(roles={"reviewer", "auditor"} if "admin" not in url else {"admin"}))
    assert client.get(url).status_code == 400


def test_a_date_before_the_portals_range_is_refused(client, me, db):
    response = register(client, occurred_at="0001-01-01T10:00")
    assert response.status_code == 400
    assert "2000-01-01" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Incident)) == 0


def test_a_period_before_the_portals_range_answers_400(client, db, make_user, frozen, app,
                                                       monkeypatch):
    monkeypatch.setitem(app.config, "TWO_FACTOR_ROLES", ())
    login(client, make_user(roles={"leader"}))
    response = client.get("/compliance/?period=1900-01")
    assert response.status_code == 400
    assert client.get("/compliance/export.csv?period=1900-01").status_code == 400


# Lists scoped to the agency ----------------------------------------------------------------

def test_the_outbox_lists_only_the_agencys_notices(client, db, make_user, frozen, app,
                                                   monkeypatch):
    monkeypatch.setitem(app.config, "TWO_FACTOR_ROLES", ())
    stranger = factories.UserFactory(name="外局人员", email="stranger@other.example")
    _db.session.add(Outbox(user_id=stranger.id, key="x", kind="digest", period="2025-03",
                           seq=0, email=stranger.email, params="{}", status="pending",
                           created_at=frozen(), next_attempt_at=frozen()))
    _db.session.commit()
    login(client, make_user(roles={"admin"}))
    page = client.get("/notices/outbox").get_data(as_text=True)
    assert "外局人员" not in page and "stranger@other.example" not in page


def test_the_log_hides_another_agencys_entries_without_actor(client, db, make_user, frozen,
                                                            app, monkeypatch):
    from app.core import auditlog

    monkeypatch.setitem(app.config, "TWO_FACTOR_ROLES", ())
    stranger = factories.UserFactory(name="外局人员")
    auditlog.record("auth.login_failed", stranger, identifier="外局的工号")
    _db.session.commit()
    login(client, make_user(roles={"admin"}))
    page = client.get("/review/log").get_data(as_text=True)
    # The entry would read "登录失败（账户：外局人员）" (the code is only a filter's option now).
    assert "外局的工号" not in page and "外局人员" not in page


# Recusal -----------------------------------------------------------------------------------

def test_no_reviewer_reviews_their_own_registration(client, db, make_user, frozen):
    both = make_user(name="孙丽", roles={"reviewer", "auditor"})
    own = make_incident(both)
    login(client, both)
    page = client.get(f"/review/incidents/{own}").get_data(as_text=True)
    assert 'data-testid="recused"' in page and 'name="action"' not in page
    for action in ("close", "refer", "start", "comment", "return"):
        response = step(client, own, action, affected="no", determination="本人处理",
                        referred_to="区纪委", referral_reason="x", note="x")
        assert response.status_code == 409, action
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReviewAction)) == 0
    queue = client.get("/review/").get_data(as_text=True)
    assert f'data-recused="{own}"' in queue


def test_a_colleague_still_reviews_it(client, db, make_user, frozen):
    own = make_incident(make_user(roles={"reviewer", "auditor"}))
    login(client, make_user(roles={"reviewer"}))
    assert step(client, own, "start").status_code == 302


# Access decided in one place ---------------------------------------------------------------

def test_no_view_or_template_decides_access_by_role(app):
    """Views and templates ask app/core/access.py by policy name; a role literal beside a route or
    in a template is a decision taken elsewhere."""
    import re
    from pathlib import Path

    root = Path(app.root_path)
    literal = re.compile(
        r"has_role\(|role_required|\.roles\s*&|[\"'](auditor|reviewer|leader)[\"']")
    offenders = []
    for path in [*root.glob("*/routes.py"), *root.glob("templates/**/*.html")]:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if literal.search(line):
                offenders.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert offenders == []


def test_the_policies_are_the_ones_products_table_gives():
    from app.core import access

    assert access.REVIEW.roles == {"reviewer"}
    assert "admin" not in access.REVIEW.roles | access.STATEMENT_INCIDENTS.roles
    assert "leader" not in access.REVIEW.roles | access.STATEMENT_INCIDENTS.roles


def test_every_form_refuses_what_no_field_may_hold():
    from flask_wtf import FlaskForm

    import app.admin.forms
    import app.auth.forms
    import app.compliance.forms
    import app.filing.forms
    import app.notices.forms
    import app.review.forms
    import app.statement.forms  # noqa: F401
    from app.core.forms import PortalForm

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    strays = [f"{c.__module__}.{c.__name__}" for c in subclasses(FlaskForm)
              if c.__module__.startswith("app.") and not issubclass(c, PortalForm)]
    assert strays == []


def test_the_log_entry_of_a_failed_sign_in_names_the_agency(client, db, auditor):
    post_form(client, "/auth/login", {"identifier": auditor.staff_no, "password": "wrong one"})
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "auth.login_failed"))
    assert entry.agency_id == auditor.agency_id



def test_the_statement_appendix_survives_control_characters_already_stored(
        client, db, make_user, auditor, frozen):
    from app.core import clock
    from app.statement import signing

    reviewer = make_user(roles={"reviewer"})
    make_incident(auditor)
    db.session.execute(sa.update(User).where(User.id == auditor.id).values(name="张\x01伟"))
    signing.prepare(auditor.agency, 2025, reviewer, clock.now())
    db.session.commit()
    login(client, reviewer)
    response = client.get("/statement/2025.xlsx")
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(response.data))
    cells = [c.value for sheet in book.worksheets for row in sheet.iter_rows() for c in row]
    assert not any(isinstance(v, str) and "\x01" in v for v in cells)


def test_another_agencys_notice_cannot_be_retried(client, db, make_user, frozen):
    stranger = factories.UserFactory(name="外局人员", email="stranger@other.example")
    row = Outbox(user_id=stranger.id, key="y", kind="digest", period="2025-03", seq=0,
                 email=stranger.email, params="{}", status="failed", failure="refused",
                 created_at=frozen(), next_attempt_at=frozen())
    _db.session.add(row)
    _db.session.commit()
    login(client, make_user(roles={"admin"}))
    response = post_form(client, f"/notices/outbox/{row.id}/retry", {}, form_url="/notices/outbox")
    assert response.status_code == 404
    _db.session.expire_all()
    assert _db.session.get(Outbox, row.id).status == "failed"
