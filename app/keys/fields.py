"""Model attributes whose column holds sealed text: the code reads and writes clear text.

`description = SealedText("_description", owner=lambda v: v.incident)` on a model makes
`version.description` the clear text for whoever holds the incident's content key in this
request (app/keys/keychain.py), and a text saying "content not opened" for anyone else.
Assigning stores the clear value on the instance; the session's before_flush hook
(`seal_pending`) seals it into the column with the owner's content key, once the object is
attached to its incident. A column still in clear (written before `flask keys init`) reads
as it is. `fingerprint="person"` also keeps the text's keyed fingerprint beside it, made at
the same moment (app/keys/fingerprints.py). Nothing here decides who may read:
app/core/access.py does, and the keys held only make that decision hold against someone who
reads the database instead of the pages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask_babel import lazy_gettext as _l

from app.keys import crypto

PENDING = "§pending"  # a column whose clear value waits on the instance for the flush
CLEAR = "_sealed_clear"  # the instance's dict of clear values written or opened this request


def sealed_label() -> str:
    """What a sealed field reads as without its key: text that says so (pages and exports
    show it instead of the content, and never break)."""
    return str(_l("[content not opened: no key]"))


class SealedText:
    def __init__(self, column: str, owner: Callable[[Any], Any], fingerprint: str = "") -> None:
        self.column = column
        self.owner = owner
        self.fingerprint = fingerprint  # the kind of fingerprint kept of it, or ""
        self.name = ""
        self.aad = b""

    def __set_name__(self, cls: type, name: str) -> None:
        self.name = name
        self.aad = f"{cls.__name__}.{name}".encode()

    def __eq__(self, other: object) -> bool:
        """A sealed column cannot be compared in SQL: its ciphertext matches nothing a query
        can say. Fail loudly instead of filtering everything out."""
        raise TypeError(f"{self.name} is sealed at rest: compare in memory, after opening")

    __hash__ = object.__hash__

    def __get__(self, obj: Any, cls: type | None = None) -> Any:
        if obj is None:
            return self
        clear = obj.__dict__.get(CLEAR)
        if clear is not None and self.name in clear:
            return clear[self.name]
        stored = getattr(obj, self.column)
        if not crypto.is_sealed_text(stored):
            return stored  # empty, or still in clear from before `flask keys init`
        from app.keys import keychain

        key = keychain.current().content_key(self.owner(obj))
        if key is None:
            return sealed_label()
        value = crypto.unseal_text(key, stored, self.aad)
        obj.__dict__.setdefault(CLEAR, {})[self.name] = value
        return value

    def __set__(self, obj: Any, value: str | None) -> None:
        obj.__dict__.setdefault(CLEAR, {})[self.name] = value
        if value:
            setattr(obj, self.column, PENDING)
        else:  # nothing to hide: an empty field stays empty
            setattr(obj, self.column, value)

    def seal(self, obj: Any, key: bytes, cipher: int) -> None:
        value = obj.__dict__[CLEAR][self.name]
        setattr(obj, self.column, crypto.seal_text(key, value, self.aad, cipher))


def sealed_fields(cls: type) -> list[SealedText]:
    return [value for value in vars(cls).values() if isinstance(value, SealedText)]


def _pending(obj: object) -> list[SealedText]:
    return [field for field in sealed_fields(type(obj))
            if getattr(obj, field.column, None) == PENDING]


def seal_pending(session: so.Session, _context: object, _instances: object) -> None:
    """Before every flush: seal the clear values assigned since the last one."""
    from app.keys import fingerprints, keychain

    with session.no_autoflush:
        for obj in [*session.new, *session.dirty]:
            fields = _pending(obj)
            if not fields:
                continue
            # Asked only now: a flush with nothing to seal reads nothing more (on SQLite a
            # read before a transaction's first write can deadlock concurrent writers).
            key = keychain.current().content_key(fields[0].owner(obj), create=True)
            for field in fields:
                field.seal(obj, key, keychain.cipher())
            if any(field.fingerprint for field in fields):
                fingerprints.stamp(obj)


def install() -> None:
    if not sa.event.contains(so.Session, "before_flush", seal_pending):
        sa.event.listen(so.Session, "before_flush", seal_pending)
