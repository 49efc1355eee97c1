"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for the tests.

It can be stopped and started again on the same port, to play an SMTP server that is down.
"""

from __future__ import annotations

import socket
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Sink:
    """The aiosmtpd handler: every accepted message, parsed, with its envelope recipients."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd names it so
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted"


class SmtpServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.sink = Sink()
        self._controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.sink, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        return [message for _rcpt, message in self.sink.received]

    def to(self, address: str) -> list[EmailMessage]:
        return [message for rcpt, message in self.sink.received if address in rcpt]


def configure(monkeypatch, app, server: SmtpServer) -> None:
    """Point the app at `server` (its config is session-wide: monkeypatch undoes it)."""
    for key, value in {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": server.port, "SMTP_TLS": False,
                       "SMTP_USER": "", "MAIL_FROM": "portal@xq-audit.example",
                       "PORTAL_BASE_URL": "https://portal.example", "SMTP_TIMEOUT": 5}.items():
        monkeypatch.setitem(app.config, key, value)


def body(message: EmailMessage, subtype: str = "plain") -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None, f"no text/{subtype} part"
    return part.get_content()
