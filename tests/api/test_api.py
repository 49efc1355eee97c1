"""The read-only API: tokens (made on the admin page, shown once, stored hashed, scoped to one
agency, revocable), what it answers, its JSON refusals, and its audit trail."""

from __future__ import annotations

import hashlib
import re

import pytest
import sqlalchemy as sa

from app.api import tokens
from app.auth import security
from app.models import ApiToken, AuditLog
from tests.helpers import factories
from tests.helpers.statement import YEAR, prepare_and_sign
from tests.helpers.web import login, post_form

ISSUED = re.compile(r'data-testid="issued-token">.*?<code[^>]*>([^<]+)</code>', re.S)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def admin(make_user):
    return make_user(name="管理员", roles={"admin"})


@pytest.fixture
def token(db, agency, admin):
    issued = tokens.create(agency, "OA 系统", admin)
    db.session.commit()
    return issued.token


def test_an_administrator_makes_a_token_that_is_shown_once_and_stored_hashed(
        client, db, admin, frozen):
    login(client, admin)
    response = post_form(client, "/admin/api-tokens", {"name": "OA 系统"})
    assert response.status_code == 200
    shown = ISSUED.search(response.get_data(as_text=True)).group(1)
    assert shown.startswith("aip_") and len(shown) > 40
    row = db.session.scalar(sa.select(ApiToken))
    assert row.token_hash == hashlib.sha256(shown.encode()).hexdigest()
    assert shown not in {row.name, row.token_hash}
    page = client.get("/admin/api-tokens").get_data(as_text=True)
    assert shown not in page and 'data-token="OA 系统"' in page
    assert client.get("/api/v1/departments", headers=bearer(shown)).status_code == 200
    db.session.expire_all()
    assert db.session.get(ApiToken, row.id).last_used_at == frozen.value


def test_a_token_needs_a_client_name(client, db, admin):
    login(client, admin)
    assert post_form(client, "/admin/api-tokens", {"name": "  "}).status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 0


def test_a_revoked_token_stops_working(client, db, admin, token):
    assert client.get("/api/v1/departments", headers=bearer(token)).status_code == 200
    login(client, admin)
    row = db.session.scalar(sa.select(ApiToken))
    response = post_form(client, f"/admin/api-tokens/{row.id}/revoke", {},
                         form_url="/admin/api-tokens")
    assert response.status_code == 302
    answer = app_client(client).get("/api/v1/departments", headers=bearer(token))
    assert answer.status_code == 401
    assert answer.json["error"] == "unauthorized"
    assert "Bearer" in answer.headers["WWW-Authenticate"]


def app_client(client):
    """A client without the administrator's session."""
    return client.application.test_client()


def test_another_agencys_administrator_cannot_revoke(client, db, token):
    foreign_admin = factories.UserFactory(roles={"admin"})
    login(client, foreign_admin)
    row = db.session.scalar(sa.select(ApiToken))
    response = post_form(client, f"/admin/api-tokens/{row.id}/revoke", {},
                         form_url="/admin/api-tokens")
    assert response.status_code == 404
    assert 'data-token="OA 系统"' not in client.get("/admin/api-tokens").get_data(as_text=True)


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer aip_wrong", "Basic abc",
                                    "Bearer " + "x" * 5000])
def test_without_a_valid_token_the_answer_is_401_in_json(client, db, token, header):
    headers = {"Authorization": header} if header is not None else {}
    response = client.get("/api/v1/departments", headers=headers)
    assert response.status_code == 401
    assert response.json == {"status": 401, "error": "unauthorized",
                             "message": response.json["message"]}


def test_the_api_is_exempt_from_the_session_sign_in_and_a_session_opens_nothing(
        app, client, db, admin, token):
    api = {rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.")}
    assert api and {e.partition(".")[0] for e in api} <= security.TOKEN_BLUEPRINTS  # by name
    # No redirect to the sign-in page: a token, or 401.
    assert client.get("/api/v1/departments").status_code == 401
    login(client, admin)
    assert client.get("/api/v1/departments").status_code == 401
    response = client.get("/api/v1/departments", headers=bearer(token))
    assert response.status_code == 200
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "api.called"))
    assert entry.actor_id is None  # the token read, not the signed-in administrator


def test_no_csrf_token_is_needed_and_nothing_but_get_is_served(client, db, token):
    response = client.post("/api/v1/departments", headers=bearer(token))
    assert response.status_code == 405
    assert response.json["status"] == 405


def test_departments_and_projects_of_the_tokens_agency_only(client, db, agency, token):
    mine = factories.DepartmentFactory(agency=agency, name="审计一科")
    factories.DepartmentFactory(name="外局科室")
    factories.ProjectFactory(agency=agency, name="区教育局预算执行审计", year=2025,
                             department=mine)
    factories.ProjectFactory(agency=agency, name="区卫健委审计", year=2024)
    factories.ProjectFactory(name="外局项目", year=2025)
    db.session.commit()
    departments = client.get("/api/v1/departments", headers=bearer(token)).json
    assert departments == {"departments": [{"id": mine.id, "name": "审计一科",
                                            "archived": False}]}
    projects = client.get("/api/v1/projects", headers=bearer(token)).json["projects"]
    assert [p["name"] for p in projects] == ["区教育局预算执行审计", "区卫健委审计"]
    assert projects[0]["department_id"] == mine.id
    of_2024 = client.get("/api/v1/projects?year=2024", headers=bearer(token)).json
    assert [p["name"] for p in of_2024["projects"]] == ["区卫健委审计"]


@pytest.mark.parametrize("url", ["/api/v1/projects?year=1999", "/api/v1/projects?year=abc",
                                 "/api/v1/projects?year=" + "9" * 5000,
                                 "/api/v1/compliance/2025-13", "/api/v1/compliance/1999-01",
                                 "/api/v1/compliance/2025-3", "/api/v1/compliance/２０２５-03",
                                 "/api/v1/compliance/2025-03?limit=-1",
                                 "/api/v1/compliance/2025-03?limit=5001",
                                 "/api/v1/departments?x=%00"])
def test_bad_input_answers_400_in_json(client, db, token, url):
    response = client.get(url, headers=bearer(token))
    assert response.status_code == 400, url
    assert response.json["status"] == 400 and response.json["message"]


@pytest.mark.parametrize("url", ["/api/v1/statements/1999", "/api/v1/statements/abc",
                                 "/api/v1/statements/99999999999999999999", "/api/v1/nothing"])
def test_unknown_addresses_answer_404_in_json(client, db, token, url):
    response = client.get(url, headers=bearer(token))
    assert response.status_code == 404
    assert response.json["error"] == "not_found"


def test_compliance_figures_and_non_filers_without_content(client, db, year, agency, admin):
    assert year
    token = tokens.create(agency, "OA", admin).token
    db.session.commit()
    june = client.get("/api/v1/compliance/2025-06", headers=bearer(token)).json
    assert june["period"] == "2025-06"
    assert june["unfiled_status"] == "missing"
    assert june["total"]["expected"] == 2 and june["total"]["missing"] == 1
    assert [n["staff_no"] for n in june["non_filers"]] == ["B01"]
    assert june["more_non_filers"] == 0
    none_listed = client.get("/api/v1/compliance/2025-06?limit=0", headers=bearer(token)).json
    assert none_listed["non_filers"] == [] and none_listed["more_non_filers"] == 1
    for month in range(1, 13):
        text = client.get(f"/api/v1/compliance/2025-{month:02d}",
                          headers=bearer(token)).get_data(as_text=True)
        assert "李某某" not in text and "从轻" not in text and "外局" not in text


def test_a_draft_statement_gives_its_state_only_and_a_signed_one_its_figures(
        app, client, db, year, agency, admin):
    people, _ = year
    token = tokens.create(agency, "OA", admin).token
    db.session.commit()
    url = f"/api/v1/statements/{YEAR}"
    assert client.get(url, headers=bearer(token)).json == {
        "year": YEAR, "status": "none", "signed_at": None, "document_number": None,
        "figures": None}
    from tests.helpers.statement import signed_in

    reviewer = signed_in(app, people["reviewer"])
    assert post_form(reviewer, "/statement/prepare", {"year": str(YEAR)},
                     form_url="/statement/").status_code == 302
    draft = client.get(url, headers=bearer(token)).json
    assert draft["status"] == "draft" and draft["figures"] is None
    prepare_and_sign(app, people)
    signed = client.get(url, headers=bearer(token))
    body = signed.json
    assert body["status"] == "locked" and body["signed_at"]
    assert body["figures"]["staff"] == 4
    assert body["figures"]["incidents"] == 3 and body["figures"]["violations"] == 1
    assert len(body["figures"]["months"]) == 12
    text = signed.get_data(as_text=True)
    for secret in ("李某某", "副局长", "从轻", "屈从压力", "区纪委监委", "leading_cadre", "plead"):
        assert secret not in text


def test_every_call_is_in_the_audit_log_under_the_tokens_agency(client, db, agency, token):
    client.get("/api/v1/departments", headers=bearer(token))
    client.get("/api/v1/projects?year=2025", headers=bearer(token))
    client.get("/api/v1/departments", headers=bearer("aip_unknown"))
    entries = db.session.scalars(sa.select(AuditLog).where(AuditLog.action == "api.called")
                                 .order_by(AuditLog.id)).all()
    assert [e.agency_id for e in entries] == [agency.id, agency.id]
    assert ["/api/v1/departments" in e.detail for e in entries] == [True, False]
    assert "year=2025" in entries[1].detail


def test_the_log_page_names_the_client(client, db, admin, token):
    client.get("/api/v1/departments", headers=bearer(token))
    login(client, admin)
    page = client.get("/review/log").get_data(as_text=True)
    assert "OA 系统" in page


def test_the_openapi_document_lists_every_api_route(app, client, db):
    document = client.get("/api/v1/openapi.json").json
    assert document["openapi"].startswith("3.")
    documented = set(document["paths"])
    routes = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule) for rule in app.url_map.iter_rules()
              if rule.endpoint.startswith("api.") and rule.endpoint != "api.openapi_document"}
    assert documented == routes
