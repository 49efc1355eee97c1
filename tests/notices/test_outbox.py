"""The outbox and its SMTP delivery, against a real SMTP server on loopback."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from app.core.codes import NoticeFailure, NoticeKind, NoticeStatus
from app.core.extensions import db as _db
from app.models import Outbox
from app.notices import delivery, mime, outbox
from app.notices.outbox import Notice
from app.review import workflow
from tests.helpers import smtp as smtp_helpers
from tests.helpers.review import make_incident
from tests.helpers.web import login, post_form


def notice(user, kind=NoticeKind.APPROACHING, seq=0, period="2025-03") -> Notice:
    return Notice(user.id, kind, period, seq, user.email, {"due": "2025-04-07"})


def rows() -> list[Outbox]:
    _db.session.expire_all()
    return list(_db.session.scalars(sa.select(Outbox).order_by(Outbox.id)))


def test_a_notice_arrives_in_chinese_with_proper_headers(db, smtp, auditor, frozen):
    outbox.enqueue([notice(auditor)], frozen())
    db.session.commit()
    assert delivery.deliver().sent == 1
    [message] = smtp.to(auditor.email)
    assert message["To"] == auditor.email
    assert message["From"] == "portal@xq-audit.example"
    assert "2025年3月" in message["Subject"] and "2025-04-07" in message["Subject"]
    assert message["Date"]
    [row] = rows()
    assert message["Message-ID"] == mime.message_id(row)
    assert row.status == NoticeStatus.SENT and row.sent_at == frozen()
    text, html = smtp_helpers.body(message), smtp_helpers.body(message, "html")
    assert "尚未提交" in text and "https://portal.example/filing/reports/2025-03" in text
    assert 'href="https://portal.example/filing/reports/2025-03"' in html
    assert message.get_content_type() == "multipart/alternative"


def test_the_subject_is_encoded_on_the_wire(db, smtp, auditor, frozen):
    outbox.enqueue([notice(auditor)], frozen())
    db.session.commit()
    delivery.deliver()
    [row] = rows()
    raw = mime.render(row, "zh_CN").as_bytes()
    subject = next(line for line in raw.splitlines() if line.startswith(b"Subject:"))
    assert subject.isascii() and b"=?utf-8?" in subject.lower()


def test_english_speakers_get_english(db, smtp, make_user, frozen):
    user = make_user(locale="en")
    outbox.enqueue([notice(user, NoticeKind.OVERDUE, 1)], frozen())
    db.session.commit()
    delivery.deliver()
    [message] = smtp.to(user.email)
    assert message["Subject"] == "The report for March 2025 is overdue"


def test_the_message_id_is_the_same_for_the_same_row(db, auditor, frozen, app):
    outbox.enqueue([notice(auditor)], frozen())
    db.session.commit()
    [row] = rows()
    assert mime.render(row, "zh_CN")["Message-ID"] == mime.render(row, "en")["Message-ID"]
    assert mime.message_id(row).startswith(f"<outbox.{row.id}.")


def test_enqueueing_the_same_notice_twice_keeps_one(db, auditor, frozen):
    assert outbox.enqueue([notice(auditor), notice(auditor)], frozen()) == 1
    assert outbox.enqueue([notice(auditor)], frozen()) == 0
    assert len(rows()) == 1


def test_no_address_means_the_bell_only(db, smtp, make_user, frozen):
    user = make_user(email=None)
    outbox.enqueue([notice(user)], frozen())
    db.session.commit()
    assert delivery.deliver().sent == 0
    assert [r.status for r in rows()] == [NoticeStatus.PORTAL]


def test_smtp_down_retries_with_backoff_and_sends_once_back(db, smtp, auditor, make_user,
                                                            frozen):
    other = make_user()
    smtp.stop()
    outbox.enqueue([notice(auditor), notice(other)], frozen())
    db.session.commit()
    assert delivery.deliver().failed == 2
    first = rows()
    assert {r.status for r in first} == {NoticeStatus.PENDING}
    assert all(r.attempts == 1 and "connect" in r.last_error for r in first)
    assert all(r.next_attempt_at == frozen() + timedelta(seconds=60) for r in first)
    assert delivery.deliver().failed == 0  # nothing due before the back-off has passed
    frozen.advance(seconds=61)
    assert delivery.deliver().failed == 2
    assert all(r.attempts == 2 and r.next_attempt_at == frozen() + timedelta(seconds=120)
               for r in rows())
    smtp.start()
    frozen.advance(seconds=121)
    assert delivery.deliver().sent == 2
    assert delivery.deliver().sent == 0
    frozen.advance(days=1)
    assert delivery.deliver().sent == 0
    assert len(smtp.to(auditor.email)) == len(smtp.to(other.email)) == 1
    assert {r.status for r in rows()} == {NoticeStatus.SENT}


def test_a_refused_address_fails_for_good_and_the_others_go_out(db, smtp, auditor, make_user,
                                                               frozen):
    other = make_user()
    smtp.sink.refused.add(auditor.email)
    outbox.enqueue([notice(auditor), notice(other)], frozen())
    db.session.commit()
    result = delivery.deliver()
    assert (result.sent, result.failed, result.gave_up) == (1, 1, 1)
    refused, sent = rows()
    assert (refused.status, refused.failure, refused.attempts) == (
        NoticeStatus.FAILED,
        NoticeFailure.REFUSED,
        1,
    )
    assert "550" in refused.last_error and sent.status == NoticeStatus.SENT
    frozen.advance(days=1)
    assert delivery.deliver().attempted == 0  # given up: not retried on its own


def test_an_administrator_retries_a_failed_notice_from_the_outbox_page(client, db, smtp,
                                                                       make_user, auditor,
                                                                       frozen):
    smtp.sink.refused.add(auditor.email)
    outbox.enqueue([notice(auditor)], frozen())
    db.session.commit()
    delivery.deliver()
    [row] = rows()
    login(client, make_user(roles={"admin"}))
    page = client.get("/notices/outbox").get_data(as_text=True)
    assert f'data-testid="retry-{row.id}"' in page and "邮件服务器拒收" in page
    assert client.post(f"/notices/outbox/{row.id}/retry").status_code == 400  # no CSRF token
    assert rows()[0].status == NoticeStatus.FAILED
    smtp.sink.refused.clear()  # the mailbox was created meanwhile
    response = post_form(client, f"/notices/outbox/{row.id}/retry", {}, form_url="/notices/outbox",
                         follow_redirects=True)
    assert "将随下一轮重新发送" in response.get_data(as_text=True)
    assert rows()[0].status == NoticeStatus.PENDING
    assert delivery.deliver().sent == 1
    assert len(smtp.to(auditor.email)) == 1
    assert post_form(client, f"/notices/outbox/{row.id}/retry", {}, form_url="/notices/outbox",
                     follow_redirects=True).status_code == 200
    assert rows()[0].status == NoticeStatus.SENT  # a sent notice is not sent again


def test_reminders_retry_sends_again_what_gave_up(runner, smtp, auditor, frozen):
    smtp.sink.refused.add(auditor.email)
    outbox.enqueue([notice(auditor)], frozen())
    _db.session.commit()
    delivery.deliver()
    smtp.sink.refused.clear()
    result = runner.invoke(args=["reminders", "retry"])
    assert result.exit_code == 0 and "1 notice(s) will be sent again" in result.output
    assert "1 sent, 0 failed" in runner.invoke(args=["reminders", "send"]).output
    assert "0 notice(s)" in runner.invoke(args=["reminders", "retry"]).output


def test_review_notices_carry_no_incident_content(db, smtp, auditor, make_user, frozen):
    office = make_user(roles={"reviewer"})
    case = make_incident(auditor, description="机密内容：某领导请求从轻处理")
    the_review = _db.session.scalar(sa.select(workflow.Review).where(
        workflow.Review.incident_id == case))
    step = workflow.act(the_review, office, "return", workflow.Decision(note="请补充时间地点"),
                      frozen())
    outbox.review_notice(step)
    step = workflow.act(the_review, auditor, "supplement", workflow.Decision(note="已补充"),
                      frozen())
    outbox.review_notice(step)  # a supplement notifies nobody
    step = workflow.act(the_review, office, "close",
                      workflow.Decision(affected=False, determination="未影响"), frozen())
    outbox.review_notice(step)
    db.session.commit()
    delivery.deliver()
    messages = smtp.to(auditor.email)
    assert [m["Subject"] for m in messages] == ["您的一项登记被退回补充", "您的一项登记已审核完毕"]
    for message in messages:
        whole = message.as_string() + smtp_helpers.body(message) + smtp_helpers.body(
            message, "html")
        for secret in ("机密内容", "某领导", "从轻", "李某某", "区某局", "副局长", "请补充",
                       "未影响"):
            assert secret not in whole
        assert f"https://portal.example/filing/incidents/{case}" in smtp_helpers.body(message)


def test_the_bell_counts_unread_and_marks_read(client, db, auditor, frozen):
    outbox.enqueue([notice(auditor), notice(auditor, NoticeKind.DUE_TODAY)], frozen())
    db.session.commit()
    login(client, auditor)
    page = client.get("/notices/").get_data(as_text=True)
    assert "2025-03" in page and 'data-testid="notices"' in page
    assert client.get("/notices/").status_code == 200
    post_form(client, "/notices/read", {}, form_url="/notices/")
    assert all(r.read_at == frozen() for r in rows())


def test_the_unread_count_is_in_every_page_context(app, db, auditor, frozen):
    from app.notices.routes import unread_count

    outbox.enqueue([notice(auditor)], frozen())
    db.session.commit()
    with app.test_request_context():
        from flask_login import login_user

        login_user(auditor)
        assert unread_count() == {"unread_notices": 1}


def test_admin_outbox_page_and_test_mail(client, db, smtp, make_user, auditor, frozen):
    admin = make_user(roles={"admin"})
    outbox.enqueue([notice(auditor)], frozen())
    db.session.commit()
    login(client, admin)
    page = client.get("/notices/outbox").get_data(as_text=True)
    assert auditor.staff_no in page and "待发送" in page
    response = post_form(client, "/notices/outbox/test", {"address": "ops@example.org"},
                         form_url="/notices/outbox", follow_redirects=True)
    assert "测试邮件已发送至 ops@example.org" in response.get_data(as_text=True)
    [message] = smtp.to("ops@example.org")
    assert "测试邮件" in message["Subject"]
    bad = post_form(client, "/notices/outbox/test", {"address": "not-an-address"},
                    form_url="/notices/outbox")
    assert bad.status_code == 400
    assert len(smtp.messages) == 1


def test_the_test_mail_sends_itself_and_never_the_backlog(client, db, smtp, make_user, frozen):
    """A web request never delivers the backlog: with 113 waiting, a worker killed at its
    timeout mid-batch once sent 61 of them twice."""
    admin = make_user(roles={"admin"})
    backlog = [make_user() for _ in range(5)]
    outbox.enqueue([notice(user) for user in backlog], frozen())
    db.session.commit()
    login(client, admin)
    response = post_form(client, "/notices/outbox/test", {"address": "ops@example.org"},
                         form_url="/notices/outbox", follow_redirects=True)
    assert "测试邮件已发送至 ops@example.org" in response.get_data(as_text=True)
    assert [m["To"] for m in smtp.messages] == ["ops@example.org"]
    waiting = [r for r in rows() if r.kind != NoticeKind.TEST]
    assert {(r.status, r.attempts, r.lease) for r in waiting} == {(NoticeStatus.PENDING, 0, None)}
    assert len(waiting) == 5


def test_test_mail_failure_is_shown_and_kept_for_retry(client, db, smtp, make_user, frozen):
    admin = make_user(roles={"admin"})
    smtp.stop()
    login(client, admin)
    response = post_form(client, "/notices/outbox/test", {"address": "ops@example.org"},
                         form_url="/notices/outbox", follow_redirects=True)
    assert "connect" in response.get_data(as_text=True)
    [row] = rows()
    assert row.status == NoticeStatus.PENDING and row.attempts == 1


def test_without_a_mail_server_rows_wait_untouched(client, db, app, auditor, make_user,
                                                   frozen, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_HOST", "")
    outbox.enqueue([notice(auditor)], frozen())
    db.session.commit()
    assert delivery.deliver().sent == 0
    login(client, make_user(roles={"admin"}))
    response = post_form(client, "/notices/outbox/test", {"address": "ops@example.org"},
                         form_url="/notices/outbox", follow_redirects=True)
    assert "SMTP_HOST" in response.get_data(as_text=True)
    assert {(r.status, r.attempts) for r in rows()} == {(NoticeStatus.PENDING, 0)}


def test_a_message_goes_on_the_wire_as_send_message_would_put_it(db, auditor, make_user,
                                                                frozen):
    """Delivery splices To and Message-ID into a template flattened once per notice text:
    byte for byte what smtplib's send_message sends for the classic message (boundaries
    aside, drawn at random), and the classic way for an address it would fold or encode."""
    import io
    import re
    from email.generator import BytesGenerator
    from email.utils import getaddresses

    english = make_user(locale="en")
    long_address = "a" * 64 + "@" + "b" * 30 + ".example.org"
    outbox.enqueue([notice(auditor), notice(english, NoticeKind.OVERDUE, 1),
                    notice(auditor, NoticeKind.DUE_TODAY, 2),
                    Notice(auditor.id, NoticeKind.OPEN, "2025-03", 3, long_address, {"due": "x"}),
                    Notice(auditor.id, NoticeKind.OPEN, "2025-03", 4, "名字@example.org", {})],
                   frozen())
    db.session.commit()
    wire = mime.Wire()
    boundary = re.compile(rb"={15}\d+==")
    for row in rows():
        locale = "en" if row.user_id == english.id else "zh_CN"
        mail = wire.mail(row, locale)
        classic = mime.render(row, locale)
        if row.email in (long_address, "名字@example.org"):
            assert isinstance(mail, type(classic)) and mail.as_bytes() != b""
            assert mail["To"] == row.email and mail["Message-ID"] == mime.message_id(row)
            continue
        with io.BytesIO() as out:
            BytesGenerator(out).flatten(classic, linesep="\r\n")
            expected = out.getvalue()
        assert mail.sender == getaddresses([classic["From"]])[0][1]
        assert mail.recipients == [row.email]
        assert boundary.sub(b"B", mail.data) == boundary.sub(b"B", expected)
    assert len(wire._templates) == 3  # one per text (kind, params, locale) sent the fast way


def test_the_outbox_says_plainly_when_no_mail_server_is_set(client, db, app, auditor,
                                                            make_user, frozen, monkeypatch):
    monkeypatch.setitem(app.config, "SMTP_HOST", "")
    outbox.enqueue([notice(auditor)], frozen())
    db.session.commit()
    login(client, make_user(roles={"admin"}))
    page = client.get("/notices/outbox").get_data(as_text=True)
    assert 'data-testid="no-mail-server"' in page
    assert "尚未设置邮件服务器：不会发送任何邮件。" in page and "通知栏" in page
    assert 'class="table-responsive"' in page  # the table scrolls in its own box on a phone
    monkeypatch.setitem(app.config, "SMTP_HOST", "mail.example.org")
    assert 'data-testid="no-mail-server"' not in client.get("/notices/outbox").get_data(
        as_text=True)
