"""The portal's sane ranges for what users type or put in a URL: one bound each, shared by the
URL converters, the form fields and the query-string readers.

A value outside them is bad input (404 for an id, 400 with a message for anything else): it must
never reach the database or the calendar arithmetic, where it would fail as a server error
(SQLite cannot hold an integer beyond 64 bits, PostgreSQL's `integer` ends at 2^31 - 1, and a
date in year 1 cannot be moved to another time zone).
"""

from __future__ import annotations

import re
from datetime import date

from flask import abort, request
from werkzeug.routing import IntegerConverter

# Every id column is an `integer` (PostgreSQL's int4); page numbers and counts share the bound.
MAX_ID = 2**31 - 1
MIN_YEAR, MAX_YEAR = 2000, 2100
MIN_DATE, MAX_DATE = date(MIN_YEAR, 1, 1), date(MAX_YEAR, 12, 31)

# C0 control characters but tab, line feed and carriage return, and DEL: no text a person
# types holds them, PostgreSQL refuses NUL in text, and spreadsheets refuse the others.
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class BoundedIntConverter(IntegerConverter):
    """`<int:...>` limited to the id range: a larger number matches no route (404)."""

    def __init__(self, map, *args, **kwargs) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


class YearConverter(IntegerConverter):
    """`<year:...>`: a year of the portal's range; any other number matches no route (404)."""

    def __init__(self, map, *args, **kwargs) -> None:
        kwargs.setdefault("min", MIN_YEAR)
        kwargs.setdefault("max", MAX_YEAR)
        super().__init__(map, *args, **kwargs)


def has_control_character(text: str | None) -> bool:
    return bool(text) and CONTROL_CHARACTERS.search(text) is not None


def printable(text: str) -> str:
    """`text` without control characters, for an export of data written before they were
    refused (or behind the portal's back): a cell loses the character, the file still opens."""
    return CONTROL_CHARACTERS.sub("", text)


def int_arg(name: str, default: int, *, low: int = 1, high: int = MAX_ID) -> int:
    """An integer query parameter within [low, high]; anything else answers 400."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        abort(400)
    return int(raw)


def page_arg() -> int:
    """The `page` query parameter (1 when absent)."""
    return int_arg("page", 1)
