"""Sign-in (password, then the second factor), sign-in links, passwords, two-factor enrolment.

Between the password and the code the browser holds only a short-lived note in its session
(HALF_SIGNED_IN): the user is not signed in, so every page but the code step sends it to /login.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from app.auth import directory, tokens, twofactor
from app.auth.blueprint import bp
from app.auth.forms import ChangePasswordForm, CodeForm, EnrolForm, LoginForm, NewPasswordForm
from app.auth.security import (
    LoginRefused,
    authenticate,
    check_second_factor,
    clear_session,
    complete_sign_in,
    end_all_sessions,
    hash_password,
    is_safe_next,
    sign_out,
    start_session,
    verify_password,
)
from app.core import auditlog, clock
from app.core.codes import LinkPurpose
from app.core.extensions import db
from app.keys import custody
from app.models import User

HALF_SIGNED_IN = "half_signed_in"
SECOND_STEP_SECONDS = 300  # time to type the code after the password
ENROLMENT_KEY = "totp_enrolment"


def _now() -> int:
    return int(clock.now().timestamp())


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    if session.pop("expired", False):
        flash(_("Your session has expired. Please sign in again."), "warning")
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = authenticate(form.identifier.data, form.password.data)
        except LoginRefused as refused:
            detail = {"directory": "unavailable"} if refused.status == 503 else {}
            auditlog.record("auth.login_failed", refused.user,
                            identifier=form.identifier.data[:64], **detail)
            db.session.commit()
            flash(refused.message, "danger")
            status = refused.status
        else:
            keys = custody.sign_in(user, form.password.data)
            response = _after_password(user, request.args.get("next"), keys)
            db.session.commit()
            return response
    elif form.is_submitted():
        status = 400
    return render_template("auth/login.html", form=form), status


def _after_password(user: User, target: str | None, keys: str) -> Response:
    """The first factor passed (a password or a sign-in link): on to the code, or signed in.
    `keys` is the cookie's half of the keys the password unlocked; until the code, the
    session carries it but no sign-in, so nothing opens with it."""
    target = target if is_safe_next(target) else None
    if twofactor.enabled(user):
        clear_session()
        session[HALF_SIGNED_IN] = {"user": user.id, "version": user.session_version,
                                   "until": _now() + SECOND_STEP_SECONDS, "next": target,
                                   "keys": keys}
        return redirect(url_for("auth.second_step"))
    complete_sign_in(user, keys)
    auditlog.record("auth.login", user)
    if twofactor.needs_enrolment(user):
        return redirect(url_for("auth.two_factor"))
    return redirect(target or url_for("home.index"))


def _half_signed_in() -> User | None:
    """The account whose password was just given, while its code is awaited."""
    state = session.get(HALF_SIGNED_IN)
    if not state or state["until"] < _now():
        return None
    user = db.session.get(User, state["user"])
    if (user is None or not user.active or user.session_version != state["version"]
            or not twofactor.enabled(user)):
        return None
    return user


@bp.route("/login/code", methods=["GET", "POST"])
def second_step():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    user = _half_signed_in()
    if user is None:
        session.pop(HALF_SIGNED_IN, None)
        return redirect(url_for("auth.login"))
    form = CodeForm()
    status = 200
    if form.validate_on_submit():
        try:
            method = check_second_factor(user, form.code.data)
        except LoginRefused as refused:
            auditlog.record("auth.code_failed", user)
            db.session.commit()
            flash(refused.message, "danger")
            status = 401
        else:
            target = session[HALF_SIGNED_IN]["next"]
            complete_sign_in(user, session[HALF_SIGNED_IN].get("keys"))
            auditlog.record("auth.login", user, method=method)
            db.session.commit()
            if method == "recovery":
                flash(_("You signed in with a recovery code; %(num)d remain. Make new ones "
                        "if you are running out.",
                        num=twofactor.remaining_recovery_codes(user)), "warning")
            return redirect(target or url_for("home.index"))
    elif form.is_submitted():
        status = 400
    return render_template("auth/code.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout():
    auditlog.record("auth.logout", current_user._get_current_object())
    sign_out()
    db.session.commit()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
def change_password():
    user = current_user._get_current_object()
    if directory.uses_directory(user):
        # Nothing to change here: the password is the directory's.
        return (render_template("auth/password_directory.html"),
                409 if request.method == "POST" else 200)
    form = ChangePasswordForm(account=user)
    status = 200
    if form.validate_on_submit():
        if verify_password(user, form.current.data):
            user.password_hash = hash_password(form.new.data)
            ring, private = custody.change_password(user, form.current.data, form.new.data)
            end_all_sessions(user)
            keys = custody.open_session(user, ring, private)
            auditlog.record("auth.password_changed", user)
            db.session.commit()
            start_session(user, keys)  # this session goes on; every other one has ended
            flash(_("Your password has been changed. Other sessions have been signed out."),
                  "success")
            return redirect(url_for("home.index"))
        form.current.errors.append(_("The current password is not correct."))
        status = 400
    elif form.is_submitted():
        status = 400
    return render_template("auth/password.html", form=form), status


# Two-factor enrolment and management -------------------------------------------------------

@bp.route("/account/two-factor", methods=["GET", "POST"])
def two_factor():
    user = current_user._get_current_object()
    if twofactor.enabled(user):
        return _two_factor_page(user)
    secret = session.setdefault(ENROLMENT_KEY, twofactor.new_secret())
    form = EnrolForm()
    status = 200
    if form.validate_on_submit():
        codes = twofactor.enable(user, secret, form.code.data)
        if codes is not None:
            session.pop(ENROLMENT_KEY)
            end_all_sessions(user)  # sessions opened with the password alone end
            keys = custody.carry(user)
            auditlog.record("auth.two_factor_enabled", user)
            db.session.commit()
            start_session(user, keys)
            return render_template("auth/recovery_codes.html", codes=codes)
        form.code.errors.append(_("The code is not correct. Check that the phone's clock is "
                                  "right and enter the code the app shows now."))
        status = 400
    elif form.is_submitted():
        status = 400
    uri = twofactor.provisioning_uri(user, secret)
    return render_template("auth/enrol.html", form=form, qr=twofactor.qr_data_uri(uri),
                           secret=twofactor.grouped(secret),
                           required=twofactor.required(user)), status


def _two_factor_page(user: User, status: int = 200, **forms: CodeForm):
    forms.setdefault("regenerate", CodeForm(formdata=None))
    forms.setdefault("disable", CodeForm(formdata=None))
    return render_template("auth/two_factor.html", required=twofactor.required(user),
                           remaining=twofactor.remaining_recovery_codes(user), **forms), status


def _confirmed(user: User, form: CodeForm) -> bool:
    """Whether the form carries a valid second-factor code (failures count, and commit)."""
    if not form.validate_on_submit():
        return False
    try:
        check_second_factor(user, form.code.data)
    except LoginRefused as refused:
        auditlog.record("auth.code_failed", user)
        db.session.commit()
        form.code.errors.append(refused.message)
        return False
    return True


@bp.route("/account/two-factor/recovery-codes", methods=["POST"])
def new_recovery_codes():
    user = current_user._get_current_object()
    if not twofactor.enabled(user):
        return redirect(url_for("auth.two_factor"))
    form = CodeForm()
    if not _confirmed(user, form):
        return _two_factor_page(user, 400, regenerate=form)
    codes = twofactor.new_recovery_codes(user)
    auditlog.record("auth.recovery_codes_renewed", user)
    db.session.commit()
    return render_template("auth/recovery_codes.html", codes=codes)


@bp.route("/account/two-factor/disable", methods=["POST"])
def disable_two_factor():
    """Turn the second factor off; for a role that requires one this means moving it to a new
    phone, since every page sends that account back to enrolment until it has one again."""
    user = current_user._get_current_object()
    if not twofactor.enabled(user):
        return redirect(url_for("auth.two_factor"))
    form = CodeForm()
    if not _confirmed(user, form):
        return _two_factor_page(user, 400, disable=form)
    twofactor.disable(user)
    auditlog.record("auth.two_factor_disabled", user)
    db.session.commit()
    if twofactor.required(user):
        flash(_("Now set up two-factor sign-in on your new phone."), "info")
    else:
        flash(_("Two-factor sign-in is off. You sign in with your password alone."), "info")
    return redirect(url_for("auth.two_factor"))


# Sign-in links and the administrator's reset -----------------------------------------------

@bp.route("/welcome/<token>", methods=["GET", "POST"])
def welcome(token: str):
    link = tokens.find(token)
    if link is None:
        return render_template("auth/link_invalid.html"), 404
    account = link.user
    if directory.uses_directory(account):
        # A link issued before LDAP was switched on: it sets no password now.
        return render_template("auth/password_directory.html", link=True), 409
    form = NewPasswordForm(account=account)
    status = 200
    if form.validate_on_submit():
        if not tokens.redeem(link, form.new.data):
            db.session.rollback()
            return render_template("auth/link_invalid.html"), 404
        response = _after_password(account, None, custody.sign_in(account, form.new.data))
        db.session.commit()
        flash(_("Your password is set."), "success")
        return response
    if form.is_submitted():
        status = 400
    return render_template("auth/welcome.html", form=form, account=account,
                           reset=link.purpose == LinkPurpose.RESET), status
