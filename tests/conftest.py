"""Shared fixtures: one app and schema per run, every table emptied after each test.

Set TEST_DATABASE_URL (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test) to run the suite
on PostgreSQL; by default it runs on an SQLite file in a temporary folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

import config
from app import create_app
from app.core import clock
from app.core.extensions import db as _db
from app.keys import keychain
from tests.helpers import factories
from tests.helpers import smtp as smtp_server
from tests.helpers.web import IsolatedClient, login

# Fixtures of the helpers, for every area's tests (the year a statement is made of).
pytest_plugins = ["tests.helpers.statement"]

# The few tests that build a development or production app must not gc.freeze() the test
# process: what is alive then would never be collected.
config.Config.FREEZE_HEAP = False


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


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    app = create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=database_url(tmp_path_factory),
        EVIDENCE_DIR=tmp_path_factory.mktemp("evidence"),
        IMPORT_DIR=tmp_path_factory.mktemp("imports"),
        PDF_FONT_CACHE=tmp_path_factory.mktemp("fonts"),
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
    with app.app_context(), keychain.using(factories.TestReader()):
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
