"""The operator's commands for the installation: `installation grant|withdraw|tree`.

The installation administrator's role is given here only, never on a page: whoever holds it
arranges the agencies and appoints their administrators.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from app.core.cli import default_locale, refusable
from app.installation import agencies
from app.review.cli import account

installation_group = AppGroup("installation",
                              help="The installation administrator and the agency tree.")


@installation_group.command("grant")
@click.argument("staff_no")
@default_locale
def grant_command(staff_no: str) -> None:
    """Make an account the installation administrator (there may be several)."""
    user = account(staff_no)
    refusable(lambda: agencies.make_installation_admin(user),
          f"{user.staff_no} ({user.name}) is now an installation administrator.")


@installation_group.command("withdraw")
@click.argument("staff_no")
@default_locale
def withdraw_command(staff_no: str) -> None:
    """Withdraw the installation administrator's role."""
    user = account(staff_no)
    refusable(lambda: agencies.end_installation_admin(user),
          f"{user.staff_no} ({user.name}) is no longer an installation administrator.")


@installation_group.command("tree")
def tree_command() -> None:
    """The agencies, each under its parent, with their active staff and administrators."""
    for node in agencies.tree():
        admins = ", ".join(user.staff_no for user in node.admins) or "no administrator"
        click.echo(f"{'  ' * node.depth}{node.agency.name} (id {node.agency.id}): "
                   f"{node.staff} active; {admins}")
