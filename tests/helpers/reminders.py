"""Times in the agency's zone, as the reminder schedule states them."""

from __future__ import annotations

from datetime import UTC, datetime


def local(*args: int) -> datetime:
    """A Beijing wall-clock time as the UTC instant (Beijing is UTC+8 all year)."""
    moment = datetime(*args, tzinfo=UTC)
    return moment.replace(hour=moment.hour - 8) if moment.hour >= 8 else moment
