"""Races on sign-in, fought for real: simultaneous requests from many sessions against gunicorn
worker processes (threads in each) on the suite's database, SQLite or PostgreSQL.

Each guarded step must be decided by the database in one statement: the throttle counts every
try, a fresh TOTP code, a recovery code and a one-time link each open exactly one session.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pyotp
import pytest
import sqlalchemy as sa

from app.auth import twofactor
from app.core import clock
from app.core.extensions import db
from app.models import User
from tests.helpers import live
from tests.helpers.factories import PASSWORD

WRONG = "not the password at all"


@pytest.fixture(scope="module")
def server(app, tmp_path_factory):
    with live.gunicorn(app.config["SQLALCHEMY_DATABASE_URI"],
                       tmp_path_factory.mktemp("server")) as running:
        yield running


def at_once(count: int, step: Callable[[int], live.Answer]) -> list[live.Answer]:
    """Run `step(i)` in `count` threads released together; their answers in order."""
    barrier = threading.Barrier(count)
    answers: list[live.Answer | None] = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        answers[i] = step(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(answer is not None for answer in answers)
    return answers  # type: ignore[return-value]


def sessions(server, count: int, path: str) -> list[tuple[live.WebSession, str]]:
    """`count` browsers, each on `path` with its form's CSRF token."""
    browsers = [live.WebSession(server) for _ in range(count)]
    return [(browser, browser.csrf(path)) for browser in browsers]


def fresh(user_id: int) -> User:
    db.session.expire_all()
    return db.session.get(User, user_id)


def test_simultaneous_wrong_passwords_each_count_and_the_sixth_is_refused(server, make_user):
    user = make_user()
    staff_no = user.staff_no  # read here: the threads have no application context
    browsers = sessions(server, 12, "/auth/login")
    answers = at_once(12, lambda i: browsers[i][0].send("/auth/login", {
        "csrf_token": browsers[i][1], "identifier": staff_no, "password": WRONG}))
    wrong = [a for a in answers if "密码不正确" in a.text]
    throttled = [a for a in answers if "登录尝试次数过多" in a.text]
    assert {a.status for a in answers} == {401}
    assert (len(wrong), len(throttled)) == (5, 7)
    assert fresh(user.id).locked_until > clock.now()
    # Locked: even the right password is refused now.
    right = live.WebSession(server).post(
        "/auth/login", {"identifier": staff_no, "password": PASSWORD})
    assert right.status == 401


def half_signed_in(server, user: User, count: int) -> list[tuple[live.WebSession, str]]:
    """`count` browsers past the password step of `user`, on the code step."""
    half = []
    for _ in range(count):
        browser = live.WebSession(server)
        answer = browser.post("/auth/login", {"identifier": user.staff_no, "password": PASSWORD})
        assert answer.location.endswith("/auth/login/code"), answer.text[-500:]
        half.append((browser, browser.csrf("/auth/login/code")))
    return half


@pytest.fixture
def two_factor_user(make_user):
    return make_user(roles={"reviewer"}, totp_secret=pyotp.random_base32(32))


def test_one_fresh_totp_code_from_eight_sessions_signs_in_exactly_one(server, two_factor_user):
    browsers = half_signed_in(server, two_factor_user, 8)
    code = pyotp.TOTP(two_factor_user.totp_secret).now()
    answers = at_once(8, lambda i: browsers[i][0].send("/auth/login/code", {
        "csrf_token": browsers[i][1], "code": code}))
    assert sum(a.status == 302 for a in answers) == 1
    assert sum(a.status == 401 for a in answers) == 7


def test_one_recovery_code_from_eight_sessions_signs_in_exactly_one(server, two_factor_user):
    code = twofactor.new_recovery_codes(two_factor_user)[0]
    db.session.commit()
    browsers = half_signed_in(server, two_factor_user, 8)
    answers = at_once(8, lambda i: browsers[i][0].send("/auth/login/code", {
        "csrf_token": browsers[i][1], "code": code}))
    assert sum(a.status == 302 for a in answers) == 1
    assert twofactor.remaining_recovery_codes(fresh(two_factor_user.id)) == 9


def test_one_signin_link_used_from_eight_sessions_sets_one_password(server, make_user):
    from app.auth import tokens

    user = make_user(password_hash=None, email=None)
    url = tokens.issue_first_signin(user)
    db.session.commit()
    path = "/auth/welcome/" + url.rsplit("/", 1)[1]
    browsers = sessions(server, 8, path)
    answers = at_once(8, lambda i: browsers[i][0].send(path, {
        "csrf_token": browsers[i][1], "new": f"Lantern orbit {i} velvet canyon",
        "confirm": f"Lantern orbit {i} velvet canyon"}))
    assert sum(a.status == 302 for a in answers) == 1
    assert sum(a.status == 404 for a in answers) == 7
    hashes = db.session.execute(sa.select(User.password_hash).where(User.id == user.id))
    assert hashes.scalar_one() is not None


def test_the_server_announces_no_version(server):
    answer = live.WebSession(server).send("/auth/login")
    assert not any(c.isdigit() for c in answer.headers.get("Server", ""))
    assert "Werkzeug" not in answer.headers.get("Server", "")
