"""The single-case page: one action area, a summary to confirm what cannot be undone, the next
case after a decision, what a supplement changed, and evidence seen in the page."""

import io
import re
import zipfile

import pytest
import sqlalchemy as sa

from app.models import AuditLog, Evidence, Review
from tests.helpers.filing import PDF, PNG, incident_form, register
from tests.helpers.review import FULL, make_incident
from tests.helpers.web import login, post_form


@pytest.fixture
def office(make_user, frozen):
    return make_user(name="纪检员", roles={"reviewer"})


def _forms(page: str) -> list[str]:
    return re.findall(r'data-testid="step-(\w+)"', page)


def _status(db, incident_id: int) -> str:
    db.session.expire_all()
    return db.session.scalar(sa.select(Review.status).where(Review.incident_id == incident_id))


def _decisions(db) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(AuditLog)
                             .where(AuditLog.action == "review.close"))


def test_one_step_is_open_at_a_time_the_one_the_state_calls_for(client, office, auditor):
    case = make_incident(auditor)
    login(client, office)
    page = client.get(f"/review/incidents/{case}").get_data(as_text=True)
    assert _forms(page) == ["start"]
    assert 'data-testid="open-close"' in page  # the others are a click away
    page = client.get(f"/review/incidents/{case}?step=close").get_data(as_text=True)
    assert _forms(page) == ["close"]
    assert _forms(client.get(f"/review/incidents/{case}?step=bogus").get_data(as_text=True)) \
        == ["start"]


def test_closing_shows_a_summary_and_changes_nothing_until_confirmed(client, db, office,
                                                                     auditor):
    case = make_incident(auditor)
    login(client, office)
    fields = {"action": "close", "affected": "no", "determination": "当场拒绝，未受影响。"}
    summary = post_form(client, f"/review/incidents/{case}", fields)
    assert summary.status_code == 200
    text = summary.get_data(as_text=True)
    assert 'data-testid="confirm-close"' in text and "当场拒绝，未受影响。" in text
    assert _status(db, case) == "new" and _decisions(db) == 0
    back = post_form(client, f"/review/incidents/{case}", {**fields, "edit": "1"})
    assert _forms(back.get_data(as_text=True)) == ["close"]
    assert "当场拒绝，未受影响。" in back.get_data(as_text=True)  # what was entered is kept
    done = post_form(client, f"/review/incidents/{case}", {**fields, "confirmed": "1"})
    assert done.status_code == 302
    assert _status(db, case) == "closed" and _decisions(db) == 1


def test_a_step_that_would_be_refused_is_refused_before_the_summary(client, db, office,
                                                                    auditor):
    case = make_incident(auditor)
    login(client, office)
    response = post_form(client, f"/review/incidents/{case}", {"action": "close"})
    assert response.status_code == 409
    assert 'data-testid="confirm-close"' not in response.get_data(as_text=True)
    assert _forms(response.get_data(as_text=True)) == ["close"]
    assert _status(db, case) == "new"


def test_after_a_decision_the_next_waiting_case_opens(client, db, office, auditor, make_user):
    first = make_incident(auditor)
    second = make_incident(make_user(name="乙"))
    own = make_incident(office)  # recusal: never offered to its registrant
    login(client, office)
    page = client.get(f"/review/incidents/{first}").get_data(as_text=True)
    assert f'href="/review/incidents/{second}" data-testid="next-case"' in page
    done = post_form(client, f"/review/incidents/{first}",
                     {"action": "close", "confirmed": "1", **FULL})
    assert done.headers["Location"] == f"/review/incidents/{second}"
    done = post_form(client, f"/review/incidents/{second}",
                     {"action": "close", "confirmed": "1", **FULL})
    assert done.headers["Location"] == "/review/"  # nothing left but their own
    comment = post_form(client, f"/review/incidents/{own}", {"action": "comment", "note": "x"})
    assert comment.status_code == 409


def _docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as docx:
        docx.writestr("[Content_Types].xml", "<Types/>")
        docx.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


@pytest.fixture
def two(app, office, auditor):
    """The registrant and the discipline office, each signed in in a browser of their own."""
    registrant, reviewer = app.test_client(), app.test_client()
    login(registrant, auditor)
    login(reviewer, office)
    return registrant, reviewer


def test_after_a_supplement_the_page_shows_what_changed(db, two):
    registrant, reviewer = two
    assert register(registrant).status_code == 302
    case = db.session.scalar(sa.select(Review.incident_id))
    post_form(reviewer, f"/review/incidents/{case}",
              {"action": "return", "confirmed": "1", "note": "请补充对方原话。"})
    corrected = post_form(registrant, f"/filing/incidents/{case}/correct",
                          {**incident_form(), "description": "对方原话：“请高抬贵手。”",
                           "reason": "按要求补充原话"})
    assert corrected.status_code == 302
    page = reviewer.get(f"/review/incidents/{case}").get_data(as_text=True)
    changes = page.split('data-testid="changes"', 1)[1].split("</table>", 1)[0]
    assert 'data-field="description"' in changes and "请高抬贵手" in changes
    assert 'data-field="channel"' not in changes  # unchanged fields are not listed


@pytest.mark.parametrize(("name", "content", "inline"), [
    ("photo.png", PNG, True), ("scan.pdf", PDF, True), ("notes.docx", _docx(), False),
])
def test_evidence_of_a_safe_type_is_shown_inline_under_the_same_rules(
        app, db, two, make_user, name, content, inline):
    registrant, reviewer = two
    assert register(registrant, files=[(name, content)]).status_code == 302
    evidence = db.session.scalar(sa.select(Evidence))
    response = reviewer.get(f"/filing/evidence/{evidence.id}?inline=1")
    assert response.status_code == 200
    assert response.data == content
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("inline" if inline else "attachment")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    page = reviewer.get(f"/review/incidents/{evidence.incident_id}").get_data(as_text=True)
    assert ('class="img-thumbnail' in page) == name.endswith(".png")
    stranger = app.test_client()
    login(stranger, make_user(name="丙"))
    assert stranger.get(f"/filing/evidence/{evidence.id}?inline=1").status_code == 404
