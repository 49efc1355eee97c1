"""A file chosen on a registration form that came back for a correction is kept on the server
for the next submission, for its uploader's session only."""

import io
import re

import sqlalchemy as sa

from app.filing import evidence
from app.models import Evidence, HeldEvidence, Incident
from tests.helpers.filing import PDF, PNG, incident_form
from tests.helpers.web import login, post_form


def _post(client, files=(), **fields):
    data = {**incident_form(), **fields}
    if files:
        data["evidence"] = [(io.BytesIO(content), name) for name, content in files]
    return post_form(client, "/filing/incidents/new", data, form_url="/filing/incidents/new",
                     content_type="multipart/form-data")


def _tokens(page: str) -> list[str]:
    return re.findall(r'name="held" value="([^"]+)"', page)


def test_a_file_chosen_before_an_error_is_kept_and_saved_with_the_registration(
        client, db, auditor, frozen):
    login(client, auditor)
    response = _post(client, [("证据.pdf", PDF)], description="")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "证据.pdf" in page and 'data-testid="held-evidence"' in page
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Incident)) == 0
    done = _post(client, held=_tokens(page))
    assert done.status_code == 302
    saved = db.session.scalar(sa.select(Evidence))
    assert saved.filename == "证据.pdf" and evidence.data_of(saved) == PDF
    assert db.session.scalar(sa.select(sa.func.count()).select_from(HeldEvidence)) == 0


def test_a_refused_file_is_named_and_the_good_one_beside_it_kept(client, db, auditor, frozen):
    login(client, auditor)
    response = _post(client, [("照片.png", PNG), ("程序.pdf", b"MZ\x90\x00" + b"\x00" * 200)])
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "程序.pdf" in page  # named in the error
    held = db.session.scalars(sa.select(HeldEvidence)).all()
    assert len(held) == 1 and "照片.png" in page  # sealed at rest: named only to its session
    assert b"\x89PNG" not in held[0].data


def test_a_held_file_can_be_removed(client, db, auditor, frozen):
    login(client, auditor)
    page = _post(client, [("证据.pdf", PDF)], description="").get_data(as_text=True)
    token = _tokens(page)
    assert _post(client, held=token, remove=token).status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Evidence)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(HeldEvidence)) == 0


def test_another_session_cannot_claim_a_held_file(app, db, auditor, make_user, frozen):
    mine, theirs = app.test_client(), app.test_client()
    login(mine, auditor)
    token = _tokens(_post(mine, [("证据.pdf", PDF)], description="").get_data(as_text=True))
    login(theirs, make_user(name="乙"))
    assert _post(theirs, held=token).status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Evidence)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(HeldEvidence)) == 1


def test_held_files_count_against_the_limit(app, client, db, auditor, frozen):
    login(client, auditor)
    limit = app.config["EVIDENCE_MAX_FILES"]
    page = _post(client, [(f"{n}.pdf", PDF) for n in range(limit)],
                 description="").get_data(as_text=True)
    response = _post(client, [("one-more.pdf", PDF)], held=_tokens(page))
    assert response.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Incident)) == 0


def test_after_registering_the_page_offers_to_file_the_month(client, db, auditor, frozen):
    login(client, auditor)
    done = _post(client)
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert 'data-testid="file-next"' in page and 'href="/filing/reports/2025-03"' in page


def test_the_auditors_own_department_projects_come_first(client, db, agency, make_user,
                                                          frozen):
    from tests.helpers.factories import DepartmentFactory, ProjectFactory

    mine, other = DepartmentFactory(agency=agency), DepartmentFactory(agency=agency)
    ProjectFactory(agency=agency, code="A-001", department=other, year=2025)
    ProjectFactory(agency=agency, code="Z-999", department=mine, year=2024)
    me = make_user(department=mine)
    login(client, me)
    page = client.get("/filing/incidents/new").get_data(as_text=True)
    assert page.index("Z-999") < page.index("A-001")
