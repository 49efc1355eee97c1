"""The discipline office's review workflow (审核处置) and its queue.

Plain functions that only flush; the request commits. Every step is a ReviewAction and an
audit-log entry. Only the determination recorded when a case is closed or referred makes a
violation ("affected audit independence").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app.core import access, auditlog
from app.core.codes import ReviewStatus, ReviewStep
from app.core.extensions import db
from app.core.refusals import Refused
from app.core.vocab import CATEGORIES, kind_of
from app.keys import keychain
from app.models import (
    AuditProject,
    Department,
    Incident,
    IncidentVersion,
    Review,
    ReviewAction,
    User,
)
from app.notices import outbox
from app.review import ageing
from app.statement import yearlock

STATUSES = {
    ReviewStatus.NEW: _l("New"),
    ReviewStatus.IN_REVIEW: _l("In review"),
    ReviewStatus.RETURNED: _l("Returned for supplement"),
    ReviewStatus.CLOSED: _l("Closed (archived)"),
    ReviewStatus.REFERRED: _l("Referred (线索移送)"),
}
OPEN = frozenset({ReviewStatus.NEW, ReviewStatus.IN_REVIEW, ReviewStatus.RETURNED})

# action -> (statuses it may start from, status it leads to); None keeps the status.
UNDECIDED = frozenset({ReviewStatus.NEW, ReviewStatus.IN_REVIEW})
TRANSITIONS: dict[str, tuple[frozenset[str], str | None]] = {
    ReviewStep.START: (frozenset({ReviewStatus.NEW}), ReviewStatus.IN_REVIEW),
    ReviewStep.RETURN: (UNDECIDED, ReviewStatus.RETURNED),
    ReviewStep.SUPPLEMENT: (frozenset({ReviewStatus.RETURNED}), ReviewStatus.IN_REVIEW),
    ReviewStep.CLOSE: (UNDECIDED, ReviewStatus.CLOSED),
    ReviewStep.REFER: (UNDECIDED, ReviewStatus.REFERRED),
    ReviewStep.RECLASSIFY: (frozenset(OPEN), None),
    ReviewStep.COMMENT: (frozenset(STATUSES), None),
}


class ReviewRefused(Refused):
    """A step the workflow refuses; the message is for the user."""


@dataclass(frozen=True)
class Decision:
    """What the reviewer entered with a step; which fields matter depends on the action."""

    note: str = ""
    for_registrant: bool = False
    affected: bool | None = None
    determination: str = ""
    referred_to: str = ""
    referral_reason: str = ""
    category: str = ""


def open_review(incident: Incident, now: datetime) -> Review:
    review = Review(status=ReviewStatus.NEW, updated_at=now, changed_at=now, waiting_since=now)
    incident.review = review
    return review


def _check(review: Review, action: str, decision: Decision) -> None:
    allowed, _target = TRANSITIONS[action]
    if review.status not in allowed:
        raise ReviewRefused(_("This step is not possible while the case is “%(status)s”.",
                              status=STATUSES[review.status]))
    if action in (ReviewStep.CLOSE, ReviewStep.REFER) and (
            decision.affected is None or not decision.determination.strip()):
        raise ReviewRefused(_("Closing or referring needs the determination whether audit "
                              "independence was affected, with its reasoning."))
    if action == ReviewStep.REFER and not (decision.referred_to.strip()
                                  and decision.referral_reason.strip()):
        raise ReviewRefused(_("A referral needs the recipient and the reason."))
    if action in (ReviewStep.RETURN, ReviewStep.COMMENT) and not decision.note.strip():
        raise ReviewRefused(_("Please write the text."))
    if action == ReviewStep.RECLASSIFY and decision.category not in CATEGORIES:
        raise ReviewRefused(_("Choose a behaviour category."))


def check(review: Review, actor: User, action: str, decision: Decision) -> None:
    """Refuse (ReviewRefused) every step `act` would refuse, changing nothing: the
    confirmation asked before an irreversible step shows one that will go through."""
    if action not in TRANSITIONS:
        raise ReviewRefused(_("Unknown action."))
    if action == ReviewStep.SUPPLEMENT and actor.id != review.incident.user_id:
        raise ReviewRefused(_("Only the registrant can supplement a registration."))
    if action != ReviewStep.SUPPLEMENT and not access.may_review(actor, review.incident):
        raise ReviewRefused(_("This is your own registration: another member of the "
                              "discipline office must review it."))
    yearlock.ensure_open(review.incident.agency_id, review.incident.period, ReviewRefused,
                         after_signing=review.incident.after_signing)
    _check(review, action, decision)


def act(review: Review, actor: User, action: str, decision: Decision,
        now: datetime) -> ReviewAction:
    """Apply one step (or refuse it with ReviewRefused, changing nothing)."""
    check(review, actor, action, decision)
    before = review.status
    target = TRANSITIONS[action][1] or before
    _apply(review, action, decision)
    review.status, review.updated_at = target, now
    if target != before:
        review.changed_at = now
    if action == ReviewStep.SUPPLEMENT:  # back with the office: its deadline starts again
        review.waiting_since = now
    step = ReviewAction(
        actor=actor, at=now, action=action, from_status=before, to_status=target,
        note=decision.note.strip(),
        # A return is a request to the registrant by its nature.
        for_registrant=decision.for_registrant or action == ReviewStep.RETURN,
    )
    review.actions.append(step)
    db.session.flush()
    auditlog.record(f"review.{action}", review.incident, actor_id=actor.id, status=target,
                    previous=before,
                    seal=[review, step])
    outbox.review_notice(step)
    return step


def _apply(review: Review, action: str, decision: Decision) -> None:
    if action in (ReviewStep.CLOSE, ReviewStep.REFER):
        review.affected_independence = decision.affected
        review.determination = decision.determination.strip()
    if action == ReviewStep.REFER:
        review.referred_to = decision.referred_to.strip()
        review.referral_reason = decision.referral_reason.strip()
    if action == ReviewStep.RECLASSIFY:
        review.category = decision.category
        review.kind = kind_of(decision.category)


def allowed_actions(review: Review, reviewer: User) -> list[str]:
    """The steps `reviewer` may take now (the registrant's supplement is not one of them; on
    their own registration, none)."""
    if not access.may_review(reviewer, review.incident):
        return []
    return [action for action, (starts, _target) in TRANSITIONS.items()
            if review.status in starts and action != ReviewStep.SUPPLEMENT]


# Steps that cannot be taken back (the registrant is told, or the case is decided): the page
# asks to confirm them on a summary first.
IRREVERSIBLE = (ReviewStep.RETURN, ReviewStep.CLOSE, ReviewStep.REFER)
# The step a case's state calls for: the one the page opens.
NEXT_STEP = {ReviewStatus.NEW: ReviewStep.START, ReviewStatus.IN_REVIEW: ReviewStep.CLOSE}


def next_step(review: Review, allowed: list[str]) -> str | None:
    """The step the page opens first: what the state calls for, else a comment."""
    wanted = NEXT_STEP.get(review.status, ReviewStep.COMMENT)
    return wanted if wanted in allowed else next(iter(allowed), None)


def next_case(actor: User, after: Incident) -> int | None:
    """The case that has waited longest on the discipline office (new or in review), other
    than `after`, among those `actor` may review (not their own)."""
    return db.session.scalar(
        sa.select(Incident.id).join(Review, Review.incident_id == Incident.id)
        .where(Incident.agency_id == actor.agency_id, Incident.id != after.id,
               Incident.user_id != actor.id,
               Review.status.in_((ReviewStatus.NEW, ReviewStatus.IN_REVIEW)))
        .order_by(Review.updated_at, Incident.id).limit(1))


def supplemented(incident: Incident, registrant: User, reason: str, now: datetime) -> None:
    """The registrant answered a return: the case comes back to the discipline office."""
    if incident.review is not None and incident.review.status == ReviewStatus.RETURNED:
        act(incident.review, registrant, ReviewStep.SUPPLEMENT,
            Decision(note=reason, for_registrant=True), now)


def effective_category(incident: Incident) -> str:
    review = incident.review
    return review.category if review is not None and review.category else incident.current.category


# The queue ---------------------------------------------------------------------------------

# What the queue may be sorted by: a closed set, each key a column (never the user's text).
# "waiting" sorts by the days waiting, so ascending means the most recently changed first.
SORTS = ("number", "occurred", "status", "waiting", "registrant")
DEFAULT_SORT = "occurred"
# Whose turn: cases the signed-in member may act on now, and those of them past their deadline.
WAITING_FOR_ME, OVERDUE = "me", "overdue"


@dataclass
class QueueFilter:
    period: str = ""
    status: str = ""
    kind: str = ""
    category: str = ""
    channel: str = ""
    department_id: int = 0
    project_id: int = 0
    actor: str = ""
    q: str = ""
    waiting: str = ""  # "", WAITING_FOR_ME or OVERDUE
    sort: str = DEFAULT_SORT
    descending: bool = True


@dataclass
class QueuePage:
    rows: list[QueueRow]
    total: int
    counts: dict[str, int] = field(default_factory=dict)
    page: int = 1
    pages: int = 1


@dataclass(frozen=True)
class QueueRow:
    incident: Incident
    version: IncidentVersion
    review: Review
    registrant: User
    department: Department | None
    project: AuditProject | None
    waiting_days: int = 0  # working days since the case last changed state
    overdue: bool = False


def _is_current() -> sa.ColumnElement[bool]:
    """The incident version no later version follows. An anti-join rather than a join on the
    maximum: PostgreSQL estimates it well, where the join on max(number) was planned as
    nested loops for a handful of rows and ran twice as long (bench/dashboard.py)."""
    later = so.aliased(IncidentVersion)
    return ~sa.exists().where(later.incident_id == IncidentVersion.incident_id,
                              later.number > IncidentVersion.number)


def _waiting(f: QueueFilter, viewer: User | None,
             clock: ageing.Clock | None) -> list[sa.ColumnElement[bool]]:
    if not f.waiting or viewer is None:
        return []
    mine = [Review.status.in_(ageing.WAITING_ON_OFFICE), Incident.user_id != viewer.id]
    if f.waiting == OVERDUE and clock is not None:
        mine.append(Review.waiting_since < clock.overdue_before())
    return mine


def _filtered(agency_id: int, f: QueueFilter, viewer: User | None = None,
              clock: ageing.Clock | None = None) -> sa.Select:
    kind = sa.func.coalesce(Review.kind, IncidentVersion.kind)
    category = sa.func.coalesce(Review.category, IncidentVersion.category)
    query = (
        sa.select(Incident, IncidentVersion, Review, User)
        .join(IncidentVersion, IncidentVersion.incident_id == Incident.id)
        .join(Review, Review.incident_id == Incident.id)
        .join(User, User.id == Incident.user_id)
        .where(Incident.agency_id == agency_id, _is_current(), *_waiting(f, viewer, clock))
    )
    conditions = [
        (f.period, Incident.period == f.period),
        (f.kind, kind == f.kind),
        (f.category, category == f.category),
        (f.channel, IncidentVersion.channel == f.channel),
        (f.department_id, User.department_id == f.department_id),
        (f.project_id, IncidentVersion.project_id == f.project_id),
    ]
    for wanted, condition in conditions:
        if wanted:
            query = query.where(condition)
    if f.actor.strip() or f.q.strip():
        query = query.where(Incident.id.in_(_text_matches(query, f)))
    return query


SEARCHED = ("description", "actor_name", "actor_org", "actor_position", "response_detail")


def _text_matches(query: sa.Select, f: QueueFilter) -> list[int]:
    """The incidents among `query`'s whose text matches the filters: the text is sealed at
    rest, so it is opened in memory with the reviewer's keys (case-insensitive substring, as
    the database's ILIKE was); what the reviewer holds no key to matches nothing."""
    fields = [getattr(IncidentVersion, name) for name in SEARCHED]
    rows = db.session.execute(query.with_only_columns(
        *keychain.wrap_columns(), *(getattr(IncidentVersion, field.column) for field in fields),
        User.name))
    actor, words = f.actor.strip().casefold(), f.q.strip().casefold()
    chain = keychain.current()
    found = []
    for row in rows:
        width = keychain.WRAP_WIDTH
        wraps, stored, registrant = row[:width], row[width:-1], row[-1]
        texts = {field.name: chain.text(wraps, value, field).casefold()
                 for field, value in zip(fields, stored, strict=True)}
        if actor and actor not in texts["actor_name"]:
            continue
        if words and not any(words in text for text in [*texts.values(), registrant.casefold()]):
            continue
        found.append(wraps[0])
    return found


def _order(f: QueueFilter) -> list[sa.ColumnElement]:
    """ORDER BY for a whitelisted key (anything else: the default), ties by number."""
    status_rank = sa.case({code: rank for rank, code in enumerate(STATUSES)},
                          value=Review.status, else_=len(STATUSES))
    columns = {"number": Incident.id, "occurred": IncidentVersion.occurred_at,
               "status": status_rank, "registrant": User.name,
               # more days waiting = changed longer ago
               "waiting": Review.changed_at}
    key = f.sort if f.sort in columns else DEFAULT_SORT
    descending = f.descending != (key == "waiting")
    column = columns[key]
    tie = Incident.id.desc() if f.descending else Incident.id.asc()
    return [column.desc() if descending else column.asc(), tie]


def queue(agency_id: int, f: QueueFilter, *, page: int = 1, per_page: int = 50,
          viewer: User | None = None, clock: ageing.Clock | None = None) -> QueuePage:
    """One page of the queue, in the order asked (newest first by default), with counts per
    status: four queries whatever the size of the agency. A page past the last shows the last.
    With `clock`, each row says how long it has waited and whether it is overdue; with
    `viewer`, the filter on whose turn it is applies."""
    base = _filtered(agency_id, f, viewer, clock)
    counts = _status_counts(base)
    listed = base.where(Review.status == f.status) if f.status else base
    total = db.session.scalar(sa.select(sa.func.count()).select_from(listed.subquery())) or 0
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    rows = db.session.execute(
        listed.options(so.selectinload(Incident.evidence))
        .add_columns(Department, AuditProject)
        .outerjoin(Department, Department.id == User.department_id)
        .outerjoin(AuditProject, AuditProject.id == IncidentVersion.project_id)
        .order_by(*_order(f))
        .limit(per_page).offset((page - 1) * per_page)
    ).all()
    return QueuePage([_row(row, clock) for row in rows], total, counts, page, pages)


def _row(row: sa.Row, clock: ageing.Clock | None) -> QueueRow:
    if clock is None:
        return QueueRow(*row)
    review = row[2]
    return QueueRow(*row, waiting_days=clock.working_days_since(review.changed_at),
                    overdue=clock.is_overdue(review))


def _status_counts(base: sa.Select) -> dict[str, int]:
    statuses = base.with_only_columns(Review.status).subquery()
    return {status: n for status, n in db.session.execute(
        sa.select(statuses.c.status, sa.func.count()).group_by(statuses.c.status))}
