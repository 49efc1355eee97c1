"""The test e-mail an administrator sends to check the mail settings."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_login import current_user

from app.core import auditlog, mailsettings
from app.core.codes import NoticeStatus
from app.core.extensions import db
from app.notices import delivery, outbox


def send(address: str) -> tuple[str, str]:
    """Send one test e-mail now, through the installation's mail settings; what to tell the
    sender (message, category): for the outbox page and the installation's settings."""
    row = outbox.test_mail(current_user._get_current_object(), address)
    auditlog.record("outbox.test_mail", row, address=row.email)
    db.session.commit()
    delivery.send_now(row)
    db.session.refresh(row)
    if not mailsettings.effective().smtp_host:
        return _("No mail server is configured (SMTP_HOST): the test e-mail waits in the "
                 "outbox."), "warning"
    if row.status == NoticeStatus.SENT:
        return _("Test e-mail sent to %(address)s.", address=row.email), "success"
    return _("The test e-mail could not be sent: %(error)s. It will be retried.",
             error=row.last_error or _("unknown error")), "danger"
