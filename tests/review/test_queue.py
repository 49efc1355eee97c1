"""The review queue through HTTP: case numbers, days waiting, sorting, paging, whose turn,
the overdue mark after the agency's working days, and a constant number of statements."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from app.core.extensions import db as _db
from app.models import Agency, Incident, IncidentVersion, Review
from tests.helpers.review import FULL, NOW, make_incident, step
from tests.helpers.web import login

ROW = re.compile(r'<tr data-incident="(\d+)"')


@pytest.fixture
def office(make_user, frozen):
    return make_user(name="纪检员", roles={"reviewer"})


def page(client, **query) -> str:
    response = client.get("/review/?" + urlencode(query))
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def listed(client, **query) -> list[int]:
    return [int(n) for n in ROW.findall(page(client, **query))]


def add_cases(auditor, n: int, at: datetime = NOW) -> None:
    """Cases written straight into the tables (fast), registered at `at`."""
    for _ in range(n):
        incident = Incident(agency_id=auditor.agency_id, user_id=auditor.id, period="2025-03",
                            registered_at=at)
        incident.versions.append(IncidentVersion(
            number=1, occurred_at=at, kind="interfering", category="plead", channel="phone",
            actor_name="某", actor_org="某", actor_relation="other", stage="fieldwork",
            description="x", response="refused", created_at=at))
        incident.review = Review(status="new", updated_at=at, changed_at=at, waiting_since=at)
        _db.session.add(incident)
    _db.session.commit()


def test_each_case_shows_its_number_as_the_alerts_cite_it(client, db, office, auditor):
    case = make_incident(auditor)
    login(client, office)
    body = page(client)
    assert f'data-number="{case}">#{case}</a>' in body


def test_sorting_by_every_key_both_ways(client, db, office, auditor, make_user):
    early = make_incident(make_user(name="乙"), when=datetime(2025, 3, 1, 2, tzinfo=UTC),
                          delay_reason="出差")
    late = make_incident(make_user(name="甲"), when=datetime(2025, 3, 25, 2, tzinfo=UTC))
    login(client, office)
    step(client, early, "start")
    assert listed(client) == [late, early]  # newest first by default
    assert listed(client, sort="number", dir="asc") == [early, late]
    assert listed(client, sort="number", dir="desc") == [late, early]
    assert listed(client, sort="occurred", dir="asc") == [early, late]
    assert listed(client, sort="status", dir="asc") == [late, early]  # new before in review
    assert listed(client, sort="status", dir="desc") == [early, late]
    assert sorted(listed(client, sort="registrant", dir="asc")) == sorted([early, late])
    body = page(client, sort="number", dir="asc")
    assert 'aria-sort="ascending"' in body


@pytest.mark.parametrize("query", [
    "sort=id;DROP TABLE review", "sort=version.description", "dir=sideways", "per=1000",
    "per=abc", "page=0", "page=-1", f"page={2**40}", "period=2025-13x", "period=abcdefg",
    "waiting=everyone",
])
def test_bad_sort_paging_or_filter_answers_400_never_500(client, office, query):
    login(client, office)
    assert client.get(f"/review/?{query}").status_code == 400


def test_paging_is_bounded_and_a_page_past_the_end_shows_the_last(client, db, office, auditor):
    add_cases(auditor, 25)
    login(client, office)
    first = listed(client, per=20, sort="number", dir="asc")
    second = listed(client, per=20, sort="number", dir="asc", page=2)
    assert len(first) == 20 and len(second) == 5 and not set(first) & set(second)
    assert listed(client, per=20, sort="number", dir="asc", page=99) == second
    body = page(client, per=20)
    assert "第 1 / 2 页" in body or "Page 1 of 2" in body
    assert len(listed(client)) == 25  # 50 by default


def _frozen_at_local(frozen, *args):
    """Beijing wall-clock time `args` (UTC+8)."""
    moment = datetime(*args, tzinfo=UTC)
    frozen.set(moment.year, moment.month, moment.day, moment.hour)
    frozen.advance(hours=-8)


def test_a_review_is_overdue_after_the_agencys_working_days(client, db, office, auditor,
                                                            frozen):
    """Registered Thursday 2025-04-03 (10:00 Beijing). 4-6 April is the Qingming holiday and a
    weekend: the 10th working day after is Friday 18 April, the 11th Monday 21 April."""
    case = make_incident(auditor)
    _frozen_at_local(frozen, 2025, 4, 18, 17)
    login(client, office)
    body = page(client)
    assert f'data-overdue="{case}"' not in body
    assert 'data-waiting="10"' in body
    assert listed(client, waiting="overdue") == []
    assert listed(client, waiting="me") == [case]
    _frozen_at_local(frozen, 2025, 4, 21, 9)
    login(client, office)
    body = page(client)
    assert f'data-overdue="{case}"' in body and 'data-waiting="11"' in body
    assert listed(client, waiting="overdue") == [case]
    # Starting the review does not restart its deadline; the days waiting start again.
    step(client, case, "start")
    body = page(client)
    assert f'data-overdue="{case}"' in body and 'data-waiting="0"' in body
    # The home panel says so too.
    home = client.get("/").get_data(as_text=True)
    assert 'data-testid="office-overdue" data-count="1"' in home
    # Returned: the registrant's turn, not overdue; supplemented: a new deadline.
    step(client, case, "return", note="请补充。")
    assert listed(client, waiting="overdue") == [] and listed(client, waiting="me") == []
    assert f'data-overdue="{case}"' not in page(client)


def test_the_deadline_is_the_agencys_setting(client, db, office, auditor, frozen):
    case = make_incident(auditor)
    agency = db.session.get(Agency, auditor.agency_id)
    agency.review_due_days = 3
    db.session.commit()
    _frozen_at_local(frozen, 2025, 4, 10, 9)  # 4th working day after 3 April
    login(client, office)
    assert listed(client, waiting="overdue") == [case]
    assert "3 个工作日" in page(client) or "3 working days" in page(client)


def test_closed_cases_and_own_registrations_are_not_waiting_for_me(client, db, office,
                                                                    auditor, frozen):
    mine = make_incident(office)
    theirs = make_incident(auditor)
    closed = make_incident(auditor)
    login(client, office)
    step(client, closed, "close", **FULL)
    _frozen_at_local(frozen, 2025, 5, 30, 9)
    login(client, office)
    assert listed(client, waiting="me") == [theirs]
    assert listed(client, waiting="overdue") == [theirs]
    body = page(client)
    assert f'data-overdue="{mine}"' in body  # overdue for the office, marked as recused
    assert f'data-overdue="{closed}"' not in body


@pytest.mark.parametrize("query", [
    {}, {"waiting": "overdue", "sort": "waiting", "dir": "asc"},
    {"sort": "registrant", "per": 100, "page": 2}, {"waiting": "me", "sort": "status"},
])
def test_statements_per_page_do_not_grow_with_the_queue(client, db, office, auditor, query):
    login(client, office)

    def statements() -> int:
        seen = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        sa.event.listen(db.engine, "before_cursor_execute", listener)
        try:
            page(client, **query)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", listener)
        return len(seen)

    add_cases(auditor, 5, datetime(2025, 1, 2, 2, tzinfo=UTC))
    few = statements()
    add_cases(auditor, 400, datetime(2025, 1, 2, 2, tzinfo=UTC))
    add_cases(auditor, 100)
    assert statements() == few
