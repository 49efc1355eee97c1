"""Health checks, for a load balancer (`GET /healthz`, ok / not ok per check) and for the
operator (`flask doctor`, the same checks with their detail).

A portal that answers pages may still be failing its users: a schema behind the code after an
upgrade without `db upgrade`, a scheduler that stopped (no reminders go out), an outbox nobody
delivers. Each check is independent, so one failing (the database down) still lets the others
say what they can.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask import current_app

from app.core import clock, mailsettings
from app.core.codes import NoticeStatus
from app.core.extensions import db
from app.models import Heartbeat, Outbox

SCHEDULER = "scheduler"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def beat(name: str, now: datetime) -> None:
    """Record that `name` finished a round at `now` (the caller commits)."""
    db.session.merge(Heartbeat(name=name, at=now))


def _database(now: datetime) -> tuple[bool, str]:
    db.session.execute(sa.text("SELECT 1"))
    return True, f"{db.engine.dialect.name} answers"


def migration_heads() -> set[str]:
    """The head revision(s) of the migration scripts shipped with this code."""
    return set(ScriptDirectory(current_app.extensions["migrate"].directory).get_heads())


def _schema(now: datetime) -> tuple[bool, str]:
    heads = migration_heads()
    try:
        with db.session.begin_nested():
            current = set(db.session.scalars(sa.text("SELECT version_num FROM alembic_version")))
    except sa.exc.DBAPIError:
        return False, "no alembic_version table: run `flask db upgrade`"
    if current != heads:
        return False, (f"schema at {', '.join(sorted(current)) or 'nothing'}, code expects "
                       f"{', '.join(sorted(heads))}: run `flask db upgrade`")
    return True, f"at head {', '.join(sorted(heads))}"


def _scheduler(now: datetime) -> tuple[bool, str]:
    last = db.session.scalar(sa.select(Heartbeat.at).where(Heartbeat.name == SCHEDULER))
    limit = timedelta(minutes=current_app.config["HEALTH_SCHEDULER_MINUTES"])
    if last is None:
        return False, "the scheduler never finished a round: is `flask scheduler` running?"
    age = now - last
    minutes = int(age.total_seconds() // 60)
    if age > limit:
        return False, f"last round {minutes} min ago (limit {int(limit.total_seconds() // 60)})"
    return True, f"last round {minutes} min ago"


def _outbox(now: datetime) -> tuple[bool, str]:
    limit = timedelta(minutes=current_app.config["HEALTH_OUTBOX_MINUTES"])
    oldest = db.session.scalar(sa.select(sa.func.min(Outbox.next_attempt_at)).where(
        Outbox.status == NoticeStatus.PENDING))
    waiting = db.session.scalar(sa.select(sa.func.count()).select_from(Outbox).where(
        Outbox.status == NoticeStatus.PENDING))
    if not mailsettings.effective().smtp_host:  # by design: e-mails wait, the bell shows them
        return True, f"{waiting} pending; no mail server configured, e-mails wait"
    if oldest is not None and now - oldest > limit:
        return False, (f"{waiting} pending, the oldest due since {oldest:%Y-%m-%d %H:%M} UTC "
                       f"(more than {int(limit.total_seconds() // 60)} min): nobody delivers")
    return True, f"{waiting} pending"


CHECKS: dict[str, Callable[[datetime], tuple[bool, str]]] = {
    "database": _database, "schema": _schema, "scheduler": _scheduler, "outbox": _outbox,
}


def run() -> list[Check]:
    """Every check, each in its own try: a failure is a result, never an exception."""
    now, results = clock.now(), []
    for name, check in CHECKS.items():
        try:
            ok, detail = check(now)
        except Exception as error:  # any failure is the answer
            db.session.rollback()
            ok, detail = False, f"{type(error).__name__}: {error}"
        results.append(Check(name, ok, detail))
    db.session.rollback()  # read only: end the transaction
    return results
