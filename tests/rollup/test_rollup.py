"""The roll-up: a city sees its districts' figures, compliance and statements, summed, and
nothing else: no content, nothing of an agency above or beside, and a constant query count."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from app.compliance import rates
from app.core import tree
from app.core.extensions import db
from app.filing.periods import Period
from app.models import AnnualStatement
from app.review import workflow
from app.rollup import summary
from app.statement import digest, figures, signing
from tests.helpers import factories
from tests.helpers.statement import NOW, YEAR, file_year, incident, pdf_text
from tests.helpers.web import login, statements_of

CANARY = "金丝雀-ROLLUP-9931：某副区长要求删除审计发现"
CANARY_ACTOR = "请托人丙丁"
DECEMBER = Period(YEAR, 12)


def _bureau(parent, name: str, prefix: str, auditors: int) -> dict:
    """An agency under `parent` with a discipline office, a leader, an administrator and
    `auditors` auditors who file the year (the first leaves December unfiled)."""
    agency = factories.AgencyFactory(name=name, parent=parent)
    people = {role: factories.UserFactory(agency=agency, staff_no=f"{prefix}-{role}",
                                          name=f"{name}{role}", roles={role})
              for role in ("reviewer", "leader", "admin")}
    people["auditors"] = [factories.UserFactory(agency=agency, staff_no=f"{prefix}-{n:03d}",
                                                name=f"{prefix}审计员{n}")
                          for n in range(auditors)]
    for n, user in enumerate(people["auditors"]):
        file_year(user, list(range(1, 12 if n == 0 else 13)), late_months=[3] if n == 1 else ())
    people["agency"] = agency
    return people


@pytest.fixture
def city(db, frozen):
    """A province over a city over two districts, the first with a sub-district: incidents
    in both districts (the first's with a canary), the first district's statement signed,
    the second's a draft."""
    frozen.value = NOW
    province = factories.AgencyFactory(name="某省审计厅")
    top = _bureau(province, "天津市审计局", "TJ", 2)
    d1 = _bureau(top["agency"], "西青区审计局", "XQ", 3)
    d2 = _bureau(top["agency"], "南开区审计局", "NK", 2)
    d1a = _bureau(d1["agency"], "西青区某审计分局", "XA", 1)
    cases = [incident(d1["auditors"][1], 5, description=CANARY, actor_name=CANARY_ACTOR),
             incident(d1["auditors"][2], 8, category="ask_progress", channel="in_person",
                      actor_relation="audited_entity", actor_name=CANARY_ACTOR),
             incident(d2["auditors"][0], 9, category="duty_inquiry", channel="message",
                      actor_relation="colleague")]
    workflow.act(cases[0].review, d1["reviewer"], "close",
                 workflow.Decision(affected=True, determination="屈从压力删除了审计发现"), NOW)
    workflow.act(cases[1].review, d1["reviewer"], "refer",
                 workflow.Decision(affected=False, determination="未影响",
                                   referred_to="区纪委监委", referral_reason="涉嫌违规打听"),
                 NOW)
    sign(d1)
    signing.prepare(d2["agency"], YEAR, d2["reviewer"], NOW)
    db.session.commit()
    return {"province": province, "city": top, "d1": d1, "d2": d2, "d1a": d1a}


def sign(bureau: dict) -> AnnualStatement:
    draft = signing.prepare(bureau["agency"], YEAR, bureau["reviewer"], NOW)
    signing.sign(draft, bureau["leader"], NOW)
    return draft


def client_of(app, user):
    client = app.test_client()
    login(client, user)
    return client


def figure(page: str, testid: str, key: str) -> int:
    """A number in the row `data-testid=testid` (or the headline) marked data-figure=key."""
    row = re.search(rf'data-testid="{testid}".*?</(?:tr|div)>\s*(?:</div>\s*)*', page, re.S)
    block = page[row.start():] if row else page
    return int(re.search(rf'data-figure="{key}">(\d+)<', block).group(1))


def test_the_city_sees_its_tree_with_its_own_rows_and_a_sum(app, city):
    page = client_of(app, city["city"]["reviewer"]).get(f"/rollup/?year={YEAR}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for name in ("天津市审计局", "西青区审计局", "南开区审计局", "西青区某审计分局"):
        assert name in text
    assert "某省审计厅" not in text  # the level above is none of the city's business
    assert figure(text, "headline", "agencies") == 4
    assert figure(text, "headline", "signed") == 1
    d1 = re.search(rf'<tr data-agency="{city["d1"]["agency"].id}">.*?</tr>', text, re.S).group()
    d2 = re.search(rf'<tr data-agency="{city["d2"]["agency"].id}">.*?</tr>', text, re.S).group()
    digest = figures_of(city["d1"]).records_digest
    assert "已签发" in d1 or "Signed" in d1
    assert digest in d1 and f"statement verify {YEAR} --agency 西青区审计局" in d1
    assert "草稿" in d2 or "Draft" in d2
    assert "verify" not in d2


def figures_of(bureau: dict) -> AnnualStatement:
    """The bureau's statement of the year."""
    return db.session.scalar(
        sa.select(AnnualStatement).where(AnnualStatement.agency_id == bureau["agency"].id))


def test_the_sum_equals_the_sum_of_the_districts_signed_statements(app, db, city):
    """Every agency of the tree signs; the roll-up's total is then the sum of what they signed,
    breakdown by breakdown, and the page shows that sum."""
    for key in ("d2", "d1a", "city"):
        if key == "d2":
            db.session.delete(figures_of(city["d2"]))
            db.session.flush()
        sign(city[key])
    db.session.commit()
    signed = [figures.stored(item) for item in db.session.scalars(sa.select(AnnualStatement))]
    assert len(signed) == 4 and sum(f.incidents for f in signed) == 3
    rolled = summary.year_rollup(city["city"]["agency"], YEAR)
    assert all(line.signed for line in rolled.agencies)
    total = rolled.total
    assert total.incidents == sum(f.incidents for f in signed)
    assert total.referrals == sum(f.referrals for f in signed) == 1
    assert total.violations == sum(f.violations for f in signed) == 1
    for name in summary.TALLIES:
        expected: dict[str, int] = {}
        for f in signed:
            for code, n in getattr(f, f"by_{name}").items():
                expected[code] = expected.get(code, 0) + n
        assert total.by(name) == dict(sorted(expected.items())), name
    text = client_of(app, city["city"]["leader"]).get(f"/rollup/?year={YEAR}").get_data(
        as_text=True)
    total_row = re.search(r'data-testid="total">.*?</tr>', text, re.S).group()
    assert 'data-figure="incidents">3<' in total_row
    assert 'data-figure="referrals">1<' in total_row
    assert 'data-figure="violations">1<' in total_row


def test_live_figures_count_as_the_statement_would(app, db, city):
    """An unsigned agency's live figures are what its statement would state."""
    rolled = summary.year_rollup(city["city"]["agency"], YEAR)
    line = next(x for x in rolled.agencies if x.node.id == city["d2"]["agency"].id)
    assert not line.signed
    computed = figures.compute(city["d2"]["agency"], YEAR, NOW)
    assert line.figures == summary.YearFigures.signed(computed)
    assert line.figures.incidents == 1


def test_tree_compliance_per_agency_and_whole(app, city):
    client = client_of(app, city["city"]["leader"])
    text = client.get(f"/rollup/compliance?period={DECEMBER}").get_data(as_text=True)
    expected_total = rates.Figures()
    for key in ("city", "d1", "d2", "d1a"):
        agency = city[key]["agency"]
        own = rates.period_figures(agency, DECEMBER, NOW).total
        expected_total += own
        row = re.search(rf'<tr data-agency="{agency.id}">.*?</tr>', text, re.S).group()
        for field in ("expected", "on_time", "late", "missing"):
            assert f'data-figure="{field}">{getattr(own, field)}<' in row, (key, field)
    assert expected_total.expected == 8 and expected_total.missing == 4
    total_row = re.search(r'data-testid="total">.*?</tr>', text, re.S).group()
    assert 'data-figure="expected">8<' in total_row and 'data-figure="missing">4<' in total_row
    # The drill-down names the district's non-filer, as its own compliance page does.
    d1 = city["d1"]
    page = client.get(f"/rollup/compliance/{d1['agency'].id}?period={DECEMBER}")
    assert page.status_code == 200
    drill = page.get_data(as_text=True)
    assert d1["auditors"][0].name in drill and d1["auditors"][1].name not in drill


def _rollup_urls(city: dict) -> list[str]:
    ids = [city[key]["agency"].id for key in ("city", "d1", "d2", "d1a")]
    return [f"/rollup/?year={YEAR}", f"/rollup/?year={YEAR + 1}",
            f"/rollup/compliance?period={DECEMBER}", "/rollup/compliance",
            *(f"/rollup/agency/{i}?year={YEAR}" for i in ids),
            *(f"/rollup/compliance/{i}?period={p}" for i in ids for p in (DECEMBER, "2025-05"))]


@pytest.mark.parametrize("role", ["reviewer", "leader"])
def test_no_incident_content_and_no_interferer_names_on_any_rollup_page(app, city, role):
    client = client_of(app, city["city"][role])
    for url in _rollup_urls(city):
        response = client.get(url)
        assert response.status_code == 200, url
        text = response.get_data(as_text=True)
        for secret in (CANARY, CANARY_ACTOR, "屈从压力", "涉嫌违规打听"):
            assert secret not in text, (url, secret)


@pytest.mark.parametrize("who", [("d1", "reviewer"), ("d1", "leader"), ("d1", "admin"),
                                 ("d2", "reviewer"), ("d2", "leader"), ("d1a", "reviewer"),
                                 ("city", "admin"), ("city", "auditors")])
def test_districts_and_others_cannot_see_the_citys_rollup(app, city, who):
    """A district (even one with its own sub-district), a sibling, an administrator and an
    auditor: the city's pages answer 403 (not a roll-up role) or 404 (not theirs)."""
    key, role = who
    user = city[key][role][0] if role == "auditors" else city[key][role]
    client = client_of(app, user)
    # The first district has a roll-up of its own (itself and its sub-district): only that.
    own = {city["d1"]["agency"].id, city["d1a"]["agency"].id} if key == "d1" else set()
    for url in _rollup_urls(city):
        response = client.get(url)
        target = re.search(r"/(?:agency|compliance)/(\d+)", url)
        within_own = bool(own) and (target is None or int(target.group(1)) in own)
        want = 403 if role in ("admin", "auditors") else 200 if within_own else 404
        assert response.status_code == want, (who, url, response.status_code)
        assert CANARY not in response.get_data(as_text=True)


def test_the_city_cannot_look_above_itself(app, city):
    client = client_of(app, city["city"]["reviewer"])
    province = city["province"].id
    for url in (f"/rollup/agency/{province}", f"/rollup/compliance/{province}",
                "/rollup/agency/999999", "/rollup/compliance/999999"):
        assert client.get(url).status_code == 404, url


def test_the_link_is_shown_to_those_who_have_a_rollup(app, city):
    home = client_of(app, city["city"]["reviewer"]).get("/").get_data(as_text=True)
    assert 'data-testid="nav-rollup"' in home and 'data-testid="rollup-card"' in home
    for user in (city["d2"]["reviewer"], city["city"]["admin"], city["city"]["auditors"][0]):
        home = client_of(app, user).get("/").get_data(as_text=True)
        assert "/rollup/" not in home


def test_tree_helpers(city):
    ids = {key: city[key]["agency"].id for key in ("city", "d1", "d2", "d1a")}
    nodes = tree.nodes(ids["city"])
    assert [(n.id, n.depth) for n in nodes] == [
        (ids["city"], 0), (ids["d2"], 1), (ids["d1"], 1), (ids["d1a"], 2)]  # 南 before 西
    assert [a.id for a in tree.path(ids["d1a"])] == [city["province"].id, ids["city"],
                                                      ids["d1"], ids["d1a"]]
    assert tree.is_within(ids["d1a"], ids["city"]) and not tree.is_within(ids["d2"], ids["d1"])
    assert [a.id for a in tree.children(ids["d1"])] == [ids["d1a"]]
    assert not tree.has_descendants(ids["d2"])


def test_statements_per_page_do_not_grow_with_the_tree(app, db, city):
    client = client_of(app, city["city"]["reviewer"])
    urls = [f"/rollup/?year={YEAR}", f"/rollup/compliance?period={DECEMBER}"]
    few = [statements_of(db, client, url) for url in urls]
    for n in range(6):
        bureau = _bureau(city["city"]["agency"], f"第{n}区审计局", f"Z{n}", 2)
        incident(bureau["auditors"][0], 4)
        if n % 2:
            sign(bureau)
        db.session.commit()
    assert len(tree.nodes(city["city"]["agency"].id)) == 10
    many = [statements_of(db, client, url) for url in urls]
    assert many == few


def test_the_citys_statement_lists_its_districts_signed_statements(app, db, city, frozen):
    """The city's statement carries the table of what its districts signed (the first is,
    the second is a draft), each with the digest its `statement verify` checks; a district
    signing later leaves the city's signed statement as it was, a district's changed record
    shows in the city's verification too."""
    city_bureau, d1, d2 = city["city"], city["d1"], city["d2"]
    statement = sign(city_bureau)
    db.session.commit()
    below = figures.stored(statement).below
    assert [(row.agency, bool(row.signed_at)) for row in below] == [
        ("南开区审计局", False), ("西青区审计局", True)]   # the sub-district is a level lower
    first = figures_of(d1)
    assert (below[1].records_digest, below[1].incidents, below[1].referrals,
            below[1].violations) == (first.records_digest, 2, 1, 1)
    page = client_of(app, city_bureau["leader"]).get(f"/statement/{YEAR}").get_data(
        as_text=True)
    assert first.records_digest[:16] in page and "statement verify 2025 --agency" in page
    assert CANARY not in page and CANARY_ACTOR not in page
    pdf = client_of(app, city_bureau["leader"]).get(f"/statement/{YEAR}.pdf")
    assert pdf.status_code == 200 and first.records_digest[:16] in pdf_text(pdf.data)
    assert digest.verify(statement).ok

    db.session.delete(figures_of(d2))
    db.session.flush()
    later = NOW + timedelta(days=1)   # after the city: not in what the city signed
    signing.sign(signing.prepare(d2["agency"], YEAR, d2["reviewer"], later), d2["leader"],
                 later)
    db.session.commit()
    assert digest.verify(statement).ok

    db.session.execute(sa.update(AnnualStatement).where(AnnualStatement.id == first.id)
                       .values(records_digest="0" * 64))
    db.session.commit()
    assert not digest.verify(statement).figures_match


def test_a_district_signing_after_the_citys_draft_asks_for_a_new_draft(db, city):
    city_bureau, d2 = city["city"], city["d2"]
    draft = signing.prepare(city_bureau["agency"], YEAR, city_bureau["reviewer"], NOW)
    db.session.delete(figures_of(d2))
    db.session.flush()
    sign(d2)
    db.session.commit()
    with force_locale("en"), pytest.raises(figures.StatementError, match="agency below"):
        signing.sign(draft, city_bureau["leader"], NOW)
    db.session.rollback()
    again = sign(city_bureau)
    assert all(row.signed_at for row in figures.stored(again).below)
    assert digest.verify(again).ok


def test_a_headline_edited_in_the_database_shows_and_fails_verification(app, db, city):
    """The roll-up reads each signed statement's headline, not its whole figures: an insider
    who lowers a district's signed incident count there changes what the city sees, and
    `statement verify` of that district then fails on its figures."""
    signed = figures_of(city["d1"])
    assert digest.verify(signed).ok
    edited = summary.YearFigures.signed(figures.stored(signed))
    assert edited.incidents == 2
    headline = figures.stored(signed).headline().replace('"incidents": 2', '"incidents": 0')
    db.session.execute(sa.update(AnnualStatement).where(AnnualStatement.id == signed.id)
                       .values(headline=headline))
    db.session.commit()
    text = client_of(app, city["city"]["reviewer"]).get(f"/rollup/?year={YEAR}").get_data(
        as_text=True)
    row = re.search(rf'<tr data-agency="{city["d1"]["agency"].id}">.*?</tr>', text, re.S).group()
    assert 'data-figure="incidents">0<' in row
    verdict = digest.verify(db.session.get(AnnualStatement, signed.id))
    assert not verdict.ok and not verdict.figures_match


def test_the_rollup_escapes_what_an_administrator_typed(app, db, city):
    """The per-agency lines are rendered without autoescaping (for speed): an agency's name
    and a document number with markup in them still come out as text."""
    d1 = city["d1"]
    d1["agency"].name = '<img src=x onerror="alert(1)">区'
    signed = figures_of(d1)
    signed.document_number = "<b>津审〔2026〕1号</b>"
    db.session.commit()
    text = client_of(app, city["city"]["reviewer"]).get(f"/rollup/?year={YEAR}").get_data(
        as_text=True)
    row = re.search(rf'<tr data-agency="{d1["agency"].id}">.*?</tr>', text, re.S).group()
    assert "<img" not in row and "<b>" not in row
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;区" in row
    assert "&lt;b&gt;津审〔2026〕1号&lt;/b&gt;" in row
