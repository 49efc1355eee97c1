"""Onboarding in Chromium: a reviewer sets up two-factor sign-in and signs in with it; a new
auditor opens the first sign-in link, chooses a password and files a zero report."""

from __future__ import annotations

import re

import pyotp
from playwright.sync_api import Page, expect

from app.auth import tokens
from app.core import clock
from app.core.extensions import db as _db
from tests.helpers.browser import (
    PERIOD,
    SUBMIT,
    account,
    enter_code,
    reports_of,
    sign_in,
    sign_out,
)

NEW_PASSWORD = "plum river lantern 84"


def code_for(secret: str) -> str:
    """What the reviewer's authenticator app shows now (the portal's frozen now)."""
    return pyotp.TOTP(secret).at(clock.now())


def read_secret(page: Page) -> str:
    return page.get_by_test_id("totp-secret").inner_text().replace(" ", "")


def test_a_reviewer_enrols_and_signs_in_with_a_code(page, make_user, frozen, page_problems):
    who = account(make_user(name="纪检员", roles={"reviewer"}, totp_secret=None))
    sign_in(page, who)
    expect(page).to_have_url(re.compile(r"/auth/account/two-factor$"))
    expect(page.get_by_test_id("enrolment-required")).to_be_visible()
    page.goto("/review/")  # nothing else until enrolled
    expect(page).to_have_url(re.compile(r"/auth/account/two-factor$"))
    qr = page.get_by_test_id("totp-qr")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.complete && img.naturalWidth > 100")  # drawn, not broken
    secret = read_secret(page)

    page.fill("input[name=code]", code_for(secret))
    page.click(SUBMIT)
    expect(page.get_by_test_id("recovery-codes").locator("li")).to_have_count(10)
    recovery = page.get_by_test_id("recovery-codes").locator("li").first.inner_text()
    page.get_by_test_id("recovery-codes-done").click()
    page.goto("/review/")
    expect(page).to_have_url(re.compile(r"/review/$"))
    sign_out(page)

    frozen.advance(seconds=30)
    sign_in(page, who)
    enter_code(page, code_for(secret))
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_test_id("current-user")).to_have_text(who.name)
    sign_out(page)

    sign_in(page, who)  # the phone is not at hand: a recovery code, once
    enter_code(page, recovery)
    expect(page.get_by_test_id("current-user")).to_have_text(who.name)
    page_problems.assert_clean()


def test_a_new_auditor_signs_in_with_the_link_and_files_a_zero_report(
        page, app, make_user, frozen, page_problems):
    user = make_user(name="新同事", password_hash=None)
    url = tokens.issue_first_signin(user)
    who = account(user)  # commits: the server sees the link
    path = url[url.index("/auth/welcome/"):]

    page.goto(path)
    expect(page.locator("h1")).to_contain_text("新同事")
    page.fill("input[name=new]", "password1234")  # a common password: refused
    page.fill("input[name=confirm]", "password1234")
    page.click(SUBMIT)
    page_problems.allow("status of 400")
    expect(page.locator("input[name=new].is-invalid")).to_be_visible()

    page.fill("input[name=new]", NEW_PASSWORD)
    page.fill("input[name=confirm]", NEW_PASSWORD)
    page.click(SUBMIT)
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_test_id("current-user")).to_have_text("新同事")

    page.goto(f"/filing/reports/{PERIOD}")
    page.check("input[name=declaration]")
    page.click(SUBMIT)
    expect(page.get_by_test_id("filed-report")).to_be_visible()
    assert reports_of(app, who.id) == [(PERIOD, 1)]
    sign_out(page)

    page.goto(path)  # the link worked once
    expect(page.get_by_test_id("link-invalid")).to_be_visible()
    page_problems.allow("status of 404")
    sign_in(page, who, password=NEW_PASSWORD)
    expect(page.get_by_test_id("current-user")).to_have_text("新同事")
    _db.session.rollback()
    page_problems.assert_clean()
