"""`flask keys init` on an installation upgraded with everything in clear (issue 13)."""

import sqlalchemy as sa

from app.models import AnnualStatement, Incident, IncidentVersion
from tests.helpers.legacy import make_legacy
from tests.helpers.statement import YEAR, prepare_and_sign, signed_in
from tests.keys.test_confidentiality import _dump

SECRET = "旧系统明文"


def test_keys_init_seals_a_signed_year_and_everything_keeps_verifying(app, db, runner, year):
    people, cases = year
    for incident in cases.values():
        incident.current.description = f"{SECRET}{incident.id}"
    db.session.commit()
    for incident in db.session.scalars(sa.select(Incident)):
        make_legacy(incident)  # as an old version stored them, then signed the year
    prepare_and_sign(app, people)
    assert SECRET.encode() in _dump(db)
    assert runner.invoke(args=["statement", "verify", str(YEAR)]).exit_code == 0

    result = runner.invoke(args=["keys", "init", "--batch", "2"])
    assert result.exit_code == 0, result.output
    assert "3 registration(s) sealed, 1 signed statement(s) re-digested" in result.output
    assert SECRET.encode() not in _dump(db)
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
    verified = runner.invoke(args=["statement", "verify", str(YEAR)])
    assert verified.exit_code == 0, verified.output
    statement = db.session.scalar(sa.select(AnnualStatement))
    assert statement.records_digest  # the new digest, over the sealed records
    # The office still reads every registration; running again has nothing left to do.
    desk = signed_in(app, people["reviewer"])
    for incident in cases.values():
        page = desk.get(f"/review/incidents/{incident.id}").get_data(as_text=True)
        assert f"{SECRET}{incident.id}" in page
    again = runner.invoke(args=["keys", "init"])
    assert again.exit_code == 0 and "0 registration(s) sealed" in again.output


def test_keys_init_names_an_agency_without_keys_and_leaves_it_in_clear(app, db, runner, auditor,
                                                                       frozen):
    from tests.helpers.review import make_incident

    incident = db.session.get(Incident, make_incident(auditor, description=SECRET))
    make_legacy(incident)
    from app.models import AgencyKey

    db.session.execute(sa.delete(AgencyKey))
    db.session.commit()
    result = runner.invoke(args=["keys", "init"])
    assert result.exit_code == 1 and "has not set up its keys" in result.output
    stored = db.session.scalar(sa.select(IncidentVersion.__table__.c.description))
    assert stored == SECRET


def test_custody_changes_leave_a_signed_statement_verifying(app, db, runner, year):
    """The office's own wrap, made when a member first opens a case, and a registrant's access
    restored after a reset change who holds keys, not the records a statement counted."""
    people, cases = year
    prepare_and_sign(app, people)
    desk = signed_in(app, people["reviewer"])
    assert desk.get("/review/").status_code == 200  # makes the office's wraps
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Incident)
                             .where(Incident.key_for_office.is_not(None))) == len(cases)
    verified = runner.invoke(args=["statement", "verify", str(YEAR)])
    assert verified.exit_code == 0, verified.output
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
