"""The statement's workflow: prepare, sign and lock, addenda (they only flush; callers commit).

The discipline office prepares a draft (figures and the digest of the records they came from
are stored); a leader signs it after entering their password again, which locks it only if the
record still gives exactly the draft; the audit log's head hash at that moment is stored with it.

A year is signed only once it is over and its December reports are due (`signable_from`):
before that a draft is a provisional preview. After the lock nothing a person must record is
refused: a registration or monthly report of the signed year is accepted, marked after_signing,
kept out of the figures and the digest (so `verify` still matches what was signed), and shown
against the statement (`late_records`) until an addendum accounts for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from flask_babel import format_date
from flask_babel import gettext as _

from app.auth import security
from app.core import access, auditlog
from app.core.codes import StatementStatus
from app.core.extensions import db
from app.filing import records, scope
from app.filing.periods import Period
from app.models import (
    Agency,
    AnnualStatement,
    Employment,
    Incident,
    MonthlyReport,
    StatementAddendum,
    User,
)
from app.statement import yearlock
from app.statement.digest import records_digest
from app.statement.figures import StatementError, children, compute, signed_below, stored


class RecordChanged(StatementError):
    """The record no longer gives the draft. The months' hashes the signature read are kept
    (the caller commits them): a draft made from hashes kept before a record was changed
    behind the portal's back is then prepared again from the record as it is."""


def of_year(agency: Agency, year: int) -> AnnualStatement | None:
    return db.session.scalar(sa.select(AnnualStatement).where(
        AnnualStatement.agency_id == agency.id, AnnualStatement.year == year))



def signable_from(agency: Agency, year: int) -> datetime:
    """When the statement of `year` may be signed: once the year is over and the deadline of
    its December reports has passed (agency time zone, working-day shift included). Before
    that, a clean conclusion would state what the record cannot know yet."""
    return records.deadline_rule(agency).deadline(Period(year, 12))


def signing_refusal(agency: Agency, year: int, now: datetime) -> str | None:
    """Why the statement of `year` cannot be signed at `now`, in the user's language; None
    once it can. Shown on the page before any signing form, and checked again by `sign`."""
    start = signable_from(agency, year)
    if now >= start:
        return None
    day = start.astimezone(records.deadline_rule(agency).tz).date()
    return _("The statement for %(year)d can be signed from %(day)s, once the year is over and "
             "the deadline of its December reports has passed. Until then the draft is a "
             "provisional preview.", year=year, day=format_date(day, "long"))


def is_provisional(item: AnnualStatement, now: datetime) -> bool:
    """A draft of a year that cannot be signed yet: its figures will still change."""
    return (
        item.status == StatementStatus.DRAFT
        and signing_refusal(item.agency, item.year, now) is not None
    )


def confirm_signer(user: User, password: str, code: str) -> str | None:
    """The check a leader passes again before signing: their password and their second factor
    (a fresh code). Returns what is wrong, in the user's language, or None."""
    return security.reauthenticate(user, password, code)


def prepare(agency: Agency, year: int, actor: User, now: datetime) -> AnnualStatement:
    """The discipline office prepares (or refreshes) the draft for `year`."""
    if year > now.astimezone(records.deadline_rule(agency).tz).year:
        raise StatementError(_("The year %(year)d has not begun.", year=year))
    yearlock.hold_for_signing(agency.id)  # a signature in progress sees this draft or none
    statement = of_year(agency, year)
    if statement is not None and statement.status == StatementStatus.LOCKED:
        raise StatementError(_("The statement for %(year)d is already signed and locked.",
                               year=year))
    if statement is None:
        statement = AnnualStatement(agency=agency, year=year)
        db.session.add(statement)
    statement.status = StatementStatus.DRAFT
    statement.prepared_by, statement.prepared_at = actor, now
    counted = compute(agency, year, now)
    statement.figures, statement.headline = counted.to_json(), counted.headline()
    statement.records_digest = records_digest(agency, year, reuse=True, keep=True)
    db.session.flush()
    auditlog.record("statement.prepared", statement, actor_id=actor.id, year=year,
                    digest=statement.records_digest)
    return statement


def document_number(agency: Agency, at: datetime) -> str:
    """The document number (发文字号) of a statement signed at `at`, from the agency's pattern:
    {year} the local year of signing, {n} one more than the statements it signed that year."""
    pattern = agency.document_number_pattern
    if not pattern:
        return ""
    tz = records.deadline_rule(agency).tz
    year = at.astimezone(tz).year
    start, end = (datetime(y, 1, 1, tzinfo=tz).astimezone(UTC) for y in (year, year + 1))
    signed = db.session.scalar(sa.select(sa.func.count()).select_from(AnnualStatement).where(
        AnnualStatement.agency_id == agency.id, AnnualStatement.status == StatementStatus.LOCKED,
        AnnualStatement.signed_at >= start, AnnualStatement.signed_at < end))
    return pattern.replace("{year}", str(year)).replace("{n}", str(signed + 1))


def sign(statement: AnnualStatement, leader: User, now: datetime, *,
         parallel: bool = False) -> None:
    """Lock the draft, if the record still gives exactly what was prepared and previewed.
    `parallel`: the caller's transaction has written no record (the sign view), so the
    records may be read on two connections at once (digest._read_months); a caller that
    wrote records it has not committed (the demo's loader) reads them on its own."""
    # No change of the year's records, and no second signature, while this one is checked.
    yearlock.hold_for_signing(statement.agency_id)
    db.session.refresh(statement)
    if statement.status == StatementStatus.LOCKED:
        raise StatementError(_("The statement for %(year)d is already signed and locked.",
                               year=statement.year))
    if not access.allows(leader, access.SIGN_STATEMENT):
        raise StatementError(_("Only a bureau leader can sign the statement."))
    if statement.prepared_by_id == leader.id:  # four eyes: who prepares does not also sign
        raise StatementError(_("You prepared this draft: another leader must sign it."))
    refusal = signing_refusal(statement.agency, statement.year, now)
    if refusal:
        raise StatementError(refusal)
    changed = RecordChanged(_("The record has changed since the draft was prepared: the "
                              "discipline office must prepare the statement again."))
    # Every record read, none taken from the draft's kept month hashes: what is signed is the
    # record as it is. The months read are kept, so that the next draft is made from them.
    # No filing of the agency is under way meanwhile (the lock).
    digest = records_digest(statement.agency, statement.year, keep=True, parallel=parallel)
    if digest != statement.records_digest:
        raise changed
    # The figures follow from those records and from which deadlines had passed. A draft
    # prepared once the year could be signed (every deadline of it passed) gives the same
    # figures now that its records are unchanged: it is signed as previewed, without
    # computing them a second time. An earlier draft was a provisional preview: compare.
    prepared = stored(statement)
    if statement.prepared_at < signable_from(statement.agency, statement.year) and \
            compute(statement.agency, statement.year, now).to_json() != prepared.to_json():
        raise changed
    # The agencies below sign on their own: one that signed since the draft (or was placed
    # below) changes the table of their statements.
    if signed_below(children(statement.agency), statement.year, now) != prepared.below:
        raise StatementError(_("A statement of an agency below has been signed since the "
                               "draft was prepared: the discipline office must prepare the "
                               "statement again."))
    statement.document_number = document_number(statement.agency, now)
    statement.status, statement.signed_by, statement.signed_at = StatementStatus.LOCKED, leader, now
    db.session.flush()
    auditlog.record("statement.signed", statement, actor_id=leader.id, year=statement.year,
                    digest=digest)
    # The chain as it stands with the signature in it: the log can no longer lose its tail
    # (this entry included) without `verify` noticing.
    statement.log_head, statement.log_count = auditlog.head()


INCIDENT, REPORT = "incident", "report"


@dataclass(frozen=True)
class LateRecord:
    """A registration or monthly report of a signed year, filed after the signature: outside
    the signed figures, shown against the statement until an addendum accounts for it."""

    kind: str
    id: int
    period: str
    staff_no: str
    filed_at: datetime
    addendum_id: int | None

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.id}"


def late_records(item: AnnualStatement) -> list[LateRecord]:
    """The records of the statement's year filed after it was signed, oldest first."""
    first, last = f"{item.year:04d}-01", f"{item.year:04d}-12"
    incidents = (sa.select(sa.literal(INCIDENT), Incident.id, Incident.period, User.staff_no,
                           Incident.registered_at, StatementAddendum.id)
                 .join(User, User.id == Incident.user_id)
                 .outerjoin(StatementAddendum, StatementAddendum.incident_id == Incident.id)
                 .where(Incident.agency_id == item.agency_id, Incident.after_signing,
                        Incident.period.between(first, last)))
    reports = (sa.select(sa.literal(REPORT), MonthlyReport.id, MonthlyReport.period,
                         User.staff_no, MonthlyReport.first_filed_at, StatementAddendum.id)
               .join(User, User.id == MonthlyReport.user_id)
               .join(Employment, sa.and_(Employment.user_id == MonthlyReport.user_id,
                                         scope.owns(MonthlyReport.period)))
               .outerjoin(StatementAddendum, StatementAddendum.report_id == MonthlyReport.id)
               .where(Employment.agency_id == item.agency_id, MonthlyReport.after_signing,
                      MonthlyReport.period.between(first, last)))
    rows = [LateRecord(*row) for query in (incidents, reports)
            for row in db.session.execute(query)]
    return sorted(rows, key=lambda r: (r.filed_at, r.kind, r.id))


def pending_late_records(item: AnnualStatement) -> list[LateRecord]:
    """Those no addendum accounts for yet: "N registrations after signing"."""
    return [record for record in late_records(item) if record.addendum_id is None]


def add_addendum(statement: AnnualStatement, author: User, text: str, now: datetime,
                 record: str = "") -> StatementAddendum:
    """An addendum to the signed statement, accounting for `record` (a LateRecord key) if
    given."""
    if statement.status != StatementStatus.LOCKED:
        raise StatementError(_("Addenda are for signed statements: prepare the draft again "
                               "instead."))
    if not text.strip():
        raise StatementError(_("Please write the text."))
    late = next((r for r in pending_late_records(statement) if r.key == record), None)
    if record and late is None:
        raise StatementError(_("That record is not one filed after signing that still waits "
                               "for an addendum."))
    addendum = StatementAddendum(statement=statement, author=author, at=now, text=text.strip(),
                                 incident_id=late.id if late and late.kind == INCIDENT else None,
                                 report_id=late.id if late and late.kind == REPORT else None)
    db.session.add(addendum)
    db.session.flush()
    auditlog.record("statement.addendum", statement, actor_id=author.id, year=statement.year,
                    addendum=addendum.id, record=record or None)
    return addendum
