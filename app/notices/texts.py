"""What each notice says, in the reader's language, and which page it leads to.

Never the content of a registration: a subject, a few paragraphs from the row's plain
parameters, and a link to the page where the reader acts on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from flask import has_request_context, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.core import mailsettings
from app.core.codes import NoticeKind
from app.core.i18n import month_label
from app.models import Outbox

NO_CONTENT = _l("This e-mail never contains the content of a registration: sign in to the "
                "portal to see it.")


@dataclass(frozen=True)
class Content:
    subject: str
    paragraphs: list[str]
    page: tuple[str, dict]  # where the reader acts on it (endpoint, values), never the content

    @property
    def mail_link(self) -> str:
        """The page as an absolute address, for an e-mail (outside any request)."""
        return mailsettings.link(self.page[0], **self.page[1])

    @property
    def link(self) -> str:
        """The page's address for the bell: relative inside a request, else absolute."""
        return url_for(self.page[0], **self.page[1]) if has_request_context() else self.mail_link


OFFICE_NOTICES = (
    NoticeKind.OFFICE_PROPOSED,
    NoticeKind.OFFICE_GRANTED,
    NoticeKind.OFFICE_WITHDRAWN,
)


def _page(row: Outbox, params: dict) -> tuple[str, dict]:
    if row.kind in (NoticeKind.RETURNED, NoticeKind.FINISHED):
        return "filing.incident", {"incident_id": params["incident"]}
    if row.kind in (NoticeKind.LATE_INCIDENT, NoticeKind.INCIDENT_ARRIVED,
                    NoticeKind.INCIDENT_SUPPLEMENTED):
        return "review.incident", {"incident_id": params["incident"]}
    if row.kind == NoticeKind.ARRIVALS_DIGEST:
        return "review.queue", {"waiting": "me"}
    if row.kind == NoticeKind.REVIEWS_OVERDUE:
        return "review.queue", {"waiting": "overdue"}
    if row.kind == NoticeKind.LATE_REPORT:
        return "statement.show", {"year": int(params["year"])}
    if row.kind == NoticeKind.DIGEST:
        return "compliance.index", {}
    if row.kind == NoticeKind.TEST:
        return "home.index", {}
    if row.kind == NoticeKind.CONFIRM:
        return "statement.confirmation", {"year": int(row.period)}
    if row.kind in OFFICE_NOTICES:
        return "review.office_page", {}
    if row.kind == NoticeKind.SIGNIN:
        return (
            ("auth.welcome", {"token": params["token"]})
            if "token" in params
            else ("auth.login", {})
        )
    return "filing.report", {"period": row.period}


def _digest_lines(params: dict) -> list[str]:
    return [_("%(department)s, not filed: %(names)s",
              department=department or _("No department"), names=_list_separator().join(names))
            for department, names in params["missing"]]


def _list_separator() -> str:
    return "、" if str(get_locale()).startswith("zh") else ", "


def content(row: Outbox) -> Content:
    """The notice's text in the current locale (callers force the recipient's)."""
    params = json.loads(row.params)
    period, due = month_label(row.period), params.get("due", "")
    texts: dict[str, tuple[str, list[str]]] = {
        NoticeKind.OPEN: (
            _("The report for %(period)s can now be filed", period=period),
            [
                _(
                    "The month %(period)s is over: please file your monthly report (a zero report "
                    "if nothing happened). It is due by the end of %(due)s.",
                    period=period,
                    due=due,
                )
            ],
        ),
        NoticeKind.APPROACHING: (
            _("The report for %(period)s is due on %(due)s", period=period, due=due),
            [
                _(
                    "You have not filed your report for %(period)s yet. It is due by the end "
                    "of %(due)s.",
                    period=period,
                    due=due,
                )
            ],
        ),
        NoticeKind.DUE_TODAY: (
            _("The report for %(period)s is due today", period=period),
            [
                _(
                    "You have not filed your report for %(period)s yet. It is due by the end "
                    "of today, %(due)s.",
                    period=period,
                    due=due,
                )
            ],
        ),
        NoticeKind.OVERDUE: (
            _("The report for %(period)s is overdue", period=period),
            [
                _(
                    "Your report for %(period)s was due by the end of %(due)s and has not been "
                    "filed. Please file it now: it will be marked late.",
                    period=period,
                    due=due,
                )
            ],
        ),
        NoticeKind.RETURNED: (
            _("A registration of yours was returned for supplement"),
            [
                _(
                    "The discipline office asks you to supplement one of your registrations. "
                    "Sign in to the portal to see the request."
                )
            ],
        ),
        NoticeKind.FINISHED: (
            _("The review of a registration of yours is finished"),
            [
                _(
                    "The discipline office has finished reviewing one of your registrations. "
                    "Sign in to the portal to see the result."
                )
            ],
        ),
        NoticeKind.CONFIRM: (
            _("Your personal annual confirmation for %(year)s", year=period),
            [
                _(
                    "Please confirm for %(year)s that you registered every attempt to probe or "
                    "interfere with an audit matter, or write the exceptions. The discipline "
                    "office needs every confirmation for the annual statement.",
                    year=period,
                )
            ],
        ),
        NoticeKind.OFFICE_PROPOSED: (
            _("%(name)s has been proposed for the discipline office", name=params.get("name")),
            [
                _(
                    "A member of the discipline office has proposed %(name)s as a member. The role "
                    "is granted only when %(name)s accepts it in the portal.",
                    name=params.get("name"),
                )
            ],
        ),
        NoticeKind.OFFICE_GRANTED: (
            _("%(name)s has joined the discipline office", name=params.get("name")),
            [
                _(
                    "%(name)s now belongs to the discipline office and can review the agency's "
                    "registrations. Every grant and withdrawal is in the audit log.",
                    name=params.get("name"),
                )
            ],
        ),
        NoticeKind.OFFICE_WITHDRAWN: (
            _("%(name)s no longer belongs to the discipline office", name=params.get("name")),
            [
                _(
                    "The discipline office role of %(name)s has been withdrawn. Every grant and "
                    "withdrawal is in the audit log.",
                    name=params.get("name"),
                )
            ],
        ),
        NoticeKind.LATE_INCIDENT: (
            _("A registration of %(period)s came in after the statement was signed", period=period),
            [
                _(
                    "A registration of %(period)s was made after the annual statement "
                    "of its year was signed. Please review it and record an addendum to "
                    "the statement for it.",
                    period=period,
                )
            ],
        ),
        NoticeKind.LATE_REPORT: (
            _(
                "A monthly report of %(period)s came in after the statement was signed",
                period=period,
            ),
            [
                _(
                    "A monthly report of %(period)s was filed after the annual statement "
                    "of its year was signed. Please record an addendum to the statement "
                    "for it.",
                    period=period,
                )
            ],
        ),
        NoticeKind.TEST: (
            _("Test e-mail from the audit independence portal"),
            [_("If you can read this, the portal can send e-mail.")],
        ),
    }
    if row.kind == NoticeKind.DIGEST:
        count = sum(len(names) for _department, names in params["missing"])
        texts[NoticeKind.DIGEST] = (
            _("Reports for %(period)s not filed: %(num)d", period=period, num=count),
            [ngettext("%(num)d person has not filed the report for %(period)s, due by the end "
                      "of %(due)s:", "%(num)d people have not filed the report for %(period)s, "
                      "due by the end of %(due)s:", count, period=period, due=due),
             *_digest_lines(params)])
    if row.kind == NoticeKind.SIGNIN:
        texts[NoticeKind.SIGNIN] = _signin_text(params)
    if row.kind in OFFICE_REVIEW_NOTICES:
        texts[row.kind] = _office_review_text(row.kind, params)
    subject, paragraphs = texts[row.kind]
    return Content(subject, paragraphs, _page(row, params))


OFFICE_REVIEW_NOTICES = (NoticeKind.INCIDENT_ARRIVED, NoticeKind.INCIDENT_SUPPLEMENTED,
                         NoticeKind.ARRIVALS_DIGEST, NoticeKind.REVIEWS_OVERDUE)


def _office_review_text(kind: str, params: dict) -> tuple[str, list[str]]:
    """To the discipline office: that something waits for it, by number and count only."""
    days = int(params.get("due_days", 10))
    due = ngettext("Its review is due within %(num)d working day.",
                   "Its review is due within %(num)d working days.", days)
    if kind == NoticeKind.INCIDENT_ARRIVED:
        return (_("New registration #%(number)s for the discipline office",
                  number=params["incident"]),
                [_("A new registration of an attempt to probe into or interfere with an audit "
                   "matter (#%(number)s) waits for the discipline office's review.",
                   number=params["incident"]), due])
    if kind == NoticeKind.INCIDENT_SUPPLEMENTED:
        return (_("Registration #%(number)s has been supplemented", number=params["incident"]),
                [_("The registrant has supplemented or corrected registration #%(number)s. "
                   "Please review the new version.", number=params["incident"]), due])
    if kind == NoticeKind.ARRIVALS_DIGEST:
        registered, supplemented = int(params["registered"]), int(params["supplemented"])
        return (_("For the discipline office on %(day)s: %(new)d new, %(supplemented)d "
                  "supplemented", day=params["day"], new=registered, supplemented=supplemented),
                [ngettext("%(num)d new registration was made on %(day)s.",
                          "%(num)d new registrations were made on %(day)s.", registered,
                          day=params["day"]),
                 ngettext("%(num)d registration was supplemented or corrected on %(day)s.",
                          "%(num)d registrations were supplemented or corrected on %(day)s.",
                          supplemented, day=params["day"])])
    count = int(params["count"])
    return (ngettext("%(num)d review is overdue", "%(num)d reviews are overdue", count),
            [ngettext("%(num)d case has waited on the discipline office for more than "
                      "%(days)d working days since it was registered or supplemented.",
                      "%(num)d cases have waited on the discipline office for more than "
                      "%(days)d working days since they were registered or supplemented.",
                      count, days=days),
             _("This reminder comes every week while reviews are overdue.")])


def _signin_text(params: dict) -> tuple[str, list[str]]:
    staff_no, expires = params.get("staff_no", ""), params.get("expires", "")
    if params.get("purpose") == "reset":
        return (_("Your password for the audit independence portal was reset"),
                [_("An administrator has reset the password of your account (staff number "
                   "%(staff_no)s). Set a new one with the link below: it works once, until "
                   "%(expires)s. If you did not expect this, tell the discipline office.",
                   staff_no=staff_no, expires=expires)])
    return (_("Your account on the audit independence portal"),
            [_("An account has been opened for you (staff number %(staff_no)s). Set your "
               "password with the link below: it works once, until %(expires)s.",
               staff_no=staff_no, expires=expires)])
