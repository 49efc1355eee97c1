"""The portal driven as a browser would: forms posted with their CSRF token, sign-in with the
second factor, each request in a context of its own."""

from __future__ import annotations

import contextvars
import re

import pyotp
import sqlalchemy as sa
from flask.testing import FlaskClient

from app.core import clock
from app.core.extensions import db as _db
from app.models import User
from tests.helpers import factories

CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


class IsolatedClient(FlaskClient):
    """Each request runs in a fresh context, as in production.

    Without this, a request reuses the test's application context (Flask only pushes a new
    one when none is active), sharing `g` and the database session with the test: state
    would leak between requests, hiding real bugs.
    """

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


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
    needs within one (frozen) 30-second step; tests/auth/test_twofactor.py tests the replay refusal.
    """
    _db.session.execute(sa.update(User).where(User.id == user_id).values(totp_last_step=None))
    _db.session.commit()
    return pyotp.TOTP(_db.session.get(User, user_id).totp_secret).at(clock.now())


def login(client, user, password: str = factories.PASSWORD):
    """Sign in through the form, and through the code step if the account has one."""
    response = post_form(client, "/auth/login", {"identifier": user.staff_no, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)
    if response.headers["Location"] == "/auth/login/code":
        response = post_form(client, "/auth/login/code", {"code": totp_code(user.id)})
        assert response.status_code == 302, response.get_data(as_text=True)
    return response


def statements_of(db, client, url: str) -> int:
    """How many SQL statements a GET of `url` issues (it must answer 200)."""
    import sqlalchemy as sa

    seen = []

    def listener(*args):
        seen.append(args[2])

    sa.event.listen(db.engine, "before_cursor_execute", listener)
    try:
        assert client.get(url).status_code == 200
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listener)
    return len(seen)
