"""The append-only, tamper-evident audit log: who, when, what, which object, from where.

Entries are added to the current session and committed with the change they describe, so a
change and its entry stand or fall together. Each entry stores a SHA-256 hash over its own
content and the previous entry's hash; `verify()` walks the chain and names the first entry
that does not match.

Records that must never change (incident and report versions, evidence, review steps, report
headers) are also *sealed*: the entry that records them carries a digest of every column of
the row. `verify()` recomputes those digests, so a row changed, deleted or inserted directly
in the database, behind the log's back, is found too. A review changes state over time; its
latest seal must match its current row.
"""

from __future__ import annotations

import hashlib
import json
import logging
import logging.handlers
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa
from flask import current_app, has_request_context, request
from flask_login import current_user

from app.core import clock
from app.core.extensions import db
from app.models import (
    Agency,
    AuditLog,
    Evidence,
    EvidenceContent,
    Incident,
    IncidentVersion,
    MonthlyReport,
    ReportVersion,
    Review,
    ReviewAction,
    User,
)

GENESIS = "0" * 64
# Columns added to sealed rows after rows were sealed: covered where set, left out where NULL,
# so the seals made before them still match (Evidence.stored_sha256: content encryption).
LATER_COLUMNS = ("stored_sha256",)
# Sealed row types: immutable ones must match their one seal; mutable ones their latest.
IMMUTABLE = (IncidentVersion, ReportVersion, Evidence, ReviewAction, MonthlyReport)
MUTABLE = (Review,)
SEALED = {model.__name__: model for model in IMMUTABLE + MUTABLE}
# Serialises appends on PostgreSQL (held until commit); SQLite serialises writers itself.
CHAIN_LOCK = 0x6175646974  # "audit"
logger = logging.getLogger(__name__)


def client_address() -> str:
    """The caller's address (behind a proxy, set PROXY_COUNT so this is the real client)."""
    return (request.remote_addr or "") if has_request_context() else "cli"


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, date):
        return value.isoformat()
    return value


def row_digest(row: object) -> str:
    """SHA-256 over every column of a row, in a canonical serialisation."""
    mapper = sa.inspect(type(row))
    # As stored: a sealed column's attribute (app/keys/fields.py) is its ciphertext's.
    columns = {c.key: _plain(getattr(row, mapper.get_property_by_column(c).key))
               for c in row.__table__.columns}
    for name in LATER_COLUMNS:  # unset on rows sealed before the column existed
        if columns.get(name, 0) is None:
            del columns[name]
    payload = json.dumps([type(row).__name__, columns], ensure_ascii=False, sort_keys=True,
                         separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def entry_digest(prev_hash: str, entry: AuditLog) -> str:
    fields = [prev_hash, entry.id, _plain(entry.at), entry.actor_id, entry.action,
              entry.object_type, entry.object_id, entry.ip, entry.detail]
    if entry.agency_id is not None:  # entries older than the column are chained without it
        fields.append(entry.agency_id)
    payload = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _agency_of(actor_id: int | None, obj: object | None) -> int | None:
    """The agency an entry belongs to: for a registration, the agency handling it (the level
    above, for one reported there: its registrant's own bureau must not see it in its log);
    else its actor's, else its object's. The signed-in actor's is already loaded: no query on
    the request's hot path (every read of content logs)."""
    if isinstance(obj, Incident):
        return obj.agency_id
    if actor_id is not None and has_request_context() and current_user.is_authenticated \
            and current_user.id == actor_id:
        return current_user.agency_id
    if actor_id is not None:
        return db.session.scalar(sa.select(User.agency_id).where(User.id == actor_id))
    if isinstance(obj, Agency):
        return obj.id
    return getattr(obj, "agency_id", None)


def record(action: str, obj: object | None = None, *, actor_id: int | None = None,
           seal: list[object] | tuple[object, ...] = (), in_agency: int | None = None,
           **detail: object) -> AuditLog:
    """Append an entry; `seal` lists rows (already flushed) whose content it vouches for.
    `in_agency`: the agency whose log lists it, when that is not the actor's (the installation
    administrator's changes are listed in the agency they change)."""
    if actor_id is None and has_request_context() and current_user.is_authenticated:
        actor_id = current_user.id
    if seal:
        detail["seal"] = [[type(row).__name__, row.id, row_digest(row)] for row in seal]
    entry = AuditLog(
        at=clock.now(), actor_id=actor_id, action=action,
        agency_id=in_agency if in_agency is not None else _agency_of(actor_id, obj),
        object_type=type(obj).__name__ if obj is not None else "",
        object_id=getattr(obj, "id", None), ip=client_address(),
        detail=json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str),
    )
    _append(entry)
    return entry


def reads_of(incident: object) -> list[tuple[AuditLog, User]]:
    """Who else opened a registration — its page, its referral sheet, one of its evidence
    files — and when: shown to the registrant, so reading in their name is never silent."""
    files = sa.select(Evidence.id).where(Evidence.incident_id == incident.id)
    return list(db.session.execute(
        sa.select(AuditLog, User).join(User, User.id == AuditLog.actor_id)
        .where(sa.or_(
            sa.and_(AuditLog.action == "incident.read", AuditLog.object_type == "Incident",
                    AuditLog.object_id == incident.id),
            sa.and_(AuditLog.action == "evidence.read", AuditLog.object_type == "Evidence",
                    AuditLog.object_id.in_(files))),
            AuditLog.actor_id != incident.user_id)
        .order_by(AuditLog.id.desc())))


def _append(entry: AuditLog) -> None:
    session = db.session
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK})
    session.add(entry)
    session.flush()  # takes the id (and, on SQLite, the write lock) before reading the head
    previous = session.scalar(
        sa.select(AuditLog.hash).where(AuditLog.id < entry.id).order_by(AuditLog.id.desc())
        .limit(1)
    )
    entry.prev_hash = previous or GENESIS
    entry.hash = entry_digest(entry.prev_hash, entry)


# Verification ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    ok: bool
    count: int
    head: str
    problem: str = ""


def _entries(batch: int = 5000) -> Iterator[AuditLog]:
    last = 0
    while True:
        rows = db.session.scalars(
            sa.select(AuditLog).where(AuditLog.id > last).order_by(AuditLog.id).limit(batch)
        ).all()
        yield from rows
        if len(rows) < batch:
            return
        last = rows[-1].id
        db.session.expunge_all()


@dataclass(frozen=True)
class Checkpoint:
    """A head noted earlier (by a signature, a printout, a monitoring job): after `count`
    entries the chain's head was `head`. Without a count, the head must be somewhere in it;
    without a head, the chain must still have at least `count` entries."""

    head: str | None = None
    count: int | None = None


def _checkpoint_problem(checkpoint: Checkpoint, heads_at: dict[int, str], seen: set[str],
                        count: int) -> str:
    if checkpoint.count is not None and checkpoint.count > count:
        return (f"the log has {count} entries but held {checkpoint.count} at a checkpoint: "
                "its tail has been cut off")
    if checkpoint.head is None:
        return ""
    if checkpoint.count is None:
        return "" if checkpoint.head in seen else (
            f"the chain no longer passes through head {checkpoint.head}")
    if heads_at.get(checkpoint.count) != checkpoint.head:
        return (f"after {checkpoint.count} entries the head is not {checkpoint.head}: the log "
                "was rewritten or cut back")
    return ""


def verify(checkpoints: Iterable[Checkpoint] = ()) -> Verdict:
    """Walk the chain (through every checkpoint given), then check every sealed row against
    its seal."""
    checkpoints = list(checkpoints)
    wanted = {c.count for c in checkpoints if c.count is not None}
    loose = {c.head for c in checkpoints if c.count is None and c.head}
    previous, count, seals = GENESIS, 0, {}
    heads_at: dict[int, str] = {0: GENESIS}
    seen: set[str] = {GENESIS}
    for entry in _entries():
        if entry.prev_hash != previous or entry.hash != entry_digest(previous, entry):
            return Verdict(False, count, previous,
                           f"entry #{entry.id} ({entry.action}) does not match the chain")
        for name, row_id, digest in json.loads(entry.detail or "{}").get("seal", []):
            seals[name, row_id] = (digest, entry.id)
        previous, count = entry.hash, count + 1
        if count in wanted:
            heads_at[count] = previous
        if previous in loose:
            seen.add(previous)
    for checkpoint in checkpoints:
        problem = _checkpoint_problem(checkpoint, heads_at, seen, count)
        if problem:
            return Verdict(False, count, previous, problem)
    problem = _check_seals(seals)
    return Verdict(not problem, count, previous, problem)


def head() -> tuple[str, int]:
    """The chain's current head and its number of entries."""
    latest = db.session.scalar(sa.select(AuditLog.hash).order_by(AuditLog.id.desc()).limit(1))
    count = db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)) or 0
    return latest or GENESIS, count


def write_checkpoint(reason: str) -> tuple[str, int]:
    """Note the committed head outside the database: the application log always, and the
    file (AUDIT_CHECKPOINT_FILE, one JSON line each) or syslog target
    (AUDIT_CHECKPOINT_SYSLOG, "/dev/log" or "host:port") the configuration names. Whoever
    deletes the log's last entries cannot also reach these, so `audit verify --expect-head`
    with a noted head detects the cut. Call it after the commit, never before."""
    current, count = head()
    line = {"at": clock.now().isoformat(), "head": current, "count": count, "reason": reason}
    logger.info("audit log checkpoint: head %s, %d entries (%s)", current, count, reason)
    text = json.dumps(line, sort_keys=True)
    try:
        if current_app.config.get("AUDIT_CHECKPOINT_FILE"):
            with Path(current_app.config["AUDIT_CHECKPOINT_FILE"]).open("a") as handle:
                handle.write(text + "\n")
        if current_app.config.get("AUDIT_CHECKPOINT_SYSLOG"):
            _syslog(current_app.config["AUDIT_CHECKPOINT_SYSLOG"], text)
    except OSError:  # the change it follows is committed: say so in the log, do not undo it
        logger.exception("audit log checkpoint could not be written outside the database")
    return current, count


def _syslog(address: str, message: str) -> None:
    host, _sep, port = address.rpartition(":")
    target = (host, int(port)) if host and port.isdigit() else address
    handler = logging.handlers.SysLogHandler(address=target)
    try:
        handler.emit(logging.makeLogRecord({"msg": "audit-portal checkpoint " + message,
                                            "levelno": logging.INFO, "levelname": "INFO"}))
    finally:
        handler.close()


def _check_seals(seals: dict[tuple[str, int], tuple[str, int]]) -> str:
    for name, model in SEALED.items():
        present = set()
        for row in db.session.scalars(sa.select(model).order_by(model.id)):
            present.add(row.id)
            sealed = seals.get((name, row.id))
            if sealed is None:
                return f"{name} {row.id} was never recorded in the log (inserted behind its back)"
            if sealed[0] != row_digest(row):
                return f"{name} {row.id} differs from what entry #{sealed[1]} recorded"
        for (sealed_name, row_id), (_digest, entry_id) in seals.items():
            if sealed_name == name and row_id not in present:
                return f"{name} {row_id} recorded by entry #{entry_id} is missing (deleted)"
    return ""


def verify_evidence(batch: int = 50) -> str:
    """The first evidence record whose content is missing or differs from its recorded (and
    sealed) SHA-256, or "": a restore without the evidence, or bytes changed in place, is found.
    Reads the bytes a batch at a time, so memory stays bounded."""
    last = 0
    while True:
        rows = db.session.execute(
            sa.select(Evidence.id, sa.func.coalesce(Evidence.stored_sha256, Evidence.sha256),
                      EvidenceContent.data)
            .outerjoin(EvidenceContent).where(Evidence.id > last)
            .order_by(Evidence.id).limit(batch)).all()
        for evidence_id, digest, data in rows:  # sealed content: the digest of its ciphertext
            if data is None:
                return f"Evidence {evidence_id} has no content (missing from this database)"
            if hashlib.sha256(data).hexdigest() != digest:
                return f"Evidence {evidence_id} content differs from its recorded SHA-256"
        if len(rows) < batch:
            return ""
        last = rows[-1].id
