"""The audit log in words: each entry as a sentence in the reader's language.

An entry stores a code (`incident.registered`), an object (`Incident`, 12) and a few details;
the log page shows "登记了打探干预情况 #12" beside its actor, with the object as a link where the
reader may open it. Every code the portal records has a label here (a test greps the
`auditlog.record("...")` calls); a code without one still reads as a sentence, never as the code.

Only ids, names of people and organisation units, months and years are shown: entries carry no
incident content, and nothing here reads any.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from babel.dates import format_skeleton
from flask import url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from app.core import access
from app.core.codes import ReviewStep
from app.core.extensions import db
from app.models import AuditLog, AuditProject, Department, Incident, User

# Each label names the object with %(object)s (shown as a link, a name, "#12" or a month).
ACTIONS: dict[str, object] = {
    # Filing
    "incident.registered": _l("registered interference %(object)s"),
    "incident.corrected": _l("corrected registration %(object)s"),
    "incident.read": _l("viewed registration %(object)s"),
    "incident.handed_up": _l("handed registration %(object)s to the discipline office of the "
                             "level above"),
    "evidence.read": _l("opened an evidence file of registration %(object)s"),
    "report.filed": _l("filed the report for %(object)s"),
    "report.corrected": _l("corrected the report for %(object)s"),
    "confirmation.given": _l("signed the annual personal confirmation for %(object)s"),
    # Review
    f"review.{ReviewStep.START}": _l("started reviewing registration %(object)s"),
    f"review.{ReviewStep.RETURN}": _l("returned registration %(object)s for supplement"),
    f"review.{ReviewStep.SUPPLEMENT}": _l("supplemented registration %(object)s"),
    f"review.{ReviewStep.CLOSE}": _l("closed registration %(object)s (archived)"),
    f"review.{ReviewStep.REFER}": _l("referred the clue of registration %(object)s"),
    f"review.{ReviewStep.RECLASSIFY}": _l("reclassified registration %(object)s"),
    f"review.{ReviewStep.COMMENT}": _l("commented on registration %(object)s"),
    "review.exported": _l("exported the review queue"),
    "compliance.exported": _l("exported the filing overview for %(object)s"),
    # The discipline office
    "office.proposed": _l("invited %(object)s to join the discipline office"),
    "office.invitation_cancelled": _l("withdrew the invitation of %(object)s to the "
                                      "discipline office"),
    "office.granted": _l("%(object)s joined the discipline office"),
    "office.declined": _l("declined to join the discipline office"),
    "office.withdrawn": _l("withdrew %(object)s from the discipline office"),
    # The annual statement
    "statement.prepared": _l("prepared the annual statement for %(object)s"),
    "statement.signed": _l("signed the annual statement for %(object)s"),
    "statement.sign_refused": _l("tried to sign the annual statement for %(object)s (refused)"),
    "statement.addendum": _l("added an addendum to the annual statement for %(object)s"),
    "statement.downloaded": _l("downloaded the annual statement for %(object)s"),
    # Accounts
    "user.created": _l("created the account of %(object)s"),
    "user.updated": _l("changed the account of %(object)s"),
    "user.deactivated": _l("deactivated the account of %(object)s"),
    "user.reactivated": _l("reactivated the account of %(object)s"),
    "user.transferred": _l("transferred %(object)s to another agency (调动)"),
    "user.password_set": _l("set the password of %(object)s"),
    "user.password_reset": _l("reset the password of %(object)s"),
    "user.office_role_refused": _l("tried to give %(object)s the discipline office role "
                                   "or the installation administrator role (refused)"),
    "user.language": _l("changed their language"),
    # Sign-in
    "auth.login": _l("signed in"),
    "auth.login_failed": _l("failed to sign in (account: %(object)s)"),
    "auth.code_failed": _l("entered a wrong verification code (account: %(object)s)"),
    "auth.logout": _l("signed out"),
    "auth.password_changed": _l("changed their password"),
    # Keys (app/keys): who holds what opens the content
    "keys.ring_created": _l("received their personal key"),
    "keys.ring_renewed": _l("received a new personal key (the old one no longer opened)"),
    "keys.agency_created": _l("set up the discipline office's keys"),
    "keys.granted": _l("gave %(object)s access to the content of registrations"),
    "keys.withdrawn": _l("withdrew the access of %(object)s to the content of registrations"),
    "keys.recovered": _l("restored the discipline office's access of %(object)s with the "
                         "recovery key"),
    "keys.registrant_restored": _l("restored %(object)s's access to their own registrations"),
    "keys.sealed": _l("encrypted the content stored in clear"),
    "keys.recovery_refused": _l("tried a wrong recovery key for %(object)s"),
    "statement.resealed": _l("recomputed the records' digest of the statement %(object)s "
                             "over the encrypted records"),
    "auth.signin_link_issued": _l("issued a one-time sign-in link to %(object)s"),
    "auth.signin_link_used": _l("signed in with a one-time link"),
    "auth.two_factor_enabled": _l("turned on two-factor sign-in"),
    "auth.two_factor_disabled": _l("turned off two-factor sign-in"),
    "auth.two_factor_reset": _l("reset the two-factor sign-in of %(object)s"),
    "auth.recovery_codes_renewed": _l("renewed their recovery codes"),
    # Organisation and settings
    "agency.created": _l("created the agency %(object)s"),
    "agency.settings_changed": _l("changed the agency's settings"),
    "agency.placed": _l("renamed or moved the agency %(object)s in the tree"),
    "installation.admin_appointed": _l("appointed %(object)s an administrator of their agency"),
    "installation.admin_dismissed": _l("withdrew the administrator role of %(object)s"),
    "installation.role_granted": _l("made %(object)s an installation administrator"),
    "installation.role_withdrawn": _l("withdrew the installation administrator role of "
                                      "%(object)s"),
    "department.created": _l("created the department %(object)s"),
    "department.updated": _l("renamed the department %(object)s"),
    "department.archived": _l("archived the department %(object)s"),
    "department.restored": _l("restored the department %(object)s"),
    "project.created": _l("created the audit project %(object)s"),
    "project.updated": _l("changed the audit project %(object)s"),
    "project.archived": _l("archived the audit project %(object)s"),
    "project.restored": _l("restored the audit project %(object)s"),
    "calendar_day.added": _l("added the calendar day %(object)s"),
    "calendar_day.removed": _l("removed the calendar day %(object)s"),
    "mail_settings.changed": _l("changed the mail server settings"),
    "channel_settings.changed": _l("changed the messaging channel settings"),
    # The API (the token is the actor: no one is signed in)
    "api_token.created": _l("created the API token of %(object)s"),
    "api_token.revoked": _l("revoked the API token of %(object)s"),
    "api.called": _l("the API token of %(object)s was used to read data"),
    # Notices
    "outbox.retry": _l("sent notice %(object)s again"),
    "outbox.test_mail": _l("sent a test e-mail"),
    "outbox.test_channel": _l("sent a test message to a messaging channel"),
    "reminders.enqueued": _l("queued the reminders due"),
    # Operations (the command line)
    "backup.created": _l("made a backup"),
    "backup.restored": _l("restored a backup"),
    "demo.loaded": _l("loaded the demonstration data"),
    "evidence.imported": _l("imported evidence files"),
    "tally.rebuilt": _l("rebuilt the filing tallies"),
}
UNKNOWN = _l("made a change to %(object)s")
UNKNOWN_WITHOUT_OBJECT = _l("made a change")
NOUNS = {"Incident": _l("registration"), "User": _l("account"), "Outbox": _l("notice"),
         "Evidence": _l("evidence file"), "Department": _l("department"),
         "AuditProject": _l("audit project")}


def action_choices() -> list[tuple[str, str]]:
    """(code, name) for the log's action filter, the object left out: "登记了打探干预情况"."""
    return [(code, _without_object(label)) for code, label in ACTIONS.items()]


def _without_object(label: object) -> str:
    text = str(label) % {"object": "…"}
    return text.replace(" …", "").removesuffix("…").strip() or text


@dataclass(frozen=True)
class Line:
    entry: AuditLog
    actor: User | None
    sentence: Markup


def lines(rows: list[tuple[AuditLog, User | None]], reader: User) -> list[Line]:
    """The page's entries in words, with what they name loaded in one query per kind."""
    names = _Objects(rows, reader)
    return [Line(entry, actor, _sentence(entry, names)) for entry, actor in rows]


def _sentence(entry: AuditLog, names: _Objects) -> Markup:
    reference = names.reference(entry)
    label = ACTIONS.get(entry.action)
    if label is None:
        label = UNKNOWN if reference else UNKNOWN_WITHOUT_OBJECT
    text = str(label)
    if "%(object)s" not in text:
        return escape(text)
    return escape(text).replace(escape("%(object)s"), reference or Markup("—"))


def _detail(entry: AuditLog) -> dict:
    try:
        detail = json.loads(entry.detail or "{}")
    except ValueError:
        return {}
    return detail if isinstance(detail, dict) else {}


def _link(url: str | None, text: str) -> Markup:
    if url is None:
        return escape(text)
    return Markup('<a href="{}">{}</a>').format(url, text)


def _month(period: object) -> str:
    """"2025-03" as the reader says it: "2025年3月", "March 2025"."""
    try:
        year, month = (int(part) for part in str(period).split("-"))
        return format_skeleton("yMMMM", date(year, month, 1), locale=get_locale())
    except (ValueError, TypeError):
        return str(period)


class _Objects:
    """The people, units and registrations a page of entries names, and which the reader
    may open."""

    def __init__(self, rows: list[tuple[AuditLog, User | None]], reader: User) -> None:
        self.reader = reader
        ids: dict[str, set[int]] = defaultdict(set)
        for entry, _actor in rows:
            if entry.object_id is not None:
                ids[entry.object_type].add(entry.object_id)
            if entry.object_type == "Evidence":
                incident_id = _detail(entry).get("incident_id")
                if isinstance(incident_id, int):
                    ids["Incident"].add(incident_id)
        self.loaded = {name: self._load(model, ids.get(name, set()))
                       for name, model in (("User", User), ("Department", Department),
                                           ("AuditProject", AuditProject),
                                           ("Incident", Incident))}
        self.admin = access.allows(reader, access.ADMINISTER)

    @staticmethod
    def _load(model: type, ids: set[int]) -> dict[int, object]:
        if not ids:
            return {}
        return {row.id: row for row in db.session.scalars(
            sa.select(model).where(model.id.in_(ids)))}

    def reference(self, entry: AuditLog) -> Markup | None:
        kind, object_id, detail = entry.object_type, entry.object_id, _detail(entry)
        if kind == "Incident":
            return self._incident(object_id)
        if kind == "Evidence":
            incident_id = detail.get("incident_id")
            return self._incident(incident_id if isinstance(incident_id, int) else None)
        if kind == "User":
            return self._named(self.loaded["User"].get(object_id), object_id,
                               lambda u: u.name, "admin.edit_user", "user_id")
        if kind == "Department":
            return self._named(self.loaded["Department"].get(object_id), object_id,
                               lambda d: d.name, "admin.edit_department", "department_id")
        if kind == "AuditProject":
            return self._named(self.loaded["AuditProject"].get(object_id), object_id,
                               lambda p: f"{p.code} {p.name}", "admin.edit_project",
                               "project_id")
        if kind in ("MonthlyReport", "Agency") and "period" in detail:
            return escape(_month(detail["period"]))
        if kind == "Agency":
            name = detail.get("name")
            return escape(name) if isinstance(name, str) else None
        if kind in ("AnnualStatement", "AnnualConfirmation") and "year" in detail:
            year = str(detail["year"])
            url = url_for("statement.show", year=detail["year"]) \
                if kind == "AnnualStatement" and access.allows(self.reader, access.STATEMENTS) \
                and isinstance(detail["year"], int) else None
            return _link(url, year)
        if kind == "ApiToken" and isinstance(detail.get("client"), str):
            return escape(detail["client"])
        if kind == "CalendarDay" and "day" in detail:
            return escape(str(detail["day"]))
        if kind == "Outbox" and object_id is not None:
            url = url_for("notices.outbox_page") if self.admin else None
            return _link(url, f"#{object_id}")
        if object_id is not None and kind in NOUNS:
            return escape(f"{NOUNS[kind]} #{object_id}")
        return escape(f"#{object_id}") if object_id is not None else None

    def _incident(self, incident_id: int | None) -> Markup | None:
        if incident_id is None:
            return None
        incident = self.loaded["Incident"].get(incident_id)
        url = None
        if incident is not None and access.can_read_incident(self.reader, incident):
            url = url_for("filing.incident", incident_id=incident.id) \
                if incident.user_id == self.reader.id \
                else url_for("review.incident", incident_id=incident.id)
        return _link(url, f"#{incident_id}")

    def _named(self, row: object | None, object_id: int | None, name, endpoint: str,
               key: str) -> Markup | None:
        if row is None:
            return escape(f"#{object_id}") if object_id is not None else None
        mine = getattr(row, "agency_id", None) == self.reader.agency_id
        url = url_for(endpoint, **{key: row.id}) if self.admin and mine else None
        return _link(url, name(row))

