"""The bell (a user's notices, with the unread count) and the administrator's outbox page."""

from flask import Blueprint

# cli_group=None: `flask reminders …` and `flask scheduler` sit at the top level.
bp = Blueprint("notices", __name__, url_prefix="/notices", cli_group=None)

from app.notices import routes  # noqa: E402,F401
