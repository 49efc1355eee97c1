"""First sign-in links, the administrator's password reset, and the common-password rule."""

import hashlib
import json

import pytest
import sqlalchemy as sa

from app.auth import tokens
from app.auth.cli import signin_link_command, two_factor_reset_command
from app.core.codes import LinkPurpose, NoticeKind, NoticeStatus
from app.models import AuditLog, Outbox, SignInLink, User
from app.notices import delivery
from tests.helpers import factories
from tests.helpers import smtp as smtp_helpers
from tests.helpers.factories import PASSWORD
from tests.helpers.web import csrf_token, login, post_form

NEW = "plum river lantern 84"


@pytest.fixture
def newcomer(make_user):
    """An account just created by an administrator: no password yet."""
    return make_user(name="新同事", password_hash=None)


def path_of(url: str) -> str:
    return url[url.index("/auth/welcome/"):]


def english(client) -> None:
    with client.session_transaction() as session:
        session["lang"] = "en"


def signed_in(client) -> bool:
    return client.get("/").status_code == 200


def issue(db, user, purpose=LinkPurpose.FIRST) -> str:
    url = tokens.issue(user, purpose).url
    db.session.commit()
    return path_of(url)


def set_password(client, path, password=NEW):
    return post_form(client, path, {"new": password, "confirm": password})


def test_a_first_sign_in_link_sets_the_password_once(client, db, newcomer, frozen):
    path = issue(db, newcomer)
    page = client.get(path)
    assert page.status_code == 200 and "新同事" in page.get_data(as_text=True)
    response = set_password(client, path)
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert signed_in(client)
    assert client.get(path).status_code == 404  # used
    fresh = client.application.test_client()
    assert set_password(fresh, path, "another good passphrase 9").status_code in (400, 404)
    login(fresh, newcomer, NEW)
    assert db.session.scalar(sa.select(AuditLog).where(
        AuditLog.action == "auth.signin_link_used"))


def test_only_the_tokens_digest_is_stored(db, newcomer, frozen):
    path = issue(db, newcomer)
    token = path.rsplit("/", 1)[1]
    link = db.session.scalar(sa.select(SignInLink))
    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in json.dumps([str(v) for v in link.__dict__.values()])


def test_a_link_expires(client, db, newcomer, frozen):
    path = issue(db, newcomer)
    frozen.advance(hours=71, minutes=59)
    assert client.get(path).status_code == 200
    frozen.advance(minutes=2)
    response = client.get(path)
    assert response.status_code == 404
    assert 'data-testid="link-invalid"' in response.get_data(as_text=True)


def test_a_new_link_replaces_the_older(client, db, newcomer, frozen):
    first = issue(db, newcomer)
    second = issue(db, newcomer)
    assert client.get(first).status_code == 404
    assert client.get(second).status_code == 200


def test_a_deactivated_accounts_link_does_not_work(client, db, newcomer, frozen):
    path = issue(db, newcomer)
    newcomer.active = False
    db.session.commit()
    assert client.get(path).status_code == 404


@pytest.mark.parametrize(("password", "message"), [
    ("password1234", "too common"),
    ("qwertyuiopasdf", "too common"),
    ("short", "12 to 128"),
])
def test_weak_or_short_passwords_are_refused_and_the_link_still_works(client, db, newcomer,
                                                                       frozen, password,
                                                                       message):
    path = issue(db, newcomer)
    english(client)
    response = set_password(client, path, password)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    db.session.refresh(newcomer)
    assert newcomer.password_hash is None
    assert client.get(path).status_code == 200


def test_a_common_password_is_refused_when_changing_it(client, db, auditor, frozen):
    english(client)
    login(client, auditor)
    response = post_form(client, "/auth/account/password", {
        "current": PASSWORD, "new": "iloveyou123456", "confirm": "iloveyou123456"})
    assert response.status_code == 400
    assert "too common" in response.get_data(as_text=True)


def test_the_own_name_and_staff_number_make_a_weak_password(client, db, make_user, frozen):
    user = make_user(staff_no="XQ20250101")
    english(client)
    login(client, user)
    weak = "XQ20250101!!!!"  # the staff number, then a row of one symbol
    response = post_form(client, "/auth/account/password",
                         {"current": PASSWORD, "new": weak, "confirm": weak})
    assert response.status_code == 400


def test_a_link_keeps_the_second_factor(client, db, make_user, frozen):
    """A link replaces the password only: an enrolled account still needs its code."""
    reviewer = make_user(roles={"reviewer"})
    path = issue(db, reviewer, LinkPurpose.RESET)
    response = set_password(client, path)
    assert response.headers["Location"] == "/auth/login/code"
    assert not signed_in(client)


def test_a_new_privileged_account_enrols_right_after_its_link(client, db, make_user, frozen):
    leader = make_user(roles={"leader"}, password_hash=None, totp_secret=None)
    response = set_password(client, issue(db, leader))
    assert response.headers["Location"] == "/auth/account/two-factor"


def test_the_link_is_e_mailed_with_nothing_else(client, db, smtp, newcomer, frozen):
    url = tokens.issue_first_signin(newcomer)
    db.session.commit()
    assert delivery.deliver().sent == 1
    [message] = smtp.to(newcomer.email)
    text = smtp_helpers.body(message)
    assert url.startswith("https://portal.example/auth/welcome/") and url in text
    assert newcomer.staff_no in text
    # Sent: the outbox row keeps no token, and the bell never shows it.
    db.session.expire_all()
    row = db.session.scalar(sa.select(Outbox))
    assert row.kind == NoticeKind.SIGNIN and json.loads(row.params) == {}
    assert client.get(path_of(url)).status_code == 200  # the link itself still works


def test_an_unsent_link_e_mail_is_dropped_when_the_link_is_used(client, db, newcomer, frozen):
    path = issue(db, newcomer)
    set_password(client, path)
    db.session.expire_all()
    row = db.session.scalar(sa.select(Outbox))
    assert row.status == NoticeStatus.FAILED and json.loads(row.params) == {}


def test_no_e_mail_without_an_address(db, make_user, frozen):
    user = make_user(email=None, password_hash=None)
    issued = tokens.issue(user, LinkPurpose.FIRST)
    db.session.commit()
    assert not issued.emailed
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Outbox)) == 0


def test_link_notices_stay_out_of_the_bell(client, db, auditor, frozen):
    tokens.issue(auditor, LinkPurpose.RESET)
    db.session.commit()
    login(client, auditor)
    assert db.session.scalar(sa.select(Outbox).where(Outbox.user_id == auditor.id))
    page = client.get("/notices/").get_data(as_text=True)
    assert "/auth/welcome/" not in page


# The administrator's reset ------------------------------------------------------------------

def test_an_admin_reset_ends_sessions_and_the_old_password(app, db, make_user, auditor, frozen):
    admin = make_user(roles={"admin"})
    theirs, mine = app.test_client(), app.test_client()
    login(theirs, auditor)
    login(mine, admin)
    response = post_form(mine, f"/admin/users/{auditor.id}/reset-password", {},
                         form_url="/auth/account/password")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert not signed_in(theirs)
    fresh = app.test_client()
    refused = post_form(
        fresh, "/auth/login", {"identifier": auditor.staff_no, "password": PASSWORD}
    )
    assert refused.status_code == 401
    # No mail server here: the administrator sees the link to hand over.
    link = page.split('data-testid="signin-link">', 1)[1].split("<", 1)[0]
    assert set_password(fresh, path_of(link)).status_code == 302
    assert signed_in(fresh)
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "user.password_reset"))
    assert entry.actor_id == admin.id and entry.object_id == auditor.id


def test_for_an_account_without_a_password_the_admin_issues_the_first_link(
        client, db, make_user, newcomer, frozen):
    admin = make_user(roles={"admin"})
    login(client, admin)
    response = post_form(client, f"/admin/users/{newcomer.id}/reset-password", {},
                         form_url="/auth/account/password")
    assert response.status_code == 200
    link = db.session.scalar(sa.select(SignInLink))
    assert link.purpose == LinkPurpose.FIRST and link.created_by_id == admin.id
    row = db.session.scalar(sa.select(Outbox))
    assert json.loads(row.params)["purpose"] == LinkPurpose.FIRST


def test_with_a_mail_server_the_admin_does_not_see_the_link(client, db, smtp, make_user,
                                                            auditor, frozen):
    admin = make_user(roles={"admin"})
    login(client, admin)
    response = post_form(client, f"/admin/users/{auditor.id}/reset-password", {},
                         form_url="/auth/account/password")
    page = response.get_data(as_text=True)
    assert 'data-testid="reset-mailed"' in page and "/auth/welcome/" not in page


def test_an_admin_cannot_reset_another_agencys_account(client, db, make_user, frozen):
    admin = make_user(roles={"admin"})
    stranger = factories.UserFactory()
    login(client, admin)
    response = post_form(client, f"/admin/users/{stranger.id}/reset-password", {},
                         form_url="/auth/account/password")
    assert response.status_code == 404
    db.session.refresh(stranger)
    assert stranger.password_hash is not None and stranger.session_version == 1


def test_a_reset_without_csrf_token_changes_nothing(client, db, make_user, auditor, frozen):
    admin = make_user(roles={"admin"})
    login(client, admin)
    assert client.post(f"/admin/users/{auditor.id}/reset-password").status_code == 400
    db.session.refresh(auditor)
    assert auditor.password_hash is not None


# The operator's commands --------------------------------------------------------------------

def test_the_signin_link_command_prints_a_working_link(client, db, runner, newcomer, frozen):
    result = runner.invoke(signin_link_command, [newcomer.staff_no])
    assert result.exit_code == 0, result.output
    url = result.output.strip().splitlines()[-1]
    assert client.get(path_of(url)).status_code == 200


def test_the_two_factor_reset_command(client, db, runner, make_user, frozen):
    reviewer = make_user(roles={"reviewer"})
    login(client, reviewer)
    result = runner.invoke(two_factor_reset_command, [reviewer.staff_no])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(User, reviewer.id).totp_secret is None
    assert client.get("/").status_code == 302  # its sessions ended
    response = post_form(client, "/auth/login", {"identifier": reviewer.staff_no,
                                            "password": PASSWORD})
    assert response.headers["Location"] == "/auth/account/two-factor"
    assert csrf_token(client, "/auth/account/two-factor")
