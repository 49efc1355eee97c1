"""The reviews open at year end, on the statement page, its PDF and appendix (issue 14).

A hand-made 2025 of one auditor (agency in Beijing time; November and December 2025 have no
day off in the official calendar, so working days are Monday to Friday):

- #open: registered Monday 1 December, never touched: open (new) at year end, 22 working days
  after 1 December up to 31 December;
- #before: registered in October, closed 20 November: not listed;
- #after: registered Monday 22 December, started the 23rd, closed 8 January 2026: listed for
  2025 as in review, 7 working days (23-26, 29-31 December);
- #returned: registered Monday 3 November, returned the 10th, supplemented 5 January 2026:
  returned at year end, 19 + 23 = 42 working days;
- #eve: closed 31 December 23:30 Beijing time: not listed;
- #midnight: closed 1 January 2026 00:30 Beijing time (still 31 December in UTC): listed;
- #january: happened 28 December, registered 3 January 2026: not open at year end (not
  registered yet), not listed.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import sqlalchemy as sa

from app.core.extensions import db as _db
from app.filing import records
from app.models import AnnualStatement
from app.review import workflow
from app.statement import digest, figures, yearend
from tests.helpers.statement import pdf_text, prepare_and_sign, signed_in
from tests.helpers.web import post_form

BJ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 1, 10, 2, tzinfo=UTC)  # 2025 is over and signable
SECRETS = ("请托说情内容甲乙丙", "钱某某", "某某建设集团", "总经理")
CLOSE = workflow.Decision(affected=False, determination="当场拒绝，未受影响。")


def bj(*args: int) -> datetime:
    return datetime(*args, tzinfo=BJ).astimezone(UTC)


def register(user, occurred: datetime, registered: datetime):
    return records.register_incident(user, records.IncidentData(
        occurred_at=occurred, category="plead", channel="phone", actor_name="钱某某",
        actor_org="某某建设集团", actor_position="总经理", actor_relation="leading_cadre",
        project_id=None, stage="fieldwork", description="请托说情内容甲乙丙",
        response="refused"), [], registered)


@pytest.fixture
def cases(db, agency, make_user, frozen):
    people = {"auditor": make_user(name="登记人甲", staff_no="A01"),
              "leader": make_user(name="局长", staff_no="LD1", roles={"leader"}),
              "reviewer": make_user(name="纪检员", staff_no="RV1", roles={"reviewer"})}
    auditor, office = people["auditor"], people["reviewer"]

    def steps(case, *taken: tuple[str, datetime]) -> None:
        for action, at in taken:
            decision = (CLOSE if action == "close" else
                        workflow.Decision(note="请补充。") if action == "return" else
                        workflow.Decision())
            workflow.act(case.review, office, action, decision, at)

    found = {
        "open": register(auditor, bj(2025, 12, 1, 8), bj(2025, 12, 1, 10)),
        "before": register(auditor, bj(2025, 10, 13, 15), bj(2025, 10, 14, 10)),
        "after": register(auditor, bj(2025, 12, 19, 15), bj(2025, 12, 22, 9)),
        "returned": register(auditor, bj(2025, 10, 31, 15), bj(2025, 11, 3, 9)),
        "eve": register(auditor, bj(2025, 12, 12, 15), bj(2025, 12, 15, 9)),
        "midnight": register(auditor, bj(2025, 12, 12, 16), bj(2025, 12, 15, 9, 30)),
        "january": register(auditor, bj(2025, 12, 28, 15), bj(2026, 1, 3, 10)),
    }
    steps(found["before"], ("start", bj(2025, 10, 15, 9)), ("close", bj(2025, 11, 20, 9)))
    steps(found["after"], ("start", bj(2025, 12, 23, 9)), ("close", bj(2026, 1, 8, 9)))
    steps(found["returned"], ("start", bj(2025, 11, 4, 9)), ("return", bj(2025, 11, 10, 9)))
    workflow.supplemented(found["returned"], auditor, "补充了对方原话。", bj(2026, 1, 5, 9))
    steps(found["eve"], ("start", bj(2025, 12, 16, 9)), ("close", bj(2025, 12, 31, 23, 30)))
    steps(found["midnight"], ("start", bj(2025, 12, 16, 9)), ("close", bj(2026, 1, 1, 0, 30)))
    db.session.commit()
    frozen.value = NOW
    return people, {name: case.id for name, case in found.items()}


LISTED = [("returned", "2025-10", "returned", 42), ("open", "2025-12", "new", 22),
          ("midnight", "2025-12", "in_review", 12), ("after", "2025-12", "in_review", 7)]


def _rows(page: str, ids: dict[str, int]) -> list[tuple[str, str, str, int]]:
    """(case, month, status at year end, working days) of the page's table, in its order."""
    names = {str(number): name for name, number in ids.items()}
    section = page[page.index('data-testid="open-at-year-end"'):]
    section = section[:section.index("</section>")]
    found = re.findall(r'data-open-case="(\d+)">.*?<td>(\d{4}-\d\d)</td>'
                       r'<td data-status-at-year-end="(\w+)">.*?data-working-days="(\d+)"',
                       section, re.S)
    return [(names[case], month, status, int(days)) for case, month, status, days in found]


def test_the_leader_sees_the_reviews_open_at_year_end_with_their_age(app, db, cases):
    people, ids = cases
    prepare_and_sign(app, people)
    leader = signed_in(app, people["leader"])
    page = leader.get("/statement/2025").get_data(as_text=True)
    assert "年末未办结的审核" in page
    # Open then, whatever happened since; closed before the end of 31 December (Beijing
    # time) or registered after it: not there.
    assert _rows(page, ids) == LISTED
    section = page[page.index('data-testid="open-at-year-end"'):]
    section = section[:section.index("</section>")]
    assert f">#{ids['open']}<" in section and "待审核" in section and "退回补充" in section
    assert "年末状态" in section and "2025年12月31日" in section
    for name in ("before", "eve", "january"):
        assert f'data-open-case="{ids[name]}"' not in section
    assert "/review/incidents/" not in section  # a leader gets no link to the case
    for secret in (*SECRETS, people["auditor"].name, people["auditor"].staff_no):
        assert secret not in section
    for secret in SECRETS:
        assert secret not in page


def test_the_discipline_office_gets_a_link_to_each_case(app, db, cases):
    people, ids = cases
    reviewer = signed_in(app, people["reviewer"])
    post_form(reviewer, "/statement/prepare", {"year": "2025"}, form_url="/statement/")
    page = reviewer.get("/statement/2025").get_data(as_text=True)
    assert _rows(page, ids) == LISTED
    assert f'href="/review/incidents/{ids["open"]}">#{ids["open"]}</a>' in page


def test_the_pdf_and_the_appendix_list_them_without_content(app, db, cases):
    people, ids = cases
    _reviewer, leader = prepare_and_sign(app, people)
    text = pdf_text(leader.get("/statement/2025.pdf").get_data())
    assert "年末未办结的审核" in text
    assert f"#{ids['open']}2025-12待审核22" in text
    assert f"#{ids['returned']}2025-10退回补充42" in text
    assert f"#{ids['after']}2025-12审核中7" in text
    for name in ("before", "eve", "january"):
        assert f"#{ids[name]}2025" not in text
    for secret in SECRETS:
        assert secret not in text
    book = openpyxl.load_workbook(io.BytesIO(leader.get("/statement/2025.xlsx").data))
    sheet = book["年末未办结的审核"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("编号", "月份", "年末状态", "已历时（工作日）")
    assert [row[0] for row in rows[1:5]] == [f"#{ids[name]}" for name, *_ in LISTED]
    cells = " ".join(str(c) for ws in book for row in ws.iter_rows(values_only=True)
                     for c in row)
    for secret in SECRETS:
        assert secret not in cells


def test_the_list_is_not_part_of_the_signed_figures(app, db, cases):
    people, _ids = cases
    prepare_and_sign(app, people)
    item = _db.session.scalar(sa.select(AnnualStatement))
    assert item.status == "locked" and digest.verify(item).ok
    assert "open_at_year_end" not in item.figures
    # The signed count is of reviews open when the draft was prepared (January), not at
    # year end: the list says which cases were open on 31 December, for information.
    assert figures.stored(item).open_reviews == 3


def test_none_open_at_year_end_says_so(app, db, agency, make_user, frozen):
    people = {"auditor": make_user(name="登记人甲", staff_no="A01"),
              "leader": make_user(name="局长", staff_no="LD1", roles={"leader"}),
              "reviewer": make_user(name="纪检员", staff_no="RV1", roles={"reviewer"})}
    case = register(people["auditor"], bj(2025, 6, 2, 15), bj(2025, 6, 3, 10))
    workflow.act(case.review, people["reviewer"], "close", CLOSE, bj(2025, 6, 10, 9))
    db.session.commit()
    frozen.value = NOW
    _reviewer, leader = prepare_and_sign(app, people)
    page = leader.get("/statement/2025").get_data(as_text=True)
    assert 'data-testid="none-open-at-year-end"' in page
    assert "2025年12月31日终了时，没有未办结的2025年登记审核。" in page
    assert 'data-testid="table-open_at_year_end"' not in page
    assert "没有未办结的2025年登记审核" in pdf_text(leader.get("/statement/2025.pdf").data)


def test_in_the_year_in_progress_the_reviews_open_now(app, db, cases, frozen):
    people, ids = cases
    frozen.value = bj(2026, 3, 10, 10)
    auditor, office = people["auditor"], people["reviewer"]
    waiting = register(auditor, bj(2026, 3, 2, 8), bj(2026, 3, 2, 10))
    done = register(auditor, bj(2026, 3, 2, 9), bj(2026, 3, 2, 11))
    workflow.act(done.review, office, "close", CLOSE, bj(2026, 3, 5, 9))
    db.session.commit()
    reviewer = signed_in(app, office)
    assert post_form(reviewer, "/statement/prepare", {"year": "2026"},
                     form_url="/statement/").status_code == 302
    page = reviewer.get("/statement/2026").get_data(as_text=True)
    names = {**ids, "waiting": waiting.id, "done": done.id}
    # Working days after 2 March up to today, 10 March: 3-6 and 9-10.
    assert _rows(page, names) == [("waiting", "2026-03", "new", 6)]
    assert "状态（当前）" in page and "年度尚未结束" in page


def test_a_constant_number_of_statements_whatever_the_number_of_cases(app, db, cases,
                                                                     agency):
    statements: list[str] = []
    assert agency.timezone and agency.review_due_days  # loaded before counting

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    sa.event.listen(_db.engine, "before_cursor_execute", count)
    try:
        with app.test_request_context():
            found = yearend.open_reviews(agency, 2025, NOW)
    finally:
        sa.event.remove(_db.engine, "before_cursor_execute", count)
    assert [(r.period, r.status, r.working_days) for r in found.rows] == [
        (month, status, days) for _name, month, status, days in LISTED]
    assert found.total == 4 and found.finished
    assert len(statements) == 2  # the agency's declared dates, the cases
