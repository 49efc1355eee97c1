"""The audit log and the accounts list on a 390 px phone: no sideways scroll of the page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.core import auditlog
from app.core.extensions import db as _db
from tests.helpers import factories
from tests.helpers.review import make_incident
from tests.helpers.web import totp_code

PHONE = {"width": 390, "height": 844}
FITS = "document.documentElement.scrollWidth <= window.innerWidth"


@pytest.fixture(autouse=True)
def no_second_factor(app, monkeypatch):
    monkeypatch.setitem(app.config, "TWO_FACTOR_ROLES", ())


def sign_in(page, staff_no: str, user_id: int) -> None:
    page.goto("/auth/login")
    page.fill("input[name=identifier]", staff_no)
    page.fill("input[name=password]", factories.PASSWORD)
    page.click("main form input[type=submit][name=submit]")
    if re.search(r"/auth/login/code$", page.url):
        page.fill("input[name=code]", totp_code(user_id))
        page.click("main form input[type=submit][name=submit]")
    expect(page).to_have_url(re.compile(r"/$"))


def test_the_log_and_the_accounts_fit_a_phone(page, app, agency, make_user, frozen,
                                              page_problems):
    both = make_user(staff_no="P001", name="欧阳明轩", roles={"reviewer", "admin"})
    auditor = make_user(staff_no="P002", name="司马静怡",
                        email="a.rather.long.address.of.an.auditor@district-bureau.example.org")
    for _ in range(3):
        make_incident(auditor)
    auditlog.record("user.updated", auditor, actor_id=both.id, fields=["email"])
    for number in range(12):
        make_user(staff_no=f"LONG-STAFF-NUMBER-{number:04d}", name=f"长名字的审计人员{number}",
                  email=f"staff.member.number.{number}@district-audit-bureau.example.org")
    staff_no, user_id = both.staff_no, both.id
    _db.session.commit()
    page.set_viewport_size(PHONE)
    sign_in(page, staff_no, user_id)

    page.goto("/review/log")
    expect(page.get_by_test_id("audit-log")).to_contain_text("登记了打探干预情况")
    page.locator("[data-testid=audit-log] details summary").first.click()  # a hash unfolded
    assert page.evaluate(FITS), page.evaluate("document.documentElement.scrollWidth")

    page.goto("/admin/users")
    expect(page.get_by_test_id("users")).to_contain_text("司马静怡")
    assert page.evaluate(FITS), page.evaluate("document.documentElement.scrollWidth")
    page_problems.assert_clean()


def test_the_queue_starts_on_the_first_screen_of_a_phone(page, app, agency, make_user,
                                                         frozen, page_problems):
    member = make_user(staff_no="P010", name="欧阳明轩", roles={"reviewer"})
    auditor = make_user(staff_no="P011", name="司马静怡")
    for _ in range(8):
        make_incident(auditor, actor_name="诸葛某某", actor_org="某区发展和改革委员会")
    staff_no, user_id = member.staff_no, member.id
    _db.session.commit()
    page.set_viewport_size(PHONE)
    sign_in(page, staff_no, user_id)
    page.goto("/review/")
    expect(page.get_by_test_id("queue-filters")).to_be_hidden()  # folded until opened
    top = page.get_by_test_id("queue").bounding_box()["y"]
    assert top < PHONE["height"], top
    rows = page.locator("[data-testid=queue] tbody tr")
    assert max(rows.nth(n).bounding_box()["height"] for n in range(8)) < 120  # no letter columns
    assert page.evaluate(FITS), page.evaluate("document.documentElement.scrollWidth")
    page.locator("summary", has_text="筛选条件").click()
    expect(page.get_by_test_id("queue-filters")).to_be_visible()
    page_problems.assert_clean()
