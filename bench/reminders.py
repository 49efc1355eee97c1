"""Benchmark: one "deadline approaching" round for 100,000 auditors, and SMTP throughput.

    .venv/bin/python bench/reminders.py [--auditors 100000] [--send 3000] [--database-url URL]

Builds, in a temporary SQLite file (or a scratch PostgreSQL database: tables are dropped),
one agency with N auditors in 500 departments, 10% of whom already filed March 2025. Then it
prints:

- `enqueue_s`: compute who gets the "deadline approaching" notice at 2025-04-02 09:00 and
  insert those rows into the outbox (reminders.plan + outbox.enqueue + commit);
- `send_per_s`: messages per second delivered from the outbox to an SMTP sink on loopback
  (aiosmtpd, in its own process) over one reused connection, rendering included, each message
  recorded as sent in its own commit (one durable write per message: the price of "at most one
  repeat per crash");
- `send_floor_per_s` and `send_floor_ratio`: raw smtplib sending the same number of the same
  messages, already rendered, over one connection to the same sink, right after (the floor no
  delivery can beat), and `send_per_s` divided by it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import smtplib
import socket
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa
from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app
from app.core import clock
from app.core.codes import NoticeStatus
from app.core.extensions import db
from app.models import Agency, Department, MonthlyReport, Outbox, User, UserRole
from app.notices import outbox, reminders

AT = datetime(2025, 4, 2, 1, 0, tzinfo=UTC)  # 2025-04-02 09:00 in Beijing


class Sink:
    def __init__(self, count) -> None:
        self.count = count

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd names it so
        with self.count.get_lock():
            self.count.value += 1
        return "250 OK"


def _serve(port: int, count, stop) -> None:
    controller = Controller(Sink(count), hostname="127.0.0.1", port=port)
    controller.start()
    stop.wait()
    controller.stop()


class SinkProcess:
    """The SMTP sink in a process of its own: it must not share the sender's interpreter."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.count, self.stop = multiprocessing.Value("i", 0), multiprocessing.Event()
        self.process = multiprocessing.Process(target=_serve,
                                               args=(self.port, self.count, self.stop))

    def __enter__(self) -> SinkProcess:
        self.process.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                smtplib.SMTP("127.0.0.1", self.port, timeout=2).quit()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("the SMTP sink did not start")

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.process.join(timeout=10)


def build(auditors: int) -> None:
    db.drop_all()
    db.create_all()
    agency = Agency(name="全国审计机关", timezone="Asia/Shanghai", deadline_day=5)
    db.session.add(agency)
    db.session.flush()
    db.session.execute(sa.insert(Department), [
        {"agency_id": agency.id, "name": f"第{n}科", "archived": False} for n in range(500)])
    departments = list(db.session.scalars(sa.select(Department.id)))
    db.session.execute(sa.insert(User), [
        {"id": n + 1, "agency_id": agency.id, "department_id": departments[n % 500],
         "staff_no": f"N{n:06d}", "name": f"审计员{n}", "email": f"n{n:06d}@bench.example",
         "joined_on": date(2024, 1, 1), "active": True, "session_version": 1,
         "failed_logins": 0} for n in range(auditors)])
    db.session.execute(sa.insert(UserRole), [
        {"user_id": n + 1, "role": "auditor"} for n in range(auditors)])
    db.session.execute(sa.insert(MonthlyReport), [
        {"user_id": n + 1, "period": "2025-03", "first_filed_at": AT, "late": False}
        for n in range(0, auditors, 10)])
    db.session.commit()


def enqueue_round() -> tuple[float, int]:
    started = time.perf_counter()
    notices = reminders.plan(AT)
    db.session.commit()
    count = outbox.enqueue(notices, AT)
    db.session.commit()
    return time.perf_counter() - started, count


def send(app, count: int) -> tuple[float, int, float]:
    """The delivery's seconds and count, then the raw smtplib floor's seconds for as many of
    the same messages (rendered beforehand) to the same sink."""
    with SinkProcess() as sink:
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port)
        started = time.perf_counter()
        result = outbox.deliver(AT, limit=count)
        elapsed = time.perf_counter() - started
        assert result.failed == 0 and sink.count.value == result.sent, (result, sink.count)
        rows = db.session.scalars(sa.select(Outbox).where(Outbox.status == NoticeStatus.SENT)
                                  .limit(result.sent)).all()
        messages = [outbox.render(row, "zh_CN") for row in rows]
        started = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", sink.port) as connection:
            for message in messages:
                connection.send_message(message)
        floor = time.perf_counter() - started
    return elapsed, result.sent, floor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--auditors", type=int, default=100_000)
    parser.add_argument("--send", type=int, default=3000)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite"
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
    clock.now = lambda: AT  # the round and the delivery happen "at" 2025-04-02 09:00
    with app.app_context():
        build(args.auditors)
        elapsed, count = enqueue_round()
        print(f"enqueue_s: {elapsed:.2f} ({count} notices)")
        elapsed, sent, floor = send(app, args.send)
        print(f"send_per_s: {sent / elapsed:.0f} ({sent} messages in {elapsed:.2f} s)")
        print(f"send_floor_per_s: {sent / floor:.0f}")
        print(f"send_floor_ratio: {floor / elapsed:.2f}")
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Outbox).where(
            Outbox.status == NoticeStatus.SENT)) == sent


if __name__ == "__main__":
    main()
