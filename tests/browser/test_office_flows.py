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


def test_the_office_sets_up_its_keys_and_gives_a_new_member_access(page, app, frozen,
                                                                   page_problems):
    """Issue 13 in the browser: the first member makes the keys and sees the recovery key
    once; a colleague who joined sees no content until that member gives it."""
    from tests.helpers import factories
    from tests.helpers.review import make_incident

    agency = factories.AgencyFactory(keys=False)
    first = factories.UserFactory(agency=agency, staff_no="R010", name="赵敏", roles={"reviewer"})
    newcomer = factories.UserFactory(agency=agency, staff_no="R011", name="孙丽",
                                     roles={"reviewer"})
    auditor = factories.UserFactory(agency=agency, staff_no="A010", name="张伟")
    signed_in(page, first)
    page.goto("/review/office")
    page.get_by_test_id("office-keys").get_by_role("button").click()
    code = page.get_by_test_id("recovery-key").inner_text()
    assert len(code.split("-")) == 13
    page.get_by_role("link", name="我已打印保存").click()
    expect(page.get_by_test_id("office-keys")).not_to_contain_text(code)
    incident_id = make_incident(auditor, description="只给纪检部门看的原话")
    page.goto(f"/review/incidents/{incident_id}")
    expect(page.get_by_text("只给纪检部门看的原话")).to_be_visible()
    sign_out(page)

    signed_in(page, newcomer)
    page.goto(f"/review/incidents/{incident_id}")
    expect(page.locator("main")).not_to_contain_text("只给纪检部门看的原话")
    expect(page.locator("main")).to_contain_text("内容未解密")
    sign_out(page)

    signed_in(page, first)
    page.goto("/review/office")
    page.locator("[data-member=R011]").get_by_role("button", name="授权查看内容").click()
    expect(page.locator("[data-member=R011]").get_by_test_id("holds-key")).to_be_visible()
    sign_out(page)
    signed_in(page, newcomer)
    page.goto(f"/review/incidents/{incident_id}")
    expect(page.get_by_text("只给纪检部门看的原话")).to_be_visible()
    page_problems.assert_clean()
