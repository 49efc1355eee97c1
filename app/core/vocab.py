"""The fixed vocabularies of an incident registration (PRODUCT.md), with their labels.

Codes are stored in the database; labels are translated at display time. The order of each
mapping is the order shown in forms.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.core.codes import IncidentKind

KINDS = {
    IncidentKind.PROBING: _l("Probing (打探)"),
    IncidentKind.INTERFERING: _l("Interfering (干预)"),
    IncidentKind.DUTY_INQUIRY: _l("Inquiry within official duties (履职过问)"),
}

# category code -> (kind, label, short example shown on the form)
CATEGORIES = {
    "ask_progress": (
        IncidentKind.PROBING,
        _l("Asking about audit progress, findings or evidence"),
        _l("“How is the audit of the water bureau going? Have you found anything about the "
           "procurement?” — asked by someone with no duty to know."),
    ),
    "ask_documents": (
        IncidentKind.PROBING,
        _l("Asking for audit documents or passing word to the audited"),
        _l("Asking you to send a copy of working papers, or telling the audited unit what the "
           "team plans to check next."),
    ),
    "plead": (
        IncidentKind.INTERFERING,
        _l("Pleading for someone"),
        _l("“He is an old friend of mine, please go easy on his unit.”"),
    ),
    "change_findings": (
        IncidentKind.INTERFERING,
        _l("Asking to change, withhold or soften findings"),
        _l("Asking that a finding be left out of the report, reworded, or handled as a minor "
           "irregularity."),
    ),
    "press_scope": (
        IncidentKind.INTERFERING,
        _l("Pressing on audit targets, scope or team"),
        _l("Asking that a project, a year or a subsidiary be left out of scope, or that a team "
           "member be replaced."),
    ),
    "private_meeting": (
        IncidentKind.INTERFERING,
        _l("Asking for private meetings with the audit team"),
        _l("An invitation to “talk it over” outside the office, without the team leader."),
    ),
    "benefits": (
        IncidentKind.INTERFERING,
        _l("Offering gifts, banquets or other benefits"),
        _l("Gift cards, a dinner invitation, a job offer for a relative."),
    ),
    "other_interference": (
        IncidentKind.INTERFERING,
        _l("Other interference"),
        _l("Any other attempt to influence the audit outside proper procedure."),
    ),
    "duty_inquiry": (
        IncidentKind.DUTY_INQUIRY,
        _l("Inquiry within the inquirer's own duties"),
        _l("Your department head asks about the schedule of an audit they supervise. It is "
           "registered for the record and counted apart, never as interference; the discipline "
           "office may reclassify it."),
    ),
}

CHANNELS = {
    "in_person": _l("In person"),
    "phone": _l("Phone"),
    "message": _l("Text message / WeChat"),
    "letter": _l("Letter"),
    "materials": _l("Materials passed on"),
    "third_party": _l("Through a third party"),
}

RELATIONS = {
    "leading_cadre": _l("Leading cadre"),
    "audited_entity": _l("Audited entity"),
    "colleague": _l("Colleague inside the bureau"),
    "relative_friend": _l("Relative or friend"),
    "intermediary": _l("Intermediary"),
    "other": _l("Other"),
}

STAGES = {
    "planning": _l("Planning / pre-audit survey"),
    "fieldwork": _l("Fieldwork"),
    "reporting": _l("Review and reporting"),
    "follow_up": _l("Rectification follow-up"),
    "none": _l("Not tied to a stage"),
}

RESPONSES = {
    "refused": _l("Refused"),
    "procedure": _l("Pointed to proper procedure"),
    "reported_leader": _l("Reported to the team leader"),
    "reported_upwards": _l("Reported upwards / to the discipline office"),
    "other": _l("Other"),
}

ROLES = {
    "auditor": _l("Auditor"),
    "reviewer": _l("Discipline office"),
    "leader": _l("Bureau leader"),
    "admin": _l("Administrator"),
    "install_admin": _l("Installation administrator"),
}


def kind_of(category: str) -> str:
    return CATEGORIES[category][0]


def category_label(category: str) -> str:
    return str(CATEGORIES[category][1])
