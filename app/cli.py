"""Command-line interface: `flask --app wsgi demo | create-user | import-users | set-password`."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app

from app import auditlog, demo, userimport
from app.extensions import db
from app.models import Agency, Department, User
from app.security import end_all_sessions, hash_password
from app.vocab import ROLES


def _agency(name: str | None) -> Agency:
    query = sa.select(Agency).order_by(Agency.id)
    if name:
        query = query.where(Agency.name == name)
    else:  # the bureau itself, not its parent
        query = query.where(~Agency.id.in_(sa.select(Agency.parent_id).where(
            Agency.parent_id.is_not(None))))
    agency = db.session.scalar(query)
    if agency is None:
        raise click.ClickException("No such agency. Create one with `flask create-agency`.")
    return agency


def _check_password(password: str) -> str:
    low, high = (current_app.config["PASSWORD_MIN_LENGTH"],
                 current_app.config["PASSWORD_MAX_LENGTH"])
    if not low <= len(password) <= high:
        raise click.BadParameter(f"a password has {low} to {high} characters")
    return password


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
    db.session.commit()
    click.echo(f"Demo loaded: {agency.name}. Every demo account's password: {demo.DEMO_PASSWORD}")


@click.command("create-agency")
@click.argument("name")
@click.option("--timezone", default="Asia/Shanghai", show_default=True)
@click.option("--deadline-day", default=5, show_default=True, type=click.IntRange(1, 28))
def create_agency_command(name: str, timezone: str, deadline_day: int) -> None:
    """Create an agency (机关)."""
    agency = Agency(name=name, timezone=timezone, deadline_day=deadline_day)
    db.session.add(agency)
    db.session.flush()
    auditlog.record("agency.created", agency, name=name)
    db.session.commit()
    click.echo(f"Agency {name} created.")


@click.command("create-user")
@click.option("--staff-no", prompt=True)
@click.option("--name", prompt=True)
@click.option("--email", default="", prompt=True)
@click.option("--department", default="", help="Department name (created if new).")
@click.option("--role", "roles", multiple=True, type=click.Choice(sorted(ROLES)),
              default=["auditor"], show_default=True)
@click.option("--joined-on", type=click.DateTime(["%Y-%m-%d"]), default=None)
@click.option("--agency", "agency_name", default=None)
@click.password_option(prompt=True)
def create_user_command(staff_no: str, name: str, email: str, department: str,
                        roles: tuple[str, ...], joined_on, agency_name: str | None,
                        password: str) -> None:
    """Create an account."""
    agency = _agency(agency_name)
    if db.session.scalar(sa.select(User).where(User.staff_no == staff_no)):
        raise click.ClickException(f"Staff number {staff_no} is taken.")
    dept = None
    if department:
        dept = db.session.scalar(sa.select(Department).where(
            Department.agency_id == agency.id, Department.name == department))
        dept = dept or Department(agency=agency, name=department)
    user = User(agency=agency, department=dept, staff_no=staff_no, name=name,
                email=email or None, password_hash=hash_password(_check_password(password)),
                joined_on=joined_on.date() if joined_on else date.today())
    user.roles = set(roles)
    db.session.add(user)
    db.session.flush()
    auditlog.record("user.created", user, staff_no=staff_no, roles=sorted(roles))
    db.session.commit()
    click.echo(f"Account {staff_no} ({name}) created.")


@click.command("set-password")
@click.argument("staff_no")
@click.password_option(prompt=True)
def set_password_command(staff_no: str, password: str) -> None:
    """Set an account's password; its sessions end."""
    user = db.session.scalar(sa.select(User).where(User.staff_no == staff_no))
    if user is None:
        raise click.ClickException(f"No account with staff number {staff_no}.")
    user.password_hash = hash_password(_check_password(password))
    end_all_sessions(user)
    auditlog.record("user.password_set", user)
    db.session.commit()
    click.echo(f"Password of {staff_no} set.")


@click.command("import-users")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--agency", "agency_name", default=None)
def import_users_command(file: Path, agency_name: str | None) -> None:
    """Import staff from a CSV file (UTF-8 or GBK); all rows or none."""
    agency = _agency(agency_name)
    results = userimport.check(agency, file.read_bytes())
    bad = [r for r in results if r.errors]
    for result in bad:
        click.echo(f"line {result.line} ({result.staff_no or '-'}): {'; '.join(result.errors)}",
                   err=True)
    if bad:
        raise click.ClickException(f"{len(bad)} row(s) have errors; nothing was imported.")
    changed = userimport.apply(agency, results, date.today())
    db.session.commit()
    counts = {a: sum(r.action == a for r in results) for a in ("create", "update", "unchanged")}
    click.echo(f"Imported: {counts['create']} created, {counts['update']} updated, "
               f"{counts['unchanged']} unchanged ({changed} changed).")


def init_app(app: Flask) -> None:
    for command in (demo_command, create_agency_command, create_user_command,
                    set_password_command, import_users_command):
        app.cli.add_command(command)
