"""factory_boy factories for the portal's models (persisted through the app's session)."""

from datetime import date
from functools import lru_cache

import factory
import pyotp
from factory.alchemy import SQLAlchemyModelFactory
from flask import current_app

from app.auth.security import hash_password
from app.core.extensions import db
from app.models import Agency, AuditProject, Department, User

PASSWORD = "correct horse battery"


@lru_cache(maxsize=1)
def password_hash() -> str:
    return hash_password(PASSWORD)  # hashed once: Argon2 is slow on purpose


class Base(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "commit"


class AgencyFactory(Base):
    class Meta:
        model = Agency

    name = factory.Sequence(lambda n: f"测试审计局{n}")
    timezone = "Asia/Shanghai"
    deadline_day = 5


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
