"""The rule for new passwords: a length, and not a common or easily guessed one.

Common passwords are recognised by zxcvbn (Dropbox's estimator, maintained on PyPI), which ships
the 30,000 most frequent passwords of public leaks plus common words and names, and finds them
also disguised (l33t, reversed, with digits or years added) or combined with keyboard patterns,
repeats and sequences. A password below PASSWORD_MIN_SCORE (3 of 4: about 10^8 guesses) is
refused. The account's own staff number, name and e-mail count as known words.
"""

from __future__ import annotations

from flask import current_app
from flask_babel import gettext as _
from zxcvbn import zxcvbn

from app.models import User

ZXCVBN_MAX = 72  # zxcvbn refuses longer input; the first 72 characters decide


def problem(password: str, user: User | None = None) -> str | None:
    """Why `password` may not be used (in the user's language), or None when it may."""
    low = current_app.config["PASSWORD_MIN_LENGTH"]
    high = current_app.config["PASSWORD_MAX_LENGTH"]
    if not low <= len(password) <= high:
        return _("A password has %(low)d to %(high)d characters.", low=low, high=high)
    known = [user.staff_no, user.name, user.email or ""] if user is not None else []
    estimate = zxcvbn(password[:ZXCVBN_MAX], user_inputs=[k for k in known if k])
    if estimate["score"] < current_app.config["PASSWORD_MIN_SCORE"]:
        return _("This password is too common or too easy to guess. Use a passphrase of "
                 "several unrelated words.")
    return None
