"""The discipline office's desk: review queue, incident review, referral sheet, audit log."""

from flask import Blueprint

bp = Blueprint("review", __name__, url_prefix="/review")

from app.review import routes  # noqa: E402,F401
