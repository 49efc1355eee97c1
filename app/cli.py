"""Command-line interface: `flask --app wsgi demo | create-user | import-users | set-password`."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_babel import force_locale

from app import demo
from app.admin import accounts, projectimport, userimport
from app.auth import passwords
from app.auth.security import end_all_sessions, hash_password
from app.core import auditlog, backup, clock, health, tabular
from app.core.codes import Role
from app.core.extensions import db
from app.core.vocab import ROLES
from app.filing import evidence, tally
from app.models import Agency, Department, User
from app.review import office


def _agency(name: str | None) -> Agency:
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


def _today(agency: Agency) -> date:
    """Today in the agency's time zone (the server's may differ)."""
    return clock.now().astimezone(ZoneInfo(agency.timezone)).date()


def _default_locale(command: Callable) -> Callable:
    """Messages in the portal's default language: a command has no user or session to ask."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
            return command(*args, **kwargs)

    return run


def _check_password(ctx: click.Context | None, param: click.Parameter | None,
                    password: str) -> str:
    with force_locale("en"):  # the commands speak English to the operator
        problem = passwords.problem(password)
    if problem:
        raise click.BadParameter(problem)
    return password


def _text(column: sa.Column) -> Callable:
    """An option callback: stripped, not empty and no longer than `column` holds."""

    def check(ctx: click.Context, param: click.Parameter, value: str) -> str:
        value = value.strip()
        if not value:
            raise click.BadParameter("must not be empty")
        if len(value) > column.type.length:
            raise click.BadParameter(f"at most {column.type.length} characters")
        return value

    return check


def _check_email(ctx: click.Context, param: click.Parameter, email: str) -> str:
    if not email.strip():
        return ""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise click.BadParameter(str(error)) from None


def _check_timezone(ctx: click.Context, param: click.Parameter, name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"unknown time zone {name}") from None
    return name


@click.command("demo")
@click.option("--force", is_flag=True, help="Erase every record first, real data included.")
@click.option("--if-empty", is_flag=True, help="Do nothing (and succeed) if data exists.")
def demo_command(force: bool, if_empty: bool) -> None:
    """Load the demo bureau (31 staff, 22 projects, a year of filings)."""
    if demo.has_data():
        if if_empty:
            click.echo("The database already holds data; demo not loaded.")
            return
        if not force:
            raise click.ClickException(
                "The database already holds data. Use --force to erase it and load the demo.")
        demo.wipe()
    agency = demo.load()
    auditlog.record("demo.loaded", agency, force=force)
    db.session.commit()
    click.echo(f"Demo loaded: {agency.name}. Every demo account's password: {demo.DEMO_PASSWORD}"
               f"; two-factor key of the privileged ones: {demo.DEMO_TOTP_SECRET}")


@click.command("create-agency")
@click.argument("name")
@click.option("--timezone", default="Asia/Shanghai", show_default=True, callback=_check_timezone)
@click.option("--deadline-day", default=5, show_default=True, type=click.IntRange(1, 28))
def create_agency_command(name: str, timezone: str, deadline_day: int) -> None:
    """Create an agency (机关)."""
    agency = Agency(name=name, timezone=timezone, deadline_day=deadline_day)
    db.session.add(agency)
    db.session.flush()
    auditlog.record("agency.created", agency, name=name)
    db.session.commit()
    click.echo(f"Agency {name} created.")


def _department(agency: Agency, name: str) -> Department | None:
    """The agency's department of that name, created (and logged) if new."""
    if not name:
        return None
    department = db.session.scalar(sa.select(Department).where(
        Department.agency_id == agency.id, Department.name == name))
    if department is None:
        department = Department(agency=agency, name=name)
        db.session.add(department)
        db.session.flush()
        auditlog.record("department.created", department, name=name)
    return department


def _check_unique(staff_no: str, email: str) -> None:
    if db.session.scalar(sa.select(User.id).where(User.staff_no == staff_no)):
        raise click.ClickException(f"Staff number {staff_no} is taken.")
    if email and db.session.scalar(
            sa.select(User.id).where(sa.func.lower(User.email) == email.lower())):
        raise click.ClickException(f"E-mail {email} is used by another account.")


@click.command("create-user")
@click.option("--staff-no", prompt=True, callback=_text(User.__table__.c.staff_no))
@click.option("--name", prompt=True, callback=_text(User.__table__.c.name))
@click.option("--email", default="", prompt=True, callback=_check_email)
@click.option("--department", default="", help="Department name (created if new).")
@click.option("--role", "roles", multiple=True, type=click.Choice(sorted(ROLES)),
              default=[Role.AUDITOR.value], show_default=True)
@click.option("--joined-on", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Default: today.")
@click.option("--agency", "agency_name", default=None)
@click.password_option(prompt=True, callback=_check_password)
def create_user_command(staff_no: str, name: str, email: str, department: str,
                        roles: tuple[str, ...], joined_on, agency_name: str | None,
                        password: str) -> None:
    """Create an account."""
    agency = _agency(agency_name)
    _check_unique(staff_no, email)
    try:
        roles = tuple(sorted(accounts.roles_after_edit(None, set(roles), operator=True)))
    except accounts.AccountError as refused:
        raise click.ClickException(str(refused)) from None
    user = User(agency=agency, department=_department(agency, department.strip()),
                staff_no=staff_no, name=name, email=email or None,
                password_hash=hash_password(password),
                joined_on=joined_on.date() if joined_on else _today(agency))
    user.roles = set(roles)
    db.session.add(user)
    db.session.flush()
    auditlog.record("user.created", user, staff_no=staff_no, roles=sorted(roles))
    db.session.commit()
    click.echo(f"Account {staff_no} ({name}) created.")


@click.command("set-password")
@click.argument("staff_no")
@click.password_option(prompt=True, callback=_check_password)
def set_password_command(staff_no: str, password: str) -> None:
    """Set an account's password; its sessions end."""
    user = db.session.scalar(sa.select(User).where(User.staff_no == staff_no.strip()))
    if user is None:
        raise click.ClickException(f"No account with staff number {staff_no}.")
    user.password_hash = hash_password(password)
    end_all_sessions(user)
    auditlog.record("user.password_set", user)
    db.session.commit()
    click.echo(f"Password of {user.staff_no} set.")


@click.command("import-users")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--agency", "agency_name", default=None)
@_default_locale
def import_users_command(file: Path, agency_name: str | None) -> None:
    """Import staff from an XLSX or CSV file (UTF-8 or GBK); all rows or none."""
    agency = _agency(agency_name)
    _import(userimport.check(agency, file.read_bytes(), operator=True),
            lambda results: userimport.apply(agency, results, _today(agency)))


@click.command("import-projects")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--agency", "agency_name", default=None)
@_default_locale
def import_projects_command(file: Path, agency_name: str | None) -> None:
    """Import audit projects from an XLSX or CSV file; all rows or none."""
    agency = _agency(agency_name)
    _import(projectimport.check(agency, file.read_bytes()),
            lambda results: projectimport.apply(agency, results))


def _import(results: list[tabular.RowResult], apply: Callable[[list], int]) -> None:
    """Report the rows with errors and import nothing, or import them all (the same checks
    and writes as the administrator's import page)."""
    bad = [r for r in results if r.errors]
    for result in bad:
        click.echo(f"line {result.line} ({result.key or '-'}): {'; '.join(result.errors)}",
                   err=True)
    if bad:
        raise click.ClickException(f"{len(bad)} row(s) have errors; nothing was imported.")
    changed = apply(results)
    db.session.commit()
    counts = {a: sum(r.action == a for r in results) for a in ("create", "update", "unchanged")}
    click.echo(f"Imported: {counts['create']} created, {counts['update']} updated, "
               f"{counts['unchanged']} unchanged ({changed} changed).")


office_group = AppGroup("office", help="The discipline office's members (the operator's path).")


def _account(staff_no: str) -> User:
    user = db.session.scalar(sa.select(User).where(User.staff_no == staff_no.strip()))
    if user is None:
        raise click.ClickException(f"No account with staff number {staff_no}.")
    return user


def _office_step(step: Callable[[], None], done: str) -> None:
    try:
        step()
    except office.OfficeRefused as refused:
        raise click.ClickException(str(refused)) from None
    db.session.commit()
    click.echo(done)


@office_group.command("grant")
@click.argument("staff_no")
def office_grant_command(staff_no: str) -> None:
    """Make an account a member of its agency's discipline office: the first member of a new
    agency, or a repair when the office has lost everyone. Members co-opt the others."""
    user = _account(staff_no)
    _office_step(lambda: office.grant_by_operator(user, clock.now()),
                 f"{user.staff_no} ({user.name}) now belongs to the discipline office.")


@office_group.command("withdraw")
@click.argument("staff_no")
def office_withdraw_command(staff_no: str) -> None:
    """Take an account out of the discipline office."""
    user = _account(staff_no)
    _office_step(lambda: office.withdraw(None, user, clock.now()),
                 f"{user.staff_no} ({user.name}) no longer belongs to the discipline office.")


@office_group.command("list")
@click.option("--agency", "agency_name", default=None)
def office_list_command(agency_name: str | None) -> None:
    """The members of an agency's discipline office."""
    for member in office.members(_agency(agency_name).id):
        click.echo(f"{member.staff_no}\t{member.name}")


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


evidence_group = AppGroup("evidence", help="Evidence files.")


@evidence_group.command("import-files")
def evidence_import_command() -> None:
    """Copy evidence files kept under EVIDENCE_DIR (before they moved into the database) into
    the database, each checked against its SHA-256; run once after upgrading."""
    result = evidence.import_files()
    if result.copied:
        auditlog.record("evidence.imported", None, count=result.copied)
    db.session.commit()
    for problem in result.problems:
        click.echo(problem, err=True)
    click.echo(f"{result.copied} file(s) copied into the database, {len(result.problems)} "
               "problem(s). Keep EVIDENCE_DIR until `flask audit verify` says OK.")
    if result.problems:
        raise SystemExit(1)


tally_group = AppGroup("tally", help="The filing tally behind the compliance trend.")


@tally_group.command("rebuild")
def tally_rebuild_command() -> None:
    """Recompute the tally from the reports (after loading reports around the portal)."""
    rows = tally.rebuild()
    auditlog.record("tally.rebuilt", None, rows=rows)
    db.session.commit()
    click.echo(f"Tally rebuilt: {rows} agency-period rows.")


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


def init_app(app: Flask) -> None:
    for command in (demo_command, create_agency_command, create_user_command,
                    set_password_command, import_users_command, import_projects_command,
                    audit_group, office_group, evidence_group, tally_group, backup_group,
                    doctor_command):
        app.cli.add_command(command)
