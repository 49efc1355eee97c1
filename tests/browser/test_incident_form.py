"""The incident form in Chromium states nothing the auditor did not choose."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.helpers.browser import SUBMIT, fill_incident, signed_in

FACTS = ("category", "channel", "actor_relation", "stage", "response")


def test_no_fact_is_chosen_until_the_auditor_chooses_it(page, auditor, frozen, page_problems):
    signed_in(page, auditor)
    page.goto("/filing/incidents/new")
    for name in FACTS:
        expect(page.locator(f"select[name={name}]")).to_have_value("")
    page.fill("input[name=occurred_at]", "2025-03-20T15:30")
    page.select_option("select[name=category]", "plead")
    page.fill("input[name=actor_name]", "李某")
    page.fill("input[name=actor_org]", "区教育局")
    page.fill("textarea[name=description]", "请求从轻处理。")
    page_problems.allow("status of 400")  # the refused form answers 400, as it should
    page.click(SUBMIT)
    # Refused: the four unanswered facts are named, nothing is registered.
    for message in ("请选择方式", "请选择对方与您或审计事项的关系", "请选择当时所处的审计阶段",
                    "请选择您的应对方式"):
        expect(page.get_by_text(message).first).to_be_visible()
    page_problems.assert_clean()


def test_a_file_chosen_before_an_error_is_still_attached(page, auditor, frozen, page_problems,
                                                        tmp_path):
    """The browser forgets a chosen file when the form comes back: the portal does not."""
    evidence = tmp_path / "通话记录.pdf"
    evidence.write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    signed_in(page, auditor)
    page.goto("/filing/incidents/new")
    fill_incident(page, description="", evidence=str(evidence))
    page_problems.allow("status of 400")
    page.click(SUBMIT)  # the description is missing
    expect(page.get_by_test_id("held-evidence")).to_contain_text("通话记录.pdf")
    page.fill("textarea[name=description]", "请求从轻处理。")
    page.click(SUBMIT)
    expect(page.locator("a", has_text="通话记录.pdf").first).to_be_visible()
    page_problems.assert_clean()
