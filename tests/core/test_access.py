"""Access control: every route × every role, and ids of others answer 404 exactly as ids that
do not exist. Leaders and administrators never see incident content."""

import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.core import clock
from app.models import AuditLog, Evidence, Incident
from app.statement import signing
from tests.helpers import factories
from tests.helpers.filing import PDF, file_month, incident_form, register
from tests.helpers.web import csrf_token, login, post_form

ROLES = ["anonymous", "owner", "other_auditor", "reviewer", "foreign_reviewer", "leader",
         "admin", "installer"]


def _admin(status: int) -> dict[str, int]:
    """A page of the administration: the administrator gets `status`, others 403."""
    return {"anonymous": 302, "admin": status, "*": 403}


def _installation(status: int) -> dict[str, int]:
    """A page of the installation administrator: they get `status`, others 403."""
    return {"anonymous": 302, "installer": status, "*": 403}


def _statement_reader() -> dict[str, int]:
    """The annual statement's pages: reviewer and leader of its agency; others 403 or 404."""
    return {"anonymous": 302, "reviewer": 200, "leader": 200, "foreign_reviewer": 404,
            "*": 403}


def _rollup() -> dict[str, int]:
    """A roll-up page: reviewers and leaders, of an agency with descendants (404 without)."""
    return {"anonymous": 302, "reviewer": 404, "foreign_reviewer": 404, "leader": 404,
            "*": 403}


# endpoint -> (method, url template, {role: expected status}); "*" is every other role.
MATRIX = {
    "auth.login": ("GET", "/auth/login", {"anonymous": 200, "*": 302}),
    "auth.logout": ("POST", "/auth/logout", {"anonymous": 302, "*": 302}),
    "auth.change_password": ("GET", "/auth/account/password", {"anonymous": 302, "*": 200}),
    # Without a password just given, the code step sends everyone back (to sign in, or home).
    "auth.second_step": ("GET", "/auth/login/code", {"*": 302}),
    "auth.two_factor": ("GET", "/auth/account/two-factor", {"anonymous": 302, "*": 200}),
    # Auditors have no second factor (sent to enrol); the others' POSTs lack the code (400).
    "auth.new_recovery_codes": (
        "POST",
        "/auth/account/two-factor/recovery-codes",
        {"anonymous": 302, "owner": 302, "other_auditor": 302, "*": 400},
    ),
    "auth.disable_two_factor": (
        "POST",
        "/auth/account/two-factor/disable",
        {"anonymous": 302, "owner": 302, "other_auditor": 302, "*": 400},
    ),
    "auth.welcome": ("GET", "/auth/welcome/no-such-token", {"*": 404}),
    "admin.reset_password": (
        "POST",
        "/admin/users/{user}/reset-password",
        {"anonymous": 302, "admin": 200, "*": 403},
    ),
    "home.index": ("GET", "/", {"anonymous": 302, "*": 200}),
    # Addresses of mails sent before the areas had their own prefixes: a redirect for everyone.
    "home.moved_auth_login": ("GET", "/login", {"*": 308}),
    "home.moved_auth_welcome": ("GET", "/welcome/no-such-token", {"*": 308}),
    "home.moved_filing_report": ("GET", "/reports/2025-03", {"anonymous": 302, "*": 308}),
    "home.moved_filing_incident": ("GET", "/incidents/{incident}", {"anonymous": 302, "*": 308}),
    "home.moved_statement_show": ("GET", "/statements/2025", {"anonymous": 302, "*": 308}),
    "home.moved_statement_confirmation": (
        "GET",
        "/confirmation/2025",
        {"anonymous": 302, "*": 308},
    ),
    "home.moved_review_office_page": ("GET", "/office", {"anonymous": 302, "*": 308}),
    "home.moved_notices_bell": ("GET", "/notifications", {"anonymous": 302, "*": 308}),
    "home.rules": ("GET", "/rules", {"anonymous": 302, "*": 200}),
    "filing.history": (
        "GET",
        "/filing/history",
        {"anonymous": 302, "owner": 200, "other_auditor": 200, "*": 403},
    ),
    "home.set_language": ("POST", "/language", {"*": 302}),
    # Public; 503 here: the test schema is not stamped and no scheduler ran (test_health.py).
    "home.healthz": ("GET", "/healthz", {"*": 503}),
    "filing.report": (
        "GET",
        "/filing/reports/2025-03",
        {"anonymous": 302, "owner": 200, "other_auditor": 200, "*": 403},
    ),
    "filing.correct_report": (
        "GET",
        "/filing/reports/2025-03/correct",
        {"anonymous": 302, "owner": 200, "other_auditor": 404, "*": 403},
    ),
    "filing.new_incident": (
        "GET",
        "/filing/incidents/new",
        {"anonymous": 302, "owner": 200, "other_auditor": 200, "*": 403},
    ),
    "filing.incident": (
        "GET",
        "/filing/incidents/{incident}",
        {"anonymous": 302, "owner": 200, "reviewer": 200, "*": 404},
    ),
    "filing.correct_incident": (
        "GET",
        "/filing/incidents/{incident}/correct",
        {"anonymous": 302, "owner": 200, "other_auditor": 404, "*": 403},
    ),
    "filing.download_evidence": (
        "GET",
        "/filing/evidence/{evidence}",
        {"anonymous": 302, "owner": 200, "reviewer": 200, "*": 404},
    ),
    "review.queue": (
        "GET",
        "/review/",
        {"anonymous": 302, "reviewer": 200, "foreign_reviewer": 200, "*": 403},
    ),
    "review.export_queue": (
        "GET",
        "/review/export.csv",
        {"anonymous": 302, "reviewer": 200, "foreign_reviewer": 200, "*": 403},
    ),
    "review.incident": (
        "GET",
        "/review/incidents/{incident}",
        {"anonymous": 302, "reviewer": 200, "foreign_reviewer": 404, "*": 403},
    ),
    # 直报上级: the world's agency has no level above: refused, back to the case (302).
    "review.hand_up": (
        "POST",
        "/review/incidents/{incident}/hand-up",
        {"anonymous": 302, "reviewer": 302, "foreign_reviewer": 404, "*": 403},
    ),
    "review.referral": (
        "GET",
        "/review/incidents/{incident}/referral",
        {"anonymous": 302, "reviewer": 404, "foreign_reviewer": 404, "*": 403},
    ),
    "review.log": (
        "GET",
        "/review/log",
        {"anonymous": 302, "reviewer": 200, "foreign_reviewer": 200, "admin": 200, "*": 403},
    ),
    "compliance.index": (
        "GET",
        "/compliance/?period=2025-03",
        {
            "anonymous": 302,
            "reviewer": 200,
            "foreign_reviewer": 200,
            "leader": 200,
            "admin": 200,
            "*": 403,
        },
    ),
    "compliance.export": (
        "GET",
        "/compliance/export.csv?period=2025-03",
        {
            "anonymous": 302,
            "reviewer": 200,
            "foreign_reviewer": 200,
            "leader": 200,
            "admin": 200,
            "*": 403,
        },
    ),
    "notices.bell": ("GET", "/notices/", {"anonymous": 302, "*": 200}),
    "notices.mark_read": ("POST", "/notices/read", {"*": 302}),
    "notices.outbox_page": ("GET", "/notices/outbox", {"anonymous": 302, "admin": 200, "*": 403}),
    # Without an address the form is refused (400): the administrator reaches it, nobody else.
    "notices.test_mail": (
        "POST",
        "/notices/outbox/test",
        {"anonymous": 302, "admin": 400, "*": 403},
    ),
    # No such outbox row: the administrator gets 404, nobody else reaches the route.
    "notices.retry": (
        "POST",
        "/notices/outbox/0/retry",
        {"anonymous": 302, "admin": 404, "*": 403},
    ),
    # Administration: the admin role only. The POSTs carry no data, so the administrator's are
    # refused (400: no leaving date, already active, no file, no token, no state, no port).
    "review.office_page": (
        "GET",
        "/review/office",
        {"anonymous": 302, "reviewer": 200, "foreign_reviewer": 200, "*": 404},
    ),
    "review.propose_member": (
        "POST",
        "/review/office/propose",
        {"anonymous": 302, "reviewer": 400, "foreign_reviewer": 400, "*": 403},
    ),
    "review.cancel_invitation": (
        "POST",
        "/review/office/invitations/999999/cancel",
        {"anonymous": 302, "reviewer": 404, "foreign_reviewer": 404, "*": 403},
    ),
    # The agency's only member cannot leave the office empty (409); another agency's: 404.
    "review.withdraw_member": (
        "POST",
        "/review/office/members/{user}/withdraw",
        {"anonymous": 302, "reviewer": 409, "foreign_reviewer": 404, "*": 403},
    ),
    "review.answer_invitation": ("POST", "/review/office/invitation", {"anonymous": 302, "*": 404}),
    # The keys (app/keys): set up already (409); a grant or a restore for another agency's
    # account is 404; the key goes to office members only (the owner is an auditor: 409); a
    # restore for the owner goes through (302).
    "review.set_up_keys": (
        "POST",
        "/review/office/keys/setup",
        {"anonymous": 302, "reviewer": 409, "foreign_reviewer": 409, "*": 403},
    ),
    "review.grant_key": (
        "POST",
        "/review/office/members/{user}/grant",
        {"anonymous": 302, "reviewer": 409, "foreign_reviewer": 404, "*": 403},
    ),
    "review.restore_registrant": (
        "POST",
        "/review/office/registrants/{user}/restore",
        {"anonymous": 302, "reviewer": 302, "foreign_reviewer": 404, "*": 403},
    ),
    "admin.index": ("GET", "/admin/", _admin(302)),
    "admin.users": ("GET", "/admin/users?q=登记&role=auditor&active=1", _admin(200)),
    "admin.new_user": ("GET", "/admin/users/new", _admin(200)),
    "admin.edit_user": ("GET", "/admin/users/{user}", _admin(200)),
    "admin.deactivate_user": ("POST", "/admin/users/{user}/deactivate", _admin(400)),
    "admin.reactivate_user": ("POST", "/admin/users/{user}/reactivate", _admin(400)),
    "admin.import_page": ("GET", "/admin/import/users", _admin(200)),
    "admin.import_preview": ("POST", "/admin/import/users", _admin(400)),
    "admin.import_apply": ("POST", "/admin/import/projects/apply", _admin(400)),
    "admin.import_template": ("GET", "/admin/import/projects/template.xlsx", _admin(200)),
    "admin.departments": ("GET", "/admin/departments", _admin(200)),
    "admin.edit_department": ("GET", "/admin/departments/{department}", _admin(200)),
    "admin.archive_department": ("POST", "/admin/departments/{department}/archive", _admin(400)),
    "admin.projects": ("GET", "/admin/projects?year=2025", _admin(200)),
    "admin.edit_project": ("GET", "/admin/projects/{project}", _admin(200)),
    "admin.archive_project": ("POST", "/admin/projects/{project}/archive", _admin(400)),
    "admin.settings": ("GET", "/admin/settings", _admin(200)),
    "admin.add_calendar_day": ("POST", "/admin/settings/calendar", _admin(400)),
    # An empty form changes nothing (every field is optional); no address: nothing is sent.
    "admin.channel_settings": ("POST", "/admin/settings/channels/wecom", _admin(302)),
    "admin.test_channel": ("POST", "/admin/settings/channels/wecom/test", _admin(302)),
    "admin.remove_calendar_day": ("POST", "/admin/settings/calendar/999999/delete", _admin(404)),
    "admin.api_tokens_page": ("GET", "/admin/api-tokens", _admin(200)),
    # The installation administrator's (app/installation). The POSTs carry no data (400); the
    # dismissal of someone who is no administrator is refused and shown on the agency's page.
    "installation.index": ("GET", "/installation/", _installation(200)),
    "installation.agency_page": ("GET", "/installation/agencies/{agency}", _installation(200)),
    "installation.appoint": ("POST", "/installation/agencies/{agency}/admins",
                             _installation(400)),
    "installation.dismiss": ("POST", "/installation/agencies/{agency}/admins/{user}/dismiss",
                             _installation(302)),
    "installation.transfer": ("POST", "/installation/agencies/{agency}/transfer",
                              _installation(400)),
    "installation.settings_page": ("GET", "/installation/settings", _installation(200)),
    "installation.mail_settings": ("POST", "/installation/settings/mail", _installation(400)),
    "installation.test_mail": ("POST", "/installation/settings/test-mail", _installation(400)),
    "admin.revoke_api_token": ("POST", "/admin/api-tokens/999999/revoke", _admin(404)),
    # The roll-up: the discipline office and leaders of an agency with agencies below it; the
    # world's agency has none, so theirs answers 404 like a page that does not exist
    # (tests/rollup performs the attacks across a city and its districts).
    "rollup.index": ("GET", "/rollup/?year=2025", _rollup()),
    "rollup.agency": ("GET", "/rollup/agency/{user}", _rollup()),
    "rollup.compliance": ("GET", "/rollup/compliance?period=2025-03", _rollup()),
    "rollup.non_filers": ("GET", "/rollup/compliance/{user}", _rollup()),
    # The API: by token only (tests/api). A session, whoever's, opens nothing there: 401.
    "api.openapi_document": ("GET", "/api/v1/openapi.json", {"*": 200}),
    "api.departments": ("GET", "/api/v1/departments", {"*": 401}),
    "api.projects": ("GET", "/api/v1/projects?year=2025", {"*": 401}),
    "api.compliance": ("GET", "/api/v1/compliance/2025-03", {"*": 401}),
    "api.statement": ("GET", "/api/v1/statements/2025", {"*": 401}),
    # The annual statement: the discipline office and leaders of the agency (the world holds a
    # draft for 2025); another agency's answers 404. Only a leader signs (2025 is still in
    # progress at the world's date: 409, before any password is asked).
    "statement.index": (
        "GET",
        "/statement/",
        {"anonymous": 302, "reviewer": 200, "foreign_reviewer": 200, "leader": 200, "*": 403},
    ),
    # Without a year the draft is not prepared (400).
    "statement.prepare": (
        "POST",
        "/statement/prepare",
        {"anonymous": 302, "reviewer": 400, "foreign_reviewer": 400, "*": 403},
    ),
    "statement.show": ("GET", "/statement/2025", _statement_reader()),
    "statement.pdf": ("GET", "/statement/2025.pdf", _statement_reader()),
    "statement.xlsx": ("GET", "/statement/2025.xlsx", _statement_reader()),
    "statement.sign": ("POST", "/statement/2025/sign", {"anonymous": 302, "leader": 409, "*": 403}),
    "statement.addendum": (
        "POST",
        "/statement/2025/addenda",
        {"anonymous": 302, "reviewer": 400, "foreign_reviewer": 404, "*": 403},
    ),
    "statement.my_confirmation": (
        "GET",
        "/statement/confirmation",
        {"anonymous": 302, "owner": 302, "other_auditor": 302, "*": 403},
    ),
    "statement.confirmation": (
        "GET",
        "/statement/confirmation/2025",
        {"anonymous": 302, "owner": 200, "other_auditor": 200, "*": 403},
    ),
}
NOT_ROUTES = {"static", "bootstrap.static"}


@pytest.fixture
def world(client, agency, make_user, frozen, project):
    """One auditor with a filed March report, an incident and its evidence, and the others."""
    owner = make_user(name="登记人")
    people = {
        "owner": owner,
        "other_auditor": make_user(),
        "reviewer": make_user(roles={"reviewer"}),
        "foreign_reviewer": factories.UserFactory(roles={"reviewer"}),  # another agency
        "leader": make_user(roles={"leader"}),
        "admin": make_user(roles={"admin"}),
        "installer": make_user(roles={"install_admin"}),
    }
    login(client, owner)
    register(client, project, files=[("证据.pdf", PDF)],
             description="机密内容：某领导请求从轻处理")
    file_month(client, zero=False)
    client.post("/auth/logout", data={"csrf_token": _token(client)})
    incident = client.application.extensions["sqlalchemy"].session.scalar(sa.select(Incident))
    department = factories.DepartmentFactory(agency=agency)
    signing.prepare(agency, 2025, people["reviewer"], clock.now())
    client.application.extensions["sqlalchemy"].session.commit()
    return people, {"incident": incident.id, "evidence": incident.evidence[0].id,
                    "user": owner.id, "project": project.id, "department": department.id,
                    "agency": agency.id}


def _token(client):
    return csrf_token(client, "/")


def test_every_route_has_a_rule(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()} - NOT_ROUTES
    assert endpoints == set(MATRIX), "a new route needs its line in the access matrix"


@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix(app, db, world, role):
    people, ids = world
    client = app.test_client()
    if role != "anonymous":
        login(client, people[role])
    token = None if role == "anonymous" else _token(client)
    for endpoint, (method, template, expected) in MATRIX.items():
        url = template.format(**ids)
        want = expected.get(role, expected.get("*"))
        if method == "GET":
            response = client.get(url)
        else:
            data = {"csrf_token": token or _anonymous_token(client), "lang": "zh_CN"}
            response = client.post(url, data=data)
        assert response.status_code == want, f"{role} {method} {url}"
        if method == "POST" and role != "anonymous" and endpoint == "auth.logout":
            login(client, people[role])
            token = _token(client)


def _anonymous_token(client):
    return csrf_token(client, "/auth/login")


def _without_values(response) -> str:
    return re.sub(r'value="[^"]*"', "", response.get_data(as_text=True))


@pytest.mark.parametrize("role", ["other_auditor", "leader", "admin", "foreign_reviewer"])
def test_forbidden_ids_look_exactly_like_missing_ones(app, db, world, role):
    people, ids = world
    client = app.test_client()
    login(client, people[role])
    for template in ("/filing/incidents/{}", "/filing/evidence/{}"):
        key = "incident" if "incidents" in template else "evidence"
        forbidden = client.get(template.format(ids[key]))
        missing = client.get(template.format(ids[key] + 1000))
        assert forbidden.status_code == missing.status_code == 404
        # Identical but for the hidden fields that echo the URL or carry the CSRF token.
        assert _without_values(forbidden) == _without_values(missing)
        assert "机密内容" not in forbidden.get_data(as_text=True)


def test_enumerating_ids_reveals_nothing(app, db, world):
    people, ids = world
    client = app.test_client()
    login(client, people["other_auditor"])
    statuses = {client.get(f"/filing/incidents/{n}").status_code
                for n in range(1, ids["incident"] + 5)}
    assert statuses == {404}


def test_leaders_and_admins_who_also_file_see_only_their_own(app, db, world, make_user):
    _, ids = world
    for roles in ({"leader", "auditor"}, {"admin", "auditor"}):
        person = make_user(roles=roles)
        client = app.test_client()
        login(client, person)
        assert client.get("/filing/incidents/new").status_code == 200
        assert client.get(f"/filing/incidents/{ids['incident']}").status_code == 404
        assert client.get(f"/filing/evidence/{ids['evidence']}").status_code == 404
        assert "机密内容" not in client.get("/").get_data(as_text=True)
        assert "机密内容" not in client.get("/filing/history").get_data(as_text=True)


def test_a_reviewers_read_of_content_is_logged_and_the_owners_is_not(app, db, world):
    people, ids = world
    reviewer, owner = app.test_client(), app.test_client()
    login(reviewer, people["reviewer"])
    login(owner, people["owner"])
    owner.get(f"/filing/incidents/{ids['incident']}")
    owner.get(f"/filing/evidence/{ids['evidence']}")
    assert "机密内容" in reviewer.get(f"/filing/incidents/{ids['incident']}").get_data(as_text=True)
    assert reviewer.get(f"/filing/evidence/{ids['evidence']}").status_code == 200
    db.session.expire_all()
    reads = db.session.execute(
        sa.select(AuditLog.action, AuditLog.actor_id, AuditLog.object_id)
        .where(AuditLog.action.in_(["incident.read", "evidence.read"]))
        .order_by(AuditLog.id)
    ).all()
    assert reads == [("incident.read", people["reviewer"].id, ids["incident"]),
                     ("evidence.read", people["reviewer"].id, ids["evidence"])]


def test_evidence_is_stored_in_the_database_and_not_served_as_static(app, db, world):
    people, ids = world
    evidence = db.session.get(Evidence, ids["evidence"])
    from app.filing import evidence as storage

    assert storage.data_of(evidence) == PDF
    assert not list(Path(app.config["EVIDENCE_DIR"]).rglob(evidence.storage_key))
    client = app.test_client()
    login(client, people["owner"])
    assert client.get(f"/static/{evidence.storage_key}").status_code == 404


def test_an_auditor_cannot_correct_someone_elses_incident_by_posting(app, db, world):
    people, ids = world
    client = app.test_client()
    login(client, people["other_auditor"])

    response = post_form(client, f"/filing/incidents/{ids['incident']}/correct",
                         {**incident_form(), "reason": "篡改"}, form_url="/filing/incidents/new")
    assert response.status_code == 404
    db.session.expire_all()
    assert len(db.session.get(Incident, ids["incident"]).versions) == 1


@pytest.mark.parametrize(("old", "new"), [
    ("/login?next=%2Freview%2F", "/auth/login?next=/review/"),
    ("/reports/2025-03", "/filing/reports/2025-03"),
    ("/welcome/abc", "/auth/welcome/abc"),
    ("/statements/2025", "/statement/2025"),
    ("/confirmation/2025", "/statement/confirmation/2025"),
])
def test_a_link_from_an_older_mail_lands_on_the_new_address(client, auditor, old, new):
    login(client, auditor)
    response = client.get(old)
    assert response.status_code == 308
    assert response.location == new
