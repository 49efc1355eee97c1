"""Language and time-zone selection for Flask-Babel.

Chinese is the default for everyone; a user's choice is kept on their account (so e-mails follow
it) and, before login, in the session.
"""

from __future__ import annotations

from datetime import date

from babel.dates import format_skeleton
from flask import current_app, has_request_context, session
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
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


# The zones of China by the names people use for them, offered first and shown instead of the
# IANA name ("北京时间", not "Asia/Shanghai").
ZONE_NAMES = {
    "Asia/Shanghai": _l("Beijing time"),
    "Asia/Urumqi": _l("Xinjiang time"),
    "Asia/Hong_Kong": _l("Hong Kong time"),
    "Asia/Macau": _l("Macao time"),
    "Asia/Taipei": _l("Taipei time"),
}


def zone_name(zone: str) -> str:
    """A time zone as the reader says it; any other zone by its IANA name."""
    return str(ZONE_NAMES.get(zone, zone))


def month_label(period: object) -> str:
    """A month as a reader writes it: "2025年3月", "March 2025" (the code "2025-03" stays in
    addresses and in the database). Anything that is not a month is returned as it is."""
    text = str(period)
    if len(text) != 7 or text[4] != "-" or not (text[:4] + text[5:]).isdigit():
        return text
    return format_skeleton("yMMMM", date(int(text[:4]), int(text[5:]), 1),
                           locale=str(get_locale() or "zh_CN"))
