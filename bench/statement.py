"""Benchmark: the annual statement's figures at national scale, in SQLite.

    .venv/bin/python bench/statement.py [--auditors 100000] [--incidents 20000] [--keep FILE]

Builds, with bench/dashboard.py's builder, one agency of 100,000 auditors with the twelve
months of 2025 (~1.2M monthly reports: ~97% of months filed, ~5% of them late; ~8% of the
staff joined and ~3% left during the year) and 20,000 incidents; a third of the auditors have
given their personal annual confirmation. "Now" is 10 January 2026: every 2025 deadline has
passed. Then it prints, as medians of 5 runs after a warm-up:

- `statement_s`: app.statement.figures(agency, 2025, now), everything the statement states;
- `statement_sql_s`: the SQL statements that call issues (recorded while it runs), executed
  alone on the same connection and fully fetched, without any Python around them.

Target (issue 5): under 3 s, and within 2x of the bare SQL.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import dashboard

from app.core import clock
from app.core.extensions import db
from app.models import Agency, AnnualConfirmation, User
from app.statement import figures

NOW = datetime(2026, 1, 10, 2, tzinfo=UTC)
YEAR = 2025
RUNS = 5


def median_s(action: Callable[[], object], runs: int = RUNS) -> float:
    """Median wall time of `runs` calls after one warm-up call (the page cache is warm)."""
    action()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _confirmations(agency_id: int, share: float, seed: int = 5) -> int:
    rng = random.Random(seed)
    ids = db.session.scalars(sa.select(User.id).where(User.agency_id == agency_id,
                                                      User.active)).all()
    rows = [{"user_id": user_id, "year": YEAR, "exceptions": "", "confirmed_at": NOW,
             "confirmed_from": "bench"} for user_id in ids if rng.random() < share]
    db.session.execute(sa.insert(AnnualConfirmation), rows)
    return len(rows)


def recorded_sql(bench: dashboard.Bench) -> list[tuple[str, object]]:
    """The statements figures() sends to the database, with their parameters."""
    seen: list[tuple[str, object]] = []

    def listener(conn, cursor, sql, parameters, context, executemany) -> None:
        seen.append((sql, parameters))

    with bench.app.app_context():
        sa.event.listen(db.engine, "before_cursor_execute", listener)
        try:
            figures.compute(db.session.get(Agency, bench.agency_id), YEAR, NOW)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", listener)
    return seen


def time_figures(bench: dashboard.Bench) -> float:
    def run() -> None:
        with bench.app.app_context():
            figures.compute(db.session.get(Agency, bench.agency_id), YEAR, NOW)
    return median_s(run)


def time_bare_sql(bench: dashboard.Bench, queries: list[tuple[str, object]]) -> float:
    def run() -> None:
        with bench.app.app_context():
            cursor = db.session.connection().connection.cursor()
            for sql, parameters in queries:
                cursor.execute(sql, parameters)
                cursor.fetchall()
            cursor.close()
    return median_s(run)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--auditors", type=int, default=100_000)
    parser.add_argument("--departments", type=int, default=500)
    parser.add_argument("--incidents", type=int, default=20_000)
    parser.add_argument("--keep", type=Path, help="build into this SQLite file and keep it")
    args = parser.parse_args()
    dashboard.NOW = NOW  # the builder files the twelve months before its NOW: all of 2025
    clock.now = lambda: NOW
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{args.keep or Path(tmp) / 'bench.sqlite'}"
        start = time.perf_counter()
        bench = dashboard.build(url, args.auditors, args.departments, args.incidents)
        with bench.app.app_context():
            bench.counts["confirmations"] = _confirmations(bench.agency_id, 1 / 3)
            db.session.commit()
        print(f"build_s: {time.perf_counter() - start:.1f}  {bench.counts}")
        queries = recorded_sql(bench)
        figures_s, sql_s = time_figures(bench), time_bare_sql(bench, queries)
        print(f"statement_s: {figures_s:.2f}")
        print(f"statement_sql_s: {sql_s:.2f}  ({len(queries)} statements)")
        print(f"ratio: {figures_s / sql_s:.2f}")


if __name__ == "__main__":
    main()
