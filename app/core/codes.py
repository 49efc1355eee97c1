"""Every closed set of codes the portal stores, in one place.

Each is a `StrEnum`: its members are the strings kept in the database (so a row, a query and a
comparison with a plain string agree), and `models.py` turns each into a `CheckConstraint` so
that the database refuses any other value. Labels for display live with the texts of each area.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    AUDITOR = "auditor"
    REVIEWER = "reviewer"  # the discipline office (机关纪委)
    LEADER = "leader"
    ADMIN = "admin"
    # The installation administrator (平台管理员): arranges the agencies of the installation and
    # holds its settings (app/installation); above the agencies' administrators, never content.
    INSTALLATION_ADMIN = "install_admin"


class RouteKind(StrEnum):
    """How a registration reached the discipline office of the level above (直报上级)."""

    DIRECT = "direct"  # addressed there by the registrant when registering
    REFERRED = "referred"  # handed up by their own discipline office


class IncidentKind(StrEnum):
    PROBING = "probing"
    INTERFERING = "interfering"
    DUTY_INQUIRY = "duty_inquiry"


class FilingStatus(StrEnum):
    """A month of an auditor's filing, as the deadline rule sees it (computed, never stored)."""

    ON_TIME = "on_time"
    LATE = "late"
    MISSING = "missing"
    DUE = "due"
    NOT_OPEN = "not_open"


class ReviewStatus(StrEnum):
    NEW = "new"
    IN_REVIEW = "in_review"
    RETURNED = "returned"
    CLOSED = "closed"
    REFERRED = "referred"


class ReviewStep(StrEnum):
    """A step of the review workflow (`review/workflow.py` says which status allows which)."""

    START = "start"
    RETURN = "return"
    SUPPLEMENT = "supplement"  # by the registrant, after a return
    CLOSE = "close"
    REFER = "refer"
    RECLASSIFY = "reclassify"
    COMMENT = "comment"


class InvitationStatus(StrEnum):
    """A proposal to join the discipline office, which takes effect when its invitee accepts."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    CANCELLED = "cancelled"


class StatementStatus(StrEnum):
    DRAFT = "draft"
    LOCKED = "locked"


class LinkPurpose(StrEnum):
    FIRST = "first"
    RESET = "reset"


class NoticeStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    PORTAL = "portal"  # in the bell only: its person has no e-mail address


class NoticeKind(StrEnum):
    OPEN = "period_open"
    APPROACHING = "approaching"
    DUE_TODAY = "deadline_day"
    OVERDUE = "overdue"
    DIGEST = "digest"
    RETURNED = "returned"
    FINISHED = "review_finished"
    TEST = "test"
    # The personal annual confirmation; its `period` holds the year.
    CONFIRM = "annual_confirmation"
    # A one-time link to set a password. Its row holds the token only until the e-mail is sent
    # or the link is used or replaced; it never shows in the bell.
    SIGNIN = "signin_link"
    # A registration or a monthly report of a year whose statement is signed: to the discipline
    # office, which accounts for it with an addendum. Its `seq` is the record's id.
    LATE_INCIDENT = "incident_after_signing"
    LATE_REPORT = "report_after_signing"
    # Membership of the discipline office: told to its members and the leaders.
    OFFICE_PROPOSED = "office_proposed"
    OFFICE_GRANTED = "office_granted"
    OFFICE_WITHDRAWN = "office_withdrawn"
    # To the discipline office, without content: a new registration (`seq` the incident's id)
    # or a supplement or correction of one (`seq` the new version's id), one e-mail each; or,
    # where the agency chose it, one digest a day (`seq` the day as YYYYMMDD).
    INCIDENT_ARRIVED = "incident_arrived"
    INCIDENT_SUPPLEMENTED = "incident_supplemented"
    ARRIVALS_DIGEST = "arrivals_digest"
    # Weekly, while reviews wait on the office past its deadline (`seq` the Monday, YYYYMMDD).
    REVIEWS_OVERDUE = "reviews_overdue"


class NoticeFailure(StrEnum):
    """Why a notice waits for a retry (pending) or gave up (failed)."""

    UNREACHABLE = "unreachable"
    DEFERRED = "deferred"
    REFUSED = "refused"
    OBSOLETE = "obsolete"
    DEACTIVATED = "deactivated"
    REPLACED = "replaced"
    # A messaging channel (app/notices/channels.py): down or answered an error (retried), refused
    # the message for good (a 4xx, a wrong key or signature), or switched off since.
    CHANNEL_DOWN = "channel_down"
    CHANNEL_REFUSED = "channel_refused"
    CHANNEL_OFF = "channel_off"


class Channel(StrEnum):
    """Where an outbox row goes: the e-mail (and the bell), or an agency's messaging channel."""

    EMAIL = "email"
    WECOM = "wecom"  # a WeCom (企业微信) group robot
    DINGTALK = "dingtalk"  # a DingTalk (钉钉) group robot, with its signing secret
    WEBHOOK = "webhook"  # the agency's OA system, signed with a shared secret

