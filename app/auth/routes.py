from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app import auditlog
from app.auth import bp
from app.auth.forms import ChangePasswordForm, LoginForm
from app.extensions import db
from app.security import (
    LoginRefused,
    authenticate,
    end_all_sessions,
    hash_password,
    is_safe_next,
    sign_out,
    start_session,
    verify_password,
)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    if session.pop("expired", False):
        flash(_("Your session has expired. Please sign in again."), "warning")
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = authenticate(form.identifier.data, form.password.data)
        except LoginRefused as refused:
            auditlog.record("auth.login_failed", identifier=form.identifier.data[:64])
            db.session.commit()
            flash(refused.message, "danger")
            status = 401
        else:
            start_session(user)
            auditlog.record("auth.login", user)
            db.session.commit()
            target = request.args.get("next")
            return redirect(target if is_safe_next(target) else url_for("main.index"))
    elif form.is_submitted():
        status = 400
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
def logout():
    auditlog.record("auth.logout", current_user._get_current_object())
    sign_out()
    db.session.commit()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
def change_password():
    form = ChangePasswordForm()
    status = 200
    if form.validate_on_submit():
        user = current_user._get_current_object()
        if verify_password(user, form.current.data):
            user.password_hash = hash_password(form.new.data)
            end_all_sessions(user)
            auditlog.record("auth.password_changed", user)
            db.session.commit()
            start_session(user)  # this session goes on; every other one has ended
            flash(_("Your password has been changed. Other sessions have been signed out."),
                  "success")
            return redirect(url_for("main.index"))
        form.current.errors.append(_("The current password is not correct."))
        status = 400
    elif form.is_submitted():
        status = 400
    return render_template("auth/password.html", form=form), status
