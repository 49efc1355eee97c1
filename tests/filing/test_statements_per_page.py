"""The pages an auditor opens every month issue the same SQL statements whatever the length of
their history (issue 16): two years of filings and registrations or eleven, the home page and
"my filings" each ask the same number (before, each filed month loaded its versions on its
own: 275 statements for eleven years)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from app.filing.periods import Period
from app.models import MonthlyReport, ReportVersion
from tests.helpers import factories
from tests.helpers.review import make_incident
from tests.helpers.web import login, statements_of


def _file_months(db, user, first: Period, last: Period) -> None:
    """Zero reports for every month from `first` to `last`, written straight into the tables."""
    for period in first.until(last):
        due = period.next().first_day
        at = datetime(due.year, due.month, 2, 2, tzinfo=UTC)
        report = MonthlyReport(user_id=user.id, period=str(period), first_filed_at=at,
                               late=False)
        report.versions.append(ReportVersion(number=1, is_zero=True, declared=True,
                                             submitted_at=at))
        db.session.add(report)
    db.session.commit()


@pytest.mark.parametrize("url", ["/", "/filing/history"])
def test_the_same_statements_for_two_years_of_filings_and_eleven(app, db, agency, frozen, url):
    counts = []
    for years in (2, 11):
        auditor = factories.UserFactory(agency=agency, joined_on=date(2025 - years, 1, 1))
        _file_months(db, auditor, Period(2025 - years, 1), Period(2025, 2))
        for year in range(2025 - years, 2025):  # a registration a year
            make_incident(auditor, when=datetime(year, 6, 10, 2, tzinfo=UTC),
                          delay_reason="补登")
        client = app.test_client()
        login(client, auditor)
        statements_of(db, client, url)  # the first request of a session also sets it up
        counts.append(statements_of(db, client, url))
    assert counts[0] == counts[1], counts
