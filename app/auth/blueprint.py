from flask import Blueprint

# cli_group=None: `flask signin-link …` and `flask two-factor-reset …` sit at the top level.
bp = Blueprint("auth", __name__, url_prefix="/auth", cli_group=None)

from app.auth import cli, routes  # noqa: E402,F401

bp.cli.add_command(cli.signin_link_command)
bp.cli.add_command(cli.two_factor_reset_command)
