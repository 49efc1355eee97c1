"""Pattern alerts (疑点推送): normalisation, the groups found, constant query count, partial."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import render_template_string

from app.core.extensions import db as _db
from app.filing import records
from app.models import Incident
from app.review import patterns
from app.review.patterns import Alert, normalise_name, normalise_org
from tests.helpers import factories

MARCH = datetime(2025, 3, 10, 2, tzinfo=UTC)
_unique = itertools.count(1)


def register(user, *, when: datetime = MARCH, name: str | None = None, org: str | None = None,
             position: str = "", project=None) -> Incident:
    """Register one incident; the name and organisation default to ones used nowhere else."""
    n = next(_unique)
    data = records.IncidentData(
        occurred_at=when, category="plead", channel="phone",
        actor_name=f"路人{n}" if name is None else name,
        actor_org=f"无关单位{n}" if org is None else org,
        actor_position=position, actor_relation="audited_entity",
        project_id=project.id if project is not None else None, stage="fieldwork",
        description="请托说情。", response="refused",
    )
    incident = records.register_incident(user, data, [], when + timedelta(hours=1))
    _db.session.commit()
    return incident


def summary(found: list[Alert]) -> list[tuple]:
    return [(a.kind, a.key, a.label, a.incident_ids, a.registrant_count, a.incident_count,
             a.reason) for a in found]


# --- normalisation -------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "张三", "张 三", "张　三", " 张三 ", "张三局长", "张三副局长", "张 三 同志", "张三（副局长）",
    "张三总经理", "张三总", "张\t三\n", "张三\u200b",
])
def test_spellings_of_one_name_have_one_key(text):
    assert normalise_name(text) == "张三"


@pytest.mark.parametrize(("text", "key"), [
    ("ＡＢＣ", "abc"),
    ("ＺＨＡＮＧ San", "zhangsan"),
    ("zhang-san", "zhangsan"),
    ("Zhang_San", "zhangsan"),
    ("阿卜杜·热合曼", "阿卜杜热合曼"),
    ("阿卜杜•热合曼", "阿卜杜热合曼"),
    ("J. Smith", "jsmith"),
    ("李四书记", "李四"),
    ("王五主任", "王五"),
    ("赵六女士", "赵六"),
    ("钱七老师", "钱七"),
    ("孙八董事长", "孙八"),
    ("周九 秘书长", "周九"),
    ("吴十县长", "吴十"),
])
def test_normalise_name(text, key):
    assert normalise_name(text) == key


def test_suffixes_are_stripped_longest_first_and_never_to_nothing():
    assert normalise_name("王副处长") == "王"  # not "王副"
    assert normalise_name("王副科长") == "王"
    assert normalise_name("陈总经理") == "陈"  # not "陈总"
    assert normalise_name("局长") == "局长"
    assert normalise_name("总") == "总"
    assert normalise_name("副局长") == "副局长"
    assert normalise_name("张三局长同志") == "张三"  # every trailing title
    assert normalise_name("局长同志") == "局长"


def test_different_people_keep_different_keys():
    assert normalise_name("张三") != normalise_name("张山")
    assert normalise_name("王五") != normalise_name("王武")
    assert normalise_name("张三丰") != normalise_name("张三")
    assert normalise_name("") == ""
    assert normalise_name("   ") == ""


@pytest.mark.parametrize(("text", "key"), [
    ("区财政局", "区财政局"),
    ("区 财政局", "区财政局"),
    ("区财政局。", "区财政局"),
    ("某某公司（北京）", "某某公司(北京)"),
    ("某某公司 (北京)", "某某公司(北京)"),
    ("某某公司【北京】", "某某公司(北京)"),
    ("某某公司〔北京〕", "某某公司(北京)"),
    ("ＡＢＣ Co., Ltd.", "abccoltd"),
    ("abc co ltd", "abccoltd"),
    ("区住建局·本级", "区住建局本级"),
])
def test_normalise_org(text, key):
    assert normalise_org(text) == key


def test_organisation_suffixes_are_kept():
    assert normalise_org("区财政局") != normalise_org("区财政")
    assert normalise_org("某某有限公司") != normalise_org("某某")
    assert normalise_org("某某公司(北京)") != normalise_org("某某公司北京")


# --- the groups ----------------------------------------------------------------------------

@pytest.fixture
def people(make_user):
    return [make_user(name=f"审计员{i}") for i in range(1, 5)]


def test_alerts_find_exactly_the_expected_groups(db, agency, people, frozen):
    u1, u2, u3, u4 = people
    p1, p2, p3 = (factories.ProjectFactory(agency=agency, code=f"2025-0{i}",
                                           name=f"项目{i}") for i in (1, 2, 3))
    other_agency = factories.AgencyFactory()
    stranger = factories.UserFactory(agency=other_agency)

    # Person 张三: three registrants, three spellings.
    zhang = [register(u1, name="张三", position="局长"),
             register(u2, name="张 三", when=MARCH.replace(month=5)),
             register(u3, name="张三局长", position="局长", when=MARCH.replace(month=12))]
    # Person 李四: one registrant, three times in the year.
    li = [register(u1, name="李四"), register(u1, name="李四 同志", position=""),
          register(u1, name="李四", when=MARCH.replace(month=1, day=1, hour=0))]
    # Organisation: two registrants, parentheses written two ways.
    housing = [register(u2, org="区住建局（本级）"), register(u3, org="区住建局 (本级)")]
    # Projects: p1 by two registrants, p2 three times by one.
    on_p1 = [register(u1, project=p1), register(u2, project=p1)]
    on_p2 = [register(u3, project=p2) for _ in range(3)]

    # Near misses, none of which may alert:
    wang = [register(u2, name="王五"),  # the same name by one registrant, twice ...
            register(u2, name="王五", position="")]
    register(u4, name="王武")  # ... and a different person with a similar name
    register(stranger, name="王五")  # another agency: alerts only as "also elsewhere"
    register(stranger, name="张三")
    register(stranger, org="区住建局（本级）")
    register(u4, name="王五", when=datetime(2024, 12, 20, 2, tzinfo=UTC))  # another year
    register(u4, name="王五", when=datetime(2025, 12, 31, 17, tzinfo=UTC))  # 2026-01 in Beijing
    register(u3, name="王五", when=datetime(2024, 12, 31, 15, tzinfo=UTC))  # 2024-12-31 23:00
    corrected = register(u4, name="王五")  # corrected: its current version names someone else
    records.correct_incident(corrected, records.IncidentData(
        occurred_at=MARCH, category="plead", channel="phone", actor_name="赵六",
        actor_org="无关单位X", actor_position="", actor_relation="other", project_id=None,
        stage="fieldwork", description="更正。", response="refused",
    ), reason="记错了姓名", uploads=[], now=MARCH + timedelta(hours=2))
    db.session.commit()
    register(u3, org="区住建局")  # an organisation that is not "区住建局（本级）"
    register(u1, name="不详", org="不详")  # placeholders are nobody in particular
    register(u2, name="不详", org="未知")
    register(u3, name="匿名", org="未知")
    register(u4, project=p3)  # a project twice by one registrant
    register(u4, project=p3)
    register(stranger, project=factories.ProjectFactory(agency=other_agency))

    found = patterns.alerts(agency.id, 2025)

    ids = lambda incidents: sorted(i.id for i in incidents)  # noqa: E731
    assert summary(found) == [
        ("person", "张三", "张三", ids(zhang), 3, 3, "several_registrants"),
        ("person", "李四", "李四", ids(li), 1, 3, "repeated"),
        ("project", str(p2.id), "2025-02 项目2", ids(on_p2), 1, 3, "repeated"),
        ("person", "王五", "王五", ids(wang), 1, 2, "other_agencies"),
        ("organisation", "区住建局(本级)", "区住建局（本级）", ids(housing), 2, 2,
         "several_registrants"),
        ("project", str(p1.id), "2025-01 项目1", ids(on_p1), 2, 2, "several_registrants"),
    ]
    assert [a.other_agencies for a in found] == [1, 0, 0, 1, 1, 0]  # 张三, 王五, 区住建局
    # The other agency's own registrations count there, each once: only "also elsewhere".
    assert sorted((a.key, a.incident_count, a.reason, a.other_agencies)
                  for a in patterns.alerts(other_agency.id, 2025)) == [
        ("区住建局(本级)", 1, "other_agencies", 1), ("张三", 1, "other_agencies", 1),
        ("王五", 1, "other_agencies", 1)]
    # The incidents of other years count in their own year (in Beijing time).
    [named_in_2024] = patterns.alerts(agency.id, 2024)
    assert (named_in_2024.kind, named_in_2024.key, named_in_2024.registrant_count,
            named_in_2024.incident_count) == ("person", "王五", 2, 2)
    assert patterns.alerts(agency.id, 2026) == []


def test_the_most_frequent_spelling_labels_the_group(db, people, frozen):
    u1, u2, *_ = people
    for name in ("张三局长", "张 三", "张 三"):
        register(u1, name=name)
    for user, name in ((u1, "ＺＨＡＮＧ san"), (u2, "Zhang San"), (u2, "Zhang San"),
                       (u2, "zhang  SAN")):
        register(user, name=name)
    labels = {(a.kind, a.key, a.label) for a in patterns.alerts(u1.agency_id, 2025)}
    assert labels == {("person", "张三", "张 三"), ("person", "zhangsan", "Zhang San")}


def test_a_correction_that_names_the_person_makes_the_alert(db, people, frozen):
    u1, u2, *_ = people
    register(u1, name="钱七")
    later = register(u2, name="某人")
    assert patterns.alerts(u1.agency_id, 2025) == []
    records.correct_incident(later, records.IncidentData(
        occurred_at=MARCH, category="plead", channel="phone", actor_name="钱七科长",
        actor_org="无关单位Y", actor_position="科长", actor_relation="other", project_id=None,
        stage="fieldwork", description="补充姓名。", response="refused",
    ), reason="补充", uploads=[], now=MARCH + timedelta(hours=3))
    db.session.commit()
    [alert] = patterns.alerts(u1.agency_id, 2025)
    assert (alert.kind, alert.key, alert.registrant_count) == ("person", "钱七", 2)


# --- cost ----------------------------------------------------------------------------------

def statements_for_alerts(db, agency_id: int) -> tuple[int, list[Alert]]:
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    db.session.expire_all()
    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        found = patterns.alerts(agency_id, 2025)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    return len(seen), found


def test_the_query_count_does_not_grow_with_the_incidents(db, agency, people, frozen):
    project = factories.ProjectFactory(agency=agency)
    counts = []
    for total in (5, 50):
        already = db.session.scalar(sa.select(sa.func.count(Incident.id)))
        for n in range(total - already):
            register(people[n % 4], name="张三" if n % 2 else None, org="区财政局",
                     project=project if n % 3 else None, when=MARCH + timedelta(hours=n))
        statements, found = statements_for_alerts(db, agency.id)
        assert {a.kind for a in found} == {"person", "organisation", "project"}
        assert max(a.incident_count for a in found) == total
        counts.append(statements)
    assert counts == [1, 1]


# --- the partial ---------------------------------------------------------------------------

def render(app, **context) -> str:
    with app.test_request_context("/review/"):
        return render_template_string('{% include "review/_alerts.html" %}', **context)


def test_the_partial_lists_each_alert_with_links_to_its_incidents(app, db):
    found = [
        Alert("person", "张三", "张三", [3, 7], 2, 2, "several_registrants"),
        Alert("project", "9", "2025-01 区教育局预算执行审计", [4, 5, 6], 1, 3, "repeated"),
    ]
    page = render(app, alerts=found, year=2025)
    assert page.count('data-testid="pattern-alert"') == 2
    assert "张三" in page and "2025-01 区教育局预算执行审计" in page
    for incident_id in (3, 7, 4, 5, 6):
        assert f'href="/review/incidents/{incident_id}"' in page
    assert "style=" not in page and "<script" not in page


def test_the_partial_says_when_there_is_nothing(app, db):
    page = render(app, alerts=[])
    assert 'data-testid="pattern-alerts-empty"' in page
    assert 'data-testid="pattern-alert"' not in page


def test_a_large_alert_links_a_few_incidents_then_the_filtered_queue(app, db):
    """An organisation behind hundreds of incidents must not flood the desk with links."""
    found = [Alert("organisation", "某区某局", "某区某局", list(range(1, 301)), 40, 300,
                   "several_registrants"),
             Alert("project", "9", "2025-01 预算执行审计", list(range(400, 420)), 1, 20,
                   "repeated")]
    page = render(app, alerts=found, year=2025)
    assert page.count('data-testid="pattern-alert-incident"') == 24
    assert 'href="/review/incidents/12"' in page and 'href="/review/incidents/13"' not in page
    assert "/review/?q=%E6%9F%90%E5%8C%BA%E6%9F%90%E5%B1%80" in page  # 某区某局
    assert "/review/?project=9" in page
    assert page.count('data-testid="pattern-alert-more"') == 2


def test_the_desk_shows_the_first_alerts_and_links_to_all(app, db):
    found = [Alert("person", f"人{n}", f"人{n}", [n, n + 1000], 2, 2, "several_registrants")
             for n in range(1, 26)]
    page = render(app, alerts=found, year=2025, args={"period": "2025-03"})
    assert page.count('data-testid="pattern-alert"') == 20
    assert 'data-testid="pattern-alert-count">25<' in page
    assert "alerts=all" in page and "period=2025-03" in page
    page = render(app, alerts=found, year=2025, alerts_all=True)
    assert page.count('data-testid="pattern-alert"') == 25
    assert 'data-testid="pattern-alerts-all"' not in page


def test_only_the_names_of_the_alerts_shown_are_opened(db, people, frozen):
    """Grouped on fingerprints: the names opened are those of the incidents linked from the
    alerts shown, not the year's."""
    from app.keys import keychain

    u1, u2, *_ = people
    for name in ("甲一", "乙二", "丙三"):
        register(u1, name=name)
        register(u2, name=name)
    register(u1, name="路人某")  # alerts nowhere

    class Counting(factories.TestReader):
        def __init__(self) -> None:
            super().__init__()
            self.opened: list[str] = []

        def text(self, wraps, stored, field):
            self.opened.append(field.name)
            return super().text(wraps, stored, field)

    with keychain.using(Counting()) as chain:
        found = patterns.alerts(u1.agency_id, 2025, shown=1)
    assert [a.label for a in found] == ["甲一", "", ""]
    assert [len(a.incident_ids) for a in found] == [2, 0, 0]
    assert chain.opened == ["actor_name", "actor_name"]
