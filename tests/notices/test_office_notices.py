"""The discipline office is told of each new registration and each supplement (exactly once,
without content, or in one digest a day), and reminded weekly of overdue reviews; through the
pages, the outbox, the scheduler's rounds and a real SMTP server."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.core.codes import NoticeKind
from app.core.extensions import db as _db
from app.models import Agency, Incident, Outbox
from app.notices import delivery, reminders
from tests.helpers import smtp as smtp_helpers
from tests.helpers.filing import incident_form, register
from tests.helpers.reminders import local
from tests.helpers.review import FULL, step
from tests.helpers.web import login, post_form

# What the registration says: none of it may be in any e-mail.
CONTENT = ("来电请求对其分管单位的问题从轻处理", "李某某", "区某局", "副局长",
           "当场拒绝并告知将如实登记", "对方原话")
OFFICE_KINDS = (NoticeKind.INCIDENT_ARRIVED, NoticeKind.INCIDENT_SUPPLEMENTED,
                NoticeKind.ARRIVALS_DIGEST, NoticeKind.REVIEWS_OVERDUE)


@pytest.fixture
def members(make_user, frozen):
    return [make_user(name="纪检甲", roles={"reviewer"}),
            make_user(name="纪检乙", roles={"reviewer"})]


def office_rows(kind: str | None = None) -> list[Outbox]:
    _db.session.expire_all()
    query = sa.select(Outbox).where(Outbox.kind.in_(OFFICE_KINDS)).order_by(Outbox.id)
    if kind:
        query = query.where(Outbox.kind == kind)
    return list(_db.session.scalars(query))


def registered(client) -> int:
    response = register(client)
    assert response.status_code == 302, response.status_code
    return _db.session.scalar(sa.select(sa.func.max(Incident.id)))


def assert_no_content(messages) -> None:
    for message in messages:
        text = smtp_helpers.body(message) + smtp_helpers.body(message, "html") + message["Subject"]
        for words in CONTENT:
            assert words not in text


def supplement(app, case: int, member, auditor) -> None:
    desk, registrant = app.test_client(), app.test_client()
    login(desk, member)
    login(registrant, auditor)
    assert step(desk, case, "return", note="请补充对方原话。").status_code == 302
    response = post_form(registrant, f"/filing/incidents/{case}/correct", {
        **incident_form(description="对方原话：“这个问题就别写进报告了。”"),
        "reason": "补充对方原话"})
    assert response.status_code == 302


def test_a_new_registration_is_told_to_each_member_once_without_content(
        app, client, db, smtp, auditor, members, frozen):
    login(client, auditor)
    case = registered(client)
    rows = office_rows()
    assert sorted((r.user_id, r.kind, r.seq) for r in rows) == sorted(
        (m.id, NoticeKind.INCIDENT_ARRIVED, case) for m in members)
    assert all(r.user_id != auditor.id for r in rows)
    reminders.run(frozen())
    reminders.run(frozen())  # a second round (or scheduler) sends nothing again
    for member in members:
        [message] = smtp.to(member.email)
        assert f"#{case}" in message["Subject"] and "机关纪委" in smtp_helpers.body(message)
        assert f"https://portal.example/review/incidents/{case}" in smtp_helpers.body(message)
    assert all(f"#{case}" not in m["Subject"] for m in smtp.to(auditor.email))
    assert_no_content([m for _r, m in smtp.sink.received])
    assert len(office_rows()) == 2


def test_a_supplement_is_told_once_per_version(app, db, smtp, auditor, members, frozen):
    client = app.test_client()
    login(client, auditor)
    case = registered(client)
    supplement(app, case, members[0], auditor)
    rows = office_rows(NoticeKind.INCIDENT_SUPPLEMENTED)
    assert sorted(r.user_id for r in rows) == sorted(m.id for m in members)
    assert len({r.seq for r in rows}) == 1
    delivery.deliver(frozen())
    delivery.deliver(frozen())
    messages = [m for member in members for m in smtp.to(member.email)]
    assert len(messages) == 4  # per member: the registration and its supplement
    supplemented = [m for m in messages if "补充" in m["Subject"]]
    assert len(supplemented) == 2 and all(f"#{case}" in m["Subject"] for m in supplemented)
    assert_no_content(messages)


def test_a_member_who_registers_is_not_told_of_their_own_registration(
        app, client, db, members, frozen):
    own = members[0]
    own.roles = {"reviewer", "auditor"}
    db.session.commit()
    login(client, own)
    registered(client)
    assert [r.user_id for r in office_rows()] == [members[1].id]


def test_the_daily_digest_instead_of_one_mail_each(app, db, smtp, auditor, members, frozen):
    agency = db.session.get(Agency, auditor.agency_id)
    agency.review_digest = True
    db.session.commit()
    client = app.test_client()
    login(client, auditor)
    first = registered(client)
    registered(client)
    supplement(app, first, members[0], auditor)
    assert office_rows() == []  # nothing one by one
    reminders.run(local(2025, 4, 4, 8))  # before the reminder hour of the next day
    assert office_rows() == []
    reminders.run(local(2025, 4, 4, 9))
    reminders.run(local(2025, 4, 4, 15))
    reminders.run(local(2025, 4, 5, 9))  # the 4th brought nothing: no digest for it
    rows = office_rows()
    assert sorted(r.user_id for r in rows) == sorted(m.id for m in members)
    assert {(r.kind, r.period, r.seq) for r in rows} == {
        (NoticeKind.ARRIVALS_DIGEST, "2025-04", 20250403)}
    messages = [m for member in members for m in smtp.to(member.email)]
    assert len(messages) == 2
    text = smtp_helpers.body(messages[0])
    assert "2025-04-03" in messages[0]["Subject"]
    assert "2 项新登记" in text and "1 项登记" in text
    assert_no_content(messages)


def test_a_digest_missed_by_a_stopped_scheduler_is_sent_when_it_comes_back(
        app, db, smtp, auditor, members, frozen):
    db.session.get(Agency, auditor.agency_id).review_digest = True
    db.session.commit()
    client = app.test_client()
    login(client, auditor)
    registered(client)
    reminders.run(local(2025, 4, 8, 10))  # five days later
    assert len(office_rows(NoticeKind.ARRIVALS_DIGEST)) == 2


def test_overdue_reviews_are_reminded_weekly(app, db, smtp, auditor, members, frozen):
    client = app.test_client()
    login(client, auditor)
    case = registered(client)  # Thursday 2025-04-03; due by Friday 18 April
    reminders.run(local(2025, 4, 18, 10))
    assert office_rows(NoticeKind.REVIEWS_OVERDUE) == []
    reminders.run(local(2025, 4, 21, 10))  # Monday: overdue
    reminders.run(local(2025, 4, 23, 10))  # the same week: nothing again
    rows = office_rows(NoticeKind.REVIEWS_OVERDUE)
    assert sorted(r.user_id for r in rows) == sorted(m.id for m in members)
    assert {r.seq for r in rows} == {20250421}
    overdue = [m for _r, m in smtp.sink.received if "逾期" in m["Subject"]]
    assert len(overdue) == 2 and "https://portal.example/review/?waiting=overdue" in \
        smtp_helpers.body(overdue[0])
    assert_no_content(overdue)
    reminders.run(local(2025, 4, 28, 10))  # next Monday, still overdue
    assert {r.seq for r in office_rows(NoticeKind.REVIEWS_OVERDUE)} == {20250421, 20250428}
    frozen.value = local(2025, 4, 29, 10)
    desk = app.test_client()
    login(desk, members[0])
    step(desk, case, "close", **FULL)
    reminders.run(local(2025, 5, 5, 10))  # nothing overdue left: no reminder
    assert {r.seq for r in office_rows(NoticeKind.REVIEWS_OVERDUE)} == {20250421, 20250428}


def test_the_admin_sets_the_deadline_and_the_digest(app, db, make_user, frozen):
    admin = make_user(roles={"admin"})
    client = app.test_client()
    login(client, admin)
    form = {"name": "西青区审计局", "timezone": "Asia/Shanghai", "deadline_day": "5",
            "review_due_days": "5", "review_digest": "y"}
    assert post_form(client, "/admin/settings", form).status_code == 302
    agency = db.session.get(Agency, admin.agency_id)
    db.session.refresh(agency)
    assert agency.review_due_days == 5 and agency.review_digest
    page = client.get("/admin/settings").get_data(as_text=True)
    assert 'name="review_due_days"' in page and 'name="review_digest"' in page
    for bad in ("0", "61", "x"):
        response = post_form(client, "/admin/settings", {**form, "review_due_days": bad})
        assert response.status_code == 400
    assert post_form(client, "/admin/settings", {**form, "review_due_days": "",
                                                 "review_digest": ""}).status_code == 302
    db.session.refresh(agency)
    assert agency.review_due_days == 10 and not agency.review_digest
