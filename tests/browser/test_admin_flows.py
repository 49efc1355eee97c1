"""An administrator onboards staff from a CSV file in Chromium, and finds them in the list."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.core.extensions import db as _db
from tests.helpers import factories
from tests.helpers.browser import signed_in

STAFF_CSV = (
    "工号,姓名,科室,邮箱,角色,入职日期\r\n"
    "B001,欧阳明,财政审计科,ouyang@example.org,审计人员,2025-01-02\r\n"
    "B002,司马静,财政审计科,,局领导,\r\n"
)


@pytest.fixture(autouse=True)
def no_second_factor(app, monkeypatch):
    """Two-factor sign-in has its own browser test; here the administrator signs in directly."""
    monkeypatch.setitem(app.config, "TWO_FACTOR_ROLES", ())


def test_an_admin_imports_staff_from_csv(page, app, agency, make_user, frozen, page_problems,
                                         tmp_path):
    factories.DepartmentFactory(agency=agency, name="财政审计科")
    admin = make_user(staff_no="ADM1", name="管理员", roles={"admin"})
    _db.session.commit()
    signed_in(page, admin)
    page.get_by_test_id("nav-admin").click()
    expect(page).to_have_url(re.compile(r"/admin/users$"))

    page.goto("/admin/import/users")
    csv_path = tmp_path / "员工名单.csv"
    csv_path.write_bytes(STAFF_CSV.encode("gbk"))  # as Chinese Excel saves it
    page.set_input_files("input[name=file]", str(csv_path))
    page.get_by_test_id("upload-form").locator("input[type=submit]").click()
    expect(page.locator("[data-count=create]")).to_have_text("2")
    expect(page.locator("[data-count=error]")).to_have_text("0")
    expect(page.locator("tr[data-action=create]")).to_have_count(2)

    page.get_by_test_id("apply-form").locator("input[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/admin/users$"))
    expect(page.locator(".alert-success")).to_be_visible()

    page.fill("input[name=q]", "欧阳")
    page.get_by_test_id("user-filters").locator("button[type=submit]").click()
    row = page.locator("tr[data-staff-no=B001]")
    expect(row).to_contain_text("欧阳明")
    expect(row).to_contain_text("财政审计科")
    expect(page.locator("tr[data-staff-no=B002]")).to_have_count(0)
    page_problems.assert_clean()
