"""The discipline office's pages: its queue, cases, log and membership, for one agency."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from app.core import access, auditlog, bounds, clock, exports
from app.core.access import AUDIT_LOG, REVIEW, require
from app.core.codes import ReviewStatus, ReviewStep
from app.core.extensions import db
from app.core.forms import PortalForm
from app.core.refusals import Refused, attempt, refused_by, show
from app.core.templating import label, localtime
from app.filing import evidence, records
from app.filing.forms import IncidentForm
from app.filing.periods import period_of
from app.keys import custody, keychain
from app.models import (
    AuditLog,
    AuditProject,
    Department,
    Incident,
    IncidentVersion,
    OfficeInvitation,
    User,
)
from app.review import ageing, logtext, office, patterns, upward, workflow
from app.review.blueprint import bp
from app.review.forms import (
    ANY,
    AnswerInvitationForm,
    LogFilterForm,
    ProposeMemberForm,
    QueueFilterForm,
    ReviewStepForm,
)

PER_PAGE = 50
LOG_PER_PAGE = 100


def _me() -> User:
    return current_user._get_current_object()


def _filter_form() -> QueueFilterForm:
    me = _me()
    form = QueueFilterForm(request.args)
    departments = db.session.scalars(
        sa.select(Department).where(Department.agency_id == me.agency_id).order_by(Department.name))
    projects = db.session.scalars(
        sa.select(AuditProject).where(AuditProject.agency_id == me.agency_id)
        .order_by(AuditProject.year.desc(), AuditProject.code))
    form.department.choices = [SelectChoice(0, ANY.label),
                               *(SelectChoice(d.id, d.name) for d in departments)]
    form.project.choices = [SelectChoice(0, ANY.label),
                            *(SelectChoice(p.id, f"{p.code} {p.name}") for p in projects)]
    return form


def _queue_filter(form: QueueFilterForm) -> workflow.QueueFilter:
    if not form.validate():
        abort(400)
    return workflow.QueueFilter(
        period=form.period.data or "", status=form.status.data or "", kind=form.kind.data or "",
        category=form.category.data or "", channel=form.channel.data or "",
        department_id=form.department.data or 0, project_id=form.project.data or 0,
        actor=form.actor.data or "", q=form.q.data or "", waiting=form.waiting.data or "",
        sort=form.sort.data or workflow.DEFAULT_SORT, descending=form.dir.data != "asc",
    )


@bp.route("/")
@require(REVIEW)
def queue():
    form = _filter_form()
    chosen = _queue_filter(form)
    me, now = _me(), clock.now()
    per_page = form.per.data or PER_PAGE
    ages = ageing.Clock.of(me.agency, now)
    page = workflow.queue(me.agency_id, chosen, page=form.page.data or 1, per_page=per_page,
                          viewer=me, clock=ages)
    year = int(chosen.period[:4]) if chosen.period[:4].isdigit() else period_of(
        now, ZoneInfo(me.agency.timezone)).year
    patterns.fill(me.agency_id, year)  # names without a fingerprint yet, opened here
    alerts_all = request.args.get("alerts") == "all"
    html = render_template(
        "review/queue.html", form=form, page=page, page_no=page.page, per_page=per_page,
        alerts=patterns.alerts(me.agency_id, year, None if alerts_all else patterns.SHOWN),
        crossings=patterns.across(access.crossing_agencies(me), year), due_days=ages.due_days,
        alerts_all=alerts_all, year=year, statuses=workflow.STATUSES,
        args={k: v for k, v in request.args.items() if k != "page"},
        sorted_by=chosen.sort, descending=chosen.descending,
    )
    keychain.current().save_rewraps()  # after rendering: its commit expires what was loaded
    return html


EXPORT_HEADER = [_l("No."), _l("Month"), _l("Occurred"), _l("Status"), _l("Kind"),
                 _l("Category"), _l("Channel"), _l("Registrant"), _l("Department"), _l("Person"),
                 _l("Organisation"), _l("Position"), _l("Relation"), _l("Audit project"),
                 _l("Stage"), _l("What was said or done"), _l("Response")]


def _export_rows(rows: list[workflow.QueueRow]) -> list[list[object]]:
    return [[
        row.incident.id, row.incident.period, localtime(row.version.occurred_at),
        str(workflow.STATUSES[row.review.status]),
        label("kinds", row.review.kind or row.version.kind),
        label("category", row.review.category or row.version.category),
        label("channels", row.version.channel), row.registrant.name,
        row.department.name if row.department else "", row.version.actor_name,
        row.version.actor_org, row.version.actor_position,
        label("relations", row.version.actor_relation),
        f"{row.project.code} {row.project.name}" if row.project else "",
        label("stages", row.version.stage), row.version.description,
        label("responses", row.version.response),
    ] for row in rows]


@bp.route("/export.<any(csv, xlsx):fmt>")
@require(REVIEW)
def export_queue(fmt: str):
    chosen = _queue_filter(_filter_form())
    page = workflow.queue(_me().agency_id, chosen, page=1, per_page=100_000, viewer=_me(),
                          clock=ageing.Clock.of(_me().agency, clock.now()))
    header = [str(title) for title in EXPORT_HEADER]
    rows = _export_rows(page.rows)
    auditlog.record("review.exported", count=len(rows), format=fmt)
    db.session.commit()
    name = f"review-queue.{fmt}"
    if fmt == "csv":
        return exports.send(exports.csv_bytes(header, rows), name, "csv")
    return exports.send(exports.xlsx_bytes(_("Review queue"), header, rows), name, "xlsx")


def _log_read(incident) -> None:
    auditlog.record("incident.read", incident)
    db.session.commit()


@bp.route("/incidents/<int:incident_id>", methods=["GET", "POST"])
@require(REVIEW)
def incident(incident_id: int):
    """One case, one action area: the step its state calls for is open, the others a click
    away; an irreversible step shows its summary to confirm; after a decision, the next case."""
    me = _me()
    item = access.reviewable_or_404(me, incident_id)
    allowed = workflow.allowed_actions(item.review, me)
    form = ReviewStepForm()

    def page(status: int, opened: str | None = None, confirming: str | None = None):
        if status == 200:
            _log_read(item)
        previous = item.versions[-2] if len(item.versions) > 1 else None
        return render_template(
            "review/incident.html", incident=item, form=form, allowed=allowed,
            opened=opened, confirming=confirming, recused=not access.may_review(me, item),
            statuses=workflow.STATUSES, previous=previous,
            changed=records.changed_fields(previous, item.current) if previous else [],
            next_case=workflow.next_case(me, item), above=upward.level_above(me.agency)), status

    if not form.is_submitted():
        opened = request.args.get("step")
        return page(200, opened if opened in allowed else workflow.next_step(item.review, allowed))
    action = form.action.data
    opened = action if action in allowed else None
    if not form.validate_on_submit():
        return page(400, opened)
    if action in workflow.IRREVERSIBLE and not form.confirmed.data:
        if form.edit.data:
            return page(200, opened)
        refused = refused_by(lambda: workflow.check(item.review, me, action, _decision(form)))
        if refused is not None:
            show(refused)
            return page(refused.status, opened)
        return page(200, confirming=action)
    return attempt(lambda: workflow.act(item.review, me, action, _decision(form), clock.now()),
                   done=_("Saved."), then=lambda _step: _after_step(me, item, action),
                   again=lambda status: page(status, opened))


class Step(NamedTuple):
    title: str
    button: str
    fields: tuple[str, ...] = ()
    consequence: str = ""


STEPS = {
    ReviewStep.START: Step(_l("Start the review"), _l("Start review")),
    ReviewStep.RETURN: Step(_l("Return for supplement"), _l("Return to the registrant"),
                            ("note",), _l("The registrant is told and asked to supplement the "
                                          "registration; the case waits on them.")),
    ReviewStep.CLOSE: Step(_l("Close (archive)"), _l("Close"), ("affected", "determination"),
                           _l("The case is closed with this determination, which counts in the "
                              "annual statement; the registrant is told.")),
    ReviewStep.REFER: Step(_l("Refer the clue (线索移送)"), _l("Refer"),
                           ("affected", "determination", "referred_to", "referral_reason"),
                           _l("The clue is referred with this determination, which counts in "
                              "the annual statement; the registrant is told.")),
    ReviewStep.RECLASSIFY: Step(_l("Reclassify"), _l("Reclassify"), ("category", "note")),
    ReviewStep.COMMENT: Step(_l("Comment"), _l("Add the comment"), ("note", "for_registrant")),
}
# The registrant's answers under the labels of the registration form (for what a version
# changed); the form's `project` field holds `project_id`.
FIELD_LABELS = {name: getattr(IncidentForm, "project" if name == "project_id" else name).args[0]
                for name in records.ANSWERS}
VOCABULARIES = {"category": "category", "channel": "channels", "actor_relation": "relations",
                "stage": "stages", "response": "responses"}


def _field_value(version: IncidentVersion, name: str) -> str:
    value = getattr(version, name)
    if name == "occurred_at":
        return localtime(value)
    if name == "project_id":
        return f"{version.project.code} {version.project.name}" if version.project else "—"
    if name in VOCABULARIES:
        return label(VOCABULARIES[name], value)
    return value or "—"


@bp.app_context_processor
def review_steps() -> dict:
    return {"steps": STEPS, "irreversible": workflow.IRREVERSIBLE, "field_labels": FIELD_LABELS,
            "field_value": _field_value, "inline_types": evidence.INLINE_TYPES,
            "route_text": upward.describe}


def _after_step(me: User, item: Incident, action: str) -> str:
    """After a decision the next case waiting (else the queue); after any other step, the
    same case."""
    if action not in workflow.IRREVERSIBLE:
        return url_for("review.incident", incident_id=item.id)
    following = workflow.next_case(me, item)
    if following is None:
        return url_for("review.queue")
    return url_for("review.incident", incident_id=following)


def _decision(form: ReviewStepForm) -> workflow.Decision:
    affected = {"yes": True, "no": False}.get(form.affected.data or "")
    return workflow.Decision(
        note=form.note.data or "", for_registrant=bool(form.for_registrant.data),
        affected=affected, determination=form.determination.data or "",
        referred_to=form.referred_to.data or "", referral_reason=form.referral_reason.data or "",
        category=form.category.data or "",
    )


@bp.post("/incidents/<int:incident_id>/hand-up")
@require(REVIEW)
def hand_up(incident_id: int):
    """直报上级 by the office: the case, and its key, go to the level above."""
    me = _me()
    item = access.reviewable_or_404(me, incident_id)
    if not PortalForm().validate_on_submit():
        abort(400)
    return attempt(lambda: upward.hand_up(item, me, clock.now()),
                   done=lambda above: _("The case is now with the discipline office of "
                                        "%(agency)s; this office no longer holds its key.",
                                        agency=above.name),
                   then=url_for("review.queue"),
                   again=lambda status: redirect(url_for("review.incident",
                                                         incident_id=item.id)))


@bp.route("/incidents/<int:incident_id>/referral")
@require(REVIEW)
def referral(incident_id: int):
    item = access.reviewable_or_404(_me(), incident_id)
    if item.review.status != ReviewStatus.REFERRED:
        abort(404)
    _log_read(item)
    return render_template("review/referral.html", incident=item, now=clock.now())


@bp.route("/log")
@require(AUDIT_LOG)
def log():
    """The audit log, newest first, in words: by person, action, days, or for one object
    (the links from an account's or a case's page). Entries carry no incident content (only
    ids, actions and periods), so administrators may read them too."""
    me = _me()
    form = LogFilterForm(request.args)
    people = db.session.scalars(
        sa.select(User).where(User.agency_id == me.agency_id).order_by(User.name, User.staff_no))
    form.person.choices = [SelectChoice(0, _("Everyone")),
                           *(SelectChoice(u.id, f"{u.name} ({u.staff_no})") for u in people)]
    form.action.choices = [SelectChoice("", _("All actions")),
                           *(SelectChoice(code, name) for code, name in logtext.action_choices())]
    object_type = request.args.get("object_type", "")[:32]
    object_id = bounds.int_arg("object_id", 0, low=0)
    if not form.validate():
        return _log_page(form, [], False, 1, object_type, object_id), 400
    page_no = form.page.data or 1
    query = (sa.select(AuditLog, User).outerjoin(User, User.id == AuditLog.actor_id)
             .where(access.log_scope(me)))
    if object_type:
        query = query.where(AuditLog.object_type == object_type)
    if object_id:
        query = query.where(AuditLog.object_id == object_id)
    if form.person.data:
        query = query.where(AuditLog.actor_id == form.person.data)
    if form.action.data:
        query = query.where(AuditLog.action == form.action.data)
    zone = ZoneInfo(me.agency.timezone)
    if form.since.data:
        query = query.where(AuditLog.at >= _start_of(form.since.data, zone))
    if form.until.data:
        query = query.where(AuditLog.at < _start_of(form.until.data + timedelta(days=1), zone))
    rows = db.session.execute(
        query.order_by(AuditLog.id.desc()).limit(LOG_PER_PAGE + 1)
        .offset((page_no - 1) * LOG_PER_PAGE)).all()
    return _log_page(form, rows[:LOG_PER_PAGE], len(rows) > LOG_PER_PAGE, page_no,
                     object_type, object_id)


def _start_of(day: date, zone: ZoneInfo) -> datetime:
    """Midnight of `day` in the agency's zone, as the UTC instant the log stores."""
    return datetime.combine(day, time(), zone).astimezone(UTC)


def _log_page(form: LogFilterForm, rows: list, more: bool, page_no: int, object_type: str,
              object_id: int):
    args = {key: value for key, value in request.args.items() if key != "page" and value}
    return render_template("review/log.html", form=form, lines=logtext.lines(rows, _me()),
                           more=more, page_no=page_no, args=args, object_type=object_type,
                           object_id=object_id)


# The discipline office's membership (app/review/office.py) --------------------------------

@bp.get("/office")
def office_page():
    """Members and invitations for the office; the invitation itself for an invited colleague;
    nothing for anyone else."""
    me = _me()
    if access.allows(me, REVIEW):
        return _office_page(ProposeMemberForm(formdata=None))
    invitation = office.invitation_for(me)
    if invitation is None:
        abort(404)
    return render_template("review/invitation.html", invitation=invitation,
                           form=AnswerInvitationForm(formdata=None))


def _office_page(form: ProposeMemberForm, status: int = 200):
    me = _me()
    form.user.choices = [SelectChoice(u.id, f"{u.staff_no} {u.name}")
                         for u in office.candidates(me.agency_id)]
    members = office.members(me.agency_id)
    return render_template("review/office.html", form=form, members=members,
                           pending=office.pending(me.agency_id),
                           answer=AnswerInvitationForm(formdata=None),
                           keys=custody.office_keys(me.agency_id, members),
                           i_hold_key=keychain.current().holds_agency(me.agency_id)), status


def _posted_for_my_agency(model: type, record_id: int):
    """The record a membership button acts on: of the member's own agency (else 404), sent
    with the form's CSRF token (else 400)."""
    record = db.session.get(model, record_id)
    if record is None or record.agency_id != _me().agency_id:
        abort(404)
    if not PortalForm().validate_on_submit():
        abort(400)
    return record


def _office_step(step, done: str):
    """Run one membership step: on refusal show the page again, else commit."""
    return attempt(step, done=done, then=url_for("review.office_page"),
                   again=lambda status: _office_page(ProposeMemberForm(formdata=None), status))


@bp.post("/office/propose")
@require(REVIEW)
def propose_member():
    form = ProposeMemberForm()
    form.user.choices = [SelectChoice(u.id, u.name) for u in office.candidates(_me().agency_id)]
    if not form.validate_on_submit():
        return _office_page(form, 400)
    candidate = db.session.get(User, form.user.data)
    return _office_step(lambda: office.propose(_me(), candidate, clock.now()),
                        _("%(name)s has been invited: the role is granted when they accept.",
                          name=candidate.name))


@bp.post("/office/invitations/<int:invitation_id>/cancel")
@require(REVIEW)
def cancel_invitation(invitation_id: int):
    invitation = _posted_for_my_agency(OfficeInvitation, invitation_id)
    return _office_step(lambda: office.cancel(_me(), invitation, clock.now()),
                        _("The invitation has been withdrawn."))


@bp.post("/office/members/<int:user_id>/withdraw")
@require(REVIEW)
def withdraw_member(user_id: int):
    member = _posted_for_my_agency(User, user_id)
    return _office_step(lambda: office.withdraw(_me(), member, clock.now()),
                        _("%(name)s no longer belongs to the discipline office.",
                          name=member.name))


# The office's keys (app/keys/custody.py): set up once, given by a member who holds them ------

def _agency_private() -> bytes:
    """The agency key this member holds, or ContentSealed (the page says how to get it)."""
    private = keychain.current().agency_private(_me().agency_id)
    if private is None:
        raise keychain.ContentSealed
    return private


@bp.post("/office/keys/setup")
@require(REVIEW)
def set_up_keys():
    """Make the agency key and show its recovery key, once, in this response only."""
    me = _me()
    if not PortalForm().validate_on_submit():
        abort(400)

    try:
        code = custody.create_agency_key(me.agency_id, me, clock.now())
    except Refused as refused:
        db.session.rollback()
        show(refused)
        return _office_page(ProposeMemberForm(formdata=None), refused.status)
    db.session.commit()
    return render_template("review/recovery_key.html", code=code)


@bp.post("/office/members/<int:user_id>/grant")
@require(REVIEW)
def grant_key(user_id: int):
    member = _posted_for_my_agency(User, user_id)
    return _office_step(
        lambda: custody.grant(member.agency_id, member, _me(), _agency_private(), clock.now()),
        _("%(name)s can now open the content of registrations.", name=member.name))


@bp.post("/office/registrants/<int:user_id>/restore")
@require(REVIEW)
def restore_registrant(user_id: int):
    registrant = _posted_for_my_agency(User, user_id)
    return _office_step(
        lambda: custody.restore_registrant(registrant.agency_id, registrant, _me(),
                                           _agency_private()),
        _("%(name)s can open their own registrations again.", name=registrant.name))


@bp.post("/office/invitation")
def answer_invitation():
    me = _me()
    invitation = office.invitation_for(me)
    form = AnswerInvitationForm()
    if invitation is None:
        abort(404)
    if not form.validate_on_submit():
        abort(400)
    accept = form.accept.data == "yes"
    return attempt(lambda: office.answer(me, invitation, accept, clock.now()),
                   done=_("You now belong to the discipline office.") if accept
                   else _("You have declined the invitation."),
                   then=url_for("review.queue") if accept else url_for("home.index"),
                   again=lambda status: (render_template(
                       "review/invitation.html", invitation=invitation,
                       form=AnswerInvitationForm(formdata=None)), status))


@bp.app_context_processor
def review_labels() -> dict:
    """The review statuses' labels, for every page that shows a case's status."""
    return {"review_statuses": workflow.STATUSES}
