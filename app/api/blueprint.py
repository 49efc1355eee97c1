"""The read-only JSON API, /api/v1: filing compliance, the annual statement's state and signed
figures, departments and projects of one agency. Never any incident content.

Clients authenticate with an API token (app/api/tokens.py), not a session: the blueprint is
exempt from the portal's session sign-in (TOKEN_BLUEPRINTS in app/auth/security.py) and from
CSRF (every route is a GET, and a token in the Authorization header is never sent by a browser
on its own). Every call is in the audit log.
"""

from flask import Blueprint

from app.core.extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

from app.api import routes  # noqa: E402,F401
