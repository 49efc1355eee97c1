"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for the tests.

It can be stopped and started again on the same port, to play an SMTP server that is down.
"""

from __future__ import annotations

import asyncio
import socket
from email import message_from_bytes, policy
from email.message import EmailMessage

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Sink:
    """The aiosmtpd handler: every accepted message, parsed, with its envelope recipients.

    `delay` plays a slow relay (seconds before each message is accepted); addresses in
    `refused` are rejected for good (550), as a server does for a mailbox that does not exist.
    """

    def __init__(self) -> None:
        self.received: list[tuple[list[str], EmailMessage]] = []
        self.delay = 0.0
        self.refused: set[str] = set()
        self.started = 0  # messages whose data has arrived, accepted or not yet

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:
        if address in self.refused:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:  # aiosmtpd names it so
        self.started += 1
        await asyncio.sleep(self.delay)
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
