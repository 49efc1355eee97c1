"""Benchmark: the annual statement as its users meet it, at national scale.

    .venv/bin/python bench/statement.py [--auditors 100000] [--incidents 20000] [--runs 3]
                                        [--keep FILE] [--database-url URL]

Builds, with bench/dashboard.py's builder, one agency of 100,000 auditors with the twelve
months of 2025 (~1.1M monthly reports and as many versions: ~97% of months filed, ~5% of them
late; ~8% of the staff joined and ~3% left during the year) and 20,000 incidents; a third of
the auditors have given their personal annual confirmation; a reviewer and a leader sign in
through the login form. "Now" is 10 January 2026: every 2025 deadline has passed, the year
can be signed. Then, through the Flask test client, each run times (median of `--runs`):

- `keep_months_s`: the scheduler's job that keeps each month's hash of the records digest
  (app/statement/digest.py keep_months), run once after the build, as it runs every hour;
- `prepare_cold_s`: POST /statement/prepare once with no month kept (every record read);
- `prepare_s`: POST /statement/prepare (figures and records digest, the draft stored), with
  the months kept as the scheduler leaves them;
- `sign_s`: POST /statement/2025/sign (password checked again, digest recomputed, locked;
  the bench puts the statement back to draft between runs, outside the timing);
- `pdf_cold_s`: GET /statement/2025.pdf once with glyphs never cut on this installation (the
  face itself parsed, as once per process); `pdf_kept_s`: the same with the glyphs cut by
  another worker or before a restart (read from PDF_FONT_CACHE); `pdf_s`: GET
  /statement/2025.pdf; `appendix_s`: GET /statement/2025.xlsx (the discipline office's copy,
  with the incident table).

Each is followed, in the same run, by its floor `<name>_floor_s`: the SELECT statements that
request sent (recorded once), replayed raw on a DBAPI cursor of the same connection and fully
fetched, without any Python around them (writes are not replayed). `<name>_ratio` is the
page over its floor. Targets (issue 16): prepare and sign <= 5 s, PDF <= 0.5 s, appendix
<= 10 s. `--database-url` runs it on PostgreSQL (in a scratch database: tables are dropped).
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa
from flask.testing import FlaskClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import dashboard
import floor

from app.admin import employment
from app.auth.security import hash_password
from app.core import clock
from app.core.extensions import db
from app.models import AnnualConfirmation, AnnualStatement, DigestPart, User
from app.statement import digest, document

NOW = datetime(2026, 1, 10, 2, tzinfo=UTC)
YEAR = 2025
LEADER = "LEADER"
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')

def _confirmations(agency_id: int, share: float, seed: int = 5) -> int:
    rng = random.Random(seed)
    ids = db.session.scalars(sa.select(User.id).where(User.agency_id == agency_id,
                                                      User.active)).all()
    rows = [{"user_id": user_id, "year": YEAR, "exceptions": "", "confirmed_at": NOW,
             "confirmed_from": "bench"} for user_id in ids if rng.random() < share]
    db.session.execute(sa.insert(AnnualConfirmation), rows)
    return len(rows)


def _client(bench: dashboard.Bench, staff_no: str) -> FlaskClient:
    client = bench.app.test_client()
    token = CSRF_RE.search(client.get("/auth/login").get_data(as_text=True))
    assert token, "no CSRF token on the login page"
    response = client.post("/auth/login", data={"csrf_token": token.group(1),
                                               "identifier": staff_no,
                                               "password": dashboard.PASSWORD})
    assert response.status_code == 302, response.status_code
    return client


def _token(client: FlaskClient, form_url: str) -> str:
    """The session's CSRF token, read from the form's page once (outside the timings)."""
    token = CSRF_RE.search(client.get(form_url).get_data(as_text=True))
    assert token, f"no CSRF token on {form_url}"
    return token.group(1)


def _post(client: FlaskClient, token: str, url: str, data: dict) -> None:
    response = client.post(url, data={"csrf_token": token, **data})
    assert response.status_code == 302, (url, response.status_code,
                                         response.get_data(as_text=True)[:500])


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--auditors", type=int, default=100_000)
    parser.add_argument("--departments", type=int, default=500)
    parser.add_argument("--incidents", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build into this SQLite file and keep it")
    parser.add_argument("--database-url", help="build there instead (its tables are DROPPED)")
    args = parser.parse_args()
    dashboard.NOW = NOW  # the builder files the twelve months before its NOW: all of 2025
    clock.now = lambda: NOW
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{args.keep or Path(tmp) / 'bench.sqlite'}"
        start = time.perf_counter()
        bench = dashboard.build(url, args.auditors, args.departments, args.incidents)
        bench.app.config["PDF_FONT_CACHE"] = Path(tmp) / "fonts"
        with bench.app.app_context():
            bench.counts["confirmations"] = _confirmations(bench.agency_id, 1 / 3)
            # An explicit id, as the builder gives (PostgreSQL's sequence has not moved).
            leader_id = db.session.scalar(sa.select(sa.func.max(User.id))) + 1
            leader = User(id=leader_id, agency_id=bench.agency_id, staff_no=LEADER, name="局长",
                          password_hash=hash_password(dashboard.PASSWORD),
                          joined_on=date(2015, 1, 1), roles={"leader"})
            db.session.add(leader)
            employment.follow(leader)
            db.session.commit()
        print(f"build_s: {time.perf_counter() - start:.1f}  {bench.counts}")
        print(f"database: {sa.make_url(url).get_backend_name()}")
        reviewer, leader = _client(bench, bench.reviewer_staff_no), _client(bench, LEADER)

        reviewer_token = _token(reviewer, "/statement/")

        def prepare() -> None:
            _post(reviewer, reviewer_token, "/statement/prepare", {"year": str(YEAR)})

        leader_token: list[str] = []

        def sign() -> None:
            if not leader_token:  # its page exists once the first draft does
                leader_token.append(_token(leader, f"/statement/{YEAR}"))
            _post(leader, leader_token[0], f"/statement/{YEAR}/sign",
                  {"password": dashboard.PASSWORD, "code": ""})

        def unsign() -> None:  # outside the timing: the next run signs a draft again
            with bench.app.app_context():
                db.session.execute(sa.update(AnnualStatement).values(
                    status="draft", signed_by_id=None, signed_at=None, log_head="",
                    log_count=None, document_number=""))
                db.session.commit()

        def download(path: str) -> Callable[[], None]:
            def get() -> None:
                response = reviewer.get(path)
                assert response.status_code == 200, (path, response.status_code)
                response.get_data()
            return get

        with bench.app.app_context():
            start = time.perf_counter()
            digest.keep_months(NOW)
            print(f"keep_months_s: {time.perf_counter() - start:.2f}")
            db.session.execute(sa.delete(DigestPart))
            db.session.commit()
        start = time.perf_counter()
        prepare()  # keeps the months again, as the scheduler would have
        print(f"prepare_cold_s: {time.perf_counter() - start:.2f}")
        pdf = download(f"/statement/{YEAR}.pdf")
        pdf()  # the face parsed, once per process
        for kept in (False, True):
            document._kept_cut.cache_clear()
            if not kept:
                shutil.rmtree(bench.app.config["PDF_FONT_CACHE"])
            start = time.perf_counter()
            pdf()  # glyphs never cut here, then cut by another worker or before a restart
            print(f"pdf_{'kept' if kept else 'cold'}_s: {time.perf_counter() - start:.2f}")
        pages = {"prepare": prepare, "sign": sign,
                 "pdf": pdf,
                 "appendix": download(f"/statement/{YEAR}.xlsx")}
        times = floor.medians(bench.app, pages, args.runs,
                              after=lambda name: unsign() if name == "sign" else None)
        for name in pages:
            page_s, floor_s = times[name], times[f"{name}_floor"]
            print(f"{name}_s: {page_s:.2f}")
            print(f"{name}_floor_s: {floor_s:.2f}")
            print(f"{name}_ratio: {page_s / floor_s:.1f}")


if __name__ == "__main__":
    main()
