"""The statement's conclusion, which follows the facts.

"全年未发生影响审计独立性的违规情形" only when no incident was determined a violation, no review
is open, and every expected report and personal confirmation is in; otherwise the obstacles, by
name and month, with an explicit violation count.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from flask_babel import get_locale, ngettext
from flask_babel import gettext as _

from app.statement.figures import Figures

VIOLATIONS, OPEN_REVIEWS, MISSING_REPORTS, PENDING_REPORTS, MISSING_CONFIRMATIONS = (
    "violations", "open_reviews", "missing_reports", "pending_reports",
    "missing_confirmations")


@dataclass(frozen=True)
class Obstacle:
    """What stands in the way of the clean conclusion: its kind and how many."""

    kind: str
    count: int


def obstacles(f: Figures) -> list[Obstacle]:
    """Empty exactly when the statement may say no violation affected audit independence."""
    found = [
        Obstacle(VIOLATIONS, f.violations),
        Obstacle(OPEN_REVIEWS, f.open_reviews),
        Obstacle(MISSING_REPORTS, f.reports.missing),
        Obstacle(PENDING_REPORTS, f.reports.due + f.reports.not_open),
        Obstacle(MISSING_CONFIRMATIONS, f.confirmations_missing),
    ]
    return [obstacle for obstacle in found if obstacle.count]


def is_clean(f: Figures) -> bool:
    return not obstacles(f)


def _separator() -> str:
    return "、" if str(get_locale()).startswith("zh") else ", "


def _by_month(counts: dict[str, int]) -> str:
    return _separator().join(f"{period}: {n}" for period, n in counts.items())


def _named(people: Iterable[str], listed: int, total: int) -> str:
    text = _separator().join(people)
    if total > listed:
        text += _(" and %(num)d more", num=total - listed)
    return text


def conclusion(f: Figures) -> list[str]:
    """The conclusion in the current language: one sentence, or the obstacles one by one,
    always starting with the explicit number of violations determined."""
    found = {obstacle.kind: obstacle.count for obstacle in obstacles(f)}
    if not found:
        # The official formula stays in Chinese in every language: it is what is signed.
        return [_("In %(year)d no violation affected audit independence "
                  "(全年未发生影响审计独立性的违规情形).", year=f.year)]
    lines = [_("The statement cannot conclude for %(year)d that no violation affected audit "
               "independence:", year=f.year),
             ngettext("%(num)d incident was determined to have affected audit independence.",
                      "%(num)d incidents were determined to have affected audit independence.",
                      f.violations)
             + (f" ({_by_month(f.violations_by_month)})" if f.violations else "")]
    if OPEN_REVIEWS in found:
        lines.append(ngettext("%(num)d review is still open (%(months)s).",
                              "%(num)d reviews are still open (%(months)s).",
                              f.open_reviews, months=_by_month(f.open_by_month)))
    if MISSING_REPORTS in found:
        lines.append(ngettext(
            "%(num)d monthly report is missing: %(list)s.",
            "%(num)d monthly reports are missing: %(list)s.", f.reports.missing,
            list=_named((f"{m.period} {m.name}" for m in f.missing_reports),
                        len(f.missing_reports), f.reports.missing)))
    if PENDING_REPORTS in found:
        lines.append(ngettext("%(num)d monthly report of the year is not yet due.",
                              "%(num)d monthly reports of the year are not yet due.",
                              found[PENDING_REPORTS]))
    if MISSING_CONFIRMATIONS in found:
        lines.append(ngettext(
            "%(num)d personal annual confirmation is missing: %(list)s.",
            "%(num)d personal annual confirmations are missing: %(list)s.",
            f.confirmations_missing,
            list=_named((p.name for p in f.missing_confirmations),
                        len(f.missing_confirmations), f.confirmations_missing)))
    return lines
