"""Reminder rules (who gets which notice when), the CLI, catch-up and exactly-once delivery."""

from __future__ import annotations

import threading
from datetime import date, datetime

import sqlalchemy as sa

from app.core.codes import NoticeFailure, NoticeKind, NoticeStatus
from app.core.extensions import db as _db
from app.filing import records
from app.filing.periods import Period
from app.models import DigestPart, Outbox
from app.notices import delivery, outbox, reminders
from tests.helpers import factories
from tests.helpers import smtp as smtp_helpers
from tests.helpers.reminders import local

MARCH = Period(2025, 3)


def keys() -> list[tuple[str, str, str, int]]:
    _db.session.expire_all()
    return [(row.user.staff_no, row.period, row.kind, row.seq) for row in _db.session.scalars(
        sa.select(Outbox).order_by(Outbox.id))]


def file(user, period: Period, moment: datetime) -> None:
    records.file_report(user, period, zero=True, now=moment)
    _db.session.commit()


def test_the_stages_follow_the_deadline_rule(app, agency):
    rule = records.deadline_rule(agency)
    with app.app_context():
        stages = reminders.auditor_stages(rule, MARCH)
        digests = reminders.digest_stages(rule, MARCH)
    assert [(s.kind, s.seq, s.starts) for s in stages] == [
        (NoticeKind.OPEN, 0, local(2025, 4, 1, 9)),
        (NoticeKind.APPROACHING, 0, local(2025, 4, 2, 9)),
        (NoticeKind.DUE_TODAY, 0, local(2025, 4, 5, 9)),
        (NoticeKind.OVERDUE, 1, local(2025, 4, 6, 9)),
        (NoticeKind.OVERDUE, 2, local(2025, 4, 9, 9)),
        (NoticeKind.OVERDUE, 3, local(2025, 4, 12, 9)),
    ]
    assert stages[-1].ends == local(2025, 4, 15, 9)
    assert [(s.seq, s.starts) for s in digests] == [
        (1, local(2025, 4, 6, 9)), (2, local(2025, 4, 13, 9)), (3, local(2025, 4, 20, 9)),
        (4, local(2025, 4, 27, 9))]


def test_a_deadline_moved_to_a_working_day_moves_the_reminders(app, db):
    agency = factories.AgencyFactory(shift_to_workday=True)  # 2025-10-05 is in the holiday
    stages = reminders.auditor_stages(records.deadline_rule(agency), Period(2025, 9))
    due = next(s for s in stages if s.kind == NoticeKind.DUE_TODAY)
    assert due.starts == local(2025, 10, 9, 9)


def test_only_those_who_must_and_have_not_filed_get_reminders(db, agency, make_user, frozen):
    missing = make_user(staff_no="A1")
    filed = make_user(staff_no="A2")
    make_user(staff_no="A3", active=False)
    make_user(staff_no="A4", joined_on=date(2025, 4, 1))  # not in post in March
    make_user(staff_no="A5", left_on=date(2025, 2, 20))  # gone before March
    make_user(staff_no="A6", left_on=date(2025, 3, 20))  # in scope for March, but gone now
    make_user(staff_no="L1", roles={"leader"})  # files nothing
    file(filed, MARCH, local(2025, 4, 1, 10))
    notices = reminders.plan(local(2025, 4, 2, 9))
    assert [(n.user_id, n.kind, n.period) for n in notices] == [
        (missing.id, NoticeKind.APPROACHING, "2025-03")]
    assert reminders.plan(local(2025, 4, 2, 8, 59)) == [
        outbox.Notice(
            missing.id, NoticeKind.OPEN, "2025-03", 0, missing.email, {"due": "2025-04-05"}
        )
    ]


def test_the_digest_lists_the_non_filers_per_department(db, agency, make_user, frozen):
    audit1 = factories.DepartmentFactory(agency=agency, name="审计一科")
    audit2 = factories.DepartmentFactory(agency=agency, name="审计二科")
    office = make_user(roles={"reviewer"}, email="jw@example.org")
    make_user(name="甲", department=audit1)
    make_user(name="乙", department=audit2)
    make_user(name="丙", department=audit1)
    file(make_user(name="丁", department=audit1), MARCH, local(2025, 4, 3, 10))
    digests = [n for n in reminders.plan(local(2025, 4, 6, 9)) if n.kind == NoticeKind.DIGEST]
    assert [(n.user_id, n.seq) for n in digests] == [(office.id, 1)]
    # Per department, by staff number within it.
    assert digests[0].params["missing"] == [["审计一科", ["甲", "丙"]], ["审计二科", ["乙"]]]


def test_digest_mail_text(db, smtp, agency, make_user, frozen):
    office = make_user(roles={"reviewer"}, email="jw@example.org")
    make_user(name="甲")
    frozen.value = local(2025, 4, 6, 9)
    reminders.run(frozen())
    [message] = smtp.to(office.email)
    assert message["Subject"] == "2025年3月报告未报：1 人"
    assert "未分配科室 未报：甲" in smtp_helpers.body(message)


def test_dry_run_prints_who_would_get_what_and_changes_nothing(runner, agency, make_user,
                                                                frozen):
    user = make_user(staff_no="XQ010")
    result = runner.invoke(args=["reminders", "run", "--dry-run", "--at", "2025-04-02 09:00"])
    assert result.exit_code == 0, result.output
    assert f"XQ010\t2025-03\tapproaching\t0\t{user.email}" in result.output
    assert "1 notice(s) due" in result.output
    assert keys() == []
    bad = runner.invoke(args=["reminders", "run", "--dry-run", "--at", "tomorrow"])
    assert bad.exit_code != 0 and "YYYY-MM-DD HH:MM" in bad.output


def test_run_enqueues_and_sends_once(runner, smtp, agency, make_user, frozen):
    user = make_user(staff_no="XQ010")
    result = runner.invoke(args=["reminders", "run", "--at", "2025-04-05 09:30"])
    assert "1 due, 1 new, 1 sent, 0 failed" in result.output, result.output
    again = runner.invoke(args=["reminders", "run", "--at", "2025-04-05 18:00"])
    assert "1 due, 0 new, 0 sent" in again.output
    assert keys() == [("XQ010", "2025-03", NoticeKind.DUE_TODAY, 0)]
    [message] = smtp.to(user.email)
    assert "今日截止" in message["Subject"]


def test_send_command_retries_pending(runner, smtp, agency, make_user, frozen):
    make_user()
    smtp.stop()
    runner.invoke(args=["reminders", "run", "--at", "2025-04-05 09:30"])
    smtp.start()
    frozen.value = local(2025, 4, 5, 10)
    result = runner.invoke(args=["reminders", "send"])
    assert "1 sent, 0 failed" in result.output


def test_catch_up_sends_what_is_due_once_and_skips_who_filed(db, smtp, agency, make_user,
                                                             frozen):
    late, diligent = make_user(staff_no="A1"), make_user(staff_no="A2")
    frozen.value = local(2025, 4, 1, 9, 5)
    reminders.run(frozen())  # the scheduler's last round before it went down
    file(diligent, MARCH, local(2025, 4, 4, 10))
    frozen.value = local(2025, 4, 7, 11)  # back up after the deadline, past two stages
    reminders.run(frozen())
    reminders.run(frozen())
    assert keys() == [("A1", "2025-03", NoticeKind.OPEN, 0), ("A2", "2025-03", NoticeKind.OPEN, 0),
                      ("A1", "2025-03", NoticeKind.OVERDUE, 1)]
    assert [len(smtp.to(u.email)) for u in (late, diligent)] == [2, 1]


def _race(app, now: datetime, runs: int = 2) -> list[BaseException]:
    barrier, errors = threading.Barrier(runs), []

    def one() -> None:
        with app.app_context():
            try:
                barrier.wait()
                reminders.run(now)
            except BaseException as error:  # reported to the test below
                errors.append(error)
            finally:
                _db.session.remove()

    threads = [threading.Thread(target=one) for _ in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def test_two_rounds_at_once_deliver_every_notice_exactly_once(app, db, smtp, agency,
                                                              make_user, frozen):
    people = [make_user() for _ in range(30)]
    office = make_user(roles={"reviewer"}, email="jw@example.org")
    frozen.value = local(2025, 4, 6, 9, 1)
    assert _race(app, frozen()) == []
    assert sorted(len(smtp.to(p.email)) for p in people) == [1] * 30
    assert len(smtp.to(office.email)) == 1
    assert len(smtp.messages) == 31
    assert len({m["Message-ID"] for m in smtp.messages}) == 31
    assert len(keys()) == 31


def test_the_scheduler_refuses_to_run_where_it_is_switched_off(runner, smtp, agency, make_user):
    make_user()
    result = runner.invoke(args=["scheduler"])
    assert result.exit_code == 1
    assert "SCHEDULER_ENABLED" in result.output
    assert smtp.messages == []


def test_the_scheduler_command_runs_rounds(app, runner, smtp, agency, make_user, frozen,
                                           monkeypatch):
    from apscheduler.schedulers.blocking import BlockingScheduler

    monkeypatch.setitem(app.config, "SCHEDULER_ENABLED", True)

    user = make_user()
    frozen.value = local(2025, 4, 5, 9, 30)
    seen = []

    def start(self):
        job = self.get_job("reminders")
        seen.append((job.trigger.interval.total_seconds(), job.max_instances))
        job.func(*job.args)  # the round APScheduler would run
        checkpoint = self.get_job("audit-checkpoint")  # the log's head, noted outside the db
        seen.append((checkpoint.trigger.interval.total_seconds(), checkpoint.max_instances))
        months = self.get_job("digest-months")  # last year's digest, kept month by month
        seen.append((months.trigger.interval.total_seconds(), months.max_instances))
        months.func(*months.args)
        raise KeyboardInterrupt

    monkeypatch.setattr(BlockingScheduler, "start", start)
    monkeypatch.setattr(BlockingScheduler, "shutdown", lambda self, wait=True: None)
    result = runner.invoke(args=["scheduler"])
    assert result.exit_code == 0, result.output
    assert seen == [(300.0, 1), (3600.0, 1), (3600.0, 1)]
    assert len(smtp.to(user.email)) == 1
    assert _db.session.scalars(sa.select(DigestPart.period)).all() == [
        f"2024-{month:02d}" for month in range(1, 13)]


def test_a_mail_outage_of_2h45_delays_every_notice_and_loses_none(db, smtp, agency, make_user,
                                                                 frozen, caplog):
    """Rounds every 5 minutes while the server is down: after it is back, each notice goes out
    once (the old limit of 8 attempts gave up on them after about 2½ hours)."""
    people = [make_user() for _ in range(3)]
    caplog.set_level("INFO", logger="app")
    frozen.value = local(2025, 4, 5, 9, 1)  # deadline day
    smtp.stop()
    for _minute in range(0, 165, 5):
        reminders.run(frozen())
        frozen.advance(minutes=5)
    waiting = _db.session.scalars(sa.select(Outbox)).all()
    assert {(r.status, r.failure) for r in waiting} == {
        (NoticeStatus.PENDING, NoticeFailure.UNREACHABLE)}
    assert all(r.attempts > 8 for r in waiting)
    assert max(r.next_attempt_at for r in waiting) - frozen() <= delivery.MAX_BACKOFF
    smtp.start()
    for _minute in range(0, 35, 5):
        reminders.run(frozen())
        frozen.advance(minutes=5)
    assert [len(smtp.to(p.email)) for p in people] == [1, 1, 1]
    assert {r.status for r in _db.session.scalars(sa.select(Outbox))} == {NoticeStatus.SENT}
    rounds = [r.getMessage() for r in caplog.records if r.name == "app.notices.reminders"]
    assert any("3 planned, 3 enqueued, 0 withdrawn, 0 sent, 3 failed" in m for m in rounds)
    assert any("0 enqueued, 0 withdrawn, 3 sent, 0 failed (0 given up), 3 retried" in m
               for m in rounds)
    info = [r.getMessage() for r in caplog.records if r.levelno >= 20]
    assert not [m for m in info if any(p.email in m for p in people)]  # addresses: debug only


def test_a_notice_held_back_by_an_outage_is_dropped_once_no_longer_true(db, smtp, agency,
                                                                       make_user, frozen):
    waits, files = make_user(staff_no="A1"), make_user(staff_no="A2")
    smtp.stop()
    reminders.run(local(2025, 4, 2, 9, 1))  # "deadline approaching", the server down
    file(files, MARCH, local(2025, 4, 3, 10))
    smtp.start()
    frozen.value = local(2025, 4, 5, 9, 30)  # back on deadline day: "approaching" is past
    result = reminders.run(frozen())
    assert result.withdrawn == 2
    assert [m["Subject"] for m in smtp.to(waits.email)] == ["2025年3月报告今日截止"]
    assert smtp.to(files.email) == []
    dropped = _db.session.scalars(sa.select(Outbox).where(
        Outbox.kind == NoticeKind.APPROACHING)).all()
    assert {(r.status, r.failure) for r in dropped} == {
        (NoticeStatus.FAILED, NoticeFailure.OBSOLETE)}


def test_the_administrators_home_page_says_what_waits_and_why(client, db, smtp, agency,
                                                              make_user, frozen):
    from tests.helpers.web import login

    admin, refused = make_user(roles={"admin"}), make_user()
    make_user()
    smtp.sink.refused.add(refused.email)
    frozen.value = local(2025, 4, 5, 9, 1)
    reminders.run(frozen())
    login(client, admin)
    card = client.get("/").get_data(as_text=True)
    assert 'data-testid="outbox-backlog"' in card
    assert "1 条通知未能发送：邮件服务器拒收该地址或邮件。" in card
    smtp.stop()
    make_user()
    reminders.run(frozen())
    card = client.get("/").get_data(as_text=True)
    assert "1 条通知等待重新发送：无法连接邮件服务器。" in card
