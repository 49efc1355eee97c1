from flask import Blueprint

bp = Blueprint("filings", __name__)

from app.filings import routes  # noqa: E402,F401
