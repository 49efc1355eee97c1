"""The portal's data model (PRODUCT.md's core objects), SQLAlchemy 2 style.

Filings are never edited in place: a MonthlyReport and an Incident are stable headers, and every
submission or correction adds a version row. Times are stored in UTC (timezone-aware).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask_login import UserMixin

from app.core import vocab
from app.core.codes import (
    Channel,
    IncidentKind,
    InvitationStatus,
    LinkPurpose,
    NoticeFailure,
    NoticeKind,
    NoticeStatus,
    ReviewStatus,
    ReviewStep,
    Role,
    RouteKind,
    StatementStatus,
)
from app.core.extensions import db
from app.keys.fields import SealedText
from app.keys.serverkey import ServerSealed


def utcnow() -> datetime:
    return datetime.now(UTC)


def one_of(column: str, codes: Iterable[str], *, blank: bool = False) -> sa.CheckConstraint:
    """The database refuses any value outside the column's closed set (app/core/codes.py, the
    vocabularies of app/core/vocab.py); NULL passes, as SQL has it, where the column allows it."""
    allowed = [str(code) for code in codes] + ([""] if blank else [])
    return sa.CheckConstraint(f"{column} IN ({', '.join(repr(code) for code in allowed)})",
                              name=column)


class UTCDateTime(sa.types.TypeDecorator):
    """Aware UTC datetimes on both SQLite (which drops tzinfo) and PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime stored; use UTC-aware datetimes")
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Agency(db.Model):
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    parent_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("agency.id"), index=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(120))
    timezone: so.Mapped[str] = so.mapped_column(sa.String(64), default="Asia/Shanghai")
    deadline_day: so.Mapped[int] = so.mapped_column(default=5)
    shift_to_workday: so.Mapped[bool] = so.mapped_column(default=False)
    rules_text: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    # The annual statement's document number (发文字号), e.g. "西审〔{year}〕{n}号": {year} the
    # year of signing, {n} the agency's count of statements signed that year. "": none.
    document_number_pattern: so.Mapped[str] = so.mapped_column(sa.String(60), default="",
                                                               server_default="")
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    # The reminder schedule (app/notices/reminders.py); NULL: the REMINDER_* configuration default.
    reminder_hour: so.Mapped[int | None]
    reminder_approaching_days: so.Mapped[int | None]
    reminder_overdue_every_days: so.Mapped[int | None]
    reminder_overdue_times: so.Mapped[int | None]
    reminder_digest_every_days: so.Mapped[int | None]
    reminder_digest_times: so.Mapped[int | None]
    # The discipline office's reviews: due within this many working days of a case reaching it
    # (registered, or supplemented after a return); new registrations and supplements announced
    # in one digest a day instead of one e-mail each (app/notices/reminders.py).
    review_due_days: so.Mapped[int] = so.mapped_column(default=10, server_default="10")
    review_digest: so.Mapped[bool] = so.mapped_column(default=False, server_default=sa.false())

    parent: so.Mapped[Agency | None] = so.relationship(remote_side=[id])
    departments: so.WriteOnlyMapped[Department] = so.relationship(back_populates="agency")

    __table_args__ = (sa.CheckConstraint("deadline_day BETWEEN 1 AND 28", name="deadline_day"),
                      sa.CheckConstraint("review_due_days BETWEEN 1 AND 60",
                                         name="review_due_days"))


class CalendarDay(db.Model):
    """A date an administrator declared a working day or a day off, overriding the calendar."""

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agency.id"))
    day: so.Mapped[date]
    is_workday: so.Mapped[bool]
    note: so.Mapped[str] = so.mapped_column(sa.String(120), default="")

    __table_args__ = (sa.UniqueConstraint("agency_id", "day"),)


class Department(db.Model):
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agency.id"), index=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(120))
    archived: so.Mapped[bool] = so.mapped_column(default=False)

    agency: so.Mapped[Agency] = so.relationship(back_populates="departments")

    __table_args__ = (sa.UniqueConstraint("agency_id", "name"),)


class UserRole(db.Model):
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"), primary_key=True)
    role: so.Mapped[str] = so.mapped_column(sa.String(16), primary_key=True)

    __table_args__ = (one_of("role", Role),)


class User(UserMixin, db.Model):
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agency.id"), index=True)
    department_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("department.id"))
    staff_no: so.Mapped[str] = so.mapped_column(sa.String(32), unique=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(64))
    email: so.Mapped[str | None] = so.mapped_column(sa.String(254), unique=True)
    password_hash: so.Mapped[str | None] = so.mapped_column(sa.String(256))
    locale: so.Mapped[str | None] = so.mapped_column(sa.String(8))
    active: so.Mapped[bool] = so.mapped_column(default=True)
    joined_on: so.Mapped[date]
    left_on: so.Mapped[date | None]
    # Bumped by logout, password change and deactivation: every older session stops working.
    session_version: so.Mapped[int] = so.mapped_column(default=1)
    failed_logins: so.Mapped[int] = so.mapped_column(default=0)
    locked_until: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    # Two-factor sign-in (app/auth/twofactor.py): the TOTP secret once enrolment is confirmed, and
    # the last time step accepted, so that no code is ever accepted twice.
    # Sealed with a key derived from SECRET_KEY (app/keys/serverkey.py): a database dump alone
    # does not give a second factor away.
    _totp_secret: so.Mapped[str | None] = so.mapped_column("totp_secret", sa.Text)
    totp_secret = ServerSealed("_totp_secret", b"audit-portal totp secret")
    totp_last_step: so.Mapped[int | None] = so.mapped_column(sa.BigInteger)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    agency: so.Mapped[Agency] = so.relationship()
    department: so.Mapped[Department | None] = so.relationship()
    role_rows: so.Mapped[list[UserRole]] = so.relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def roles(self) -> set[str]:
        return {row.role for row in self.role_rows}

    @roles.setter
    def roles(self, value: set[str] | list[str]) -> None:
        wanted = set(value)
        self.role_rows = [row for row in self.role_rows if row.role in wanted] + [
            UserRole(role=role) for role in sorted(wanted - self.roles)
        ]

    def has_role(self, *roles: str) -> bool:
        """Whether the user holds any of `roles`."""
        return not self.roles.isdisjoint(roles)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"


class Employment(db.Model):
    """One period of a person's employment in an agency (任职期间): a transfer (调动) ends one
    and starts the next, leaving ends the open one, reactivation adds one.

    Each calendar month belongs to exactly one period (a MonthlyReport is unique per person
    and month, so one agency expects it): the period that covers the month's last day, else
    (the person left during the month) the last period overlapping it. `first_period` and
    `last_period` store the months that rule gives this period (app/admin/employment.py keeps
    them), so every scope query is a plain comparison; a period of a few days inside one month
    may own none (first_period > last_period). `last_period` is NULL while the period is open.
    Periods of a person never overlap, which the operations check: SQL cannot, portably.
    """

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"))
    agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agency.id"))
    department_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("department.id"))
    started_on: so.Mapped[date]
    ended_on: so.Mapped[date | None]
    first_period: so.Mapped[str] = so.mapped_column(sa.String(7))
    last_period: so.Mapped[str | None] = so.mapped_column(sa.String(7))

    agency: so.Mapped[Agency] = so.relationship()
    department: so.Mapped[Department | None] = so.relationship()

    __table_args__ = (
        sa.CheckConstraint("ended_on IS NULL OR ended_on >= started_on", name="ends_after_start"),
        sa.CheckConstraint("(ended_on IS NULL) = (last_period IS NULL)", name="open_until_now"),
        sa.UniqueConstraint("user_id", "started_on"),
        # One open period per person.
        sa.Index("ix_employment_open", "user_id", unique=True,
                 sqlite_where=sa.text("ended_on IS NULL"),
                 postgresql_where=sa.text("ended_on IS NULL")),
        # The scope queries: an agency's periods owning a month.
        sa.Index("ix_employment_scope", "agency_id", "first_period"),
    )


class AuditProject(db.Model):
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agency.id"), index=True)
    code: so.Mapped[str] = so.mapped_column(sa.String(32))
    name: so.Mapped[str] = so.mapped_column(sa.String(200))
    year: so.Mapped[int]
    archived: so.Mapped[bool] = so.mapped_column(default=False)
    # The department that carries out the audit (主审科室), if known.
    department_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("department.id"))

    agency: so.Mapped[Agency] = so.relationship()
    department: so.Mapped[Department | None] = so.relationship()

    __table_args__ = (sa.UniqueConstraint("agency_id", "code"),)


class MonthlyReport(db.Model):
    """One per auditor and period; the unique key is what makes a double submit harmless."""

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"))
    period: so.Mapped[str] = so.mapped_column(sa.String(7))
    first_filed_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    late: so.Mapped[bool]
    # Filed after its year's statement was signed: outside the signed figures, shown against
    # the statement until the discipline office records an addendum for it.
    after_signing: so.Mapped[bool] = so.mapped_column(default=False, server_default=sa.false())

    user: so.Mapped[User] = so.relationship()
    versions: so.Mapped[list[ReportVersion]] = so.relationship(
        back_populates="report", order_by="ReportVersion.number"
    )

    __table_args__ = (
        sa.UniqueConstraint("user_id", "period"),
        sa.Index(None, "period"),
        # Compliance counts filed and late reports of each auditor in scope: read from the
        # index alone, without a visit to each report's row (bench/municipal.py).
        sa.Index("ix_monthly_report_user_id_period_late", "user_id", "period", "late"),
        # The few filed after their year was signed, which every statement page, PDF and
        # appendix lists (signing.late_records): found without reading a year's reports.
        sa.Index("ix_monthly_report_after_signing", "period",
                 sqlite_where=sa.text("after_signing = 1"),
                 postgresql_where=sa.text("after_signing")),
    )

    @property
    def current(self) -> ReportVersion:
        return self.versions[-1]


class FilingTally(db.Model):
    """Running counts of the reports filed per agency and period.

    app.tally keeps it in the same transaction as each filing and correction, so the 12-month
    trend reads twelve rows instead of a year of reports (a million in a large agency, see
    bench/dashboard.py); `flask tally rebuild` recomputes it from the reports.
    """

    agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agency.id"), primary_key=True)
    period: so.Mapped[str] = so.mapped_column(sa.String(7), primary_key=True)
    filed: so.Mapped[int] = so.mapped_column(default=0)
    late: so.Mapped[int] = so.mapped_column(default=0)
    # Reports whose latest version lists incidents; the others are zero reports.
    with_incidents: so.Mapped[int] = so.mapped_column(default=0)


report_version_incident = sa.Table(
    "report_version_incident",
    db.metadata,
    sa.Column("report_version_id", sa.ForeignKey("report_version.id"), primary_key=True),
    sa.Column("incident_version_id", sa.ForeignKey("incident_version.id"), primary_key=True),
)


class ReportVersion(db.Model):
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    report_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("monthly_report.id"))
    number: so.Mapped[int]
    is_zero: so.Mapped[bool]
    declared: so.Mapped[bool]
    reason: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    submitted_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    submitted_from: so.Mapped[str] = so.mapped_column(sa.String(64), default="")

    report: so.Mapped[MonthlyReport] = so.relationship(back_populates="versions")
    incident_versions: so.Mapped[list[IncidentVersion]] = so.relationship(
        secondary=report_version_incident, order_by="IncidentVersion.occurred_at"
    )

    __table_args__ = (
        # The latest version of a report, if it lists incidents (rates._latest_with_incidents):
        # most reports are zero reports, so the probe is into this small index and finds nothing.
        sa.Index("ix_report_version_with_incidents", "report_id",
                 sqlite_where=sa.text("is_zero = 0"), postgresql_where=sa.text("NOT is_zero")),
        sa.UniqueConstraint("report_id", "number"),
    )


class Incident(db.Model):
    """The stable header of a registration; its content lives in IncidentVersion rows."""

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    # The agency whose discipline office handles it: the registrant's, or the level above
    # when it was reported there (IncidentRoute).
    agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agency.id"), index=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"), index=True)
    # The period of the current version's occurred_at, kept here for filtering by month.
    period: so.Mapped[str] = so.mapped_column(sa.String(7), index=True)
    registered_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    # Registered after its year's statement was signed (see MonthlyReport.after_signing).
    after_signing: so.Mapped[bool] = so.mapped_column(default=False, server_default=sa.false())
    # The registration's content key (app/keys): wrapped for the agency's key pair, and for the
    # registrant's key ring (the one it names: a ring renewed after a reset opens nothing old
    # until the discipline office restores it). NULL until its content is first sealed.
    key_for_agency: so.Mapped[str | None] = so.mapped_column(sa.Text)
    key_for_registrant: so.Mapped[str | None] = so.mapped_column(sa.Text)
    # The same key sealed symmetrically by the office (a key derived from the agency's), the
    # first time a member opens it: opening it again costs no X25519 agreement, so the
    # queue's search and the fingerprints' filling open a year of names in well under a second.
    key_for_office: so.Mapped[str | None] = so.mapped_column(sa.Text)
    registrant_ring_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("key_ring.id"))

    user: so.Mapped[User] = so.relationship()
    versions: so.Mapped[list[IncidentVersion]] = so.relationship(
        back_populates="incident", order_by="IncidentVersion.number"
    )
    evidence: so.Mapped[list[Evidence]] = so.relationship(
        back_populates="incident", order_by="Evidence.id"
    )
    review: so.Mapped[Review] = so.relationship(back_populates="incident")
    routes: so.Mapped[list[IncidentRoute]] = so.relationship(order_by="IncidentRoute.id")

    __table_args__ = (
        sa.Index("ix_incident_after_signing", "agency_id", "period",
                 sqlite_where=sa.text("after_signing = 1"),
                 postgresql_where=sa.text("after_signing")),
    )

    @property
    def current(self) -> IncidentVersion:
        return self.versions[-1]


class IncidentRoute(db.Model):
    """A registration that went to the discipline office one level up (直报上级): addressed
    there by its registrant (their own bureau's leadership or office is implicated), or handed
    up by their own office. From then on `Incident.agency_id` is the level above: its office
    reads, reviews and counts it, with its key; the registrant's bureau counts it without
    content, as reported to the level above (app/statement/figures.py)."""

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    incident_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("incident.id"), index=True)
    from_agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agency.id"), index=True)
    to_agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agency.id"))
    kind: so.Mapped[str] = so.mapped_column(sa.String(12))
    actor_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"))
    at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    to_agency: so.Mapped[Agency] = so.relationship(foreign_keys=[to_agency_id])
    from_agency: so.Mapped[Agency] = so.relationship(foreign_keys=[from_agency_id])

    __table_args__ = (one_of("kind", RouteKind),)


class IncidentVersion(db.Model):
    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    incident_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("incident.id"))
    number: so.Mapped[int]
    occurred_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    kind: so.Mapped[str] = so.mapped_column(sa.String(16))
    category: so.Mapped[str] = so.mapped_column(sa.String(32))
    channel: so.Mapped[str] = so.mapped_column(sa.String(16))
    # What the registrant wrote is sealed with the incident's content key (app/keys/fields.py);
    # the coded facts (kind, category, channel, relation, project, stage, response) stay
    # queryable for the figures.
    _actor_name: so.Mapped[str] = so.mapped_column("actor_name", sa.Text)
    _actor_org: so.Mapped[str] = so.mapped_column("actor_org", sa.Text)
    _actor_position: so.Mapped[str] = so.mapped_column("actor_position", sa.Text, default="")
    actor_relation: so.Mapped[str] = so.mapped_column(sa.String(16))
    project_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("audit_project.id"))
    stage: so.Mapped[str] = so.mapped_column(sa.String(16))
    _description: so.Mapped[str] = so.mapped_column("description", sa.Text)
    response: so.Mapped[str] = so.mapped_column(sa.String(16))
    _response_detail: so.Mapped[str] = so.mapped_column("response_detail", sa.Text, default="")
    _delay_reason: so.Mapped[str] = so.mapped_column("delay_reason", sa.Text, default="")
    _reason: so.Mapped[str] = so.mapped_column("reason", sa.Text, default="")  # why corrected
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    # Their keyed fingerprints are kept beside them (Fingerprint, app/keys/fingerprints.py).
    actor_name = SealedText("_actor_name", owner=lambda v: v.incident, fingerprint="person")
    actor_org = SealedText("_actor_org", owner=lambda v: v.incident,
                           fingerprint="organisation")
    actor_position = SealedText("_actor_position", owner=lambda v: v.incident)
    description = SealedText("_description", owner=lambda v: v.incident)
    response_detail = SealedText("_response_detail", owner=lambda v: v.incident)
    delay_reason = SealedText("_delay_reason", owner=lambda v: v.incident)
    reason = SealedText("_reason", owner=lambda v: v.incident)

    incident: so.Mapped[Incident] = so.relationship(back_populates="versions")
    project: so.Mapped[AuditProject | None] = so.relationship()
    fingerprint: so.Mapped[Fingerprint | None] = so.relationship(cascade="all, delete-orphan")

    __table_args__ = (sa.UniqueConstraint("incident_id", "number"),
                      one_of("kind", IncidentKind), one_of("category", vocab.CATEGORIES),
                      one_of("channel", vocab.CHANNELS), one_of("actor_relation", vocab.RELATIONS),
                      one_of("stage", vocab.STAGES), one_of("response", vocab.RESPONSES))


class Fingerprint(db.Model):
    """The keyed fingerprints of an incident version's person and organisation (HMAC of the
    folded name with the installation's secret, app/keys/fingerprints.py): equal for the same
    person, whatever the spelling or the agency, so the pattern alerts group in SQL without
    opening a name. A derived index kept apart from the version, which is sealed in the audit
    log and covered by the statement's digest: filling it in later changes neither. NULL: a
    placeholder ("不详") or nothing written. `key_id` names the secret they were made with; rows
    of another (the secret changed) count as missing and are made again."""

    version_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("incident_version.id"),
                                                  primary_key=True)
    # The incident's (moved with it when it is handed up, app/review/upward.py): other
    # agencies' rows are found without a join.
    agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agency.id"))
    key_id: so.Mapped[str] = so.mapped_column(sa.String(8))
    person: so.Mapped[str | None] = so.mapped_column(sa.String(32), index=True)
    organisation: so.Mapped[str | None] = so.mapped_column(sa.String(32), index=True)


class Evidence(db.Model):
    """An uploaded file's record; its bytes are an EvidenceContent row (see that class).

    `storage_key` named the file under EVIDENCE_DIR before the bytes moved into the database;
    it stays (a random name for new rows) because the audit log's seals cover every column.
    """

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    incident_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("incident.id"), index=True)
    _filename: so.Mapped[str] = so.mapped_column("filename", sa.Text)
    content_type: so.Mapped[str] = so.mapped_column(sa.String(100))
    size: so.Mapped[int]
    sha256: so.Mapped[str] = so.mapped_column(sa.String(64))  # of the file itself
    # Of the bytes as stored (sealed): what `flask audit verify` checks without any key. NULL
    # for content still in clear from before `flask keys init`.
    stored_sha256: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    storage_key: so.Mapped[str] = so.mapped_column(sa.String(80), unique=True)
    uploaded_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    incident: so.Mapped[Incident] = so.relationship(back_populates="evidence")
    content: so.Mapped[EvidenceContent | None] = so.relationship(cascade="all, delete-orphan")

    filename = SealedText("_filename", owner=lambda e: e.incident)


class EvidenceContent(db.Model):
    """The bytes of one evidence file, in the database beside its record.

    They commit or roll back with the registration (a killed upload leaves nothing behind),
    every web server sees them, one backup holds them, and content encryption at rest can
    work on rows. Apart from Evidence, so listing evidence never loads the bytes.
    """

    evidence_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("evidence.id"), primary_key=True)
    data: so.Mapped[bytes] = so.mapped_column(sa.LargeBinary)  # sealed (app/filing/evidence.py)


class HeldEvidence(db.Model):
    """A file chosen on a registration form that was sent back for a correction: kept for its
    next submission (the browser cannot keep a chosen file across pages), under a random
    token that only its uploader's session carries; gone when used, removed, or a day old."""

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    token: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"), index=True)
    # Both sealed with a key only the uploader's session cookie carries (app/keys/custody.py).
    filename: so.Mapped[str] = so.mapped_column(sa.Text)
    content_type: so.Mapped[str] = so.mapped_column(sa.String(100))
    data: so.Mapped[bytes] = so.mapped_column(sa.LargeBinary)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class Review(db.Model):
    """The discipline office's handling of one incident (审核处置).

    status: new -> in_review -> closed | returned (back to the registrant) | referred.
    `affected_independence` is the determination that makes a violation; it is set when the
    case is closed or referred. `kind`/`category` hold a reclassification, if any.
    """

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    incident_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("incident.id"), unique=True)
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default=ReviewStatus.NEW, index=True)
    kind: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    category: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    affected_independence: so.Mapped[bool | None]
    # The reasoning is sealed (app/keys/fields.py); the yes/no and the recipient of a referral
    # are what the statement counts and names.
    _determination: so.Mapped[str] = so.mapped_column("determination", sa.Text, default="")
    referred_to: so.Mapped[str] = so.mapped_column(sa.String(200), default="")
    _referral_reason: so.Mapped[str] = so.mapped_column("referral_reason", sa.Text, default="")
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    # When the status last changed (a comment or a reclassification is no change of state):
    # the queue's "days waiting".
    changed_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    # When the case last came to the discipline office (registered, or supplemented after a
    # return): its review is due within the agency's `review_due_days` working days of it.
    waiting_since: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    incident: so.Mapped[Incident] = so.relationship(back_populates="review")
    actions: so.Mapped[list[ReviewAction]] = so.relationship(
        back_populates="review", order_by="ReviewAction.id"
    )

    determination = SealedText("_determination", owner=lambda r: r.incident)
    referral_reason = SealedText("_referral_reason", owner=lambda r: r.incident)

    __table_args__ = (one_of("status", ReviewStatus), one_of("kind", IncidentKind),
                      one_of("category", vocab.CATEGORIES))


class ReviewAction(db.Model):
    """One step of a review: a transition or a comment, internal or addressed to the registrant."""

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    review_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("review.id"), index=True)
    actor_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"))
    at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    action: so.Mapped[str] = so.mapped_column(sa.String(24))
    from_status: so.Mapped[str] = so.mapped_column(sa.String(16))
    to_status: so.Mapped[str] = so.mapped_column(sa.String(16))
    _note: so.Mapped[str] = so.mapped_column("note", sa.Text, default="")
    for_registrant: so.Mapped[bool] = so.mapped_column(default=False)

    review: so.Mapped[Review] = so.relationship(back_populates="actions")
    actor: so.Mapped[User] = so.relationship()

    note = SealedText("_note", owner=lambda a: a.review.incident)

    __table_args__ = (one_of("action", ReviewStep), one_of("from_status", ReviewStatus),
                      one_of("to_status", ReviewStatus))


class OfficeInvitation(db.Model):
    """A member of the discipline office proposes a colleague; the role is granted only when
    the colleague accepts (app/review/office.py). Kept after the answer: the history of who co-opted
    whom."""

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agency.id"), index=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"), index=True)
    proposed_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id"))
    proposed_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    status: so.Mapped[str] = so.mapped_column(sa.String(12), default=InvitationStatus.PENDING)
    answered_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    user: so.Mapped[User] = so.relationship(foreign_keys=[user_id])
    proposed_by: so.Mapped[User | None] = so.relationship(foreign_keys=[proposed_by_id])

    __table_args__ = (
        one_of("status", InvitationStatus),
    )


class AuditLog(db.Model):
    """Append-only record of every change and of reads of incident content by others."""

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    actor_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id"), index=True)
    # Whose entry it is (the actor's agency, else the object's): lists are scoped by it. Chained
    # when set; entries written before it existed have none and are placed by their actor.
    agency_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("agency.id"), index=True)
    action: so.Mapped[str] = so.mapped_column(sa.String(48))
    object_type: so.Mapped[str] = so.mapped_column(sa.String(32), default="")
    object_id: so.Mapped[int | None]
    ip: so.Mapped[str] = so.mapped_column(sa.String(64), default="")
    detail: so.Mapped[str] = so.mapped_column(sa.Text, default="{}")
    # The chain: each entry's hash covers its content and the previous entry's hash.
    prev_hash: so.Mapped[str] = so.mapped_column(sa.String(64), default="")
    hash: so.Mapped[str] = so.mapped_column(sa.String(64), default="")

    __table_args__ = (sa.Index(None, "object_type", "object_id"),)


class Outbox(db.Model):
    """One notice to one person: a row in the bell and, if they have an address, an e-mail.

    `key` (person, period, kind, sequence) is unique, so two scheduler rounds racing on the same
    notice insert it once. Delivery claims a row with a lease before sending, so two senders never
    send it both; the Message-ID is derived from the row, so a resend after a crash is recognisable.
    `params` holds what the text needs (never incident content); the text is rendered at send
    time in the recipient's language.
    """

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    key: so.Mapped[str] = so.mapped_column(sa.String(80), unique=True)
    user_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id"))
    kind: so.Mapped[str] = so.mapped_column(sa.String(24))
    period: so.Mapped[str] = so.mapped_column(sa.String(7), default="")
    seq: so.Mapped[int] = so.mapped_column(default=0)
    params: so.Mapped[str] = so.mapped_column(sa.Text, default="{}")
    email: so.Mapped[str | None] = so.mapped_column(sa.String(254))
    # pending -> sent | failed; "portal" when there is no address (the bell only).
    status: so.Mapped[str] = so.mapped_column(sa.String(12), default=NoticeStatus.PENDING)
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    next_attempt_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    lease: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    lease_until: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    last_error: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    # Why it waits for a retry or gave up, as a code the pages translate (app/notices/outbox.py).
    failure: so.Mapped[str] = so.mapped_column(sa.String(16), default="", server_default="")
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    sent_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    read_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    # "email": the e-mail and the bell; else a copy of the notice for one of the agency's
    # messaging channels, keyed "<notice key>:<channel>" (app/notices/channels.py).
    channel: so.Mapped[str] = so.mapped_column(sa.String(12), default=Channel.EMAIL,
                                               server_default=Channel.EMAIL.value)

    user: so.Mapped[User | None] = so.relationship()

    __table_args__ = (sa.Index(None, "status", "next_attempt_at"),
                      sa.Index(None, "user_id", "read_at"),
                      one_of("kind", NoticeKind), one_of("status", NoticeStatus),
                      one_of("failure", NoticeFailure, blank=True), one_of("channel", Channel))


class ChannelSettings(db.Model):
    """An agency's messaging channel: its address and secret, both Fernet-encrypted (the robot's
    address is its key: whoever has it can post to the group), and whether it is on."""

    __tablename__ = "channel_settings"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agency.id"))
    channel: so.Mapped[str] = so.mapped_column(sa.String(12))
    enabled: so.Mapped[bool] = so.mapped_column(default=False)
    url: so.Mapped[str] = so.mapped_column(sa.Text, default="")  # Fernet token, "" unset
    secret: so.Mapped[str] = so.mapped_column(sa.Text, default="")  # Fernet token, "" unset
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.UniqueConstraint("agency_id", "channel"),
                      one_of("channel", [Channel.WECOM, Channel.DINGTALK, Channel.WEBHOOK]))


class MailSettings(db.Model):
    """The installation's mail server and address, set by an administrator (one row at most).

    A NULL column falls back to the configuration; an environment variable always wins
    (app/core/mailsettings.py). The SMTP password is stored Fernet-encrypted, never in clear.
    """

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    smtp_host: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    smtp_port: so.Mapped[int | None]
    smtp_tls: so.Mapped[bool | None]
    smtp_user: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    smtp_password: so.Mapped[str | None] = so.mapped_column(sa.Text)  # Fernet token
    mail_from: so.Mapped[str | None] = so.mapped_column(sa.String(254))
    portal_base_url: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.CheckConstraint("id = 1", name="single_row"),)


class AnnualConfirmation(db.Model):
    """An auditor's personal annual confirmation (年度个人承诺): every attempt to probe or
    interfere was registered and no violation of audit independence is known to them, or the
    exceptions they write. Given once per person and year, never edited."""

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"))
    year: so.Mapped[int]
    exceptions: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    confirmed_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    confirmed_from: so.Mapped[str] = so.mapped_column(sa.String(64), default="")

    user: so.Mapped[User] = so.relationship()

    __table_args__ = (sa.UniqueConstraint("user_id", "year"), sa.Index(None, "year"))


class DigestPart(db.Model):
    """One month's share of a draft's records digest (format 4, app/statement/digest.py): the
    hash of the month's reports with their versions and lines to incidents, kept so that a draft
    does not read a million reports again while they have not changed. A cache only: the
    signature and `statement verify` read every record, and deleting these rows loses nothing.

    Valid while `scope` (a hash of the people in scope with their periods, and of the lines'
    layout) is still what it was and no report version of the month has an id above
    `last_version_id` (versions are never edited: a change is a new version, a higher id)."""

    agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agency.id"), primary_key=True)
    period: so.Mapped[str] = so.mapped_column(sa.String(7), primary_key=True)
    scope: so.Mapped[str] = so.mapped_column(sa.String(64))
    last_version_id: so.Mapped[int]
    digest: so.Mapped[str] = so.mapped_column(sa.String(64))


class AnnualStatement(db.Model):
    """The annual statement on audit independence (年度独立性情况报告) of an agency and year.

    status: draft (prepared by the discipline office) -> locked (signed by a leader). The
    figures are stored as JSON with the digest of the records they came from; once locked,
    `figures`, `records_digest` and `log_head` are what was signed and never change.
    """

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agency.id"))
    year: so.Mapped[int]
    status: so.Mapped[str] = so.mapped_column(sa.String(12), default=StatementStatus.DRAFT)
    figures: so.Mapped[str] = so.mapped_column(sa.Text, default="{}")
    # The counts an agency tree's roll-up reads of it (figures.HEADLINE), written with
    # `figures`: a city's page reads thousands of these few hundred bytes, not thousands of
    # whole statements; `verify` checks that it still says what `figures` says.
    headline: so.Mapped[str] = so.mapped_column(sa.Text, default="{}")
    records_digest: so.Mapped[str] = so.mapped_column(sa.String(64), default="")
    prepared_by_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"))
    prepared_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    signed_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id"))
    signed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    # The audit log's head and entry count right after the `statement.signed` entry: the chain
    # must still pass through them (a log cut back to before the signature is detected).
    log_head: so.Mapped[str] = so.mapped_column(sa.String(64), default="")
    log_count: so.Mapped[int | None]
    # Given at signing from the agency's pattern, and kept as signed.
    document_number: so.Mapped[str] = so.mapped_column(sa.String(80), default="",
                                                       server_default="")

    agency: so.Mapped[Agency] = so.relationship()
    prepared_by: so.Mapped[User] = so.relationship(foreign_keys=[prepared_by_id])
    signed_by: so.Mapped[User | None] = so.relationship(foreign_keys=[signed_by_id])
    addenda: so.Mapped[list[StatementAddendum]] = so.relationship(
        back_populates="statement", order_by="StatementAddendum.id"
    )

    __table_args__ = (sa.UniqueConstraint("agency_id", "year"), one_of("status", StatementStatus))


class StatementAddendum(db.Model):
    """A correction the discipline office records after the statement was locked: the signed
    figures stay as signed, the addendum says what has to be read with them."""

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    statement_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("annual_statement.id"),
                                                    index=True)
    author_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"))
    at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    text: so.Mapped[str] = so.mapped_column(sa.Text)
    # The record filed after signing that this addendum accounts for, if any.
    incident_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("incident.id"),
                                                          index=True)
    report_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("monthly_report.id"),
                                                        index=True)

    statement: so.Mapped[AnnualStatement] = so.relationship(back_populates="addenda")
    author: so.Mapped[User] = so.relationship()


class RecoveryCode(db.Model):
    """A one-time code that replaces the authenticator app once (ten per enrolment).

    Only a SHA-256 digest is stored: the codes are random (60 bits), so a slow hash adds nothing.
    """

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"), index=True)
    code_hash: so.Mapped[str] = so.mapped_column(sa.String(64))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    used_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)


class SignInLink(db.Model):
    """A one-time link to set a password: first sign-in or after an administrator's reset.

    The token itself is never stored, only its SHA-256 digest; it expires and works once.
    """

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"), index=True)
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    purpose: so.Mapped[str] = so.mapped_column(sa.String(16))
    created_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id"))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    expires_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    used_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    user: so.Mapped[User] = so.relationship(foreign_keys=[user_id])

    __table_args__ = (one_of("purpose", LinkPurpose),)


class Heartbeat(db.Model):
    """When a background process last finished a round (`name`: "scheduler"): /healthz and
    `flask doctor` say whether that is recent."""

    name: so.Mapped[str] = so.mapped_column(sa.String(32), primary_key=True)
    at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)


class ApiToken(db.Model):
    """A client's key to the read-only API (app/api): one agency's data, nothing more.

    Shown once when made; only its SHA-256 digest is stored. Revoked tokens are kept (the log
    names them) and never work again.
    """

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agency.id"), index=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(80))  # the client: "OA system"
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    created_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id"))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    revoked_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    last_used_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    agency: so.Mapped[Agency] = so.relationship()
    created_by: so.Mapped[User | None] = so.relationship()


# Keys (app/keys): who can open the content -----------------------------------------------------

class KeyRing(db.Model):
    """A person's X25519 key pair; the private half sealed with a key derived from their
    password (Argon2id, this salt and these parameters; a password change seals it anew).
    The person's ring is their newest; a ring renewed after a reset is a new row (the old one
    keeps only its public half), and registrations wrapped for the old one name it."""

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"), index=True)
    public_key: so.Mapped[str] = so.mapped_column(sa.String(64))
    private_sealed: so.Mapped[str] = so.mapped_column(sa.Text)
    kdf_salt: so.Mapped[str] = so.mapped_column(sa.String(64))
    kdf_params: so.Mapped[str] = so.mapped_column(sa.String(40))
    # A SHA-256 of the password hash the ring was last opened or sealed under (custody.
    # password_tag): while it is the account's current hash, opening the ring proves the
    # password, and the sign-in needs no second Argon2id computation. A reset changes the hash,
    # so a ring still sealed with the old password proves nothing.
    password_tag: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class AgencyKey(db.Model):
    """The agency's key pair: every registration's content key is wrapped for its public half.
    The private half exists only wrapped: for each member of the discipline office granted it
    (KeyGrant) and for the recovery key kept in the office's safe."""

    agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agency.id"), primary_key=True)
    public_key: so.Mapped[str] = so.mapped_column(sa.String(64))
    recovery_sealed: so.Mapped[str] = so.mapped_column(sa.Text)
    created_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id"))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class KeyGrant(db.Model):
    """The agency's private key wrapped for one member of its discipline office."""

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agency.id"))
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"), index=True)
    ring_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("key_ring.id"))
    wrapped: so.Mapped[str] = so.mapped_column(sa.Text)
    granted_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("user.id"))
    granted_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (sa.UniqueConstraint("agency_id", "user_id"),)


class SessionKey(db.Model):
    """A signed-in session's unlocked private key, sealed with a key that only that session's
    cookie carries: the database alone opens nothing, the cookie alone holds no key. Gone at
    sign-out; useless once the user's session version moves on."""

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    token_hash: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("user.id"), index=True)
    ring_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("key_ring.id"))
    session_version: so.Mapped[int]
    sealed: so.Mapped[str] = so.mapped_column(sa.Text)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
