"""`flask --app wsgi reminders run [--dry-run] [--at …]` and `flask --app wsgi scheduler`."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import click
from flask import current_app
from flask.cli import AppGroup

from app.core import auditlog, clock, health
from app.core.extensions import db
from app.models import User
from app.notices import delivery, outbox, reminders
from app.statement import digest

log = logging.getLogger(__name__)

reminders_group = AppGroup("reminders", help="Scheduled reminders and the outbox.")


def _moment(text: str | None) -> datetime:
    """--at is local time in the portal's default zone (that of the agencies it serves)."""
    if not text:
        return clock.now()
    try:
        local = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M")
    except ValueError:
        raise click.BadParameter('use "YYYY-MM-DD HH:MM"', param_hint="--at") from None
    zone = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    return local.replace(tzinfo=zone).astimezone(UTC)


@reminders_group.command("run")
@click.option("--dry-run", is_flag=True, help="Print who would get what; change nothing.")
@click.option("--at", "at", default=None, help='Local time, "YYYY-MM-DD HH:MM" (default: now).')
def run_command(dry_run: bool, at: str | None) -> None:
    """Enqueue the reminders due at that moment and send what is pending."""
    now = _moment(at)
    if dry_run:
        notices = reminders.plan(now)
        names = dict(db.session.execute(
            db.select(User.id, User.staff_no).where(
                User.id.in_({n.user_id for n in notices}))).all())
        for notice in notices:
            click.echo(f"{names[notice.user_id]}\t{notice.period}\t{notice.kind}\t{notice.seq}\t"
                       f"{notice.email or '-'}")
        click.echo(f"{len(notices)} notice(s) due at {now.isoformat()} (dry run: nothing sent)")
        return
    result = reminders.run(now)
    click.echo(f"{len(result.planned)} due, {result.enqueued} new, {result.delivery.sent} sent, "
               f"{result.delivery.failed} failed")


@reminders_group.command("send")
def send_command() -> None:
    """Send what is pending in the outbox (retries included), without a new round."""
    result = delivery.deliver()
    click.echo(f"{result.sent} sent, {result.failed} failed")


@reminders_group.command("retry")
@click.option("--id", "ids", type=int, multiple=True, help="Only this outbox row (repeatable).")
def retry_command(ids: tuple[int, ...]) -> None:
    """Send again the notices that gave up (refused by the server, or no longer due): they go
    out with the next round or `reminders send`."""
    count = outbox.retry(list(ids) or None)
    db.session.commit()
    click.echo(f"{count} notice(s) will be sent again")


def scheduled_round(app) -> None:
    """One job run: its own app context, so the session is fresh and closed afterwards.

    A round that finishes is logged and leaves a heartbeat (/healthz checks it is recent); one
    that fails is logged with its traceback and leaves none.
    """
    with app.app_context():
        try:
            now = clock.now()
            result = reminders.run(now)
            health.beat(health.SCHEDULER, now)
            db.session.commit()
            log.info("round: %d planned, %d enqueued, %d sent, %d failed", len(result.planned),
                     result.enqueued, result.delivery.sent, result.delivery.failed)
            for error, count in Counter(result.delivery.errors).items():
                log.warning("delivery failed for %d notice(s): %s", count, error)
        except Exception:
            log.exception("round failed")
            raise
        finally:
            db.session.remove()


def scheduled_checkpoint(app) -> None:
    """Note the audit log's head outside the database (app/core/auditlog.py write_checkpoint)."""
    with app.app_context():
        try:
            auditlog.write_checkpoint("scheduled")
        finally:
            db.session.remove()


def scheduled_digest_months(app) -> None:
    """Keep the month hashes of each agency's last year (app/statement/digest.py keep_months)."""
    with app.app_context():
        try:
            kept = digest.keep_months(clock.now())
            log.info("digest months kept for %d agency year(s)", kept)
        except Exception:
            log.exception("keeping the digest months failed")
            raise
        finally:
            db.session.remove()


@click.command("scheduler")
def scheduler_command() -> None:
    """Run the reminder rounds every REMINDER_INTERVAL_MINUTES until stopped (one process)."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    app = current_app._get_current_object()
    if not app.config["SCHEDULER_ENABLED"]:
        raise click.ClickException("SCHEDULER_ENABLED is off in this configuration: no jobs run.")
    scheduler = BlockingScheduler(timezone=UTC)
    scheduler.add_job(scheduled_round, "interval", args=[app], id="reminders",
                      minutes=app.config["REMINDER_INTERVAL_MINUTES"], next_run_time=clock.now(),
                      max_instances=1, coalesce=True)
    scheduler.add_job(scheduled_checkpoint, "interval", args=[app], id="audit-checkpoint",
                      minutes=app.config["AUDIT_CHECKPOINT_MINUTES"], next_run_time=clock.now(),
                      max_instances=1, coalesce=True)
    scheduler.add_job(scheduled_digest_months, "interval", args=[app], id="digest-months",
                      minutes=app.config["DIGEST_MONTHS_MINUTES"], next_run_time=clock.now(),
                      max_instances=1, coalesce=True)
    click.echo(f"Scheduler started: a round every {app.config['REMINDER_INTERVAL_MINUTES']} "
               "minute(s). Ctrl-C to stop.")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        scheduler.shutdown(wait=False)
