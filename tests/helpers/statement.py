"""A year to put in a statement, and the statement prepared, signed and read back as a PDF."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime

import pytest
from pypdf import PdfReader

from app.filing import records
from app.filing.periods import Period
from app.review import workflow
from app.statement import confirmations
from tests.helpers import factories
from tests.helpers.web import login, post_form, totp_code

YEAR = 2025


NOW = datetime(2026, 1, 10, 2, tzinfo=UTC)  # every 2025 deadline has passed


CONFIRMED_AT = datetime(2025, 12, 3, 2, tzinfo=UTC)


def on_time(period: Period) -> datetime:
    nxt = period.next()
    return datetime(nxt.year, nxt.month, 2, 2, tzinfo=UTC)


def late(period: Period) -> datetime:
    nxt = period.next()
    return datetime(nxt.year, nxt.month, 10, 2, tzinfo=UTC)


def incident(user, month: int, **fields):
    values = dict(occurred_at=datetime(YEAR, month, 12, 2, tzinfo=UTC), category="plead",
                  channel="phone", actor_name="李某某", actor_org="区某局",
                  actor_position="副局长", actor_relation="leading_cadre", project_id=None,
                  stage="fieldwork", description="来电请求从轻处理。", response="refused")
    values.update(fields)
    return records.register_incident(user, records.IncidentData(**values), [],
                                    values["occurred_at"])


def file_year(user, months: list[int], *, late_months=(), incident_months=()) -> None:
    for month in months:
        period = Period(YEAR, month)
        records.file_report(user, period, zero=month not in incident_months,
                           now=late(period) if month in late_months else on_time(period))


@pytest.fixture
def year(db, agency, make_user, frozen):
    frozen.value = NOW
    dept = factories.DepartmentFactory(agency=agency, name="审计一科")
    p = {
        "a": make_user(name="甲", staff_no="A01", department=dept),
        "b": make_user(name="乙", staff_no="B01", department=dept),
        "j": make_user(name="丙", staff_no="J01", department=dept, joined_on=date(2025, 7, 15)),
        "l": make_user(name="丁", staff_no="L01", department=dept, left_on=date(2025, 4, 20),
                       active=False),
        "leader": make_user(name="局长", staff_no="LD1", roles={"leader"}),
        "reviewer": make_user(name="纪检员", staff_no="RV1", roles={"reviewer"}),
        "foreign": factories.UserFactory(name="外局", staff_no="F01"),
    }
    cases = {
        "a": incident(p["a"], 5),
        "b": incident(p["b"], 8, category="ask_progress", channel="in_person",
                      actor_relation="audited_entity"),
        "j": incident(p["j"], 9, category="duty_inquiry", channel="message",
                      actor_relation="colleague"),
    }
    file_year(p["a"], list(range(1, 13)), incident_months=[5])
    file_year(p["b"], [m for m in range(1, 13) if m != 6], late_months=[3],
              incident_months=[8])
    file_year(p["j"], list(range(7, 13)), incident_months=[9])
    file_year(p["l"], [1, 2, 3])
    file_year(p["foreign"], [1])
    reviewer = p["reviewer"]
    workflow.act(cases["a"].review, reviewer, "close",
               workflow.Decision(affected=True, determination="屈从压力删除了审计发现"), NOW)
    workflow.act(cases["b"].review, reviewer, "refer",
               workflow.Decision(affected=False, determination="未影响", referred_to="区纪委监委",
                               referral_reason="涉嫌违规打听"), NOW)
    confirmations.confirm(p["a"], YEAR, "", CONFIRMED_AT)
    confirmations.confirm(p["b"], YEAR, "", CONFIRMED_AT)
    db.session.commit()
    return p, cases


def signed_in(app, user):
    client = app.test_client()
    login(client, user)
    return client


def signature(leader) -> dict[str, str]:
    """The sign form filled in: the password and a fresh code (the leader's second factor)."""
    return {"password": factories.PASSWORD, "code": totp_code(leader.id)}


def prepare_and_sign(app, people, year_=YEAR):
    reviewer = signed_in(app, people["reviewer"])
    response = post_form(reviewer, "/statement/prepare", {"year": str(year_)},
                         form_url="/statement/")
    assert response.status_code == 302, response.get_data(as_text=True)
    leader = signed_in(app, people["leader"])
    response = post_form(leader, f"/statement/{year_}/sign", signature(people["leader"]),
                         form_url=f"/statement/{year_}")
    assert response.status_code == 302, response.get_data(as_text=True)
    return reviewer, leader


def pdf_text(data: bytes) -> str:
    """The text, without white space. pypdf reads fpdf2's two-byte CID codes through the
    embedded encoding CMap as single bytes and leaves a NUL before each character (poppler's
    pdftotext reads them right): those go too."""
    reader = PdfReader(io.BytesIO(data))
    text = "".join(page.extract_text() for page in reader.pages)
    return re.sub(r"[\s\x00]+", "", text)


def embedded_fonts(data: bytes) -> list[bool]:
    reader = PdfReader(io.BytesIO(data))
    found = []
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            for descendant in font.get("/DescendantFonts", [font]):
                descriptor = descendant.get_object()["/FontDescriptor"].get_object()
                found.append(any(k in descriptor for k in ("/FontFile", "/FontFile2",
                                                           "/FontFile3")))
    return found
