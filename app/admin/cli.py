"""The administrator's commands for the operator: `create-agency`, `create-user`,
`set-password`, `import-users`, `import-projects`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
import sqlalchemy as sa
from flask.cli import AppGroup
from flask_babel import force_locale

from app.admin import accounts, employment, organisation, projectimport, userimport
from app.auth import passwords
from app.auth.security import end_all_sessions, hash_password
from app.core import auditlog, tabular
from app.core.cli import (
    agency_named,
    check_email,
    check_timezone,
    default_locale,
    text_option,
    today_in,
)
from app.core.codes import Role
from app.core.extensions import db
from app.core.vocab import ROLES
from app.installation import agencies
from app.models import User


@click.command("create-agency")
@click.argument("name")
@click.option("--timezone", default="Asia/Shanghai", show_default=True, callback=check_timezone)
@click.option("--deadline-day", default=5, show_default=True, type=click.IntRange(1, 28))
@click.option("--parent", "parent_name", default=None,
              help="The agency above it (a district bureau's city bureau).")
@default_locale
def create_agency_command(name: str, timezone: str, deadline_day: int,
                          parent_name: str | None) -> None:
    """Create an agency (机关)."""
    parent = agency_named(parent_name) if parent_name else None
    try:
        agencies.create(name, parent, timezone, deadline_day)
    except agencies.InstallationInvalid as refused:
        raise click.ClickException(str(refused)) from None
    db.session.commit()
    click.echo(f"Agency {name} created.")


def check_password(ctx: click.Context | None, param: click.Parameter | None,
                    password: str) -> str:
    with force_locale("en"):  # the commands speak English to the operator
        problem = passwords.problem(password)
    if problem:
        raise click.BadParameter(problem)
    return password



def _check_unique(staff_no: str, email: str) -> None:
    if db.session.scalar(sa.select(User.id).where(User.staff_no == staff_no)):
        raise click.ClickException(f"Staff number {staff_no} is taken.")
    if email and db.session.scalar(
            sa.select(User.id).where(sa.func.lower(User.email) == email.lower())):
        raise click.ClickException(f"E-mail {email} is used by another account.")


@click.command("create-user")
@click.option("--staff-no", prompt=True, callback=text_option(User.__table__.c.staff_no))
@click.option("--name", prompt=True, callback=text_option(User.__table__.c.name))
@click.option("--email", default="", prompt=True, callback=check_email)
@click.option("--department", default="", help="Department name (created if new).")
@click.option("--role", "roles", multiple=True, type=click.Choice(sorted(ROLES)),
              default=[Role.AUDITOR.value], show_default=True)
@click.option("--joined-on", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Default: today.")
@click.option("--agency", "agency_name", default=None)
@click.password_option(prompt=True, callback=check_password)
def create_user_command(staff_no: str, name: str, email: str, department: str,
                        roles: tuple[str, ...], joined_on, agency_name: str | None,
                        password: str) -> None:
    """Create an account."""
    agency = agency_named(agency_name)
    _check_unique(staff_no, email)
    try:
        roles = tuple(sorted(accounts.roles_after_edit(None, set(roles), operator=True)))
    except accounts.AccountError as refused:
        raise click.ClickException(str(refused)) from None
    user = User(agency=agency,
                department=organisation.department_named(agency, department.strip()),
                staff_no=staff_no, name=name, email=email or None,
                password_hash=hash_password(password),
                joined_on=joined_on.date() if joined_on else today_in(agency))
    user.roles = set(roles)
    db.session.add(user)
    employment.follow(user)
    auditlog.record("user.created", user, staff_no=staff_no, roles=sorted(roles))
    db.session.commit()
    click.echo(f"Account {staff_no} ({name}) created.")


admin_group = AppGroup("admin", help="Staff across the agencies of the installation.")


@admin_group.command("transfer")
@click.option("--staff-no", required=True, help="The person's staff number.")
@click.option("--to-agency", "agency_name", required=True, help="The agency they move to.")
@click.option("--department", default="", help="Their department there (created if new).")
@click.option("--on", "on", required=True, type=click.DateTime(["%Y-%m-%d"]),
              help="First day in the new agency (YYYY-MM-DD).")
@default_locale
def transfer_command(staff_no: str, agency_name: str, department: str, on) -> None:
    """调动: end the person's period on the day before --on and start one in --to-agency."""
    user = db.session.scalar(sa.select(User).where(User.staff_no == staff_no.strip()))
    if user is None:
        raise click.ClickException(f"No account with staff number {staff_no}.")
    agency = agency_named(agency_name)
    try:
        employment.transfer_to(user, agency, department.strip(), on.date())
    except employment.TransferRefused as refused:
        raise click.ClickException(str(refused)) from None
    db.session.commit()
    click.echo(f"{user.staff_no} ({user.name}) works in {agency.name} from {on.date()}.")


@click.command("set-password")
@click.argument("staff_no")
@click.password_option(prompt=True, callback=check_password)
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
@default_locale
def import_users_command(file: Path, agency_name: str | None) -> None:
    """Import staff from an XLSX or CSV file (UTF-8 or GBK); all rows or none."""
    agency = agency_named(agency_name)
    _import(userimport.check(agency, file.read_bytes(), operator=True),
            lambda results: userimport.apply(agency, results, today_in(agency)))


@click.command("import-projects")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--agency", "agency_name", default=None)
@default_locale
def import_projects_command(file: Path, agency_name: str | None) -> None:
    """Import audit projects from an XLSX or CSV file; all rows or none."""
    agency = agency_named(agency_name)
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
    counts = {a: sum(r.action == a for r in results)
              for a in ("create", "update", "transfer", "unchanged")}
    moved = f"{counts['transfer']} transferred here, " if counts["transfer"] else ""
    click.echo(f"Imported: {counts['create']} created, {counts['update']} updated, {moved}"
               f"{counts['unchanged']} unchanged ({changed} changed).")
