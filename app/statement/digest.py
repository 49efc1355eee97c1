"""The digest of the records a statement's figures came from, and its verification.

A draft stores the digest of every record it counted; signing locks it only if the record still
gives exactly the draft; `verify` recomputes figures and digest later (`flask statement verify`).
Records filed after signing are kept out of both, so a signed statement still verifies.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from operator import itemgetter

import sqlalchemy as sa
from flask_babel import gettext as _
from sqlalchemy.dialects.postgresql import aggregate_order_by

from app.core import auditlog
from app.core.codes import StatementStatus
from app.core.extensions import db
from app.filing import records
from app.filing.tally import INSERTS
from app.models import (
    Agency,
    AnnualConfirmation,
    AnnualStatement,
    DigestPart,
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
from app.statement import yearlock
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
# look like a changed record of the signed year. Statements signed in earlier formats still
# verify (`verify` tries 4, 3, 2, then the first format).
# Format 4 is format 3 with the reports month by month (see "Format 4" below).
FORMATS = {2: "records-digest/2", 3: "records-digest/3", 4: "records-digest/4"}
CURRENT = 4
FORMAT = FORMATS[CURRENT]
BATCH = 20_000


def _person(year: int, version: int) -> tuple[sa.ColumnElement, ...]:
    """The columns of a person's line in format `version`."""
    if version == 2:
        return PERSON
    in_year = sa.case((Employment.ended_on <= date(year, 12, 31), Employment.ended_on),
                      else_=sa.null())
    if version == 3:
        return (*PERSON[:3], in_year)
    # Format 4 also writes the months the period owns (its last one only if in the year): which
    # reports a month counts then follows from these lines alone (a month's kept hash).
    last = sa.case((Employment.last_period <= f"{year:04d}-12", Employment.last_period),
                   else_=sa.null())
    return (*PERSON[:3], in_year, Employment.first_period, last)


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


def _people_query(agency_id: int, year: int, dialect: str, version: int) -> sa.Select:
    return auditors_of_year(sa.select(_line(_person(year, version), dialect)).select_from(User),
                            agency_id, year).order_by(User.id, Employment.started_on)


def _report_queries(agency_id: int, year: int, dialect: str,
                    months: list[str] | None = None) -> list[tuple[str, sa.Select]]:
    """The year's reports with their versions (a report is filed with its first version), and
    their lines to incidents, in version id order; with `months` (format 4) only those months,
    each line followed by its month's number, the reports in month order first."""
    counted = reports_of_year(agency_id, year)
    month: tuple[sa.ColumnElement, ...] = ()
    if months is not None:
        # The month as a number (1-12: no string to make for each of a million rows).
        month = (sa.cast(sa.func.substr(MonthlyReport.period, 6, 2), sa.Integer),)
        if months != _months(year):
            counted = sa.and_(counted, MonthlyReport.period.in_(months))
    link = report_version_incident.c
    line = lambda *columns: _line(columns, dialect)  # noqa: E731
    table = _record_columns
    return [
        ("monthly_report+report_version",
         sa.select(line(*table(MonthlyReport), *table(ReportVersion)), *month)
         .select_from(ReportVersion)
         .join(MonthlyReport, MonthlyReport.id == ReportVersion.report_id).where(counted)
         .order_by(*((MonthlyReport.period,) if month else ()), ReportVersion.id)),
        # In id order whatever the months: ordered by month, the query would start from the
        # year's reports instead of these few lines (2.2 s instead of 0.1 at 100,000 auditors).
        ("report_version_incident",
         sa.select(line(*report_version_incident.columns), *month)
         .select_from(report_version_incident)
         .join(ReportVersion, ReportVersion.id == link.report_version_id)
         .join(MonthlyReport, MonthlyReport.id == ReportVersion.report_id).where(counted)
         .order_by(link.report_version_id, link.incident_version_id)),
    ]


def _other_queries(agency_id: int, year: int, dialect: str) -> list[tuple[str, sa.Select]]:
    """The records after the reports: incidents, their versions and reviews, confirmations,
    routes."""
    first, last = f"{year:04d}-01", f"{year:04d}-12"
    people = auditors_of_year(sa.select(User.id).select_from(User), agency_id, year)
    incidents = sa.select(Incident.id).where(incidents_of_year(agency_id, year))
    line = lambda *columns: _line(columns, dialect)  # noqa: E731
    table = _record_columns
    return [
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


def _line_queries(agency_id: int, year: int, dialect: str,
                  version: int) -> list[tuple[str, sa.Select]]:
    """Format 2's (and 3's) records, each table in an order its indexes give without
    sorting."""
    return [("user", _people_query(agency_id, year, dialect, version)),
            *_report_queries(agency_id, year, dialect), *_other_queries(agency_id, year, dialect)]


OPTIONAL = frozenset({"incident_route"})


def _batches(connection: sa.Connection, query: sa.Select) -> Iterator[list[tuple]]:
    """The query's rows in batches, straight from a DBAPI cursor (on PostgreSQL a server-side
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
            yield rows
    finally:
        cursor.close()


def _joined(rows: Iterable[tuple]) -> bytes:
    """Lines (each row's first column), each ended by a newline, as UTF-8."""
    return ("\n".join(row[0] for row in rows) + "\n").encode("utf-8")


def _hash_tables(hashes: list[hashlib._Hash], connection: sa.Connection,
                 queries: list[tuple[str, sa.Select]]) -> None:
    """Each table's name, then its lines, into every one of `hashes`."""
    for name, query in queries:
        optional = name in OPTIONAL
        if not optional:
            _update(hashes, f"#{name}\n".encode())
        for rows in _batches(connection, query):
            if optional:  # an optional table is named once it has a row
                _update(hashes, f"#{name}\n".encode())
                optional = False
            _update(hashes, _joined(rows))


def _update(hashes: list[hashlib._Hash], data: bytes) -> None:
    for item in hashes:
        item.update(data)


def records_digest(agency: Agency, year: int, version: int = CURRENT, *, reuse: bool = False,
                   keep: bool = False, parallel: bool = False) -> str:
    """SHA-256 (format 4, or 3, or 2) over every record the year's figures come from: the
    format's name, then for each table its name and one canonical JSON line per row, written
    by the database; in format 4 each month's reports by the hash of their lines. `reuse`:
    take a month's kept hash while it is valid; `keep`: keep the months' hashes read (the
    draft; the signature reads every month, and `verify` neither reuses nor keeps);
    `parallel`: read the months on two connections at once (`_read_months`)."""
    connection = db.session.connection()
    dialect = connection.dialect.name
    digest = hashlib.sha256(FORMATS[version].encode() + b"\n")
    if version < 4:
        _hash_tables([digest], connection, _line_queries(agency.id, year, dialect, version))
        return digest.hexdigest()
    months = _month_hashes(agency.id, year, _people_hash([digest], agency.id, year),
                           reuse=reuse, keep=keep, parallel=parallel)
    for period, month in months.items():
        digest.update(f"#month {period} {month}\n".encode())
    _hash_tables([digest], connection, _other_queries(agency.id, year, dialect))
    return digest.hexdigest()


# Format 4 ------------------------------------------------------------------------------------
#
# Format 3's records, but the reports (with their versions and their lines to incidents), nearly
# all of the lines (1.1 M at 100,000 auditors), month by month: a month's hash is SHA-256 over
# "#monthly_report+report_version", its lines, "#report_version_incident", its lines; the digest
# holds, after the people, one line "#month YYYY-MM <hash>" per month of the year, then the
# other tables as in format 3. A draft keeps each month's hash (models.DigestPart) and reads a
# month again only once a version of it has been filed since, or the people in scope (whose
# lines, in format 4, say which months each period owns) or the lines' columns have changed.
# Records are never edited in the portal (a change is a new version); one changed behind its
# back is not seen by the draft, but by the signature, which reads every month (and keeps what
# it read, so the next draft is made from the records as they are), and by `verify`.


def _months(year: int) -> list[str]:
    return [f"{year:04d}-{month:02d}" for month in range(1, 13)]


def _people_hash(hashes: list[hashlib._Hash], agency_id: int, year: int) -> str:
    """The people's lines into `hashes`; returns the hash of those lines alone."""
    people = hashlib.sha256()
    connection = db.session.connection()
    _hash_tables([*hashes, people], connection,
                 [("user", _people_query(agency_id, year, connection.dialect.name, 4))])
    return people.hexdigest()


def _scope(agency_id: int, year: int, people: str) -> str:
    """What a month's hash stands for besides its reports: the format, the agency and year, the
    people in scope with their periods, and the columns the lines hold (a migration that adds
    one makes every kept hash stale)."""
    layout = [c.name for model in (MonthlyReport, ReportVersion) for c in _record_columns(model)]
    layout += [c.name for c in report_version_incident.columns]
    text = f"{FORMATS[4]}|{agency_id}|{year}|{people}|{','.join(layout)}"
    return hashlib.sha256(text.encode()).hexdigest()


def _kept(agency_id: int, months: list[str], scope: str) -> dict[str, str]:
    """The months whose kept hash is still valid: same scope, no version filed since."""
    parts = db.session.execute(
        sa.select(DigestPart.period, DigestPart.last_version_id, DigestPart.digest)
        .where(DigestPart.agency_id == agency_id, DigestPart.period.in_(months),
               DigestPart.scope == scope)).all()
    if not parts:
        return {}
    # Only the versions above the lowest mark are read (the id index): few, or none.
    newest = dict(db.session.execute(
        sa.select(MonthlyReport.period, sa.func.max(ReportVersion.id))
        .join(MonthlyReport, MonthlyReport.id == ReportVersion.report_id)
        .where(ReportVersion.id > min(part.last_version_id for part in parts),
               MonthlyReport.period.in_([part.period for part in parts]))
        .group_by(MonthlyReport.period)).all())
    return {part.period: part.digest for part in parts
            if newest.get(part.period, 0) <= part.last_version_id}


def _months_on(connection: sa.Connection, agency_id: int, year: int,
               months: list[str]) -> dict[str, str]:
    """Each of `months` -> the hash of its report lines, read on `connection`."""
    if connection.dialect.name == "postgresql":
        return _months_hashed_there(connection, agency_id, year, months)
    hashes = {int(period[5:]): hashlib.sha256() for period in months}
    reports, links = _report_queries(agency_id, year, connection.dialect.name, months)
    _update(list(hashes.values()), f"#{reports[0]}\n".encode())
    for rows in _batches(connection, reports[1]):  # month by month
        for month, lines in itertools.groupby(rows, key=itemgetter(1)):
            hashes[month].update(_joined(lines))
    _update(list(hashes.values()), f"#{links[0]}\n".encode())
    by_month: dict[int, list[tuple]] = {month: [] for month in hashes}
    for rows in _batches(connection, links[1]):  # in id order: a line per incident listed
        for row in rows:
            by_month[row[1]].append(row)
    for month, lines in by_month.items():
        if lines:
            hashes[month].update(_joined(lines))
    return {f"{year:04d}-{month:02d}": item.hexdigest() for month, item in hashes.items()}


# What PostgreSQL may sort in memory while it hashes the months (per sort, for the transaction):
# a month's lines are 11 MB at 100,000 auditors (90,000 lines). 256 MB measured no faster.
PG_WORK_MEM = "64MB"


def _months_hashed_there(connection: sa.Connection, agency_id: int, year: int,
                         months: list[str]) -> dict[str, str]:
    """PostgreSQL hashes each month itself: the same headers and lines in the same order
    through its own sha256, so that a million lines are not sent to Python to be hashed (a
    quarter of the read at 100,000 auditors; tests/statement check the digest against one
    computed in Python)."""
    (reports, report_lines), (links, link_lines) = _report_queries(
        agency_id, year, "postgresql", months)
    link = report_version_incident.c
    texts = (_month_texts(report_lines, ReportVersion.id),
             _month_texts(link_lines, link.report_version_id, link.incident_version_id))
    wanted = sa.values(sa.column("month", sa.Integer), name="wanted").data(
        [(int(period[5:]),) for period in months])
    text = (sa.literal(f"#{reports}\n") + sa.func.coalesce(texts[0].c.text, "")
            + sa.literal(f"#{links}\n") + sa.func.coalesce(texts[1].c.text, ""))
    query = (sa.select(wanted.c.month,
                       sa.func.encode(sa.func.sha256(sa.func.convert_to(text, "UTF8")), "hex"))
             .select_from(wanted)
             .outerjoin(texts[0], texts[0].c.month == wanted.c.month)
             .outerjoin(texts[1], texts[1].c.month == wanted.c.month))
    connection.exec_driver_sql(f"SET LOCAL work_mem = '{PG_WORK_MEM}'")
    return {f"{year:04d}-{month:02d}": hashed for month, hashed in connection.execute(query)}


def _month_texts(query: sa.Select, *order: sa.ColumnElement) -> sa.Subquery:
    """A query of lines and their month, as each month's text: its lines in `order`, each
    ended by a newline."""
    keys = query.add_columns(*(key.label(f"key_{n}") for n, key in enumerate(order)))
    rows = keys.order_by(None).subquery()
    line, month = rows.c[0], rows.c[1]
    ordered = aggregate_order_by(sa.literal(""), *(rows.c[f"key_{n}"] for n in range(len(order))))
    return (sa.select(month.label("month"), sa.func.string_agg(line + "\n", ordered)
                      .label("text")).group_by(month).subquery())


def _months_apart(engine: sa.Engine, agency_id: int, year: int,
                  months: list[str]) -> dict[str, str]:
    with engine.connect() as connection:
        return _months_on(connection, agency_id, year, months)


def _read_months(agency_id: int, year: int, months: list[str], *,
                 parallel: bool = False) -> dict[str, str]:
    """Each of `months` -> the hash of its report lines, read from the records; `parallel`:
    every other month on a second connection at the same time (the other core: the database
    builds the lines). Only for a transaction that has written nothing the lines hold (the
    signature, under the agency's signing lock), since the second connection sees only what
    is committed."""
    connection = db.session.connection()
    if not parallel or len(months) < 2:
        return _months_on(connection, agency_id, year, months)
    with ThreadPoolExecutor(max_workers=1) as pool:
        theirs = pool.submit(_months_apart, db.engine, agency_id, year, months[1::2])
        found = _months_on(connection, agency_id, year, months[0::2]) | theirs.result()
    return {period: found[period] for period in months}


def _store(agency_id: int, scope: str, mark: int, hashes: dict[str, str]) -> None:
    insert = INSERTS[db.session.get_bind().dialect.name](DigestPart)
    statement = insert.values([{"agency_id": agency_id, "period": period, "scope": scope,
                                "last_version_id": mark, "digest": value}
                               for period, value in hashes.items()])
    db.session.execute(statement.on_conflict_do_update(
        index_elements=[DigestPart.agency_id, DigestPart.period],
        set_={name: getattr(statement.excluded, name)
              for name in ("scope", "last_version_id", "digest")}))


def _month_hashes(agency_id: int, year: int, people: str, *, reuse: bool, keep: bool,
                  parallel: bool = False) -> dict[str, str]:
    """Each month of the year, in order -> the hash of its report lines."""
    months, scope = _months(year), _scope(agency_id, year, people)
    # Read before the lines: a version filed while they are read is in them or above the mark
    # (the caller holds the agency's signing lock, so no filing of its people is under way
    # with a lower id on PostgreSQL; SQLite has one writer at a time).
    mark = db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(ReportVersion.id), 0)))
    found = _kept(agency_id, months, scope) if reuse else {}
    if read := [period for period in months if period not in found]:
        fresh = _read_months(agency_id, year, read, parallel=parallel)
        if keep:
            _store(agency_id, scope, mark, fresh)
        found.update(fresh)
    return {period: found[period] for period in months}


def keep_months(now: datetime) -> int:
    """Keep the month hashes of each agency's last year while it is unsigned (the scheduler's
    job), so that the draft prepared after the year reads only what changed since. An agency
    at a time, each in its transaction under its signing lock (its filings wait, as for a
    signature: seconds at 100,000 auditors). Returns how many agencies' years were kept."""
    kept = 0
    for agency in db.session.scalars(sa.select(Agency).order_by(Agency.id)).all():
        year = now.astimezone(records.deadline_rule(agency).tz).year - 1
        yearlock.hold_for_signing(agency.id)
        if not yearlock.locked(agency.id, year):
            _month_hashes(agency.id, year, _people_hash([], agency.id, year), reuse=True,
                          keep=True)
            kept += 1
        db.session.commit()
    return kept


def _signed_format(statement: AnnualStatement) -> tuple[str, int]:
    """(digest, format) of the records now, in the format the statement was signed in: the
    stored digest does not say which (it stays 64 hex digits), so each is tried, newest
    first; if none matches, the records changed, and the current format's digest is shown."""
    agency, year, signed = statement.agency, statement.year, statement.records_digest
    current = records_digest(agency, year)
    if current != signed:
        for version in sorted(FORMATS, reverse=True)[1:]:
            if records_digest(agency, year, version) == signed:
                return signed, version
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
