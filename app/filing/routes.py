"""The auditor's filing pages: the month, its report, incidents and their evidence."""

import io
import logging
from collections.abc import Callable
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import abort, render_template, request, send_file, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from app.core import access, auditlog, clock
from app.core.access import FILE, require
from app.core.codes import FilingStatus
from app.core.extensions import db
from app.core.i18n import month_label
from app.core.refusals import attempt
from app.filing import evidence, records
from app.filing.blueprint import bp
from app.filing.forms import CorrectIncidentForm, CorrectReportForm, FileReportForm, IncidentForm
from app.filing.periods import Period
from app.models import AuditProject, HeldEvidence, Incident, User
from app.review import office, upward

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
    """The agency's open projects, those of the auditor's own department first."""
    own = sa.case((AuditProject.department_id == user.department_id, 0), else_=1)
    projects = db.session.scalars(
        sa.select(AuditProject)
        .where(AuditProject.agency_id == user.agency_id, AuditProject.archived.is_(False))
        .order_by(own, AuditProject.year.desc(), AuditProject.code)
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
                   done=_("The report for %(period)s has been filed. Thank you.",
                          period=month_label(period)),
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
                   done=_("The corrected report for %(period)s has been filed.",
                          period=month_label(period)),
                   then=url_for("filing.report", period=period), again=page)


def _incident_form(form_class: type[IncidentForm], **kwargs: object) -> IncidentForm:
    user = _me()
    return form_class(ZoneInfo(user.agency.timezone), _project_choices(user), **kwargs)


HELD_KEY = "held_evidence"  # the tokens of the files this session holds


def _held_files(user: User) -> list[HeldEvidence]:
    """The files held from this session's earlier submission that the form still carries
    (those ticked "remove" are let go)."""
    tokens = set(session.get(HELD_KEY, [])) & set(request.form.getlist("held"))
    removed = set(request.form.getlist("remove"))
    rows = evidence.held(user, sorted(tokens - removed), clock.now())
    evidence.release(evidence.held(user, sorted(tokens & removed), clock.now()))
    return rows


def _incident_form_page(form: IncidentForm, incident: Incident | None,
                        save: Callable[[list[evidence.Upload]], Incident],
                        done: Callable[[Incident], str]):
    """Shared by registration and correction: save on a valid POST, else show the form
    (400 with the reasons when it was sent and refused: nothing has been saved). A file chosen
    before the form came back is held on the server and shown as attached, not dropped."""
    user = _me()
    kept = _held_files(user) if form.is_submitted() else []
    form.held_count = len(kept)

    def page(status: int):
        files = kept
        if form.is_submitted():
            files = [*evidence.held(user, [row.token for row in kept], clock.now()),
                     *evidence.hold(user, form.uploads, clock.now())]
            session[HELD_KEY] = [row.token for row in files]
            db.session.commit()
        shown = [(row.token, upload) for row in files
                 if (upload := evidence.as_upload(row)) is not None]
        return render_template("filing/incident_form.html", form=form, incident=incident,
                               held=shown, above=upward.level_above(user.agency)), status

    def step() -> Incident:
        opened = (evidence.as_upload(row) for row in kept)
        saved = save([*form.uploads, *(upload for upload in opened if upload is not None)])
        evidence.release(kept)
        session.pop(HELD_KEY, None)
        return saved

    if not form.validate_on_submit():
        return page(400 if form.is_submitted() else 200)
    return attempt(step, done=done, again=page, show_on=form,
                   then=lambda saved: url_for("filing.incident", incident_id=saved.id))


@bp.route("/incidents/new", methods=["GET", "POST"])
@require(FILE)
def new_incident():
    form = _incident_form(IncidentForm)
    return _incident_form_page(
        form, None,
        lambda uploads: records.register_incident(
            _me(), form.incident_data(), uploads, clock.now(),
            to_level_above=bool(form.to_level_above.data)),
        lambda saved: (_("The incident has been registered for the discipline office of "
                         "%(agency)s: only you and that office can see it. Remember to file the "
                         "report for %(period)s.", agency=saved.routes[-1].to_agency.name,
                         period=month_label(saved.period)) if saved.routes else
                       _("The incident has been registered. Only you and the discipline office "
                         "can see it. Remember to file the report for %(period)s.",
                         period=month_label(saved.period))),
    )


@bp.route("/incidents/<int:incident_id>")
def incident(incident_id: int):
    user = _me()
    item = access.incident_or_404(user, incident_id)
    if item.user_id != user.id:
        auditlog.record("incident.read", item)
        db.session.commit()
        return render_template("filing/incident.html", incident=item)
    month = records.month(user, Period.parse(item.period), clock.now())
    return render_template("filing/incident.html", incident=item,
                           correctable=records.incident_correctable(item),
                           reads=auditlog.reads_of(item),
                           office_changes=office.history(item.agency_id),
                           office_change_words=office.HISTORY,
                           to_file=month if _needs_filing(month) else None)


def _needs_filing(month: records.Month) -> bool:
    """The month's report is still to be filed, or no longer lists what was registered."""
    due = month.status in (FilingStatus.DUE, FilingStatus.MISSING) and month.report is None
    return due or (month.report_is_stale and month.report_correctable)


@bp.route("/incidents/<int:incident_id>/correct", methods=["GET", "POST"])
@require(FILE)
def correct_incident(incident_id: int):
    item = access.own_incident_or_404(_me(), incident_id)
    current = item.current
    form = _incident_form(CorrectIncidentForm, obj=current)
    if not form.is_submitted():
        form.occurred_at.data = current.occurred_at.astimezone(form.tz).replace(tzinfo=None)
        form.project.data = current.project_id or 0

    def save(uploads: list[evidence.Upload]) -> Incident:
        records.correct_incident(item, form.incident_data(), reason=form.reason.data,
                                uploads=uploads, now=clock.now())
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
