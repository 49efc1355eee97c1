"""The operator's path into the discipline office: `office grant|withdraw|list`.
"""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from app.core import clock
from app.core.cli import agency_named, refusable
from app.core.extensions import db
from app.models import User
from app.review import office

office_group = AppGroup("office", help="The discipline office's members (the operator's path).")


def account(staff_no: str) -> User:
    user = db.session.scalar(sa.select(User).where(User.staff_no == staff_no.strip()))
    if user is None:
        raise click.ClickException(f"No account with staff number {staff_no}.")
    return user


@office_group.command("grant")
@click.argument("staff_no")
def office_grant_command(staff_no: str) -> None:
    """Make an account a member of its agency's discipline office: the first member of a new
    agency, or a repair when the office has lost everyone. Members co-opt the others."""
    user = account(staff_no)
    refusable(lambda: office.grant_by_operator(user, clock.now()),
                 f"{user.staff_no} ({user.name}) now belongs to the discipline office.")


@office_group.command("withdraw")
@click.argument("staff_no")
def office_withdraw_command(staff_no: str) -> None:
    """Take an account out of the discipline office."""
    user = account(staff_no)
    refusable(lambda: office.withdraw(None, user, clock.now()),
                 f"{user.staff_no} ({user.name}) no longer belongs to the discipline office.")


@office_group.command("list")
@click.option("--agency", "agency_name", default=None)
def office_list_command(agency_name: str | None) -> None:
    """The members of an agency's discipline office."""
    for member in office.members(agency_named(agency_name).id):
        click.echo(f"{member.staff_no}\t{member.name}")
