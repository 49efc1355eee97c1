"""`flask keys`: seal what is still in clear, restore the office's access with the recovery
key, and show where the keys stand. None of these commands can read any content."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from app.core import auditlog, clock
from app.core.extensions import db
from app.keys import custody, fingerprints, sealing
from app.models import AgencyKey, Incident, KeyGrant, User

keys_group = AppGroup("keys", help="Content encryption at rest: seal, recover, status, "
                                   "fingerprints.")


@keys_group.command("init")
@click.option("--batch", default=500, show_default=True,
              help="Registrations per transaction (years with a signed statement: the year).")
def init_command(batch: int) -> None:
    """Encrypt the registrations, evidence and TOTP secrets stored in clear (restartable)."""
    report = sealing.seal_everything(batch)
    click.echo(f"{report.sealed} registration(s) sealed, {report.statements} signed "
               f"statement(s) re-digested, {report.secrets} TOTP secret(s) sealed, "
               f"{report.fingerprinted} version(s) left in clear fingerprinted.")
    for problem in report.problems:
        click.echo(f"left in clear: {problem}", err=True)
    if report.problems:
        raise SystemExit(1)


@keys_group.command("recover")
@click.option("--staff-no", required=True, help="The office member to give the key to.")
@click.option("--recovery-key", prompt=True, hide_input=True,
              help="The printed recovery key (asked for when not given).")
def recover_command(staff_no: str, recovery_key: str) -> None:
    """Give a member of the discipline office the agency key again, with the recovery key."""
    member = db.session.scalar(sa.select(User).where(User.staff_no == staff_no))
    if member is None:
        raise click.ClickException(f"No account has staff number {staff_no}.")
    try:
        custody.recover(member.agency_id, recovery_key, member, clock.now())
    except custody.KeysRefused as refused:
        db.session.rollback()
        auditlog.record("keys.recovery_refused", member)
        db.session.commit()
        raise click.ClickException(str(refused)) from None
    db.session.commit()
    click.echo(f"{member.name} ({staff_no}) can open the content again.")


@keys_group.command("status")
def status_command() -> None:
    """Per agency: keys set up, members holding the key, registrations still in clear."""
    for agency_id, ready in db.session.execute(
            sa.select(Incident.agency_id, AgencyKey.agency_id).distinct()
            .outerjoin(AgencyKey, AgencyKey.agency_id == Incident.agency_id)):
        holders = db.session.scalar(sa.select(sa.func.count()).select_from(KeyGrant)
                                    .where(KeyGrant.agency_id == agency_id))
        clear = db.session.scalar(sa.select(sa.func.count()).select_from(Incident).where(
            Incident.agency_id == agency_id, Incident.key_for_agency.is_(None)))
        click.echo(f"agency {agency_id}: keys {'set up' if ready else 'NOT set up'}, "
                   f"{holders} holder(s), {clear} registration(s) in clear")


@keys_group.command("fingerprints")
def fingerprints_command() -> None:
    """Fingerprint the names still in clear; count, per agency, the sealed ones without one."""
    made, _left = fingerprints.fill(sa.true())  # this command holds no key: clear text only
    click.echo(f"{made} incident version(s) fingerprinted.")
    waiting = fingerprints.missing(sa.true()).subquery()
    for agency_id, count in db.session.execute(
            sa.select(waiting.c.agency_id, sa.func.count()).group_by(waiting.c.agency_id)
            .order_by(waiting.c.agency_id)):
        click.echo(f"agency {agency_id}: {count} sealed version(s) without a fingerprint, made "
                   "when its discipline office next opens its queue for their year")
