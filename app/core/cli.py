"""Command-line helpers every area's commands share, and the operator's own commands:
`audit verify`, `backup create|verify|restore`, `doctor`.

The commands speak English to the operator; messages of the rules they run come in the
portal's default language (`default_locale`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask import current_app
from flask.cli import AppGroup
from flask_babel import force_locale

from app.core import auditlog, backup, clock, health
from app.core.extensions import db
from app.models import Agency


def agency_named(name: str | None) -> Agency:
    query = sa.select(Agency).order_by(Agency.id)
    if name:
        query = query.where(Agency.name == name)
    else:  # the bureau itself, not its parent
        query = query.where(~Agency.id.in_(sa.select(Agency.parent_id).where(
            Agency.parent_id.is_not(None))))
    agencies = db.session.scalars(query.limit(2)).all()
    if not agencies:
        raise click.ClickException("No such agency. Create one with `flask create-agency`.")
    if len(agencies) > 1:
        raise click.ClickException("Several agencies match: name one with --agency.")
    return agencies[0]


def today_in(agency: Agency) -> date:
    """Today in the agency's time zone (the server's may differ)."""
    return clock.now().astimezone(ZoneInfo(agency.timezone)).date()


def default_locale(command: Callable) -> Callable:
    """Messages in the portal's default language: a command has no user or session to ask."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
            return command(*args, **kwargs)

    return run



def text_option(column: sa.Column) -> Callable:
    """An option callback: stripped, not empty and no longer than `column` holds."""

    def check(ctx: click.Context, param: click.Parameter, value: str) -> str:
        value = value.strip()
        if not value:
            raise click.BadParameter("must not be empty")
        if len(value) > column.type.length:
            raise click.BadParameter(f"at most {column.type.length} characters")
        return value

    return check


def check_email(ctx: click.Context, param: click.Parameter, email: str) -> str:
    if not email.strip():
        return ""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise click.BadParameter(str(error)) from None


def check_timezone(ctx: click.Context, param: click.Parameter, name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"unknown time zone {name}") from None
    return name


audit_group = AppGroup("audit", help="The tamper-evident audit log.")


@audit_group.command("verify")
@click.option("--expect-head", default=None, metavar="HASH",
              help="A head noted earlier (statement PDF, printout, checkpoint file): the chain "
                   "must still pass through it.")
@click.option("--expect-count", default=None, type=click.IntRange(min=0), metavar="N",
              help="The entry count noted with it: the chain must have had that head after "
                   "exactly N entries (alone: at least N entries).")
def audit_verify_command(expect_head: str | None, expect_count: int | None) -> None:
    """Walk the hash chain and check every sealed record against its seal; prints the head
    and count found, to be noted for the next check (a cut-off tail is found only against a
    head noted before the cut)."""
    checkpoints = [auditlog.Checkpoint(expect_head, expect_count)] if (
        expect_head or expect_count is not None) else []
    verdict = auditlog.verify(checkpoints)
    if not verdict.ok:
        click.echo(f"FAILED after {verdict.count} good entries: {verdict.problem}", err=True)
        raise SystemExit(1)
    problem = auditlog.verify_evidence()
    if problem:
        click.echo(f"FAILED: {problem}", err=True)
        raise SystemExit(1)
    click.echo(f"OK: {verdict.count} entries, head {verdict.head}")


backup_group = AppGroup("backup", help="Backup archives: create, verify, restore.")


ARCHIVE = click.Path(dir_okay=False, path_type=Path)


@backup_group.command("create")
@click.argument("file", type=ARCHIVE)
def backup_create_command(file: Path) -> None:
    """Write one consistent archive of the database and the non-secret configuration, with a
    manifest of SHA-256 digests and the audit log's head (SECRET_KEY is not in it)."""
    try:
        manifest = backup.create(file)
    except backup.BackupError as error:
        raise click.ClickException(str(error)) from None
    auditlog.record("backup.created", None, file=file.name, head=manifest["audit_log"]["head"])
    db.session.commit()
    log = manifest["audit_log"]
    click.echo(f"Backup written to {file}: {manifest['dialect']} database, "
               f"{log['entries']} audit log entries, head {log['head']}")


@backup_group.command("verify")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def backup_verify_command(file: Path) -> None:
    """Check every member of an archive against its manifest (exit code 1 if one differs)."""
    manifest, problems = backup.verify(file)
    for problem in problems:
        click.echo(f"FAILED: {problem}", err=True)
    if problems:
        raise SystemExit(1)
    click.echo(f"OK: {len(manifest['files'])} members match, created {manifest['created_at']}"
               f", audit log head {manifest['audit_log']['head']}")


@backup_group.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def backup_restore_command(file: Path) -> None:
    """Restore an archive into the configured database, which must be empty; then run
    `flask audit verify` and `flask statement verify YEAR`."""
    try:
        manifest = backup.restore(file)
    except backup.BackupError as error:
        raise click.ClickException(str(error)) from None
    auditlog.record("backup.restored", None, file=file.name, created_at=manifest["created_at"],
                    head=manifest["audit_log"]["head"])
    db.session.commit()
    click.echo(f"Restored the backup of {manifest['created_at']}: audit log at "
               f"{manifest['audit_log']['head']}. Now run `flask audit verify`.")
    if set(manifest["schema"]) != health.migration_heads():
        click.echo("The archive's schema is not this code's: run `flask db upgrade` next.")


@click.command("doctor")
def doctor_command() -> None:
    """Run the health checks of /healthz and print each with its detail (exit code 1 if one
    fails)."""
    checks = health.run()
    for check in checks:
        click.echo(f"{'ok  ' if check.ok else 'FAIL'} {check.name:<10} {check.detail}")
    if not all(c.ok for c in checks):
        raise SystemExit(1)


def refusable(step: Callable[[], object], done: str) -> None:
    """Run an operation for the operator: a refusal becomes the command's error message
    (exit code 1, nothing committed); otherwise commit and say what was done."""
    from app.core.refusals import Refused

    try:
        step()
    except Refused as refused:
        raise click.ClickException(str(refused)) from None
    db.session.commit()
    click.echo(done)
