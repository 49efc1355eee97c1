"""The auditor's filing pages: the month, its report, incidents and their evidence."""

import io
import logging
from collections.abc import Callable
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import abort, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from app.core import access, auditlog, clock
from app.core.access import FILE, require
from app.core.extensions import db
from app.core.refusals import attempt
from app.filing import evidence, records
from app.filing.blueprint import bp
from app.filing.forms import CorrectIncidentForm, CorrectReportForm, FileReportForm, IncidentForm
from app.filing.periods import Period
from app.models import AuditProject, Incident, User
from app.review import office

log = logging.getLogger(__name__)


def _me() -> User:
    return current_user._get_current_object()


def _period_or_404(text: str) -> Period:
    try:
        period = Period.parse(text)
    except ValueError:
        abort(404)
    if not records.in_scope(_me(), period):
        abort(404)
    return period


def _project_choices(user: User) -> list[SelectChoice]:
    projects = db.session.scalars(
        sa.select(AuditProject)
        .where(AuditProject.agency_id == user.agency_id, AuditProject.archived.is_(False))
        .order_by(AuditProject.year.desc(), AuditProject.code)
    )
    return [SelectChoice(p.id, f"{p.code} {p.name}") for p in projects]


@bp.route("/reports/<period>", methods=["GET", "POST"])
@require(FILE)
def report(period: str):
    user, when = _me(), _period_or_404(period)
    form = FileReportForm()

    def page(status: int):
        month = records.month(user, when, clock.now())
        return render_template("filing/report.html", month=month, form=form), status

    if not form.validate_on_submit():
        return page(400 if form.is_submitted() else 200)
    return attempt(lambda: records.file_report(user, when, zero=form.zero.data == "1",
                                               now=clock.now()),
                   done=_("The report for %(period)s has been filed. Thank you.", period=period),
                   then=url_for("filing.report", period=period), again=page)


@bp.route("/reports/<period>/correct", methods=["GET", "POST"])
@require(FILE)
def correct_report(period: str):
    user, when = _me(), _period_or_404(period)
    month = records.month(user, when, clock.now())
    if month.report is None:
        abort(404)
    form = CorrectReportForm()

    def page(status: int):
        return render_template("filing/correct_report.html", month=month, form=form), status

    if not form.validate_on_submit():
        return page(400 if form.is_submitted() else 200)
    return attempt(lambda: records.correct_report(month.report, reason=form.reason.data,
                                                  now=clock.now()),
                   done=_("The corrected report for %(period)s has been filed.", period=period),
                   then=url_for("filing.report", period=period), again=page)


def _incident_form(form_class: type[IncidentForm], **kwargs: object) -> IncidentForm:
    user = _me()
    return form_class(ZoneInfo(user.agency.timezone), _project_choices(user), **kwargs)


def _incident_form_page(form: IncidentForm, incident: Incident | None,
                        save: Callable[[], Incident], done: Callable[[Incident], str]):
    """Shared by registration and correction: save on a valid POST, else show the form
    (400 with the reasons when it was sent and refused: nothing has been saved)."""
    def page(status: int):
        return render_template("filing/incident_form.html", form=form,
                               incident=incident), status

    if not form.validate_on_submit():
        return page(400 if form.is_submitted() else 200)
    return attempt(save, done=done, again=page, show_on=form,
                   then=lambda saved: url_for("filing.incident", incident_id=saved.id))


@bp.route("/incidents/new", methods=["GET", "POST"])
@require(FILE)
def new_incident():
    form = _incident_form(IncidentForm)
    return _incident_form_page(
        form, None,
        lambda: records.register_incident(_me(), form.incident_data(), form.uploads, clock.now()),
        lambda saved: _("The incident has been registered. Only you and the discipline office "
                        "can see it. Remember to file the report for %(period)s.",
                        period=saved.period),
    )


@bp.route("/incidents/<int:incident_id>")
def incident(incident_id: int):
    user = _me()
    item = access.incident_or_404(user, incident_id)
    if item.user_id != user.id:
        auditlog.record("incident.read", item)
        db.session.commit()
        return render_template("filing/incident.html", incident=item)
    return render_template("filing/incident.html", incident=item,
                           correctable=records.incident_correctable(item),
                           reads=auditlog.reads_of(item),
                           office_changes=office.history(item.agency_id))


@bp.route("/incidents/<int:incident_id>/correct", methods=["GET", "POST"])
@require(FILE)
def correct_incident(incident_id: int):
    item = access.own_incident_or_404(_me(), incident_id)
    current = item.current
    form = _incident_form(CorrectIncidentForm, obj=current)
    if not form.is_submitted():
        form.occurred_at.data = current.occurred_at.astimezone(form.tz).replace(tzinfo=None)
        form.project.data = current.project_id or 0

    def save() -> Incident:
        records.correct_incident(item, form.incident_data(), reason=form.reason.data,
                                uploads=form.uploads, now=clock.now())
        return item

    return _incident_form_page(form, item, save,
                               lambda saved: _("The corrected version has been saved."))


@bp.route("/evidence/<int:evidence_id>")
def download_evidence(evidence_id: int):
    user = _me()
    item = access.evidence_or_404(user, evidence_id)
    if item.incident.user_id != user.id:
        auditlog.record("evidence.read", item, incident_id=item.incident_id)
        db.session.commit()
    data = evidence.data_of(item)
    if data is None:
        log.error("evidence %s has no content (see `flask audit verify`)", item.id)
        abort(404)
    inline = request.args.get("inline") == "1" and item.content_type in evidence.INLINE_TYPES
    return send_file(io.BytesIO(data), mimetype=item.content_type, as_attachment=not inline,
                     download_name=item.filename, max_age=0)


@bp.route("/history")
@require(FILE)
def history():
    months = records.months(current_user._get_current_object(), clock.now())
    return render_template("filing/history.html", months=months)
