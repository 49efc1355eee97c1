"""Pattern alerts (疑点推送) for the discipline office's desk.

Over an agency's incidents of one year (the current version of each), the same person, the same
organisation or the same audit project named in incidents by two or more registrants, or in three
or more incidents, makes an alert with the incidents behind it. Names and organisations are
compared after normalisation (full-width/half-width, case, spaces, separators and, for names, the
position or honorific people append to them), so "张 三", "张三" and "张三局长" are one person.

Everything is read with one SQL statement, opened in memory with the reviewer's keys
(app/keys: names are sealed at rest) and grouped in Python.
"""

from __future__ import annotations

import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import sqlalchemy as sa
import sqlalchemy.orm as so

from app.core.extensions import db
from app.keys import keychain
from app.models import AuditProject, Incident, IncidentVersion

PERSON, ORGANISATION, PROJECT = "person", "organisation", "project"
KIND_ORDER = {PERSON: 0, ORGANISATION: 1, PROJECT: 2}

SEVERAL_REGISTRANTS = "several_registrants"
REPEATED = "repeated"

MIN_REGISTRANTS = 2  # named by this many distinct registrants ...
MIN_INCIDENTS = 3  # ... or in this many incidents of the year

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
    key: str  # the normalised name or organisation, or the project's id
    label: str  # the most frequent original spelling, or "code name" of the project
    incident_ids: list[int]
    registrant_count: int
    incident_count: int
    reason: str  # SEVERAL_REGISTRANTS | REPEATED


@dataclass(frozen=True)
class _Row:
    incident_id: int
    registrant_id: int
    actor_name: str
    actor_org: str
    project_id: int | None
    project_label: str


class _Group:
    def __init__(self) -> None:
        self.incidents: set[int] = set()
        self.registrants: set[int] = set()
        self.spellings: Counter[str] = Counter()

    def add(self, row: _Row, spelling: str) -> None:
        self.incidents.add(row.incident_id)
        self.registrants.add(row.registrant_id)
        self.spellings[spelling] += 1


def _rows(agency_id: int, year: int) -> list[_Row]:
    """The current version of each incident of the agency whose period is in `year`."""
    later = so.aliased(IncidentVersion)
    newer_exists = sa.exists().where(later.incident_id == IncidentVersion.incident_id,
                                     later.number > IncidentVersion.number)
    query = (
        sa.select(*keychain.wrap_columns(), Incident.user_id, IncidentVersion._actor_name,
                  IncidentVersion._actor_org, IncidentVersion.project_id, AuditProject.code,
                  AuditProject.name)
        .join(IncidentVersion, IncidentVersion.incident_id == Incident.id)
        .outerjoin(AuditProject, AuditProject.id == IncidentVersion.project_id)
        .where(Incident.agency_id == agency_id,
               Incident.period.between(f"{year:04d}-01", f"{year:04d}-12"),
               ~newer_exists)
        .order_by(Incident.id)
    )
    chain, width = keychain.current(), keychain.WRAP_WIDTH
    name_field, org_field = IncidentVersion.actor_name, IncidentVersion.actor_org
    rows = []
    for row in db.session.execute(query):
        wraps, (registrant, name, org, pid, code, pname) = row[:width], row[width:]
        rows.append(_Row(wraps[0], registrant, chain.text(wraps, name, name_field),
                         chain.text(wraps, org, org_field), pid,
                         f"{code} {pname}" if pid is not None else ""))
    return rows


def _group(rows: Iterable[_Row]) -> dict[tuple[str, str], _Group]:
    groups: dict[tuple[str, str], _Group] = defaultdict(_Group)
    for row in rows:
        name, org = normalise_name(row.actor_name), normalise_org(row.actor_org)
        if name not in PLACEHOLDERS:
            groups[PERSON, name].add(row, row.actor_name.strip())
        if org not in PLACEHOLDERS:
            groups[ORGANISATION, org].add(row, row.actor_org.strip())
        if row.project_id is not None:
            groups[PROJECT, str(row.project_id)].add(row, row.project_label)
    return groups


def _reason(group: _Group) -> str | None:
    if len(group.registrants) >= MIN_REGISTRANTS:
        return SEVERAL_REGISTRANTS
    if len(group.incidents) >= MIN_INCIDENTS:
        return REPEATED
    return None


def _alert(kind: str, key: str, group: _Group, reason: str) -> Alert:
    # Most frequent spelling; on a tie, the one seen first (incidents are read in id order).
    label = group.spellings.most_common(1)[0][0]
    return Alert(kind=kind, key=key, label=label, incident_ids=sorted(group.incidents),
                 registrant_count=len(group.registrants), incident_count=len(group.incidents),
                 reason=reason)


def alerts(agency_id: int, year: int) -> list[Alert]:
    """The agency's pattern alerts for `year`: most incidents first, then by kind and label."""
    found = [
        _alert(kind, key, group, reason)
        for (kind, key), group in _group(_rows(agency_id, year)).items()
        if (reason := _reason(group)) is not None
    ]
    return sorted(found, key=lambda a: (-a.incident_count, KIND_ORDER[a.kind], a.label))
