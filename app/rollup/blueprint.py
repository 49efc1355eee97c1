"""The roll-up (discipline office and leaders of an agency with agencies below it)."""

from flask import Blueprint

bp = Blueprint("rollup", __name__, url_prefix="/rollup")

from app.rollup import routes  # noqa: E402,F401
