"""When the store fails, the page tells the truth: saved if the commit went through, unknown if
it was not confirmed, and "nothing saved" (503, a page of its own, a log line) for a database
that is read-only, locked or full. Nothing is half-written."""

from __future__ import annotations

import logging
import os
import sqlite3

import pytest
import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import g, has_request_context

from app import create_app
from app.core.extensions import db as _db
from app.models import Evidence, EvidenceContent, Incident
from tests.helpers.filing import PDF, register
from tests.helpers.web import IsolatedClient, login


def counts(db) -> tuple[int, int, int]:
    db.session.rollback()
    return tuple(db.session.scalar(sa.select(sa.func.count()).select_from(model))
                 for model in (Incident, Evidence, EvidenceContent))


@pytest.fixture
def me(client, auditor, frozen):
    login(client, auditor)
    return client


def _down(*args: object) -> None:
    raise sa.exc.OperationalError("SELECT", {}, Exception("server closed the connection"))


@pytest.fixture
def database_dies_after_a_commit():
    """From the first commit that wrote something, every statement fails (the server went
    down just then)."""
    def after_commit(session: so.Session) -> None:
        if has_request_context() and g.get("wrote"):
            sa.event.listen(sa.engine.Engine, "before_cursor_execute", _down)

    sa.event.listen(so.Session, "after_commit", after_commit)
    yield
    sa.event.remove(so.Session, "after_commit", after_commit)
    if sa.event.contains(sa.engine.Engine, "before_cursor_execute", _down):
        sa.event.remove(sa.engine.Engine, "before_cursor_execute", _down)


def test_a_registration_committed_as_the_database_goes_down_is_reported_saved(
        db, me, database_dies_after_a_commit, caplog):
    response = register(me, files=[("证据.pdf", PDF)])
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "您的更改已保存" in body and "请勿重复提交" in body
    assert "未做任何更改" not in body
    sa.event.remove(sa.engine.Engine, "before_cursor_execute", _down)
    assert counts(db) == (1, 1, 1)
    assert "after the commit (the change is saved)" in caplog.text


@pytest.fixture
def commit_unconfirmed():
    """The driver's COMMIT fails: whether the server applied it is unknown to the portal."""
    sa.event.listen(sa.engine.Engine, "commit", _down)
    yield
    sa.event.remove(sa.engine.Engine, "commit", _down)


def test_a_commit_that_is_not_confirmed_says_so(db, me, commit_unconfirmed):
    response = register(me)
    body = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "数据库未确认您的更改是否已保存" in body and "未做任何更改" not in body


def test_an_ordinary_failure_still_says_nothing_changed(app, db, me, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr("app.filing.records.register_incident", broken)
    body = register(me).get_data(as_text=True)
    assert "未做任何更改" in body and counts(db) == (0, 0, 0)


# A second portal on the same database, opened so that it cannot write -------------------

def _is_sqlite(app) -> bool:
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")


def _with_query(url: str, **query: str) -> str:
    return sa.make_url(url).update_query_dict(query).render_as_string(hide_password=False)


@pytest.fixture
def portal_on(app, client):
    """A client of a portal on `url` (same database), signed in as the `client` is."""
    apps = []

    def make(url: str, **config: object):
        other = create_app("testing", SQLALCHEMY_DATABASE_URI=url,
                           EVIDENCE_DIR=app.config["EVIDENCE_DIR"], **config)
        other.test_client_class = IsolatedClient
        apps.append(other)
        browser = other.test_client()
        browser.set_cookie("session", client.get_cookie("session").value)
        return browser

    yield make
    for other in apps:
        with other.app_context():
            _db.engine.dispose()


def assert_refused_with_nothing_saved(db, browser, caplog) -> None:
    with caplog.at_level(logging.ERROR, logger="app"):
        response = register(browser, files=[("证据.pdf", PDF + os.urandom(2**20))])
    body = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "系统暂时无法保存数据" in body and "未保存任何内容" in body
    assert "Traceback" not in body
    assert "the store cannot take writes" in caplog.text
    assert counts(db) == (0, 0, 0)


def test_a_read_only_database_gets_a_clear_page(app, db, me, portal_on, caplog):
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if _is_sqlite(app):  # the file opened read-only, as on a read-only volume
        url = f"sqlite:///file:{sa.make_url(url).database}?mode=ro&uri=true"
    else:
        url = _with_query(url, options="-c default_transaction_read_only=on")
    assert_refused_with_nothing_saved(db, portal_on(url), caplog)


def test_a_locked_database_gets_a_clear_page(app, db, me, portal_on, caplog):
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    holder = sa.create_engine(url)
    with holder.connect() as connection:
        if _is_sqlite(app):  # another process holds the write lock
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            browser = portal_on(url, SQLALCHEMY_ENGINE_OPTIONS={
                "hide_parameters": True, "connect_args": {"timeout": 0.5}})
        else:
            connection.execute(sa.text("LOCK TABLE incident IN EXCLUSIVE MODE"))
            browser = portal_on(_with_query(url, options="-c lock_timeout=500"))
        assert_refused_with_nothing_saved(db, browser, caplog)
        connection.rollback()
    holder.dispose()


def test_a_full_database_gets_a_clear_page(app, db, me, portal_on, caplog):
    if not _is_sqlite(app):
        pytest.skip("filling PostgreSQL's disk needs a tablespace on a small file system")
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    raw = sqlite3.connect(sa.make_url(url).database, isolation_level=None)
    raw.execute("VACUUM")  # no free pages left from earlier tests
    pages = raw.execute("PRAGMA page_count").fetchone()[0]
    raw.close()
    browser = portal_on(url)
    with browser.application.app_context():  # no room for the evidence: SQLITE_FULL
        sa.event.listen(_db.engine, "connect", lambda connection, record: connection.execute(
            f"PRAGMA max_page_count = {pages + 2}"))
    assert_refused_with_nothing_saved(db, browser, caplog)
