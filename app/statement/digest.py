"""The digest of the records a statement's figures came from, and its verification.

A draft stores the digest of every record it counted; signing locks it only if the record still
gives exactly the draft; `verify` recomputes figures and digest later (`flask statement verify`).
Records filed after signing are kept out of both, so a signed statement still verifies.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa
from flask_babel import gettext as _

from app.core import auditlog
from app.core.codes import StatementStatus
from app.core.extensions import db
from app.models import (
    Agency,
    AnnualConfirmation,
    AnnualStatement,
    Incident,
    IncidentVersion,
    MonthlyReport,
    ReportVersion,
    Review,
    User,
    report_version_incident,
)
from app.statement.figures import (
    StatementError,
    auditors_of_year,
    compute,
    incidents_of_year,
    stored,
)


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _columns(model: type) -> sa.Select:
    """Every column of the model's table, in table order, as plain values."""
    return sa.select(*model.__table__.columns)


def _record_queries(agency_id: int, year: int) -> list[tuple[str, sa.Select]]:
    """Every record the figures come from, each table in id order, every column that can
    change a figure (all of them for filings, incidents, reviews and confirmations)."""
    first, last = f"{year:04d}-01", f"{year:04d}-12"
    people = auditors_of_year(sa.select(User.id).select_from(User), agency_id, year)
    reports = sa.select(MonthlyReport.id).where(MonthlyReport.user_id.in_(people),
                                                MonthlyReport.period.between(first, last),
                                                MonthlyReport.after_signing.is_(False))
    versions = sa.select(ReportVersion.id).where(ReportVersion.report_id.in_(reports))
    incidents = sa.select(Incident.id).where(incidents_of_year(agency_id, year))
    link = report_version_incident.c
    return [
        # Who was in scope, not what an administrator may later rename or move: names and
        # departments stay out, so a renamed department does not look like a changed record.
        ("user", auditors_of_year(
            sa.select(User.id, User.staff_no, User.joined_on, User.left_on).select_from(User),
            agency_id, year).order_by(User.id)),
        ("monthly_report", _columns(MonthlyReport).where(MonthlyReport.id.in_(reports))
         .order_by(MonthlyReport.id)),
        ("report_version", _columns(ReportVersion).where(ReportVersion.id.in_(versions))
         .order_by(ReportVersion.id)),
        ("report_version_incident", sa.select(report_version_incident)
         .where(link.report_version_id.in_(versions))
         .order_by(link.report_version_id, link.incident_version_id)),
        ("incident", _columns(Incident).where(Incident.id.in_(incidents))
         .order_by(Incident.id)),
        ("incident_version", _columns(IncidentVersion)
         .where(IncidentVersion.incident_id.in_(incidents)).order_by(IncidentVersion.id)),
        ("review", _columns(Review).where(Review.incident_id.in_(incidents))
         .order_by(Review.id)),
        ("annual_confirmation", _columns(AnnualConfirmation)
         .where(AnnualConfirmation.year == year, AnnualConfirmation.user_id.in_(people))
         .order_by(AnnualConfirmation.id)),
    ]


def records_digest(agency: Agency, year: int) -> str:
    """SHA-256 over a canonical serialisation (one JSON line per row: table, columns in
    table order, UTC ISO times) of every record the year's figures come from."""
    digest = hashlib.sha256()
    for name, query in _record_queries(agency.id, year):
        result = db.session.execute(query.execution_options(yield_per=10_000))
        for row in result:
            line = json.dumps([name, [_plain(value) for value in row]], ensure_ascii=False,
                              separators=(",", ":"))
            digest.update(line.encode("utf-8") + b"\n")
    return digest.hexdigest()


@dataclass(frozen=True)
class Verdict:
    ok: bool
    signed_digest: str
    digest: str
    figures_match: bool
    log_problem: str = ""  # the audit log no longer passes through the head noted at signing


def verify(statement: AnnualStatement) -> Verdict:
    """Recompute the figures (as of the signing) and the records' digest, and compare them
    with what was signed."""
    if statement.status != StatementStatus.LOCKED or statement.signed_at is None:
        raise StatementError(_("The statement for %(year)d is not signed.",
                               year=statement.year))
    again = compute(statement.agency, statement.year, statement.signed_at)
    digest = records_digest(statement.agency, statement.year)
    same = again.facts() == stored(statement).facts()
    chain = auditlog.verify([auditlog.Checkpoint(statement.log_head or None,
                                                 statement.log_count)])
    return Verdict(same and digest == statement.records_digest and chain.ok,
                   statement.records_digest, digest, same, chain.problem)
