"""factory_boy factories for the portal's models (persisted through the app's session)."""

from datetime import date
from functools import lru_cache

import factory
import pyotp
from factory.alchemy import SQLAlchemyModelFactory
from flask import current_app

from app.admin import employment
from app.auth.security import hash_password
from app.core.extensions import db
from app.keys import crypto, custody
from app.keys.keychain import Keychain
from app.models import Agency, AgencyKey, AuditProject, Department, KeyGrant, KeyRing, User

PASSWORD = "correct horse battery"


@lru_cache(maxsize=1)
def password_hash() -> str:
    return hash_password(PASSWORD)  # hashed once: Argon2 is slow on purpose


class Base(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "commit"


# Every test agency's recovery key (app/keys/custody.py), and its private keys by agency id.
RECOVERY_CODE = bytes(range(32))
AGENCY_PRIVATE: dict[int, bytes] = {}


def agency_key(agency: Agency) -> None:
    """The agency's key pair, as its first discipline-office member would make it (without
    the log entries, which tests that count entries do not expect)."""
    pair = crypto.new_key_pair()
    db.session.add(AgencyKey(
        agency_id=agency.id, public_key=crypto.b64(pair.public),
        recovery_sealed=crypto.b64(crypto.seal(custody._recovery_key(RECOVERY_CODE, agency.id),
                                               pair.private, b"agency:%d" % agency.id))))
    AGENCY_PRIVATE[agency.id] = pair.private
    db.session.commit()


def key_ring(user: User, password: str = PASSWORD) -> KeyRing:
    pair = crypto.new_key_pair()
    ring = KeyRing(user_id=user.id, public_key=crypto.b64(pair.public))
    custody._seal_private(ring, user.id, pair.private, password)
    db.session.add(ring)
    db.session.flush()
    return ring


def grant_office_key(user: User) -> None:
    """Wrap the agency key for a member of the discipline office (as a colleague would)."""
    ring = custody.ring_of(user.id)
    db.session.add(KeyGrant(agency_id=user.agency_id, user_id=user.id, ring_id=ring.id,
                            wrapped=crypto.wrap(crypto.unb64(ring.public_key),
                                                AGENCY_PRIVATE[user.agency_id], b"grant")))
    db.session.commit()


class TestReader(Keychain):
    """What the test process itself holds outside requests: every test agency's key, so that
    a test can read back what it stored (requests hold only their signed-in user's keys)."""

    def __init__(self) -> None:
        super().__init__(office=True)

    def agency_private(self, agency_id: int) -> bytes | None:
        return AGENCY_PRIVATE.get(agency_id)


class AgencyFactory(Base):
    class Meta:
        model = Agency

    name = factory.Sequence(lambda n: f"测试审计局{n}")
    timezone = "Asia/Shanghai"
    deadline_day = 5

    @factory.post_generation
    def keys(obj, create, extracted, **kwargs):
        if create and extracted is not False:
            agency_key(obj)
        else:  # an agency id of an earlier test may be in use again
            AGENCY_PRIVATE.pop(obj.id, None)


class DepartmentFactory(Base):
    class Meta:
        model = Department

    agency = factory.SubFactory(AgencyFactory)
    name = factory.Sequence(lambda n: f"审计{n}科")


class ProjectFactory(Base):
    class Meta:
        model = AuditProject

    agency_id = factory.LazyAttribute(lambda o: o.agency.id)
    code = factory.Sequence(lambda n: f"P-{n:03d}")
    name = factory.Sequence(lambda n: f"部门预算执行审计{n}")
    year = 2025

    class Params:
        agency = factory.SubFactory(AgencyFactory)

    @classmethod
    def _adjust_kwargs(cls, **kwargs):
        kwargs.pop("agency", None)
        return kwargs


class UserFactory(Base):
    class Meta:
        model = User

    agency = factory.SubFactory(AgencyFactory)
    staff_no = factory.Sequence(lambda n: f"S{n:04d}")
    name = factory.Sequence(lambda n: f"审计员{n}")
    email = factory.LazyAttribute(lambda o: f"{o.staff_no.lower()}@example.org")
    password_hash = factory.LazyFunction(password_hash)
    joined_on = date(2024, 1, 1)
    roles = factory.LazyFunction(lambda: {"auditor"})  # set before the commit
    # Roles that must sign in with a second factor come enrolled (tests.conftest.login types
    # the code); pass totp_secret=None for an account that has not enrolled yet.
    totp_secret = factory.LazyAttribute(
        lambda o: pyotp.random_base32(32)
        if set(o.roles) & set(current_app.config["TWO_FACTOR_ROLES"]) else None)

    @factory.post_generation
    def employment_period(obj, create, extracted, **kwargs):
        """The account's employment period, from its joined_on / left_on (as every way of
        creating an account makes it)."""
        if create:
            employment.follow(obj)
            db.session.commit()

    @factory.post_generation
    def keys(obj, create, extracted, **kwargs):
        """A key ring for the test password; the office's members hold the agency key (pass
        keys=False for an account that has never signed in since the portal encrypts)."""
        if not create or extracted is False or obj.password_hash is None:
            return
        key_ring(obj)
        db.session.commit()
        if "reviewer" in obj.roles and obj.agency_id in AGENCY_PRIVATE:
            grant_office_key(obj)
