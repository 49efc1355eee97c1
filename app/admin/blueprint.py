"""Administration: accounts, bulk import, departments, audit projects, settings.

Every route is for the `admin` role and works on the administrator's own agency; ids of another
agency answer 404. None of these pages shows incident content.
"""

from flask import Blueprint

bp = Blueprint("admin", __name__, url_prefix="/admin")

from app.admin import routes  # noqa: E402,F401
