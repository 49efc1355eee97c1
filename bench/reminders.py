"""Benchmark: one "deadline approaching" round for 100,000 auditors, and SMTP throughput.

    .venv/bin/python bench/reminders.py [--auditors 100000] [--send 3000] [--rounds 5]
                                        [--enqueues 3] [--database-url URL]

Builds, in a temporary SQLite file (or a scratch PostgreSQL database: tables are dropped),
one agency with N auditors in 500 departments, 10% of whom already filed March 2025. Then it
prints:

- `enqueue_s`: compute who gets the "deadline approaching" notice at 2025-04-02 09:00 and
  insert those rows into the outbox (reminders.plan + outbox.enqueue + commit); the median of
  `--enqueues` runs, the outbox emptied between them;
- `send_per_s`: messages per second delivered from the outbox to an SMTP sink on loopback
  (aiosmtpd, in its own process) over one reused connection, rendering included, each message
  recorded as sent in its own commit (one durable write per message: the price of "at most one
  repeat per crash");
- `send_floor_per_s`: raw smtplib sending the same messages, rendered and flattened to bytes
  beforehand (`sendmail`, the bytes `send_message` would send), over one connection to the
  same sink: the floor no delivery can beat;
- `send_floor_ratio`: `send_per_s` divided by the floor;
- `send_message_floor_per_s` and `send_message_floor_ratio`: the floor as it was measured
  before delivery sent pre-flattened bytes, `send_message` of the rendered messages, which
  flattens each one (for comparison with earlier figures: delivery may beat it).

The machine may be shared: delivery and floor alternate, `--rounds` times `--send` messages
each, and each figure is the median of its rounds (the ratio, the median of each round's
delivery divided by the floor measured right after it).
"""

from __future__ import annotations

import argparse
import io
import multiprocessing
import smtplib
import socket
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from email.generator import BytesGenerator
from email.utils import getaddresses
from pathlib import Path

import sqlalchemy as sa
from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app
from app.core import clock
from app.core.codes import NoticeStatus
from app.core.extensions import db
from app.filing import scope
from app.models import Agency, Department, Employment, MonthlyReport, Outbox, User, UserRole
from app.notices import delivery, mime, outbox, reminders

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
    users = [
        {"id": n + 1, "agency_id": agency.id, "department_id": departments[n % 500],
         "staff_no": f"N{n:06d}", "name": f"审计员{n}", "email": f"n{n:06d}@bench.example",
         "joined_on": date(2024, 1, 1), "active": True, "session_version": 1,
         "failed_logins": 0} for n in range(auditors)]
    db.session.execute(sa.insert(User), users)
    db.session.execute(sa.insert(Employment), [scope.single_period(u) for u in users])
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


def enqueue_rounds(times: int) -> tuple[float, int]:
    """The median of `times` rounds, the outbox emptied before each but the first."""
    runs = []
    for run in range(times):
        if run:
            db.session.execute(sa.delete(Outbox))
            db.session.commit()
        runs.append(enqueue_round())
    return statistics.median(elapsed for elapsed, _count in runs), runs[-1][1]


def flattened(row: Outbox) -> tuple[str, list[str], bytes]:
    """What smtplib's send_message would send for the row's message: envelope and bytes."""
    message = mime.render(row, "zh_CN")
    with io.BytesIO() as out:
        BytesGenerator(out).flatten(message, linesep="\r\n")
        data = out.getvalue()
    return getaddresses([message["From"]])[0][1], [row.email], data


def send(app, count: int, rounds: int) -> tuple[list[float], list[float], list[float], int]:
    """Per round, the delivery's messages per second, then the raw smtplib floor's for the
    same messages (rendered and flattened beforehand) to the same sink, then send_message's
    of the rendered messages; and the total sent."""
    delivered, floors, classic, total, received = [], [], [], 0, 0
    with SinkProcess() as sink:
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=sink.port)
        for _round in range(rounds):
            started = time.perf_counter()
            result = delivery.deliver(AT, limit=count)
            elapsed = time.perf_counter() - started
            total += result.sent
            received += result.sent
            assert result.failed == 0 and sink.count.value == received, (result, sink.count)
            rows = db.session.scalars(sa.select(Outbox).where(Outbox.status == NoticeStatus.SENT)
                                      .order_by(Outbox.sent_at.desc(), Outbox.id.desc())
                                      .limit(result.sent)).all()
            messages = [flattened(row) for row in rows]
            started = time.perf_counter()
            with smtplib.SMTP("127.0.0.1", sink.port) as connection:
                for sender, recipients, data in messages:
                    connection.sendmail(sender, recipients, data)
            floor = time.perf_counter() - started
            rendered = [mime.render(row, "zh_CN") for row in rows]
            started = time.perf_counter()
            with smtplib.SMTP("127.0.0.1", sink.port) as connection:
                for message in rendered:
                    connection.send_message(message)
            flattening = time.perf_counter() - started
            received += len(messages) + len(rendered)
            delivered.append(result.sent / elapsed)
            floors.append(len(messages) / floor)
            classic.append(len(rendered) / flattening)
    return delivered, floors, classic, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--auditors", type=int, default=100_000)
    parser.add_argument("--send", type=int, default=3000, help="messages per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--enqueues", type=int, default=3)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite"
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url)
    clock.now = lambda: AT  # the round and the delivery happen "at" 2025-04-02 09:00
    with app.app_context():
        build(args.auditors)
        elapsed, count = enqueue_rounds(args.enqueues)
        print(f"enqueue_s: {elapsed:.2f} ({count} notices, median of {args.enqueues})")
        delivered, floors, classic, sent = send(app, args.send, args.rounds)
        print(f"send_per_s: {statistics.median(delivered):.0f} (median of {args.rounds} rounds "
              f"of {args.send} messages; rounds: {' '.join(f'{r:.0f}' for r in delivered)})")
        print(f"send_floor_per_s: {statistics.median(floors):.0f} "
              f"(rounds: {' '.join(f'{r:.0f}' for r in floors)})")
        ratios = [mine / floor for mine, floor in zip(delivered, floors, strict=True)]
        print(f"send_floor_ratio: {statistics.median(ratios):.2f} "
              f"(rounds: {' '.join(f'{r:.2f}' for r in ratios)})")
        print(f"send_message_floor_per_s: {statistics.median(classic):.0f} "
              f"(rounds: {' '.join(f'{r:.0f}' for r in classic)})")
        ratios = [mine / floor for mine, floor in zip(delivered, classic, strict=True)]
        print(f"send_message_floor_ratio: {statistics.median(ratios):.2f} "
              f"(rounds: {' '.join(f'{r:.2f}' for r in ratios)})")
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Outbox).where(
            Outbox.status == NoticeStatus.SENT)) == sent


if __name__ == "__main__":
    main()
