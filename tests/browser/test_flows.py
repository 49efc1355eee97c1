"""End-to-end flows of an auditor in Chromium against the live server.

The UI defaults to Chinese and its catalogue may be incomplete, so the tests find elements by
name, id, data-testid and URL, and only check visible English text after switching to English.
The clock is frozen (fixture `frozen`) at 2025-04-03 10:00 Beijing time: the month due is
2025-03, with its deadline at the end of 2025-04-05.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from playwright.sync_api import Page, expect

from app.core.extensions import db as _db
from app.models import Incident, MonthlyReport
from tests.helpers.browser import (
    PERIOD,
    SUBMIT,
    account,
    fill_incident,
    reports_of,
    sign_in,
    sign_out,
    signed_in,
)

# A minimal, well-formed one-page PDF: `filetype` recognises it by its leading "%PDF".
PDF_BYTES = (
    b"%PDF-1.4\n"
    b"1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 200]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n"
    b"%%EOF\n"
)


def register_incident(page: Page, project_id: int, description: str, evidence=None) -> str:
    """Fill in every field of /incidents/new and submit; returns the new incident's URL."""
    page.goto("/filing/incidents/new")
    fill_incident(page, description, project_id)
    if evidence is not None:
        page.set_input_files("input[name=evidence]", str(evidence))
    page.click(SUBMIT)
    expect(page).to_have_url(re.compile(r"/filing/incidents/\d+$"))
    expect(page.get_by_test_id("description")).to_have_text(description)
    return page.url


def file_month(page: Page) -> None:
    page.goto(f"/filing/reports/{PERIOD}")
    page.check("input[name=declaration]")
    page.click(SUBMIT)
    expect(page.get_by_test_id("filed-report")).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/filing/reports/{PERIOD}$"))


def test_sign_in_and_wrong_password(page, auditor, frozen, page_problems):
    who = account(auditor)
    page_problems.allow("status of 401")  # the refused sign-in answers 401, as it should
    sign_in(page, who, password="not the password")
    expect(page).to_have_url(re.compile(r"/auth/login$"))
    expect(page.locator(".alert-danger")).to_be_visible()
    expect(page.get_by_test_id("current-user")).to_have_count(0)
    expect(page.locator("input[name=password]")).to_have_value("")

    sign_in(page, who)
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_test_id("current-user")).to_have_text(who.name)
    expect(page.get_by_test_id("due-card").locator("[data-status=due]")).to_be_visible()
    page_problems.assert_clean()


def test_file_a_zero_report(page, app, auditor, frozen, page_problems):
    who = signed_in(page, auditor)
    page.goto(f"/filing/reports/{PERIOD}")
    expect(page.locator("h1 [data-status=due]")).to_be_visible()
    expect(page.locator("input[name=zero]")).to_have_value("1")

    page.click(SUBMIT)  # without the declaration: refused, nothing filed
    expect(page.locator("input[name=declaration].is-invalid")).to_be_visible()
    expect(page.get_by_test_id("filed-report")).to_have_count(0)
    assert reports_of(app, who.id) == []
    page_problems.allow("status of 400")

    page.check("input[name=declaration]")
    page.click(SUBMIT)
    expect(page.get_by_test_id("filed-report")).to_be_visible()
    expect(page.locator("h1 [data-status=on_time]")).to_be_visible()
    expect(page.get_by_test_id("report-versions").locator("> li")).to_have_count(1)

    page.goto("/")
    expect(page.get_by_test_id("due-card").locator("[data-status=on_time]")).to_be_visible()
    assert reports_of(app, who.id) == [(PERIOD, 1)]
    page_problems.assert_clean()


def test_double_click_files_once(page, app, auditor, frozen, page_problems):
    who = signed_in(page, auditor)
    page.goto(f"/filing/reports/{PERIOD}")
    page.check("input[name=declaration]")
    page.dblclick(SUBMIT)
    expect(page.get_by_test_id("filed-report")).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert reports_of(app, who.id) == [(PERIOD, 1)]
    page.reload()
    expect(page.get_by_test_id("report-versions").locator("> li")).to_have_count(1)
    page_problems.assert_clean()


def test_concurrent_submissions_file_once(page, app, auditor, frozen, page_problems):
    """The server side of the double click: four simultaneous POSTs of the filled-in form."""
    who = signed_in(page, auditor)
    page.goto(f"/filing/reports/{PERIOD}")
    page.check("input[name=declaration]")
    results = page.evaluate(
        """async () => {
            const form = document.querySelector("main form");
            const send = () => fetch(form.action, {
                method: "POST", body: new FormData(form), redirect: "manual"
            }).then(response => response.type);
            return Promise.all([send(), send(), send(), send()]);
        }"""
    )
    assert results == ["opaqueredirect"] * 4  # every one redirected back, none failed
    assert reports_of(app, who.id) == [(PERIOD, 1)]
    page.reload()
    expect(page.get_by_test_id("filed-report")).to_be_visible()
    expect(page.get_by_test_id("report-versions").locator("> li")).to_have_count(1)
    page_problems.assert_clean()


def test_register_an_incident_with_evidence(page, app, auditor, project, frozen, tmp_path,
                                            page_problems):
    project_id = project.id
    signed_in(page, auditor)
    upload = tmp_path / "电话记录.pdf"
    upload.write_bytes(PDF_BYTES)
    description = "来电询问审计发现的问题，要求对预算调整事项从轻处理。"
    register_incident(page, project_id, description, evidence=upload)

    current = page.get_by_test_id("incident-current")
    expect(current).to_contain_text("李某")
    expect(current).to_contain_text("区教育局")
    expect(current).to_contain_text("2025-03-20 15:30")
    expect(page.get_by_test_id("incident-versions").locator("> li")).to_have_count(1)
    link = page.get_by_test_id("evidence").locator("a")
    expect(link).to_have_count(1)
    expect(link).to_have_text("电话记录.pdf")

    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert download.failure() is None
    assert download.suggested_filename == "电话记录.pdf"
    with open(download.path(), "rb") as downloaded:
        assert downloaded.read() == PDF_BYTES

    incident_id = int(page.url.rsplit("/", 1)[1])
    with app.app_context():
        incident = _db.session.get(Incident, incident_id)
        assert incident.period == PERIOD
        assert [e.size for e in incident.evidence] == [len(PDF_BYTES)]
    page_problems.assert_clean()


def test_file_the_month_with_its_incident(page, app, auditor, project, frozen, page_problems):
    project_id = project.id
    who = signed_in(page, auditor)
    register_incident(page, project_id, "要求私下透露审计进展。")

    page.goto("/")
    expect(page.get_by_test_id("due-card").locator("[data-status=due]")).to_be_visible()
    page.goto(f"/filing/reports/{PERIOD}")
    expect(page.locator("input[name=zero]")).to_have_value("0")
    lines = page.get_by_test_id("incident-line")
    expect(lines).to_have_count(1)
    expect(lines).to_contain_text("李某")

    page.check("input[name=declaration]")
    page.click(SUBMIT)
    expect(page.get_by_test_id("filed-report")).to_be_visible()
    versions = page.get_by_test_id("report-versions").locator("> li")
    expect(versions).to_have_count(1)
    expect(versions.locator("ul > li")).to_have_count(1)
    assert reports_of(app, who.id) == [(PERIOD, 1)]
    page_problems.assert_clean()


def test_correct_the_incident_and_the_report(page, app, auditor, project, frozen,
                                             page_problems):
    project_id = project.id
    who = signed_in(page, auditor)
    incident_url = register_incident(page, project_id, "打听审计进展。")
    file_month(page)

    # Correct the incident: a second version, with its reason; the report becomes stale.
    page.goto(incident_url)
    page.click("a[href$='/correct']")
    expect(page).to_have_url(re.compile(r"/filing/incidents/\d+/correct$"))
    expect(page.locator("input[name=occurred_at]")).to_have_value(re.compile(r"^2025-03-20T15:30"))
    expect(page.locator("select[name=project]")).to_have_value(str(project_id))
    page.fill("textarea[name=description]", "打听审计进展，并索要工作底稿。")
    page.fill("textarea[name=reason]", "补充索要底稿的情节")
    page.click(SUBMIT)
    expect(page).to_have_url(incident_url)
    expect(page.get_by_test_id("description")).to_have_text("打听审计进展，并索要工作底稿。")
    versions = page.get_by_test_id("incident-versions").locator("> li")
    expect(versions).to_have_count(2)
    expect(versions.nth(1)).to_contain_text("补充索要底稿的情节")
    page.goto("/")
    expect(page.get_by_test_id("stale")).to_be_visible()

    # Correct the report from its page: a second version lists the incident as it stands now.
    page.goto(f"/filing/reports/{PERIOD}")
    page.click(f"a[href$='/filing/reports/{PERIOD}/correct']")
    expect(page).to_have_url(re.compile(rf"/filing/reports/{PERIOD}/correct$"))
    page.fill("textarea[name=reason]", "登记事项已更正")
    page.check("input[name=declaration]")
    page.click(SUBMIT)
    expect(page).to_have_url(re.compile(rf"/filing/reports/{PERIOD}$"))
    expect(page.get_by_test_id("filed-report")).to_be_visible()
    versions = page.get_by_test_id("report-versions").locator("> li")
    expect(versions).to_have_count(2)
    expect(versions.nth(1).locator(".reason")).to_have_text("登记事项已更正")
    expect(versions.nth(1).locator("ul > li")).to_have_count(1)
    page.goto("/")
    expect(page.get_by_test_id("stale")).to_have_count(0)
    assert reports_of(app, who.id) == [(PERIOD, 2)]
    with app.app_context():
        report = _db.session.scalar(sa.select(MonthlyReport))
        listed = [[iv.number for iv in v.incident_versions] for v in report.versions]
        assert listed == [[1], [2]]  # each version lists the incident as it stood then
    page_problems.assert_clean()


def test_switch_language(page, auditor, frozen, page_problems):
    signed_in(page, auditor)
    page.goto("/filing/history")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")

    page.select_option("select[name=lang]", "en")  # portal.js submits on change
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page).to_have_url(re.compile(r"/filing/history$"))
    expect(page.locator("nav")).to_contain_text("Sign out")
    expect(page.locator("nav")).to_contain_text("This month")
    expect(page.locator("select[name=lang]")).to_have_value("en")

    page.select_option("select[name=lang]", "zh_CN")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("select[name=lang]")).to_have_value("zh_CN")
    page_problems.assert_clean()


def test_switch_language_without_javascript(browser, live_server, db, auditor, frozen):
    """The footer's button works with scripts off; the choice made before sign-in is kept."""
    who = account(auditor)
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/auth/login")
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
        page.select_option("select[name=lang]", "en")
        expect(page.locator("html")).to_have_attribute("lang", "zh-CN")  # nothing auto-submits
        page.click("#language-form button[type=submit]")
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page).to_have_url(re.compile(r"/auth/login$"))
        expect(page.locator("h1")).to_have_text("Sign in")
        sign_in(page, who)
        expect(page).to_have_url(re.compile(r"/$"))
        expect(page.locator("html")).to_have_attribute("lang", "en")
        expect(page.locator("nav")).to_contain_text("Sign out")
    finally:
        context.close()


def test_the_delay_reason_is_asked_only_for_a_late_registration(page, page_problems, auditor,
                                                                  frozen):
    page.clock.set_fixed_time("2025-04-03T10:00:00+08:00")
    signed_in(page, auditor)
    page.goto("/filing/incidents/new")
    reason = page.locator("textarea[name=delay_reason]")
    expect(reason).to_be_hidden()
    page.fill("input[name=occurred_at]", "2025-03-30T09:00")
    expect(reason).to_be_hidden()
    page.fill("input[name=occurred_at]", "2025-03-10T09:00")   # 24 days before
    expect(reason).to_be_visible()
    page_problems.assert_clean()


def test_review_return_supplement_close(page, app, auditor, make_user, project, frozen,
                                        page_problems):
    project_id = project.id
    office = account(make_user(name="纪检员", roles={"reviewer"}))
    signed_in(page, auditor)
    incident_url = register_incident(page, project_id, "对方要求删除审计发现。")
    incident_id = int(incident_url.rsplit("/", 1)[1])
    sign_out(page)

    sign_in(page, office)
    page.goto("/review/")
    page.click(f"tr[data-incident='{incident_id}'] a")
    page.click("[data-testid=open-return]")  # the page opens "start" first: one step at a time
    page.fill("[data-testid=step-return] textarea[name=note]", "请补充对方的原话。")
    page.click("[data-testid=step-return] button[type=submit]")
    expect(page.get_by_test_id("confirm-return")).to_contain_text("请补充对方的原话。")
    page.click("[data-testid=confirm]")
    page.goto(f"/review/incidents/{incident_id}")  # after a decision the queue comes next
    expect(page.get_by_test_id("review-status")).to_have_attribute("data-review-status",
                                                                  "returned")
    sign_out(page)

    signed_in(page, auditor)
    expect(page.get_by_test_id("returned")).to_be_visible()
    page.goto(incident_url)
    expect(page.get_by_test_id("review-for-registrant")).to_contain_text("请补充对方的原话。")
    page.click("[data-testid=review-for-registrant] a")
    page.fill("textarea[name=description]", "对方原话：“这条问题就别写进报告了。”")
    page.fill("textarea[name=reason]", "补充对方原话")
    page.click(SUBMIT)
    expect(page.get_by_test_id("review-for-registrant").locator("[data-review-status]")
           ).to_have_attribute("data-review-status", "in_review")
    sign_out(page)

    sign_in(page, office)
    page.goto(f"/review/incidents/{incident_id}")
    expect(page.get_by_test_id("current-version")).to_contain_text("别写进报告")
    close = page.get_by_test_id("step-close")
    close.locator("input[name=affected][value=no]").check()
    close.locator("textarea[name=determination]").fill("审计人员当场拒绝，如实登记，未受影响。")
    expect(page.get_by_test_id("changes")).to_contain_text("别写进报告")  # version 1 -> 2
    close.locator("button[type=submit]").click()
    page.click("[data-testid=confirm]")
    page.goto(f"/review/incidents/{incident_id}")
    expect(page.get_by_test_id("review-status")).to_have_attribute("data-review-status",
                                                                  "closed")
    expect(page.get_by_test_id("determination")).to_contain_text("未受影响")
    page_problems.assert_clean()
