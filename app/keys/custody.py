"""Key custody: people's key rings, the session's unlocked key, the agency key and its grants.

- Each person's key ring is sealed with their password (Argon2id); it is unlocked once at
  sign-in and then held for the session as a SessionKey row sealed with a key that only the
  session cookie carries (`open_session`). Sign-out deletes the row; a new session version
  (password change, sign-out elsewhere, deactivation) makes it useless.
- A password that no longer opens the ring (an administrator's reset, a directory password
  changed outside the portal) gives a new, empty ring: registrations wrapped for the old one stay
  readable to the discipline office, which can restore them to the registrant
  (`restore_registrant`).
- The agency's private key is wrapped for each granted member of its discipline office and for
  the recovery key printed when it was made; a grant is given only by someone who holds the key
  already (or the recovery key), never by a role change.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app, g, session
from flask_babel import gettext as _
from flask_login import current_user

from app.core import access, auditlog, clock
from app.core.extensions import db
from app.core.refusals import Refused
from app.keys import crypto
from app.keys.keychain import Keychain, forget_request_chain
from app.models import AgencyKey, Incident, KeyGrant, KeyRing, SessionKey, User

SESSION_FIELD = "keys"  # the session cookie's key to its SessionKey row


class KeysRefused(Refused):
    """A key step refused; the message is for the user."""


def kdf_params() -> crypto.KdfParams:
    config = current_app.config
    return crypto.KdfParams(config["KEY_KDF_TIME_COST"], config["KEY_KDF_MEMORY_KIB"],
                            config["KEY_KDF_LANES"])


def ring_of(user_id: int) -> KeyRing | None:
    """The person's ring: their newest."""
    return db.session.scalar(sa.select(KeyRing).where(KeyRing.user_id == user_id)
                             .order_by(KeyRing.id.desc()).limit(1))


def _password_key(ring: KeyRing, password: str) -> bytes:
    return crypto.derive(password, crypto.unb64(ring.kdf_salt),
                         crypto.KdfParams.parse(ring.kdf_params))


def _seal_private(ring: KeyRing, user_id: int, private: bytes, password: str) -> None:
    ring.kdf_salt = crypto.b64(os.urandom(16))
    ring.kdf_params = str(kdf_params())
    ring.private_sealed = crypto.b64(crypto.seal(_password_key(ring, password), private,
                                                 b"ring:%d" % user_id))


def unlock(ring: KeyRing | None, user_id: int, password: str) -> bytes | None:
    if ring is None or not ring.private_sealed:
        return None
    try:
        return crypto.unseal(_password_key(ring, password), crypto.unb64(ring.private_sealed),
                             b"ring:%d" % user_id)
    except crypto.Undecryptable:
        return None


def new_ring(user: User, password: str) -> tuple[KeyRing, bytes]:
    """A fresh key pair for `user`; a ring they had keeps only its public half."""
    old = ring_of(user.id)
    if old is not None:
        old.private_sealed = ""
    pair = crypto.new_key_pair()
    ring = KeyRing(user_id=user.id, public_key=crypto.b64(pair.public), created_at=clock.now())
    _seal_private(ring, user.id, pair.private, password)
    db.session.add(ring)
    db.session.flush()
    auditlog.record("keys.ring_renewed" if old is not None else "keys.ring_created", user,
                    actor_id=user.id)
    return ring, pair.private


def password_tag(user: User) -> str | None:
    """What binds a ring to the account's current password hash (KeyRing.password_tag)."""
    if not user.password_hash:
        return None
    return hashlib.sha256(b"audit-portal ring password " + user.password_hash.encode()).hexdigest()


def ring_opens(user: User, password: str) -> bool | None:
    """Whether `password` opens the person's ring, when that decides the password: the ring is
    sealed (AES-GCM, authenticated) under Argon2id of the password, so opening it proves the
    password as verifying the hash would, at the cost of one Argon2id computation where a
    sign-in took two (the hash, then the ring). Only while the ring is bound to the current
    hash: after a reset, a ring still sealed with the old password must prove nothing. None:
    the ring cannot decide (no ring, or not bound to this hash); the hash must."""
    ring = ring_of(user.id)
    tag = password_tag(user)
    if ring is None or tag is None or ring.password_tag != tag:
        return None
    private = unlock(ring, user.id, password)
    if private is None:
        return False
    g.opened_ring = (user.id, ring.id, private)  # for sign_in, in this request only
    return True


def pad(password: str) -> None:
    """One key derivation whose result is dropped: a refused password costs two Argon2id
    computations whether the account exists and has a bound ring or not (no timing says
    which)."""
    crypto.derive(password, b"\0" * 16, kdf_params())


def _opened(user: User, ring: KeyRing | None) -> bytes | None:
    opened = g.pop("opened_ring", None)
    if ring is None or opened is None or opened[:2] != (user.id, ring.id):
        return None
    return opened[2]


def sign_in(user: User, password: str) -> str:
    """Unlock (or make) the person's ring with the password just checked (or take the key
    `ring_opens` unlocked checking it); the value the session cookie keeps (`SESSION_FIELD`).
    The ring is bound to the current hash from now on (after a rehash too)."""
    ring = ring_of(user.id)
    private = _opened(user, ring) or unlock(ring, user.id, password)
    if ring is None or private is None:
        ring, private = new_ring(user, password)
    ring.password_tag = password_tag(user)
    return open_session(user, ring, private)


def change_password(user: User, current_password: str, new_password: str) -> tuple[KeyRing,
                                                                                     bytes]:
    """The same key pair, sealed anew under the new password (or a new ring if the current
    password did not open it)."""
    ring = ring_of(user.id)
    private = unlock(ring, user.id, current_password)
    if ring is None or private is None:
        ring, private = new_ring(user, new_password)
    else:
        _seal_private(ring, user.id, private, new_password)
    ring.password_tag = password_tag(user)  # the caller has set the new hash
    return ring, private


def _token_hash(secret: bytes) -> str:
    return hashlib.sha256(b"audit-portal session key " + secret).hexdigest()


def open_session(user: User, ring: KeyRing, private: bytes) -> str:
    """Keep `private` for a session of the user's current version; stale rows of the user go."""
    now = clock.now()
    too_old = now - timedelta(hours=current_app.config["SESSION_ABSOLUTE_HOURS"])
    db.session.execute(sa.delete(SessionKey).where(
        SessionKey.user_id == user.id,
        sa.or_(SessionKey.session_version != user.session_version,
               SessionKey.created_at < too_old)))
    secret = os.urandom(32)
    db.session.add(SessionKey(
        token_hash=_token_hash(secret), user_id=user.id, ring_id=ring.id,
        session_version=user.session_version, created_at=now,
        sealed=crypto.b64(crypto.seal(crypto.derive_from_code(secret, b"session"), private,
                                      b"session:%d" % user.id))))
    forget_request_chain()
    return crypto.b64(secret)


def carry(user: User) -> str | None:
    """This session's key again, for the session that goes on after the user's version moved
    (a password change or a second factor set up here ends the others)."""
    secret = _cookie_secret()
    row = db.session.scalar(sa.select(SessionKey).where(
        SessionKey.token_hash == _token_hash(secret),
        SessionKey.user_id == user.id)) if secret else None
    private = _unseal_session(row, secret, user.id) if row is not None else None
    ring = ring_of(user.id)
    if private is None or ring is None or ring.id != row.ring_id:
        return None
    return open_session(user, ring, private)


def forget(user: User) -> None:
    """Sign-out: every session of the user ends, and with it every unlocked copy."""
    db.session.execute(sa.delete(SessionKey).where(SessionKey.user_id == user.id))
    forget_request_chain()


def _cookie_secret() -> bytes | None:
    value = session.get(SESSION_FIELD)
    if not value:
        return None
    try:
        return crypto.unb64(value)
    except (ValueError, TypeError):
        return None


def from_session() -> Keychain:
    """The signed-in user's keys, from their session cookie and its SessionKey row."""
    if not current_user.is_authenticated:
        return Keychain()
    user = current_user._get_current_object()
    office = access.allows(user, access.REVIEW)
    secret = _cookie_secret()
    row = db.session.scalar(sa.select(SessionKey).where(
        SessionKey.token_hash == _token_hash(secret), SessionKey.user_id == user.id,
        SessionKey.session_version == user.session_version)) if secret else None
    private = _unseal_session(row, secret, user.id) if row is not None else None
    if private is None:
        return Keychain(user.id, office=office)
    return Keychain(user.id, row.ring_id, private, office=office)


def _unseal_session(row: SessionKey, secret: bytes, user_id: int) -> bytes | None:
    try:
        return crypto.unseal(crypto.derive_from_code(secret, b"session"),
                             crypto.unb64(row.sealed), b"session:%d" % user_id)
    except crypto.Undecryptable:
        return None


def held_key() -> bytes | None:
    """A key for files held between two submissions of a form: only this session opens them."""
    secret = _cookie_secret()
    return crypto.derive_from_code(secret, b"held evidence") if secret else None


# The agency key ------------------------------------------------------------------------------

RECOVERY_GROUP = 4


def format_recovery(code: bytes) -> str:
    text = base64.b32encode(code).decode().rstrip("=")
    return "-".join(text[i:i + RECOVERY_GROUP] for i in range(0, len(text), RECOVERY_GROUP))


def parse_recovery(text: str) -> bytes | None:
    letters = re.sub(r"[^A-Z2-7]", "", text.upper())
    try:
        code = base64.b32decode(letters + "=" * (-len(letters) % 8))
    except ValueError:
        return None
    return code if len(code) == crypto.KEY else None


def _recovery_key(code: bytes, agency_id: int) -> bytes:
    return crypto.derive_from_code(code + b"%d" % agency_id, b"recovery")


def create_agency_key(agency_id: int, creator: User | None, now: datetime,
                      code: bytes | None = None) -> str:
    """The agency's key pair, granted to `creator` (who must have a ring); returns the recovery
    key, to be shown once and printed. Refused if the agency has one. (`code`: the demo's
    recovery key, the same at every load.)"""
    if db.session.get(AgencyKey, agency_id) is not None:
        raise KeysRefused(_("The discipline office's keys are already set up."))
    pair = crypto.new_key_pair()
    code = code or os.urandom(crypto.KEY)
    db.session.add(AgencyKey(
        agency_id=agency_id, public_key=crypto.b64(pair.public), created_at=now,
        created_by_id=creator.id if creator else None,
        recovery_sealed=crypto.b64(crypto.seal(_recovery_key(code, agency_id), pair.private,
                                               b"agency:%d" % agency_id))))
    db.session.flush()
    auditlog.record("keys.agency_created", None, actor_id=creator.id if creator else None,
                    agency=agency_id)
    if creator is not None:
        grant(agency_id, creator, creator, pair.private, now)
    return format_recovery(code)


def grant(agency_id: int, grantee: User, by: User | None, agency_private: bytes,
          now: datetime) -> KeyGrant:
    """Wrap the agency's key for `grantee`'s ring (a member of the office who has signed in
    since the portal encrypts, so that they have one)."""
    if grantee.agency_id != agency_id or not access.allows(grantee, access.REVIEW):
        raise KeysRefused(_("Only a member of this discipline office can be given access."))
    ring = ring_of(grantee.id)
    if ring is None or not ring.private_sealed:
        raise KeysRefused(_("%(name)s has no key yet: they sign in once, then you can give "
                            "them access.", name=grantee.name))
    row = db.session.scalar(sa.select(KeyGrant).where(KeyGrant.agency_id == agency_id,
                                                      KeyGrant.user_id == grantee.id))
    if row is None:
        row = KeyGrant(agency_id=agency_id, user_id=grantee.id)
        db.session.add(row)
    row.ring_id = ring.id
    row.wrapped = crypto.wrap(crypto.unb64(ring.public_key), agency_private, b"grant")
    row.granted_by_id = by.id if by else None
    row.granted_at = now
    db.session.flush()
    auditlog.record("keys.granted", grantee, actor_id=by.id if by else None)
    return row


def withdraw(agency_id: int, user: User, by: User | None) -> bool:
    """The member's copy of the agency key goes (with their office role, or on its own)."""
    deleted = db.session.execute(sa.delete(KeyGrant).where(
        KeyGrant.agency_id == agency_id, KeyGrant.user_id == user.id)).rowcount
    if deleted:
        auditlog.record("keys.withdrawn", user, actor_id=by.id if by else None)
    return bool(deleted)


def recover(agency_id: int, text: str, grantee: User, now: datetime) -> KeyGrant:
    """Grant the agency key to `grantee` with the recovery key (when no member holds it)."""
    agency_key = db.session.get(AgencyKey, agency_id)
    code = parse_recovery(text)
    if agency_key is None or code is None:
        raise KeysRefused(_("The recovery key is not correct."))
    try:
        private = crypto.unseal(_recovery_key(code, agency_id),
                                crypto.unb64(agency_key.recovery_sealed),
                                b"agency:%d" % agency_id)
    except crypto.Undecryptable:
        raise KeysRefused(_("The recovery key is not correct.")) from None
    row = grant(agency_id, grantee, None, private, now)
    auditlog.record("keys.recovered", grantee, actor_id=None)
    return row


def unreadable_to_registrant(agency_id: int) -> sa.Select:
    """(user id, registrations) whose registrant's current ring cannot open them."""
    newest = (sa.select(sa.func.max(KeyRing.id)).where(KeyRing.user_id == Incident.user_id)
              .scalar_subquery())
    return (sa.select(Incident.user_id, sa.func.count())
            .where(Incident.agency_id == agency_id, Incident.key_for_agency.is_not(None),
                   sa.or_(Incident.registrant_ring_id.is_(None),
                          Incident.registrant_ring_id != newest),
                   newest.is_not(None))
            .group_by(Incident.user_id))


def restore_registrant(agency_id: int, registrant: User, by: User,
                       agency_private: bytes) -> int:
    """Wrap each of the registrant's registrations for their current ring again."""
    ring = ring_of(registrant.id)
    if ring is None or registrant.agency_id != agency_id:
        raise KeysRefused(_("%(name)s has no key yet: they sign in once, then you can restore "
                            "their access.", name=registrant.name))
    rows = db.session.scalars(sa.select(Incident).where(
        Incident.agency_id == agency_id, Incident.user_id == registrant.id,
        Incident.key_for_agency.is_not(None),
        sa.or_(Incident.registrant_ring_id.is_(None), Incident.registrant_ring_id != ring.id)))
    public = crypto.unb64(ring.public_key)
    count = 0
    for incident in rows:
        key = crypto.unwrap(agency_private, incident.key_for_agency)
        incident.key_for_registrant = crypto.wrap(public, key)
        incident.registrant_ring_id = ring.id
        count += 1
    if count:
        auditlog.record("keys.registrant_restored", registrant, actor_id=by.id,
                        registrations=count)
    return count


@dataclass(frozen=True)
class OfficeKeys:
    """What the office page shows of its keys."""

    ready: bool  # the agency key exists
    holders: frozenset[int]  # members granted it (for their current ring)
    without_access: list[tuple[User, int]]  # registrants who cannot open n of their own


def office_keys(agency_id: int, members: list[User]) -> OfficeKeys:
    ready = db.session.get(AgencyKey, agency_id) is not None
    holders = frozenset(db.session.scalars(sa.select(KeyGrant.user_id).where(
        KeyGrant.agency_id == agency_id,
        KeyGrant.user_id.in_([m.id for m in members]))))
    counts = dict(db.session.execute(unreadable_to_registrant(agency_id)).all())
    people = db.session.scalars(sa.select(User).where(User.id.in_(counts))
                                .order_by(User.staff_no)) if counts else []
    return OfficeKeys(ready, holders, [(person, counts[person.id]) for person in people])
