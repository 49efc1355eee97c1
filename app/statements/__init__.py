"""The annual statement (discipline office and leaders) and the personal annual confirmation
(auditors)."""

from flask import Blueprint

# `flask statement verify|build YEAR`
bp = Blueprint("statements", __name__, cli_group="statement")

from app.statements import cli, routes  # noqa: E402,F401
