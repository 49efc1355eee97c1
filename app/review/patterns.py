"""Pattern alerts (疑点推送) for the discipline office's desk.

Over an agency's incidents of one year (the current version of each), the same person, the same
organisation or the same audit project named in incidents by two or more registrants, or in three
or more incidents, makes an alert with the incidents behind it; so does a person or organisation
also registered that year in another agency of the installation ("also registered in N other
agencies", and nothing else of theirs). Names and organisations are compared after normalisation
(full-width/half-width, case, spaces, separators and, for names, the position or honorific people
append to them), so "张 三", "张三" and "张三局长" are one person.

Names are sealed at rest (app/keys), so they are compared by their keyed fingerprints
(app/keys/fingerprints.py): the alerts are grouped in SQL, in one statement, and the only names
opened are those of the incidents the desk links from the alerts it shows (which label them).
The discipline office of an agency with agencies below it also sees, agency by agency, what is
registered in two or more of them (`across`): counts and agency names, never a name.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache

import sqlalchemy as sa
import sqlalchemy.orm as so

from app.core.extensions import db
from app.keys import crypto, fingerprints, keychain
from app.keys.fields import sealed_label
from app.models import Agency, AuditProject, Fingerprint, Incident, IncidentVersion

PERSON, ORGANISATION, PROJECT = "person", "organisation", "project"
KIND_ORDER = {PERSON: 0, ORGANISATION: 1, PROJECT: 2}

SEVERAL_REGISTRANTS = "several_registrants"
REPEATED = "repeated"
ELSEWHERE = "other_agencies"  # only in other agencies' registrations besides this one

MIN_REGISTRANTS = 2  # named by this many distinct registrants ...
MIN_INCIDENTS = 3  # ... or in this many incidents of the year
LINKS = 12  # incidents an alert links on the desk; their names label it
SHOWN = 20  # alerts the desk shows before "show all" (review/_alerts.html)
REF_DIGITS = 8  # of the fingerprint, shown so that offices can speak of one alert

# Positions and honorifics people append to a name; tried longest first.
NAME_SUFFIXES = tuple(sorted(
    ("局长", "副局长", "处长", "副处长", "科长", "副科长", "主任", "副主任", "书记", "副书记",
     "部长", "区长", "县长", "镇长", "经理", "总经理", "董事长", "主席", "秘书长", "同志",
     "先生", "女士", "老师", "总"),
    key=len, reverse=True,
))

# What registrants write when they do not know who it was: never one person or organisation.
PLACEHOLDERS = frozenset({"", "无", "不详", "未知", "不明", "匿名", "不清楚", "unknown", "na",
                          "none"})

# Bracket variants left after NFKC (which already turns （） into ()), read as parentheses.
BRACKETS = str.maketrans({"[": "(", "〔": "(", "【": "(", "〖": "(", "{": "(",
                          "]": ")", "〕": ")", "】": ")", "〗": ")", "}": ")"})


def _dropped(char: str) -> bool:
    """Whitespace, punctuation (separators such as · . - _) and invisible format characters."""
    category = unicodedata.category(char)
    return char.isspace() or category[0] in "PZ" or category == "Cf"


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _strip_suffix(name: str) -> str:
    """Without its longest title suffix, unless the title is all there is ("局长" stays)."""
    suffix = next((s for s in NAME_SUFFIXES if name.endswith(s)), "")
    return name[: -len(suffix)] if suffix and suffix != name else name


def _strip_suffixes(name: str) -> str:
    """Every trailing title: "张三局长同志" → "张三"."""
    while (shorter := _strip_suffix(name)) != name:
        name = shorter
    return name


# Names and organisations repeat across a year's incidents: fold each spelling once.
@lru_cache(maxsize=65536)
def normalise_name(text: str) -> str:
    """A comparison key for a person's name: "ＺＨＡＮＧ San" → "zhangsan", "张三局长" → "张三"."""
    folded = "".join(char for char in _fold(text) if not _dropped(char))
    return _strip_suffixes(folded)


@lru_cache(maxsize=65536)
def normalise_org(text: str) -> str:
    """A comparison key for an organisation; parentheses are kept (unified), suffixes are not
    stripped: "某某公司（北京）" and "某某公司 (北京)" match, "财政局" and "财政" do not."""
    folded = _fold(text).translate(BRACKETS)
    return "".join(char for char in folded if char in "()" or not _dropped(char))


@dataclass(frozen=True)
class Alert:
    kind: str  # PERSON | ORGANISATION | PROJECT
    key: str  # the normalised name or organisation, or the project's id ("" unlabelled)
    label: str  # the most frequent spelling among the linked incidents, or "code name"
    incident_ids: list[int]  # the first LINKS (none for an alert beyond those shown)
    registrant_count: int
    incident_count: int
    reason: str  # SEVERAL_REGISTRANTS | REPEATED | ELSEWHERE
    other_agencies: int = 0  # other agencies of the installation naming them this year
    ref: str = ""  # the fingerprint's first digits (persons and organisations)


@dataclass(frozen=True)
class Crossing:
    """A person or organisation registered in two or more agencies below (or at) the viewer's:
    which agencies, how many incidents in each; never the name."""

    kind: str
    ref: str
    agencies: list[tuple[str, int]] = field(default_factory=list)  # (agency name, incidents)


CODES = {code: kind for kind, code in KIND_ORDER.items()}


def _current(year: int, *columns: sa.ColumnElement) -> sa.Select:
    """`columns` of the current version of each incident whose period is in `year`, beside
    its fingerprint under the current key (none under another)."""
    later = so.aliased(IncidentVersion)
    newer_exists = sa.exists().where(later.incident_id == IncidentVersion.incident_id,
                                     later.number > IncidentVersion.number)
    return (sa.select(*columns).select_from(Incident)
            .join(IncidentVersion, IncidentVersion.incident_id == Incident.id)
            .outerjoin(Fingerprint, sa.and_(Fingerprint.version_id == IncidentVersion.id,
                                            Fingerprint.key_id == fingerprints.key_id()))
            .where(Incident.period.between(f"{year:04d}-01", f"{year:04d}-12"), ~newer_exists))


def _current_of(year: int, where: sa.ColumnElement[bool]) -> sa.CTE:
    """The current versions of the year's incidents matching `where`, computed once."""
    return _current(year, Incident.id.label("incident_id"), Incident.agency_id,
                    Incident.user_id, IncidentVersion.id.label("version_id"),
                    IncidentVersion.project_id, Fingerprint.person,
                    Fingerprint.organisation).where(where).cte()


def _marks(current: sa.CTE, kinds: tuple[str, ...]) -> sa.CTE:
    """One row per (kind, key) an incident is marked with: its person's and organisation's
    fingerprints, its project."""
    keys = {PERSON: current.c.person, ORGANISATION: current.c.organisation,
            PROJECT: sa.cast(current.c.project_id, sa.String)}
    return sa.union_all(*(
        sa.select(sa.literal(KIND_ORDER[kind]).label("kind"), keys[kind].label("key"),
                  current.c.incident_id, current.c.agency_id, current.c.user_id,
                  current.c.version_id).where(keys[kind].is_not(None))
        for kind in kinds)).cte()


def _elsewhere(agency_id: int, year: int, mine: sa.CTE) -> sa.CTE:
    """For each fingerprint of the agency's, how many other agencies name it this year."""
    def part(kind: str, column: sa.ColumnElement) -> sa.Select:
        code = KIND_ORDER[kind]
        return _current(year, sa.literal(code).label("kind"), column.label("key"),
                        Incident.agency_id).where(
            Fingerprint.agency_id != agency_id,
            column.in_(sa.select(mine.c.key).where(mine.c.kind == code)))
    theirs = sa.union_all(part(PERSON, Fingerprint.person),
                          part(ORGANISATION, Fingerprint.organisation)).subquery()
    return (sa.select(theirs.c.kind, theirs.c.key,
                      sa.func.count(sa.distinct(theirs.c.agency_id)).label("others"))
            .group_by(theirs.c.kind, theirs.c.key).cte())


def _alerted(agency_id: int, year: int, mine: sa.CTE) -> sa.CTE:
    """The (kind, key) groups of the agency that alert, with their counts and rank."""
    # Registrants counted over distinct (kind, key, registrant) rows rather than with
    # COUNT(DISTINCT), which PostgreSQL can only compute by sorting the year's keys.
    named_by = sa.select(mine.c.kind, mine.c.key, mine.c.user_id,
                         sa.func.count().label("incidents"),
                         sa.func.min(mine.c.incident_id).label("first")).group_by(
        mine.c.kind, mine.c.key, mine.c.user_id).subquery()
    groups = (sa.select(named_by.c.kind, named_by.c.key,
                        sa.func.count().label("registrants"),
                        sa.cast(sa.func.sum(named_by.c.incidents), sa.Integer)
                        .label("incidents"),
                        sa.func.min(named_by.c.first).label("first"))
              .group_by(named_by.c.kind, named_by.c.key).cte())
    elsewhere = _elsewhere(agency_id, year, mine)
    others = sa.func.coalesce(elsewhere.c.others, 0)
    return (sa.select(groups, others.label("others"), sa.func.row_number().over(
                order_by=(groups.c.incidents.desc(), groups.c.kind, groups.c.first))
                .label("rank"))
            .outerjoin(elsewhere, sa.and_(elsewhere.c.kind == groups.c.kind,
                                          elsewhere.c.key == groups.c.key))
            .where(sa.or_(groups.c.registrants >= MIN_REGISTRANTS,
                          groups.c.incidents >= MIN_INCIDENTS, others >= 1))
            .cte())


def _query(agency_id: int, year: int, shown: int | None) -> sa.Select:
    """One row per linked incident of each alert shown (with what opens its names), one row
    with no incident for each alert beyond."""
    mine = _marks(_current_of(year, Incident.agency_id == agency_id),
                  (PERSON, ORGANISATION, PROJECT))
    alerted = _alerted(agency_id, year, mine)
    displayed = alerted.c.rank <= shown if shown is not None else sa.true()
    numbered = (sa.select(mine.c.kind, mine.c.key, mine.c.incident_id, mine.c.version_id,
                          sa.func.row_number().over(partition_by=(mine.c.kind, mine.c.key),
                                                    order_by=mine.c.incident_id).label("n"))
                .join(alerted, sa.and_(alerted.c.kind == mine.c.kind,
                                       alerted.c.key == mine.c.key))
                .where(displayed).cte())
    return (sa.select(alerted.c.kind, alerted.c.key, alerted.c.registrants,
                      alerted.c.incidents, alerted.c.others, *keychain.wrap_columns(),
                      IncidentVersion._actor_name, IncidentVersion._actor_org,
                      AuditProject.code, AuditProject.name)
            .select_from(alerted)
            .outerjoin(numbered, sa.and_(numbered.c.kind == alerted.c.kind,
                                         numbered.c.key == alerted.c.key,
                                         numbered.c.n <= LINKS))
            .outerjoin(Incident, Incident.id == numbered.c.incident_id)
            .outerjoin(IncidentVersion, IncidentVersion.id == numbered.c.version_id)
            .outerjoin(AuditProject, AuditProject.id == IncidentVersion.project_id)
            .order_by(alerted.c.rank, numbered.c.incident_id))


SEALED = {PERSON: (IncidentVersion.actor_name, 0), ORGANISATION: (IncidentVersion.actor_org, 1)}


def _spelling(chain: keychain.Keychain, kind: str, wraps: sa.Row, sealed: tuple[str, str],
              project: str) -> str:
    """How a linked incident spells the alert's name, opened with this request's keys."""
    if kind == PROJECT:
        return project
    sealed_field, column = SEALED[kind]
    text = chain.text(wraps, sealed[column], sealed_field)
    if not text and crypto.is_sealed_text(sealed[column]):
        return sealed_label()  # this member holds no key: the alert stands, unnamed
    return text.strip()


def _key_of(kind: str, label: str, key: str) -> str:
    if not label:
        return ""
    return {PERSON: normalise_name, ORGANISATION: normalise_org}.get(kind, lambda _: key)(label)


def alerts(agency_id: int, year: int, shown: int | None = None) -> list[Alert]:
    """The agency's pattern alerts for `year`: most incidents first, then by kind and first
    incident. Only the first `shown` (all with None) carry their linked incidents and label:
    the names of those incidents, and no other, are opened."""
    chain, width = keychain.current(), keychain.WRAP_WIDTH
    found: dict[tuple[int, str], dict] = {}
    for row in db.session.execute(_query(agency_id, year, shown)):
        code, key, registrants, incidents, others = row[:5]
        wraps, (name, org, code_no, project_name) = row[5:5 + width], row[5 + width:]
        kind = CODES[code]
        alert = found.setdefault((code, key), {
            "kind": kind, "key": key, "ids": [], "spellings": Counter(),
            "registrants": registrants, "incidents": incidents, "others": others})
        if wraps[0] is not None:
            alert["ids"].append(wraps[0])
            project = f"{code_no} {project_name}" if code_no is not None else ""
            alert["spellings"][_spelling(chain, kind, wraps, (name, org), project)] += 1
    return [_alert(item) for item in found.values()]


def _alert(item: dict) -> Alert:
    kind, registrants, incidents, others = (item["kind"], item["registrants"],
                                            item["incidents"], item["others"])
    # Most frequent spelling; on a tie, the one seen first (incidents are read in id order).
    label = item["spellings"].most_common(1)[0][0] if item["spellings"] else ""
    reason = (SEVERAL_REGISTRANTS if registrants >= MIN_REGISTRANTS
              else REPEATED if incidents >= MIN_INCIDENTS else ELSEWHERE)
    return Alert(kind=kind, key=_key_of(kind, label, item["key"]), label=label,
                 incident_ids=item["ids"], registrant_count=registrants,
                 incident_count=incidents, reason=reason, other_agencies=others,
                 ref=item["key"][:REF_DIGITS] if kind != PROJECT else "")


def fill(agency_id: int, year: int) -> None:
    """Fingerprint the agency's registrations of `year` that have none under the current key
    (made before fingerprints existed, or the key changed), with this request's keys."""
    fingerprints.fill(sa.and_(Incident.agency_id == agency_id,
                              Incident.period.between(f"{year:04d}-01", f"{year:04d}-12")))


def across(agency_ids: list[int], year: int) -> list[Crossing]:
    """What is registered in two or more of `agency_ids` (the agencies the viewer's office
    oversees, access.crossing_agencies) in `year`: most agencies first."""
    if len(agency_ids) < 2:
        return []
    marks = _marks(_current_of(year, Incident.agency_id.in_(agency_ids)), (PERSON, ORGANISATION))
    shared = (sa.select(marks.c.kind, marks.c.key).group_by(marks.c.kind, marks.c.key)
              .having(sa.func.count(sa.distinct(marks.c.agency_id)) >= 2).cte())
    query = (sa.select(marks.c.kind, marks.c.key, Agency.name, sa.func.count())
             .join(shared, sa.and_(shared.c.kind == marks.c.kind, shared.c.key == marks.c.key))
             .join(Agency, Agency.id == marks.c.agency_id)
             .group_by(marks.c.kind, marks.c.key, Agency.id, Agency.name)
             .order_by(marks.c.kind, marks.c.key, Agency.name))
    found: dict[tuple[int, str], Crossing] = {}
    for code, key, name, count in db.session.execute(query):
        crossing = found.setdefault((code, key), Crossing(CODES[code], key[:REF_DIGITS]))
        crossing.agencies.append((name, count))
    return sorted(found.values(), key=lambda c: (-len(c.agencies),
                                                 -sum(n for _, n in c.agencies),
                                                 KIND_ORDER[c.kind], c.ref))
