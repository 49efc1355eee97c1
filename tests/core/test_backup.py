"""`flask backup create | verify | restore`: an archive taken while the portal writes restores
into another, empty database, where the audit log and the signed statement verify and the
portal serves; a damaged archive, a non-empty target and a restore without evidence are found."""

from __future__ import annotations

import io
import tarfile
import threading
import uuid

import pytest
import sqlalchemy as sa

from app import create_app
from app.core import backup
from app.core.extensions import db as _db
from app.models import Evidence, EvidenceContent, Incident
from tests.helpers.filing import PDF, register
from tests.helpers.statement import YEAR, prepare_and_sign
from tests.helpers.web import IsolatedClient, login


def _is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


@pytest.fixture
def empty_database(app, tmp_path):
    """The URL of another, empty database: an SQLite file, or a PostgreSQL database
    wt10b_restore_* beside the test database."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if _is_sqlite(url):
        yield f"sqlite:///{tmp_path / 'restored.sqlite'}"
        return
    name = f"wt10b_restore_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(sa.make_url(url).set(database="postgres"),
                             isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.make_url(url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def restored(empty_database):
    """A second portal on the empty database."""
    other = create_app("testing", SQLALCHEMY_DATABASE_URI=empty_database)
    other.test_client_class = IsolatedClient
    yield other
    with other.app_context():
        _db.session.remove()
        _db.engine.dispose()


class Writer(threading.Thread):
    """An auditor registering incidents with evidence, one after the other, until stopped."""

    def __init__(self, client) -> None:
        super().__init__(daemon=True)
        self.client, self.stop, self.done = client, threading.Event(), 0
        self.first = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            response = register(self.client, files=[("证据.pdf", PDF)],
                                occurred_at="2026-01-05T10:00")
            assert response.status_code == 302, response.get_data(as_text=True)
            self.done += 1
            self.first.set()


def invoke(app, *args: str):
    """A command of `app` (its own context: a command runs in the current one if any)."""
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args))


def test_a_backup_taken_while_the_portal_writes_restores_and_verifies(
        app, db, client, year, restored, tmp_path):
    people, _cases = year
    prepare_and_sign(app, people)
    login(client, people["a"])
    writer = Writer(client)
    writer.start()
    assert writer.first.wait(30)
    archive = tmp_path / "portal.tar"
    result = invoke(app, "backup", "create", str(archive))
    during = writer.done
    while writer.is_alive() and writer.done < during + 2:  # writes go on after the backup
        writer.join(0.05)
    writer.stop.set()
    writer.join(30)
    assert writer.done >= during + 2, "the writer stopped"
    assert result.exit_code == 0, result.output
    assert "head" in result.output
    result = invoke(app, "backup", "verify", str(archive))
    assert result.exit_code == 0 and "OK: 2 members match" in result.output

    result = invoke(restored, "backup", "restore", str(archive))
    assert result.exit_code == 0, result.output
    result = invoke(restored, "audit", "verify")
    assert result.exit_code == 0, result.output
    result = invoke(restored, "statement", "verify", str(YEAR))
    assert result.exit_code == 0 and "MATCH" in result.output
    with restored.app_context():
        copies = _db.session.scalar(sa.select(sa.func.count()).select_from(Incident))
        item = _db.session.scalars(sa.select(Evidence).order_by(Evidence.id.desc())).first()
        item_id, incident_id = item.id, item.incident_id
    assert 4 <= copies < 3 + writer.done + 1   # the year's three and some of the writes
    # The restored portal serves: sign in, open the registration, download its evidence.
    browser = restored.test_client()
    login(browser, people["a"])
    assert browser.get(f"/filing/incidents/{incident_id}").status_code == 200
    assert browser.get(f"/filing/evidence/{item_id}").data == PDF

    result = invoke(restored, "backup", "restore", str(archive))
    assert result.exit_code != 0 and "is not empty" in result.output


def test_a_restore_without_its_evidence_is_found_by_audit_verify(
        app, db, client, auditor, frozen, restored, tmp_path):
    login(client, auditor)
    assert register(client, files=[("证据.pdf", PDF)]).status_code == 302
    archive = tmp_path / "portal.tar"
    assert invoke(app, "backup", "create", str(archive)).exit_code == 0
    result = invoke(restored, "backup", "restore", str(archive))
    assert result.exit_code == 0
    # The test schema comes from create_all, unstamped: older than the code, as far as it knows.
    assert "run `flask db upgrade` next" in result.output
    with restored.app_context():
        _db.session.execute(sa.delete(EvidenceContent))
        _db.session.commit()
    result = invoke(restored, "audit", "verify")
    assert result.exit_code == 1 and "has no content" in result.output


def _rewrite(archive, name: str, data: bytes) -> None:
    """Replace one member's bytes, keeping the manifest (as damage or tampering would)."""
    with tarfile.open(archive) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    members[name] = data
    with tarfile.open(archive, "w") as tar:
        for member, content in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))


def test_a_damaged_archive_fails_verify_and_is_not_restored(app, db, auditor, restored,
                                                            tmp_path):
    archive = tmp_path / "portal.tar"
    assert invoke(app, "backup", "create", str(archive)).exit_code == 0
    _rewrite(archive, backup.CONFIG, b"{}")
    result = invoke(app, "backup", "verify", str(archive))
    assert result.exit_code == 1 and "config.json: SHA-256 does not match" in result.output
    result = invoke(restored, "backup", "restore", str(archive))
    assert result.exit_code != 0 and "does not verify" in result.output
    with restored.app_context():
        assert sa.inspect(_db.engine).get_table_names() == []


def test_the_archive_holds_no_secret(app, db, tmp_path):
    archive = tmp_path / "portal.tar"
    assert invoke(app, "backup", "create", str(archive)).exit_code == 0
    with tarfile.open(archive) as tar:
        config = tar.extractfile(backup.CONFIG).read().decode()
        assert sorted(tar.getnames()) == sorted(
            [backup.MANIFEST, backup.CONFIG, *[n for n in backup.DATABASE.values()
                                               if n in tar.getnames()]])
    assert app.config["SECRET_KEY"] not in config and "SECRET_KEY" not in config
    assert "EVIDENCE_MAX_BYTES" in config
