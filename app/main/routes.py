from datetime import datetime

from flask import jsonify, redirect, render_template, session, url_for
from flask_login import current_user

from app import access, auditlog, clock, filing, health, outbox, overview
from app.access import FILE, can_file, require
from app.extensions import csrf, db
from app.main import bp
from app.main.forms import LanguageForm
from app.models import User
from app.periods import period_of
from app.security import is_safe_next


@bp.route("/")
def index():
    user, now = current_user._get_current_object(), clock.now()
    context = _role_panels(user, now)
    if can_file(user):
        rule = filing.deadline_rule(user.agency)
        history = filing.months(user, now, rule)
        current = period_of(now, rule.tz)
        due = rule.period_due(now)
        context |= {
            "now": now,
            "due": next((m for m in history if m.period == due), None),
            "current": next((m for m in history if m.period == current), None),
            "overdue": [m for m in history if m.status == filing.MISSING and m.period != due],
            "stale": [m for m in history if m.report_is_stale],
            "returned": [i for m in history for i in m.incidents
                         if i.review is not None and i.review.status == "returned"],
        }
    if access.allows(user, access.ADMINISTER):
        context["backlog"] = outbox.backlog(access.outbox_scope(user))
        context["failures"] = outbox.FAILURES
    return render_template("main/index.html", **context)


def _role_panels(user: User, now: datetime) -> dict:
    """The glance each role of `user` gets on the home page (one person may hold several)."""
    return {name: glance(user, now) for policy, name, glance in PANELS
            if access.allows(user, policy)}


PANELS = ((access.LEAD, "lead", overview.leader_glance),
          (access.REVIEW, "office", overview.office_glance),
          (access.ADMINISTER, "setup", overview.setup_gaps))


@bp.route("/history")
@require(FILE)
def history():
    months = filing.months(current_user._get_current_object(), clock.now())
    return render_template("main/history.html", months=months)


@bp.route("/rules")
def rules():
    return render_template("main/rules.html", agency=current_user.agency)


@bp.route("/language", methods=["POST"])
def set_language():
    form = LanguageForm()
    if form.validate_on_submit():
        session["lang"] = form.lang.data
        if current_user.is_authenticated:
            current_user.locale = form.lang.data
            auditlog.record("user.language", current_user._get_current_object(),
                            locale=form.lang.data)
            db.session.commit()
    target = form.next.data
    return redirect(target if is_safe_next(target) else url_for("main.index"))


@bp.route("/healthz")
@csrf.exempt
def healthz():
    """For a load balancer or monitor, without sign-in: ok / not ok per check, no detail (the
    detail is for the operator: `flask doctor`)."""
    checks = health.run()
    ok = all(c.ok for c in checks)
    body = {"status": "ok" if ok else "fail", "checks": {c.name: "ok" if c.ok else "fail"
                                                         for c in checks}}
    return jsonify(body), 200 if ok else 503
