"""The installation's settings: the mail server and the portal's address (one row), changed by
the installation administrator with the audit trail; the SMTP password is stored encrypted and
logged masked."""

from __future__ import annotations

from app.admin.agencysettings import masked
from app.core import auditlog, clock, mailsettings
from app.core.extensions import db
from app.models import MailSettings


def update_mail(values: dict) -> dict[str, list[object]]:
    """Store the mail settings given (fields pinned by the environment are not in `values`).

    `values["smtp_password"]`: a new password, "" to remove it, None to keep the stored one.
    """
    row = mailsettings.stored()
    if row is None:
        row = MailSettings(id=1)  # the one row (a check constraint allows no other)
        db.session.add(row)
    changes = {}
    for key, new in values.items():
        if key == "smtp_password":
            if new is None:
                continue
            old = row.smtp_password
            row.smtp_password = mailsettings.encrypt(new) if new else None
            if old != row.smtp_password:
                changes[key] = [masked(old), masked(new)]
        elif getattr(row, key) != new:
            changes[key] = [getattr(row, key), new]
            setattr(row, key, new)
    if changes:
        row.updated_at = clock.now()
        db.session.flush()
        auditlog.record("mail_settings.changed", row, changes=changes)
    mailsettings.forget()
    return changes
