"""The records digest's kept month hashes (format 4, models.DigestPart): a draft reads again
only the months that changed, and no kept hash, stale or forged, ever reaches a signature or a
verification.

Each test performs what could make a kept hash wrong: a correction, a late report, a transfer,
a role taken away (all through the portal: the draft must see them), a record or a kept hash
changed directly in the database (the signature must refuse, and the next draft be right).
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask_babel import force_locale, gettext

from app.admin import employment
from app.core.extensions import db as _db
from app.filing import records
from app.filing.periods import Period
from app.models import Agency, AnnualStatement, DigestPart, MonthlyReport, ReportVersion, UserRole
from app.statement import digest
from tests.helpers import factories
from tests.helpers.statement import NOW, YEAR, signature, signed_in
from tests.helpers.web import post_form

CHANGED = ("The record has changed since the draft was prepared: the discipline office must "
           "prepare the statement again.")


def _kept(agency=None) -> dict[str, tuple[str, int]]:
    _db.session.expire_all()
    where = DigestPart.agency_id == agency.id if agency is not None else sa.true()
    return {part.period: (part.digest, part.last_version_id)
            for part in _db.session.scalars(sa.select(DigestPart).where(where))}


def _prepare(app, people) -> str:
    reviewer = signed_in(app, people["reviewer"])
    response = post_form(reviewer, "/statement/prepare", {"year": str(YEAR)},
                         form_url="/statement/")
    assert response.status_code == 302, response.get_data(as_text=True)
    _db.session.expire_all()
    return _db.session.scalar(sa.select(AnnualStatement.records_digest))


def _sign(app, people) -> tuple[int, str]:
    leader = signed_in(app, people["leader"])
    response = post_form(leader, f"/statement/{YEAR}/sign", signature(people["leader"]),
                         form_url=f"/statement/{YEAR}")
    return response.status_code, response.get_data(as_text=True)


def _in_chinese(app, text: str) -> str:
    with app.test_request_context(), force_locale("zh_CN"):
        return gettext(text)


def _read(agency) -> str:
    """The digest from every record, no kept hash used."""
    return digest.records_digest(agency, YEAR)


def test_a_draft_keeps_each_month_and_reads_again_only_a_month_filed_since(app, db, agency,
                                                                          year):
    people, _cases = year
    first = _prepare(app, people)
    kept = _kept()
    assert sorted(kept) == [f"{YEAR}-{m:02d}" for m in range(1, 13)]
    assert first == _read(agency)
    # B files June late, then corrects March: two months change, ten are reused as they were.
    records.file_report(people["b"], Period(YEAR, 6), zero=True, now=NOW)
    report = db.session.scalar(sa.select(MonthlyReport).where(
        MonthlyReport.user_id == people["b"].id, MonthlyReport.period == f"{YEAR}-03"))
    records.correct_report(report, reason="补充说明", now=NOW)
    db.session.commit()
    again = _prepare(app, people)
    assert again != first and again == _read(agency)
    now_kept = _kept()
    changed = {period for period in kept if now_kept[period][0] != kept[period][0]}
    assert changed == {f"{YEAR}-03", f"{YEAR}-06"}
    assert all(now_kept[p] == kept[p] for p in kept if p not in changed)
    assert _sign(app, people)[0] == 302


def test_a_change_of_who_is_in_scope_reads_the_months_again(app, db, agency, year, frozen):
    people, _cases = year
    _prepare(app, people)
    # A's auditor role ends: their reports leave the statement.
    db.session.execute(sa.delete(UserRole).where(UserRole.user_id == people["a"].id,
                                                 UserRole.role == "auditor"))
    db.session.commit()
    assert _prepare(app, people) == _read(agency)
    # B moves to another agency in the autumn (entered late: a backdated transfer).
    other = factories.AgencyFactory(name="南开区审计局")
    employment.transfer(people["b"], other, None, date(YEAR, 10, 1))
    db.session.commit()
    assert _prepare(app, people) == _read(agency)
    assert _sign(app, people)[0] == 302
    assert digest.verify(db.session.scalar(sa.select(AnnualStatement))).ok


def test_a_record_changed_behind_the_portals_back_is_not_signed_from_a_kept_month(app, db,
                                                                                  agency, year):
    """The kept hash of March still says what March was: the draft made from it is refused at
    the signature, which reads every record; the next draft is made from March as it is (and
    the audit log, not the statement, is what finds the change itself)."""
    people, _cases = year
    before = _prepare(app, people)
    db.session.execute(sa.update(ReportVersion).where(ReportVersion.report_id.in_(
        sa.select(MonthlyReport.id).where(MonthlyReport.period == f"{YEAR}-03")))
        .values(submitted_from="10.0.0.9"))
    db.session.commit()
    assert _prepare(app, people) == before  # from the kept month: the change is not seen
    status, page = _sign(app, people)
    assert status == 409 and _in_chinese(app, CHANGED) in page
    _db.session.expire_all()
    assert _db.session.scalar(sa.select(AnnualStatement.status)) == "draft"
    after = _prepare(app, people)
    assert after != before and after == _read(agency)
    assert _sign(app, people)[0] == 302
    # Signed over March as it is; the audit log's seals still name the changed version.
    verdict = digest.verify(db.session.scalar(sa.select(AnnualStatement)))
    assert verdict.digest == verdict.signed_digest and verdict.figures_match
    assert not verdict.ok and verdict.log_problem.startswith("ReportVersion ")


def test_a_forged_kept_month_does_not_reach_the_signature(app, db, agency, year):
    """An insider who writes a month's hash (with its scope and mark, so that the draft takes
    it) gets a draft the signature refuses; what is signed is read from the records."""
    people, _cases = year
    _prepare(app, people)
    db.session.execute(sa.update(DigestPart).where(DigestPart.period == f"{YEAR}-05")
                       .values(digest="0" * 64))
    db.session.commit()
    forged = _prepare(app, people)
    assert forged != _read(agency)
    assert _sign(app, people)[0] == 409
    assert _prepare(app, people) == _read(agency)
    assert _sign(app, people)[0] == 302


def test_verify_reads_every_record_whatever_is_kept(app, db, agency, year, runner):
    people, _cases = year
    _prepare(app, people)
    assert _sign(app, people)[0] == 302
    item = db.session.scalar(sa.select(AnnualStatement))
    db.session.execute(sa.update(DigestPart).values(digest="f" * 64))
    db.session.commit()
    assert digest.verify(item).ok
    assert runner.invoke(args=["statement", "verify", str(YEAR)]).exit_code == 0
    db.session.execute(sa.delete(DigestPart))
    db.session.execute(sa.update(MonthlyReport).where(MonthlyReport.period == f"{YEAR}-07")
                       .values(late=True))
    db.session.commit()
    assert not digest.verify(item).ok
    assert runner.invoke(args=["statement", "verify", str(YEAR)]).exit_code == 1
    assert _kept() == {}  # verify keeps nothing


def test_the_scheduler_keeps_last_years_months_until_it_is_signed(app, db, agency, year):
    people, _cases = year
    agencies = db.session.scalar(sa.select(sa.func.count(Agency.id)))
    assert agencies == 2  # "foreign" works in another
    assert digest.keep_months(NOW) == agencies  # NOW is January of the next year
    kept = _kept(agency)
    assert len(kept) == 12
    # The draft takes every month from there: the same digest as from the records.
    assert _prepare(app, people) == _read(agency)
    assert _kept(agency) == kept
    assert _sign(app, people)[0] == 302
    db.session.execute(sa.delete(DigestPart))
    db.session.commit()
    assert digest.keep_months(NOW) == agencies - 1  # signed: nothing more to keep
    assert _kept(agency) == {}


def test_the_months_read_on_two_connections_give_the_same_digest(db, agency, year):
    assert digest.records_digest(agency, YEAR, parallel=True) == _read(agency)
