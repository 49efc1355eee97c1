"""Language and time-zone selection for Flask-Babel.

Chinese is the default for everyone; a user's choice is kept on their account (so e-mails follow
it) and, before login, in the session.
"""

from __future__ import annotations

from flask import current_app, has_request_context, session
from flask_login import current_user


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    chosen = session.get("lang") if has_request_context() else None
    if chosen in languages:
        return chosen
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    if current_user and current_user.is_authenticated:
        return current_user.agency.timezone
    return current_app.config["BABEL_DEFAULT_TIMEZONE"]
