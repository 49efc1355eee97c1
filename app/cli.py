"""Command-line interface: each area's commands (`app/<area>/cli.py`) and `demo`, which
composes them all.
"""

from __future__ import annotations

import click
from flask import Flask

from app import demo
from app.admin.cli import (
    admin_group,
    create_agency_command,
    create_user_command,
    import_projects_command,
    import_users_command,
    set_password_command,
)
from app.core import auditlog
from app.core.cli import audit_group, backup_group, doctor_command
from app.core.extensions import db
from app.filing.cli import evidence_group, tally_group
from app.installation.cli import installation_group
from app.keys import custody
from app.keys.cli import keys_group
from app.review.cli import office_group


@click.command("demo")
@click.option("--force", is_flag=True, help="Erase every record first, real data included.")
@click.option("--if-empty", is_flag=True, help="Do nothing (and succeed) if data exists.")
@click.option("--municipal", is_flag=True,
              help="A city bureau above three district bureaus, each with a year of filings.")
def demo_command(force: bool, if_empty: bool, municipal: bool) -> None:
    """Load the demo bureau (31 staff, 22 projects, a year of filings), or a city's."""
    if demo.has_data():
        if if_empty:
            click.echo("The database already holds data; demo not loaded.")
            return
        if not force:
            raise click.ClickException(
                "The database already holds data. Use --force to erase it and load the demo.")
        demo.wipe()
    agency = demo.load_municipal() if municipal else demo.load()
    details = {"force": force, **({"municipal": True} if municipal else {})}
    auditlog.record("demo.loaded", agency, **details)
    db.session.commit()
    click.echo(f"Demo loaded: {agency.name}. Every demo account's password: {demo.DEMO_PASSWORD}"
               f"; two-factor key of the privileged ones: {demo.DEMO_TOTP_SECRET}; the "
               f"agency's recovery key: {custody.format_recovery(demo.RECOVERY_CODE)}")
    if municipal:
        city = demo.MUNICIPAL_CITY
        click.echo(f"The city's roll-up: sign in as {city.staff_no(demo.OFFICE)} "
                   f"({city.named[2]}, discipline office) or {city.staff_no(demo.LEADER)} "
                   f"({city.named[0]}, leader); every district bureau is like the default demo "
                   f"({', '.join(d.name for d in demo.MUNICIPAL_DISTRICTS)}; the same "
                   f"recovery key); the installation administrator: {demo.INSTALLATION_ADMIN[0]}.")


def init_app(app: Flask) -> None:
    for command in (demo_command, create_agency_command, create_user_command,
                    set_password_command, import_users_command, import_projects_command,
                    admin_group, audit_group, office_group, installation_group, keys_group,
                    evidence_group, tally_group, backup_group, doctor_command):
        app.cli.add_command(command)
