"""A city installation in Chromium: the installation administrator adds a district and appoints
its administrator; an auditor of a district reports directly to the city's discipline office,
which reads it while the district's office cannot find it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.core.extensions import db as _db
from tests.helpers import factories
from tests.helpers.browser import SUBMIT, fill_incident, sign_out, signed_in


@pytest.fixture(autouse=True)
def no_second_factor(app, monkeypatch):
    """Two-factor sign-in has its own browser test."""
    monkeypatch.setitem(app.config, "TWO_FACTOR_ROLES", ())


@pytest.fixture
def city(db, agency):
    city = factories.AgencyFactory(name="天津市审计局")
    agency.parent = city
    _db.session.commit()
    return city


def test_the_installation_administrator_adds_a_district_and_its_administrator(
        page, city, frozen, page_problems):
    installer = factories.UserFactory(agency=city, name="平台管理员", roles={"install_admin"})
    _db.session.commit()
    signed_in(page, installer)
    page.get_by_test_id("nav-installation").click()
    form = page.get_by_test_id("new-agency-form")
    form.locator("input[name=name]").fill("河西区审计局")
    form.locator("select[name=parent]").select_option(label=city.name)
    form.locator("input[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/installation/agencies/\d+$"))
    appoint = page.get_by_test_id("appoint-form")
    appoint.locator("input[name=staff_no]").fill("HX001")
    appoint.locator("input[name=name]").fill("河西管理员")
    appoint.locator("input[type=submit]").click()
    expect(page.get_by_test_id("signin-link")).to_contain_text("/auth/welcome/")
    page.get_by_role("link", name="返回机关页面").click()
    expect(page.get_by_test_id("admins")).to_contain_text("河西管理员 (HX001)")
    page.get_by_test_id("nav-installation").click()
    row = page.locator("[data-testid=agency-tree] tr", has_text="河西区审计局")
    expect(row).to_have_attribute("data-depth", "1")
    page_problems.assert_clean()


def test_an_auditor_reports_directly_to_the_city(page, city, agency, make_user, frozen,
                                                 page_problems):
    auditor = make_user(name="直报人")
    district_office = make_user(name="区纪检", roles={"reviewer"})
    city_office = factories.UserFactory(agency=city, name="市纪检", roles={"reviewer"})
    _db.session.commit()
    signed_in(page, auditor)
    page.goto("/filing/incidents/new")
    fill_incident(page, description="区领导要求删除审计发现。")
    box = page.get_by_test_id("to-level-above")
    expect(box).to_contain_text(city.name)
    box.locator("input[type=checkbox]").check()
    page.click(SUBMIT)
    expect(page.locator(".alert-success")).to_contain_text(city.name)
    expect(page.get_by_test_id("routes")).to_contain_text(city.name)
    sign_out(page)

    signed_in(page, district_office)
    page.goto("/review/")
    expect(page.locator("tr[data-incident]")).to_have_count(0)
    sign_out(page)

    signed_in(page, city_office)
    page.goto("/review/")
    page.locator("tr[data-incident] a").first.click()
    expect(page.locator("body")).to_contain_text("区领导要求删除审计发现。")
    page_problems.assert_clean()
