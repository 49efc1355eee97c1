"""Template filters and globals: local times in the agency's zone, vocabulary labels."""

from datetime import datetime, timedelta

from flask import Flask, request
from flask_babel import format_datetime, get_locale, ngettext
from flask_babel import gettext as _

from app.core import access, i18n, vocab
from app.core.codes import FilingStatus, LinkPurpose, NoticeStatus, ReviewStatus, StatementStatus
from app.core.forms import LanguageForm


def localtime(value: datetime | None, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    return format_datetime(value, fmt) if value else ""


def deadline(value: datetime) -> str:
    """A deadline instant (midnight after the due day) shown as the due day's last minute."""
    return localtime(value - timedelta(minutes=1))


def duration(value: timedelta) -> str:
    """A span in days and hours (or hours and minutes when under a day), e.g. "2天14小时"."""
    minutes = int(abs(value).total_seconds() // 60)
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    hours_text = ngettext("%(num)d hour", "%(num)d hours", hours)
    if days:
        larger, smaller = ngettext("%(num)d day", "%(num)d days", days), hours_text
    else:
        larger, smaller = hours_text, ngettext("%(num)d minute", "%(num)d minutes", minutes)
    # Two units side by side: "2 days 14 hours", "2天14小时".
    return _("%(larger)s %(smaller)s", larger=larger, smaller=smaller)


def label(vocabulary: str, code: str) -> str:
    if vocabulary == "category":
        return vocab.category_label(code)
    table = getattr(vocab, vocabulary.upper())
    return str(table.get(code, code))


def role_label(code: str) -> str:
    return str(vocab.ROLES.get(code, code))


def _context() -> dict:
    return {
        "language_form": LanguageForm(formdata=None, next=request.full_path.rstrip("?")),
        "categories": vocab.CATEGORIES,
        "kinds": vocab.KINDS,
        "get_locale": get_locale,
    }


def init_app(app: Flask) -> None:
    app.add_template_filter(localtime)
    app.add_template_filter(deadline)
    app.add_template_filter(duration, "timedelta")
    app.add_template_filter(role_label)
    app.add_template_filter(i18n.zone_name, "zone")
    app.add_template_filter(i18n.month_label, "month")
    app.add_template_global(label)
    app.add_template_global(access.can)
    app.add_template_global(access.can_roll_up)
    # Templates compare with the codes, never with string literals.
    for codes in (FilingStatus, LinkPurpose, NoticeStatus, ReviewStatus, StatementStatus):
        app.add_template_global(codes, codes.__name__)
    app.context_processor(_context)
