"""The discipline office co-opts its own members: no administrator grants or withdraws the
role, for anyone, themselves included; every grant and withdrawal is logged and told."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.core.extensions import db as _db
from app.models import AuditLog, OfficeInvitation, Outbox, User
from tests.helpers import factories
from tests.helpers.admin import user_form
from tests.helpers.web import login, post_form


@pytest.fixture(autouse=True)
def english(app, monkeypatch):
    monkeypatch.setitem(app.config, "BABEL_DEFAULT_LOCALE", "en")


def actions(*names: str) -> list[str]:
    _db.session.expire_all()
    return list(_db.session.scalars(sa.select(AuditLog.action).where(
        AuditLog.action.in_(names)).order_by(AuditLog.id)))


def roles_of(user_id: int) -> set[str]:
    _db.session.expire_all()
    return _db.session.get(User, user_id).roles


@pytest.fixture
def admin(make_user, frozen):
    return make_user(staff_no="ADM1", name="管理员", roles={"admin"})


@pytest.fixture
def as_admin(app, db, admin):
    client = app.test_client()
    login(client, admin)
    return client


def own_edit(admin: User, roles: list[str]) -> dict:
    return user_form(staff_no=admin.staff_no, name=admin.name, email=admin.email or "",
                     roles=roles, joined_on=admin.joined_on.isoformat())


def test_an_administrator_cannot_make_themselves_a_reviewer(as_admin, db, admin):
    response = post_form(as_admin, f"/admin/users/{admin.id}", own_edit(admin, ["admin",
                                                                               "reviewer"]))
    assert response.status_code == 403
    assert "co-opts its own members" in response.get_data(as_text=True)
    assert roles_of(admin.id) == {"admin"}
    assert actions("user.office_role_refused") == ["user.office_role_refused"]
    assert as_admin.get("/review/").status_code == 403


def test_an_administrator_cannot_make_anyone_a_reviewer(as_admin, db, make_user):
    colleague = make_user(staff_no="C001", name="同事")
    response = post_form(as_admin, f"/admin/users/{colleague.id}",
                         user_form(staff_no="C001", name="同事", roles=["auditor", "reviewer"]))
    assert response.status_code == 403 and roles_of(colleague.id) == {"auditor"}
    created = post_form(as_admin, "/admin/users/new", user_form(roles=["reviewer"]),
                        form_url="/admin/users/new")
    assert created.status_code == 403
    assert db.session.scalar(sa.select(User).where(User.staff_no == "N001")) is None
    assert actions("user.office_role_refused") == ["user.office_role_refused"] * 2


def test_an_administrator_can_neither_withdraw_the_role_nor_join_it(as_admin, db, make_user):
    member = make_user(staff_no="R001", name="纪检员", roles={"reviewer"})
    kept = post_form(as_admin, f"/admin/users/{member.id}",
                     user_form(staff_no="R001", name="纪检员改名", roles=["auditor"]))
    assert kept.status_code == 302
    assert roles_of(member.id) == {"auditor", "reviewer"}  # the edit kept what it cannot touch
    both = post_form(as_admin, f"/admin/users/{member.id}",
                     user_form(staff_no="R001", name="纪检员", roles=["admin"]))
    assert both.status_code == 403 and "admin" not in roles_of(member.id)
    page = as_admin.get(f"/admin/users/{member.id}").get_data(as_text=True)
    assert 'value="reviewer"' not in page and 'data-testid="office-role"' in page


@pytest.fixture
def office(app, db, make_user, frozen):
    people = {
        "first": make_user(staff_no="R001", name="赵敏", roles={"reviewer"}),
        "leader": make_user(staff_no="L001", name="王局长", roles={"leader"}),
        "colleague": make_user(staff_no="A001", name="孙丽", email="a001@example.org"),
        "admin": make_user(staff_no="ADM1", name="李明", roles={"admin"}),
    }
    return people


def client_of(app, user):
    client = app.test_client()
    login(client, user)
    return client


def propose(app, office, who="colleague"):
    member = client_of(app, office["first"])
    candidate = office[who]
    response = post_form(member, "/review/office/propose", {"user": str(candidate.id)},
                         form_url="/review/office")
    return member, response


def test_a_member_proposes_and_the_colleague_accepts(app, db, office):
    _member, response = propose(app, office)
    assert response.status_code == 302
    colleague = office["colleague"]
    assert "reviewer" not in roles_of(colleague.id)  # nothing granted before the answer
    them = client_of(app, colleague)
    assert them.get("/review/").status_code == 403
    invitation_page = them.get("/review/office")
    assert 'data-testid="invitation"' in invitation_page.get_data(as_text=True)
    accepted = post_form(
        them, "/review/office/invitation", {"accept": "yes"}, form_url="/review/office"
    )
    assert accepted.status_code == 302
    assert "reviewer" in roles_of(colleague.id)
    assert actions("office.proposed", "office.granted") == ["office.proposed", "office.granted"]
    told = set(db.session.execute(sa.select(Outbox.user_id, Outbox.kind).where(
        Outbox.kind.like("office_%"))))
    for person in ("first", "leader"):
        assert (office[person].id, "office_granted") in told
        assert (office[person].id, "office_proposed") in told
    assert (office["admin"].id, "office_granted") not in told
    assert all('"name"' in p for p in db.session.scalars(
        sa.select(Outbox.params).where(Outbox.kind.like("office_%"))))


def test_a_declined_invitation_grants_nothing(app, db, office):
    propose(app, office)
    them = client_of(app, office["colleague"])
    post_form(them, "/review/office/invitation", {"accept": "no"}, form_url="/review/office")
    assert "reviewer" not in roles_of(office["colleague"].id)
    assert db.session.scalar(sa.select(OfficeInvitation.status)) == "declined"
    assert them.get("/review/office").status_code == 404


def test_an_administrator_cannot_be_proposed(app, db, office):
    _member, response = propose(app, office, "admin")
    assert response.status_code in (400, 409)
    assert "reviewer" not in roles_of(office["admin"].id)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OfficeInvitation)) == 0


def test_a_member_withdraws_another_but_never_the_last(app, db, office):
    second = factories.UserFactory(
        agency=office["first"].agency, staff_no="R002", name="钱纪检", roles={"reviewer"}
    )
    member = client_of(app, office["first"])
    done = post_form(member, f"/review/office/members/{second.id}/withdraw", {},
                     form_url="/review/office")
    assert done.status_code == 302 and "reviewer" not in roles_of(second.id)
    last = post_form(member, f"/review/office/members/{office['first'].id}/withdraw", {},
                     form_url="/review/office")
    assert last.status_code == 409 and "reviewer" in roles_of(office["first"].id)
    assert actions("office.withdrawn") == ["office.withdrawn"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Outbox).where(
        Outbox.kind == "office_withdrawn", Outbox.user_id == office["leader"].id)) == 1


def test_the_office_page_is_for_members_and_the_invited_only(app, db, office):
    for person in ("admin", "leader", "colleague"):
        assert client_of(app, office[person]).get("/review/office").status_code == 404


def test_the_operator_makes_the_first_member_from_the_command_line(app, db, office, runner):
    result = runner.invoke(args=["office", "grant", "A001"])
    assert result.exit_code == 0, result.output
    assert "reviewer" in roles_of(office["colleague"].id)
    refused = runner.invoke(args=["office", "grant", "ADM1"])
    assert refused.exit_code != 0 and "administrator" in refused.output
    listed = runner.invoke(args=["office", "list"])
    assert "A001" in listed.output and "R001" in listed.output
    withdrawn = runner.invoke(args=["office", "withdraw", "A001"])
    assert withdrawn.exit_code == 0 and "reviewer" not in roles_of(office["colleague"].id)
    assert actions("office.granted", "office.withdrawn") == ["office.granted",
                                                            "office.withdrawn"]


def test_the_registrant_sees_who_of_the_office_read_it(app, db, office):
    from tests.helpers.review import make_incident

    incident_id = make_incident(office["colleague"])
    assert client_of(app, office["first"]).get(
        f"/review/incidents/{incident_id}").status_code == 200
    owner = client_of(app, office["colleague"])
    page = owner.get(f"/filing/incidents/{incident_id}").get_data(as_text=True)
    reads = page[page.index('data-testid="reads"'):page.index('data-testid="office-changes"')]
    assert "赵敏" in reads and "opened the registration" in reads
    # Their own opening is not a read by someone else.
    assert reads.count("<li>") == 1


def test_the_registrant_sees_the_offices_changes(app, db, office, runner):
    from tests.helpers.review import make_incident

    incident_id = make_incident(office["colleague"])
    runner.invoke(args=["office", "grant", "L001"])
    page = client_of(app, office["colleague"]).get(
        f"/filing/incidents/{incident_id}").get_data(as_text=True)
    changes = page[page.index('data-testid="office-changes"'):]
    assert "王局长 joined the discipline office" in changes
