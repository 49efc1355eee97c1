"""Notices to messaging channels, against real HTTP receivers on loopback.

Each receiver checks what the channel's documentation says a message is: WeCom's group robot
(a JSON markdown message), DingTalk's custom robot (signed with timestamp and sign in the query)
and the OA webhook documented in the README (X-Portal-Timestamp, X-Portal-Signature).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from app.admin import agencysettings
from app.core.codes import Channel, NoticeFailure, NoticeKind, NoticeStatus
from app.core.extensions import db as _db
from app.models import ChannelSettings, Outbox
from app.notices import channels, delivery, outbox, reminders
from tests.helpers.reminders import local
from tests.helpers.review import make_incident
from tests.helpers.web import csrf_token

CANARY = "CANARY-7f3a 请从轻处理 the secret words"
DING_SECRET = "SECdingtalk-test-secret"
OA_SECRET = "oa-shared-secret"


class Receiver:
    """An HTTP server on loopback that records every POST and answers what it is told to (a
    list of (status, body), the last one repeated); it can go down and come back on its port."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.answers: list[tuple[int, bytes]] = [(200, b'{"errcode":0,"errmsg":"ok"}')]
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self.start()

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                parts = urllib.parse.urlsplit(self.path)
                receiver.received.append({
                    "path": parts.path, "query": urllib.parse.parse_qs(parts.query),
                    "headers": dict(self.headers), "body": body})
                status, answer = (receiver.answers.pop(0) if len(receiver.answers) > 1
                                  else receiver.answers[0])
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def json(self) -> list[dict]:
        return [json.loads(item["body"]) for item in self.received]


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.stop()


def configure(agency, receiver, *which: str) -> None:
    for channel in which or channels.CHANNELS:
        secret = {Channel.DINGTALK: DING_SECRET, Channel.WEBHOOK: OA_SECRET}.get(channel, "")
        path = {Channel.WECOM: "/cgi-bin/webhook/send?key=robot-key",
                Channel.DINGTALK: "/robot/send?access_token=ding-token"}.get(channel, "/oa")
        agencysettings.update_channel(agency, channel, receiver.url(path), secret, True, False)
    _db.session.commit()


def rows(channel: str | None = None) -> list[Outbox]:
    query = sa.select(Outbox).order_by(Outbox.id)
    if channel:
        query = query.where(Outbox.channel == channel)
    return list(_db.session.scalars(query))


def deadline_day(frozen):
    frozen.value = local(2025, 4, 5, 9, 1)
    return frozen()


def test_wecom_gets_the_documented_markdown_message(db, agency, make_user, frozen, receiver):
    user = make_user(name="王芳")
    configure(agency, receiver, Channel.WECOM)
    reminders.run(deadline_day(frozen))
    [sent] = receiver.received
    assert sent["path"] == "/cgi-bin/webhook/send" and sent["query"] == {"key": ["robot-key"]}
    assert sent["headers"]["Content-Type"].startswith("application/json")
    body = json.loads(sent["body"])
    assert set(body) == {"msgtype", "markdown"} and body["msgtype"] == "markdown"
    content = body["markdown"]["content"]
    assert "王芳" in content and "今日截止" in content and "/filing/" in content
    assert user.email not in content and user.staff_no not in content
    [row] = rows(Channel.WECOM)
    assert row.key == f"{user.id}:2025-03:{NoticeKind.DUE_TODAY}:0:wecom"
    assert row.status == NoticeStatus.SENT
    # The bell shows the notice once, not once per channel.
    assert len(rows()) == 2 and rows(Channel.EMAIL)[0].key == row.key.removesuffix(":wecom")


def test_dingtalk_requests_are_signed_as_documented(db, agency, make_user, frozen, receiver):
    make_user(name="李强")
    configure(agency, receiver, Channel.DINGTALK)
    reminders.run(deadline_day(frozen))
    [sent] = receiver.received
    assert sent["query"]["access_token"] == ["ding-token"]
    [stamp], [sign] = sent["query"]["timestamp"], sent["query"]["sign"]
    assert abs(int(stamp) - time.time() * 1000) < 60_000  # milliseconds, DingTalk's clock
    expected = base64.b64encode(hmac.new(DING_SECRET.encode(), f"{stamp}\n{DING_SECRET}".encode(),
                                         hashlib.sha256).digest()).decode()
    assert sign == expected  # parse_qs undid the URL encoding
    body = json.loads(sent["body"])
    assert body["msgtype"] == "markdown"
    assert set(body["markdown"]) == {"title", "text"} and "李强" in body["markdown"]["text"]


def test_the_oa_webhook_is_signed_over_timestamp_and_body(db, agency, make_user, frozen,
                                                          receiver):
    user = make_user(name="赵敏", staff_no="XQ077")
    configure(agency, receiver, Channel.WEBHOOK)
    reminders.run(deadline_day(frozen))
    [sent] = receiver.received
    stamp, signature = sent["headers"]["X-Portal-Timestamp"], sent["headers"]["X-Portal-Signature"]
    assert abs(int(stamp) - time.time()) < 60
    expected = hmac.new(OA_SECRET.encode(), stamp.encode() + b"." + sent["body"],
                        hashlib.sha256).hexdigest()
    assert signature == f"sha256={expected}"
    body = json.loads(sent["body"])
    assert body["id"] == f"{user.id}:2025-03:{NoticeKind.DUE_TODAY}:0:webhook"
    assert sent["headers"]["X-Portal-Delivery"] == body["id"]
    assert body["kind"] == "deadline_day" and body["period"] == "2025-03"
    assert body["recipient"] == {"staff_no": "XQ077", "name": "赵敏"}
    assert body["link"].startswith("http") and "2025-03" in body["link"]
    assert set(body) == {"id", "kind", "period", "title", "link", "recipient", "created_at"}


def test_no_channel_message_carries_incident_content(db, agency, make_user, frozen, receiver):
    registrant = make_user(name="孙丽")
    office = make_user(name="周纪检", roles={"reviewer"})
    configure(agency, receiver)
    make_incident(registrant, description=CANARY, actor_name=CANARY, response="refused")
    reminders.run(deadline_day(frozen))
    bodies = [item["body"].decode() + json.dumps(item["query"]) for item in receiver.received]
    assert bodies and not [body for body in bodies if "CANARY" in body or "从轻" in body]
    # The office's notice of the registration goes to the OA (to the person), never to a group.
    kinds = {(row.channel, row.kind) for row in rows() if row.user_id == office.id}
    assert (Channel.WEBHOOK, NoticeKind.INCIDENT_ARRIVED) in kinds
    assert (Channel.WECOM, NoticeKind.INCIDENT_ARRIVED) not in kinds
    assert (Channel.DINGTALK, NoticeKind.INCIDENT_ARRIVED) not in kinds


def test_a_channel_down_then_back_gets_each_message_once(db, agency, make_user, frozen,
                                                         receiver):
    people = [make_user() for _ in range(3)]
    configure(agency, receiver, Channel.WEBHOOK)
    receiver.stop()
    deadline_day(frozen)
    for _minute in range(0, 60, 5):
        reminders.run(frozen())
        frozen.advance(minutes=5)
    waiting = rows(Channel.WEBHOOK)
    assert {(row.status, row.failure) for row in waiting} == {
        (NoticeStatus.PENDING, NoticeFailure.CHANNEL_DOWN)}
    assert all(row.attempts > 1 for row in waiting)
    receiver.start()
    for _minute in range(0, 35, 5):
        reminders.run(frozen())
        frozen.advance(minutes=5)
    ids = [body["id"] for body in receiver.json()]
    assert sorted(ids) == sorted(f"{p.id}:2025-03:deadline_day:0:webhook" for p in people)
    assert {row.status for row in rows(Channel.WEBHOOK)} == {NoticeStatus.SENT}


def test_5xx_is_retried_and_4xx_gives_up_with_the_reason(db, agency, make_user, frozen,
                                                         receiver, logged_in):
    make_user()
    configure(agency, receiver, Channel.WEBHOOK)
    receiver.answers = [(503, b"busy"), (200, b"{}")]
    reminders.run(deadline_day(frozen))
    [row] = rows(Channel.WEBHOOK)
    assert (row.status, row.failure, row.attempts) == (
        NoticeStatus.PENDING, NoticeFailure.CHANNEL_DOWN, 1)
    assert "HTTP 503" in row.last_error
    frozen.advance(minutes=2)
    reminders.run(frozen())
    _db.session.refresh(row)
    assert row.status == NoticeStatus.SENT and len(receiver.received) == 2

    receiver.answers = [(404, b"no such hook")]
    outbox.enqueue([outbox.Notice(row.user_id, NoticeKind.OVERDUE, "2025-03", 1, None, {})],
                   frozen())
    _db.session.commit()
    channels.deliver(frozen())
    [refused] = [r for r in rows(Channel.WEBHOOK) if r.kind == NoticeKind.OVERDUE]
    assert (refused.status, refused.failure) == (NoticeStatus.FAILED,
                                                 NoticeFailure.CHANNEL_REFUSED)
    assert "HTTP 404: no such hook" in refused.last_error
    frozen.advance(hours=2)
    channels.deliver(frozen())
    assert len(receiver.received) == 3  # given up: not sent again
    page = logged_in(make_user(roles={"admin"})).get("/notices/outbox").get_data(as_text=True)
    assert "HTTP 404: no such hook" in page and 'data-testid="channel"' in page


def test_a_robot_error_code_is_refused_or_retried_as_it_means(db, agency, make_user, frozen,
                                                              receiver):
    make_user()
    configure(agency, receiver, Channel.WECOM)
    receiver.answers = [(200, b'{"errcode":45009,"errmsg":"api freq out of limit"}'),
                        (200, b'{"errcode":93000,"errmsg":"invalid webhook url"}')]
    reminders.run(deadline_day(frozen))
    [row] = rows(Channel.WECOM)
    assert (row.status, row.failure) == (NoticeStatus.PENDING, NoticeFailure.CHANNEL_DOWN)
    frozen.advance(minutes=2)
    reminders.run(frozen())
    _db.session.refresh(row)
    assert (row.status, row.failure) == (NoticeStatus.FAILED, NoticeFailure.CHANNEL_REFUSED)
    assert "93000" in row.last_error


def test_settings_store_secrets_encrypted_and_never_show_them(db, agency, make_user, receiver,
                                                              logged_in):
    client = logged_in(make_user(roles={"admin"}))
    token = csrf_token(client, "/admin/settings")
    url = receiver.url("/robot/send?access_token=very-secret-token")
    response = client.post("/admin/settings/channels/dingtalk", data={
        "dingtalk-csrf_token": token, "csrf_token": token, "dingtalk-url": url,
        "dingtalk-secret": DING_SECRET, "dingtalk-enabled": "y"})
    assert response.status_code == 302, response.get_data(as_text=True)
    [stored] = _db.session.scalars(sa.select(ChannelSettings)).all()
    assert stored.enabled and "very-secret-token" not in stored.url
    assert DING_SECRET not in stored.secret
    page = client.get("/admin/settings").get_data(as_text=True)
    assert "very-secret-token" not in page and DING_SECRET not in page
    assert f"127.0.0.1:{receiver.port}" in page
    # Switching on without a secret is refused.
    response = client.post("/admin/settings/channels/webhook", data={
        "webhook-csrf_token": token, "webhook-url": receiver.url("/oa"),
        "webhook-enabled": "y"})
    assert response.status_code == 400


def test_the_test_button_sends_that_message_only(db, agency, make_user, frozen, receiver,
                                                 logged_in):
    admin = make_user(roles={"admin"})
    configure(agency, receiver, Channel.WECOM)
    outbox.enqueue([outbox.Notice(admin.id, NoticeKind.OPEN, "2025-03", 0, None, {"due": "x"})],
                   frozen())
    _db.session.commit()
    assert len(rows(Channel.WECOM)) == 1  # the backlog
    client = logged_in(admin)
    token = csrf_token(client, "/admin/settings")
    response = client.post("/admin/settings/channels/wecom/test",
                           data={"test-wecom-csrf_token": token})
    assert response.status_code == 302
    [sent] = receiver.json()
    assert "测试" in sent["markdown"]["content"] or "Test" in sent["markdown"]["content"]
    backlog = [row for row in rows(Channel.WECOM) if row.kind == NoticeKind.OPEN]
    assert backlog[0].status == NoticeStatus.PENDING


def test_email_delivery_leaves_channel_rows_to_their_sender(db, agency, make_user, frozen, smtp,
                                                            receiver):
    make_user()
    configure(agency, receiver, Channel.WEBHOOK)
    outbox.enqueue(reminders.plan(deadline_day(frozen)), frozen())
    _db.session.commit()
    result = delivery.deliver(frozen())
    assert result.sent == 1 and not receiver.received
    assert rows(Channel.WEBHOOK)[0].status == NoticeStatus.PENDING
