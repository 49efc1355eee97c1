"""Evidence files: checked by their content (not their name), stored outside the static folder.

Accepted: PDF, JPEG, PNG and Office documents (Word, Excel, PowerPoint; both the old binary and
the current OOXML formats), at most EVIDENCE_MAX_BYTES each. The `filetype` library reads the
magic bytes, including the inside of an OOXML zip, so a renamed .exe is refused as what it is.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import filetype
from flask import current_app
from flask_babel import gettext as _
from werkzeug.datastructures import FileStorage

from app.models import Evidence, Incident

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


class EvidenceRefused(ValueError):
    pass


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


def storage_dir() -> Path:
    return Path(current_app.config["EVIDENCE_DIR"])


def save(incident: Incident, upload: Upload, now: datetime) -> Evidence:
    key = secrets.token_hex(20)
    directory = storage_dir() / key[:2]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / key).write_bytes(upload.data)
    evidence = Evidence(
        filename=upload.filename,
        content_type=upload.content_type,
        size=len(upload.data),
        sha256=hashlib.sha256(upload.data).hexdigest(),
        storage_key=key,
        uploaded_at=now,
    )
    incident.evidence.append(evidence)
    return evidence


def path_of(evidence: Evidence) -> Path:
    return storage_dir() / evidence.storage_key[:2] / evidence.storage_key
