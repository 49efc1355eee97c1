"""The annual statement in Chromium: the discipline office prepares and previews the draft, a
leader signs it with their password, and the archival PDF downloads."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from playwright.sync_api import Page, expect

from app.filing import records
from app.filing.periods import Period
from tests.helpers.browser import sign_out, signed_in
from tests.helpers.factories import PASSWORD
from tests.helpers.web import totp_code

NOW = datetime(2026, 1, 10, 2, tzinfo=UTC)


def prepare(page: Page, year: int) -> None:
    """The signed-in discipline office prepares the draft of `year` and lands on it."""
    page.goto("/statement/")
    page.fill("input[name=year]", str(year))
    page.click("[data-testid=prepare-form] input[type=submit]")
    expect(page).to_have_url(re.compile(rf"/statement/{year}$"))


def test_prepare_preview_sign_and_download(page, app, db, make_user, frozen, tmp_path,
                                           page_problems):
    frozen.value = NOW
    auditor = make_user(name="张伟")
    for month in range(1, 13):
        records.file_report(auditor, Period(2025, month), zero=True,
                           now=datetime(2025 + month // 12, month % 12 + 1, 2, 2, tzinfo=UTC))
    reviewer = make_user(name="赵敏", roles={"reviewer"})
    leader = make_user(name="王建国", roles={"leader"})
    db.session.commit()

    signed_in(page, reviewer)
    prepare(page, 2025)
    expect(page.get_by_test_id("preview")).to_be_visible()
    expect(page.get_by_test_id("conclusion")).to_contain_text("2025")
    expect(page.get_by_test_id("table-reports")).to_contain_text("12")
    sign_out(page)

    signed_in(page, leader)
    page.goto("/statement/2025")
    page.fill("[data-testid=sign-form] input[name=password]", PASSWORD)
    page.fill("[data-testid=sign-form] input[name=code]", totp_code(leader.id))
    page.click("[data-testid=sign-form] input[type=submit]")
    expect(page.get_by_test_id("signature")).to_contain_text("王建国")
    expect(page.get_by_test_id("statement")).to_have_attribute("data-status", "locked")
    with page.expect_download() as download:
        page.click("[data-testid=download-pdf]")
    path = tmp_path / "statement.pdf"
    download.value.save_as(path)
    assert path.read_bytes().startswith(b"%PDF")
    assert download.value.suggested_filename == "statement-2025.pdf"
    page_problems.assert_clean()


def test_signing_is_refused_for_the_year_in_progress(page, app, db, make_user, frozen,
                                                     page_problems):
    frozen.value = datetime(2026, 12, 2, 2, tzinfo=UTC)  # 2 December: 2026 is not over
    make_user(name="张伟")
    reviewer = make_user(name="赵敏", roles={"reviewer"})
    leader = make_user(name="王建国", roles={"leader"})
    db.session.commit()

    signed_in(page, reviewer)
    prepare(page, 2026)
    expect(page.get_by_test_id("provisional")).to_contain_text("临时数据")
    sign_out(page)

    signed_in(page, leader)
    page.goto("/statement/2026")
    expect(page.get_by_test_id("sign-not-yet")).to_contain_text("自2027年1月6日起方可签发")
    expect(page.get_by_test_id("sign-form")).to_have_count(0)
    expect(page.get_by_test_id("statement")).to_have_attribute("data-status", "draft")
    page_problems.assert_clean()


def test_the_leader_home_shows_the_draft_waiting_for_them(page, app, db, make_user, frozen,
                                                          page_problems):
    frozen.value = NOW  # 10 January 2026: 2025 can be signed
    make_user(name="张伟")
    reviewer = make_user(name="赵敏", roles={"reviewer"})
    leader = make_user(name="王建国", roles={"leader"})
    db.session.commit()

    signed_in(page, reviewer)
    prepare(page, 2025)
    sign_out(page)

    signed_in(page, leader)
    page.goto("/")
    waiting = page.get_by_test_id("awaiting-signature")
    expect(waiting).to_contain_text("待您签发")
    expect(page.get_by_test_id("leader-glance")).to_contain_text("2025年度概况")
    waiting.get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/statement/2025$"))
    expect(page.get_by_test_id("sign-form")).to_be_visible()
    page_problems.assert_clean()
