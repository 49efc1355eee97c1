"""The discipline office co-opts a colleague in Chromium; the administrator is offered no way
to give its role."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from app.core.extensions import db as _db
from app.models import User
from tests.helpers.browser import sign_out, signed_in


@pytest.fixture(autouse=True)
def no_second_factor(app, monkeypatch):
    """Two-factor sign-in has its own browser test; here everyone signs in directly."""
    monkeypatch.setitem(app.config, "TWO_FACTOR_ROLES", ())


def roles_of(app, staff_no: str) -> set[str]:
    with app.app_context():
        return _db.session.scalar(sa.select(User).where(User.staff_no == staff_no)).roles


def test_the_office_co_opts_a_colleague_who_accepts(page, app, make_user, frozen,
                                                    page_problems):
    member = make_user(staff_no="R001", name="赵敏", roles={"reviewer"})
    colleague = make_user(staff_no="A001", name="孙丽")
    _db.session.commit()
    signed_in(page, member)
    page.goto("/review/office")
    page.get_by_test_id("propose").locator("select").select_option(label="A001 孙丽")
    page.get_by_test_id("propose").locator("button").click()
    expect(page.locator("[data-invited=A001]")).to_be_visible()
    assert "reviewer" not in roles_of(app, "A001")

    sign_out(page)
    signed_in(page, colleague)
    page.goto("/review/office")
    expect(page.get_by_test_id("invitation")).to_contain_text("赵敏")
    page.locator("form", has=page.locator("input[value=yes]")).locator("button").click()
    expect(page).to_have_url(re.compile(r"/review/$"))
    assert "reviewer" in roles_of(app, "A001")
    page_problems.assert_clean()


def test_the_administrator_is_offered_no_office_role(page, app, make_user, frozen,
                                                     page_problems):
    admin = make_user(staff_no="ADM1", name="李明", roles={"admin"})
    _db.session.commit()
    signed_in(page, admin)
    page.goto(f"/admin/users/{admin.id}")
    expect(page.locator("input[value=reviewer]")).to_have_count(0)
    expect(page.get_by_test_id("office-role")).to_be_visible()
    page_problems.assert_clean()
