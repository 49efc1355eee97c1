"""Nothing of one agency is visible in another (issue 15): the whole route × role matrix of
tests/core/test_access.py, generated again across a city and two of its districts.

District 甲 (the `agency` fixture) holds a registration, its evidence, a filed report, a
department, a project and its people, each marked with a canary. Every role of district 乙 and
of the city, and the installation administrator, then requests every page of the matrix with
甲's ids: no answer may carry a canary (spreadsheets are opened, not read as zip bytes). Every
POST of the matrix is sent with 甲's ids too, and afterwards 甲's records are exactly as they
were.
"""

from __future__ import annotations

import io
import zipfile

import pytest
import sqlalchemy as sa

from app.core import clock
from app.core.extensions import db as _db
from app.models import Incident, User
from app.statement import signing
from tests.core.test_access import MATRIX
from tests.helpers import factories
from tests.helpers.filing import PDF, file_month, register
from tests.helpers.web import csrf_token, login

# What only 甲's registrant and discipline office may read.
CONTENT = ("甲区打探人", "甲区某委办", "甲区机密内容", "甲区应对细节", "甲区证据")
# 甲's people and organisation: nobody outside 甲 sees them (the city's roll-up may name 甲's
# non-filers to the city: those pages are listed in CITY_SEES_PEOPLE).
PEOPLE = ("甲区登记人", "JQ9001", "甲区纪检员", "甲区领导", "甲区保密科", "甲区保密项目")
CITY_SEES_PEOPLE = frozenset({"rollup.non_filers"})
OUTSIDERS = ("b_auditor", "b_reviewer", "b_leader", "b_admin", "city_reviewer", "city_leader",
             "city_admin", "installer")
# Tables a request of an outsider may touch for itself without an agency column (its session,
# its log entries, its notices); every other row of the district must come out unchanged.
OWN_TABLES = {"audit_log", "session_key", "outbox", "heartbeat", "held_evidence"}


@pytest.fixture
def city_world(client, agency, frozen):
    city = factories.AgencyFactory(name="天津市审计局")
    agency.parent = city
    district_b = factories.AgencyFactory(name="乙区审计局", parent=city)
    department = factories.DepartmentFactory(agency=agency, name="甲区保密科")
    project = factories.ProjectFactory(agency=agency, name="甲区保密项目", year=2025)
    owner = factories.UserFactory(agency=agency, name="甲区登记人", staff_no="JQ9001",
                                  department=department)
    a_reviewer = factories.UserFactory(agency=agency, name="甲区纪检员", roles={"reviewer"})
    factories.UserFactory(agency=agency, name="甲区领导", roles={"leader"})

    def person(where, roles):
        return factories.UserFactory(agency=where, roles=roles)

    people = {
        "b_auditor": person(district_b, {"auditor"}),
        "b_reviewer": person(district_b, {"reviewer"}),
        "b_leader": person(district_b, {"leader"}),
        "b_admin": person(district_b, {"admin"}),
        "city_reviewer": person(city, {"reviewer"}),
        "city_leader": person(city, {"leader"}),
        "city_admin": person(city, {"admin"}),
        "installer": person(city, {"install_admin"}),
    }
    _db.session.commit()
    login(client, owner)
    register(client, project, files=[("甲区证据.pdf", PDF)], actor_name="甲区打探人",
             actor_org="甲区某委办", description="甲区机密内容：请求从轻处理",
             response_detail="甲区应对细节")
    file_month(client, zero=False)
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/")})
    login(client, a_reviewer)
    incident = _db.session.scalar(sa.select(Incident))
    assert "甲区机密内容" in client.get(f"/review/incidents/{incident.id}").get_data(as_text=True)
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, "/")})
    signing.prepare(agency, 2025, a_reviewer, clock.now())
    _db.session.commit()
    ids = {"incident": incident.id, "evidence": incident.evidence[0].id, "user": owner.id,
           "project": project.id, "department": department.id, "agency": agency.id}
    return people, ids


def _readable(response) -> str:
    """The answer as a person would read it: a spreadsheet's sheets and strings, unzipped."""
    data = response.get_data()
    if data.startswith(b"PK"):
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            return "".join(book.read(name).decode("utf-8", "replace")
                           for name in book.namelist() if name.endswith(".xml"))
    return data.decode("utf-8", "replace")


def _signed_in(app, user):
    client = app.test_client()
    login(client, user)
    return client


@pytest.mark.parametrize("role", OUTSIDERS)
def test_no_page_shows_another_agencys_records(app, db, city_world, role):
    people, ids = city_world
    client = _signed_in(app, people[role])
    for endpoint, (method, template, _expected) in MATRIX.items():
        if method != "GET":
            continue
        url = template.format(**ids)
        page = _readable(client.get(url))
        for canary in CONTENT:
            assert canary not in page, f"{role} GET {url} shows {canary}"
        if not (role.startswith("city") and endpoint in CITY_SEES_PEOPLE):
            for canary in PEOPLE:
                assert canary not in page, f"{role} GET {url} shows {canary}"


def _snapshot(agency_id: int) -> dict[str, list[tuple]]:
    """Every row of the district (of a table with an agency, its rows; with a user, its
    people's; of the others, all)."""
    def rows(table: sa.Table) -> list[tuple]:
        query = sa.select(table)
        if "agency_id" in table.c:
            query = query.where(table.c.agency_id == agency_id)
        elif "user_id" in table.c:  # e.g. key rings: the district's people's
            query = query.where(table.c.user_id.in_(
                sa.select(User.id).where(User.agency_id == agency_id)))
        return sorted(map(tuple, _db.session.execute(query).all()), key=repr)

    return {name: rows(table) for name, table in _db.metadata.tables.items()
            if name not in OWN_TABLES}


@pytest.mark.parametrize("role", OUTSIDERS)
def test_no_post_changes_another_agencys_records(app, db, city_world, agency, role):
    people, ids = city_world
    before = _snapshot(agency.id)
    client = _signed_in(app, people[role])
    for endpoint, (method, template, _expected) in MATRIX.items():
        if method != "POST":
            continue
        url = template.format(**ids)
        response = client.post(url, data={"csrf_token": csrf_token(client, "/"),
                                          "lang": "zh_CN"})
        assert response.status_code < 500, f"{role} POST {url}"
        if endpoint == "auth.logout":
            client = _signed_in(app, people[role])
    db.session.expire_all()
    assert _snapshot(agency.id) == before
    assert db.session.get(User, ids["user"]).password_hash is not None
