"""The annual statement (discipline office and leaders) and the personal annual confirmation
(auditors)."""

from flask import Blueprint

# `flask statement verify|build YEAR`
bp = Blueprint("statement", __name__, url_prefix="/statement")

from app.statement import cli, routes  # noqa: E402,F401
