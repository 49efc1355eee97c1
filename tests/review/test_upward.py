"""Registrations that go to the discipline office of the level above (直报上级, issue 15):
addressed there by the registrant, or handed up by their own office. The bureau below then sees
nothing of it (queue, pages, export, log, key) and counts it only as reported above; the level
above reads, reviews and counts it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.core import clock
from app.keys import crypto
from app.models import AuditLog, Incident, IncidentRoute
from app.statement import figures
from tests.helpers import factories
from tests.helpers.filing import file_month, register
from tests.helpers.web import csrf_token, login, post_form

SECRET = "局领导要求删除审计发现"


@pytest.fixture
def city(db, agency):
    city = factories.AgencyFactory(name="天津市审计局")
    agency.parent = city
    db.session.commit()
    return city


@pytest.fixture
def people(city, agency, make_user, frozen):
    return {
        "auditor": make_user(name="直报人"),
        "reviewer": make_user(name="区纪检", roles={"reviewer"}),
        "leader": make_user(name="区领导", roles={"leader"}),
        "city_reviewer": factories.UserFactory(agency=city, name="市纪检", roles={"reviewer"}),
    }


def _client(app, user):
    client = app.test_client()
    login(client, user)
    return client


def _text(response) -> str:
    return response.get_data(as_text=True)


def _register_above(app, auditor) -> tuple[object, Incident]:
    client = _client(app, auditor)
    assert 'data-testid="to-level-above"' in _text(client.get("/filing/incidents/new"))
    response = register(client, description=SECRET, to_level_above="y")
    assert response.status_code == 302, _text(response)
    file_month(client, zero=False)
    from app.core.extensions import db

    return client, db.session.scalar(sa.select(Incident))


def test_a_direct_report_goes_to_the_city_and_the_district_sees_nothing(app, db, agency, city,
                                                                       people):
    client, incident = _register_above(app, people["auditor"])
    assert incident.agency_id == city.id
    [route] = incident.routes
    assert (route.kind, route.from_agency_id, route.to_agency_id) == ("direct", agency.id,
                                                                      city.id)
    own = _text(client.get(f"/filing/incidents/{incident.id}"))
    assert SECRET in own and city.name in own and 'data-testid="routes"' in own

    district = _client(app, people["reviewer"])
    assert f'data-incident="{incident.id}"' not in _text(district.get("/review/"))
    assert district.get(f"/review/incidents/{incident.id}").status_code == 404
    assert district.get(f"/filing/incidents/{incident.id}").status_code == 404
    assert district.get(f"/filing/evidence/{incident.id}").status_code == 404
    assert SECRET not in _text(district.get("/review/export.csv"))
    assert "data-entry=" not in _text(district.get(
        f"/review/log?object_type=Incident&object_id={incident.id}"))
    # The district's key does not open its content key: it is wrapped for the city's alone.
    with pytest.raises(crypto.Undecryptable):
        crypto.unwrap(factories.AGENCY_PRIVATE[agency.id], incident.key_for_agency)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog).where(
        AuditLog.action == "incident.registered", AuditLog.agency_id == agency.id)) == 0

    upper = _client(app, people["city_reviewer"])
    assert f'data-incident="{incident.id}"' in _text(upper.get("/review/"))
    assert SECRET in _text(upper.get(f"/review/incidents/{incident.id}"))
    assert "data-entry=" in _text(upper.get(
        f"/review/log?object_type=Incident&object_id={incident.id}"))


def test_the_statements_count_it_where_it_is_handled(app, db, agency, city, people):
    _register_above(app, people["auditor"])
    below = figures.compute(agency, 2025, clock.now())
    above = figures.compute(city, 2025, clock.now())
    assert (below.incidents, below.reported_above) == (0, 1)
    assert (above.incidents, above.reported_above) == (1, 0)
    assert above.by_category == {"plead": 1}


def test_a_district_leader_sees_no_trace_of_it_on_the_home_page(app, db, people):
    _register_above(app, people["auditor"])
    home = _text(_client(app, people["leader"]).get("/"))
    assert SECRET not in home and "直报人" not in home


def test_without_a_level_above_nothing_is_offered_and_a_forged_form_is_refused(
        app, db, agency, make_user, frozen):
    auditor = make_user()
    client = _client(app, auditor)
    assert 'data-testid="to-level-above"' not in _text(client.get("/filing/incidents/new"))
    response = register(client, description=SECRET, to_level_above="y")
    assert response.status_code == 409
    assert "no agency above" in _text(response) or "上级" in _text(response)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Incident)) == 0


def test_the_district_office_hands_a_case_up_with_its_key(app, db, agency, city, people):
    client = _client(app, people["auditor"])
    register(client, description=SECRET)
    incident = db.session.scalar(sa.select(Incident))
    district = _client(app, people["reviewer"])
    page = _text(district.get(f"/review/incidents/{incident.id}"))
    assert SECRET in page and 'data-testid="hand-up"' in page
    response = post_form(district, f"/review/incidents/{incident.id}/hand-up", {},
                         form_url=f"/review/incidents/{incident.id}")
    assert response.status_code == 302
    db.session.expire_all()
    incident = db.session.get(Incident, incident.id)
    assert (incident.agency_id, incident.key_for_office) == (city.id, None)
    assert [route.kind for route in incident.routes] == ["referred"]
    assert district.get(f"/review/incidents/{incident.id}").status_code == 404
    with pytest.raises(crypto.Undecryptable):
        crypto.unwrap(factories.AGENCY_PRIVATE[agency.id], incident.key_for_agency)
    assert SECRET in _text(_client(app, people["city_reviewer"]).get(
        f"/review/incidents/{incident.id}"))
    [entry] = db.session.scalars(sa.select(AuditLog).where(
        AuditLog.action == "incident.handed_up")).all()
    assert entry.agency_id == agency.id  # in the district's own log
    assert "直报人" not in _text(district.get("/review/"))
    owner_page = _text(client.get(f"/filing/incidents/{incident.id}"))
    assert city.name in owner_page


def test_the_city_office_cannot_hand_a_city_case_further_without_a_level_above(
        app, db, city, people):
    _register_above(app, people["auditor"])
    incident = db.session.scalar(sa.select(Incident))
    upper = _client(app, people["city_reviewer"])
    assert 'data-testid="hand-up"' not in _text(upper.get(f"/review/incidents/{incident.id}"))
    response = upper.post(f"/review/incidents/{incident.id}/hand-up",
                          data={"csrf_token": csrf_token(upper, "/")})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Incident, incident.id).agency_id == city.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(IncidentRoute)) == 1


def test_a_changed_route_changes_the_records_digest_of_the_bureau_below(
        app, db, agency, city, people):
    """The bureau's statement counts the route: a changed one shows in its digest."""
    from app.statement import digest

    _register_above(app, people["auditor"])
    with_route = digest.records_digest(agency, 2025)
    db.session.execute(sa.update(IncidentRoute).values(kind="referred"))
    assert digest.records_digest(agency, 2025) != with_route


def test_a_handed_up_case_counts_in_the_alerts_of_the_level_above(app, db, agency, city,
                                                                  people):
    from app.models import Fingerprint

    register(_client(app, people["auditor"]), description=SECRET)
    incident = db.session.scalar(sa.select(Incident))
    district = _client(app, people["reviewer"])
    post_form(district, f"/review/incidents/{incident.id}/hand-up", {},
              form_url=f"/review/incidents/{incident.id}")
    db.session.expire_all()
    assert set(db.session.scalars(sa.select(Fingerprint.agency_id))) == {city.id}
