"""The discipline office's review workflow, queue, referral sheet and exports."""

import csv
import io
from datetime import UTC, datetime

import openpyxl
import pytest
import sqlalchemy as sa

from app.models import AuditLog, Incident, Review
from app.review import workflow
from tests.helpers.review import FULL, NOW, make_incident, step
from tests.helpers.web import login, post_form


@pytest.fixture
def office(make_user, frozen):
    return make_user(name="纪检员", roles={"reviewer"})


@pytest.fixture
def case(auditor, frozen):
    return make_incident(auditor)


ALLOWED = {
    ("new", "start"): "in_review", ("new", "return"): "returned", ("new", "close"): "closed",
    ("new", "refer"): "referred", ("new", "reclassify"): "new", ("new", "comment"): "new",
    ("in_review", "return"): "returned", ("in_review", "close"): "closed",
    ("in_review", "refer"): "referred", ("in_review", "reclassify"): "in_review",
    ("in_review", "comment"): "in_review",
    ("returned", "reclassify"): "returned", ("returned", "comment"): "returned",
    ("closed", "comment"): "closed", ("referred", "comment"): "referred",
}


ACTIONS = ["start", "return", "close", "refer", "reclassify", "comment", "supplement"]


@pytest.mark.parametrize("start", ["new", "in_review", "returned", "closed", "referred"])
@pytest.mark.parametrize("action", ACTIONS)
def test_every_transition(client, db, office, case, start, action):
    db.session.execute(sa.update(Review).values(status=start))
    db.session.commit()
    login(client, office)
    response = step(client, case, action, **FULL)
    db.session.expire_all()
    now = db.session.scalar(sa.select(Review.status))
    logged = db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
        AuditLog.action == f"review.{action}"))
    if (start, action) in ALLOWED:
        assert response.status_code == 302
        assert now == ALLOWED[start, action]
        assert logged == 1
    else:
        assert response.status_code in (400, 409)
        assert now == start
        assert logged == 0


def test_closing_needs_the_determination_and_its_reasoning(client, db, office, case):
    login(client, office)
    assert step(client, case, "close").status_code == 409
    assert step(client, case, "close", affected="no").status_code == 409
    assert step(client, case, "close", determination="理由").status_code == 409
    response = step(client, case, "close", affected="yes", determination="审计人员接受宴请。")
    assert response.status_code == 302
    db.session.expire_all()
    case_review = db.session.scalar(sa.select(Review))
    assert case_review.status == "closed" and case_review.affected_independence is True
    assert step(client, case, "close", affected="no", determination="再次").status_code == 409


def test_refer_records_to_whom_and_why_and_gives_a_sheet(client, db, office, case):
    login(client, office)
    assert client.get(f"/review/incidents/{case}/referral").status_code == 404
    assert step(client, case, "refer", affected="no", determination="未受影响").status_code == 409
    assert step(client, case, "refer", **FULL).status_code == 302
    sheet = client.get(f"/review/incidents/{case}/referral")
    body = sheet.get_data(as_text=True)
    assert sheet.status_code == 200
    assert "区纪委监委" in body and "涉嫌违规干预审计。" in body and "来电请求从轻处理。" in body


def test_return_supplement_and_back_to_the_queue(app, db, office, auditor, case):
    desk, registrant = app.test_client(), app.test_client()
    login(desk, office)
    login(registrant, auditor)
    step(desk, case, "comment", note="内部意见：需核实。")
    step(desk, case, "return", note="请补充对方原话。")
    assert 'data-testid="returned"' in registrant.get("/").get_data(as_text=True)
    page = registrant.get(f"/filing/incidents/{case}").get_data(as_text=True)
    assert "请补充对方原话。" in page
    assert "内部意见" not in page                      # internal comments stay internal
    from tests.helpers.filing import incident_form

    response = post_form(registrant, f"/filing/incidents/{case}/correct", {
        **incident_form(description="对方原话：“这个问题就别写进报告了。”"),
        "reason": "补充对方原话"})
    assert response.status_code == 302
    db.session.expire_all()
    case_review = db.session.scalar(sa.select(Review))
    assert case_review.status == "in_review"
    assert [a.action for a in case_review.actions] == ["comment", "return", "supplement"]
    assert "对方原话" in desk.get(f"/review/incidents/{case}").get_data(as_text=True)
    # The queue lists the case once, as its latest version says.
    rows = desk.get("/review/export.csv").get_data(as_text=True).splitlines()[1:]
    assert len(rows) == 1 and "对方原话" in rows[0]


def test_a_comment_addressed_to_the_registrant_is_shown_to_them(app, db, office, auditor, case):
    desk, registrant = app.test_client(), app.test_client()
    login(desk, office)
    login(registrant, auditor)
    step(desk, case, "comment", note="已收到，谢谢。", for_registrant="y")
    assert "已收到，谢谢。" in registrant.get(f"/filing/incidents/{case}").get_data(as_text=True)


def test_reclassification_changes_the_kind_counted(client, db, office, case):
    login(client, office)
    step(client, case, "reclassify", category="duty_inquiry", note="属履职过问")
    db.session.expire_all()
    case_review = db.session.scalar(sa.select(Review))
    assert (case_review.kind, case_review.category) == ("duty_inquiry", "duty_inquiry")
    incident = db.session.get(Incident, case)
    assert workflow.effective_category(incident) == "duty_inquiry"
    assert incident.current.category == "plead"        # the registration itself is untouched


def test_reading_a_case_is_logged(client, db, office, case):
    login(client, office)
    client.get(f"/review/incidents/{case}")
    db.session.expire_all()
    assert db.session.scalar(sa.select(AuditLog.actor_id).where(
        AuditLog.action == "incident.read")) == office.id


@pytest.fixture
def queue_data(agency, make_user, frozen, project):
    from tests.helpers.factories import DepartmentFactory, UserFactory

    finance = DepartmentFactory(agency=agency, name="财政审计科")
    a = make_user(name="甲", department=finance)
    b = make_user(name="乙")
    ids = {
        "a1": make_incident(a, category="benefits", channel="message", actor_name="王五",
                            project_id=project.id, description="微信邀请宴请"),
        "a2": make_incident(a, when=datetime(2025, 2, 10, 2, tzinfo=UTC), actor_name="赵六",
                            actor_org="某公司", description="请托说情", delay_reason="出差"),
        "b1": make_incident(b, category="duty_inquiry", actor_relation="colleague",
                            actor_name="钱七", description="询问进度"),
    }
    UserFactory()  # another agency's incident never shows
    make_incident(UserFactory(), actor_name="王五")
    return {"finance": finance.id, "project": project.id, **ids}


def listed(client, **query) -> set[int]:
    from urllib.parse import urlencode

    body = client.get("/review/?" + urlencode(query)).get_data(as_text=True)
    import re

    return {int(n) for n in re.findall(r'<tr data-incident="(\d+)"', body)}


def test_queue_filters(client, db, office, queue_data):
    d = queue_data
    login(client, office)
    everything = {d["a1"], d["a2"], d["b1"]}
    assert listed(client) == everything
    assert listed(client, period="2025-02") == {d["a2"]}
    assert listed(client, kind="duty_inquiry") == {d["b1"]}
    assert listed(client, category="benefits") == {d["a1"]}
    assert listed(client, channel="message") == {d["a1"]}
    assert listed(client, department=d["finance"]) == {d["a1"], d["a2"]}
    assert listed(client, project=d["project"]) == {d["a1"]}
    assert listed(client, actor="王五") == {d["a1"]}
    assert listed(client, q="宴请") == {d["a1"]}
    assert listed(client, q="某公司") == {d["a2"]}
    assert listed(client, q="100%") == set()
    step(client, d["b1"], "start")
    assert listed(client, status="in_review") == {d["b1"]}
    assert listed(client, status="new") == {d["a1"], d["a2"]}
    counts = client.get("/review/").get_data(as_text=True)
    assert 'data-status="new"' in counts


def test_queue_export_matches_the_filtered_queue(client, db, office, queue_data):
    login(client, office)
    response = client.get(f"/review/export.csv?department={queue_data['finance']}")
    assert response.status_code == 200
    assert response.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert sorted(int(r[0]) for r in rows[1:]) == sorted([queue_data["a1"], queue_data["a2"]])
    assert any("微信邀请宴请" in cell for r in rows for cell in r)
    xlsx = client.get("/review/export.xlsx?q=宴请")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.data)).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert len(values) == 2 and values[1][0] == queue_data["a1"]


def test_bad_queue_filters_answer_400(client, office):
    login(client, office)
    assert client.get("/review/?status=bogus").status_code == 400
    assert client.get("/review/?department=abc").status_code == 400


def test_queue_query_count_does_not_grow(app, client, db, office, auditor):
    from app.models import IncidentVersion
    from app.models import Review as R

    def add(n):
        for _ in range(n):
            incident = Incident(agency_id=auditor.agency_id, user_id=auditor.id,
                                period="2025-03", registered_at=NOW)
            incident.versions.append(IncidentVersion(
                number=1, occurred_at=NOW, kind="interfering", category="plead",
                channel="phone", actor_name="某", actor_org="某", actor_relation="other",
                stage="fieldwork", description="x", response="refused", created_at=NOW))
            incident.review = R(status="new", updated_at=NOW)
            db.session.add(incident)
        db.session.commit()

    login(client, office)

    def statements():
        seen = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        sa.event.listen(db.engine, "before_cursor_execute", listener)
        try:
            assert client.get("/review/").status_code == 200
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", listener)
        return len(seen)

    add(10)
    few = statements()
    add(990)
    assert statements() == few
