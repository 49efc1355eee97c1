"""The annual statement's figures and conclusion against a hand-computed year (2025).

The agency (deadline: the 5th, Beijing time) and its four auditors:

- a: all year, files every month on time; registers an incident in May (pleading, by phone,
  a leading cadre), which the discipline office closes as a violation; confirms.
- b: all year, files March late and never files June; registers an incident in August
  (asking about progress, in person, the audited entity), referred, no violation; confirms.
- j: joined 15 July (in scope July to December: 6 months), files every month; registers an
  inquiry within duties in September (message, a colleague) whose review stays open; has not
  confirmed.
- l: left 20 April and was deactivated (January to April: 4 months), files January to March,
  never April; not asked to confirm (gone before 1 December).
- plus a leader and a reviewer (not auditors) and an auditor of another agency who filed.

By hand: staff 4 (2 all year), 12 + 12 + 6 + 4 = 34 person-months, 34 reports expected,
32 filed (31 on time, 1 late), 2 missing (b 2025-06, l 2025-04), 3 with incidents, 29 zero;
3 incidents: 1 violation (2025-05), 1 referral, 1 open review (2025-09); confirmations 3
expected, 2 given, j missing.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from datetime import UTC, date, datetime, timedelta

import openpyxl
import pyotp
import pytest
import sqlalchemy as sa
from flask_babel import force_locale
from pypdf import PdfReader

from app.admin import employment
from app.compliance.rates import Figures as ReportFigures
from app.compliance.routes import STATUS_LABELS
from app.core.codes import FilingStatus, NoticeKind
from app.core.extensions import db as _db
from app.filing import records
from app.filing.periods import Period
from app.models import (
    AnnualConfirmation,
    AnnualStatement,
    AuditLog,
    CalendarDay,
    Employment,
    Incident,
    IncidentVersion,
    MonthlyReport,
    Outbox,
    ReportVersion,
    Review,
    User,
    report_version_incident,
)
from app.notices import outbox, reminders, texts
from app.review import workflow
from app.statement import conclusion, confirmations, digest, figures, signing, yearlock
from tests.helpers import factories
from tests.helpers.filing import incident_form
from tests.helpers.statement import (
    NOW,
    YEAR,
    embedded_fonts,
    pdf_text,
    prepare_and_sign,
    signature,
    signed_in,
)
from tests.helpers.web import post_form


def test_figures_match_the_hand_count(db, agency, year):
    f = figures.compute(agency, YEAR, NOW)
    assert (f.staff, f.staff_full_year, f.staff_months) == (4, 2, 34)
    assert [(s.staff_no, s.first, s.last, s.months) for s in f.partial_staff] == [
        ("J01", "2025-07", "2025-12", 6), ("L01", "2025-01", "2025-04", 4)]
    assert f.reports == ReportFigures(expected=34, on_time=31, late=1, missing=2, zero=29,
                                      with_incidents=3)
    assert [(m.period, m.name) for m in f.missing_reports] == [("2025-04", "丁"),
                                                               ("2025-06", "乙")]
    assert [m.figures.expected for m in f.months] == [3, 3, 3, 3, 2, 2, 3, 3, 3, 3, 3, 3]
    assert f.months[2].figures.late == 1
    assert f.incidents == 3
    assert f.by_kind == {"duty_inquiry": 1, "interfering": 1, "probing": 1}
    assert f.by_category == {"ask_progress": 1, "duty_inquiry": 1, "plead": 1}
    assert f.by_channel == {"in_person": 1, "message": 1, "phone": 1}
    assert f.by_month == {"2025-05": 1, "2025-08": 1, "2025-09": 1}
    assert f.by_relation == {"audited_entity": 1, "colleague": 1, "leading_cadre": 1}
    assert f.by_disposition == {"closed": 1, "new": 1, "referred": 1}
    assert (f.open_reviews, f.open_by_month) == (1, {"2025-09": 1})
    assert (f.referrals, f.violations, f.violations_by_month) == (1, 1, {"2025-05": 1})
    assert (f.confirmations_expected, f.confirmations_given) == (3, 2)
    assert [p.name for p in f.missing_confirmations] == ["丙"]


def test_figures_survive_their_json(db, agency, year):
    f = figures.compute(agency, YEAR, NOW)
    assert figures.Figures.from_json(f.to_json()) == f


def test_a_reclassification_counts_under_its_new_category(db, agency, year):
    people, cases = year
    workflow.act(cases["j"].review, people["reviewer"], "reclassify",
               workflow.Decision(category="ask_documents"), NOW)
    f = figures.compute(agency, YEAR, NOW)
    assert f.by_kind == {"interfering": 1, "probing": 2}
    assert f.by_category["ask_documents"] == 1


def test_the_conclusion_names_what_stands_in_the_way(app, db, agency, year):
    with app.test_request_context(), force_locale("en"):
        text = "\n".join(conclusion.conclusion(figures.compute(agency, YEAR, NOW)))
    assert "全年未发生影响审计独立性的违规情形" not in text
    assert "1 incident was determined to have affected audit independence" in text
    assert "2025-05" in text and "2025-09" in text
    assert "2025-04 丁" in text and "2025-06 乙" in text
    assert "丙" in text


def test_the_conclusion_changes_exactly_when_the_last_obstacle_goes(app, db, agency, year):
    people, cases = year
    reviewer = people["reviewer"]

    def kinds() -> list[str]:
        return [o.kind for o in conclusion.obstacles(figures.compute(agency, YEAR, NOW))]

    assert kinds() == ["violations", "open_reviews", "missing_reports",
                       "missing_confirmations"]
    workflow.act(cases["j"].review, reviewer, "close",
               workflow.Decision(affected=False, determination="属正常履职过问"), NOW)
    assert kinds() == ["violations", "missing_reports", "missing_confirmations"]
    confirmations.confirm(people["j"], YEAR, "", NOW)
    assert kinds() == ["violations", "missing_reports"]
    records.file_report(people["b"], Period(YEAR, 6), zero=True, now=NOW)
    assert kinds() == ["violations", "missing_reports"]
    records.file_report(people["l"], Period(YEAR, 4), zero=True, now=NOW)
    assert kinds() == ["violations"]
    # Late reports do not stand in the way; only a determined violation still does.
    db.session.get(Review, cases["a"].review.id).affected_independence = False
    db.session.flush()
    f = figures.compute(agency, YEAR, NOW)
    assert conclusion.is_clean(f) and f.reports.late == 3
    with app.test_request_context():
        assert "全年未发生影响审计独立性的违规情形" in conclusion.conclusion(f)[0]


def test_a_report_not_yet_due_stands_in_the_way_then_goes_missing(db, agency, make_user,
                                                                 year):
    make_user(name="戊", staff_no="K01", joined_on=date(2025, 12, 1))
    before_deadline = datetime(2026, 1, 3, 2, tzinfo=UTC)
    f = figures.compute(agency, YEAR, before_deadline)
    assert (f.reports.due, f.reports.missing) == (1, 2)
    assert "pending_reports" in [o.kind for o in conclusion.obstacles(f)]
    f = figures.compute(agency, YEAR, NOW)
    assert (f.reports.due, f.reports.missing) == (0, 3)
    assert ("2025-12", "戊") in [(m.period, m.name) for m in f.missing_reports]


SECRET_TEXTS = ("来电请求从轻处理。", "李某某", "区某局")


def test_prepare_preview_sign_and_lock(app, db, year):
    people, _cases = year
    reviewer = signed_in(app, people["reviewer"])
    response = post_form(reviewer, "/statement/prepare", {"year": "2025"},
                         form_url="/statement/")
    assert response.status_code == 302
    page = reviewer.get("/statement/2025").get_data(as_text=True)
    assert 'data-testid="preview"' in page and 'data-status="draft"' in page
    leader = signed_in(app, people["leader"])
    assert 'data-testid="sign-form"' in leader.get("/statement/2025").get_data(as_text=True)
    wrong = post_form(leader, "/statement/2025/sign", {"password": "not the password"},
                      form_url="/statement/2025")
    assert wrong.status_code == 400
    db.session.expire_all()
    item = db.session.scalar(sa.select(AnnualStatement))
    assert item.status == "draft"
    right = post_form(leader, "/statement/2025/sign", signature(people["leader"]),
                      form_url="/statement/2025")
    assert right.status_code == 302
    db.session.expire_all()
    item = db.session.scalar(sa.select(AnnualStatement))
    assert (item.status, item.signed_by_id) == ("locked", people["leader"].id)
    # The log as it stands with the signature in it: its head is the `rules.signed` entry.
    signed = db.session.scalar(sa.select(AuditLog).order_by(AuditLog.id.desc()).limit(1))
    assert signed.action == "statement.signed"
    assert item.log_head == signed.hash
    assert item.log_count == db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog))
    assert len(item.records_digest) == 64
    assert figures.stored(item) == figures.compute(item.agency, YEAR, item.signed_at)
    actions = db.session.scalars(sa.select(AuditLog.action).where(
        AuditLog.action.like("statement.%")).order_by(AuditLog.id)).all()
    assert actions == ["statement.prepared", "statement.sign_refused", "statement.signed"]
    page = leader.get("/statement/2025").get_data(as_text=True)
    assert 'data-testid="signature"' in page and 'data-testid="sign-form"' not in page


def test_the_signature_asks_for_the_second_factor_again(app, db, year, frozen):
    people, _cases = year
    reviewer = signed_in(app, people["reviewer"])
    post_form(reviewer, "/statement/prepare", {"year": "2025"}, form_url="/statement/")
    leader = signed_in(app, people["leader"])  # its code of this 30 seconds is now used
    assert 'name="code"' in leader.get("/statement/2025").get_data(as_text=True)
    now_code = pyotp.TOTP(people["leader"].totp_secret).at(frozen.value)
    refused = [{"password": factories.PASSWORD},
               {"password": factories.PASSWORD, "code": now_code},  # replayed
               {"password": "not the password", "code": now_code}]
    for data in refused:
        response = post_form(leader, "/statement/2025/sign", data, form_url="/statement/2025")
        assert response.status_code == 400, data
    db.session.expire_all()
    assert db.session.scalar(sa.select(AnnualStatement.status)) == "draft"
    frozen.advance(seconds=30)
    fresh = pyotp.TOTP(people["leader"].totp_secret).at(frozen.value)
    response = post_form(leader, "/statement/2025/sign",
                         {"password": factories.PASSWORD, "code": fresh},
                         form_url="/statement/2025")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.scalar(sa.select(AnnualStatement.status)) == "locked"


def test_only_a_leader_signs_and_a_locked_statement_is_not_signed_or_prepared_again(
        app, db, year):
    people, _cases = year
    reviewer, leader = prepare_and_sign(app, people)
    assert post_form(reviewer, "/statement/2025/sign", {"password": factories.PASSWORD},
                     form_url="/statement/2025").status_code == 403
    again = post_form(leader, "/statement/2025/sign", signature(people["leader"]),
                      form_url="/statement/2025")
    assert again.status_code == 409
    response = post_form(reviewer, "/statement/prepare", {"year": "2025"},
                         form_url="/statement/")
    assert response.status_code == 409
    db.session.expire_all()
    item = db.session.scalar(sa.select(AnnualStatement))
    assert item.status == "locked" and item.prepared_by_id == people["reviewer"].id


def test_a_bad_year_is_refused_and_prepares_nothing(app, db, year):
    people, _cases = year
    reviewer = signed_in(app, people["reviewer"])
    for bad, status in (("二〇二五", 400), ("", 400), ("2027", 409)):
        response = post_form(reviewer, "/statement/prepare", {"year": bad},
                             form_url="/statement/")
        assert response.status_code == status, bad
        assert 'class="alert alert-danger"' in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AnnualStatement)) == 0


def _sign_after(app, db, people, change) -> None:
    """Prepare the draft, `change` a record, then try to sign: refused, still a draft."""
    reviewer = signed_in(app, people["reviewer"])
    post_form(reviewer, "/statement/prepare", {"year": "2025"}, form_url="/statement/")
    change()
    db.session.commit()
    leader = signed_in(app, people["leader"])
    response = post_form(leader, "/statement/2025/sign", signature(people["leader"]),
                         form_url="/statement/2025")
    assert response.status_code == 409
    db.session.expire_all()
    assert db.session.scalar(sa.select(AnnualStatement.status)) == "draft"


def test_a_changed_record_since_the_draft_refuses_the_signature(app, db, year):
    people, _cases = year
    _sign_after(app, db, people,
                lambda: records.file_report(people["b"], Period(YEAR, 6), zero=True, now=NOW))


def test_records_of_a_locked_year_cannot_be_changed_in_the_portal(app, db, year):
    people, cases = year
    reviewer, _leader = prepare_and_sign(app, people)
    owner = signed_in(app, people["b"])
    reports = db.session.scalar(sa.select(sa.func.count()).select_from(ReportVersion))
    page = owner.get("/filing/reports/2025-03").get_data(as_text=True)
    assert "/filing/reports/2025-03/correct" not in page and 'data-testid="locked-record"' in page
    assert "告知机关纪委" in page  # what to do instead
    assert f"/filing/incidents/{cases['b'].id}/correct" not in owner.get(
        f"/filing/incidents/{cases['b'].id}").get_data(as_text=True)
    response = post_form(owner, "/filing/reports/2025-03/correct",
                         {"reason": "补正", "declaration": "y"})
    assert response.status_code == 409
    assert "2025" in response.get_data(as_text=True)
    response = post_form(owner, f"/filing/incidents/{cases['b'].id}/correct",
                         {**incident_form(), "reason": "补正"},
                         form_url=f"/filing/incidents/{cases['b'].id}/correct")
    assert response.status_code == 400
    response = post_form(reviewer, f"/review/incidents/{cases['j'].id}",
                         {"action": "comment", "note": "补充说明"})
    assert response.status_code == 409
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReportVersion)) == reports
    assert len(db.session.get(Incident, cases["b"].id).versions) == 1
    assert db.session.get(Incident, cases["j"].id).review.actions == []
    # A correction is an addendum the statement page shows, to leaders too.
    response = post_form(reviewer, "/statement/2025/addenda",
                         {"text": "2025年3月乙的月度报告应为按期报送。"},
                         form_url="/statement/2025")
    assert response.status_code == 302
    assert "应为按期报送" in _leader.get("/statement/2025").get_data(as_text=True)


def test_a_late_report_of_a_locked_year_is_accepted_and_shown_against_the_statement(
        app, db, year):
    people, _cases = year
    reviewer, leader = prepare_and_sign(app, people)
    owner = signed_in(app, people["b"])
    assert 'data-testid="year-signed"' in owner.get("/filing/reports/2025-06").get_data(
        as_text=True
    )
    response = post_form(owner, "/filing/reports/2025-06", {"zero": "1", "declaration": "y"})
    assert response.status_code == 302
    report = db.session.scalar(sa.select(MonthlyReport).where(
        MonthlyReport.user_id == people["b"].id, MonthlyReport.period == "2025-06"))
    assert report.after_signing and report.late
    notices = db.session.scalars(sa.select(Outbox).where(
        Outbox.kind == NoticeKind.LATE_REPORT)).all()
    assert [(n.user_id, n.period, n.seq) for n in notices] == [
        (people["reviewer"].id, "2025-06", report.id)]
    assert "签发后登记 1 项" in leader.get("/statement/2025").get_data(as_text=True)
    item = db.session.scalar(sa.select(AnnualStatement))
    assert figures.stored(item).reports.missing == 2  # the signed figures stay as signed
    assert digest.verify(item).ok
    matrix = openpyxl.load_workbook(io.BytesIO(leader.get("/statement/2025.xlsx").data)
                                    ).worksheets[1]
    rows = list(matrix.iter_rows(values_only=True))
    b_june = next(row for row in rows if row[0] == "B01")[rows[0].index("2025-06")]
    with force_locale("zh_CN"):
        assert b_june == str(STATUS_LABELS[FilingStatus.MISSING])  # as the statement counts it
    response = post_form(reviewer, "/statement/2025/addenda",
                         {"record": f"report:{report.id}", "text": "乙已补报2025年6月零报告。"},
                         form_url="/statement/2025")
    assert response.status_code == 302
    assert "签发后登记" not in leader.get("/statement/2025").get_data(as_text=True)


def test_verify_matches_until_a_record_is_changed_in_the_database(app, db, year, runner):
    people, _cases = year
    prepare_and_sign(app, people)
    result = runner.invoke(args=["statement", "verify", "2025"])
    assert result.exit_code == 0 and "MATCH" in result.output
    db.session.execute(sa.update(MonthlyReport).where(MonthlyReport.period == "2025-03")
                       .values(late=False))
    db.session.commit()
    result = runner.invoke(args=["statement", "verify", "2025"])
    assert result.exit_code == 1 and "MISMATCH" in result.output


def test_verify_finds_a_changed_determination(app, db, year, runner):
    people, cases = year
    prepare_and_sign(app, people)
    db.session.execute(sa.update(Review).where(Review.id == cases["a"].review.id)
                       .values(affected_independence=False))
    db.session.commit()
    assert runner.invoke(args=["statement", "verify", "2025"]).exit_code == 1


def test_the_pdf_holds_the_figures_and_embeds_its_fonts(app, db, year):
    people, cases = year
    db.session.get(Review, cases["a"].review.id).affected_independence = False
    workflow.act(cases["j"].review, people["reviewer"], "close",
               workflow.Decision(affected=False, determination="正常履职"), NOW)
    confirmations.confirm(people["j"], YEAR, "", NOW)
    db.session.commit()
    _reviewer, leader = prepare_and_sign(app, people)
    response = leader.get("/statement/2025.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    data = response.get_data()
    text = pdf_text(data)
    assert "全年未发生影响审计独立性的违规情形" not in text  # two reports are missing
    assert "2025-04丁" in text and "2025-06乙" in text
    assert people["leader"].agency.name in text
    assert "34" in text and people["leader"].name in text
    fonts = embedded_fonts(data)
    assert fonts and all(fonts)
    for secret in SECRET_TEXTS:
        assert secret not in text


def test_a_clean_year_says_so_in_the_pdf(app, db, year, runner, tmp_path):
    people, cases = year
    db.session.get(Review, cases["a"].review.id).affected_independence = False
    workflow.act(cases["j"].review, people["reviewer"], "close",
               workflow.Decision(affected=False, determination="正常履职"), NOW)
    confirmations.confirm(people["j"], YEAR, "", NOW)
    records.file_report(people["b"], Period(YEAR, 6), zero=True, now=NOW)
    records.file_report(people["l"], Period(YEAR, 4), zero=True, now=NOW)
    db.session.commit()
    _reviewer, leader = prepare_and_sign(app, people)
    served = leader.get("/statement/2025.pdf").get_data()
    assert "全年未发生影响审计独立性的违规情形" in pdf_text(served)
    out = tmp_path / "out.pdf"
    result = runner.invoke(args=["statement", "build", "2025", "--pdf", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == served  # the same PDF, byte for byte


def test_leaders_see_no_incident_content_and_their_appendix_has_no_incident_table(
        app, db, year):
    people, _cases = year
    reviewer, leader = prepare_and_sign(app, people)
    page = leader.get("/statement/2025").get_data(as_text=True)
    response = leader.get("/statement/2025.xlsx")
    assert response.status_code == 200, response.get_data(as_text=True)[:3000]
    leader_book = openpyxl.load_workbook(io.BytesIO(response.data))
    reviewer_book = openpyxl.load_workbook(
        io.BytesIO(reviewer.get("/statement/2025.xlsx").data))
    assert len(reviewer_book.sheetnames) == len(leader_book.sheetnames) + 1
    cells = " ".join(str(c.value) for ws in leader_book for row in ws.iter_rows()
                     for c in row)
    for secret in SECRET_TEXTS:
        assert secret not in page and secret not in cells
    matrix = leader_book.worksheets[1]  # after the cover
    rows = {row[0]: row for row in matrix.iter_rows(values_only=True)}
    assert set(rows) >= {"A01", "B01", "J01", "L01"} and "F01" not in rows
    assert len(rows["J01"]) == 15  # staff number, name, department and twelve months
    incidents = reviewer_book.worksheets[-1]
    assert incidents.max_row == 4  # header and three incidents


def test_other_agencies_statements_are_not_found(app, db, year):
    people, _cases = year
    prepare_and_sign(app, people)
    stranger = factories.UserFactory(roles={"reviewer", "leader"})
    client = signed_in(app, stranger)
    for url in ("/statement/2025", "/statement/2025.pdf", "/statement/2025.xlsx"):
        assert client.get(url).status_code == 404


def test_the_confirmation_opens_on_the_configured_day(app, db, year, frozen):
    people, _cases = year
    new = factories.UserFactory(agency=people["a"].agency, name="新人", staff_no="N99")
    frozen.set(2026, 11, 20, 2)
    client = signed_in(app, new)
    location = client.get("/statement/confirmation").headers["Location"]
    assert location.endswith("/statement/confirmation/2025")
    page = client.get("/statement/confirmation/2026").get_data(as_text=True)
    assert 'data-testid="not-open"' in page
    refused = post_form(client, "/statement/confirmation/2026", {"declaration": "y"},
                        form_url="/statement/confirmation/2025")
    assert refused.status_code == 409
    frozen.set(2026, 12, 1, 2)
    client = signed_in(app, new)  # the session of 20 November has expired
    assert post_form(client, "/statement/confirmation/2026",
                     {"declaration": "y", "exceptions": "3月一次来电未及时登记"}).status_code == 302
    twice = post_form(client, "/statement/confirmation/2026", {"declaration": "y"},
                      form_url="/statement/confirmation/2025")
    assert twice.status_code == 409
    db.session.expire_all()
    row = db.session.scalar(sa.select(AnnualConfirmation).where(
        AnnualConfirmation.user_id == new.id))
    assert (row.year, row.exceptions) == (2026, "3月一次来电未及时登记")


def test_the_confirmation_needs_the_declaration(app, db, year):
    people, _cases = year
    client = signed_in(app, people["j"])
    assert post_form(client, "/statement/confirmation/2025", {"exceptions": ""}).status_code == 400
    db.session.expire_all()
    assert confirmations.of(people["j"], YEAR) is None


def test_a_leaver_is_not_asked_to_confirm(app, db, year):
    people, _cases = year
    assert not confirmations.must_confirm(people["l"], YEAR)


def test_the_dashboard_lists_who_has_not_confirmed(app, db, year, frozen):
    people, _cases = year
    frozen.set(2025, 12, 10, 2)
    page = signed_in(app, people["leader"]).get("/compliance/").get_data(as_text=True)
    assert 'data-testid="not-confirmed"' in page
    section = page.split('data-testid="not-confirmed"')[1].split("</table>")[0]
    assert "丙" in section and "甲" not in section


def test_a_locked_year_closes_the_confirmation(app, db, year):
    people, _cases = year
    prepare_and_sign(app, people)
    client = signed_in(app, people["j"])
    response = post_form(client, "/statement/confirmation/2025", {"declaration": "y"})
    assert response.status_code in (200, 409)
    assert confirmations.of(people["j"], YEAR) is None


def _confirmation_notices(now: datetime) -> list[tuple[int, str, int]]:
    return [(n.user_id, n.period, n.seq) for n in reminders.plan(now)
            if n.kind == NoticeKind.CONFIRM]


def test_those_who_have_not_confirmed_are_reminded_once_per_stage(app, db, year, frozen):
    people, _cases = year
    j, foreign = people["j"].id, people["foreign"].id
    assert _confirmation_notices(datetime(2025, 11, 30, 2, tzinfo=UTC)) == []
    opening = datetime(2025, 12, 1, 1, tzinfo=UTC)  # 09:00 in Beijing
    notices = [n for n in reminders.plan(opening) if n.kind == NoticeKind.CONFIRM]
    # a and b confirmed, l has left: only j (and the other agency's auditor, in their agency).
    assert sorted((n.user_id, n.period, n.seq) for n in notices) == [(j, "2025", 0),
                                                                     (foreign, "2025", 0)]
    assert outbox.enqueue(notices, opening) == 2
    assert outbox.enqueue(notices, opening) == 0  # a second round: the key is taken
    assert (j, "2025", 1) in _confirmation_notices(datetime(2025, 12, 8, 1, tzinfo=UTC))
    confirmations.confirm(people["j"], YEAR, "", datetime(2025, 12, 9, 2, tzinfo=UTC))
    assert j not in [n[0] for n in _confirmation_notices(datetime(2025, 12, 15, 1,
                                                                  tzinfo=UTC))]
    with app.test_request_context():
        row = db.session.scalar(sa.select(Outbox).where(Outbox.user_id == j))
        link = texts.content(row).link
    assert link == "/statement/confirmation/2025"


def test_renaming_a_person_or_department_after_signing_still_verifies(app, db, year, runner):
    people, _cases = year
    prepare_and_sign(app, people)
    people["j"].name = "丙（改名）"
    people["a"].department.name = "审计一处"
    db.session.commit()
    result = runner.invoke(args=["statement", "verify", "2025"])
    assert result.exit_code == 0, result.output


def test_the_pdf_is_in_the_readers_language(app, db, year):
    people, _cases = year
    people["leader"].locale = "en"
    db.session.commit()
    _reviewer, leader = prepare_and_sign(app, people)
    text = pdf_text(leader.get("/statement/2025.pdf").get_data())
    assert "Annualstatementonauditindependencefor2025" in text
    assert "Signedby:" in text


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL"),
                    reason="row locks need PostgreSQL; SQLite runs one writer at a time")
def test_a_signature_waits_for_a_change_of_the_year_in_progress(app, db, agency):
    """A filing that found the year open holds a shared lock on the agency until it commits:
    other filings go on, a signature (exclusive) cannot start meanwhile."""
    db.session.commit()
    yearlock.ensure_open(agency.id, "2025-03", RuntimeError)  # a filing's transaction, open
    with db.engine.connect() as other:
        other.execute(sa.text("SET lock_timeout = '200ms'"))
        other.execute(yearlock.agency_lock(agency.id, exclusive=False))  # another filing
        other.rollback()
        other.execute(sa.text("SET lock_timeout = '200ms'"))
        with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
            other.execute(yearlock.agency_lock(agency.id, exclusive=True))
        other.rollback()
        db.session.commit()  # the filing is done: the signature may go ahead
        other.execute(sa.text("SET lock_timeout = '5s'"))
        assert other.execute(yearlock.agency_lock(agency.id, exclusive=True)).scalar() == agency.id
        other.rollback()


def test_who_prepared_the_draft_cannot_also_sign_it(app, db, year, make_user):
    people, _cases = year
    both = make_user(name="兼任者", staff_no="RL1", roles={"reviewer", "leader"})
    client = signed_in(app, both)
    assert post_form(client, "/statement/prepare", {"year": "2025"},
                     form_url="/statement/").status_code == 302
    refused = post_form(client, "/statement/2025/sign", signature(both),
                        form_url="/statement/2025")
    assert refused.status_code == 409
    assert "须由另一位局领导签署" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(sa.select(AnnualStatement.status)) == "draft"
    leader = signed_in(app, people["leader"])
    assert post_form(leader, "/statement/2025/sign", signature(people["leader"]),
                     form_url="/statement/2025").status_code == 302


def test_a_cut_off_log_tail_is_found_by_both_verifications(app, db, year, runner, tmp_path,
                                                           monkeypatch):
    checkpoints = tmp_path / "checkpoints.jsonl"
    monkeypatch.setitem(app.config, "AUDIT_CHECKPOINT_FILE", str(checkpoints))
    people, _cases = year
    prepare_and_sign(app, people)
    db.session.expire_all()
    item = db.session.scalar(sa.select(AnnualStatement))
    noted = json.loads(checkpoints.read_text().splitlines()[-1])
    assert (noted["head"], noted["count"]) == (item.log_head, item.log_count)
    expect = ["--expect-head", item.log_head, "--expect-count", str(item.log_count)]
    result = runner.invoke(args=["audit", "verify", *expect])
    assert result.exit_code == 0, result.output
    assert f"{item.log_count} entries, head {item.log_head}" in result.output
    # Whoever can write to the database deletes the signature and everything after it.
    signed_id = db.session.scalar(sa.select(AuditLog.id).where(
        AuditLog.action == "statement.signed"))
    db.session.execute(sa.delete(AuditLog).where(AuditLog.id >= signed_id))
    db.session.commit()
    # What is left is a valid chain on its own: only a noted head shows what is missing.
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
    result = runner.invoke(args=["audit", "verify", *expect])
    assert result.exit_code == 1 and "cut off" in result.output
    result = runner.invoke(args=["audit", "verify", "--expect-head", item.log_head])
    assert result.exit_code == 1 and "no longer passes through" in result.output
    result = runner.invoke(args=["statement", "verify", "2025"])
    assert result.exit_code == 1 and "audit log" in result.output


def test_a_rewritten_tail_after_the_signature_is_found(app, db, year, runner):
    people, _cases = year
    prepare_and_sign(app, people)
    item = db.session.scalar(sa.select(AnnualStatement))
    last = db.session.scalar(sa.select(AuditLog).order_by(AuditLog.id.desc()).limit(1))
    db.session.execute(sa.update(AuditLog).where(AuditLog.id == last.id)
                       .values(detail='{"forged": true}'))
    db.session.commit()
    result = runner.invoke(args=["statement", "verify", str(YEAR)])
    assert result.exit_code == 1 and "MISMATCH" in result.output
    assert item.log_count is not None


def beijing(month: int, day: int, hour: int, year_: int = 2026) -> datetime:
    """A Beijing wall-clock time as UTC (UTC+8, no daylight saving)."""
    return datetime(year_, month, day, hour, tzinfo=UTC) - timedelta(hours=8)


@pytest.mark.parametrize("shift, day_off, first_day", [
    (False, False, date(2026, 1, 6)),
    (True, False, date(2026, 1, 6)),   # 5 January 2026 is a Monday: nothing moves
    (False, True, date(2026, 1, 6)),   # a day off moves nothing without the shift
    (True, True, date(2026, 1, 7)),    # the agency's day off on the 5th moves it to the 6th
])
def test_a_year_can_be_signed_once_its_december_deadline_has_passed(
        db, agency, shift, day_off, first_day):
    agency.shift_to_workday = shift
    if day_off:
        db.session.add(CalendarDay(agency_id=agency.id, day=date(2026, 1, 5), is_workday=False))
    db.session.flush()
    start = signing.signable_from(agency, 2025)
    assert start == beijing(first_day.month, first_day.day, 0)
    assert signing.signing_refusal(agency, 2025, start) is None
    with force_locale("zh_CN"):
        refusal = signing.signing_refusal(agency, 2025, start - timedelta(seconds=1))
    assert f"2026年1月{first_day.day}日" in refusal


def sign_at(app, people, frozen, moment: datetime):
    """Prepare and try to sign at `moment`: the leader's response and page before it."""
    frozen.value = moment
    reviewer = signed_in(app, people["reviewer"])
    assert post_form(reviewer, "/statement/prepare", {"year": "2025"},
                     form_url="/statement/").status_code == 302
    leader = signed_in(app, people["leader"])
    page = leader.get("/statement/2025").get_data(as_text=True)
    return post_form(leader, "/statement/2025/sign", signature(people["leader"]),
                     form_url="/statement/2025"), page


def signing_attempts(db) -> list[str]:
    return list(db.session.scalars(sa.select(AuditLog.action).where(
        AuditLog.action.in_(["statement.sign_refused", "statement.signed"]))))


@pytest.mark.parametrize("shift", [False, True])
def test_signing_is_refused_until_the_year_and_its_december_deadline_are_over(
        app, db, agency, year, frozen, shift):
    people, _cases = year
    agency.shift_to_workday = shift
    if shift:  # the agency made 5 January a day off: the deadline moves to the 6th
        db.session.add(CalendarDay(agency_id=agency.id, day=date(2026, 1, 5), is_workday=False))
    db.session.commit()
    last_refused, first_allowed = ((beijing(1, 6, 23), beijing(1, 7, 0)) if shift
                                   else (beijing(1, 5, 23), beijing(1, 6, 0)))
    for moment in (beijing(12, 2, 10, 2025), beijing(1, 5, 10), last_refused):
        response, page = sign_at(app, people, frozen, moment)
        assert 'data-testid="sign-form"' not in page and 'data-testid="sign-not-yet"' in page
        assert response.status_code == 409
        assert f"自2026年1月{7 if shift else 6}日起方可签发" in response.get_data(as_text=True)
        db.session.expire_all()
        assert db.session.scalar(sa.select(AnnualStatement.status)) == "draft"
    assert signing_attempts(db) == []  # refused before any password was checked
    response, page = sign_at(app, people, frozen, first_allowed)
    assert 'data-testid="sign-form"' in page
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.scalar(sa.select(AnnualStatement.status)) == "locked"


def test_a_draft_of_the_year_in_progress_is_a_provisional_preview(app, db, year, frozen):
    people, _cases = year
    frozen.value = beijing(12, 2, 10, 2025)
    reviewer = signed_in(app, people["reviewer"])
    assert post_form(reviewer, "/statement/prepare", {"year": "2025"},
                     form_url="/statement/").status_code == 302
    page = reviewer.get("/statement/2025").get_data(as_text=True)
    assert 'data-testid="provisional"' in page and "临时数据" in page
    data = reviewer.get("/statement/2025.pdf").data
    pages = PdfReader(io.BytesIO(data)).pages
    assert len(pages) > 1
    for one in pages:
        text = re.sub(r"[\s\x00]+", "", one.extract_text())
        assert "草稿/DRAFT" in text and "临时数据" in text
    frozen.value = NOW  # the year is over: the same draft is no longer provisional
    reviewer = signed_in(app, people["reviewer"])
    assert 'data-testid="provisional"' not in reviewer.get("/statement/2025").get_data(
        as_text=True)


def test_an_incident_of_a_locked_year_is_saved_queued_counted_and_cleared_by_an_addendum(
        app, db, year, runner):
    people, _cases = year
    reviewer, leader = prepare_and_sign(app, people)
    owner = signed_in(app, people["a"])
    response = post_form(owner, "/filing/incidents/new",
                         incident_form(occurred_at="2025-11-20T10:00", delay_reason="年底回忆起"),
                         form_url="/filing/incidents/new")
    assert response.status_code == 302, response.get_data(as_text=True)
    late_one = db.session.scalar(sa.select(Incident).order_by(Incident.id.desc()).limit(1))
    assert (late_one.period, late_one.after_signing) == ("2025-11", True)
    page = owner.get(f"/filing/incidents/{late_one.id}").get_data(as_text=True)
    assert "年度报告签发后登记" in page
    queue = reviewer.get("/review/").get_data(as_text=True)
    assert f'data-incident="{late_one.id}"' in queue and "年度报告签发后登记" in queue
    notices = db.session.scalars(sa.select(Outbox).where(
        Outbox.kind == NoticeKind.LATE_INCIDENT)).all()
    assert [(n.user_id, n.seq) for n in notices] == [(people["reviewer"].id, late_one.id)]
    with force_locale("zh_CN"):
        assert "签发后" in texts.content(notices[0]).subject
        assert "来电" not in " ".join(texts.content(notices[0]).paragraphs)  # no content
    for who in (leader, reviewer):
        assert "签发后登记 1 项" in who.get("/statement/2025").get_data(as_text=True)
    assert "签发后登记1项" in pdf_text(leader.get("/statement/2025.pdf").data)
    # It is reviewed like any other; the signed record still verifies.
    assert post_form(reviewer, f"/review/incidents/{late_one.id}",
                     {"action": "comment", "note": "已阅"}).status_code == 302
    assert runner.invoke(args=["statement", "verify", "2025"]).exit_code == 0
    response = post_form(reviewer, "/statement/2025/addenda",
                         {"record": f"incident:{late_one.id}",
                          "text": "2025年11月另有一项请托于签发后补登，经审核未影响独立性。"},
                         form_url="/statement/2025")
    assert response.status_code == 302
    page = leader.get("/statement/2025").get_data(as_text=True)
    assert "签发后登记" not in page.split('data-testid="addenda"')[0]
    assert f"登记第{late_one.id}号" in page  # the addendum names the registration
    again = post_form(reviewer, "/statement/2025/addenda",
                      {"record": f"incident:{late_one.id}", "text": "重复"},
                      form_url="/statement/2025")
    assert again.status_code == 400  # no longer a choice: it has its addendum


def lone_characters(data: bytes) -> list[str]:
    """Lines of the PDF holding a single Chinese character: a cell too narrow for its text."""
    lines = [line.replace("\x00", "").strip() for page in PdfReader(io.BytesIO(data)).pages
             for line in page.extract_text().splitlines()]
    return [line for line in lines if re.fullmatch(r"[\u4e00-\u9fff]", line)]


def test_the_signed_pdf_is_an_official_document(app, db, agency, year):
    people, _cases = year
    agency.document_number_pattern = "测审〔{year}〕{n}号"
    people["a"].department.name = "固定资产投资审计科"  # nine characters: one too many
    db.session.commit()
    _reviewer, leader = prepare_and_sign(app, people)
    item = db.session.scalar(sa.select(AnnualStatement))
    assert item.document_number == "测审〔2026〕1号"
    assert "测审〔2026〕1号" in leader.get("/statement/2025").get_data(as_text=True)
    data = leader.get("/statement/2025.pdf").data
    text = pdf_text(data)
    assert "测审〔2026〕1号" in text and "2026年1月10日" in text and "盖章处" in text
    assert "起始月份" in text and "来源地址" not in text and "DRAFT" not in text
    assert lone_characters(data) == []
    cover = openpyxl.load_workbook(io.BytesIO(leader.get("/statement/2025.xlsx").data)
                                   ).worksheets[0]
    values = [cell for row in cover.iter_rows(values_only=True) for cell in row]
    assert "已签发并锁定" in values and item.records_digest in values
    assert "测审〔2026〕1号" in values


def test_a_draft_says_so_on_every_page_and_in_its_appendix(app, db, year):
    people, _cases = year
    reviewer = signed_in(app, people["reviewer"])
    post_form(reviewer, "/statement/prepare", {"year": "2025"}, form_url="/statement/")
    pages = PdfReader(io.BytesIO(reviewer.get("/statement/2025.pdf").data)).pages
    assert len(pages) > 1
    assert all("草稿/DRAFT" in re.sub(r"[\s\x00]+", "", p.extract_text()) for p in pages)
    cover = openpyxl.load_workbook(io.BytesIO(reviewer.get("/statement/2025.xlsx").data)
                                   ).worksheets[0]
    values = [cell for row in cover.iter_rows(values_only=True) for cell in row]
    item = db.session.scalar(sa.select(AnnualStatement))
    assert "草稿 / DRAFT" in values and item.records_digest in values


def test_the_document_number_pattern_is_checked_on_the_settings_page(app, db, agency,
                                                                     make_user):
    admin = make_user(name="管理员", staff_no="AD1", roles={"admin"})
    client = signed_in(app, admin)
    form = {"name": agency.name, "timezone": agency.timezone, "deadline_day": "5"}
    bad = post_form(client, "/admin/settings", {**form, "document_number_pattern": "西审{x}"})
    assert bad.status_code == 400 and "只能使用" in bad.get_data(as_text=True)
    db.session.expire_all()
    assert agency.document_number_pattern == ""
    good = post_form(client, "/admin/settings",
                     {**form, "document_number_pattern": "西审〔{year}〕{n}号"})
    assert good.status_code == 302
    db.session.expire_all()
    assert agency.document_number_pattern == "西审〔{year}〕{n}号"


def _reference_digest(agency_id: int, version: int = digest.CURRENT) -> str:
    """Format 4 (or 3, or 2) of the records digest computed in Python from the rows as
    SQLAlchemy reads them: what the database writes must be exactly this, on SQLite and
    PostgreSQL alike. Format 3 writes the end of a period only if it falls in the year; format 4
    also the months the period owns (the last only if in the year), and each month's reports
    by the hash of their lines."""
    people = figures.auditors_of_year(sa.select(User.id).select_from(User), agency_id, YEAR)
    counted = sa.and_(MonthlyReport.user_id.in_(people),
                      MonthlyReport.period.between(f"{YEAR}-01", f"{YEAR}-12"),
                      MonthlyReport.after_signing.is_(False))
    incidents = sa.select(Incident.id).where(figures.incidents_of_year(agency_id, YEAR))
    columns = lambda model: [c for c in model.__table__.columns  # noqa: E731
                             if c.name not in digest.CUSTODY_COLUMNS]  # keys: custody, not records
    link = report_version_incident.c
    person = (*digest.PERSON, Employment.first_period, Employment.last_period)
    reports = [
        ("monthly_report+report_version",
         sa.select(*columns(MonthlyReport), *columns(ReportVersion))
         .join(MonthlyReport, MonthlyReport.id == ReportVersion.report_id).where(counted)
         .order_by(ReportVersion.id)),
        ("report_version_incident", sa.select(report_version_incident)
         .join(ReportVersion, ReportVersion.id == link.report_version_id)
         .join(MonthlyReport, MonthlyReport.id == ReportVersion.report_id).where(counted)
         .order_by(link.report_version_id, link.incident_version_id)),
    ]
    others = [
        ("incident", sa.select(*columns(Incident)).where(Incident.id.in_(incidents))
         .order_by(Incident.id)),
        ("incident_version", sa.select(*columns(IncidentVersion))
         .where(IncidentVersion.incident_id.in_(incidents)).order_by(IncidentVersion.id)),
        ("review", sa.select(*columns(Review)).where(Review.incident_id.in_(incidents))
         .order_by(Review.id)),
        ("annual_confirmation", sa.select(*columns(AnnualConfirmation))
         .where(AnnualConfirmation.year == YEAR, AnnualConfirmation.user_id.in_(people))
         .order_by(AnnualConfirmation.id)),
    ]

    def in_year(row: tuple) -> tuple:
        ends = row[3] if version == 2 or row[3] is None or row[3].year <= YEAR else None
        if version < 4:
            return (*row[:3], ends)
        last = row[5] if row[5] is not None and row[5] <= f"{YEAR}-12" else None
        return (*row[:3], ends, row[4], last)

    def lines(rows) -> str:
        return "".join(digest.canonical_line(row) + "\n" for row in rows)

    def tables(queries) -> str:
        return "".join(f"#{name}\n" + lines(_db.session.execute(query)) for name, query in queries)

    users = figures.auditors_of_year(sa.select(*person).select_from(User), agency_id, YEAR)
    text = digest.FORMATS[version] + "\n#user\n" + lines(
        in_year(row) for row in _db.session.execute(users.order_by(User.id,
                                                                   Employment.started_on)))
    if version < 4:
        return hashlib.sha256((text + tables(reports + others)).encode()).hexdigest()
    for month in range(1, 13):
        period = f"{YEAR}-{month:02d}"
        part = tables((name, query.where(MonthlyReport.period == period))
                      for name, query in reports)
        text += f"#month {period} {hashlib.sha256(part.encode()).hexdigest()}\n"
    return hashlib.sha256((text + tables(others)).encode()).hexdigest()


def test_the_records_digest_is_the_same_canonical_text_on_every_database(db, agency, year):
    people, _cases = year
    confirmations.confirm(people["j"], YEAR, "无例外 \"引号\" \\ 反斜杠", NOW)
    db.session.commit()
    for version in (4, 3, 2):
        assert digest.records_digest(agency, YEAR, version) == _reference_digest(agency.id,
                                                                                  version)
    # A period ending after the year: formats 3 and 4 leave its end out, format 2 writes it.
    people["a"].active, people["a"].left_on = False, date(2026, 1, 5)
    employment.follow(people["a"])
    db.session.commit()
    for version in (4, 3, 2):
        assert digest.records_digest(agency, YEAR, version) == _reference_digest(agency.id,
                                                                                  version)


@pytest.mark.parametrize("version", [3, 2])
def test_a_statement_signed_in_an_earlier_format_still_verifies(app, db, year, runner, version):
    people, _cases = year
    prepare_and_sign(app, people)
    item = db.session.scalar(sa.select(AnnualStatement))
    assert digest.verify(item).format == digest.CURRENT
    item.records_digest = digest.records_digest(item.agency, YEAR, version)
    db.session.commit()
    verdict = digest.verify(item)
    assert verdict.ok and verdict.format == version
    assert runner.invoke(args=["statement", "verify", "2025"]).exit_code == 0


def test_a_transfer_after_signing_leaves_the_signed_year_verifying(app, db, agency, year,
                                                                  runner, frozen):
    """The person moves on in March of the next year: their period of the signed year ends
    then, which is no change to the records of that year."""
    people, _cases = year
    prepare_and_sign(app, people)
    other = factories.AgencyFactory(name="南开区审计局")
    frozen.value = datetime(2026, 3, 1, 2, tzinfo=UTC)
    employment.transfer(people["a"], other, None, date(2026, 3, 1))
    db.session.commit()
    item = db.session.scalar(sa.select(AnnualStatement))
    assert digest.verify(item).ok
    assert runner.invoke(args=["statement", "verify", "2025"]).exit_code == 0


def test_a_statement_signed_with_the_first_digest_format_still_verifies(app, db, year, runner):
    people, _cases = year
    prepare_and_sign(app, people)
    item = db.session.scalar(sa.select(AnnualStatement))
    assert digest.verify(item).format == digest.CURRENT
    # As signed before format 2: the stored digest is the first format's.
    item.records_digest = digest.legacy_records_digest(item.agency, YEAR)
    db.session.commit()
    assert item.records_digest != digest.records_digest(item.agency, YEAR)
    verdict = digest.verify(item)
    assert verdict.ok and verdict.format == 1
    result = runner.invoke(args=["statement", "verify", "2025"])
    assert result.exit_code == 0 and "MATCH" in result.output
    db.session.execute(sa.update(MonthlyReport).where(MonthlyReport.period == "2025-03")
                       .values(late=False))
    db.session.commit()
    assert not digest.verify(item).ok
    assert runner.invoke(args=["statement", "verify", "2025"]).exit_code == 1


def test_the_signature_finds_a_record_changed_behind_the_portals_back(app, db, year):
    people, _cases = year
    # Not a figure: only the digest can see it.
    _sign_after(app, db, people, lambda: db.session.execute(
        sa.update(ReportVersion).values(submitted_from="10.0.0.9")))
