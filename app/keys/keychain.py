"""The keys this request holds, and the content keys of registrations they open.

A signed-in request holds its user's private key (unlocked at sign-in, app/keys/custody.py)
and, for a member of the discipline office granted it, the agency's private key, unwrapped from
their KeyGrant on first use. A registration's content key opens with the agency's key (the
discipline office) or with the key ring it was wrapped for (the registrant). Outside a request
(the scheduler, the CLI, e-mails) there is no key at all: content can be sealed for a new
registration (that needs only public keys) but never opened.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from flask import current_app, g, has_request_context
from flask_babel import gettext as _

from app.core.extensions import db
from app.core.refusals import Refused
from app.keys import crypto

logger = logging.getLogger(__name__)
KEY_ATTR = "_content_key"  # the incident's content key once opened or made, for this request
_override: contextvars.ContextVar[Keychain | None] = contextvars.ContextVar("keychain",
                                                                            default=None)


class KeysNotReady(Refused):
    """The agency's discipline office has not yet made its key pair: nothing can be sealed."""

    status = 409

    def __init__(self) -> None:
        super().__init__(_("The discipline office has not set up its keys yet, so registrations "
                           "cannot be kept confidential. A member of the discipline office sets "
                           "them up on its office page; please try again afterwards."))


class ContentSealed(Refused):
    """A step that needs the content of a registration this user holds no key for."""

    status = 403

    def __init__(self) -> None:
        super().__init__(_("You hold no key to the content of this registration. The "
                           "discipline office grants access to its members, and restores a "
                           "registrant's access after a password reset."))


def cipher() -> int:
    return crypto.CIPHERS[current_app.config["CONTENT_CIPHER"]]


class Keychain:
    def __init__(self, user_id: int | None = None, ring_id: int | None = None,
                 private: bytes | None = None, office: bool = False) -> None:
        self.user_id = user_id
        self.ring_id = ring_id
        self.private = private
        self.office = office  # holds the discipline-office policy (app/core/access.py)
        self._agency: dict[int, bytes | None] = {}
        self._opened: dict[int, bytes | None] = {}
        self.rewraps: dict[int, str] = {}  # incident id -> the office's wrap made here
        self._office: dict[int, bytes | None] = {}

    def agency_private(self, agency_id: int) -> bytes | None:
        """The agency's private key, if this user is of its office and was granted it."""
        if not (self.office and self.private):
            return None
        if agency_id not in self._agency:
            from app.models import KeyGrant

            wrapped = db.session.scalar(sa.select(KeyGrant.wrapped).where(
                KeyGrant.agency_id == agency_id, KeyGrant.user_id == self.user_id,
                KeyGrant.ring_id == self.ring_id))
            self._agency[agency_id] = (crypto.unwrap(self.private, wrapped, b"grant")
                                       if wrapped else None)
        return self._agency[agency_id]

    def holds_agency(self, agency_id: int) -> bool:
        return self.agency_private(agency_id) is not None

    def office_key(self, agency_id: int) -> bytes | None:
        """The office's symmetric key, derived from the agency's private key."""
        if agency_id not in self._office:
            private = self.agency_private(agency_id)
            self._office[agency_id] = (crypto.derive_from_code(private, b"office content keys")
                                       if private else None)
        return self._office[agency_id]

    def open_wrapped(self, agency_id: int, user_id: int, ring_id: int | None,
                     for_agency: str | None, for_registrant: str | None,
                     for_office: str | None = None, incident_id: int | None = None
                     ) -> bytes | None:
        """A content key from its wraps (also for reading many rows without loading
        incidents): the office's own wrap if there is one, else the agency's (then the
        office's is made, for `save_rewraps`), else the registrant's."""
        office = self.office_key(agency_id)
        aad = b"office:%d" % (incident_id or 0)
        if office is not None and for_office:
            with contextlib.suppress(crypto.Undecryptable):
                return crypto.unseal(office, crypto.unb64(for_office), aad)
        try:
            if office is not None and for_agency:
                key = crypto.unwrap(self.agency_private(agency_id), for_agency)
                if incident_id is not None:
                    self.rewraps[incident_id] = crypto.b64(crypto.seal(office, key, aad))
                return key
            if (for_registrant and self.private and user_id == self.user_id
                    and ring_id == self.ring_id):
                return crypto.unwrap(self.private, for_registrant)
        except crypto.Undecryptable:  # a wrap changed in the database opens nothing
            logger.warning("a content key of incident %s did not open", incident_id)
        return None

    def save_rewraps(self) -> None:
        """Keep the office's wraps made in this request, in a commit of their own (a page
        that only reads calls it last). A cache: lost to a concurrent writer, made again."""
        from app.models import Incident

        if not self.rewraps:
            return
        table = Incident.__table__
        rows = [{"b_id": incident_id, "b_key": key} for incident_id, key in self.rewraps.items()]
        self.rewraps = {}
        try:
            db.session.execute(table.update().where(table.c.id == sa.bindparam("b_id"))
                               .values(key_for_office=sa.bindparam("b_key")), rows)
            db.session.commit()
        except sa.exc.OperationalError:
            db.session.rollback()

    def text(self, wraps: sa.Row, stored: str | None, field: Any) -> str:
        """A sealed column read by the office without loading its objects (pattern alerts,
        search): `wraps` is a row of `wrap_columns()`, `field` the model's SealedText."""
        if not crypto.is_sealed_text(stored):
            return stored or ""
        incident_id, agency_id, for_office, for_agency = wraps
        if incident_id not in self._opened:
            self._opened[incident_id] = self.open_wrapped(
                agency_id, 0, None, for_agency, None, for_office, incident_id)
        key = self._opened[incident_id]
        return crypto.unseal_text(key, stored, field.aad) if key else ""

    def content_key(self, incident: Any, create: bool = False) -> bytes | None:
        """The incident's content key, or None when this chain cannot open it. With `create`,
        a new incident gets its key (wrapped for the agency and the registrant), and one that
        cannot be opened refuses (ContentSealed): nothing is written under a key nobody
        here holds."""
        key = incident.__dict__.get(KEY_ATTR)
        if key is None:
            if incident.key_for_agency is None:
                if not create:
                    return None
                key = _new_content_key(incident)
            else:
                key = self.open_wrapped(incident.agency_id, incident.user_id,
                                        incident.registrant_ring_id, incident.key_for_agency,
                                        incident.key_for_registrant, incident.key_for_office,
                                        incident.id)
                if key is None:
                    if create:
                        raise ContentSealed
                    return None
            incident.__dict__[KEY_ATTR] = key
        return key



def hand_over(incident: Any, agency_id: int) -> None:
    """Wrap `incident`'s content key for another agency's key instead of its own (a case handed
    to the level above): the old agency's wrap and its office's are gone, so its keys open
    nothing of it from now on. The caller's chain must open the key (ContentSealed if not)."""
    from app.models import AgencyKey

    key = current().content_key(incident)
    agency_key = db.session.get(AgencyKey, agency_id)
    if key is None:
        raise ContentSealed
    if agency_key is None:
        raise KeysNotReady
    incident.key_for_agency = crypto.wrap(crypto.unb64(agency_key.public_key), key)
    incident.key_for_office = None


def wrap_columns() -> tuple[sa.ColumnElement, ...]:
    """What `Keychain.text` needs of an incident, to select beside its sealed columns."""
    from app.models import Incident

    # The agency's wrap only where the office has none of its own yet: a year of rows is
    # fetched for the alerts, and each wrap is some 100 bytes.
    return (Incident.id, Incident.agency_id, Incident.key_for_office,
            sa.case((Incident.key_for_office.is_(None), Incident.key_for_agency)))


WRAP_WIDTH = 4  # len(wrap_columns())


def _new_content_key(incident: Any) -> bytes:
    from app.keys.custody import ring_of
    from app.models import AgencyKey

    with db.session.no_autoflush:
        agency_key = db.session.get(AgencyKey, incident.agency_id)
        if agency_key is None:
            raise KeysNotReady
        registrant = incident.user_id if incident.user_id is not None else incident.user.id
        ring = ring_of(registrant)
    key = crypto.random_key()
    incident.key_for_agency = crypto.wrap(crypto.unb64(agency_key.public_key), key)
    if ring is not None:
        incident.key_for_registrant = crypto.wrap(crypto.unb64(ring.public_key), key)
        incident.registrant_ring_id = ring.id
    return key


NOBODY = Keychain()


def current() -> Keychain:
    """A request's: its signed-in user's (never anything else). Outside a request: what
    `using` holds, else none."""
    if not has_request_context():
        return _override.get() or NOBODY
    chain = g.get("keychain")
    if chain is None:
        from app.keys.custody import from_session

        chain = g.keychain = from_session()
    return chain


def forget_request_chain() -> None:
    """After sign-in or sign-out within a request: the next use looks again."""
    g.pop("keychain", None)


@contextlib.contextmanager
def using(chain: Keychain) -> Iterator[Keychain]:
    """Hold `chain` outside a request (the demo, tests): a request only ever holds its
    signed-in user's keys."""
    token = _override.set(chain)
    try:
        yield chain
    finally:
        _override.reset(token)
