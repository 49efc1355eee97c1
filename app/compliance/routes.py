"""The filing compliance dashboard and its exports, for the reviewer, leader and admin roles.

Leaders and administrators may be the very people who interfered, so nothing here reads
incident content: only who must file, who has, when, and whether the report was a zero
report. The figures come from app.compliance, in a fixed number of queries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from flask import abort, render_template, request
from flask_babel import get_timezone
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.compliance import rates
from app.compliance.blueprint import bp
from app.compliance.forms import PeriodForm
from app.core import auditlog, clock, exports
from app.core.access import COMPLIANCE, require
from app.core.codes import FilingStatus
from app.core.extensions import db
from app.filing.periods import DeadlineRule, Period
from app.filing.records import deadline_rule
from app.models import Agency, User
from app.statement import confirmations

# The same wording and colours as the status_badge macro (_form.html).
STATUS_LABELS = {
    FilingStatus.ON_TIME: _l("Filed on time"),
    FilingStatus.LATE: _l("Filed late"),
    FilingStatus.MISSING: _l("Missing (overdue)"),
    FilingStatus.DUE: _l("Due"),
    FilingStatus.NOT_OPEN: _l("Not yet due"),
}
COLOURS = {FilingStatus.ON_TIME: "#198754", FilingStatus.LATE: "#ffc107",
           FilingStatus.MISSING: "#dc3545", FilingStatus.DUE: "#0d6efd",
           FilingStatus.NOT_OPEN: "#adb5bd"}
EXPORT_HEADER = [_l("Staff number"), _l("Name"), _l("Department"), _l("Status"),
                 _l("Filed at"), _l("Late"), _l("Report")]


def _me() -> User:
    return current_user._get_current_object()


def _period(form: PeriodForm, rule: DeadlineRule, now: datetime) -> Period:
    """The period asked for, else the one currently due (last month)."""
    form.validate()
    return form.chosen() or rule.period_due(now)


@bp.route("/")
@require(COMPLIANCE)
def index():
    agency, now = _me().agency, clock.now()
    rule = deadline_rule(agency)
    form = PeriodForm(request.args)
    period = _period(form, rule, now)
    if not form.period.data:
        form.period.data = str(period)
    figures = rates.period_figures(agency, period, now, rates.PAGE_NON_FILERS,
                                        rule=rule)
    points = rates.trend(agency, period, now, rule=rule, last=figures.total)
    return render_template(
        "compliance/index.html", form=form, period=period, figures=figures, points=points,
        chart=chart(points), labels=STATUS_LABELS, colours=COLOURS, now=now,
        confirmation_status=_confirmation_status(agency, now),
    ), 400 if form.period.errors else 200


def _confirmation_status(agency: Agency, now: datetime) -> confirmations.Status | None:
    """Who has not given the personal annual confirmation, while it is open."""
    year = confirmations.default_year(agency, now)
    if not confirmations.is_open(agency, year, now):
        return None
    return confirmations.status(agency, year, rates.PAGE_NON_FILERS)


@bp.route("/export.<any(csv, xlsx):fmt>")
@require(COMPLIANCE)
def export(fmt: str):
    """The compliance table, one line per person: statuses only, never incident content."""
    agency, now = _me().agency, clock.now()
    rule = deadline_rule(agency)
    form = PeriodForm(request.args)
    period = _period(form, rule, now)
    if form.period.errors:
        abort(400)
    labels = {status: str(text) for status, text in STATUS_LABELS.items()}
    words = {"zero": _("Zero report"), "with": _("With incidents"), "none": _("No department"),
             True: _("Yes"), False: _("No")}
    # The reader's zone as zoneinfo has it: the same IANA zone as Babel's (pytz) object, but
    # converting 100,000 times with it takes a third of the time.
    tz = ZoneInfo(str(get_timezone()))
    rows = [_export_row(person, labels, words, tz)
            for person in rates.people(agency, period, now, rule=rule)]
    auditlog.record("compliance.exported", agency, period=str(period), format=fmt,
                    count=len(rows))
    db.session.commit()
    header = [str(title) for title in EXPORT_HEADER]
    name = f"compliance-{period}.{fmt}"
    if fmt == "csv":
        return exports.send(exports.csv_bytes(header, rows), name, "csv")
    title = _("Compliance %(period)s", period=period)
    return exports.send(exports.xlsx_bytes(title, header, rows), name, "xlsx")


def _export_row(person: rates.PersonRow, labels: dict[str, str], words: dict,
                tz: tzinfo) -> list[str]:
    """One person's line. Texts are translated once per export, not per line, and times
    are formatted like the `localtime` filter (yyyy-MM-dd HH:mm, the reader's zone)
    without Babel's per-call cost: an export may hold 100,000 lines."""
    report = "" if person.zero is None else words["zero"] if person.zero else words["with"]
    # isoformat is twice as fast as strftime; its first 16 characters are the same text
    filed_at = person.filed_at.astimezone(tz).isoformat(" ", "minutes")[:16] \
        if person.filed_at else ""
    return [person.staff_no, person.name, person.department or words["none"],
            labels[person.status], filed_at, words[person.late], report]


# The trend chart: geometry computed here, drawn as inline SVG by the template --------------

CHART_WIDTH, CHART_HEIGHT = 720, 220
PLOT_LEFT, PLOT_TOP, PLOT_HEIGHT = 44, 10, 170
SLOT = (CHART_WIDTH - PLOT_LEFT - 8) / rates.TREND_MONTHS
BAR = SLOT * 0.62
# bottom to top
STACK = (FilingStatus.ON_TIME, FilingStatus.LATE, FilingStatus.MISSING, FilingStatus.DUE,
         FilingStatus.NOT_OPEN)


@dataclass(frozen=True)
class Segment:
    status: str
    count: int
    y: float
    height: float


@dataclass(frozen=True)
class Bar:
    period: Period
    x: float
    label_x: float
    expected: int
    segments: list[Segment]


def chart(points: list[rates.TrendPoint]) -> dict:
    """Stacked bars, one per month, each the share of expected reports per status."""
    bars = []
    for index, point in enumerate(points):
        counts = {status: getattr(point.figures, status) for status in STACK}
        segments, bottom = [], PLOT_TOP + PLOT_HEIGHT
        for status in STACK:
            if counts[status] and point.figures.expected:
                height = PLOT_HEIGHT * counts[status] / point.figures.expected
                bottom -= height
                segments.append(Segment(status, counts[status], round(bottom, 2),
                                        round(height, 2)))
        x = PLOT_LEFT + index * SLOT + (SLOT - BAR) / 2
        bars.append(Bar(point.period, round(x, 2), round(x + BAR / 2, 2),
                        point.figures.expected, segments))
    gridlines = [(percent, round(PLOT_TOP + PLOT_HEIGHT * (1 - percent / 100), 2))
                 for percent in (0, 50, 100)]
    return {"width": CHART_WIDTH, "height": CHART_HEIGHT, "left": PLOT_LEFT,
            "right": CHART_WIDTH - 8, "bar": round(BAR, 2), "bars": bars,
            "gridlines": gridlines, "label_y": PLOT_TOP + PLOT_HEIGHT + 18}
