"""Issue 15 item 5: the same person registered in two districts, matched on keyed fingerprints.

Each test performs the attack: an office reading another district's alert, a district that
has nothing in common, a leader or administrator, a dump of the database, a changed secret.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.core.extensions import db as _db
from app.keys import fingerprints, keychain
from app.models import Fingerprint, Incident, IncidentVersion
from tests.helpers import factories
from tests.helpers.filing import register
from tests.helpers.legacy import make_legacy
from tests.helpers.web import login
from tests.keys.test_confidentiality import _dump

# One person, spelt two ways that fold together ("欧阳雀鸣"); every other text is unique.
WEST, SOUTH = "欧阳 雀鸣局长", "欧阳雀鸣（副局长）"
FOLDED = "欧阳雀鸣"
ELSEWHERE = re.compile(r'data-testid="pattern-alert-elsewhere">\s*([^<]*)<')
CROSSING_AGENCY = re.compile(r'data-testid="crossing-agency">([^<]*)<')


@pytest.fixture
def city(db, frozen):
    """A city bureau over three districts, each with its discipline office and an auditor."""
    top = factories.AgencyFactory(name="天津市审计局")
    districts = {name: factories.AgencyFactory(name=name, parent_id=top.id)
                 for name in ("西青区审计局", "南开区审计局", "河西区审计局")}
    people = {"city": factories.UserFactory(agency=top, roles={"reviewer"}),
              "leader": factories.UserFactory(agency=top, roles={"leader"}),
              "admin": factories.UserFactory(agency=top, roles={"admin"})}
    for short, agency in zip(("west", "south", "river"), districts.values(), strict=True):
        people[f"{short}_office"] = factories.UserFactory(agency=agency, roles={"reviewer"})
        people[short] = factories.UserFactory(agency=agency)
    return people


def _client(app, user):
    client = app.test_client()
    login(client, user)
    return client


def _registered(app, user, **fields) -> int:
    response = register(_client(app, user), **fields)
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.headers["Location"].rsplit("/", 1)[-1])


@pytest.fixture
def same_person(app, city):
    """西青 and 南开 each register the person once (no alert within either), 河西 someone else."""
    return {
        "west": _registered(app, city["west"], actor_name=WEST, actor_org="西青某物流公司"),
        "south": _registered(app, city["south"], actor_name=SOUTH, actor_org="南开某建材厂"),
        "river": _registered(app, city["river"], actor_name="司马某甲", actor_org="河西某商店"),
    }


def _queue(app, user) -> str:
    response = _client(app, user).get("/review/")
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def _fingerprint(incident_id: int) -> Fingerprint:
    return _db.session.scalar(sa.select(Fingerprint).join(
        IncidentVersion, IncidentVersion.id == Fingerprint.version_id)
        .where(IncidentVersion.incident_id == incident_id))


def test_each_district_sees_the_count_and_none_of_the_others_content(app, city, same_person):
    west, south = _queue(app, city["west_office"]), _queue(app, city["south_office"])
    ref = _fingerprint(same_person["west"]).person[:8]
    for page, own, other, other_agency, other_org in (
            (west, WEST, SOUTH, "南开区审计局", "南开某建材厂"),
            (south, SOUTH, WEST, "西青区审计局", "西青某物流公司")):
        [elsewhere] = ELSEWHERE.findall(page)
        assert re.search(r"(?<!\d)1(?!\d)", elsewhere) and ref in page
        assert page.count('data-testid="pattern-alert"') == 1  # the person, not the firms
        assert own.strip() in page  # labelled with its own registration's spelling
        assert other not in page and other_agency not in page and other_org not in page
        assert "河西区审计局" not in page and "司马某甲" not in page
        assert 'data-testid="crossings"' not in page  # which agencies: not theirs to know


def test_a_district_with_nothing_in_common_sees_nothing(app, city, same_person):
    page = _queue(app, city["river_office"])
    assert 'data-testid="pattern-alert"' not in page
    assert 'data-testid="pattern-alert-elsewhere"' not in page
    for secret in (FOLDED, "欧阳", "西青区审计局", "南开区审计局", "西青某物流公司"):
        assert secret not in page


def test_the_city_office_sees_which_districts_but_no_name(app, city, same_person):
    page = _queue(app, city["city"])
    assert page.count('data-testid="crossing"') == 1
    assert sorted(CROSSING_AGENCY.findall(page)) == ["南开区审计局", "西青区审计局"]
    assert _fingerprint(same_person["west"]).person[:8] in page  # the districts' reference
    for secret in (FOLDED, "欧阳", "雀鸣", "西青某物流公司", "南开某建材厂", "司马某甲"):
        assert secret not in page
    # A district sees no crossings even among agencies below it: it has none.
    assert 'data-testid="crossings"' not in _queue(app, city["west_office"])


def test_leaders_and_administrators_see_nothing(app, city, same_person):
    for role in ("leader", "admin"):
        client = _client(app, city[role])
        assert client.get("/review/").status_code == 403
        home = client.get("/", follow_redirects=True).get_data(as_text=True)
        assert "crossing" not in home and "pattern-alert" not in home
        assert FOLDED not in home and "南开区审计局" not in home


def test_a_dump_holds_the_fingerprint_but_not_the_name(app, db, city, same_person):
    west, south = _fingerprint(same_person["west"]), _fingerprint(same_person["south"])
    assert west.person == south.person and west.organisation != south.organisation
    assert west.person == fingerprints.of("person", FOLDED)
    dump = _dump(db)
    assert west.person.encode() in dump
    for secret in (FOLDED, "欧阳", "雀鸣", "西青某物流公司", "南开某建材厂"):
        assert secret.encode() not in dump
    # Without the secret, the guess does not test: a plain hash of the name is nowhere.
    import hashlib

    for guess in (FOLDED, f"person\0{FOLDED}"):
        assert hashlib.sha256(guess.encode()).hexdigest()[:32].encode() not in dump


def test_a_changed_secret_does_not_break_the_queue_and_heals_as_offices_open_it(
        app, city, same_person, monkeypatch):
    monkeypatch.setitem(app.config, "FINGERPRINT_KEY", "a new installation secret")
    west = _queue(app, city["west_office"])  # made again for 西青, under the new key
    assert 'data-testid="pattern-alert-elsewhere"' not in west  # 南开's are still the old ones
    assert _fingerprint(same_person["west"]).key_id == fingerprints.key_id()
    _queue(app, city["south_office"])
    assert ELSEWHERE.findall(_queue(app, city["west_office"]))


def test_the_queue_fills_in_what_was_registered_before_fingerprints(app, city, same_person):
    _db.session.execute(sa.delete(Fingerprint))
    _db.session.commit()
    assert 'data-testid="pattern-alert-elsewhere"' not in _queue(app, city["west_office"])
    assert ELSEWHERE.findall(_queue(app, city["south_office"]))  # both filled by now
    assert _db.session.scalar(sa.select(sa.func.count()).select_from(Fingerprint)) == 2


def test_the_command_fingerprints_what_is_in_clear_and_counts_the_rest(app, db, runner, city,
                                                                     same_person):
    make_legacy(db.session.get(Incident, same_person["river"]))
    db.session.execute(sa.delete(Fingerprint))
    db.session.commit()
    with keychain.using(keychain.NOBODY):  # as on the server: the command holds no key
        result = runner.invoke(args=["keys", "fingerprints"])
    assert result.exit_code == 0, result.output
    assert "1 incident version(s) fingerprinted" in result.output
    assert result.output.count("sealed version(s) without a fingerprint") == 2  # 西青, 南开
    assert _fingerprint(same_person["river"]).person == fingerprints.of("person", "司马某甲")
    # `keys init` seals it, and its fingerprint stays the one of its name.
    assert runner.invoke(args=["keys", "init"]).exit_code == 0
    assert _fingerprint(same_person["river"]).person == fingerprints.of("person", "司马某甲")
