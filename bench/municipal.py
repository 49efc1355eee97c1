"""Benchmark: a city's roll-up of its districts, and a national tree, through the Flask client.

    .venv/bin/python bench/municipal.py [--agencies 17] [--staff 300] [--runs 5]
                                        [--keep FILE] [--database-url URL]

Builds with bench/dashboard.py's builder (bulk inserts) `--agencies` agencies of `--staff`
auditors each (five departments per agency, a year of monthly reports: ~97% of months filed,
~5% of them late, and 0.2 incidents per auditor), then arranges them in a tree: with 17 or
fewer, a city above its districts; with more, a national root above ~sqrt(N) provinces above
the rest (`--agencies 3000 --staff 35`: 105,000 auditors, ~1.2 M reports). Every other agency
below the root has a signed 2025 statement (stored figures copied from one computed for real),
the others are counted live. The root's discipline office signs in through the login form.

It prints `name: value` lines, medians of `--runs` after a warm-up, each page interleaved with
its floor (the SELECT statements the page sent, recorded once, replayed raw on a DBAPI cursor
and fully fetched: bench/floor.py):

- `rollup_ms`, `rollup_floor_ratio`: GET /rollup/?year=2025 (every agency's figures and
  statement, summed);
- `tree_compliance_ms`, `tree_compliance_floor_ratio`: GET /rollup/compliance?period=2025-05;
- `rollup_statements`, `tree_compliance_statements`: SQL statements per page;
- `request_overhead_ms`: GET /rules (a page that reads nothing but the session's user), the
  fixed cost any page pays: on a small tree it is most of the page, so the ratio to a floor of
  2 ms says little there.

Targets (issue 15): both pages <= 500 ms and <= 3x their floor, statements constant in the
number of agencies. `--database-url` runs it on PostgreSQL (a scratch database: tables DROPPED).
"""

from __future__ import annotations

import argparse
import math
import secrets
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import dashboard
import floor

from app.core import clock
from app.core.extensions import db
from app.models import Agency, AnnualStatement, User
from app.statement import figures

YEAR = 2025
DEPARTMENTS_PER_AGENCY = 5
INCIDENTS_PER_AUDITOR = 0.2


def arrange(root_id: int, ids: list[int]) -> int:
    """Put `ids` below `root_id`: directly for a city's districts (up to 16), else under
    ~sqrt(N) provinces taken from them. Returns the depth of the tree."""
    if len(ids) <= 16:
        db.session.execute(sa.update(Agency).where(Agency.id.in_(ids)).values(parent_id=root_id))
        return 1
    provinces = ids[:math.isqrt(len(ids))]
    rest = ids[len(provinces):]
    db.session.execute(sa.update(Agency).where(Agency.id.in_(provinces))
                       .values(parent_id=root_id))
    for n, province in enumerate(provinces):
        db.session.execute(sa.update(Agency).where(Agency.id.in_(rest[n::len(provinces)]))
                           .values(parent_id=province))
    return 2


def sign_half(bench: dashboard.Bench, ids: list[int]) -> int:
    """Locked statements for every other agency, with the figures computed for the first."""
    first = db.session.get(Agency, ids[0])
    counted = figures.compute(first, YEAR, bench.now)
    reviewer = db.session.scalar(sa.select(User.id).where(
        User.staff_no == bench.reviewer_staff_no))
    rows = [{"agency_id": agency_id, "year": YEAR, "status": "locked",
             "figures": counted.to_json(), "headline": counted.headline(),
             "records_digest": secrets.token_hex(32), "prepared_by_id": reviewer,
             "prepared_at": bench.now, "signed_by_id": reviewer, "signed_at": bench.now,
             "log_head": "", "document_number": ""} for agency_id in ids[::2]]
    return dashboard._insert(AnnualStatement.__table__, iter(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--agencies", type=int, default=17)
    parser.add_argument("--staff", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build into this SQLite file and keep it")
    parser.add_argument("--database-url", help="build there instead (its tables are DROPPED)")
    args = parser.parse_args()
    clock.now = lambda: dashboard.NOW
    auditors = args.agencies * args.staff
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{args.keep or Path(tmp) / 'bench.sqlite'}"
        start = time.perf_counter()
        bench = dashboard.build(url, auditors, args.agencies * DEPARTMENTS_PER_AGENCY,
                                int(auditors * INCIDENTS_PER_AUDITOR), args.agencies)
        with bench.app.app_context():
            ids = list(db.session.scalars(sa.select(Agency.id).where(
                Agency.id != bench.agency_id).order_by(Agency.id)))
            bench.counts["depth"] = arrange(bench.agency_id, ids)
            bench.counts["signed"] = sign_half(bench, ids) if ids else 0
            db.session.commit()
            db.session.execute(sa.text("ANALYZE"))
            db.session.commit()
        print(f"build_s: {time.perf_counter() - start:.1f}  {bench.counts}")
        print(f"database: {sa.make_url(url).get_backend_name()}")
        pages = {"rollup": dashboard.page(bench, f"/rollup/?year={YEAR}"),
                 "tree_compliance": dashboard.page(bench,
                                                   f"/rollup/compliance?period={bench.period}")}
        times = floor.medians(bench.app, pages, args.runs)
        print(f"request_overhead_ms: {dashboard.median_ms(dashboard.page(bench, '/rules')):.0f}")
        for name in pages:
            page_s, floor_s = times[name], times[f"{name}_floor"]
            print(f"{name}_ms: {page_s * 1000:.0f}")
            print(f"{name}_floor_ms: {floor_s * 1000:.0f}")
            print(f"{name}_floor_ratio: {page_s / floor_s:.1f}")
            print(f"{name}_statements: {times[f'{name}_statements']:.0f}")


if __name__ == "__main__":
    main()
