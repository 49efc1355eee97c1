"""Changing an agency's settings, with the audit trail.

Every change is logged with the old and the new value of each field that changed; a secret (a
channel's address or secret) is logged as masked, never in clear. The callers validate first:
these functions only apply and flush.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask_babel import gettext as _

from app.core import auditlog, clock, mailsettings
from app.core.codes import Channel
from app.core.extensions import db
from app.core.refusals import Invalid
from app.models import Agency, CalendarDay, ChannelSettings
from app.notices import channels
from app.notices.reminders import SCHEDULE_FIELDS

AGENCY_FIELDS = ("name", "timezone", "deadline_day", "shift_to_workday",
                 "document_number_pattern", *(f"reminder_{name}" for name in SCHEDULE_FIELDS),
                 "review_due_days", "review_digest")
# A blank review deadline is the default (the column's, app/models.py Agency).
DEFAULT_REVIEW_DUE_DAYS = 10
# The last reminder of a period must come before the round stops looking at that period
# (app/notices/reminders.py LOOKBACK): a month after the due day is safe for any deadline day.
MAX_REMINDER_SPAN_DAYS = 30


def schedule_problem(values: dict, defaults: dict[str, int]) -> str:
    """Why a reminder schedule cannot work, or ""."""
    def get(name: str) -> int:
        value = values.get(f"reminder_{name}")
        return defaults[name] if value is None else value

    for every, times in (("overdue_every_days", "overdue_times"),
                         ("digest_every_days", "digest_times")):
        if 1 + get(every) * get(times) > MAX_REMINDER_SPAN_DAYS:
            return _("Reminders must end within %(days)d days after the due day: fewer or "
                     "closer repeats, please.", days=MAX_REMINDER_SPAN_DAYS)
    return ""


def update_agency(agency: Agency, values: dict) -> dict[str, list[object]]:
    if values.get("review_due_days") is None:
        values = {**values, "review_due_days": DEFAULT_REVIEW_DUE_DAYS}
    changes = {key: [getattr(agency, key), values[key]] for key in AGENCY_FIELDS
               if getattr(agency, key) != values[key]}
    for key, (_old, new) in changes.items():
        setattr(agency, key, new)
    if changes:
        db.session.flush()
        auditlog.record("agency.settings_changed", agency, changes=changes)
    return changes


def masked(value: object) -> object:
    return mailsettings.MASK if value else value


class SettingsError(Invalid):
    """A change refused, with a message for the administrator."""


def update_channel(agency: Agency, channel: str, url: str, secret: str, enabled: bool,
                   clear: bool) -> dict[str, list[object]]:
    """Store one messaging channel of the agency (app/notices/channels.py). A blank `url` or
    `secret` keeps the stored one; `clear` removes both (and switches the channel off). The
    address and the secret are stored encrypted and logged masked."""
    if url and not channels.valid_url(url):
        raise SettingsError(_("The webhook address starts with http:// or https://."))
    row = channels.settings_of(agency.id).get(channel)
    if row is None:
        row = ChannelSettings(agency_id=agency.id, channel=channel, enabled=False, url="",
                              secret="")
        db.session.add(row)
    old = {"url": row.url, "secret": row.secret, "enabled": row.enabled}
    if clear:
        row.url, row.secret, enabled = "", "", False
    if url:
        row.url = channels.seal(url)
    if secret:
        row.secret = channels.seal(secret)
    if enabled and not row.url:
        raise SettingsError(_("Enter the webhook address before switching the channel on."))
    if enabled and channel != Channel.WECOM and not row.secret:
        raise SettingsError(_("Enter the secret before switching the channel on."))
    row.enabled = enabled
    new = {"url": row.url, "secret": row.secret, "enabled": row.enabled}
    changes = {key: ([old[key], new[key]] if key == "enabled"
                     else [masked(old[key]), masked(new[key])])
               for key in new if old[key] != new[key]}
    if changes:
        row.updated_at = clock.now()
        db.session.flush()
        auditlog.record("channel_settings.changed", row, channel=channel, changes=changes)
    return changes


def calendar_days(agency: Agency) -> list[CalendarDay]:
    return list(db.session.scalars(sa.select(CalendarDay).where(
        CalendarDay.agency_id == agency.id).order_by(CalendarDay.day)))


def add_calendar_day(agency: Agency, day: date, is_workday: bool, note: str) -> CalendarDay:
    """Declare a date a working day or a day off for the agency's deadlines."""
    if db.session.scalar(sa.select(CalendarDay.id).where(
            CalendarDay.agency_id == agency.id, CalendarDay.day == day)) is not None:
        raise SettingsError(_("%(date)s is already declared: remove it first to change it.",
                              date=day.isoformat()))
    row = CalendarDay(agency_id=agency.id, day=day, is_workday=is_workday, note=note)
    db.session.add(row)
    db.session.flush()
    auditlog.record("calendar_day.added", row, day=day.isoformat(), is_workday=is_workday,
                    note=note)
    return row


def remove_calendar_day(row: CalendarDay) -> None:
    auditlog.record("calendar_day.removed", row, day=row.day.isoformat(),
                    is_workday=row.is_workday, note=row.note)
    db.session.delete(row)
