"""The audit log page: entries in words, filters by person, action and days, no content."""

import re
from pathlib import Path

import pytest

from app.core import auditlog
from app.core.codes import ReviewStep
from app.core.extensions import db as _db
from app.filing import records
from app.filing.periods import Period
from app.review import logtext
from tests.helpers import factories
from tests.helpers.review import NOW, make_incident, step
from tests.helpers.web import login

APP = Path(__file__).resolve().parents[2] / "app"
RECORDED = re.compile(r'auditlog\.record\(\s*"([a-z_]+\.[a-z_]+)"')


@pytest.fixture(autouse=True)
def no_second_factor(app, monkeypatch):
    monkeypatch.setitem(app.config, "TWO_FACTOR_ROLES", ())


@pytest.fixture
def office(make_user):
    return make_user(name="赵敏", roles={"reviewer"})


def visible(page: str) -> str:
    """The page's text as a reader sees it: no tags, no attribute values."""
    return re.sub(r"<[^>]+>", " ", page)


def actions(page: str) -> list[str]:
    """What each entry says it did, in words."""
    return [re.sub(r"\s+", " ", visible(cell)).strip()
            for cell in re.findall(r'data-testid="log-action">(.*?)</td>', page, re.S)]


def log_page(client, query: str = "") -> tuple[int, str]:
    response = client.get(f"/review/log{query}")
    return response.status_code, response.get_data(as_text=True)


def test_every_action_the_portal_records_has_words():
    recorded = {code for path in APP.rglob("*.py")
                for code in RECORDED.findall(path.read_text(encoding="utf-8"))}
    # Codes built at run time: the review steps, archiving of units and projects.
    recorded |= {f"review.{action}" for action in ReviewStep}
    recorded |= {f"{kind}.{state}" for kind in ("department", "project")
                 for state in ("archived", "restored")}
    assert len(recorded) > 50  # the grep still finds the calls
    assert recorded - set(logtext.ACTIONS) == set()


def test_entries_read_as_sentences_in_the_readers_language(client, db, auditor, office,
                                                           frozen):
    case = make_incident(auditor)
    login(client, office)
    client.get(f"/review/incidents/{case}")
    step(client, case, "start")
    status, page = log_page(client)
    assert status == 200
    text = visible(page)
    assert "操作人" in text
    assert "张伟" in text and f"登记了打探干预情况 #{case}" in re.sub(r"\s+", " ", text)
    assert "赵敏" in text and "查看了登记" in text and "开始审核登记" in text
    assert f'<a href="/review/incidents/{case}">#{case}</a>' in page  # the office may open it
    for code in ("incident.registered", "incident.read", "review.start", "Incident "):
        assert code not in text
    assert "来电请求从轻处理" not in page  # never the content
    assert "<details>" in page  # the hashes folded away

    office.locale = "en"
    db.session.commit()
    text = visible(log_page(client)[1])
    assert "Operator" in text and "registered interference" in text


def test_an_administrator_sees_the_number_but_no_link_to_the_case(client, db, auditor,
                                                                  make_user, frozen):
    case = make_incident(auditor)
    login(client, make_user(roles={"admin"}))
    page = log_page(client)[1]
    assert f"#{case}" in visible(page)
    assert f"/review/incidents/{case}" not in page and "/filing/incidents" not in page


def test_months_people_and_statements_are_named_not_numbered(client, db, auditor, office,
                                                             make_user, frozen):
    records.file_report(auditor, Period(2025, 3), zero=True, now=NOW)
    admin = make_user(name="管理员", roles={"admin"})
    auditlog.record("user.updated", auditor, actor_id=admin.id, fields=["email"])
    _db.session.commit()
    login(client, admin)
    page = log_page(client)[1]
    text = re.sub(r"\s+", " ", visible(page))
    assert "报送了2025年3月报告" in text and "MonthlyReport" not in text
    assert "修改了 张伟 的账户" in text
    assert f'href="/admin/users/{auditor.id}"' in page  # the administrator may open it


def test_an_unknown_code_still_reads_as_a_sentence(client, db, auditor, office, frozen):
    auditlog.record("something.new_in_a_later_version", auditor, actor_id=office.id)
    auditlog.record("another.new_one", None, actor_id=office.id)
    _db.session.commit()
    login(client, office)
    text = re.sub(r"\s+", " ", visible(log_page(client)[1]))
    assert "对 张伟 进行了一项操作" in text and "进行了一项操作" in text
    assert "something.new" not in text and "another.new_one" not in text


def test_filters_by_person_action_and_days(client, db, auditor, office, make_user, frozen):
    stranger = factories.UserFactory(name="外局人员")
    colleague = make_user(name="李娜")
    first = make_incident(auditor)  # 2025-04-03 in Beijing
    frozen.advance(days=2)
    second = make_incident(colleague)  # 2025-04-05
    login(client, office)
    page = log_page(client)[1]
    persons = re.search(r'<select[^>]*name="person".*?</select>', page, re.S).group(0)
    assert "张伟" in persons and "李娜" in persons and "外局人员" not in persons
    assert stranger.name not in page
    choices = re.search(r'<select[^>]*name="action".*?</select>', page, re.S).group(0)
    assert 'value="incident.registered"' in choices and "登记了打探干预情况<" in choices
    assert 'type="date"' in page

    def shown(query: str) -> list[str]:
        status, body = log_page(client, query)
        assert status == 200
        return actions(body)

    assert shown(f"?person={colleague.id}") == [f"登记了打探干预情况 #{second}"]
    assert shown("?action=incident.registered&until=2025-04-03") == [
        f"登记了打探干预情况 #{first}"]
    since = shown("?since=2025-04-04&until=2025-04-05")
    assert f"登记了打探干预情况 #{second}" in since and "登录了平台" in since
    assert f"登记了打探干预情况 #{first}" not in since


@pytest.mark.parametrize(("query", "message"), [
    ("?since=2025-04-05&until=2025-04-01", "截止日期早于起始日期"),
    ("?since=1999-12-31", "2000-01-01"),
    ("?since=2025-13-01", ""),
    ("?person=999999", ""),
    ("?action=no.such.code", ""),
])
def test_a_bad_filter_answers_400_with_a_message(client, db, office, frozen, query, message):
    login(client, office)
    status, page = log_page(client, query)
    assert status == 400
    assert message in page and "is-invalid" in page
