"""Issue 13: the content is sealed at rest, and only the keys of its readers open it.

Each test performs the attack: a dump of the database, a role forced in the database, an
administrator's reset, a lost office, a wrong recovery key.
"""

import os
import subprocess
from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa

from app.core.extensions import db as _db
from app.keys import crypto, custody
from app.models import Incident, KeyGrant, User
from tests.helpers import factories
from tests.helpers.filing import PDF, register
from tests.helpers.review import step
from tests.helpers.web import IsolatedClient, login, post_form

CANARY = "金丝雀7Q3Z"  # planted everywhere a registrant and the office write
CANARY_BYTES = CANARY.encode()


@pytest.fixture
def office(make_user, frozen):
    return make_user(name="赵敏", roles={"reviewer"})


def _client(app) -> IsolatedClient:
    return app.test_client()


def _registered(app, auditor) -> int:
    client = _client(app)
    login(client, auditor)
    evidence = PDF.replace(b"%%EOF", CANARY_BYTES + b"\n%%EOF")
    response = register(client, files=[(f"{CANARY}.pdf", evidence)],
                        actor_name=f"李{CANARY}", description=f"原话：{CANARY}",
                        response_detail=f"拒绝{CANARY}")
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.headers["Location"].rsplit("/", 1)[-1])


def _dump(db) -> bytes:
    url = db.engine.url
    if url.get_backend_name() == "sqlite":  # the file and its write-ahead log, as copied
        db.session.commit()
        # Read by another process: closing a descriptor of the database file in this one
        # would drop every lock SQLite holds on it here (POSIX advisory locks).
        files = [name for name in (url.database, f"{url.database}-wal") if Path(name).exists()]
        return subprocess.run(["cat", *files], capture_output=True, check=True).stdout
    result = subprocess.run(["pg_dump", "--no-owner", "-h", url.host or "127.0.0.1",
                             "-p", str(url.port or 5432), "-U", url.username or "postgres",
                             url.database], capture_output=True, check=True)
    return result.stdout


def test_a_canary_is_nowhere_in_a_dump_and_reads_back_to_its_readers(app, db, auditor, office):
    incident_id = _registered(app, auditor)
    desk = _client(app)
    login(desk, office)
    assert step(desk, incident_id, "comment", note=f"内部意见{CANARY}").status_code == 302
    page = desk.get(f"/review/incidents/{incident_id}").get_data(as_text=True)
    assert page.count(CANARY) >= 4  # name, description, response, comment, file name
    export = desk.get("/review/export.csv").get_data(as_text=True)
    assert CANARY in export
    own = _client(app)
    login(own, auditor)
    assert CANARY in own.get(f"/filing/incidents/{incident_id}").get_data(as_text=True)
    evidence = db.session.scalar(sa.select(Incident).where(Incident.id == incident_id)).evidence[0]
    assert CANARY_BYTES in own.get(f"/filing/evidence/{evidence.id}").data
    dump = _dump(db)
    assert len(dump) > 10_000  # it is the database
    assert CANARY_BYTES not in dump and "原话".encode() not in dump
    # Nor anything under the evidence folder (nothing is written there any more).
    folder = Path(app.config["EVIDENCE_DIR"])
    assert not any(CANARY_BYTES in p.read_bytes() for p in folder.rglob("*") if p.is_file())


def test_a_reviewer_forced_in_the_database_sees_metadata_but_no_content(app, db, auditor,
                                                                        office, make_user):
    incident_id = _registered(app, auditor)
    intruder = make_user(name="王某", roles={"auditor"},  # forced into the office below
                         totp_secret=pyotp.random_base32(32))
    _db.session.execute(sa.text("INSERT INTO user_role (user_id, role) VALUES (:u, 'reviewer')"),
                        {"u": intruder.id})
    _db.session.commit()
    client = _client(app)
    login(client, intruder)
    queue = client.get("/review/")
    assert queue.status_code == 200 and f"#{incident_id}" in queue.get_data(as_text=True)
    page = client.get(f"/review/incidents/{incident_id}").get_data(as_text=True)
    assert CANARY not in page and CANARY not in client.get("/review/export.csv").get_data(
        as_text=True)
    evidence_id = db.session.get(Incident, incident_id).evidence[0].id
    assert client.get(f"/filing/evidence/{evidence_id}").status_code == 403
    # A member who holds the key gives it, deliberately: now the content opens ...
    desk = _client(app)
    login(desk, office)
    granted = post_form(desk, f"/review/office/members/{intruder.id}/grant", {},
                        form_url="/review/office")
    assert granted.status_code == 302
    assert CANARY in client.get(f"/review/incidents/{incident_id}").get_data(as_text=True)
    # The registrant sees the grant, and who of the office opened the registration.
    own = _client(app)
    login(own, auditor)
    page = own.get(f"/filing/incidents/{incident_id}").get_data(as_text=True)
    changes = page[page.index('data-testid="office-changes"'):]
    assert "王某 获得了登记内容的密钥" in changes
    reads = page[page.index('data-testid="reads"'):page.index('data-testid="office-changes"')]
    assert "王某" in reads and "赵敏" not in reads
    # ... and with the role withdrawn, the key goes too.
    assert post_form(desk, f"/review/office/members/{intruder.id}/withdraw", {},
                     form_url="/review/office").status_code == 302
    assert db.session.scalar(sa.select(KeyGrant).where(KeyGrant.user_id == intruder.id)) is None
    _db.session.execute(sa.text("INSERT INTO user_role (user_id, role) VALUES (:u, 'reviewer')"),
                        {"u": intruder.id})
    _db.session.commit()
    again = _client(app)
    login(again, intruder)
    assert CANARY not in again.get(f"/review/incidents/{incident_id}").get_data(as_text=True)


def test_password_change_keeps_access_and_an_admin_reset_loses_it_until_restored(
        app, db, auditor, office, make_user):
    incident_id = _registered(app, auditor)
    own = _client(app)
    login(own, auditor)
    new = "another horse battery staple"
    response = post_form(own, "/auth/account/password",
                         {"current": factories.PASSWORD, "new": new, "confirm": new})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert CANARY in own.get(f"/filing/incidents/{incident_id}").get_data(as_text=True)
    later = _client(app)
    login(later, auditor, new)
    assert CANARY in later.get(f"/filing/incidents/{incident_id}").get_data(as_text=True)
    # The administrator resets the password: the account comes back with an empty key ring.
    admin = make_user(name="李明", roles={"admin"})
    login(as_admin := _client(app), admin)
    done = post_form(as_admin, f"/admin/users/{auditor.id}/reset-password", {},
                     form_url=f"/admin/users/{auditor.id}")
    link = done.get_data(as_text=True).split("/auth/welcome/", 1)[1].split('"', 1)[0].split("<")[0]
    third = "a third horse battery staple"
    own = _client(app)
    response = post_form(own, f"/auth/welcome/{link}", {"new": third, "confirm": third})
    assert response.status_code == 302, response.get_data(as_text=True)
    page = own.get(f"/filing/incidents/{incident_id}").get_data(as_text=True)
    assert CANARY not in page
    # The discipline office still reads it, and restores the registrant's access.
    desk = _client(app)
    login(desk, office)
    assert CANARY in desk.get(f"/review/incidents/{incident_id}").get_data(as_text=True)
    office_page = desk.get("/review/office").get_data(as_text=True)
    assert f"/review/office/registrants/{auditor.id}/restore" in office_page
    assert post_form(desk, f"/review/office/registrants/{auditor.id}/restore", {},
                     form_url="/review/office").status_code == 302
    assert CANARY in own.get(f"/filing/incidents/{incident_id}").get_data(as_text=True)


def test_the_recovery_key_restores_a_reviewer_and_a_wrong_one_is_refused(
        app, db, runner, auditor, make_user, frozen):
    incident_id = _registered(app, auditor)
    member = make_user(name="新委员", roles={"reviewer"})
    db.session.execute(sa.delete(KeyGrant))  # every member has lost access
    db.session.commit()
    wrong = runner.invoke(args=["keys", "recover", "--staff-no", member.staff_no,
                                "--recovery-key", custody.format_recovery(os.urandom(32))])
    assert wrong.exit_code == 1 and "恢复密钥不正确" in wrong.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(KeyGrant)) == 0
    right = runner.invoke(args=["keys", "recover", "--staff-no", member.staff_no,
                                "--recovery-key",
                                custody.format_recovery(factories.RECOVERY_CODE).lower()])
    assert right.exit_code == 0, right.output
    client = _client(app)
    login(client, member)
    assert CANARY in client.get(f"/review/incidents/{incident_id}").get_data(as_text=True)


def test_the_first_member_sets_up_the_keys_and_sees_the_recovery_key_once(app, db, frozen):
    agency = factories.AgencyFactory(keys=False)
    member = factories.UserFactory(agency=agency, roles={"reviewer"})
    auditor = factories.UserFactory(agency=agency)
    client = _client(app)
    login(client, auditor)
    refused = register(client)
    assert refused.status_code == 409 and "尚未设置" in refused.get_data(as_text=True)
    client = _client(app)
    login(client, member)
    shown = post_form(client, "/review/office/keys/setup", {}, form_url="/review/office")
    code = shown.get_data(as_text=True).split('data-testid="recovery-key">', 1)[1].split("<")[0]
    assert custody.parse_recovery(code) is not None
    assert code not in client.get("/review/office").get_data(as_text=True)
    again = post_form(client, "/review/office/keys/setup", {}, form_url="/review/office")
    assert again.status_code == 409
    client = _client(app)
    login(client, auditor)
    assert register(client).status_code == 302


def test_national_algorithm_sm4_is_selectable_and_old_content_still_opens(app, db, auditor,
                                                                         monkeypatch, frozen):
    first = _registered(app, auditor)
    monkeypatch.setitem(app.config, "CONTENT_CIPHER", "sm4-gcm")
    second = _registered(app, auditor)
    stored = db.session.execute(sa.text(
        "SELECT incident_id, description FROM incident_version ORDER BY id")).all()
    ciphers = {incident: crypto.unb64(text[len(crypto.TEXT_PREFIX):])[1]
               for incident, text in stored}
    assert ciphers == {first: crypto.AES_256_GCM, second: crypto.SM4_GCM}
    own = _client(app)
    login(own, auditor)
    for incident_id in (first, second):
        assert CANARY in own.get(f"/filing/incidents/{incident_id}").get_data(as_text=True)


def test_sign_out_forgets_the_unlocked_key(app, db, auditor):
    client = _client(app)
    login(client, auditor)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(custody.SessionKey)) == 1
    post_form(client, "/auth/logout", {}, form_url="/")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(custody.SessionKey)) == 0


def test_a_user_row_holds_no_totp_secret_in_clear(db, office):
    stored = db.session.execute(sa.text("SELECT totp_secret FROM user WHERE id = :u"
                                        if db.engine.dialect.name == "sqlite" else
                                        'SELECT totp_secret FROM "user" WHERE id = :u'),
                                {"u": office.id}).scalar()
    assert stored.startswith("gAAAAA") and office.totp_secret not in stored
    assert db.session.get(User, office.id).totp_secret == office.totp_secret


def test_the_office_keeps_its_own_wrap_and_a_changed_one_falls_back(app, db, auditor, office):
    incident_id = _registered(app, auditor)
    desk = _client(app)
    login(desk, office)
    assert desk.get("/review/").status_code == 200
    incident = db.session.get(Incident, incident_id)
    db.session.refresh(incident)
    assert incident.key_for_office  # made by the queue page, sealed for the office only
    incident.key_for_office = incident.key_for_office[:-4] + "AAAA"
    db.session.commit()
    assert CANARY in desk.get("/review/").get_data(as_text=True)
