"""The roll-up pages: the year's figures and statements, and filing compliance, of the signed-in
user's agency and every agency below it.

The discipline office and leaders of a city bureau read them; leaders may be the people who
interfered, so nothing here reads incident content or names persons who interfered: counts,
statuses, digests, and (in the drill-down, as on an agency's own compliance page) the names of
those who have not filed. Who sees which agency is access.rollup_*_or_404's answer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import render_template, request, url_for
from flask_babel import get_timezone
from flask_babel import gettext as _
from flask_login import current_user

from app.compliance import rates
from app.compliance.forms import PeriodForm
from app.compliance.routes import STATUS_LABELS
from app.core import access, clock, tree
from app.core.access import ROLLUP, require
from app.core.bounds import MAX_ID, MAX_YEAR, MIN_YEAR, int_arg
from app.filing.periods import Period
from app.filing.records import deadline_rule
from app.models import Agency, User
from app.rollup import summary
from app.rollup.blueprint import bp
from app.statement import confirmations, document


def _me() -> User:
    return current_user._get_current_object()


def _period(form: PeriodForm, agency: Agency, now: datetime) -> Period:
    """The month asked for, else the one the agency has due now (last month)."""
    form.validate()
    period = form.chosen() or deadline_rule(agency).period_due(now)
    if not form.period.data:
        form.period.data = str(period)
    return period


def _link_to(endpoint: str, **args: object) -> Callable[[int], str]:
    """url_for(endpoint, agency_id=..., **args) for each of thousands of agencies: the URL is
    built once and each id put in its place (building each costs more than the page's SQL)."""
    marker = str(MAX_ID)
    head, tail = url_for(endpoint, agency_id=MAX_ID, **args).split(marker, 1)
    return lambda agency_id: f"{head}{agency_id}{tail}"


def _day() -> Callable[[datetime], str]:
    """A time as the reader's calendar day, yyyy-MM-dd (the localtime filter's date, without
    Babel's cost on each of thousands of lines)."""
    zone = ZoneInfo(str(get_timezone()))
    return lambda moment: moment.astimezone(zone).date().isoformat()


def _trail(target: Agency) -> list[Agency]:
    """The way down from the user's own agency to `target`: never anything above the user's."""
    path = tree.path(target.id)
    return path[[a.id for a in path].index(_me().agency_id):]


def _breakdowns(total: summary.YearFigures) -> list[document.Table]:
    """The summed figures by kind, category, channel, relation and disposition: the
    statement's tables."""
    return [
        document.counted("kind", _("Incidents by kind"), _("Kind"), total.by("kind"), "kinds"),
        document.counted("category", _("Incidents by behaviour category"), _("Category"),
                         total.by("category"), "category"),
        document.counted("channel", _("Incidents by channel"), _("Channel"),
                         total.by("channel"), "channels"),
        document.counted("relation", _("Incidents by relation of the person"), _("Relation"),
                         total.by("relation"), "relations"),
        document.counted("disposition", _("Incidents by disposition"), _("Status"),
                         total.by("disposition"), "disposition"),
    ]


def _year_page(root: Agency):
    now = clock.now()
    year = int_arg("year", confirmations.default_year(root, now), low=MIN_YEAR, high=MAX_YEAR)
    rolled = summary.year_rollup(root, year)
    total = rolled.total
    return render_template("rollup/year.html", root=root, rolled=rolled, total=total,
                           tables=_breakdowns(total), trail=_trail(root), day=_day(),
                           link=_link_to("rollup.agency", year=year))


@bp.route("/")
@require(ROLLUP)
def index():
    """The year of the user's agency and all below it: figures and statements."""
    return _year_page(access.rollup_root_or_404(_me()))


@bp.route("/agency/<int:agency_id>")
@require(ROLLUP)
def agency(agency_id: int):
    """The same for one agency of the subtree (and those below it)."""
    return _year_page(access.rollup_agency_or_404(_me(), agency_id))


@bp.route("/compliance")
@require(ROLLUP)
def compliance():
    """Filing compliance for a month, per agency of the subtree and for the whole."""
    root, now = access.rollup_root_or_404(_me()), clock.now()
    form = PeriodForm(request.args)
    period = _period(form, root, now)
    return render_template(
        "rollup/compliance.html", root=root, form=form, period=period, now=now,
        rolled=summary.period_rollup(root, period, now), labels=STATUS_LABELS,
        link=_link_to("rollup.non_filers", period=str(period)),
    ), 400 if form.period.errors else 200


@bp.route("/compliance/<int:agency_id>")
@require(ROLLUP)
def non_filers(agency_id: int):
    """One agency's figures for the month, by department, with who has not filed."""
    target, now = access.rollup_agency_or_404(_me(), agency_id), clock.now()
    form = PeriodForm(request.args)
    period = _period(form, target, now)
    figures = rates.period_figures(target, period, now, rates.PAGE_NON_FILERS)
    return render_template(
        "rollup/non_filers.html", target=target, form=form, period=period, now=now,
        figures=figures, labels=STATUS_LABELS, trail=_trail(target),
    ), 400 if form.period.errors else 200
