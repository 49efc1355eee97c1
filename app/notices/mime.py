"""A notice as an e-mail: plain text and HTML, UTF-8, RFC 2047 subject, a stable Message-ID.

The Message-ID is derived from the row, so the one repeat a crash between the server's acceptance
and our commit can cause is recognisable as the same message. A round's messages differ only in
To and Message-ID: `Wire` flattens the rest once per text and splices those two in.
"""

from __future__ import annotations

import hashlib
import io
import re
from email.generator import BytesGenerator
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, getaddresses
from typing import NamedTuple

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from app.core import mailsettings
from app.models import Outbox
from app.notices.texts import NO_CONTENT, content


def message_id(row: Outbox) -> str:
    """Stable across retries and processes: the same row always gives the same Message-ID."""
    return _message_id(row, _domain(mailsettings.effective().mail_from))


def _domain(mail_from: str) -> str:
    return mail_from.rpartition("@")[2] or "localhost"


def _message_id(row: Outbox, domain: str) -> str:
    digest = hashlib.sha256(row.key.encode()).hexdigest()[:24]
    return f"<outbox.{row.id}.{digest}@{domain}>"


def render(row: Outbox, locale: str) -> Message:
    """Plain text plus HTML in `locale`, UTF-8, with an RFC 2047-encoded subject."""
    return _compose(row, locale, row.email or "", message_id(row))


def _compose(row: Outbox, locale: str, to: str, mid: str) -> Message:
    """Built with the classic email API: the modern one parses every header it is given and
    costs half of the delivery time at national scale."""
    with force_locale(locale):
        text = content(row)
        url = text.mail_link
        plain = "\n\n".join([text.subject, *text.paragraphs,
                                _("Open the portal: %(url)s", url=url), str(NO_CONTENT)]) + "\n"
        html = current_app.jinja_env.get_template("notices/mail.html").render(
            content=text, url=url, no_content=str(NO_CONTENT))
    message = MIMEMultipart("alternative")
    message["Subject"] = Header(text.subject, "utf-8")
    message["From"] = mailsettings.effective().mail_from
    message["To"] = to
    message["Date"] = format_datetime(row.created_at)
    message["Message-ID"] = mid
    message.attach(MIMEText(plain, "plain", "utf-8"))
    message.attach(MIMEText(html, "html", "utf-8"))
    return message


class Mail(NamedTuple):
    """A message as smtplib's send_message would put it on the wire: envelope and bytes."""

    sender: str
    recipients: list[str]
    data: bytes


def _flatten(message: Message) -> bytes:
    """What send_message sends for an ASCII envelope."""
    with io.BytesIO() as out:
        BytesGenerator(out).flatten(message, linesep="\r\n")
        return out.getvalue()


# An address or Message-ID the header folder writes unchanged, so the fast path may write it
# itself: plain ASCII, nothing it splits at or encodes, on one line of at most 78 characters.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9.-]{1,70}")


_PLAIN_ID = re.compile(r"<[A-Za-z0-9._-]+@[A-Za-z0-9.-]+>")
_TO, _ID = "to@to.invalid", "<id@id.invalid>"  # placeholders, never in a base64 body


_TEMPLATES = 256  # notices of a round share one; sign-in links each have their own


class Wire:
    """Messages ready for the wire, for one delivery run.

    The notices of a round differ only in To and Message-ID: what else a message holds (its
    text in a locale, subject, From, Date, the two parts) is built and flattened once per
    (kind, period, params, date, locale), and each message is that template with its own two
    header lines spliced in, byte for byte what send_message would send
    (tests/notices/test_outbox.py compares them). An address or Message-ID the header folder
    would not leave as it is takes the classic way.
    """

    def __init__(self) -> None:
        self.mail_from = mailsettings.effective().mail_from
        self.sender = getaddresses([self.mail_from])[0][1]
        self.domain = _domain(self.mail_from)
        self._templates: dict[tuple, tuple[bytes, bytes, bytes] | None] = {}

    def mail(self, row: Outbox, locale: str) -> Mail | Message:
        email, mid = row.email or "", _message_id(row, self.domain)
        parts = None
        if (_PLAIN_ADDRESS.fullmatch(email) and len(email) <= 74
                and _PLAIN_ID.fullmatch(mid) and len(mid) <= 66 and self.sender.isascii()):
            parts = self._template(row, locale)
        if parts is None:
            return _compose(row, locale, email, mid)
        head, date, body = parts
        return Mail(self.sender, [email],
                     b"".join((head, b"To: ", email.encode(), b"\r\n", date, b"Message-ID: ",
                               mid.encode(), b"\r\n", body)))

    def _template(self, row: Outbox, locale: str) -> tuple[bytes, bytes, bytes] | None:
        key = (row.kind, row.period, row.params, row.created_at, locale)
        if key not in self._templates:
            if len(self._templates) >= _TEMPLATES:
                self._templates.clear()
            data = _flatten(_compose(row, locale, _TO, _ID))
            to_line, id_line = f"To: {_TO}\r\n".encode(), f"Message-ID: {_ID}\r\n".encode()
            head, _to, rest = data.partition(to_line)
            date, _id, body = rest.partition(id_line)
            whole = data.count(to_line) == data.count(id_line) == 1 and body
            self._templates[key] = (head, date, body) if whole else None
        return self._templates[key]
