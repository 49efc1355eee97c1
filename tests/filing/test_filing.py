"""Monthly filing through the HTTP layer: the month at a glance, zero reports, incidents,
reports with incidents, corrections, history, and bad input."""

import io
import re
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from app.core.codes import FilingStatus
from app.models import AuditLog, Evidence, Incident, MonthlyReport
from tests.helpers.filing import PDF, PNG, file_month, incident_form, register
from tests.helpers.web import login, post_form


@pytest.fixture
def me(client, auditor, frozen):
    """The auditor, signed in, on 3 April 2025 10:00 Beijing time (March is due)."""
    login(client, auditor)
    return auditor


def count(db, model, *where) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def test_home_shows_the_due_month_its_deadline_and_time_left(client, me):
    page = client.get("/").get_data(as_text=True)
    assert "2025-03" in page
    assert "2025-04-05 23:59" in page            # end of the 5th, Beijing time
    assert 'data-status="due"' in page
    assert "2天14小时" in page                    # until 6 April 00:00 in Beijing


def later(client, user, frozen, *moment):
    """Move the clock (sessions idle out meanwhile) and sign in again."""
    frozen.set(*moment)
    login(client, user)


def test_home_says_overdue_after_the_deadline(client, me, frozen):
    later(client, me, frozen, 2025, 4, 5, 16, 1)  # 00:01 on 6 April in Beijing
    page = client.get("/").get_data(as_text=True)
    assert 'data-status="missing"' in page


def test_home_shows_filed_after_filing(client, me):
    assert file_month(client).status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert 'data-status="on_time"' in page


def test_earlier_missing_months_are_listed(client, make_user, frozen):
    user = make_user(joined_on=date(2025, 1, 10))
    login(client, user)
    page = client.get("/").get_data(as_text=True)
    assert page.count('data-testid="overdue"') == 2  # January and February; March is due


def test_zero_report_in_one_confirmation(client, me, db):
    response = file_month(client)
    assert response.status_code == 302 and response.headers["Location"] == "/filing/reports/2025-03"
    report = db.session.scalar(sa.select(MonthlyReport))
    assert report.period == "2025-03" and not report.late
    assert report.current.is_zero and report.current.declared
    assert report.first_filed_at == datetime(2025, 4, 3, 2, tzinfo=UTC)
    assert count(db, AuditLog, AuditLog.action == "report.filed") == 1


def test_zero_report_needs_the_declaration(client, me, db):
    response = post_form(client, "/filing/reports/2025-03", {"zero": "1"})
    assert response.status_code == 400
    assert count(db, MonthlyReport) == 0


def test_double_submit_and_second_tab_give_one_report(client, app, me, db):
    token_page = client.get("/filing/reports/2025-03").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', token_page).group(1)
    data = {"csrf_token": token, "zero": "1", "declaration": "y"}
    first = client.post("/filing/reports/2025-03", data=data)
    second = client.post("/filing/reports/2025-03", data=data)   # the same form sent again
    assert first.status_code == second.status_code == 302
    assert count(db, MonthlyReport) == 1
    page = client.get("/filing/reports/2025-03").get_data(as_text=True)
    assert "已报送" in page or "filed" in page


def test_a_late_report_is_accepted_and_marked_late(client, me, db, frozen):
    later(client, me, frozen, 2025, 4, 10, 2)
    assert file_month(client).status_code == 302
    assert db.session.scalar(sa.select(MonthlyReport)).late
    assert 'data-status="late"' in client.get("/filing/history").get_data(as_text=True)


def test_the_current_month_cannot_be_filed_before_it_is_over(client, me, db):
    response = file_month(client, "2025-04")
    assert response.status_code == 409
    assert count(db, MonthlyReport) == 0


@pytest.mark.parametrize("period", ["2025-13", "abc", "2023-12"])
def test_periods_outside_the_users_time_answer_404(client, me, period):
    assert client.get(f"/filing/reports/{period}").status_code == 404


def test_register_an_incident_with_every_field_and_evidence(client, me, project, db):
    response = register(client, project, files=[("通话记录.pdf", PDF), ("截图.png", PNG)])
    assert response.status_code == 302
    incident = db.session.scalar(sa.select(Incident))
    version = incident.current
    assert incident.period == "2025-03" and incident.user_id == me.id
    assert (version.kind, version.category, version.channel) == ("interfering", "plead", "phone")
    assert (version.actor_name, version.actor_org, version.actor_position,
            version.actor_relation) == ("李某某", "区某局", "副局长", "leading_cadre")
    assert version.project_id == project.id and version.stage == "fieldwork"
    assert version.response == "refused" and "拒绝" in version.response_detail
    # 15:30 Beijing time is 07:30 UTC
    assert version.occurred_at == datetime(2025, 3, 20, 7, 30, tzinfo=UTC)
    assert sorted(e.filename for e in incident.evidence) == ["截图.png", "通话记录.pdf"]
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "来电请求对其分管单位的问题从轻处理。" in page
    evidence = next(e for e in incident.evidence if e.filename == "通话记录.pdf")
    download = client.get(f"/filing/evidence/{evidence.id}")
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment")


def test_an_incident_at_2330_beijing_on_31_march_belongs_to_march(client, me, db, frozen):
    register(client, occurred_at="2025-03-31T23:30")
    incident = db.session.scalar(sa.select(Incident))
    assert incident.period == "2025-03"
    assert incident.current.occurred_at == datetime(2025, 3, 31, 15, 30, tzinfo=UTC)


def test_a_duty_inquiry_is_its_own_kind(client, me, db):
    register(client, category="duty_inquiry", actor_relation="colleague")
    assert db.session.scalar(sa.select(Incident)).current.kind == "duty_inquiry"


@pytest.mark.parametrize("field,value", [
    ("occurred_at", ""),
    ("occurred_at", "2025-04-03T11:00"),         # an hour in the future
    ("occurred_at", "not a date"),
    ("category", "bribery"),
    ("category", ""),
    ("channel", ""),
    ("actor_name", ""),
    ("actor_name", "   "),
    ("actor_org", "x" * 121),
    ("actor_relation", "boss"),
    ("project", "999999"),
    ("stage", "nope"),
    ("description", ""),
    ("description", "长" * 5001),
    ("response", ""),
])
def test_bad_incident_input_is_refused_with_nothing_changed(client, me, db, field, value):
    response = register(client, **{field: value})
    assert response.status_code == 400
    assert "is-invalid" in response.get_data(as_text=True)
    assert count(db, Incident) == 0


FACTS = ("category", "channel", "actor_relation", "stage", "response")


def test_no_fact_is_pre_selected_on_the_incident_form(client, me):
    page = client.get("/filing/incidents/new").get_data(as_text=True)
    for name in FACTS:
        select = re.search(rf'<select[^>]*name="{name}".*?</select>', page, re.S).group(0)
        assert "selected" not in select, name
        assert re.search(r'<option[^>]*value=""', select), name


@pytest.mark.parametrize(("field", "message"), [
    ("channel", "请选择方式"),
    ("actor_relation", "请选择对方与您或审计事项的关系"),
    ("stage", "请选择当时所处的审计阶段"),
    ("response", "请选择您的应对方式"),
    ("actor_name", "请填写对方的姓名"),
    ("description", "请描述对方说了什么、做了什么"),
])
def test_an_unanswered_fact_is_named_in_the_error(client, me, db, field, message):
    response = register(client, **{field: ""})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert count(db, Incident) == 0


def test_a_late_registration_asks_for_the_reason(client, me, db):
    response = register(client, occurred_at="2025-03-10T09:00")
    assert response.status_code == 400
    assert count(db, Incident) == 0
    assert register(client, occurred_at="2025-03-10T09:00",
                    delay_reason="出差在外，返回后补登。").status_code == 302


@pytest.mark.parametrize("name,content", [
    ("report.pdf", b"MZ\x90\x00" + b"\x00" * 200),           # a Windows program named .pdf
    ("notes.txt", "这是纯文本".encode()),
    ("script.png", b"<script>alert(1)</script>"),
    ("empty.pdf", b""),
])
def test_evidence_is_judged_by_its_content(client, me, db, name, content):
    response = register(client, files=[(name, content)])
    assert response.status_code == 400
    assert count(db, Incident) == 0 and count(db, Evidence) == 0


def test_evidence_over_10_mb_is_refused(client, me, db):
    big = PDF + b"0" * (10 * 1024 * 1024)
    response = register(client, files=[("big.pdf", big)])
    assert response.status_code == 400
    assert "10 MB" in response.get_data(as_text=True)
    assert count(db, Incident) == 0


def test_office_documents_are_accepted(client, me, db):
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as docx:
        docx.writestr("[Content_Types].xml", "<Types/>")
        docx.writestr("word/document.xml", "<w:document/>")
    assert register(client, files=[("情况说明.docx", buffer.getvalue())]).status_code == 302
    assert db.session.scalar(sa.select(Evidence)).filename == "情况说明.docx"


def test_html_in_text_is_shown_inert(client, me, db):
    register(client, description='<script>alert("x")</script><b>粗体</b>')
    incident = db.session.scalar(sa.select(Incident))
    page = client.get(f"/filing/incidents/{incident.id}").get_data(as_text=True)
    assert '<script>alert("x")</script>' not in page
    assert "&lt;script&gt;" in page


def test_file_the_month_with_its_incidents(client, me, db):
    register(client)
    register(client, occurred_at="2025-03-25T10:00", category="benefits")
    page = client.get("/filing/reports/2025-03").get_data(as_text=True)
    assert page.count('data-testid="incident-line"') == 2
    assert file_month(client, zero=False).status_code == 302
    report = db.session.scalar(sa.select(MonthlyReport))
    assert not report.current.is_zero
    assert len(report.current.incident_versions) == 2


def test_a_zero_report_is_refused_for_a_month_with_incidents(client, me, db):
    register(client)
    response = file_month(client, zero=True)
    assert response.status_code == 409
    assert "零报告" in response.get_data(as_text=True)
    assert count(db, MonthlyReport) == 0


def test_a_report_with_incidents_is_refused_for_an_empty_month(client, me, db):
    response = file_month(client, zero=False)
    assert response.status_code == 409
    assert count(db, MonthlyReport) == 0


def test_correcting_a_report_adds_a_version_with_its_reason(client, me, db):
    file_month(client)
    register(client, delay_reason="")        # remembered afterwards, same month
    assert "stale" in client.get("/").get_data(as_text=True)
    refused = post_form(
        client, "/filing/reports/2025-03/correct", {"reason": "", "declaration": "y"}
    )
    assert refused.status_code == 400
    response = post_form(client, "/filing/reports/2025-03/correct",
                         {"reason": "补充遗漏的一次来电", "declaration": "y"})
    assert response.status_code == 302
    report = db.session.scalar(sa.select(MonthlyReport))
    assert [v.number for v in report.versions] == [1, 2]
    assert report.versions[0].is_zero and not report.versions[1].is_zero
    assert report.versions[1].reason == "补充遗漏的一次来电"
    page = client.get("/filing/reports/2025-03").get_data(as_text=True)
    assert page.index("补充遗漏的一次来电") > 0
    assert page.count("<li>", page.index('data-testid="report-versions"')) >= 2
    assert not report.late and report.first_filed_at == datetime(2025, 4, 3, 2, tzinfo=UTC)


def test_correcting_an_incident_keeps_every_version(client, me, db):
    register(client)
    incident = db.session.scalar(sa.select(Incident))
    url = f"/filing/incidents/{incident.id}/correct"
    form = client.get(url).get_data(as_text=True)
    assert "李某某" in form                  # pre-filled with the current version
    assert post_form(client, url, incident_form(actor_name="李某")).status_code == 400  # no reason
    response = post_form(client, url, {**incident_form(actor_name="李某"),
                                       "reason": "姓名记错"})
    assert response.status_code == 302
    db.session.expire_all()
    assert [v.actor_name for v in incident.versions] == ["李某某", "李某"]
    assert incident.versions[1].reason == "姓名记错"
    page = client.get(f"/filing/incidents/{incident.id}").get_data(as_text=True)
    assert "姓名记错" in page and page.count("李某某") >= 1


def test_a_correction_can_move_an_incident_to_another_month(client, me, db):
    register(client)
    incident = db.session.scalar(sa.select(Incident))
    post_form(client, f"/filing/incidents/{incident.id}/correct",
              {**incident_form(occurred_at="2025-04-01T09:00"), "reason": "日期记错"})
    db.session.expire_all()
    assert incident.period == "2025-04"


def test_history_shows_every_month_since_joining_with_its_status(client, make_user, db, frozen):
    user = make_user(joined_on=date(2024, 11, 20))
    later(client, user, frozen, 2025, 1, 3, 2)
    file_month(client, "2024-12")
    later(client, user, frozen, 2025, 1, 20, 2)
    file_month(client, "2024-11")               # late
    later(client, user, frozen, 2025, 4, 3, 2)
    register(client)
    page = client.get("/filing/history").get_data(as_text=True)
    rows = dict(re.findall(r'<tr data-period="(\d{4}-\d{2})">.*?data-status="(\w+)"', page,
                           re.S))
    assert rows == {"2025-04": "not_open", "2025-03": "due", "2025-02": "missing",
                    "2025-01": "missing", "2024-12": "on_time", "2024-11": "late"}
    assert "请托说情" in page or "Pleading" in page


def test_status_rules(db, auditor, frozen):
    from app.filing import records
    from app.filing.periods import Period

    rule = records.deadline_rule(auditor.agency)
    march = Period(2025, 3)
    at = frozen.set
    assert records.status_of(None, march, rule, at(2025, 3, 31, 15, 59)) == FilingStatus.NOT_OPEN
    assert records.status_of(None, march, rule, at(2025, 3, 31, 16, 0)) == FilingStatus.DUE
    assert records.status_of(None, march, rule, at(2025, 4, 5, 15, 59)) == FilingStatus.DUE
    assert records.status_of(None, march, rule, at(2025, 4, 5, 16, 0)) == FilingStatus.MISSING


def test_scope_follows_joining_and_leaving(make_user):
    from app.filing import records
    from app.filing.periods import Period

    user = make_user(joined_on=date(2025, 6, 20), left_on=date(2025, 9, 1))
    assert [records.in_scope(user, Period(2025, m)) for m in (5, 6, 9, 10)] == [
        False, True, True, False]


def test_the_agencys_deadline_rule_uses_its_calendar_days(db, agency):
    from app.filing import records
    from app.filing.periods import Period
    from app.models import CalendarDay

    agency.shift_to_workday = True
    db.session.add(CalendarDay(agency_id=agency.id, day=date(2025, 4, 5), is_workday=True))
    db.session.commit()
    assert records.deadline_rule(agency).due_date(Period(2025, 3)) == date(2025, 4, 5)
    db.session.execute(sa.delete(CalendarDay))
    db.session.commit()
    assert records.deadline_rule(agency).due_date(Period(2025, 3)) == date(2025, 4, 7)
