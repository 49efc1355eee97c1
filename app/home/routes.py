from datetime import datetime

from flask import jsonify, redirect, render_template, request, session, url_for
from flask_login import current_user

from app.auth.security import is_safe_next
from app.core import access, auditlog, clock, health
from app.core.access import can_file
from app.core.codes import FilingStatus, ReviewStatus
from app.core.extensions import csrf, db
from app.core.forms import LanguageForm
from app.filing import records
from app.filing.periods import period_of
from app.home import panels
from app.home.blueprint import bp
from app.models import User
from app.notices import outbox


@bp.route("/")
def index():
    user, now = current_user._get_current_object(), clock.now()
    context = _role_panels(user, now)
    if can_file(user):
        rule = records.deadline_rule(user.agency)
        history = records.months(user, now, rule)
        current = period_of(now, rule.tz)
        due = rule.period_due(now)
        context |= {
            "now": now,
            "due": next((m for m in history if m.period == due), None),
            "current": next((m for m in history if m.period == current), None),
            "overdue": [m for m in history if m.status == FilingStatus.MISSING and m.period != due],
            "stale": [m for m in history if m.report_is_stale],
            "returned": [i for m in history for i in m.incidents
                         if i.review is not None and i.review.status == ReviewStatus.RETURNED],
        }
    if access.allows(user, access.ADMINISTER):
        context["backlog"] = outbox.backlog(access.outbox_scope(user))
        context["failures"] = outbox.FAILURES
    return render_template("home/index.html", **context)


def _role_panels(user: User, now: datetime) -> dict:
    """The glance each role of `user` gets on the home page (one person may hold several)."""
    return {name: glance(user, now) for policy, name, glance in PANELS
            if access.allows(user, policy)}


PANELS = ((access.LEAD, "lead", panels.leader_glance),
          (access.REVIEW, "office", panels.office_glance),
          (access.ADMINISTER, "setup", panels.setup_gaps),
          (access.INSTALL, "installation", panels.installation_glance))


@bp.route("/rules")
def rules():
    return render_template("home/rules.html", agency=current_user.agency)


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
    return redirect(target if is_safe_next(target) else url_for("home.index"))


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


# Links that went out by e-mail before each area had its own URL prefix keep working: each old
# address answers a permanent redirect (308: the method and the query string are kept).
MOVED = (
    ("/login", "auth.login"),
    ("/welcome/<token>", "auth.welcome"),
    ("/reports/<period>", "filing.report"),
    ("/incidents/<int:incident_id>", "filing.incident"),
    ("/statements/<year:year>", "statement.show"),
    ("/confirmation/<year:year>", "statement.confirmation"),
    ("/office", "review.office_page"),
    ("/notifications", "notices.bell"),
)


def _moved(endpoint: str):
    def view(**values: object):
        return redirect(url_for(endpoint, **values, **request.args), 308)
    return view


for _rule, _endpoint in MOVED:
    bp.add_url_rule(_rule, "moved_" + _endpoint.replace(".", "_"), _moved(_endpoint))
