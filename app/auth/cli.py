"""`flask signin-link STAFF_NO` and `flask two-factor-reset STAFF_NO`, for the server's operator."""

from __future__ import annotations

import click
import sqlalchemy as sa

from app.auth import tokens, twofactor
from app.auth.security import end_all_sessions
from app.core import auditlog
from app.core.codes import LinkPurpose
from app.core.extensions import db
from app.models import User


def _account(staff_no: str) -> User:
    user = db.session.scalar(sa.select(User).where(User.staff_no == staff_no.strip()))
    if user is None:
        raise click.ClickException(f"No account with staff number {staff_no}.")
    return user


@click.command("signin-link")
@click.argument("staff_no")
def signin_link_command(staff_no: str) -> None:
    """Issue a one-time link to set the password (e-mailed if the account has an address)."""
    user = _account(staff_no)
    if not user.active:
        raise click.ClickException(f"The account {user.staff_no} is deactivated.")
    purpose = LinkPurpose.FIRST if user.password_hash is None else LinkPurpose.RESET
    issued = tokens.issue(user, purpose)
    db.session.commit()
    where = f" (also queued for {user.email})" if issued.emailed else ""
    click.echo(f"Link for {user.staff_no}, valid once until {issued.expires_at:%Y-%m-%d %H:%M} "
               f"UTC{where}:\n{issued.url}")


@click.command("two-factor-reset")
@click.argument("staff_no")
def two_factor_reset_command(staff_no: str) -> None:
    """Turn off an account's second factor (lost phone and recovery codes); its sessions end.
    A role that requires one enrols again at the next sign-in."""
    user = _account(staff_no)
    twofactor.disable(user)
    end_all_sessions(user)
    auditlog.record("auth.two_factor_reset", user)
    db.session.commit()
    click.echo(f"Two-factor sign-in of {user.staff_no} is off; its sessions have ended.")
