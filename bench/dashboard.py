"""Benchmark: the filing compliance dashboard at national scale, in SQLite.

    .venv/bin/python bench/dashboard.py [--agencies 1] [--keep FILE]

Builds, in a temporary SQLite file, 100,000 auditors in 500 departments (by default all in
one agency, as the issue asks), a year (12 periods) of monthly reports (~1.1M reports and as
many report versions: ~97% of months filed, ~5% of them late) and 20,000 incidents, all with
bulk inserts. Then it prints, as medians of 5 runs after a warm-up:

- `dashboard_ms`: GET /compliance/?period=… through the Flask test client, signed in as a
  reviewer through the login form (the whole page: headline, 500 departments, the first 500
  non-filers, the 12-month trend), interleaved with `dashboard_floor_ms`, the SQL statements
  it sent replayed raw and fully fetched (bench/floor.py); `dashboard_floor_ratio` the one
  over the other (target, issue 16: <= 1.5, and the page <= 300 ms);
- `dashboard_sql_ms`: the bare queries that page needs (rates.period_figures and
  rates.trend), and each of the two apart;
- `compliance_xlsx_s`: GET /compliance/export.xlsx?period=…, the whole compliance table (one
  line per auditor in scope: ~97,000), and `compliance_csv_s`, the same rows as CSV, its floor
  (the same query and lines, the simplest file), timed in turn (XLSX, CSV, XLSX, CSV …);
  `compliance_xlsx_ratio` is the one over the other. Target (issue 16): XLSX <= 3 s;
- `queue_ms`: GET /review/, the first page of the review queue with the pattern alerts, with
  `queue_floor_ms` and `queue_floor_ratio` as for the dashboard;
- `queue_sql_ms`: its bare queries (workflow.queue, patterns.fill finding nothing left to
  fingerprint, patterns.alerts), and the queue's and the alerts' apart;
- `queue_clear_ms`, `queue_encrypted_ms`, `queue_encrypted_ratio`: the queue page before and
  after every incident is sealed (issue 13: the names and texts opened in the request with the
  reviewer's keys), `seal_all_s` the bulk sealing between them, `alerts_s` the pattern alerts
  in the reviewer's request (grouped on the names' fingerprints, which the first page view
  made from the clear text; only the linked incidents of the alerts shown are opened),
  `encrypt_ms` what sealing one registration with a 10 MB evidence file adds to its request.

`--agencies N` spreads the same people over N agencies and times the first one: the
national system on one database server, as PRODUCT.md describes it;
`--database-url` runs it all on PostgreSQL instead (in a scratch database: tables are dropped).

`build()` returns a `Bench` (the app, the timed agency, whom to sign in as, the frozen "now"
and the period); each timing is a function of it listed in TIMINGS.
"""

from __future__ import annotations

import argparse
import gc
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import floor

from app import create_app
from app.admin import employment
from app.auth.security import hash_password
from app.core import clock
from app.core.extensions import db
from app.filing import scope, tally
from app.filing.periods import DeadlineRule, Period
from app.models import (
    Agency,
    AgencyKey,
    Department,
    Employment,
    Incident,
    IncidentVersion,
    MonthlyReport,
    ReportVersion,
    Review,
    User,
    UserRole,
    report_version_incident,
)

NOW = datetime(2025, 6, 10, 2, 0, tzinfo=UTC)  # 10:00 in Beijing: May 2025 is overdue
TZ = ZoneInfo("Asia/Shanghai")
PASSWORD = "bench password 2025"  # noqa: S105  (a throw-away account in a temporary file)
CHUNK = 50_000
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力永春"


@dataclass
class Bench:
    """What a timing needs: the app (clock frozen at `now`), whom to sign in as, which period."""

    app: Flask
    agency_id: int
    reviewer_staff_no: str
    now: datetime
    period: Period
    counts: dict[str, int]


def _insert(table: sa.Table, rows: Iterator[dict]) -> int:
    """executemany in chunks, so a million rows never sit in memory at once."""
    total, batch = 0, []
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            db.session.execute(sa.insert(table), batch)
            total, batch = total + len(batch), []
    if batch:
        db.session.execute(sa.insert(table), batch)
        total += len(batch)
    return total


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))


def _people(rng: random.Random, departments: list[tuple[int, int]], auditors: int,
            first: Period, last: Period) -> Iterator[dict]:
    """Auditors: most in post all year, ~8% joined during it, ~3% left (and were deactivated).
    `departments` are (agency id, department id) pairs, dealt out in turn."""
    year = (last.last_day - first.first_day).days
    for n in range(1, auditors + 1):
        agency_id, department_id = departments[n % len(departments)]
        joined, left = date(2015, 1, 1), None
        draw = rng.random()
        if draw < 0.08:
            joined = first.first_day + timedelta(days=rng.randrange(year))
        elif draw < 0.11:
            left = first.first_day + timedelta(days=rng.randrange(year))
        yield {"id": n, "agency_id": agency_id, "department_id": department_id,
               "staff_no": f"B{n:06d}", "name": _name(rng), "email": None,
               "password_hash": None, "active": left is None, "joined_on": joined,
               "left_on": left, "session_version": 1, "failed_logins": 0, "created_at": NOW}


def _in_scope(person: dict, period: Period) -> bool:
    return person["joined_on"] <= period.last_day and (
        person["left_on"] is None or person["left_on"] >= period.first_day)


def build(url: str, auditors: int = 100_000, departments: int = 500, incidents: int = 20_000,
          agencies: int = 1, seed: int = 2025) -> Bench:
    """Create the schema (dropping what is there) and the synthetic data at `url`."""
    rng = random.Random(seed)
    # The timings are of pages, not of sign-in: the reviewer signs in with the password alone.
    app = create_app("testing", SQLALCHEMY_DATABASE_URI=url, SERVER_NAME=None,
                     TWO_FACTOR_ROLES=())
    rule = DeadlineRule(tz=TZ, day=5)
    last = rule.period_due(NOW)
    periods = Period(last.year - 1, last.month).next().until(last)
    with app.app_context():
        db.drop_all()
        db.create_all()
        if db.engine.dialect.name == "sqlite":
            db.session.execute(sa.text("PRAGMA synchronous=OFF"))
        agency_ids = list(db.session.scalars(
            sa.insert(Agency).returning(Agency.id, sort_by_parameter_order=True),
            [{"name": f"基准审计局{n}", "timezone": "Asia/Shanghai", "deadline_day": 5,
              "shift_to_workday": False, "rules_text": "", "created_at": NOW}
             for n in range(1, agencies + 1)]))
        _insert(Department.__table__, (
            {"agency_id": agency_ids[n % agencies], "name": f"审计{n}处", "archived": False}
            for n in range(1, departments + 1)))
        depts = db.session.execute(
            sa.select(Department.agency_id, Department.id).order_by(Department.id)).all()
        people = list(_people(rng, [tuple(d) for d in depts], auditors, periods[0], last))
        _insert(User.__table__, iter(people))
        _insert(UserRole.__table__, ({"user_id": p["id"], "role": "auditor"} for p in people))
        _insert(Employment.__table__, (scope.single_period(p) for p in people))
        reviewer = User(id=len(people) + 1, agency_id=agency_ids[0], staff_no="REVIEWER",
                        name="纪检组", password_hash=hash_password(PASSWORD),
                        joined_on=date(2015, 1, 1), roles={"reviewer"})
        db.session.add(reviewer)
        employment.follow(reviewer)
        # Incidents first: a month with incidents is filed as a report with incidents.
        pairs = _incident_pairs(rng, people, periods, incidents)
        counts = _reports(rng, people, periods, rule, pairs)
        counts["incidents"] = _incidents(rng, pairs, {p["id"]: p["agency_id"] for p in people},
                                         rule)
        counts["tally_rows"] = tally.rebuild()  # bulk inserts bypass app.filing's upkeep
        counts["auditors"] = len(people)
        counts["timed_agency_auditors"] = sum(p["agency_id"] == agency_ids[0] for p in people)
        db.session.commit()
        db.session.execute(sa.text("ANALYZE"))  # planner statistics, as after any bulk load
        db.session.commit()
        bench = Bench(app, agency_ids[0], reviewer.staff_no, NOW, last, counts)
    # The heap as a fresh worker has it: the app frozen out of the collector's view
    # (FREEZE_HEAP, off in the testing configuration used here), the load's garbage gone.
    gc.collect()
    gc.freeze()
    return bench


def _incident_pairs(rng: random.Random, people: list[dict], periods: list[Period],
                    count: int) -> dict[tuple[int, str], list[int]]:
    """(user id, period) -> incident numbers, for `count` incidents of in-scope people."""
    pairs: dict[tuple[int, str], list[int]] = {}
    n = 0
    while n < count:
        person, period = rng.choice(people), rng.choice(periods)
        if _in_scope(person, period):
            n += 1
            pairs.setdefault((person["id"], str(period)), []).append(n)
    return pairs


def _reports(rng: random.Random, people: list[dict], periods: list[Period], rule: DeadlineRule,
             pairs: dict[tuple[int, str], list[int]]) -> dict[str, int]:
    """~97% of in-scope months filed, ~5% of them late; versions reference reports by id."""
    report_id = 0
    counts = {"reports": 0}
    for period in periods:
        opens, deadline = rule.opens_at(period), rule.deadline(period)
        reports, versions = [], []
        for person in people:
            if not _in_scope(person, period) or rng.random() >= 0.97:
                continue
            if rng.random() < 0.05:
                filed = deadline + timedelta(hours=rng.randrange(1, 24 * 20))
            else:
                filed = opens + timedelta(hours=rng.randrange(0, 24 * 5))
            if filed > NOW:
                continue  # not filed yet, as of the benchmark's "now"
            report_id += 1
            zero = (person["id"], str(period)) not in pairs
            reports.append({"id": report_id, "user_id": person["id"], "period": str(period),
                            "first_filed_at": filed, "late": filed >= deadline})
            versions.append({"id": report_id, "report_id": report_id, "number": 1,
                             "is_zero": zero, "declared": True, "reason": "",
                             "submitted_at": filed, "submitted_from": "bench"})
        counts["reports"] += _insert(MonthlyReport.__table__, iter(reports))
        _insert(ReportVersion.__table__, iter(versions))
    return counts


def _incidents(rng: random.Random, pairs: dict[tuple[int, str], list[int]],
               agency_of: dict[int, int], rule: DeadlineRule) -> int:
    """Incidents with one version and a new review each, linked to their month's report."""
    wanted = {period for _, period in pairs}
    report_of = {
        (user_id, period): rid for rid, user_id, period in db.session.execute(
            sa.select(MonthlyReport.id, MonthlyReport.user_id, MonthlyReport.period)
            .where(MonthlyReport.period.in_(wanted)))
    }
    headers, versions, reviews, links = [], [], [], []
    for (user_id, period_text), numbers in pairs.items():
        period = Period.parse(period_text)
        for n in numbers:
            occurred = rule.opens_at(period) - timedelta(hours=rng.randrange(1, 24 * 27))
            headers.append({"id": n, "agency_id": agency_of[user_id], "user_id": user_id,
                            "period": period_text, "registered_at": occurred})
            versions.append({
                "id": n, "incident_id": n, "number": 1, "occurred_at": occurred,
                "kind": "interfering", "category": "plead", "channel": "phone",
                "actor_name": _name(rng), "actor_org": "某区某局", "actor_position": "副局长",
                "actor_relation": "leading_cadre", "project_id": None, "stage": "fieldwork",
                "description": "来电请求从轻处理。", "response": "refused",
                "response_detail": "", "delay_reason": "", "reason": "", "created_at": occurred,
            })
            reviews.append({"incident_id": n, "status": "new", "determination": "",
                            "referred_to": "", "referral_reason": "", "updated_at": occurred,
                            "changed_at": occurred, "waiting_since": occurred})
            if (user_id, period_text) in report_of:
                links.append({"report_version_id": report_of[(user_id, period_text)],
                              "incident_version_id": n})
    count = _insert(Incident.__table__, iter(headers))
    _insert(IncidentVersion.__table__, iter(versions))
    _insert(Review.__table__, iter(reviews))
    _insert(report_version_incident, iter(links))
    return count


# Timings ------------------------------------------------------------------------------------

def signed_in(bench: Bench) -> FlaskClient:
    """A test client signed in as the reviewer, through the login form and its CSRF token."""
    client = bench.app.test_client()
    page = client.get("/auth/login").get_data(as_text=True)
    match = CSRF_RE.search(page)
    assert match, "no CSRF token on the login page"
    response = client.post("/auth/login", data={"csrf_token": match.group(1),
                                           "identifier": bench.reviewer_staff_no,
                                           "password": PASSWORD})
    assert response.status_code == 302, response.status_code
    return client


def median_ms(action: Callable[[], object], runs: int = 5) -> float:
    """Median wall time of `runs` calls after one warm-up call (the page cache is warm)."""
    action()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def page(bench: Bench, url: str) -> Callable[[], None]:
    """GET `url` as the signed-in reviewer, as the browser would."""
    client = signed_in(bench)

    def get() -> None:
        response = client.get(url)
        assert response.status_code == 200, response.status_code
    return get


def bare(bench: Bench, *queries: Callable[[Agency], object]) -> Callable[[], None]:
    """The page's queries alone, in a fresh app context (no template, no request)."""
    def run() -> None:
        with bench.app.app_context():
            agency = db.session.get(Agency, bench.agency_id)
            for query in queries:
                query(agency)
    return run


def with_floor(bench: Bench, name: str, url: str, runs: int = 5) -> dict[str, float]:
    """`<name>_ms`, the page, and `<name>_floor_ms`, its SQL statements replayed raw and
    fully fetched (bench/floor.py), interleaved; `<name>_floor_ratio` the one over the other."""
    times = floor.medians(bench.app, {name: page(bench, url)}, runs)
    page_ms, floor_ms = times[name] * 1000, times[f"{name}_floor"] * 1000
    return {f"{name}_ms": page_ms, f"{name}_floor_ms": floor_ms,
            f"{name}_floor_ratio": page_ms / floor_ms,
            f"{name}_statements": times[f"{name}_statements"]}


def time_dashboard(bench: Bench) -> dict[str, float]:
    from app.compliance import rates
    from app.filing import records

    def figures(agency: Agency) -> object:
        return rates.period_figures(agency, bench.period, bench.now,
                                         rates.PAGE_NON_FILERS,
                                         rule=records.deadline_rule(agency))

    def trend(agency: Agency) -> object:
        return rates.trend(agency, bench.period, bench.now,
                                rule=records.deadline_rule(agency))

    return {**with_floor(bench, "dashboard", f"/compliance/?period={bench.period}"),
            "dashboard_sql_ms": median_ms(bare(bench, figures, trend)),
            "dashboard_period_sql_ms": median_ms(bare(bench, figures)),
            "dashboard_trend_sql_ms": median_ms(bare(bench, trend))}


def time_exports(bench: Bench, runs: int = 3) -> dict[str, float]:
    """The compliance table downloaded as XLSX and as CSV, interleaved, medians of `runs`
    after one warm-up of each."""
    client = signed_in(bench)

    def download(fmt: str) -> float:
        start = time.perf_counter()
        response = client.get(f"/compliance/export.{fmt}?period={bench.period}")
        assert response.status_code == 200, (fmt, response.status_code)
        response.get_data()
        return time.perf_counter() - start

    times: dict[str, list[float]] = {"xlsx": [], "csv": []}
    for run in range(runs + 1):
        for fmt, spent in times.items():
            elapsed = download(fmt)
            if run:  # the first round warms the page cache
                spent.append(elapsed)
    xlsx, csv = statistics.median(times["xlsx"]), statistics.median(times["csv"])
    return {"compliance_xlsx_s": xlsx, "compliance_csv_s": csv,
            "compliance_xlsx_ratio": xlsx / csv}


def time_queue(bench: Bench) -> dict[str, float]:
    """The first page of the review queue (every incident of the year, newest first) with the
    pattern alerts the desk shows beside it."""
    from app.review import patterns, workflow

    def first_page(agency: Agency) -> object:
        return workflow.queue(agency.id, workflow.QueueFilter(), page=1)

    def fill(agency: Agency) -> object:  # finds nothing left to fill, as the page does
        return patterns.fill(agency.id, bench.period.year)

    def alerts(agency: Agency) -> object:
        return patterns.alerts(agency.id, bench.period.year, patterns.SHOWN)

    return {**with_floor(bench, "queue", "/review/"),
            "queue_sql_ms": median_ms(bare(bench, first_page, fill, alerts)),
            "queue_page_sql_ms": median_ms(bare(bench, first_page)),
            "queue_alerts_sql_ms": median_ms(bare(bench, alerts))}


def seal_all(bench: Bench) -> float:
    """Seal every incident as the portal does (issue 13): the agency key made by the reviewer,
    then, per incident, a content key wrapped for the agency and its text sealed, written in
    bulk. Returns the seconds it took (what `flask keys init` does, without its checks)."""
    from app.keys import crypto, custody

    start = time.perf_counter()
    with bench.app.app_context():
        reviewer = db.session.scalar(sa.select(User).where(
            User.staff_no == bench.reviewer_staff_no))
        custody.new_ring(reviewer, PASSWORD)  # unlocked by the reviewer's next sign-in
        custody.create_agency_key(bench.agency_id, reviewer, bench.now)
        public = crypto.unb64(db.session.get(AgencyKey, bench.agency_id).public_key)
        fields = {f.column: f for f in (IncidentVersion.actor_name, IncidentVersion.actor_org,
                                        IncidentVersion.actor_position,
                                        IncidentVersion.description)}
        rows = db.session.execute(sa.select(
            IncidentVersion.id, IncidentVersion.incident_id,
            *(getattr(IncidentVersion, column) for column in fields))).all()
        headers, versions = [], []
        for version_id, incident_id, *values in rows:
            key = crypto.random_key()
            headers.append({"b_id": incident_id, "k": crypto.wrap(public, key)})
            versions.append({"b_id": version_id, **{
                f"v{n}": crypto.seal_text(key, value, field.aad) if value else value
                for n, (field, value) in enumerate(zip(fields.values(), values, strict=True))}})
        incident, version = Incident.__table__, IncidentVersion.__table__
        db.session.execute(incident.update().where(incident.c.id == sa.bindparam("b_id"))
                           .values(key_for_agency=sa.bindparam("k")), headers)
        db.session.execute(version.update().where(version.c.id == sa.bindparam("b_id"))
                           .values({field.name: sa.bindparam(f"v{n}")
                                    for n, field in enumerate(fields.values())}), versions)
        db.session.commit()
    return time.perf_counter() - start


def time_encryption(bench: Bench) -> dict[str, float]:
    """The queue and its pattern alerts before and after every incident is sealed, and what
    sealing one registration with a 10 MB evidence file costs (content key, two wraps, seven
    fields, the file)."""
    import os

    from flask import g
    from flask_login import login_user

    from app.keys import crypto, custody
    from app.keys.keychain import Keychain
    from app.review import patterns

    before = median_ms(page(bench, "/review/"))
    seal_s = seal_all(bench)
    after = median_ms(page(bench, "/review/"))

    def alerts_in_request() -> None:
        """The pattern alerts as the reviewer's request computes them: grouped on the
        fingerprints, the names of the incidents linked from the alerts shown opened."""
        with bench.app.test_request_context():
            user = db.session.scalar(sa.select(User).where(
                User.staff_no == bench.reviewer_staff_no))
            login_user(user)
            ring = custody.ring_of(user.id)
            g.keychain = Keychain(user.id, ring.id, custody.unlock(ring, user.id, PASSWORD),
                                  office=True)
            assert patterns.alerts(bench.agency_id, bench.period.year, patterns.SHOWN)

    alerts = median_ms(alerts_in_request)
    evidence = os.urandom(10 * 2**20)
    pair = crypto.new_key_pair()

    def seal_one() -> None:
        key = crypto.random_key()
        crypto.wrap(pair.public, key)
        crypto.wrap(pair.public, key)
        for _ in range(7):
            crypto.seal_text(key, "来电请求对其分管单位的问题从轻处理。" * 4, b"IncidentVersion.x")
        crypto.seal(key, evidence, b"EvidenceContent.data")

    return {"queue_clear_ms": before, "queue_encrypted_ms": after,
            "queue_encrypted_ratio": after / before, "seal_all_s": seal_s,
            "alerts_s": alerts / 1000, "encrypt_ms": median_ms(seal_one)}


TIMINGS: list[Callable[[Bench], dict[str, float]]] = [time_dashboard, time_exports, time_queue,
                                                      time_encryption]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--auditors", type=int, default=100_000)
    parser.add_argument("--departments", type=int, default=500)
    parser.add_argument("--incidents", type=int, default=20_000)
    parser.add_argument("--agencies", type=int, default=1)
    parser.add_argument("--keep", type=Path, help="build into this SQLite file and keep it")
    parser.add_argument("--database-url", help="build there instead (its tables are DROPPED)")
    args = parser.parse_args()
    clock.now = lambda: NOW  # sessions and statuses as of the benchmark's "now"
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{args.keep or Path(tmp) / 'bench.sqlite'}"
        start = time.perf_counter()
        bench = build(url, args.auditors, args.departments, args.incidents, args.agencies)
        print(f"build_s: {time.perf_counter() - start:.1f}  {bench.counts}")
        for timing in TIMINGS:
            for name, value in timing(bench).items():
                print(f"{name}: {value:.2f}" if value < 10 else f"{name}: {value:.0f}")


if __name__ == "__main__":
    main()
