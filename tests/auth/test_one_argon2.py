"""A sign-in costs one Argon2id computation where it cost two (issue 16): opening the key ring,
sealed under Argon2id of the password, proves the password while the ring is bound to the
account's current hash. The attacks: a reset leaves the ring sealed with the old password,
which must not sign in; a refused password must cost the same whoever the account is."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.admin.cli import set_password_command
from app.auth import security
from app.keys import crypto, custody
from app.models import KeyRing, User
from tests.helpers.factories import PASSWORD
from tests.helpers.web import post_form

NEW_PASSWORD = "Another-password-2026"


@pytest.fixture
def argon2_calls(monkeypatch):
    """How many Argon2id computations run: password hashes verified, keys derived."""
    calls = []
    hasher, derive = security._hasher, crypto.derive

    class Counted:
        def __getattr__(self, name):
            return getattr(hasher, name)

        def verify(self, *args):
            calls.append("verify")
            return hasher.verify(*args)

    def counted_derive(*args):
        calls.append("derive")
        return derive(*args)

    monkeypatch.setattr(security, "_hasher", Counted())
    monkeypatch.setattr(crypto, "derive", counted_derive)
    return calls


def sign_in(app, identifier: str, password: str) -> int:
    client = app.test_client()
    return post_form(client, "/auth/login", {"identifier": identifier,
                                              "password": password}).status_code


def ring(db, user) -> KeyRing:
    db.session.expire_all()
    return custody.ring_of(user.id)


def test_a_sign_in_with_a_bound_ring_costs_one_argon2(app, db, auditor, argon2_calls):
    assert sign_in(app, auditor.staff_no, PASSWORD) == 302   # the ring is made and bound
    assert ring(db, auditor).password_tag == custody.password_tag(auditor)
    argon2_calls.clear()
    assert sign_in(app, auditor.staff_no, PASSWORD) == 302
    assert argon2_calls == ["derive"]


@pytest.mark.parametrize("who", ["with a ring", "without a ring", "unknown"])
def test_a_refused_password_costs_two_whoever_the_account(app, db, auditor, argon2_calls, who):
    if who == "with a ring":
        sign_in(app, auditor.staff_no, PASSWORD)
    argon2_calls.clear()
    identifier = "NOBODY" if who == "unknown" else auditor.staff_no
    assert sign_in(app, identifier, "wrong-password") == 401
    assert len(argon2_calls) == 2


def test_after_a_reset_the_old_password_opens_the_old_ring_but_not_the_account(
        app, db, runner, auditor):
    assert sign_in(app, auditor.staff_no, PASSWORD) == 302
    old_ring = ring(db, auditor)
    result = runner.invoke(set_password_command, [auditor.staff_no, "--password", NEW_PASSWORD])
    assert result.exit_code == 0, result.output
    # The attack: the old password still opens the ring it sealed...
    assert custody.unlock(ring(db, auditor), auditor.id, PASSWORD) is not None
    # ...but the ring is bound to the old hash, so it proves nothing.
    assert sign_in(app, auditor.staff_no, PASSWORD) == 401
    assert sign_in(app, auditor.staff_no, NEW_PASSWORD) == 302
    renewed = ring(db, auditor)
    assert renewed.id != old_ring.id
    assert renewed.password_tag == custody.password_tag(db.session.get(User, auditor.id))


def test_a_rehashed_password_binds_the_ring_again(app, db, make_user, argon2_calls):
    from argon2 import PasswordHasher

    user = make_user(password_hash=PasswordHasher().hash(PASSWORD))  # the old parameters
    assert sign_in(app, user.staff_no, PASSWORD) == 302
    rehashed = db.session.scalar(sa.select(User.password_hash).where(User.id == user.id))
    assert rehashed != user.password_hash
    argon2_calls.clear()
    assert sign_in(app, user.staff_no, PASSWORD) == 302
    assert argon2_calls == ["derive"]
