"""Keyed fingerprints of the person and organisation named in a registration.

The pattern alerts (app/review/patterns.py) ask "is the same person or organisation named
again?", within an agency and across the agencies of the installation. The names are sealed
with each registration's own key, so today's answer meant opening every name of the year in
the office member's request, and across agencies it is impossible: no office holds another's
keys. A fingerprint answers it without opening anything: HMAC-SHA256 of the folded text
(patterns.normalise_name / normalise_org, so what matched before still matches: "张 三局长" and
"张三" are one fingerprint), computed while the clear text is at hand (when it is sealed,
app/keys/fields.py; or when an office member's request opens it, `fill`) and stored in clear,
indexed, in the Fingerprint table. Equal fingerprints say "the same folded name" and nothing
else; a placeholder ("不详") gets none.

Why keyed, and with what key. A bare hash of a name can be tested against a list of guesses
by anyone holding a dump of the database: a city's few thousand cadres are quickly tried. With
an HMAC the dump alone tests nothing; the key must be held as well. The key lives outside the
database, like SECRET_KEY, and for the same reason (a backup or a dump does not carry it):
`FINGERPRINT_KEY` when set, else SECRET_KEY; either way it is put through HKDF for this one
purpose, so the value that signs cookies is never the HMAC key itself. Setting
FINGERPRINT_KEY of its own is recommended: SECRET_KEY may have to change (a leaked session
cookie key) without every fingerprint changing with it. When the key does change, nothing
breaks: each row names the key it was made with (`key_id`, 32 bits of an HMAC of a constant,
which says nothing of the names), rows of another key count as missing, match nothing, and
are made again where their text is opened (the office's next queue request, `flask keys
fingerprints` for what is still in clear); until then those registrations raise no alert.

Truncated to 128 bits: the chance that two different names of an installation share a
fingerprint is about n²/2¹²⁹ (n = 10⁷ names: 10⁻²⁵), and a guess can only be tested with the
key, whose 256 bits truncation does not touch; the full 256 would only make the index twice as
large.

What it does not protect against: whoever holds the key *and* a dump (the server's operator
usually holds both) can test a guessed name, as the README's threat model says.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

from app.core.extensions import db
from app.keys import crypto, keychain
from app.keys.fields import CLEAR, SealedText, sealed_fields

PURPOSE = b"audit-portal name fingerprints"
HEX_DIGITS = 32  # 128 bits, see above
KEY_ID_DIGITS = 8
BATCH = 1000  # rows per statement when fingerprints are written in bulk


@lru_cache(maxsize=4)
def _derived(secret: str) -> bytes:
    return HKDF(hashes.SHA256(), 32, salt=None, info=PURPOSE).derive(secret.encode())


def _key() -> bytes:
    return _derived(current_app.config.get("FINGERPRINT_KEY") or current_app.config["SECRET_KEY"])


def key_id() -> str:
    """Which key the fingerprints are made with now: rows naming another are stale."""
    return hmac.new(_key(), b"key id", hashlib.sha256).hexdigest()[:KEY_ID_DIGITS]


def _folds() -> dict[str, Callable[[str], str]]:
    from app.review import patterns

    return {"person": patterns.normalise_name, "organisation": patterns.normalise_org}


def of(kind: str, text: str) -> str | None:
    """The fingerprint of `text` as a `kind` ("person", "organisation"); None for a placeholder
    or nothing."""
    from app.review.patterns import PLACEHOLDERS

    folded = _folds()[kind](text or "")
    if folded in PLACEHOLDERS:
        return None
    message = kind.encode() + b"\0" + folded.encode("utf-8")
    return hmac.new(_key(), message, hashlib.sha256).hexdigest()[:HEX_DIGITS]


def _fingerprinted(cls: type) -> list[SealedText]:
    return [field for field in sealed_fields(cls) if field.fingerprint]


def _clear_of(obj: Any, field: SealedText) -> str | None:
    """The field's clear text as this object holds it, without opening anything; None when
    only its ciphertext is here."""
    clear = obj.__dict__.get(CLEAR) or {}
    if field.name in clear:
        return clear[field.name] or ""
    stored = getattr(obj, field.column)
    return None if crypto.is_sealed_text(stored) else stored or ""


def stamp(obj: Any) -> None:
    """Before a flush that seals `obj`: fingerprint its fingerprinted fields from the clear
    text assigned (the only moment a new registration's text is in clear on the server)."""
    fields = _fingerprinted(type(obj))
    texts = {field.fingerprint: _clear_of(obj, field) for field in fields}
    if not fields or None in texts.values():
        return  # left to `fill`, where it is opened
    from app.models import Fingerprint

    row = obj.fingerprint or Fingerprint()
    row.agency_id, row.key_id = fields[0].owner(obj).agency_id, key_id()
    for kind, text in texts.items():
        setattr(row, kind, of(kind, text))
    obj.fingerprint = row


# Filling in what has none (made before fingerprints, or under another key) ----------------

def missing(where: sa.ColumnElement[bool]) -> sa.Select:
    """Versions of the incidents matching `where` without a fingerprint under the current key,
    with what `Keychain.text` needs to open their names."""
    from app.models import Fingerprint, Incident, IncidentVersion

    current = sa.exists().where(Fingerprint.version_id == IncidentVersion.id,
                                Fingerprint.key_id == key_id())
    return (sa.select(*keychain.wrap_columns(), IncidentVersion.id, IncidentVersion._actor_name,
                      IncidentVersion._actor_org)
            .join(IncidentVersion, IncidentVersion.incident_id == Incident.id)
            .where(where, ~current).order_by(IncidentVersion.id))


def _opened(chain: keychain.Keychain, wraps: sa.Row, stored: str | None,
            field: SealedText) -> str | None:
    if not crypto.is_sealed_text(stored):
        return stored or ""
    return chain.text(wraps, stored, field) or None  # sealed text is never empty: no key


def fill(where: sa.ColumnElement[bool]) -> tuple[int, int]:
    """Fingerprint the versions `missing(where)` lists whose names this request's keys open
    (or that are still in clear), in a commit of its own: like the office's rewraps, a cache,
    lost to a concurrent writer and made again. Returns (made, left without)."""
    from app.models import Fingerprint, IncidentVersion

    chain, width, kid = keychain.current(), keychain.WRAP_WIDTH, key_id()
    made, left = [], 0
    for row in db.session.execute(missing(where)):
        wraps, (version_id, name, org) = row[:width], row[width:]
        texts = {"person": _opened(chain, wraps, name, IncidentVersion.actor_name),
                 "organisation": _opened(chain, wraps, org, IncidentVersion.actor_org)}
        if None in texts.values():
            left += 1
            continue
        made.append({"version_id": version_id, "agency_id": wraps[1], "key_id": kid,
                     **{kind: of(kind, text) for kind, text in texts.items()}})
    if made:
        _write(Fingerprint.__table__, made)
    return len(made), left


def _write(table: sa.Table, rows: list[dict]) -> None:
    try:
        for start in range(0, len(rows), BATCH):
            chunk = rows[start:start + BATCH]
            db.session.execute(table.delete().where(
                table.c.version_id.in_([row["version_id"] for row in chunk])))
            db.session.execute(table.insert(), chunk)
        db.session.commit()
    except sa.exc.OperationalError:
        db.session.rollback()
