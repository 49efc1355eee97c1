"""The administrator's pages. Each works on the administrator's own agency only."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from babel.lists import format_list
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from app.admin import (
    accounts,
    agencysettings,
    employment,
    organisation,
    projectimport,
    uploads,
    userimport,
)
from app.admin.blueprint import bp
from app.admin.forms import (
    ANY,
    AgencyForm,
    ApiTokenForm,
    ApplyImportForm,
    ArchiveForm,
    CalendarDayForm,
    ChannelForm,
    DeactivateForm,
    DeleteForm,
    DepartmentForm,
    ImportForm,
    ProjectFilterForm,
    ProjectForm,
    ReactivateForm,
    RevokeForm,
    UserFilterForm,
    UserForm,
)
from app.api import tokens as api_tokens
from app.auth import directory, tokens
from app.core import auditlog, clock, mailsettings, tabular, vocab
from app.core.access import ADMINISTER, require
from app.core.codes import Channel, NoticeStatus
from app.core.extensions import db
from app.core.forms import PortalForm
from app.core.refusals import attempt, refused_by, show
from app.filing.workcalendar import official_calendar_covers
from app.models import Agency, ApiToken, AuditProject, CalendarDay, Department, User
from app.notices import channels, reminders
from app.review import office

PER_PAGE = 50
NO_DEPARTMENT = SelectChoice(0, _l("No department"))


@bp.before_request
@require(ADMINISTER)
def _admins_only() -> None:
    """Every page here is for administrators (others: 403, anonymous: sign-in first)."""


def _me() -> User:
    return current_user._get_current_object()


def _agency() -> Agency:
    return _me().agency


def _today() -> date:
    return clock.now().astimezone(ZoneInfo(_agency().timezone)).date()


def _mine_or_404(model: type, record_id: int):
    record = db.session.get(model, record_id)
    if record is None or record.agency_id != _me().agency_id:
        abort(404)
    return record


def _department_choices(keep: Department | None = None) -> list[SelectChoice]:
    return [NO_DEPARTMENT, *(SelectChoice(d.id, d.name)
                             for d in accounts.department_choices(_agency(), keep))]


def _department(department_id: int) -> Department | None:
    return _mine_or_404(Department, department_id) if department_id else None


# Accounts ------------------------------------------------------------------------------------

@bp.get("/")
def index():
    return redirect(url_for("admin.users"))


@bp.get("/users")
def users():
    form = UserFilterForm(request.args)
    departments = organisation.departments(_agency())
    form.department.choices = [SelectChoice(0, ANY.label),
                               *(SelectChoice(d.id, d.name) for d, _count in departments)]
    if not form.validate():
        abort(400)
    page_no = max(form.page.data or 1, 1)
    wanted = accounts.Search(q=form.q.data or "", department_id=form.department.data or 0,
                             role=form.role.data or "", active=form.active.data or "")
    page = accounts.search(_agency(), wanted, page_no, PER_PAGE)
    return render_template("admin/users.html", form=form, page=page, page_no=page_no,
                           per_page=PER_PAGE,
                           args={k: v for k, v in request.args.items() if k != "page"})


def _user_values(form: UserForm) -> dict:
    return {"staff_no": form.staff_no.data, "name": form.name.data,
            "email": form.email.data or None, "department": _department(form.department.data),
            "roles": set(form.roles.data), "joined_on": form.joined_on.data}


@bp.route("/users/new", methods=["GET", "POST"])
def new_user():
    form = UserForm()
    form.department.choices = _department_choices()
    if request.method == "GET":
        form.roles.data, form.joined_on.data = list(accounts.NEW_ACCOUNT_ROLES), _today()
    if not form.validate_on_submit():
        return _new_user_page(form, 400 if request.method == "POST" else 200)
    return attempt(lambda: accounts.create(_agency(), _user_values(form)),
                   done=lambda user: _("Account %(staff_no)s created.", staff_no=user.staff_no),
                   then=lambda user: url_for("admin.edit_user", user_id=user.id),
                   again=lambda status: _new_user_page(form, status), show_on=form)


def _new_user_page(form: UserForm, status: int):
    return render_template("admin/user_form.html", form=form, user=None, in_office=False,
                           grantable=accounts.ADMIN_GRANTABLE), status


def _user_page(user: User, form: UserForm, status: int = 200,
               deactivate: DeactivateForm | None = None):
    if deactivate is None:
        deactivate = DeactivateForm(formdata=None, left_on=_today())
    return render_template("admin/user_form.html", form=form, user=user,
                           deactivate=deactivate, reactivate=ReactivateForm(),
                           in_office=office.is_member(user), periods=employment.history(user),
                           grantable=accounts.ADMIN_GRANTABLE), status


def _user_form(user: User, posted: bool = False) -> UserForm:
    """The account's form: as posted, or filled from the account."""
    form = UserForm() if posted else UserForm(formdata=None, obj=user)
    form.department.choices = _department_choices(user.department)
    if not posted:
        form.department.data, form.roles.data = user.department_id or 0, sorted(user.roles)
    return form


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
def edit_user(user_id: int):
    user = _mine_or_404(User, user_id)
    form = _user_form(user, posted=request.method == "POST")
    if not form.validate_on_submit():
        return _user_page(user, form, 400 if request.method == "POST" else 200)
    return attempt(lambda: accounts.update(_me(), user, _user_values(form)),
                   done=lambda changes: _("Saved.") if changes else _("Nothing changed."),
                   then=url_for("admin.edit_user", user_id=user.id),
                   again=lambda status: _user_page(user, form, status), show_on=form)


@bp.post("/users/<int:user_id>/deactivate")
def deactivate_user(user_id: int):
    user = _mine_or_404(User, user_id)
    form = DeactivateForm()

    def page(status: int):
        return _user_page(user, _user_form(user), status, deactivate=form)

    if not form.validate_on_submit():
        return page(400)
    if not form.confirmed.data:  # first the summary, in the page; or back to the form
        if form.edit.data:
            return page(200)
        refused = refused_by(
            lambda: accounts.check_deactivation(_me(), user, form.left_on.data, _today()))
        if refused is not None:
            show(refused, form.left_on)
            return page(refused.status)
        return render_template("admin/user_form.html", form=_user_form(user), user=user,
                               deactivate=form, confirming=True,
                               pending_mail=accounts.pending_mail(user),
                               in_office=office.is_member(user),
                               periods=employment.history(user),
                               grantable=accounts.ADMIN_GRANTABLE)
    return attempt(lambda: accounts.deactivate(_me(), user, form.left_on.data, _today()),
                   done=_("Account %(staff_no)s deactivated: its sessions have ended.",
                          staff_no=user.staff_no),
                   then=url_for("admin.edit_user", user_id=user.id), again=page,
                   show_on=form.left_on)


@bp.post("/users/<int:user_id>/reactivate")
def reactivate_user(user_id: int):
    user = _mine_or_404(User, user_id)
    if not ReactivateForm().validate_on_submit():
        abort(400)
    return attempt(lambda: accounts.reactivate(user, _today()),
                   done=_("Account %(staff_no)s reactivated.", staff_no=user.staff_no),
                   then=url_for("admin.edit_user", user_id=user.id),
                   again=lambda status: _user_page(user, _user_form(user), status))


# Bulk import ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImportKind:
    title: object
    check: Callable
    apply: Callable
    header: list[str]
    example: list[str]
    list_endpoint: str
    # The values a row gives, as the preview shows them: (attribute, label).
    columns: tuple[tuple[str, object], ...] = ()
    # What a new record gets when its row leaves a column blank: (attribute, shown as).
    defaults: tuple[tuple[str, object], ...] = ()
    new_people: bool = False  # the preview says how new people first sign in


KINDS = {
    "users": ImportKind(
        _l("Import staff"), userimport.check,
        lambda agency, rows: userimport.apply(agency, rows, _today()),
        ["工号", "姓名", "科室", "邮箱", "角色", "入职日期"],
        ["A001", "王芳", "财政审计科", "wangfang@example.org", "审计人员", "2024-03-01"],
        "admin.users",
        columns=(("name", _l("Name")), ("department", _l("Department")),
                 ("email", _l("E-mail")), ("roles", _l("Roles")),
                 ("joined_on", _l("In post since")),
                 ("transferred_on", _l("Transferred here on"))),
        defaults=(("roles", _l("Auditor")), ("joined_on", _l("today"))),
        new_people=True),
    "projects": ImportKind(
        _l("Import audit projects"), projectimport.check, projectimport.apply,
        projectimport.TEMPLATE_HEADER,
        ["2025-001", "区教育局部门预算执行审计", "2025", "财政审计科"],
        "admin.projects",
        columns=(("name", _l("Project name")), ("year", _l("Year")),
                 ("department", _l("Lead department")))),
}


def _kind_or_404(kind: str) -> ImportKind:
    if kind not in KINDS:
        abort(404)
    return KINDS[kind]


def _import_page(kind: str, form: ImportForm, results: list | None = None,
                 token: str = "", status: int = 200):
    counts = Counter("error" if r.errors else r.action for r in results or [])
    return render_template(
        "admin/import.html", kind=kind, spec=KINDS[kind], form=form, results=results,
        counts=counts, apply_form=ApplyImportForm(formdata=None, token=token),
        shown=_import_value, link_hours=current_app.config["SIGNIN_LINK_HOURS"]), status


def _import_value(value: object) -> str:
    """A value of an import row as the preview shows it."""
    if isinstance(value, Department):
        return value.name
    if isinstance(value, set | frozenset | list | tuple):
        return format_list([str(vocab.ROLES.get(role, role)) for role in sorted(value)],
                           locale=get_locale())
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else str(value)


@bp.get("/import/<kind>")
def import_page(kind: str):
    _kind_or_404(kind)
    return _import_page(kind, ImportForm())


@bp.post("/import/<kind>")
def import_preview(kind: str):
    spec = _kind_or_404(kind)
    form = ImportForm()
    if not form.validate_on_submit():
        return _import_page(kind, form, status=400)
    raw = form.file.data.read()
    results = spec.check(_agency(), raw)
    token = "" if any(r.errors for r in results) else uploads.keep(kind, raw)
    return _import_page(kind, ImportForm(formdata=None), results, token,
                        400 if not token else 200)


@bp.post("/import/<kind>/apply")
def import_apply(kind: str):
    spec = _kind_or_404(kind)
    form = ApplyImportForm()
    raw = uploads.load(kind, form.token.data or "") if form.validate_on_submit() else None
    if raw is None:
        flash(_("This upload has expired or was already imported: choose the file again."),
              "warning")
        return _import_page(kind, ImportForm(formdata=None), status=400)
    results = spec.check(_agency(), raw)
    if any(r.errors for r in results):  # the database changed since the preview
        return _import_page(kind, ImportForm(formdata=None), results, status=400)
    changed = spec.apply(_agency(), results)
    db.session.commit()
    uploads.discard(kind)
    counts = Counter(r.action for r in results)
    flash((_("Imported: %(create)d created, %(update)d updated, %(transfer)d transferred "
             "here, %(unchanged)d unchanged.", create=counts["create"],
             update=counts["update"], transfer=counts["transfer"],
             unchanged=counts["unchanged"]) if counts["transfer"] else
           _("Imported: %(create)d created, %(update)d updated, %(unchanged)d unchanged.",
             create=counts["create"], update=counts["update"], unchanged=counts["unchanged"]))
          if changed else _("Nothing to change: every row is already up to date."), "success")
    return redirect(url_for(spec.list_endpoint))


@bp.get("/import/<kind>/template.<fmt>")
def import_template(kind: str, fmt: str):
    spec = _kind_or_404(kind)
    if fmt not in ("csv", "xlsx"):
        abort(404)
    return tabular.template(fmt, str(spec.title), spec.header, spec.example)


# Departments ---------------------------------------------------------------------------------

def _departments_page(form: DepartmentForm, status: int = 200):
    return render_template("admin/departments.html", form=form,
                           departments=organisation.departments(_agency()),
                           archive_form=ArchiveForm(formdata=None)), status


@bp.route("/departments", methods=["GET", "POST"])
def departments():
    form = DepartmentForm()
    if not form.validate_on_submit():
        return _departments_page(form, 400 if request.method == "POST" else 200)
    return attempt(lambda: organisation.create_department(_agency(), form.name.data),
                   done=_("Department %(name)s created.", name=form.name.data),
                   then=url_for("admin.departments"),
                   again=lambda status: _departments_page(form, status), show_on=form.name)


@bp.route("/departments/<int:department_id>", methods=["GET", "POST"])
def edit_department(department_id: int):
    department = _mine_or_404(Department, department_id)
    form = DepartmentForm(obj=department)

    def page(status: int):
        return render_template("admin/department_form.html", form=form,
                               department=department), status

    if not form.validate_on_submit():
        return page(400 if request.method == "POST" else 200)
    return attempt(lambda: organisation.rename_department(department, form.name.data),
                   done=_("Saved."), then=url_for("admin.departments"), again=page,
                   show_on=form.name)


def _archive(record: Department | AuditProject, endpoint: str):
    form = ArchiveForm()
    if not form.validate_on_submit():
        abort(400)
    organisation.set_archived(record, form.archived.data == "1")
    db.session.commit()
    flash(_("Archived: kept on existing records, no longer offered for new ones.")
          if record.archived else _("Restored."), "success")
    return redirect(url_for(endpoint))


@bp.post("/departments/<int:department_id>/archive")
def archive_department(department_id: int):
    return _archive(_mine_or_404(Department, department_id), "admin.departments")


# Audit projects ------------------------------------------------------------------------------

def _project_values(form: ProjectForm) -> dict:
    return {"code": form.code.data, "name": form.name.data, "year": form.year.data,
            "department": _department(form.department.data)}


def _projects_page(form: ProjectForm, status: int = 200):
    filters = ProjectFilterForm(request.args)
    year = filters.year.data if filters.validate() else None
    return render_template("admin/projects.html", form=form, filters=filters,
                           projects=organisation.projects(_agency(), year),
                           archive_form=ArchiveForm(formdata=None)), status


@bp.route("/projects", methods=["GET", "POST"])
def projects():
    form = ProjectForm()
    form.department.choices = _department_choices()
    if request.method == "GET":
        form.year.data = _today().year
    if not form.validate_on_submit():
        return _projects_page(form, 400 if request.method == "POST" else 200)
    return attempt(lambda: organisation.create_project(_agency(), _project_values(form)),
                   done=lambda project: _("Audit project %(code)s created.", code=project.code),
                   then=url_for("admin.projects"),
                   again=lambda status: _projects_page(form, status), show_on=form.code)


@bp.route("/projects/<int:project_id>", methods=["GET", "POST"])
def edit_project(project_id: int):
    project = _mine_or_404(AuditProject, project_id)
    form = ProjectForm(obj=project)
    form.department.choices = _department_choices(project.department)
    if request.method == "GET":
        form.department.data = project.department_id or 0

    def page(status: int):
        return render_template("admin/project_form.html", form=form, project=project), status

    if not form.validate_on_submit():
        return page(400 if request.method == "POST" else 200)
    return attempt(lambda: organisation.update_project(project, _project_values(form)),
                   done=lambda changes: _("Saved.") if changes else _("Nothing changed."),
                   then=url_for("admin.projects"), again=page, show_on=form.code)


@bp.post("/projects/<int:project_id>/archive")
def archive_project(project_id: int):
    return _archive(_mine_or_404(AuditProject, project_id), "admin.projects")


# Settings ------------------------------------------------------------------------------------

def _channel_forms(failed: tuple[str, ChannelForm] | None = None) -> list[dict]:
    """Each messaging channel: its form (the one that failed, as submitted) and what is stored,
    never the address's key or the secret."""
    stored = channels.settings_of(_agency().id)
    shown = []
    for channel in channels.CHANNELS:
        row = stored.get(channel)
        form = (failed[1] if failed and failed[0] == channel
                else ChannelForm(formdata=None, prefix=channel,
                                 enabled=bool(row and row.enabled)))
        shown.append({"channel": channel, "label": channels.LABELS[channel], "form": form,
                      "url": channels.shown_url(row), "has_secret": bool(row and row.secret),
                      "needs_secret": channel != Channel.WECOM,
                      "test": PortalForm(formdata=None, prefix=f"test-{channel}")})
    return shown


def _settings_page(agency_form: AgencyForm, status: int = 200,
                   calendar_form: CalendarDayForm | None = None,
                   channel_form: tuple[str, ChannelForm] | None = None):
    year = _today().year
    return render_template(
        "admin/settings.html", form=agency_form,
        calendar_form=calendar_form or CalendarDayForm(formdata=None),
        calendar_days=agencysettings.calendar_days(_agency()),
        uncovered=[y for y in (year, year + 1) if not official_calendar_covers(y)],
        defaults=reminders.schedule_of(None),
        channel_forms=_channel_forms(channel_form)), status


def _agency_values(form: AgencyForm) -> dict:
    return {key: getattr(form, key).data for key in agencysettings.AGENCY_FIELDS}


@bp.route("/settings", methods=["GET", "POST"])
def settings():
    agency = _agency()
    form = AgencyForm(obj=agency)
    if form.validate_on_submit():
        values = _agency_values(form)
        problem = agencysettings.schedule_problem(
            values, vars(reminders.schedule_of(None)))
        if problem:
            form.form_errors.append(problem)
        else:
            changes = agencysettings.update_agency(agency, values)
            db.session.commit()
            flash(_("Settings saved.") if changes else _("Nothing changed."), "success")
            return redirect(url_for("admin.settings"))
    status = 400 if request.method == "POST" else 200
    return _settings_page(form, status)


def _channel_or_404(channel: str) -> Channel:
    if channel not in channels.CHANNELS:
        abort(404)
    return Channel(channel)


@bp.post("/settings/channels/<channel>")
def channel_settings(channel: str):
    channel = _channel_or_404(channel)
    form = ChannelForm(prefix=channel)

    def page(status: int):
        return _settings_page(AgencyForm(formdata=None, obj=_agency()), status,
                              channel_form=(channel, form))

    if not form.validate_on_submit():
        return page(400)
    return attempt(lambda: agencysettings.update_channel(
                       _agency(), channel, form.url.data or "", form.secret.data or "",
                       form.enabled.data, form.clear.data),
                   done=lambda changes: _("%(channel)s saved.", channel=channels.LABELS[channel])
                   if changes else _("Nothing changed."),
                   then=url_for("admin.settings"), again=page, show_on=form.url)


@bp.post("/settings/channels/<channel>/test")
def test_channel(channel: str):
    """Send one test message to the channel, and nothing else: the backlog never goes out in a
    web request (it could outlast the worker's timeout)."""
    channel = _channel_or_404(channel)
    if not PortalForm(prefix=f"test-{channel}").validate_on_submit():
        abort(400)
    label = channels.LABELS[channel]
    stored = channels.settings_of(_agency().id).get(channel)
    if stored is None or not stored.url:
        flash(_("Enter the webhook address of %(channel)s first.", channel=label), "warning")
        return redirect(url_for("admin.settings"))
    row = channels.test_message(_me(), channel)
    auditlog.record("outbox.test_channel", row, channel=channel)
    db.session.commit()
    channels.send_now(row)
    db.session.refresh(row)
    if row.status == NoticeStatus.SENT:
        flash(_("Test message sent to %(channel)s.", channel=label), "success")
    else:
        flash(_("The test message to %(channel)s could not be sent: %(error)s",
                channel=label, error=row.last_error or _("unknown error")), "danger")
    return redirect(url_for("admin.settings"))


@bp.post("/settings/calendar")
def add_calendar_day():
    form = CalendarDayForm()

    def page(status: int):
        return _settings_page(AgencyForm(formdata=None, obj=_agency()), status, calendar_form=form)

    if not form.validate_on_submit():
        return page(400)
    return attempt(lambda: agencysettings.add_calendar_day(
                       _agency(), form.day.data, form.is_workday.data == "1", form.note.data or ""),
                   done=_("Date added."), then=url_for("admin.settings"), again=page,
                   show_on=form.day)


@bp.post("/settings/calendar/<int:day_id>/delete")
def remove_calendar_day(day_id: int):
    row = _mine_or_404(CalendarDay, day_id)
    if not DeleteForm().validate_on_submit():
        abort(400)
    agencysettings.remove_calendar_day(row)
    db.session.commit()
    flash(_("Date removed."), "success")
    return redirect(url_for("admin.settings"))


@bp.route("/users/<int:user_id>/reset-password", methods=["POST"])
@require(ADMINISTER)
def reset_password(user_id: int):
    admin = current_user._get_current_object()
    account = db.session.get(User, user_id)
    if account is None or account.agency_id != admin.agency_id:
        abort(404)
    if not PortalForm().validate_on_submit():
        abort(400)
    if directory.uses_directory(account):
        flash(_("This account signs in with the directory's password: reset it in the "
                "directory. The portal keeps no password for it."), "warning")
        return redirect(url_for("admin.edit_user", user_id=account.id))
    issued = tokens.reset_password(account, admin)
    db.session.commit()
    # The link is shown only when no e-mail will carry it to its owner.
    mailed = issued.emailed and bool(mailsettings.effective().smtp_host)
    return render_template("admin/reset_done.html", account=account, issued=issued,
                           mailed=mailed)


def _api_tokens_page(form: ApiTokenForm, status: int = 200, issued: str | None = None):
    return render_template("admin/api_tokens.html", form=form, issued=issued,
                           tokens=api_tokens.of_agency(_agency()),
                           revoke_form=RevokeForm(formdata=None)), status


@bp.route("/api-tokens", methods=["GET", "POST"])
def api_tokens_page():
    """The API's tokens: a new one is shown on this answer only (never stored in clear)."""
    form = ApiTokenForm()
    if not form.validate_on_submit():
        return _api_tokens_page(form, 400 if request.method == "POST" else 200)
    issued = api_tokens.create(_agency(), form.name.data, _me())
    db.session.commit()
    return _api_tokens_page(ApiTokenForm(formdata=None), issued=issued.token)


@bp.post("/api-tokens/<int:token_id>/revoke")
def revoke_api_token(token_id: int):
    row = _mine_or_404(ApiToken, token_id)
    if not RevokeForm().validate_on_submit():
        abort(400)
    api_tokens.revoke(row, _me())
    db.session.commit()
    flash(_("Token of %(name)s revoked: it no longer works.", name=row.name), "success")
    return redirect(url_for("admin.api_tokens_page"))
