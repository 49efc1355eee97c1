"""Evidence files: checked by their content (not their name), stored in the database.

The bytes are an EvidenceContent row added to the same transaction as the registration: both
commit or neither does, so a killed upload, a full disk or a failed commit leaves nothing
behind, every web server reads the same store, and one database backup holds everything.
Installations from before kept files under EVIDENCE_DIR: `import_files` copies them in.

Accepted: PDF, JPEG, PNG and Office documents (Word, Excel, PowerPoint; both the old binary and
the current OOXML formats), at most EVIDENCE_MAX_BYTES each. The `filetype` library reads the
magic bytes, including the inside of an OOXML zip, so a renamed .exe is refused as what it is.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import filetype
import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from werkzeug.datastructures import FileStorage

from app.core.extensions import db
from app.core.refusals import Invalid
from app.keys import crypto, custody, keychain
from app.models import Evidence, EvidenceContent, HeldEvidence, Incident, User

# Types a browser shows itself, from bytes checked at upload: previewed inline, under the same
# access rules and the portal's CSP; any other type is only downloaded.
INLINE_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png"})
ALLOWED_TYPES = {
    "pdf": "application/pdf",
    "jpg": "image/jpeg",
    "png": "image/png",
    "doc": "application/msword",
    "xls": "application/vnd.ms-excel",
    "ppt": "application/vnd.ms-powerpoint",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}


class EvidenceRefused(Invalid):
    """A file the portal does not keep: empty, too large, or of a type it does not accept."""


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


def clean_filename(name: str, extension: str) -> str:
    """A display name without path parts or control characters, ending in the real extension."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip() or "evidence"
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return f"{stem[:150]}.{extension}"


def inspect(storage: FileStorage) -> Upload:
    """The checked upload, or EvidenceRefused with a message for the user."""
    limit = current_app.config["EVIDENCE_MAX_BYTES"]
    data = storage.stream.read(limit + 1)
    original = storage.filename or ""
    if not data:
        raise EvidenceRefused(_("The file %(name)s is empty.", name=original))
    if len(data) > limit:
        raise EvidenceRefused(
            _("The file %(name)s is larger than %(mb)d MB.", name=original, mb=limit // 2**20)
        )
    kind = filetype.guess(data)
    if kind is None or kind.extension not in ALLOWED_TYPES:
        raise EvidenceRefused(
            _("The file %(name)s is not a PDF, JPEG, PNG or Office document.", name=original)
        )
    return Upload(clean_filename(original, kind.extension), ALLOWED_TYPES[kind.extension], data)


CONTENT_AAD = b"EvidenceContent.data"
HELD_AAD = b"HeldEvidence"


def save(incident: Incident, upload: Upload, now: datetime) -> Evidence:
    """Add the record and its bytes, sealed with the registration's content key, to the
    session (the request commits both, or neither)."""
    key = keychain.current().content_key(incident, create=True)
    sealed = crypto.seal(key, upload.data, CONTENT_AAD, keychain.cipher())
    evidence = Evidence(
        filename=upload.filename,
        content_type=upload.content_type,
        size=len(upload.data),
        sha256=hashlib.sha256(upload.data).hexdigest(),
        storage_key=secrets.token_hex(20),  # unique; names no file any more
        uploaded_at=now,
        stored_sha256=hashlib.sha256(sealed).hexdigest(),
        content=EvidenceContent(data=sealed),
    )
    incident.evidence.append(evidence)
    return evidence


def data_of(evidence: Evidence) -> bytes | None:
    """The file's bytes, or None if its content is missing (`flask audit verify` says so);
    ContentSealed if this request holds no key to them."""
    stored = db.session.scalar(
        sa.select(EvidenceContent.data).where(EvidenceContent.evidence_id == evidence.id))
    if stored is None or evidence.incident.key_for_agency is None:
        return stored  # still in clear from before `flask keys init`
    key = keychain.current().content_key(evidence.incident)
    if key is None:
        raise keychain.ContentSealed
    return crypto.unseal(key, stored, CONTENT_AAD)


def legacy_path(evidence: Evidence) -> Path:
    """Where the file lived before evidence moved into the database."""
    key = evidence.storage_key
    return Path(current_app.config["EVIDENCE_DIR"]) / key[:2] / key


@dataclass(frozen=True)
class Imported:
    copied: int
    problems: list[str]


def _without_content() -> list[Evidence]:
    return list(db.session.scalars(
        sa.select(Evidence).outerjoin(EvidenceContent)
        .where(EvidenceContent.evidence_id.is_(None)).order_by(Evidence.id)))


def import_files() -> Imported:
    """Copy the files of records without content from EVIDENCE_DIR into the database, each
    checked against its recorded SHA-256 (a file that does not match is left out and named).
    Only flushes; the files stay where they are until the operator removes them."""
    copied, problems = 0, []
    for evidence in _without_content():
        if evidence.incident.key_for_agency is not None:
            problems.append(f"evidence {evidence.id}: its registration is sealed already; "
                            "import the files before `flask keys init`")
            continue
        path = legacy_path(evidence)
        if not path.is_file():
            problems.append(f"evidence {evidence.id}: no file {path}")
            continue
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != evidence.sha256:
            problems.append(f"evidence {evidence.id}: {path} does not match its SHA-256")
            continue
        db.session.add(EvidenceContent(evidence_id=evidence.id, data=data))
        db.session.flush()
        copied += 1
    return Imported(copied, problems)


# Held files (a form sent back for a correction) ---------------------------------------------

HOLD = timedelta(days=1)


def hold(user: User, uploads: list[Upload], now: datetime) -> list[HeldEvidence]:
    """Keep `uploads` for the user's next submission of the form, sealed with a key only this
    session holds (none: nothing is held); a day-old hold is dropped."""
    db.session.execute(sa.delete(HeldEvidence).where(HeldEvidence.user_id == user.id,
                                                     HeldEvidence.created_at < now - HOLD))
    key = custody.held_key()
    if key is None:
        return []
    rows = [HeldEvidence(token=secrets.token_urlsafe(32), user_id=user.id,
                         filename=crypto.seal_text(key, upload.filename, HELD_AAD),
                         content_type=upload.content_type,
                         data=crypto.seal(key, upload.data, HELD_AAD), created_at=now)
            for upload in uploads]
    db.session.add_all(rows)
    db.session.flush()
    return rows


def held(user: User, tokens: list[str], now: datetime) -> list[HeldEvidence]:
    """The user's held files among `tokens` (unknown, foreign or expired tokens are ignored)."""
    if not tokens:
        return []
    return list(db.session.scalars(
        sa.select(HeldEvidence).where(HeldEvidence.token.in_(tokens),
                                      HeldEvidence.user_id == user.id,
                                      HeldEvidence.created_at >= now - HOLD)
        .order_by(HeldEvidence.id)))


def as_upload(row: HeldEvidence) -> Upload | None:
    """The held file, or None if this session cannot open it (a session since signed out)."""
    key = custody.held_key()
    try:
        return Upload(crypto.unseal_text(key, row.filename, HELD_AAD), row.content_type,
                      crypto.unseal(key, row.data, HELD_AAD)) if key else None
    except crypto.Undecryptable:
        return None


def release(rows: list[HeldEvidence]) -> None:
    """The held files were saved with the registration, or removed: their holds go."""
    for row in rows:
        db.session.delete(row)
