"""Shared fixtures: one app and schema per run, every table emptied after each test.

Set TEST_DATABASE_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test) to run the suite
on PostgreSQL; by default it runs on an SQLite file in a temporary folder.
"""

from __future__ import annotations

import contextvars
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from app import create_app
from app.core import clock
from app.core.extensions import db as _db
from app.models import User
from tests import factories
from tests import smtp as smtp_server

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile the translation catalogues as `make` does, so a bare `pytest` tests the text
    as it is now (pages default to Chinese; a stale .mo would show yesterday's wording)."""
    root = Path(__file__).resolve().parent.parent / "app" / "translations"
    stale = [po for po in root.glob("*/LC_MESSAGES/messages.po")
             if not po.with_suffix(".mo").exists()
             or po.with_suffix(".mo").stat().st_mtime < po.stat().st_mtime]
    if stale:
        subprocess.run([sys.executable, "-m", "babel.messages.frontend", "compile",
                        "-d", str(root)], check=True, capture_output=True)


def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url.replace("postgresql://", "postgresql+psycopg://", 1)
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"


class IsolatedClient(FlaskClient):
    """Each request runs in a fresh context, as in production.

    Without this, a request reuses the test's application context (Flask only pushes a new
    one when none is active), sharing `g` and the database session with the test: state
    would leak between requests, hiding real bugs.
    """

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    app = create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=database_url(tmp_path_factory),
        EVIDENCE_DIR=tmp_path_factory.mktemp("evidence"),
        IMPORT_DIR=tmp_path_factory.mktemp("imports"),
        SERVER_NAME=None,
    )
    app.test_client_class = IsolatedClient
    with app.app_context():
        _db.drop_all()
        _db.create_all()
    yield app
    with app.app_context():
        _db.session.remove()
        _db.drop_all()
        _db.engine.dispose()


@pytest.fixture
def db(app):
    with app.app_context():
        yield _db
        _db.session.rollback()
        _db.session.remove()
        with _db.engine.begin() as connection:
            for table in reversed(_db.metadata.sorted_tables):
                connection.execute(table.delete())


@pytest.fixture
def client(app, db):
    return app.test_client()


@pytest.fixture
def runner(app, db):
    return app.test_cli_runner()


class FrozenClock:
    """Moves the portal's clock: `frozen.set(2025, 4, 3, 9)` (UTC) or `frozen.local(...)`."""

    def __init__(self) -> None:
        self.value = datetime(2025, 4, 3, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.value

    def set(self, *args: int) -> datetime:
        self.value = datetime(*args, tzinfo=UTC)
        return self.value

    def advance(self, **delta: float) -> datetime:
        from datetime import timedelta

        self.value += timedelta(**delta)
        return self.value


@pytest.fixture
def frozen(monkeypatch):
    """The portal's clock, frozen at 2025-04-03 10:00 Beijing time unless moved."""
    fake = FrozenClock()
    monkeypatch.setattr(clock, "now", fake)
    return fake


@pytest.fixture
def agency(db):
    return factories.AgencyFactory()


@pytest.fixture
def make_user(db, agency):
    def make(**kwargs):
        kwargs.setdefault("agency", agency)
        return factories.UserFactory(**kwargs)

    return make


@pytest.fixture
def auditor(make_user):
    return make_user(name="张伟")


@pytest.fixture
def project(agency):
    return factories.ProjectFactory(agency=agency, name="区教育局部门预算执行审计")


def csrf_token(client, url: str) -> str:
    response = client.get(url)
    match = CSRF_RE.search(response.get_data(as_text=True))
    assert match, f"no CSRF token on {url} ({response.status_code})"
    return match.group(1)


def post_form(client, url: str, data: dict, *, form_url: str | None = None, **kwargs):
    """POST like a browser: fetch the form page first and send its CSRF token."""
    data = {"csrf_token": csrf_token(client, form_url or url), **data}
    return client.post(url, data=data, **kwargs)


def totp_code(user_id: int) -> str:
    """The code the account's authenticator app shows at app.clock's now.

    The last step used is forgotten first, so that a test may sign an account in as often as it
    needs within one (frozen) 30-second step; tests/test_twofactor.py tests the replay refusal.
    """
    _db.session.execute(sa.update(User).where(User.id == user_id).values(totp_last_step=None))
    _db.session.commit()
    secret = _db.session.scalar(sa.select(User.totp_secret).where(User.id == user_id))
    return pyotp.TOTP(secret).at(clock.now())


def login(client, user, password: str = factories.PASSWORD):
    """Sign in through the form, and through the code step if the account has one."""
    response = post_form(client, "/auth/login", {"identifier": user.staff_no, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)
    if response.headers["Location"] == "/auth/login/code":
        response = post_form(client, "/auth/login/code", {"code": totp_code(user.id)})
        assert response.status_code == 302, response.get_data(as_text=True)
    return response


@pytest.fixture
def logged_in(client):
    def do(user):
        login(client, user)
        return client

    return do


@pytest.fixture
def smtp(app, monkeypatch):
    """A real SMTP server on loopback, the app set to send through it; read what it received."""
    server = smtp_server.SmtpServer()
    server.start()
    smtp_server.configure(monkeypatch, app, server)
    yield server
    server.stop()
