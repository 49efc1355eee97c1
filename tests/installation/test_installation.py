"""The installation administrator (issue 15): the agency tree, each agency's administrators,
the installation-wide settings; and what an agency's administrator can no longer do."""

from __future__ import annotations

import json
from datetime import date

import pytest
import sqlalchemy as sa

from app.admin import employment
from app.core import mailsettings
from app.installation.cli import installation_group
from app.models import Agency, AuditLog, Department, MailSettings, Outbox, User, UserRole
from tests.helpers import factories
from tests.helpers import smtp as smtp_helpers
from tests.helpers.admin import fresh, logs, user_form
from tests.helpers.web import login, post_form

SETTINGS = "/installation/settings"
MAIL = f"{SETTINGS}/mail"


@pytest.fixture(autouse=True)
def english(app, monkeypatch):
    monkeypatch.setitem(app.config, "BABEL_DEFAULT_LOCALE", "en")


@pytest.fixture
def city(db, agency):
    city = factories.AgencyFactory(name="天津市审计局")
    agency.parent = city
    db.session.commit()
    return city


@pytest.fixture
def installer(city):
    return factories.UserFactory(agency=city, staff_no="INST1", name="平台管理员",
                                 roles={"install_admin"})


@pytest.fixture
def as_installer(app, db, installer, frozen):
    client = app.test_client()
    login(client, installer)
    return client


@pytest.fixture
def as_admin(app, db, make_user, frozen):
    client = app.test_client()
    login(client, make_user(staff_no="ADM1", name="管理员", roles={"admin"}))
    return client


def text(response) -> str:
    return response.get_data(as_text=True)


def test_the_tree_shows_each_agency_under_its_parent(as_installer, db, city, agency, make_user):
    make_user(staff_no="XA01", name="区管理员", roles={"admin"})
    page = text(as_installer.get("/installation/"))
    assert page.index(city.name) < page.index(agency.name)
    assert f'data-agency="{agency.id}" data-depth="1"' in page
    assert "区管理员 (XA01)" in page


def test_a_new_district_is_created_under_the_city(as_installer, db, city):
    response = post_form(as_installer, "/installation/", {
        "name": "河西区审计局", "parent": str(city.id), "timezone": "Asia/Shanghai",
        "deadline_day": "5"})
    assert response.status_code == 302
    district = db.session.scalar(sa.select(Agency).where(Agency.name == "河西区审计局"))
    assert district.parent_id == city.id
    assert response.headers["Location"] == f"/installation/agencies/{district.id}"
    assert logs(db, "agency.created")[-1] == {"name": "河西区审计局", "parent": city.name}
    again = post_form(as_installer, "/installation/", {
        "name": "河西区审计局", "parent": "0", "timezone": "Asia/Shanghai", "deadline_day": "5"},
        form_url="/installation/")
    assert again.status_code == 400
    assert "already exists" in text(again)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Agency).where(
        Agency.name == "河西区审计局")) == 1


def test_an_agency_cannot_be_put_under_its_own_district(as_installer, db, city, agency):
    url = f"/installation/agencies/{city.id}"
    response = post_form(as_installer, url, {"name": city.name, "parent": str(agency.id)})
    # Its own districts are not even offered; a forged choice is refused as invalid.
    assert response.status_code == 400
    assert fresh(db, Agency, city.id).parent_id is None
    old_name = agency.name
    moved = post_form(as_installer, f"/installation/agencies/{agency.id}",
                      {"name": "西青区审计局（新）", "parent": "0"})
    assert moved.status_code == 302
    assert (fresh(db, Agency, agency.id).parent_id, fresh(db, Agency, agency.id).name) == (
        None, "西青区审计局（新）")
    assert logs(db, "agency.placed")[-1]["changes"] == {
        "name": [old_name, "西青区审计局（新）"], "parent": [city.name, None]}


def test_a_new_agency_gets_its_administrator_and_a_sign_in_link(as_installer, db, city):
    district = factories.AgencyFactory(name="北辰区审计局", parent=city)
    url = f"/installation/agencies/{district.id}/admins"
    response = post_form(as_installer, url, {"staff_no": "BC01", "name": "北辰管理员",
                                             "email": ""},
                         form_url=f"/installation/agencies/{district.id}")
    assert response.status_code == 200
    assert 'data-testid="signin-link"' in text(response)
    user = db.session.scalar(sa.select(User).where(User.staff_no == "BC01"))
    assert (user.agency_id, user.roles, user.password_hash) == (district.id, {"admin"}, None)
    # In the district's own log: its administrators see who was appointed, and by whom.
    assert db.session.scalar(sa.select(AuditLog.agency_id).where(
        AuditLog.action == "installation.admin_appointed")) == district.id
    dismissed = post_form(as_installer, f"{url}/{user.id}/dismiss", {},
                          form_url=f"/installation/agencies/{district.id}")
    assert dismissed.status_code == 302
    assert fresh(db, User, user.id).roles == {"auditor"}


@pytest.mark.parametrize(("staff_no", "roles", "message"), [
    ("OTHER1", {"auditor"}, "belongs to another agency"),
    ("REV1", {"reviewer"}, "cannot be an administrator"),
    ("NEW9", None, "give a name to create it"),
])
def test_wrong_appointments_change_nothing(as_installer, db, city, agency, staff_no, roles,
                                            message):
    if roles is not None:
        factories.UserFactory(staff_no=staff_no, roles=roles,
                              agency=city if staff_no == "OTHER1" else agency)
    before = db.session.scalar(sa.select(sa.func.count()).select_from(User))
    response = post_form(as_installer, f"/installation/agencies/{agency.id}/admins",
                         {"staff_no": staff_no, "name": "", "email": ""},
                         form_url=f"/installation/agencies/{agency.id}")
    assert response.status_code in (400, 409)
    assert message in text(response)
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == before
    assert db.session.scalar(sa.select(UserRole.user_id).join(User).where(
        User.staff_no == staff_no, UserRole.role == "admin")) is None


def transfer_form(client, agency, **values):
    data = {"staff_no": "MOVE1", "department": "财政审计科", "on": "2025-04-01", **values}
    return post_form(client, f"/installation/agencies/{agency.id}/transfer", data,
                     form_url=f"/installation/agencies/{agency.id}")


def test_the_installation_administrator_transfers_someone_between_districts(
        as_installer, db, city, agency):
    person = factories.UserFactory(agency=city, staff_no="MOVE1", name="调动人",
                                   joined_on=date(2020, 1, 1), roles={"auditor", "leader"})
    response = transfer_form(as_installer, agency)
    assert response.status_code == 302
    page = text(as_installer.get(response.headers["Location"]))
    assert f"调动人 (MOVE1) works in {agency.name} from 2025-04-01." in page
    moved = fresh(db, User, person.id)
    assert (moved.agency_id, moved.department.name, moved.roles) == (
        agency.id, "财政审计科", {"auditor"})
    assert [(e.agency_id, e.started_on, e.ended_on) for e in employment.history(moved)] == [
        (city.id, date(2020, 1, 1), date(2025, 3, 31)), (agency.id, date(2025, 4, 1), None)]
    assert [detail["on"] for detail in logs(db, "user.transferred")] == ["2025-04-01"] * 2
    # In both agencies' logs: who left the one, who arrived in the other.
    assert set(db.session.scalars(sa.select(AuditLog.agency_id).where(
        AuditLog.action == "user.transferred"))) == {city.id, agency.id}


@pytest.mark.parametrize(("values", "status", "message"), [
    ({"staff_no": "NOBODY"}, 400, "No account has staff number NOBODY"),
    ({"on": "2025-04-04"}, 400, "cannot be in the future"),      # today is 3 April
    ({"on": "2019-12-31"}, 400, "after the start of the current period"),
    ({"on": ""}, 400, "This field is required"),
])
def test_a_transfer_the_rules_refuse_changes_nothing_from_the_web(
        as_installer, db, city, agency, values, status, message):
    person = factories.UserFactory(agency=city, staff_no="MOVE1", joined_on=date(2020, 1, 1))
    response = transfer_form(as_installer, agency, **values)
    assert response.status_code == status
    assert message in text(response)
    assert 'data-testid="transfer-form"' in text(response)
    assert fresh(db, User, person.id).agency_id == city.id
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Department)) == 0
    assert logs(db, "user.transferred") == []


def test_the_same_agency_is_not_a_transfer(as_installer, db, city, agency):
    factories.UserFactory(agency=agency, staff_no="MOVE1", joined_on=date(2020, 1, 1))
    response = transfer_form(as_installer, agency, department="")
    assert response.status_code in (400, 409)
    assert "already works in" in text(response)


def test_only_the_installation_administrator_reaches_its_pages(app, db, agency, make_user,
                                                               frozen):
    for roles in ({"admin"}, {"leader"}, {"reviewer"}, {"auditor"}):
        client = app.test_client()
        login(client, make_user(roles=roles))
        for url in ("/installation/", SETTINGS, f"/installation/agencies/{agency.id}"):
            assert client.get(url).status_code == 403, (roles, url)
        assert post_form(client, MAIL, mail_form(),
                         form_url="/").status_code == 403
    assert db.session.scalar(sa.select(MailSettings)) is None


def test_the_agency_administrator_no_longer_holds_the_mail_settings(as_admin, db):
    page = text(as_admin.get("/admin/settings"))
    assert 'data-testid="mail-form"' not in page and 'name="smtp_host"' not in page
    assert 'data-testid="installation-settings-note"' in page
    assert post_form(as_admin, "/admin/settings/mail", mail_form(),
                     form_url="/admin/settings").status_code == 404


def test_an_agency_administrator_cannot_give_the_installation_role(as_admin, db, make_user):
    """A forged account form: the role is refused, logged, and nothing changes."""
    user = make_user(staff_no="N001")
    response = post_form(as_admin, f"/admin/users/{user.id}", user_form(
        roles=["auditor", "install_admin"]), form_url=f"/admin/users/{user.id}")
    assert response.status_code in (400, 403)
    assert fresh(db, User, user.id).roles == {"auditor"}
    new = post_form(as_admin, "/admin/users/new", user_form(
        staff_no="N002", roles=["install_admin"]), form_url="/admin/users/new")
    assert new.status_code in (400, 403)
    assert db.session.scalar(sa.select(User).where(User.staff_no == "N002")) is None


def test_an_agency_administrator_editing_the_installer_keeps_their_role(as_admin, db, agency):
    """The installation administrator's account may sit in a district: its administrator's
    edit changes the fields it may, and the role stays."""
    installer = factories.UserFactory(agency=agency, staff_no="N003",
                                      roles={"auditor", "install_admin"})
    response = post_form(as_admin, f"/admin/users/{installer.id}", user_form(
        staff_no="N003", name="改名", roles=["auditor"]), form_url=f"/admin/users/{installer.id}")
    assert response.status_code == 302
    assert fresh(db, User, installer.id).roles == {"auditor", "install_admin"}
    assert fresh(db, User, installer.id).name == "改名"


def test_the_role_is_given_and_withdrawn_from_the_command_line(runner, db, make_user):
    user = make_user(staff_no="OPS1")
    result = runner.invoke(installation_group, ["grant", "OPS1"])
    assert result.exit_code == 0, result.output
    assert fresh(db, User, user.id).roles == {"auditor", "install_admin"}
    assert runner.invoke(installation_group, ["grant", "OPS1"]).exit_code == 1
    reviewer = make_user(staff_no="OPS2", roles={"reviewer"})
    refused = runner.invoke(installation_group, ["grant", "OPS2"])
    assert refused.exit_code == 1 and "discipline office" in refused.output
    assert fresh(db, User, reviewer.id).roles == {"reviewer"}
    assert runner.invoke(installation_group, ["withdraw", "OPS1"]).exit_code == 0
    assert fresh(db, User, user.id).roles == {"auditor"}
    assert [entry["staff_no"] for entry in logs(db, "installation.role_granted")] == ["OPS1"]


def test_the_tree_command_lists_every_agency_under_its_parent(runner, db, city, agency):
    result = runner.invoke(installation_group, ["tree"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].startswith(city.name) and lines[1].startswith(f"  {agency.name}")


def test_the_installation_administrator_cannot_join_a_discipline_office(db, installer, city):
    from app.core import clock
    from app.review import office

    with pytest.raises(office.OfficeRefused):
        office.grant_by_operator(installer, clock.now())
    assert "install_admin" in fresh(db, User, installer.id).roles


def mail_form(**overrides) -> dict:
    return {"smtp_host": "mail.example.org", "smtp_port": "587", "smtp_tls": "y",
            "smtp_user": "portal", "smtp_password": "s3cret-smtp",
            "mail_from": "portal@example.org",
            "portal_base_url": "https://portal.example.org", **overrides}


def test_mail_settings_store_the_password_encrypted_and_log_it_masked(as_installer, db, app):
    response = post_form(as_installer, MAIL, mail_form(), form_url=SETTINGS)
    assert response.status_code == 302
    db.session.expire_all()
    row = db.session.scalar(sa.select(MailSettings))
    assert (row.smtp_host, row.smtp_port, row.smtp_tls, row.smtp_user) == (
        "mail.example.org", 587, True, "portal")
    assert "s3cret" not in row.smtp_password
    assert mailsettings.decrypt(row.smtp_password) == "s3cret-smtp"
    [entry] = logs(db, "mail_settings.changed")
    assert entry["changes"]["smtp_password"] == [None, "******"]
    assert entry["changes"]["smtp_host"] == [None, "mail.example.org"]
    assert "s3cret" not in json.dumps(logs(db, "mail_settings.changed"))
    page = as_installer.get(SETTINGS).get_data(as_text=True)
    assert "s3cret" not in page and "A password is stored" in page

    # A blank password keeps it; "remove" removes it.
    post_form(as_installer, MAIL, mail_form(smtp_password=""),
              form_url=SETTINGS)
    assert mailsettings.decrypt(fresh(db, MailSettings, row.id).smtp_password) == "s3cret-smtp"
    post_form(as_installer, MAIL, mail_form(smtp_password="", clear_password="y"),
              form_url=SETTINGS)
    assert fresh(db, MailSettings, row.id).smtp_password is None
    assert logs(db, "mail_settings.changed")[-1]["changes"] == {
        "smtp_password": ["******", ""]}


@pytest.mark.parametrize("overrides", [
    {"smtp_port": ""}, {"smtp_port": "70000"}, {"mail_from": "nobody"},
    {"portal_base_url": "ftp://portal.example.org"}, {"portal_base_url": "portal"},
])
def test_wrong_mail_settings_change_nothing(as_installer, db, overrides):
    response = post_form(as_installer, MAIL, mail_form(**overrides),
                         form_url=SETTINGS)
    assert response.status_code == 400
    assert db.session.scalar(sa.select(MailSettings)) is None


def test_the_outbox_sends_through_the_mail_settings(app, db, as_installer, monkeypatch):
    server = smtp_helpers.SmtpServer()
    server.start()
    try:
        monkeypatch.setitem(app.config, "SMTP_HOST", "")  # nothing configured by the operator
        response = post_form(as_installer, MAIL, mail_form(
            smtp_host="127.0.0.1", smtp_port=str(server.port), smtp_tls="", smtp_user="",
            smtp_password="", mail_from="portal@xq-audit.example",
            portal_base_url="https://portal.xq.example/"), form_url=SETTINGS)
        assert response.status_code == 302
        post_form(as_installer, f"{SETTINGS}/test-mail", {"address": "it@example.org"},
                  form_url=SETTINGS)
        [message] = server.to("it@example.org")
        assert message["From"] == "portal@xq-audit.example"
        assert "https://portal.xq.example/" in smtp_helpers.body(message)
        assert db.session.scalar(sa.select(Outbox.status)) == "sent"
    finally:
        server.stop()


def test_the_environment_wins_over_the_mail_settings(app, db, as_installer, monkeypatch):
    monkeypatch.setenv("SMTP_HOST", "env-mail.example.org")
    monkeypatch.setitem(app.config, "SMTP_HOST", "env-mail.example.org")
    page = as_installer.get(SETTINGS).get_data(as_text=True)
    assert "SMTP_HOST" in page and 'name="smtp_host"' not in page
    response = post_form(as_installer, MAIL, mail_form(smtp_host="web.example.org"),
                         form_url=SETTINGS)
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.scalar(sa.select(MailSettings)).smtp_host is None
    with app.app_context():
        assert mailsettings.effective().smtp_host == "env-mail.example.org"
        assert mailsettings.effective().smtp_port == 587  # not pinned: the database's


def test_a_password_stored_under_another_secret_key_is_reported(app, db, as_installer, monkeypatch):
    post_form(as_installer, MAIL, mail_form(), form_url=SETTINGS)
    db.session.expire_all()
    row = mailsettings.stored()
    assert not mailsettings.unreadable_password(row)
    monkeypatch.setitem(app.config, "SECRET_KEY", "a-new-secret-key")
    assert mailsettings.unreadable_password(row)
    assert mailsettings.value("smtp_password", row) == ""




def test_the_home_page_names_the_agencies_without_an_administrator(as_installer, db, city,
                                                                   agency, make_user):
    make_user(roles={"admin"})
    page = text(as_installer.get("/"))
    assert 'data-testid="installation-glance"' in page
    assert f"{city.name} has no administrator" in page
    assert f"{agency.name} has no administrator" not in page
    assert 'data-testid="installation-no-mail"' in page
