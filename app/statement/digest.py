"""The digest of the records a statement's figures came from, and its verification.

A draft stores the digest of every record it counted; signing locks it only if the record still
gives exactly the draft; `verify` recomputes figures and digest later (`flask statement verify`).
Records filed after signing are kept out of both, so a signed statement still verifies.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
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
    Employment,
    Incident,
    IncidentRoute,
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
    reports_of_year,
    stored,
)


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


# Who holds the key to a registration (app/keys) is custody, not a record the figures come
# from: the office's own wrap is made when a member first opens it, a registrant's is renewed
# after a reset. Left out, so that neither changes a signed statement's digest (and digests
# signed before these columns existed still verify).
CUSTODY_COLUMNS = frozenset({"key_for_agency", "key_for_registrant", "key_for_office",
                             "registrant_ring_id"})


def _record_columns(model: type) -> list[sa.Column]:
    """The model's columns in table order, but the keys' custody."""
    return [c for c in model.__table__.columns if c.name not in CUSTODY_COLUMNS]


def _columns(model: type) -> sa.Select:
    """Every record column of the model's table, in table order, as plain values."""
    return sa.select(*_record_columns(model))


# A person in scope, one line per period of theirs in the agency that owns a month of the year:
# the period's dates stand where the user's join and leave dates stood before employment had
# periods, so a statement signed then (one period per person, those very dates) still verifies.
PERSON = (User.id, User.staff_no, Employment.started_on, Employment.ended_on)


def _record_queries(agency_id: int, year: int) -> list[tuple[str, sa.Select]]:
    """Every record the figures come from, each table in id order, every column that can
    change a figure (all of them for filings, incidents, reviews and confirmations)."""
    people = auditors_of_year(sa.select(User.id).select_from(User), agency_id, year)
    reports = sa.select(MonthlyReport.id).where(reports_of_year(agency_id, year))
    versions = sa.select(ReportVersion.id).where(ReportVersion.report_id.in_(reports))
    incidents = sa.select(Incident.id).where(incidents_of_year(agency_id, year))
    link = report_version_incident.c
    return [
        # Who was in scope, not what an administrator may later rename or move: names and
        # departments stay out, so a renamed department does not look like a changed record.
        ("user", auditors_of_year(sa.select(*PERSON).select_from(User), agency_id, year)
         .order_by(User.id, Employment.started_on)),
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


def legacy_records_digest(agency: Agency, year: int) -> str:
    """The first format (statements signed before format 2): SHA-256 over one JSON line per
    row (table, columns in table order, UTC ISO times), each row turned into Python objects
    and serialised one by one (30-60 s at 100,000 auditors). Kept so that their stored
    digests still verify."""
    digest = hashlib.sha256()
    for name, query in _record_queries(agency.id, year):
        result = db.session.execute(query.execution_options(yield_per=10_000))
        for row in result:
            line = json.dumps([name, [_plain(value) for value in row]], ensure_ascii=False,
                              separators=(",", ":"))
            digest.update(line.encode("utf-8") + b"\n")
    return digest.hexdigest()


# Format 2 -------------------------------------------------------------------------------------
#
# The same records and columns as the first format, but each row is serialised by the database
# itself, as one compact JSON array of its column values, and only those lines cross into
# Python (a fetch of one string per row; no Python object per value). The values are written in
# a form both databases produce alike, so a digest is the same on SQLite and PostgreSQL:
# integers and text as JSON, booleans as 0 / 1, dates YYYY-MM-DD, times in UTC
# "YYYY-MM-DD HH:MM:SS.ffffff", NULL as null (`canonical_line` says it in Python). The input
# starts with FORMAT and names each table before its lines.

# Format 3 is format 2 but for the end of a person's period, written only if it falls in the
# year: a transfer or a leaving after the year was signed ends the period then, and must not
# look like a changed record of the signed year. Statements signed in format 2 still verify
# (`verify` tries 3, then 2, then the first format).
FORMATS = {2: "records-digest/2", 3: "records-digest/3"}
CURRENT = 3
FORMAT = FORMATS[CURRENT]
BATCH = 20_000


def _person(year: int, version: int) -> tuple[sa.ColumnElement, ...]:
    """The columns of a person's line in format `version`."""
    if version == 2:
        return PERSON
    in_year = sa.case((Employment.ended_on <= date(year, 12, 31), Employment.ended_on),
                      else_=sa.null())
    return (*PERSON[:3], in_year)


def canonical_value(value: object) -> object:
    """A column value as format 2 writes it (the reference for what the SQL produces)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    return value


def canonical_line(values: Iterable[object]) -> str:
    return json.dumps([canonical_value(v) for v in values], ensure_ascii=False,
                      separators=(",", ":"))


def _sql_value(column: sa.ColumnElement, dialect: str) -> sa.ColumnElement:
    kind = column.type
    if isinstance(kind, sa.types.TypeDecorator):
        kind = kind.impl
    if dialect == "sqlite":
        # Stored as SQLAlchemy writes them: booleans 0 / 1, dates and UTC times as that text.
        return sa.type_coerce(column, sa.String) if isinstance(kind, sa.Date | sa.DateTime) \
            else column
    if isinstance(kind, sa.Boolean):
        return sa.cast(column, sa.Integer)
    if isinstance(kind, sa.DateTime):
        return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM-DD HH24:MI:SS.US")
    if isinstance(kind, sa.Date):
        return sa.func.to_char(column, "YYYY-MM-DD")
    return column


def _line(columns: Iterable[sa.ColumnElement], dialect: str) -> sa.ColumnElement[str]:
    """The row as one compact JSON array, written by the database."""
    values = [_sql_value(column, dialect) for column in columns]
    if dialect == "sqlite":
        return sa.func.json_array(*values, type_=sa.String)
    parts = [_pg_json(column, value) for column, value in zip(columns, values, strict=True)]
    return sa.literal("[") + sa.func.concat_ws(",", *parts) + sa.literal("]")


def _pg_json(column: sa.ColumnElement, value: sa.ColumnElement) -> sa.ColumnElement[str]:
    """One value as JSON text on PostgreSQL: integers (and booleans as 0 / 1) as their text,
    dates and times quoted, only free text through to_json (which escapes it)."""
    kind = column.type.impl if isinstance(column.type, sa.types.TypeDecorator) else column.type
    if isinstance(kind, sa.Integer | sa.Boolean):
        text = sa.cast(value, sa.Text)
    elif isinstance(kind, sa.Date | sa.DateTime):
        text = sa.literal('"') + value + sa.literal('"')
    else:
        text = sa.cast(sa.func.to_json(value), sa.Text)
    nullable = getattr(column, "nullable", True)  # an expression may be NULL
    return text if nullable is False else sa.func.coalesce(text, "null")


def _line_queries(agency_id: int, year: int, dialect: str,
                  version: int) -> list[tuple[str, sa.Select]]:
    """Format 2's (and 3's) records, each table in an order its indexes give without
    sorting."""
    first, last = f"{year:04d}-01", f"{year:04d}-12"
    people = auditors_of_year(sa.select(User.id).select_from(User), agency_id, year)
    counted = reports_of_year(agency_id, year)
    incidents = sa.select(Incident.id).where(incidents_of_year(agency_id, year))
    link = report_version_incident.c
    line = lambda *columns: _line(columns, dialect)  # noqa: E731
    table = _record_columns
    return [
        ("user", auditors_of_year(sa.select(line(*_person(year, version))).select_from(User),
                                  agency_id, year).order_by(User.id, Employment.started_on)),
        # A report with each of its versions (a report is filed with its first version).
        ("monthly_report+report_version",
         sa.select(line(*table(MonthlyReport), *table(ReportVersion))).select_from(ReportVersion)
         .join(MonthlyReport, MonthlyReport.id == ReportVersion.report_id).where(counted)
         .order_by(ReportVersion.id)),
        ("report_version_incident",
         sa.select(line(*report_version_incident.columns)).select_from(report_version_incident)
         .join(ReportVersion, ReportVersion.id == link.report_version_id)
         .join(MonthlyReport, MonthlyReport.id == ReportVersion.report_id).where(counted)
         .order_by(link.report_version_id, link.incident_version_id)),
        ("incident", sa.select(line(*table(Incident))).where(Incident.id.in_(incidents))
         .order_by(Incident.id)),
        ("incident_version", sa.select(line(*table(IncidentVersion)))
         .where(IncidentVersion.incident_id.in_(incidents)).order_by(IncidentVersion.id)),
        ("review", sa.select(line(*table(Review))).where(Review.incident_id.in_(incidents))
         .order_by(Review.id)),
        ("annual_confirmation", sa.select(line(*table(AnnualConfirmation)))
         .where(AnnualConfirmation.year == year, AnnualConfirmation.user_id.in_(people))
         .order_by(AnnualConfirmation.id)),
        # Added after format 2 was first signed: written only when it holds rows (OPTIONAL),
        # so that every digest signed before it still verifies.
        ("incident_route", sa.select(line(*table(IncidentRoute))).join(Incident)
         .where(IncidentRoute.from_agency_id == agency_id,
                Incident.period.between(first, last), Incident.after_signing.is_(False))
         .order_by(IncidentRoute.id)),
    ]


OPTIONAL = frozenset({"incident_route"})


def _lines(connection: sa.Connection, query: sa.Select) -> Iterator[list[str]]:
    """The query's lines in batches, straight from a DBAPI cursor (on PostgreSQL a server-side
    one, so a million lines never sit in memory at once). The query holds only constants the
    code sets (ids, years, dates), rendered inline."""
    sql = str(query.compile(connection, compile_kwargs={"literal_binds": True}))
    raw = connection.connection.dbapi_connection
    assert raw is not None
    named = connection.dialect.name == "postgresql"
    if named:
        # A declared cursor is planned for its first rows (index lookups row by row); all of
        # them are read: plan for that (hash joins), for this transaction only.
        connection.exec_driver_sql("SET LOCAL cursor_tuple_fraction = 1.0")
    cursor = raw.cursor(name="records_digest") if named else raw.cursor()
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(BATCH):
            yield [row[0] for row in rows]
    finally:
        cursor.close()


def records_digest(agency: Agency, year: int, version: int = CURRENT) -> str:
    """SHA-256 (format 3, or 2) over every record the year's figures come from: the format's
    name, then for each table its name and one canonical JSON line per row, written by the
    database."""
    connection = db.session.connection()
    digest = hashlib.sha256(FORMATS[version].encode() + b"\n")
    for name, query in _line_queries(agency.id, year, connection.dialect.name, version):
        named = name not in OPTIONAL
        if named:
            digest.update(f"#{name}\n".encode())
        for lines in _lines(connection, query):
            if not named:  # an optional table is named once it has a row
                digest.update(f"#{name}\n".encode())
                named = True
            digest.update(("\n".join(lines) + "\n").encode("utf-8"))
    return digest.hexdigest()


def _signed_format(statement: AnnualStatement) -> tuple[str, int]:
    """(digest, format) of the records now, in the format the statement was signed in: the
    stored digest does not say which (it stays 64 hex digits), so each is tried, newest
    first; if none matches, the records changed, and the current format's digest is shown."""
    agency, year, signed = statement.agency, statement.year, statement.records_digest
    current = records_digest(agency, year)
    if current != signed:
        if records_digest(agency, year, 2) == signed:
            return signed, 2
        if legacy_records_digest(agency, year) == signed:
            return signed, 1
    return current, CURRENT


@dataclass(frozen=True)
class Verdict:
    ok: bool
    signed_digest: str
    digest: str
    figures_match: bool
    log_problem: str = ""  # the audit log no longer passes through the head noted at signing
    format: int = CURRENT  # the digest format the signed digest was recomputed in


def verify(statement: AnnualStatement) -> Verdict:
    """Recompute the figures (as of the signing) and the records' digest, and compare them
    with what was signed."""
    if statement.status != StatementStatus.LOCKED or statement.signed_at is None:
        raise StatementError(_("The statement for %(year)d is not signed.",
                               year=statement.year))
    signed = stored(statement)
    # The agencies below as they were at signing (the tree may have been rearranged since),
    # each with its statement as it stood signed then.
    again = compute(statement.agency, statement.year, statement.signed_at,
                    below=[row.agency_id for row in signed.below])
    digest, version = _signed_format(statement)
    # The headline the roll-up of the tree above shows must say what the figures say.
    same = again.facts() == signed.facts() and statement.headline == signed.headline()
    chain = auditlog.verify([auditlog.Checkpoint(statement.log_head or None,
                                                 statement.log_count)])
    return Verdict(same and digest == statement.records_digest and chain.ok,
                   statement.records_digest, digest, same, chain.problem, version)
