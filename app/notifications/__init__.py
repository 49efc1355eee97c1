"""The bell (a user's notices, with the unread count) and the administrator's outbox page."""

from flask import Blueprint

# cli_group=None: `flask reminders …` and `flask scheduler` sit at the top level.
bp = Blueprint("notifications", __name__, cli_group=None)

from app.notifications import routes  # noqa: E402,F401
