"""The installation administrator's pages: the agency tree (create, rename, move), each agency's
administrators (appoint, dismiss), and the installation-wide settings (mail, portal address; the
directory sign-in, shown as the environment sets it)."""

from __future__ import annotations

from flask import (
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from wtforms.fields.choices import SelectChoice

from app.auth import tokens
from app.core import mailsettings
from app.core.access import INSTALL, require
from app.core.extensions import db
from app.core.forms import PortalForm
from app.core.refusals import attempt
from app.installation import agencies, settings
from app.installation.blueprint import bp
from app.installation.forms import (
    AppointForm,
    MailForm,
    NewAgencyForm,
    PlaceForm,
    TransferForm,
)
from app.models import Agency, User
from app.notices import testmail
from app.notices.forms import TestMailForm

TOP = SelectChoice(0, "—")


@bp.before_request
@require(INSTALL)
def _installation_admins_only() -> None:
    """Every page here is for the installation administrator (others: 403)."""


def _agency_or_404(agency_id: int) -> Agency:
    agency = db.session.get(Agency, agency_id)
    if agency is None:
        abort(404)
    return agency


def _parent_choices(form: PlaceForm, nodes: list[agencies.Node],
                    agency: Agency | None = None) -> None:
    """Every agency may be a parent, except `agency` itself and those under it."""
    excluded = agencies.below(agency) if agency is not None else set()
    form.parent.choices = [TOP, *(SelectChoice(node.agency.id, "　" * node.depth + node.agency.name)
                                  for node in nodes if node.agency.id not in excluded)]


def _parent(form: PlaceForm) -> Agency | None:
    return db.session.get(Agency, form.parent.data) if form.parent.data else None


def _index_page(form: NewAgencyForm, status: int = 200):
    return render_template("installation/index.html", nodes=agencies.tree(), form=form), status


@bp.route("/", methods=["GET", "POST"])
def index():
    form = NewAgencyForm()
    _parent_choices(form, agencies.tree())
    if not form.validate_on_submit():
        return _index_page(form, 400 if request.method == "POST" else 200)
    return attempt(lambda: agencies.create(form.name.data, _parent(form), form.timezone.data,
                                           form.deadline_day.data),
                   done=lambda agency: _("%(name)s created.", name=agency.name),
                   then=lambda agency: url_for("installation.agency_page", agency_id=agency.id),
                   again=lambda status: _index_page(form, status), show_on=form.name)


def _agency_page(agency: Agency, form: PlaceForm, appoint_form: AppointForm, status: int = 200,
                 transfer_form: TransferForm | None = None):
    return render_template("installation/agency.html", agency=agency, form=form,
                           appoint_form=appoint_form, admins=agencies.administrators(agency),
                           dismiss_form=PortalForm(formdata=None),
                           transfer_form=transfer_form or TransferForm(formdata=None)), status


def _place_form(agency: Agency, **kwargs) -> PlaceForm:
    form = PlaceForm(**kwargs)
    _parent_choices(form, agencies.tree(), agency)
    return form


@bp.route("/agencies/<int:agency_id>", methods=["GET", "POST"])
def agency_page(agency_id: int):
    agency = _agency_or_404(agency_id)
    form = _place_form(agency, obj=agency, data={"parent": agency.parent_id or 0})
    appoint_form = AppointForm(formdata=None)
    if not form.validate_on_submit():
        return _agency_page(agency, form, appoint_form, 400 if request.method == "POST" else 200)
    return attempt(lambda: agencies.place(agency, form.name.data, _parent(form)),
                   done=lambda changes: _("Saved.") if changes else _("Nothing changed."),
                   then=url_for("installation.agency_page", agency_id=agency.id),
                   again=lambda status: _agency_page(agency, form, appoint_form, status),
                   show_on=form.name)


def _stored_place_form(agency: Agency) -> PlaceForm:
    return _place_form(agency, formdata=None, obj=agency, data={"parent": agency.parent_id or 0})


@bp.post("/agencies/<int:agency_id>/admins")
def appoint(agency_id: int):
    agency = _agency_or_404(agency_id)
    form = AppointForm()

    def page(status: int):
        return _agency_page(agency, _stored_place_form(agency), form, status)

    if not form.validate_on_submit():
        return page(400)

    def step() -> tuple[User, tokens.Issued | None]:
        user, _new = agencies.account_for_admin(agency, form.staff_no.data, form.name.data or "",
                                                form.email.data or "")
        return user, agencies.appoint(agency, user)

    def then(result: tuple[User, tokens.Issued | None]):
        user, issued = result
        if issued is None:
            return url_for("installation.agency_page", agency_id=agency.id)
        mailed = issued.emailed and bool(mailsettings.effective().smtp_host)
        return make_response(render_template("installation/appointed.html", agency=agency,
                                             account=user, issued=issued, mailed=mailed))

    return attempt(step, done=lambda result: _("%(name)s is now an administrator of "
                                               "%(agency)s.", name=result[0].name,
                                               agency=agency.name),
                   then=then, again=page, show_on=form.staff_no)


@bp.post("/agencies/<int:agency_id>/admins/<int:user_id>/dismiss")
def dismiss(agency_id: int, user_id: int):
    agency = _agency_or_404(agency_id)
    user = db.session.get(User, user_id)
    if user is None or user.agency_id != agency.id:
        abort(404)
    if not PortalForm().validate_on_submit():
        abort(400)
    return attempt(lambda: agencies.dismiss(agency, user),
                   done=_("%(name)s is no longer an administrator.", name=user.name),
                   then=url_for("installation.agency_page", agency_id=agency.id),
                   again=lambda status: redirect(url_for("installation.agency_page",
                                                         agency_id=agency.id)))


@bp.post("/agencies/<int:agency_id>/transfer")
def transfer(agency_id: int):
    """调动 into this agency: the person's period in their agency ends the day before."""
    agency = _agency_or_404(agency_id)
    form = TransferForm()

    def page(status: int):
        return _agency_page(agency, _stored_place_form(agency), AppointForm(formdata=None),
                            status, transfer_form=form)

    if not form.validate_on_submit():
        return page(400)
    return attempt(lambda: agencies.transfer_here(agency, form.staff_no.data,
                                                  form.department.data or "", form.on.data),
                   done=lambda user: _("%(name)s (%(staff_no)s) works in %(agency)s from "
                                       "%(date)s.", name=user.name, staff_no=user.staff_no,
                                       agency=agency.name, date=form.on.data.isoformat()),
                   then=url_for("installation.agency_page", agency_id=agency.id),
                   again=page, show_on=form)


# The installation's settings -----------------------------------------------------------------

def _pinned() -> list[str]:
    return [field for field in mailsettings.FIELDS if mailsettings.from_environment(field)]


def _mail_form(**kwargs) -> MailForm:
    """The mail settings form without the fields the environment pins (shown, not editable)."""
    form = MailForm(**kwargs)
    for field in _pinned():
        del form[field]
    return form


def _stored_mail_form() -> MailForm:
    row = mailsettings.stored()
    values = {field: mailsettings.value(field, row) for field in mailsettings.FIELDS
              if field != "smtp_password"}
    return _mail_form(formdata=None, **values)


def _directory_settings() -> dict | None:
    """The directory sign-in as configured in the environment (read-only; never a password)."""
    config = current_app.config
    if not config["LDAP_URL"]:
        return None
    return {"url": config["LDAP_URL"], "base_dn": config["LDAP_BASE_DN"],
            "attribute": config["LDAP_USER_ATTRIBUTE"],
            "service_bind": config["LDAP_BIND_DN"] or None,
            "timeout": config["LDAP_TIMEOUT"], "local": config["LDAP_LOCAL_ACCOUNTS"]}


def _settings_page(mail_form: MailForm, status: int = 200,
                   test_form: TestMailForm | None = None):
    row = mailsettings.stored()
    return render_template(
        "installation/settings.html", mail_form=mail_form,
        test_form=test_form or TestMailForm(formdata=None),
        pinned={field: mailsettings.value(field, row) for field in _pinned()},
        env_names=mailsettings.FIELDS,
        has_password=bool(mailsettings.value("smtp_password", row)),
        unreadable_password=mailsettings.unreadable_password(row),
        ldap=_directory_settings()), status


def _mail_values(form: MailForm) -> dict:
    """What the form gives, for the fields the environment does not pin."""
    values = {field: form[field].data for field in mailsettings.FIELDS
              if field in form and field != "smtp_password"}
    if "smtp_password" in form:
        values["smtp_password"] = ("" if form.clear_password.data
                                   else form.smtp_password.data or None)
    return values


@bp.get("/settings")
def settings_page():
    return _settings_page(_stored_mail_form())


@bp.post("/settings/mail")
def mail_settings():
    form = _mail_form()
    if not form.validate_on_submit():
        return _settings_page(form, 400)
    changes = settings.update_mail(_mail_values(form))
    db.session.commit()
    flash(_("Mail settings saved.") if changes else _("Nothing changed."), "success")
    return redirect(url_for("installation.settings_page"))


@bp.post("/settings/test-mail")
def test_mail():
    form = TestMailForm()
    if not form.validate_on_submit():
        return _settings_page(_stored_mail_form(), 400, test_form=form)
    flash(*testmail.send(form.address.data.strip()))
    return redirect(url_for("installation.settings_page"))
