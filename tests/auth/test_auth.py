"""Sign-in, throttling, sessions, redirects, security headers and error pages."""

import re

import pytest

from app.core.extensions import db
from config import ProductionConfig
from tests.helpers.factories import PASSWORD
from tests.helpers.web import csrf_token, login, post_form

BAD_CREDENTIALS_ZH = "工号/邮箱或密码不正确。"


def attempt(client, identifier, password):
    return post_form(client, "/auth/login", {"identifier": identifier, "password": password})


def signed_in(client) -> bool:
    return client.get("/").status_code == 200


def test_sign_in_with_staff_number_or_email(client, auditor):
    response = attempt(client, auditor.staff_no, PASSWORD)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert signed_in(client)
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/")})
    assert not signed_in(client)
    assert attempt(client, auditor.email.upper(), PASSWORD).status_code == 302


def alerts(response) -> list[str]:
    return re.findall(r'<div class="alert [^"]*" role="alert">([^<]*)</div>',
                      response.get_data(as_text=True))


def test_wrong_password_and_unknown_account_get_the_same_answer(client, auditor, make_user):
    gone = make_user(active=False)
    answers = [
        attempt(client, auditor.staff_no, "wrong password!!"),
        attempt(client, "nobody-here", "wrong password!!"),
        attempt(client, gone.staff_no, PASSWORD),
    ]
    assert {r.status_code for r in answers} == {401}
    assert [alerts(r) for r in answers] == [[BAD_CREDENTIALS_ZH]] * 3
    assert not signed_in(client)


def test_five_failures_throttle_that_account_only(client, app, auditor, make_user, frozen):
    other = make_user()
    for _ in range(5):
        assert attempt(client, auditor.staff_no, "wrong password!!").status_code == 401
    refused = attempt(client, auditor.staff_no, PASSWORD)
    assert refused.status_code == 401
    assert "尝试次数过多" in refused.get_data(as_text=True)
    assert not signed_in(client)
    assert attempt(client, other.staff_no, PASSWORD).status_code == 302  # unaffected
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/")})
    frozen.advance(minutes=14)
    assert attempt(client, auditor.staff_no, PASSWORD).status_code == 401
    frozen.advance(minutes=2)
    assert attempt(client, auditor.staff_no, PASSWORD).status_code == 302


def test_the_throttle_is_configurable(client, app, auditor, frozen, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES", 2)
    monkeypatch.setitem(app.config, "LOGIN_LOCK_MINUTES", 1)
    attempt(client, auditor.staff_no, "wrong password!!")
    attempt(client, auditor.staff_no, "wrong password!!")
    assert attempt(client, auditor.staff_no, PASSWORD).status_code == 401
    frozen.advance(minutes=1, seconds=1)
    assert attempt(client, auditor.staff_no, PASSWORD).status_code == 302


def test_sign_in_starts_a_fresh_session(client, auditor):
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
    login(client, auditor)
    with client.session_transaction() as session:
        assert "planted" not in session


def test_logout_ends_every_session_of_that_user(app, db, auditor):
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, auditor)
    login(phone, auditor)
    assert signed_in(laptop) and signed_in(phone)
    laptop.post("/auth/logout", data={"csrf_token": csrf_token(laptop, "/")})
    assert not signed_in(laptop)
    assert not signed_in(phone)


@pytest.mark.parametrize("length", [12, 64, 128])
def test_password_change_accepts_12_to_128_characters_and_ends_other_sessions(
        app, db, auditor, length):
    mine, other = app.test_client(), app.test_client()
    login(mine, auditor)
    login(other, auditor)
    new = ("Qm7#tR2vLx9!" * 11)[:length]  # not a common password: random characters
    response = post_form(mine, "/auth/account/password",
                         {"current": PASSWORD, "new": new, "confirm": new})
    assert response.status_code == 302
    assert signed_in(mine)
    assert not signed_in(other)
    fresh = app.test_client()
    assert attempt(fresh, auditor.staff_no, PASSWORD).status_code == 401
    assert attempt(fresh, auditor.staff_no, new).status_code == 302


@pytest.mark.parametrize("new", ["short-pass1", "y" * 129])
def test_password_change_refuses_bad_lengths_and_changes_nothing(client, auditor, new):
    login(client, auditor)
    before = auditor.password_hash
    response = post_form(client, "/auth/account/password",
                         {"current": PASSWORD, "new": new, "confirm": new})
    assert response.status_code == 400
    assert "12" in response.get_data(as_text=True)
    db.session.refresh(auditor)
    assert auditor.password_hash == before


def test_password_change_needs_the_current_password(client, auditor):
    login(client, auditor)
    response = post_form(client, "/auth/account/password", {
        "current": "not my password", "new": "a new long passphrase", "confirm":
        "a new long passphrase"})
    assert response.status_code == 400
    assert signed_in(client)


def test_deactivation_ends_the_session(client, auditor):
    login(client, auditor)
    auditor.active = False
    db.session.commit()
    assert not signed_in(client)


def test_idle_timeout(client, auditor, frozen):
    login(client, auditor)
    frozen.advance(minutes=29)
    assert signed_in(client)
    frozen.advance(minutes=29)  # 29 minutes after the last request: still fine
    assert signed_in(client)
    frozen.advance(minutes=31)
    response = client.get("/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]
    assert "会话已过期" in client.get("/auth/login").get_data(as_text=True)


def test_absolute_lifetime(client, auditor, frozen):
    login(client, auditor)
    for _ in range(36):  # active every 20 minutes for 12 hours
        frozen.advance(minutes=20)
        assert signed_in(client)
    frozen.advance(minutes=20)
    assert not signed_in(client)


def test_session_cookie_flags(client, auditor):
    response = login(client, auditor)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert ProductionConfig.SESSION_COOKIE_SECURE is True


@pytest.mark.parametrize("target,expected", [
    ("/filing/history", "/filing/history"),
    ("/filing/reports/2025-03?x=1", "/filing/reports/2025-03?x=1"),
    ("https://evil.example/", "/"),
    ("//evil.example/", "/"),
    ("/\\evil.example", "/"),
    ("javascript:alert(1)", "/"),
])
def test_next_only_redirects_inside_the_portal(client, auditor, target, expected):
    from urllib.parse import quote

    url = f"/auth/login?next={quote(target, safe='')}"
    response = post_form(client, url, {"identifier": auditor.staff_no, "password": PASSWORD})
    assert response.headers["Location"] == expected


def test_anonymous_requests_are_sent_to_login_with_next(client):
    response = client.get("/filing/history")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login?next=/filing/history"


def assert_security_headers(response, *, private: bool):
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]
    if private:
        assert response.headers["Cache-Control"] == "no-store"


def test_security_headers_on_pages_errors_and_login(client, auditor):
    assert_security_headers(client.get("/auth/login"), private=False)
    login(client, auditor)
    assert_security_headers(client.get("/"), private=True)
    missing = client.get("/no-such-page")
    assert missing.status_code == 404
    assert_security_headers(missing, private=True)


def test_server_errors_show_a_generic_page(client, app, auditor, monkeypatch):
    def boom():
        raise RuntimeError("secret detail from deep inside")

    monkeypatch.setitem(app.view_functions, "home.rules", boom)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    login(client, auditor)
    response = client.get("/rules")
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    assert "secret detail" not in body and "Traceback" not in body
    assert "未做任何更改" in body
    assert_security_headers(response, private=True)


def test_post_without_csrf_token_is_refused_and_changes_nothing(client, auditor):
    response = client.post("/auth/login", data={"identifier": auditor.staff_no,
                                           "password": PASSWORD})
    assert response.status_code == 400
    assert "重新" in response.get_data(as_text=True)  # "reload the page and try again"
    assert not signed_in(client)


def test_production_refuses_to_start_without_secrets(monkeypatch):
    from app import create_app

    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app("production")


def test_a_hash_of_the_old_parameters_is_rehashed_at_the_next_sign_in(client, db, make_user):
    """Argon2id at OWASP's m=19 MiB, t=2, p=1; hashes of argon2-cffi's heavier default (what
    the portal used before) still open the account, and are replaced as it signs in."""
    from argon2 import PasswordHasher, extract_parameters

    user = make_user(password_hash=PasswordHasher().hash(PASSWORD))
    assert extract_parameters(user.password_hash).memory_cost == 65536
    login(client, user)
    db.session.expire_all()
    parameters = extract_parameters(db.session.get(type(user), user.id).password_hash)
    assert (parameters.memory_cost, parameters.time_cost, parameters.parallelism) == (
        19 * 1024, 2, 1)
