"""Evidence lives in the database: it commits or disappears with its registration (a worker
killed mid-upload leaves nothing), `audit verify` finds content missing or changed, and files
from before the move are imported."""

from __future__ import annotations

import hashlib
import os
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app.filing import evidence
from app.models import Evidence, EvidenceContent, Incident
from tests.helpers.factories import PASSWORD
from tests.helpers.filing import PDF, incident_form, register
from tests.helpers.legacy import make_legacy
from tests.helpers.live import Browser, LiveServer
from tests.helpers.web import login

NINE_MB = 9 * 2**20


def evidence_files() -> list[tuple[str, str, bytes]]:
    return [("evidence", f"证据{n}.pdf", b"%PDF-1.4\n" + os.urandom(NINE_MB - 9))
            for n in range(5)]


def files_under(*folders: Path) -> list[Path]:
    return [p for folder in folders for p in folder.rglob("*") if p.is_file()]


def whole_registrations(db) -> int:
    """Every incident has its five evidence records, each with exactly its content: returns
    how many incidents there are."""
    db.session.rollback()
    incidents = db.session.scalars(sa.select(Incident)).all()
    for incident in incidents:
        assert len(incident.evidence) == 5
        for item in incident.evidence:
            assert item.content is not None
            assert hashlib.sha256(evidence.data_of(item)).hexdigest() == item.sha256
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EvidenceContent)) == \
        5 * len(incidents)
    return len(incidents)


class Upload:
    """One auditor's 5 × 9 MB registration sent in 1 MB pieces to a live server."""

    def __init__(self, browser: Browser) -> None:
        now = datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(days=1)
        fields = incident_form(occurred_at=now.strftime("%Y-%m-%dT%H:%M"),
                               delay_reason="补登")
        self.body, self.content_type = browser.multipart("/filing/incidents/new", fields,
                                                         evidence_files())
        self.connection = browser.connection()
        self.connection.putrequest("POST", "/filing/incidents/new")
        for name, value in (("Cookie", browser.cookie), ("Content-Type", self.content_type),
                            ("Content-Length", str(len(self.body)))):
            self.connection.putheader(name, value)
        self.connection.endheaders()
        self.sent = 0

    def send(self, until: int) -> None:
        while self.sent < min(until, len(self.body)):
            piece = self.body[self.sent:self.sent + 2**20]
            self.connection.send(piece)
            self.sent += len(piece)

    def finish(self) -> int:
        self.send(len(self.body))
        response = self.connection.getresponse()
        response.read()
        return response.status


@pytest.fixture
def live(app, db, tmp_path):
    folders = (tmp_path / "evidence", tmp_path / "tmp")
    for folder in folders:
        folder.mkdir()
    server = LiveServer(app.config["SQLALCHEMY_DATABASE_URI"], *folders)
    yield server, folders
    server.stop()


def test_a_worker_killed_while_an_auditor_uploads_leaves_nothing_behind(
        app, db, client, auditor, make_user, live):
    server, folders = live
    browser = Browser(server.port)
    assert browser.post_form("/auth/login", {"identifier": auditor.staff_no,
                                        "password": PASSWORD}) == 302
    # Killed while the files are still arriving: nothing at all.
    upload = Upload(browser)
    upload.send(len(upload.body) // 2)
    server.kill_worker()
    assert whole_registrations(db) == 0 and files_under(*folders) == []
    # Killed after the last byte, while the server works: as soon as anything shows up on its
    # disk, or after a while. Whatever it had done is whole or gone.
    for wait in (0.05, 0.3, 1.0):
        upload = Upload(browser)
        upload.send(len(upload.body))
        deadline = time.monotonic() + wait
        while not files_under(folders[0]) and time.monotonic() < deadline:
            time.sleep(0.005)
        server.kill_worker()
        whole_registrations(db)
        assert files_under(*folders) == []
    # A completed upload: saved whole, downloadable through the same access rules.
    before = whole_registrations(db)
    upload = Upload(browser)
    assert upload.finish() == 302
    assert whole_registrations(db) == before + 1
    item = db.session.scalars(sa.select(Evidence).order_by(Evidence.id.desc())).first()
    status, data = browser.request("GET", f"/filing/evidence/{item.id}")
    assert status == 200 and hashlib.sha256(data).hexdigest() == item.sha256
    login(client, make_user())
    assert client.get(f"/filing/evidence/{item.id}").status_code == 404
    assert files_under(*folders) == []


def test_an_upload_over_the_limit_is_still_refused(client, db, auditor, frozen):
    login(client, auditor)
    big = b"%PDF-1.4\n" + b"0" * (10 * 2**20)
    response = register(client, files=[("大.pdf", big)])
    assert response.status_code == 400 and "10 MB" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(EvidenceContent)) == 0


@pytest.fixture
def registered(client, db, auditor, frozen):
    login(client, auditor)
    assert register(client, files=[("证据.pdf", PDF)]).status_code == 302
    return db.session.scalar(sa.select(Evidence))


def test_audit_verify_finds_missing_evidence_content(db, runner, registered):
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
    db.session.execute(sa.delete(EvidenceContent))
    db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"Evidence {registered.id} has no content" in result.output


def test_audit_verify_finds_changed_evidence_content(db, runner, registered):
    db.session.execute(sa.update(EvidenceContent).values(data=b"%PDF-1.4 forged"))
    db.session.commit()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert "differs from its recorded SHA-256" in result.output


def test_files_from_before_the_move_are_imported_checked_by_digest(app, db, runner,
                                                                   registered):
    """An installation upgraded from file storage: records without content, files on disk."""
    make_legacy(registered.incident)
    db.session.execute(sa.delete(EvidenceContent))
    db.session.commit()
    with app.test_request_context():
        path = evidence.legacy_path(registered)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"%PDF-1.4 not the same")
    result = runner.invoke(args=["evidence", "import-files"])
    assert result.exit_code == 1 and "does not match its SHA-256" in result.output
    path.write_bytes(PDF)
    result = runner.invoke(args=["evidence", "import-files"])
    assert result.exit_code == 0 and "1 file(s) copied" in result.output
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
    path.unlink()
