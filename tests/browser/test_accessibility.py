"""Every main page of every role, on the demo bureau: no serious or critical axe-core
violation (WCAG 2.1 AA rules), no sideways scroll on a 390 px phone, and the keyboard alone
files a zero report.

axe-core is vendored for the tests (tests/browser/vendor/) and evaluated by Playwright, so the
portal never serves it and its CSP needs no exception.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, expect

from app import demo
from app.core.extensions import db as _db
from app.models import Incident, User
from tests.helpers.demo import TODAY

AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PHONE = {"width": 390, "height": 844}

AUDITOR, REVIEWER, LEADER, ADMIN = "XQ010", "XQ003", "XQ001", "XQ002"
# The main pages of each role (`{incident}`: a case of the demo the reviewer may open).
PAGES = {
    AUDITOR: ["/", "/filing/incidents/new", "/filing/history", "/filing/reports/2025-10",
              "/statement/confirmation", "/notices/", "/rules", "/auth/account/password"],
    REVIEWER: ["/", "/review/", "/review/incidents/{incident}", "/review/office",
               "/compliance/", "/statement/", "/statement/2024", "/review/log"],
    LEADER: ["/", "/compliance/", "/statement/", "/statement/2024"],
    ADMIN: ["/", "/admin/users", "/admin/departments", "/admin/projects", "/admin/settings",
            "/admin/import/users", "/notices/outbox", "/review/log"],
}


@pytest.fixture
def bureau(db, frozen):
    frozen.set(TODAY.year, TODAY.month, TODAY.day, 2)  # 10:00 in Beijing
    demo.load(TODAY)
    _db.session.commit()
    reviewer = _db.session.scalar(sa.select(User.id).where(User.staff_no == REVIEWER))
    incident = _db.session.scalar(sa.select(Incident.id).where(Incident.user_id != reviewer)
                                  .order_by(Incident.id.desc()).limit(1))
    _db.session.commit()
    return {"incident": incident}


def _sign_in(page: Page, staff_no: str) -> None:
    page.goto("/auth/login")
    page.fill("input[name=identifier]", staff_no)
    page.fill("input[name=password]", demo.DEMO_PASSWORD)
    page.press("input[name=password]", "Enter")
    if re.search(r"/auth/login/code$", page.url):
        from app.core import clock
        page.fill("input[name=code]", pyotp.TOTP(demo.DEMO_TOTP_SECRET).at(clock.now()))
        page.press("input[name=code]", "Enter")
    expect(page).to_have_url(re.compile(r"/$"))


def _serious(page: Page) -> list[str]:
    page.evaluate(AXE)
    result = page.evaluate("options => axe.run(document, options)",
                           {"runOnly": {"type": "tag", "values": WCAG_AA},
                            "resultTypes": ["violations"]})
    return [f"{v['id']} ({v['impact']}): {len(v['nodes'])}× e.g. {v['nodes'][0]['target']}"
            for v in result["violations"] if v["impact"] in ("serious", "critical")]


def _sideways(page: Page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


@pytest.mark.parametrize("role", list(PAGES))
def test_every_main_page_passes_axe_and_fits_a_phone(page, bureau, role, page_problems):
    _sign_in(page, role)
    problems = {}
    for address in PAGES[role]:
        url = address.format(**bureau)
        page.set_viewport_size({"width": 1366, "height": 900})
        page.goto(url)
        found = _serious(page)
        page.set_viewport_size(PHONE)
        overflow = _sideways(page)
        if overflow > 0:
            found.append(f"scrolls sideways by {overflow} px at 390 px")
        if found:
            problems[url] = found
    assert problems == {}, json.dumps(problems, ensure_ascii=False, indent=1)
    page_problems.assert_clean()


def test_the_sign_in_page_passes_axe_and_fits_a_phone(page, bureau):
    page.goto("/auth/login")
    assert _serious(page) == []
    page.set_viewport_size(PHONE)
    assert _sideways(page) <= 0


def test_a_zero_report_is_filed_with_the_keyboard_alone(page, bureau, page_problems):
    """Tab to the declaration, Enter ticks it (as Space does), Tab to the button, Enter."""
    _sign_in(page, AUDITOR)
    page.goto("/filing/reports/2025-10")
    declaration = page.locator("input[type=checkbox]").first
    declaration.focus()
    page.keyboard.press("Enter")
    expect(declaration).to_be_checked()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator(".alert-success")).to_be_visible()
    page_problems.assert_clean()


def test_the_skip_link_comes_first_and_moves_to_the_content(page, bureau):
    _sign_in(page, AUDITOR)
    page.keyboard.press("Tab")
    skip = page.locator(":focus")
    expect(skip).to_have_attribute("href", "#main")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_the_navigation_marks_the_current_page(page, bureau):
    _sign_in(page, REVIEWER)
    page.goto("/review/")
    current = page.locator("nav [aria-current=page]")
    expect(current).to_have_count(1)
    expect(current).to_have_attribute("href", "/review/")


def test_a_two_role_navigation_keeps_its_words_whole_on_a_desk(page, bureau):
    """XQ004 is both an auditor and a member of the discipline office: eleven menu entries."""
    _sign_in(page, "XQ004")
    page.set_viewport_size({"width": 1366, "height": 900})
    heights = page.eval_on_selector_all(
        "nav .nav-link", "links => links.map(l => l.getBoundingClientRect().height)")
    line = page.evaluate("parseFloat(getComputedStyle(document.querySelector('nav .nav-link'))"
                         ".lineHeight)")
    assert len(heights) >= 9
    assert max(heights) < 2 * line + 16  # one line of text (and its padding), never a column
