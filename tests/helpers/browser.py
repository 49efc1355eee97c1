"""Signing in and out as a person does in the browser, and what the server then holds."""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from playwright.sync_api import Page, expect

from app.core.extensions import db as _db
from app.models import MonthlyReport
from tests.helpers.factories import PASSWORD
from tests.helpers.web import totp_code

PERIOD = "2025-03"


SUBMIT = "main form input[type=submit][name=submit]"


@dataclass(frozen=True)
class Account:
    id: int
    staff_no: str
    name: str
    two_factor: bool = False


def account(user) -> Account:
    """Plain values of a factory-made user; ends the test thread's transaction (server sees all)."""
    values = Account(user.id, user.staff_no, user.name, user.totp_secret is not None)
    _db.session.commit()
    return values


def sign_in(page: Page, who: Account, password: str = PASSWORD) -> None:
    """The sign-in form, then the code step for an account with a second factor."""
    page.goto("/auth/login")
    page.fill("input[name=identifier]", who.staff_no)
    page.fill("input[name=password]", password)
    page.click(SUBMIT)
    if who.two_factor and password == PASSWORD:
        enter_code(page, totp_code(who.id))


def enter_code(page: Page, code: str) -> None:
    expect(page).to_have_url(re.compile(r"/auth/login/code$"))
    page.fill("input[name=code]", code)
    page.click(SUBMIT)


def signed_in(page: Page, user) -> Account:
    who = account(user)
    sign_in(page, who)
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_test_id("current-user")).to_have_text(who.name)
    return who


def reports_of(app, user_id: int) -> list[tuple[str, int]]:
    """(period, number of versions) of every report of the user, read in a fresh session."""
    with app.app_context():
        reports = _db.session.scalars(
            sa.select(MonthlyReport).where(MonthlyReport.user_id == user_id)
        ).all()
        return [(r.period, len(r.versions)) for r in reports]


def sign_out(page: Page) -> None:
    page.click("form[action='/auth/logout'] button[type=submit]")
    expect(page).to_have_url(re.compile(r"/auth/login"))


def fill_incident(page: Page, description: str = "请求从轻处理。", project_id: int | None = None,
                  evidence: str | None = None) -> None:
    """Fill in every field of the open incident form (the description left empty if "")."""
    page.fill("input[name=occurred_at]", "2025-03-20T15:30")
    page.select_option("select[name=category]", "plead")
    page.select_option("select[name=channel]", "phone")
    page.fill("input[name=actor_name]", "李某")
    page.fill("input[name=actor_org]", "区教育局")
    page.fill("input[name=actor_position]", "副局长")
    page.select_option("select[name=actor_relation]", "audited_entity")
    if project_id is not None:
        page.select_option("select[name=project]", str(project_id))
    page.select_option("select[name=stage]", "fieldwork")
    page.fill("textarea[name=description]", description)
    page.select_option("select[name=response]", "refused")
    page.fill("textarea[name=response_detail]", "当场拒绝，并向审计组长报告。")
    if evidence:
        page.set_input_files("input[name=evidence]", evidence)
