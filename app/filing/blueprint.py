from flask import Blueprint

bp = Blueprint("filing", __name__, url_prefix="/filing")

from app.filing import routes  # noqa: E402,F401
