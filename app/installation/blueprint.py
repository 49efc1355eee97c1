"""The installation administrator's pages: the agency tree, each agency's administrators, the
installation's mail settings. Every route is for the `install_admin` role."""

from flask import Blueprint

bp = Blueprint("installation", __name__, url_prefix="/installation")

from app.installation import routes  # noqa: E402,F401
