"""A simulated year: the clock moves day by day through twelve periods, a round runs each
morning, and each person receives exactly the notices the rules promise, in order."""

from __future__ import annotations

import json
from datetime import date, timedelta

import sqlalchemy as sa

from app.admin import employment
from app.core.codes import NoticeKind, NoticeStatus
from app.core.extensions import db as _db
from app.filing import records
from app.filing.periods import Period
from app.models import Outbox, User
from app.notices import reminders
from tests.helpers.reminders import local

PERIODS = Period(2025, 1).until(Period(2025, 12))
FULL = [
    (NoticeKind.OPEN, 0),
    (NoticeKind.APPROACHING, 0),
    (NoticeKind.DUE_TODAY, 0),
    (NoticeKind.OVERDUE, 1),
    (NoticeKind.OVERDUE, 2),
    (NoticeKind.OVERDUE, 3),
]


def received(user: User, kinds: tuple[str, ...] | None = None) -> list[tuple[str, str, int]]:
    """The notices of those kinds; by default those about monthly reports (the personal annual
    confirmation has its own chain in December)."""
    query = sa.select(Outbox).where(Outbox.user_id == user.id).order_by(Outbox.id)
    if kinds is None:
        query = query.where(Outbox.kind != NoticeKind.CONFIRM)
    elif kinds:
        query = query.where(Outbox.kind.in_(kinds))
    return [(row.period, row.kind, row.seq) for row in _db.session.scalars(query)]


def chain(periods: list[Period], stages: list[tuple[str, int]]) -> list[tuple[str, str, int]]:
    return [(str(p), kind, seq) for p in periods for kind, seq in stages]


def test_a_year_of_reminders(db, smtp, agency, make_user, frozen):
    start = date(2025, 1, 1)
    on_time = make_user(name="准时", staff_no="Y1", joined_on=start)
    late = make_user(name="迟交", staff_no="Y2", joined_on=start)
    never = make_user(name="未交", staff_no="Y3", joined_on=start)
    joiner = make_user(name="新人", staff_no="Y4", joined_on=date(2025, 6, 16))
    leaver = make_user(name="调离", staff_no="Y5", joined_on=start)
    office = make_user(name="纪检", staff_no="Y6", roles={"reviewer"}, joined_on=start)

    day = date(2025, 2, 1)
    while day <= date(2026, 1, 31):
        if day == date(2025, 9, 15):
            leaver.active, leaver.left_on = False, day
            employment.follow(leaver)  # the period ends, as deactivation ends it
            _db.session.commit()
        frozen.value = local(day.year, day.month, day.day, 10)
        reminders.run(frozen())
        noon = local(day.year, day.month, day.day, 12)
        due = Period.of_date(day).previous()
        if day.day == 1 and due.year == 2025:
            for person in (on_time, joiner):
                if records.in_scope(person, due):
                    records.file_report(person, due, zero=True, now=noon)
        if day.day == 7 and due.year == 2025:
            records.file_report(late, due, zero=True, now=noon)
        _db.session.commit()
        day += timedelta(days=1)

    _db.session.expire_all()
    assert received(on_time) == chain(PERIODS, [(NoticeKind.OPEN, 0)])
    assert received(late) == chain(PERIODS, FULL[:4])
    assert received(never) == chain(PERIODS, FULL)
    assert received(joiner) == chain(PERIODS[5:], [(NoticeKind.OPEN, 0)])
    assert received(leaver) == chain(PERIODS[:8], FULL)
    # Nobody confirms: those in post in December are reminded three times, a week apart.
    for person in (on_time, late, never, joiner):
        assert received(person, (NoticeKind.CONFIRM,)) == [("2025", NoticeKind.CONFIRM, n)
                                                        for n in range(3)]
    assert received(leaver, (NoticeKind.CONFIRM,)) == []

    digests = list(_db.session.scalars(
        sa.select(Outbox).where(Outbox.user_id == office.id).order_by(Outbox.id)))
    assert [(d.period, d.seq) for d in digests] == [(str(p), n) for p in PERIODS
                                                     for n in (1, 2, 3, 4)]
    for row in digests:
        month = Period.parse(row.period)
        gone = month > Period(2025, 8) or (month == Period(2025, 8) and row.seq > 2)
        expected = {"未交"} | ({"迟交"} if row.seq == 1 else set()) | (set() if gone else {"调离"})
        [(_department, names)] = json.loads(row.params)["missing"]
        assert set(names) == expected, (row.period, row.seq)

    # Every notice went out by e-mail exactly once.
    for person in (on_time, late, never, joiner, leaver, office):
        assert len(smtp.to(person.email)) == len(received(person, ()))
    assert _db.session.scalar(sa.select(sa.func.count()).select_from(Outbox).where(
        Outbox.status != NoticeStatus.SENT)) == 0
