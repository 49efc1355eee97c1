"""The filing compliance dashboard (reviewer, leader, admin): who has filed, never what."""

from flask import Blueprint

bp = Blueprint("compliance", __name__, url_prefix="/compliance")

from app.compliance import routes  # noqa: E402,F401
