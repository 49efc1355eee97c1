from flask import redirect, render_template, session, url_for
from flask_login import current_user

from app import auditlog, clock, filing, outbox
from app.access import can_file, role_required
from app.extensions import db
from app.main import bp
from app.main.forms import LanguageForm
from app.periods import period_of
from app.security import is_safe_next


@bp.route("/")
def index():
    user = current_user._get_current_object()
    context = {}
    if can_file(user):
        now = clock.now()
        rule = filing.deadline_rule(user.agency)
        history = filing.months(user, now, rule)
        current = period_of(now, rule.tz)
        due = rule.period_due(now)
        context = {
            "now": now,
            "due": next((m for m in history if m.period == due), None),
            "current": next((m for m in history if m.period == current), None),
            "overdue": [m for m in history if m.status == filing.MISSING and m.period != due],
            "stale": [m for m in history if m.report_is_stale],
            "returned": [i for m in history for i in m.incidents
                         if i.review is not None and i.review.status == "returned"],
        }
    if user.has_role("admin"):
        context["backlog"] = outbox.backlog()
        context["failures"] = outbox.FAILURES
    return render_template("main/index.html", **context)


@bp.route("/history")
@role_required("auditor")
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
