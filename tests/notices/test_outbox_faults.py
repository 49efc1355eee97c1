"""Exactly once under faults, with real sender processes and the loopback SMTP server.

Each sender is `flask --app wsgi reminders send` in a process of its own, on the suite's
database, killed with SIGKILL or paused with SIGSTOP while it delivers. What the server received
is compared with what the outbox recorded: nothing may be lost, and a message is repeated only
when a sender died (or stalled past its lease) with that very message in flight.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.core import clock
from app.core.codes import NoticeKind, NoticeStatus
from app.core.extensions import db as _db
from app.models import Outbox
from app.notices import mime, outbox
from app.notices.outbox import Notice

ROOT = Path(__file__).resolve().parents[2]
KILLS = 10
LEASE_SECONDS = 2  # short, so that rows a killed sender held come free within the test


def enqueue(user, count: int) -> dict[str, int]:
    """`count` pending e-mails; returns their Message-IDs, each with its row id."""
    outbox.enqueue([Notice(user.id, NoticeKind.OVERDUE, "2025-03", seq, f"p{seq}@example.org",
                           {"due": "2025-04-07"}) for seq in range(count)], clock.now())
    _db.session.commit()
    return {mime.message_id(row): row.id for row in _db.session.scalars(sa.select(Outbox))}


@pytest.fixture
def sender(app, smtp):
    """Starts `reminders send` processes on the suite's database and the loopback server; any
    still running (or paused) at the end of the test is killed."""
    started: list[subprocess.Popen] = []
    env = {key: value for key, value in os.environ.items()
           if key not in {"FLASK_APP", "PORTAL_INSTANCE_DIR"}}
    env.update(PORTAL_CONFIG="testing", DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
               SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp.port),
               MAIL_FROM=app.config["MAIL_FROM"], OUTBOX_LEASE_SECONDS=str(LEASE_SECONDS))

    def start() -> subprocess.Popen:
        started.append(subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "reminders", "send"], cwd=ROOT,
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_for(condition, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def finish(process: subprocess.Popen) -> str:
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    return out


def recorded() -> dict[int, str]:
    """Row id → status, read in a transaction of its own (SQLite: no lock left behind)."""
    statuses = dict(_db.session.execute(sa.select(Outbox.id, Outbox.status)).all())
    _db.session.commit()
    return statuses


def excess(smtp, ids: dict[str, int]) -> int:
    """Messages the server accepted beyond those the outbox recorded as sent."""
    statuses = recorded()
    received = Counter(message["Message-ID"] for message in smtp.messages)
    return sum(received[mid] - (statuses[row] == NoticeStatus.SENT) for mid, row in ids.items())


def drain(sender) -> None:
    """Senders until nothing is pending (rows a killed sender held wait for its lease)."""
    for _attempt in range(3):
        if NoticeStatus.PENDING not in recorded().values():
            return
        time.sleep(LEASE_SECONDS + 0.2)
        finish(sender())


def test_senders_killed_at_random_lose_nothing_and_repeat_only_what_was_in_flight(
        db, smtp, auditor, sender):
    ids = enqueue(auditor, 200)
    rng = random.Random(os.environ.get("KILL_SEED", "10a"))
    kills, repeats = 0, []
    while kills < KILLS and NoticeStatus.PENDING in recorded().values():
        before = excess(smtp, ids)
        process, target = sender(), len(smtp.messages) + rng.randint(1, 15)
        wait_for(lambda p=process, t=target: len(smtp.messages) >= t or p.poll() is not None)
        time.sleep(rng.uniform(0, 0.01))  # anywhere: mid-send, mid-commit, between messages
        if process.poll() is not None:
            continue
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
        time.sleep(0.2)  # let the server finish a message whose last line had gone out
        repeats.append(excess(smtp, ids) - before)
    drain(sender)
    received = Counter(message["Message-ID"] for message in smtp.messages)
    assert set(recorded().values()) == {NoticeStatus.SENT}
    assert set(received) == set(ids)  # nothing lost, nothing foreign
    assert kills >= KILLS // 2
    # A kill repeats at most the one message in flight; a kill outside a send repeats nothing.
    assert all(count in (0, 1) for count in repeats), repeats
    assert sum(received.values()) - len(ids) == sum(repeats) <= kills


def test_a_sender_stalled_past_its_lease_sends_nothing_it_no_longer_holds(db, smtp, auditor,
                                                                         sender):
    ids = enqueue(auditor, 12)
    smtp.sink.delay = 0.5  # a slow relay
    first = sender()
    wait_for(lambda: smtp.sink.started >= 3)
    time.sleep(0.1)
    first.send_signal(signal.SIGSTOP)  # a stall (swapped out, a stuck disk) mid-send
    time.sleep(LEASE_SECONDS + 0.5)
    finish(sender())
    first.send_signal(signal.SIGCONT)
    assert finish(first).strip() == "3 sent, 0 failed"  # then nothing: no longer its own
    received = Counter(message["Message-ID"] for message in smtp.messages)
    assert set(received) == set(ids)
    assert set(recorded().values()) == {NoticeStatus.SENT}
    # Only the message in flight during the stall arrived twice.
    assert sum(received.values()) - len(ids) == 1


def test_a_slow_relay_does_not_let_a_second_sender_take_the_batch(db, smtp, auditor, sender):
    """Each message takes 40% of a lease: the batch takes several leases, renewed as it goes."""
    ids = enqueue(auditor, 12)
    smtp.sink.delay = LEASE_SECONDS * 0.4
    first = sender()
    wait_for(lambda: len(smtp.messages) >= 1)
    time.sleep(LEASE_SECONDS)  # the lease taken with the claim has run out by now
    assert finish(sender()).strip() == "0 sent, 0 failed"
    assert first.poll() is None  # the second sender came while the first was delivering
    finish(first)
    received = Counter(message["Message-ID"] for message in smtp.messages)
    assert received == Counter(set(ids))
