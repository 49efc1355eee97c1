"""The annual statement (discipline office prepares, a leader signs) and the personal annual
confirmation (auditors).

Leaders may be the people who interfered: what they see here (page, PDF, XLSX) is aggregate
figures, the names of those who have not filed or confirmed and the number, month, status and
age of the reviews open at year end, never incident content. The incident table of the
appendix is in the discipline office's copy only.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from app.core import access, auditlog, clock, exports
from app.core.access import CONFIRM, PREPARE_STATEMENT, SIGN_STATEMENT, STATEMENTS, require
from app.core.extensions import db
from app.core.refusals import attempt
from app.models import AnnualStatement, User
from app.statement import conclusion, confirmations, figures, signing, yearend
from app.statement.blueprint import bp
from app.statement.document import (
    late_record_label,
    open_reviews_lines,
    open_reviews_table,
    pdf_bytes,
    tables,
    title,
    xlsx_bytes,
)
from app.statement.forms import AddendumForm, ConfirmationForm, PrepareForm, SignForm


def _me() -> User:
    return current_user._get_current_object()


def _index(form: PrepareForm, status: int = 200):
    rows = db.session.scalars(
        db.select(AnnualStatement).where(AnnualStatement.agency_id == _me().agency_id)
        .order_by(AnnualStatement.year.desc())).all()
    return render_template("statement/index.html", statements=rows, form=form), status


@bp.route("/")
@require(STATEMENTS)
def index():
    return _index(PrepareForm(year=confirmations.default_year(_me().agency, clock.now())))


@bp.route("/prepare", methods=["POST"])
@require(PREPARE_STATEMENT)
def prepare():
    form = PrepareForm()
    if not form.validate_on_submit():
        flash(_("Give the year as four digits, for example 2025."), "danger")
        return _index(form, 400)
    return attempt(lambda: signing.prepare(_me().agency, form.year.data, _me(), clock.now()),
                   done=lambda item: _("The draft for %(year)d is ready: check the preview, "
                                       "then ask a leader to sign it.", year=item.year),
                   then=lambda item: url_for("statement.show", year=item.year),
                   again=lambda status: _index(form, status))


def _addendum_form(pending: list[signing.LateRecord]) -> AddendumForm:
    form = AddendumForm()
    form.record.choices = [*form.record.choices, *(
        SelectChoice(record.key, late_record_label(record)) for record in pending)]
    return form


def _page(item: AnnualStatement, status: int = 200, sign_form: SignForm | None = None,
          addendum_form: AddendumForm | None = None):
    counted, now = figures.stored(item), clock.now()
    pending = signing.pending_late_records(item)
    # Informational, computed from the history each time (not stored with the figures).
    still_open = yearend.open_reviews(item.agency, item.year, now)
    return render_template(
        "statement/show.html", item=item, figures=counted, title=title(item.year),
        conclusion=conclusion.conclusion(counted), clean=conclusion.is_clean(counted),
        tables=tables(counted), sign_form=sign_form or SignForm(),
        addendum_form=addendum_form or _addendum_form(pending), pending=pending,
        signing_refusal=signing.signing_refusal(item.agency, item.year, now),
        provisional=signing.is_provisional(item, now), late_record_label=late_record_label,
        open_table=(open_table := open_reviews_table(still_open)),
        open_cases=list(zip(still_open.rows, open_table.rows, strict=True)),
        open_lines=open_reviews_lines(still_open),
    ), status


@bp.route("/<year:year>")
@require(STATEMENTS)
def show(year: int):
    return _page(access.statement_or_404(_me(), year))


@bp.route("/<year:year>/sign", methods=["POST"])
@require(SIGN_STATEMENT)
def sign(year: int):
    item = access.statement_or_404(_me(), year)
    refusal = signing.signing_refusal(item.agency, year, clock.now())
    if refusal:  # before any password is checked: the page has said so already
        flash(refusal, "danger")
        return _page(item, 409)
    form = SignForm()
    if not form.validate_on_submit():
        return _page(item, 400, form)
    problem = signing.confirm_signer(_me(), form.password.data, form.code.data or "")
    if problem:
        auditlog.record("statement.sign_refused", item, year=year)
        db.session.commit()
        form.password.errors = [problem, _("Nothing has been signed.")]
        return _page(item, 400, form)
    try:
        # This request has written no record (at most the signer's sign-in state).
        signing.sign(item, _me(), clock.now(), parallel=True)
    except figures.StatementError as refused:
        # Nothing is signed. A changed record keeps only the month hashes the signature read.
        if isinstance(refused, signing.RecordChanged):
            db.session.commit()
        else:
            db.session.rollback()
        flash(str(refused), "danger")
        return _page(access.statement_or_404(_me(), year), 409)
    db.session.commit()
    auditlog.write_checkpoint(f"statement.signed {year}")
    flash(_("The statement for %(year)d is signed and locked.", year=year), "success")
    return redirect(url_for("statement.show", year=year))


@bp.route("/<year:year>/addenda", methods=["POST"])
@require(PREPARE_STATEMENT)
def addendum(year: int):
    item = access.statement_or_404(_me(), year)
    form = _addendum_form(signing.pending_late_records(item))
    if not form.validate_on_submit():
        flash(_("Please write the text."), "danger")
        return _page(item, 400, addendum_form=form)
    return attempt(lambda: signing.add_addendum(item, _me(), form.text.data, clock.now(),
                                              form.record.data),
                   done=_("The addendum has been recorded."),
                   then=url_for("statement.show", year=year),
                   again=lambda status: _page(item, status, addendum_form=form))


def _locale() -> str:
    """The reader's language for a download, Chinese by default."""
    return str(get_locale() or "zh_CN")


@bp.route("/<year:year>.pdf")
@require(STATEMENTS)
def pdf(year: int):
    item = access.statement_or_404(_me(), year)
    with force_locale(_locale()):
        data = pdf_bytes(item, clock.now())
    auditlog.record("statement.downloaded", item, year=year, format="pdf")
    db.session.commit()
    return exports.send(data, f"statement-{year}.pdf", "pdf")


@bp.route("/<year:year>.xlsx")
@require(STATEMENTS)
def xlsx(year: int):
    item = access.statement_or_404(_me(), year)
    full = access.allows(_me(), access.STATEMENT_INCIDENTS)
    with force_locale(_locale()):
        data = xlsx_bytes(item, clock.now(), with_incidents=full)
    auditlog.record("statement.downloaded", item, year=year, format="xlsx", incidents=full)
    db.session.commit()
    return exports.send(data, f"statement-{year}-appendix.xlsx", "xlsx")


# The personal annual confirmation -----------------------------------------------------------

@bp.route("/confirmation")
@require(CONFIRM)
def my_confirmation():
    return redirect(url_for("statement.confirmation",
                            year=confirmations.default_year(_me().agency, clock.now())))


@bp.route("/confirmation/<year:year>", methods=["GET", "POST"])
@require(CONFIRM)
def confirmation(year: int):
    me, now = _me(), clock.now()
    if not confirmations.must_confirm(me, year):
        abort(404)
    form = ConfirmationForm()

    def page(status: int):
        return render_template(
            "statement/confirmation.html", form=form, year=year,
            given=confirmations.of(me, year), is_open=confirmations.is_open(me.agency, year, now),
            opens_on=confirmations.opens_on(year),
        ), status

    if not form.validate_on_submit():
        return page(400 if form.is_submitted() else 200)
    return attempt(lambda: confirmations.confirm(me, year, form.exceptions.data or "", now),
                   done=_("Thank you: your confirmation for %(year)d has been recorded.",
                          year=year),
                   then=url_for("statement.confirmation", year=year), again=page)
