"""Two-factor sign-in: enrolment, the code step, replay, tolerance, throttle, recovery codes,
roles that cannot skip it, and the identity re-check other features call."""

import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import sqlalchemy as sa

from app.auth import security, twofactor
from app.core import clock
from app.models import AuditLog, RecoveryCode
from tests.helpers.factories import PASSWORD
from tests.helpers.web import csrf_token, login, post_form

SECRET_RE = re.compile(r'data-testid="totp-secret">([A-Z2-7 ]+)</code>')
CODES_RE = re.compile(r"<li>([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</li>")


def password_step(client, user, password=PASSWORD):
    return post_form(client, "/auth/login", {"identifier": user.staff_no, "password": password})


def code_step(client, code):
    return post_form(client, "/auth/login/code", {"code": code})


def code_at(user, seconds: float = 0) -> str:
    """The user's code for app.clock's now moved by `seconds`."""
    return pyotp.TOTP(user.totp_secret).at(clock.now() + timedelta(seconds=seconds))


def english(client) -> None:
    """Messages in English (they are checked by text; the catalogue may lag behind)."""
    with client.session_transaction() as session:
        session["lang"] = "en"


def signed_in(client) -> bool:
    return client.get("/").status_code == 200


def sign_out(client):
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/")})


@pytest.fixture
def reviewer(make_user):
    return make_user(name="纪检员", roles={"reviewer"})


def enrol(client) -> tuple[str, list[str]]:
    """Walk through the enrolment page; returns the secret and the recovery codes shown."""
    page = client.get("/auth/account/two-factor").get_data(as_text=True)
    assert 'src="data:image/svg+xml' in page  # the QR code, drawn by the portal itself
    secret = SECRET_RE.search(page).group(1).replace(" ", "")
    response = post_form(client, "/auth/account/two-factor",
                         {"code": pyotp.TOTP(secret).at(clock.now())})
    assert response.status_code == 200, response.get_data(as_text=True)
    return secret, CODES_RE.findall(response.get_data(as_text=True))


# Enrolment ------------------------------------------------------------------------------------

def test_an_auditor_enrols_and_gets_ten_recovery_codes_stored_hashed(client, db, auditor, frozen):
    login(client, auditor)
    secret, codes = enrol(client)
    assert len(codes) == len(set(codes)) == 10
    db.session.refresh(auditor)
    assert auditor.totp_secret == secret
    stored = db.session.scalars(sa.select(RecoveryCode.code_hash)
                                .where(RecoveryCode.user_id == auditor.id)).all()
    assert len(stored) == 10 and not set(stored) & set(codes)
    assert db.session.scalar(sa.select(AuditLog).where(
        AuditLog.action == "auth.two_factor_enabled"))
    assert signed_in(client)  # this session goes on
    sign_out(client)
    assert password_step(client, auditor).headers["Location"] == "/auth/login/code"


def test_a_wrong_enrolment_code_changes_nothing(client, db, auditor, frozen):
    english(client)
    login(client, auditor)
    page = client.get("/auth/account/two-factor").get_data(as_text=True)
    secret = SECRET_RE.search(page).group(1).replace(" ", "")
    wrong = pyotp.TOTP(secret).at(clock.now() + timedelta(minutes=5))
    response = post_form(client, "/auth/account/two-factor", {"code": wrong})
    assert response.status_code == 400
    assert "The code is not correct" in response.get_data(as_text=True)
    # The same secret is offered again, so the app's entry stays usable.
    assert SECRET_RE.search(response.get_data(as_text=True)).group(1).replace(" ", "") == secret
    db.session.refresh(auditor)
    assert auditor.totp_secret is None


def test_enrolment_ends_the_other_sessions(app, db, auditor, frozen):
    mine, other = app.test_client(), app.test_client()
    login(mine, auditor)
    login(other, auditor)
    enrol(mine)
    assert signed_in(mine) and not signed_in(other)


# The code step --------------------------------------------------------------------------------

def test_the_password_alone_opens_nothing(client, db, reviewer, frozen):
    response = password_step(client, reviewer)
    assert response.status_code == 302 and response.headers["Location"] == "/auth/login/code"
    for url in (
        "/",
        "/review/",
        "/compliance/",
        "/auth/account/password",
        "/auth/account/two-factor",
    ):
        assert client.get(url).headers["Location"].startswith("/auth/login")
    response = code_step(client, code_at(reviewer))
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert signed_in(client)
    assert client.get("/review/").status_code == 200


def test_a_wrong_code_is_refused_and_the_next_is_kept(client, db, reviewer, frozen):
    english(client)
    password_step(client, reviewer)
    wrong = code_at(reviewer, 300)
    response = code_step(client, wrong)
    assert response.status_code == 401
    assert "The code is not correct" in response.get_data(as_text=True)
    assert not signed_in(client)
    assert code_step(client, code_at(reviewer)).status_code == 302
    assert signed_in(client)


def test_the_code_step_keeps_next(client, db, reviewer, frozen):
    post_form(client, "/auth/login?next=/review/", {"identifier": reviewer.staff_no,
                                               "password": PASSWORD})
    assert code_step(client, code_at(reviewer)).headers["Location"] == "/review/"


def test_the_code_step_expires(client, db, reviewer, frozen):
    password_step(client, reviewer)
    frozen.advance(minutes=6)
    response = client.get("/auth/login/code")
    assert response.status_code == 302 and response.headers["Location"] == "/auth/login"


def test_a_replayed_code_is_refused(client, db, reviewer, frozen):
    code = code_at(reviewer)
    password_step(client, reviewer)
    assert code_step(client, code).status_code == 302
    sign_out(client)
    password_step(client, reviewer)
    assert code_step(client, code).status_code == 401  # same code, same 30 seconds
    assert not signed_in(client)
    frozen.advance(seconds=30)
    assert code_step(client, code_at(reviewer)).status_code == 302


def test_a_code_of_an_earlier_step_than_the_last_used_is_refused(client, db, reviewer, frozen):
    password_step(client, reviewer)
    assert code_step(client, code_at(reviewer, 30)).status_code == 302  # the next step's
    sign_out(client)
    password_step(client, reviewer)
    assert code_step(client, code_at(reviewer)).status_code == 401  # older than the last


@pytest.mark.parametrize(("seconds", "accepted"), [(-30, True), (30, True), (-60, False),
                                                   (60, False)])
def test_one_step_of_tolerance_either_side(client, db, reviewer, frozen, seconds, accepted):
    frozen.set(2025, 4, 3, 2, 0, 15)  # mid-step
    password_step(client, reviewer)
    response = code_step(client, code_at(reviewer, seconds))
    assert (response.status_code == 302) is accepted


def test_wrong_codes_count_towards_the_throttle(client, db, reviewer, frozen):
    password_step(client, reviewer)
    for _ in range(5):
        assert code_step(client, code_at(reviewer, 600)).status_code == 401
    response = code_step(client, code_at(reviewer))
    assert response.status_code == 401 and "尝试次数过多" in response.get_data(as_text=True)
    assert password_step(client, reviewer).status_code == 401  # the password is refused too
    frozen.advance(minutes=16)
    password_step(client, reviewer)
    assert code_step(client, code_at(reviewer)).status_code == 302


def test_a_right_password_does_not_clear_failed_codes(client, db, reviewer, frozen):
    """Re-entering the password must not buy more guesses at the code."""
    for _ in range(5):
        password_step(client, reviewer)
        code_step(client, code_at(reviewer, 600))
    db.session.refresh(reviewer)
    assert reviewer.locked_until is not None and reviewer.locked_until > clock.now()


# Recovery codes -------------------------------------------------------------------------------

def recovery_codes(db, user) -> list[str]:
    codes = twofactor.new_recovery_codes(user)
    db.session.commit()
    return codes


def test_a_recovery_code_signs_in_once(client, db, reviewer, frozen):
    codes = recovery_codes(db, reviewer)
    english(client)
    password_step(client, reviewer)
    response = code_step(client, codes[3].upper().replace("-", " "))  # typed loosely
    assert response.status_code == 302
    assert "recovery code; 9 remain" in client.get("/").get_data(as_text=True)
    sign_out(client)
    password_step(client, reviewer)
    assert code_step(client, codes[3]).status_code == 401
    assert code_step(client, codes[4]).status_code == 302


def test_new_recovery_codes_need_a_code_and_replace_the_old(client, db, reviewer, frozen):
    old = recovery_codes(db, reviewer)
    english(client)
    login(client, reviewer)
    refused = post_form(client, "/auth/account/two-factor/recovery-codes", {"code": "123456"},
                        form_url="/auth/account/two-factor")
    assert refused.status_code == 400
    assert "The code is not correct" in refused.get_data(as_text=True)
    frozen.advance(seconds=30)
    response = post_form(client, "/auth/account/two-factor/recovery-codes",
                         {"code": code_at(reviewer)}, form_url="/auth/account/two-factor")
    assert response.status_code == 200
    new = CODES_RE.findall(response.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    sign_out(client)
    password_step(client, reviewer)
    assert code_step(client, old[0]).status_code == 401
    assert code_step(client, new[0]).status_code == 302


# Who must have it -----------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["reviewer", "leader", "admin"])
def test_a_role_that_requires_it_cannot_skip_enrolment(client, db, make_user, frozen, role):
    user = make_user(roles={role}, totp_secret=None)
    response = password_step(client, user)
    assert response.headers["Location"] == "/auth/account/two-factor"
    for url in ("/", "/compliance/", "/review/", "/review/log", "/admin/users",
                "/auth/account/password",
                "/notices/", "/rules"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.headers["Location"] == "/auth/account/two-factor", url
    token = csrf_token(client, "/auth/account/two-factor")
    for url in ("/notices/read", "/auth/account/password", "/admin/users/1/reset-password"):
        assert client.post(url, data={"csrf_token": token}).status_code == 403, url
    assert client.get("/auth/account/two-factor").status_code == 200
    enrol(client)
    assert client.get("/").status_code == 200


def test_a_role_granted_during_a_session_sends_to_enrolment(client, db, auditor, frozen):
    login(client, auditor)
    auditor.roles = {"auditor", "reviewer"}
    db.session.commit()
    assert client.get("/").headers["Location"] == "/auth/account/two-factor"


def test_the_roles_are_configurable(client, db, app, auditor, frozen, monkeypatch):
    monkeypatch.setitem(app.config, "TWO_FACTOR_ROLES", ("auditor",))
    assert password_step(client, auditor).headers["Location"] == "/auth/account/two-factor"


def test_an_auditor_may_turn_it_off_with_a_code(client, db, auditor, frozen):
    login(client, auditor)
    enrol(client)
    frozen.advance(seconds=30)
    db.session.refresh(auditor)
    response = post_form(client, "/auth/account/two-factor/disable", {"code": code_at(auditor)},
                         form_url="/auth/account/two-factor")
    assert response.status_code == 302
    db.session.refresh(auditor)
    assert auditor.totp_secret is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RecoveryCode)) == 0
    sign_out(client)
    assert password_step(client, auditor).headers["Location"] == "/"


def test_turning_it_off_needs_a_valid_code(client, db, auditor, frozen):
    login(client, auditor)
    enrol(client)
    response = post_form(client, "/auth/account/two-factor/disable", {"code": "12345x"},
                         form_url="/auth/account/two-factor")
    assert response.status_code == 400
    db.session.refresh(auditor)
    assert auditor.totp_secret is not None


def test_a_reviewer_moving_to_a_new_phone_must_enrol_again_at_once(client, db, reviewer, frozen):
    login(client, reviewer)
    frozen.advance(seconds=30)
    response = post_form(client, "/auth/account/two-factor/disable", {"code": code_at(reviewer)},
                         form_url="/auth/account/two-factor")
    assert response.status_code == 302
    assert client.get("/review/").headers["Location"] == "/auth/account/two-factor"
    enrol(client)
    assert client.get("/review/").status_code == 200


def test_the_enrolment_page_draws_the_qr_code_without_external_resources(client, db, auditor,
                                                                         frozen):
    login(client, auditor)
    page = client.get("/auth/account/two-factor").get_data(as_text=True)
    assert "http://" not in page.replace("http://www.w3.org", "")
    assert "https://" not in page


# The identity re-check --------------------------------------------------------------------------

def test_reauthenticate_asks_for_the_password_and_a_fresh_code(app, db, reviewer, frozen):
    with app.test_request_context():
        assert security.reauthenticate(reviewer, PASSWORD, code_at(reviewer)) is None
        assert security.reauthenticate(reviewer, PASSWORD, code_at(reviewer)) is not None  # replay
        assert security.reauthenticate(reviewer, "wrong password", code_at(reviewer, 30))
        assert security.reauthenticate(reviewer, PASSWORD, "") is not None
        assert security.reauthenticate(reviewer, PASSWORD, code_at(reviewer, 30)) is None
        assert reviewer.failed_logins == 3


def test_reauthenticate_without_a_second_factor_checks_the_password(app, db, auditor, frozen):
    with app.test_request_context():
        assert security.reauthenticate(auditor, PASSWORD, "") is None
        assert security.reauthenticate(auditor, "wrong password", "") is not None


def test_codes_follow_the_portals_clock(db, reviewer, frozen):
    frozen.value = datetime(2030, 1, 1, tzinfo=UTC)
    assert twofactor.check(reviewer, pyotp.TOTP(reviewer.totp_secret).at(frozen.value))


def test_the_demo_office_signs_in_with_the_published_key(client, db, frozen):
    from app import demo
    from tests.helpers.demo import TODAY

    demo.load(today=TODAY)
    db.session.commit()
    post_form(client, "/auth/login", {"identifier": "XQ003", "password": demo.DEMO_PASSWORD})
    response = code_step(client, pyotp.TOTP(demo.DEMO_TOTP_SECRET).at(clock.now()))
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/review/").status_code == 200
