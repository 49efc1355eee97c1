"""`flask keys init`: seal what an installation stored in clear before content encryption.

Needs no private key (sealing a registration needs only the agency's public key and the
registrant's), so the operator runs it without ever being able to read. Registrations are sealed
a year of an agency at a time:

- a signed year's statement must verify first (its records' digest covers every column, so the
  sealed records need a new digest); the year is sealed, each row checked to open to exactly
  its clear text with the new content key, the new digest stored, and both digests logged
  (`statement.resealed`), in one transaction;
- other years commit every `batch` registrations, so an interrupted run loses nothing and the
  next run goes on where it stopped (registrations with a content key are done).

Each batch's sealed rows are sealed anew in the audit log (`keys.sealed`), so `flask audit
verify` keeps verifying. The TOTP secrets still in clear are sealed with the server key.
Sealing a version fingerprints its names (app/keys/fields.py), the last moment they are in
clear; what stays in clear (agencies without keys) is fingerprinted too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import sqlalchemy as sa

from app.core import auditlog
from app.core.codes import StatementStatus
from app.core.extensions import db
from app.filing.evidence import CONTENT_AAD
from app.keys import crypto, fingerprints, keychain
from app.keys.fields import sealed_fields
from app.keys.serverkey import FERNET_PREFIX
from app.models import AgencyKey, AnnualStatement, Incident, User
from app.statement import digest


@dataclass
class Report:
    sealed: int = 0
    fingerprinted: int = 0  # versions left in clear, fingerprinted (the sealed ones as sealed)
    statements: int = 0
    secrets: int = 0
    problems: list[str] = field(default_factory=list)


def _rows(incident: Incident) -> list[object]:
    return [*incident.versions, incident.review, *incident.review.actions, *incident.evidence]


def _seal_incident(incident: Incident) -> list[object]:
    """Seal one registration in place (flushed); its rows, each checked to open again."""
    rows = _rows(incident)
    clear = {id(row): [(f, getattr(row, f.name)) for f in sealed_fields(type(row))]
             for row in rows}
    key = keychain.current().content_key(incident, create=True)
    for row in rows:
        for sealed, value in clear[id(row)]:
            setattr(row, sealed.name, value)
    for item in incident.evidence:
        if item.content is not None:
            item.content.data = crypto.seal(key, item.content.data, CONTENT_AAD,
                                            keychain.cipher())
            item.stored_sha256 = hashlib.sha256(item.content.data).hexdigest()
    db.session.flush()
    for row in rows:
        for sealed, value in clear[id(row)]:
            stored = getattr(row, sealed.column)
            if value and crypto.unseal_text(key, stored, sealed.aad) != value:
                raise RuntimeError(f"{type(row).__name__} {row.id}: sealed value does not open")
    for item in incident.evidence:
        if item.content is not None and hashlib.sha256(
                crypto.unseal(key, item.content.data, CONTENT_AAD)).hexdigest() != item.sha256:
            raise RuntimeError(f"evidence {item.id}: sealed content does not open")
    return rows


def _clear_incidents(agency_id: int, year: int, batch: int) -> Iterator[list[Incident]]:
    while chunk := list(db.session.scalars(
            sa.select(Incident).where(Incident.agency_id == agency_id,
                                      Incident.key_for_agency.is_(None),
                                      Incident.period.between(f"{year:04d}-01", f"{year:04d}-12"))
            .order_by(Incident.id).limit(batch))):
        yield chunk


def _seal_year(agency_id: int, year: int, batch: int, report: Report) -> None:
    statement = db.session.scalar(sa.select(AnnualStatement).where(
        AnnualStatement.agency_id == agency_id, AnnualStatement.year == year,
        AnnualStatement.status == StatementStatus.LOCKED))
    if statement is not None and not digest.verify(statement).ok:
        report.problems.append(f"agency {agency_id}, {year}: the signed statement does not "
                               "verify (`flask statement verify`); its year stays in clear")
        return
    for chunk in _clear_incidents(agency_id, year, batch):
        rows = [row for incident in chunk for row in _seal_incident(incident)]
        auditlog.record("keys.sealed", None, registrations=len(chunk), seal=rows)
        report.sealed += len(chunk)
        if statement is None:
            db.session.commit()
    if statement is not None:
        before = statement.records_digest
        statement.records_digest = digest.records_digest(statement.agency, year)
        auditlog.record("statement.resealed", statement, year=year, before=before,
                        after=statement.records_digest)
        db.session.commit()
        report.statements += 1


def _years_in_clear(agency_id: int) -> list[int]:
    periods = db.session.scalars(sa.select(sa.func.substr(Incident.period, 1, 4))
                                 .where(Incident.agency_id == agency_id,
                                        Incident.key_for_agency.is_(None)).distinct())
    return sorted(int(year) for year in periods)


def _seal_secrets(report: Report) -> None:
    for user in db.session.scalars(sa.select(User).where(
            User._totp_secret.is_not(None), ~User._totp_secret.startswith(FERNET_PREFIX))):
        user.totp_secret = user._totp_secret  # written through: sealed with the server key
        report.secrets += 1
    db.session.commit()


def seal_everything(batch: int = 500) -> Report:
    """Seal every registration still in clear, of every agency whose office has set up its
    keys (the others are named), and the TOTP secrets."""
    report = Report()
    agencies = db.session.scalars(sa.select(Incident.agency_id).where(
        Incident.key_for_agency.is_(None)).distinct()).all()
    for agency_id in sorted(agencies):
        if db.session.get(AgencyKey, agency_id) is None:
            report.problems.append(f"agency {agency_id}: its discipline office has not set up "
                                   "its keys yet (office page); its registrations stay in clear")
            continue
        for year in _years_in_clear(agency_id):
            _seal_year(agency_id, year, batch, report)
    report.fingerprinted, _sealed = fingerprints.fill(Incident.key_for_agency.is_(None))
    _seal_secrets(report)
    if report.sealed or report.secrets:
        _rewrite_storage()
    return report


# The tables whose old, clear row versions the database may still keep in its files.
REWRITTEN = ("incident_version", "review", "review_action", "evidence", "evidence_content",
             "user")


def _rewrite_storage() -> None:
    """Rewrite the database files, so that the clear text replaced by ciphertext does not
    linger in free pages or the write-ahead log (SQLite: VACUUM; PostgreSQL: VACUUM FULL of the
    sealed tables, whose dead row versions keep the old text until then)."""
    db.session.commit()
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("VACUUM")
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            for table in REWRITTEN:
                connection.exec_driver_sql(f'VACUUM FULL "{table}"')
