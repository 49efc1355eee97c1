"""Benchmark: the last hour before a deadline, auditors signing in and filing through gunicorn.

    .venv/bin/python bench/load.py --database-url postgresql://user@host/db
                                   [--auditors 2000] [--minutes 10] [--workers 2] [--think 2]

Prepares the PostgreSQL database given (its tables are DROPPED: `flask db upgrade` on an empty
schema) with one agency of `--auditors` auditors in departments of 50, each with a real
password (hashed once by the portal's own `hash_password`, Argon2id: the cost that matters is
paid at every sign-in's verification). Then it serves the portal with the production
configuration (PORTAL_CONFIG=production, a random SECRET_KEY, PROXY_COUNT=1 as behind nginx,
the scheduler off) under gunicorn as deploy/systemd runs it (`--workers` sync workers on
loopback), and `bench/bare.py` beside it under the same settings.

The auditors arrive at random (seeded) times spread over `--minutes`, each on a connection of
its own, from an address of its own, as a browser would: the sign-in page, the password (a
302 to the home page, followed), the month due's report page, a zero report with the
declaration (a 302 back to that page, followed), and sign-out (a 302 to the sign-in page,
followed): 8 requests, with a pause of about `--think` seconds (uniform, 0.5x to 1.5x)
between the pages a person reads. Arrivals follow the schedule whatever the answers (an
open model: a slow server does not slow the arrivals), after two warm-up visits per worker that
are not counted. Meanwhile a probe requests the bare page every half second: the floor, what
any page of this machine and this gunicorn meets at that moment. It prints `name: value` lines:

- `requests_per_s`, `p50_ms`, `p99_ms`, `max_ms`: every request of every auditor;
- `errors`: answers other than 2xx/3xx, refused steps (an unexpected status or redirect) and
  exceptions (connection refused or reset, timeouts); a visit stops at its first error;
- `signins_per_s`; `<step>_p50_ms` and `<step>_p99_ms` per step (`signin` is the password's
  POST, Argon2id included; `file` is the zero report's POST);
- `p99_ms_per_tenth`: the p99 of the requests started in each tenth of the run (a steady
  climb is the portal slowing down as reports pile up; a lone peak, a moment of the machine);
- `floor_p50_ms`, `floor_p99_ms`, `floor_max_ms`, `floor_p99_ms_per_tenth`: the bare page,
  probed during the run; `argon2_ms`: one password verification in this process, the least a
  sign-in costs;
- `server_cpu_ms_per_auditor`: CPU time of the gunicorn workers per visit, and
  `db_cpu_ms_per_auditor`: of the PostgreSQL backends serving them (when /proc shows them);
  `other_work_cores`: the cores, on average, that the rest of the machine kept busy meanwhile
  (neither the portal, its backends, the bare page nor this client): other work running on a
  shared machine shows here, and in the floor;
- `db_lock_waits`: of the samples taken every half second, those in which a backend of the
  portal waited for a lock, and for the advisory lock of the audit log's chain;
- `arrival_lag_ms_max`: how late the client started an auditor (it kept its schedule if small);
- `filed: N of M`: the month's reports of the timed auditors found in the database afterwards.

The target (issue 17): 0 errors and p99 <= 1 s for 2,000 auditors in 10 minutes at 2 workers.
`--minutes 1 --auditors 200` is a quick run.
"""

from __future__ import annotations

import argparse
import http.client
import math
import os
import random
import re
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.auth.security import hash_password, verify_password  # noqa: E402
from app.filing import scope  # noqa: E402
from app.filing.periods import DeadlineRule  # noqa: E402
from app.models import (  # noqa: E402
    Agency,
    Department,
    Employment,
    MonthlyReport,
    ReportVersion,
    User,
    UserRole,
)

PASSWORD = "Load-bench-password-2025"  # noqa: S105  (throw-away accounts in a scratch database)
TZ = ZoneInfo("Asia/Shanghai")
# Both the forms' hidden field (WTForms) and the sign-out form of the navigation bar.
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
STEPS = ("login_form", "signin", "home", "report_form", "file", "filed", "signout", "signed_out")
PER_DEPARTMENT = 50
PROBE_SECONDS = 0.5


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] if ordered else float("nan")


# The database ---------------------------------------------------------------------------------

def environment(database_url: str, instance: Path) -> dict[str, str]:
    """The production configuration, as deploy/portal.env.example sets it behind nginx."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"PORTAL_CONFIG", "SECRET_KEY", "DATABASE_URL"}}
    env.update(PORTAL_CONFIG="production", SECRET_KEY=secrets.token_hex(32),
               DATABASE_URL=database_url, PORTAL_INSTANCE_DIR=str(instance), PROXY_COUNT="1",
               SCHEDULER_ENABLED="0", BARE_DATABASE_URL=database_url)
    return env


def prepare(env: dict[str, str], auditors: int, warmups: int) -> None:
    """An empty schema, the migrations, then one agency: users 1..auditors are timed, the
    `warmups` after them warm the workers up."""
    engine = sa.create_engine(env["DATABASE_URL"])
    with engine.begin() as connection:
        connection.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT,
                   env=env, check=True, capture_output=True)
    password_hash = hash_password(PASSWORD)
    total = auditors + warmups
    with engine.begin() as connection:
        agency_id = connection.scalar(
            sa.insert(Agency).values(name="基准审计局", timezone=str(TZ), deadline_day=5)
            .returning(Agency.id))
        departments = list(connection.scalars(
            sa.insert(Department).returning(Department.id, sort_by_parameter_order=True),
            [{"agency_id": agency_id, "name": f"审计{n}科"}
             for n in range(1, math.ceil(total / PER_DEPARTMENT) + 1)]))
        users = [
            {"id": n, "agency_id": agency_id,
             "department_id": departments[(n - 1) // PER_DEPARTMENT],
             "staff_no": staff_no(n, auditors), "name": f"审计员{n}", "email": None,
             "password_hash": password_hash, "joined_on": date(2015, 1, 1)}
            for n in range(1, total + 1)]
        connection.execute(sa.insert(User), users)
        connection.execute(sa.insert(Employment), [scope.single_period(u) for u in users])
        connection.execute(sa.insert(UserRole),
                           [{"user_id": n, "role": "auditor"} for n in range(1, total + 1)])
        connection.execute(sa.text(
            "SELECT setval(pg_get_serial_sequence('\"user\"', 'id'), :n)"), {"n": total})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sa.text("ANALYZE"))
    engine.dispose()


def staff_no(n: int, auditors: int) -> str:
    return f"L{n:05d}" if n <= auditors else f"W{n - auditors:03d}"


def filed(database_url: str, auditors: int, period: str) -> tuple[int, int]:
    """The month's reports of the timed auditors, and how many of them are zero reports."""
    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        reports, zero = connection.execute(
            sa.select(sa.func.count(MonthlyReport.id),
                      sa.func.count(MonthlyReport.id).filter(ReportVersion.is_zero))
            .join(ReportVersion, ReportVersion.report_id == MonthlyReport.id)
            .where(MonthlyReport.user_id <= auditors, MonthlyReport.period == period,
                   ReportVersion.number == 1)).one()
    engine.dispose()
    return reports, zero


# The servers ----------------------------------------------------------------------------------

@contextmanager
def gunicorn(app: str, env: dict[str, str], workers: int, log: Path):
    """gunicorn with the settings of deploy/systemd/audit-portal-web.service, on loopback."""
    port = free_port()
    with open(log, "ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind",
             f"127.0.0.1:{port}", "--timeout", "120", "--graceful-timeout", "30",
             "--log-level", "warning", app],
            cwd=ROOT, env=env, stdout=output, stderr=output)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn {app} did not start: see {log}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield process, port
    finally:
        process.terminate()
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes (those gone are not counted)."""
    total, tick = 0, os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / tick


def database_backends(database_url: str) -> list[int]:
    """The PostgreSQL backends connected to the benchmark's database, when the server runs
    on this machine (otherwise /proc does not show them: an empty list)."""
    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        me = connection.scalar(sa.text("SELECT pg_backend_pid()"))
        pids = list(connection.scalars(sa.text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")))
    engine.dispose()
    return [pid for pid in pids if pid != me and Path(f"/proc/{pid}/stat").exists()]


# The auditors ---------------------------------------------------------------------------------

class StepFailed(Exception):
    pass


@dataclass
class Record:
    """Every request's latency by step, the failures, and the sign-ins."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    timeline: list[tuple[float, float]] = field(default_factory=list)  # (started, seconds)
    errors: list[str] = field(default_factory=list)
    signins: int = 0
    visits: int = 0
    last_answer: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, step: str, started: float, seconds: float) -> None:
        with self.lock:
            self.latencies[step].append(seconds)
            self.timeline.append((started, seconds))
            self.last_answer = max(self.last_answer, time.perf_counter())

    def fail(self, what: str) -> None:
        with self.lock:
            self.errors.append(what)
            self.last_answer = max(self.last_answer, time.perf_counter())


class Browser:
    """One auditor's browser: its own connection and address, the session cookie, a timed
    request per call (a redirect is followed by the next call, as its own request)."""

    def __init__(self, port: int, address: str, record: Record | None) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.address, self.record, self.cookie = address, record, ""
        self.origin, self.page = f"https://127.0.0.1:{port}", ""

    def request(self, step: str, method: str, path: str, form: dict | None = None,
                expect: int = 200, location: str | None = None) -> str:
        body = urllib.parse.urlencode(form).encode() if form is not None else None
        # What nginx adds (deploy/nginx/audit-portal.conf), and what a browser sends.
        headers = {"X-Forwarded-For": self.address, "X-Forwarded-Proto": "https",
                   "Accept-Language": "zh-CN,zh;q=0.9", "Cookie": self.cookie}
        if body is not None:
            # Over HTTPS, Flask-WTF wants the form's page as Referer (Referrer-Policy:
            # same-origin lets the browser send it).
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = self.origin + self.page
        else:
            self.page = path
        started = time.perf_counter()
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            page = response.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as error:
            self.connection.close()
            raise self._failed(f"{step}: {type(error).__name__}: {error}") from error
        if self.record is not None:
            self.record.add(step, started, time.perf_counter() - started)
        for header in response.headers.get_all("Set-Cookie") or []:
            if header.startswith("session="):
                self.cookie = header.split(";", 1)[0]
        got = response.headers.get("Location", "")
        if response.status != expect or (location is not None and got != location):
            raise self._failed(f"{step}: {method} {path} answered {response.status} {got}"
                       f" (expected {expect} {location or ''}) {page[:120]!r}")
        return page

    def _failed(self, what: str) -> StepFailed:
        if self.record is not None:
            self.record.fail(what)
        return StepFailed(what)

    def close(self) -> None:
        self.connection.close()


def token(page: str) -> str:
    match = CSRF_RE.search(page)
    if not match:
        raise StepFailed("no CSRF token on the page")
    return match.group(1)


def visit(port: int, n: int, auditors: int, period: str, think: float, rng: random.Random,
          record: Record | None) -> None:
    """One auditor signs in, opens the home page and the month's report, files a zero report
    and signs out."""
    browser = Browser(port, f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}", record)
    report = f"/filing/reports/{period}"

    def pause() -> None:
        time.sleep(think * rng.uniform(0.5, 1.5))

    try:
        page = browser.request("login_form", "GET", "/auth/login")
        pause()
        browser.request("signin", "POST", "/auth/login", {
            "csrf_token": token(page), "identifier": staff_no(n, auditors),
            "password": PASSWORD}, expect=302, location="/")
        if record is not None:
            with record.lock:
                record.signins += 1
        browser.request("home", "GET", "/")
        pause()
        page = browser.request("report_form", "GET", report)
        pause()
        browser.request("file", "POST", report, {"csrf_token": token(page), "zero": "1",
                                                  "declaration": "y"},
                        expect=302, location=report)
        page = browser.request("filed", "GET", report)
        pause()
        browser.request("signout", "POST", "/auth/logout", {"csrf_token": token(page)},
                        expect=302, location="/auth/login")
        browser.request("signed_out", "GET", "/auth/login")
        if record is not None:
            with record.lock:
                record.visits += 1
    except StepFailed:
        pass
    finally:
        browser.close()


def probe(port: int, stop: threading.Event, timeline: list[tuple[float, float]],
          failures: list[str]) -> None:
    """The bare page every PROBE_SECONDS until `stop`: the floor of the same moments."""
    while not stop.wait(PROBE_SECONDS):
        browser = Browser(port, "10.255.255.254", None)
        started = time.perf_counter()
        try:
            browser.request("floor", "GET", "/")
            timeline.append((started, time.perf_counter() - started))
        except StepFailed as failure:
            failures.append(str(failure))
        finally:
            browser.close()


def sample_waits(database_url: str, stop: threading.Event, samples: list[tuple[int, int]]) -> None:
    """Every PROBE_SECONDS until `stop`: how many of the portal's backends wait for a lock,
    and how many of those for an advisory one (the audit log's chain, app/core/auditlog.py)."""
    engine = sa.create_engine(database_url)
    query = sa.text(
        "SELECT count(*) FILTER (WHERE wait_event_type = 'Lock'),"
        " count(*) FILTER (WHERE wait_event_type = 'Lock' AND wait_event = 'advisory')"
        " FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        " AND state = 'active'")
    with engine.connect() as connection:
        while not stop.wait(PROBE_SECONDS):
            waiting, advisory = connection.execute(query).one()
            samples.append((waiting, advisory))
            connection.rollback()
    engine.dispose()


def argon2_ms() -> float:
    """The median of a few password verifications in this process (the hashing of one sign-in)."""
    user = User(password_hash=hash_password(PASSWORD))
    times = []
    for _ in range(9):
        started = time.perf_counter()
        assert verify_password(user, PASSWORD)
        times.append(time.perf_counter() - started)
    return percentile(times, 50) * 1000


# The run --------------------------------------------------------------------------------------

@dataclass
class Outcome:
    """What a run measured, for `report`."""

    record: Record
    floor: list[tuple[float, float]]
    floor_failures: list[str]
    lags: list[float]
    waits: list[tuple[int, int]]
    start: float
    elapsed: float
    cpu: dict[str, float]  # seconds: "server", "db", "other" (the rest of the machine)
    worker_replaced: bool


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent busy so far (all cores, /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load(args: argparse.Namespace, env: dict[str, str], log: Path, period: str) -> Outcome:
    """Serve the portal and the bare page, warm up, then let the auditors arrive."""
    with gunicorn("wsgi:app", env, args.workers, log) as (portal, port), \
            gunicorn("bench.bare:app", env, args.workers, log) as (bare, bare_port):
        warm_up, warmups = Record(), args.workers * 2
        warm = [threading.Thread(target=visit, args=(port, args.auditors + w, args.auditors,
                                                     period, 0, random.Random(w), warm_up))
                for w in range(1, warmups + 1)]
        for thread in warm:
            thread.start()
        for thread in warm:
            thread.join()
        if warm_up.errors:
            raise RuntimeError(f"the warm-up failed: {warm_up.errors[0]} (see {log})")
        workers, bare_workers = children(portal.pid), children(bare.pid)
        backends = database_backends(env["DATABASE_URL"])
        before = (cpu_seconds(workers), cpu_seconds(backends),
                  cpu_seconds(bare_workers) + own_seconds(), machine_busy_seconds())

        rng = random.Random(args.seed)
        arrivals = sorted(rng.uniform(0, args.minutes * 60) for _ in range(args.auditors))
        record, lags, threads = Record(), [], []
        floor: list[tuple[float, float]] = []
        floor_failures: list[str] = []
        stop = threading.Event()
        waits: list[tuple[int, int]] = []
        samplers = [threading.Thread(target=probe, args=(bare_port, stop, floor, floor_failures)),
                    threading.Thread(target=sample_waits, args=(env["DATABASE_URL"], stop, waits))]
        start = time.perf_counter()
        for sampler in samplers:
            sampler.start()
        for n, at in enumerate(arrivals, start=1):
            delay = start + at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            lags.append(max(0.0, -delay))
            thread = threading.Thread(target=visit, args=(
                port, n, args.auditors, period, args.think, random.Random(n), record))
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()
        stop.set()
        for sampler in samplers:
            sampler.join()
        # A backend opened during the run (a worker's pool growing) counts from zero.
        backends = database_backends(env["DATABASE_URL"])
        server = cpu_seconds(workers) - before[0]
        db_cpu = cpu_seconds(backends) - before[1] if backends else float("nan")
        bench_cpu = cpu_seconds(bare_workers) + own_seconds() - before[2]
        busy = machine_busy_seconds() - before[3]
        replaced = bool(set(workers) - set(children(portal.pid)))
    other = busy - server - (0 if math.isnan(db_cpu) else db_cpu) - bench_cpu
    return Outcome(record, floor, floor_failures, lags, waits, start, record.last_answer - start,
                   {"server": server, "db": db_cpu, "other": other}, replaced)


def tenths(timeline: list[tuple[float, float]], start: float, elapsed: float) -> str:
    """The p99 of the requests started in each tenth of the run, in ms."""
    buckets: list[list[float]] = [[] for _ in range(10)]
    for started, seconds in timeline:
        buckets[min(9, max(0, int((started - start) / elapsed * 10)))].append(seconds)
    return " ".join(f"{percentile(b, 99) * 1000:.0f}" for b in buckets)


def report(args: argparse.Namespace, outcome: Outcome, period: str, hashing_ms: float,
           filings: tuple[int, int]) -> dict[str, object]:
    record, elapsed, cpu = outcome.record, outcome.elapsed, outcome.cpu
    every = [s for values in record.latencies.values() for s in values]
    floor = [seconds for _started, seconds in outcome.floor]
    lines: dict[str, object] = {
        "workers": args.workers,
        "auditors": f"{args.auditors} in {args.minutes:g} min (period {period})",
        "requests": len(every),
        "requests_per_s": f"{len(every) / elapsed:.1f}",
        "p50_ms": f"{percentile(every, 50) * 1000:.0f}",
        "p99_ms": f"{percentile(every, 99) * 1000:.0f}",
        "max_ms": f"{max(every, default=float('nan')) * 1000:.0f}",
        "errors": len(record.errors),
        "signins_per_s": f"{record.signins / elapsed:.2f}",
    }
    for step in STEPS:
        values = record.latencies.get(step, [])
        lines[f"{step}_p50_ms"] = f"{percentile(values, 50) * 1000:.0f}"
        lines[f"{step}_p99_ms"] = f"{percentile(values, 99) * 1000:.0f}"
    reports, zero = filings
    lines.update({
        "p99_ms_per_tenth": tenths(record.timeline, outcome.start, elapsed),
        "floor_p50_ms": f"{percentile(floor, 50) * 1000:.1f}",
        "floor_p99_ms": f"{percentile(floor, 99) * 1000:.1f}",
        "floor_max_ms": f"{max(floor, default=float('nan')) * 1000:.0f}",
        "floor_p99_ms_per_tenth": tenths(outcome.floor, outcome.start, elapsed),
        "argon2_ms": f"{hashing_ms:.0f}",
        "server_cpu_ms_per_auditor": f"{cpu['server'] * 1000 / args.auditors:.0f}"
                                     + (" (a worker was replaced)" if outcome.worker_replaced
                                        else ""),
        "db_cpu_ms_per_auditor": ("n/a (not on this machine)" if math.isnan(cpu["db"])
                                  else f"{cpu['db'] * 1000 / args.auditors:.0f}"),
        "other_work_cores": f"{cpu['other'] / elapsed:.2f} of {os.cpu_count()}",
        "db_lock_waits": (f"{sum(w > 0 for w, _ in outcome.waits)} of {len(outcome.waits)}"
                          f" samples (advisory: {sum(a > 0 for _, a in outcome.waits)})"),
        "arrival_lag_ms_max": f"{max(outcome.lags) * 1000:.0f}",
        "visits_completed": f"{record.visits} of {args.auditors}",
        "filed": f"{reports} of {args.auditors}" + ("" if zero == reports
                                                    else f" ({reports - zero} not zero)"),
    })
    return lines


def run(args: argparse.Namespace, env: dict[str, str], scratch: Path) -> None:
    period = str(DeadlineRule(tz=TZ).period_due(datetime.now(UTC)))
    prepare(env, args.auditors, args.workers * 2)
    hashing_ms = argon2_ms()
    log = scratch / "gunicorn.log"
    outcome = load(args, env, log, period)
    filings = filed(env["DATABASE_URL"], args.auditors, period)
    for name, value in report(args, outcome, period, hashing_ms, filings).items():
        print(f"{name}: {value}")
    for what in (outcome.record.errors + outcome.floor_failures)[:10]:
        print(f"error: {what}", file=sys.stderr)
    if outcome.record.errors and log.exists():
        print(log.read_text()[-4000:], file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                        help="PostgreSQL, default $DATABASE_URL (its tables are DROPPED)")
    parser.add_argument("--auditors", type=int, default=2000)
    parser.add_argument("--minutes", type=float, default=10,
                        help="the window over which the auditors arrive")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--think", type=float, default=2,
                        help="mean seconds a person spends on a page before the next step")
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args()
    if not args.database_url or not args.database_url.startswith(("postgres://", "postgresql")):
        parser.error("--database-url (or DATABASE_URL) must name a PostgreSQL database")
    url = "postgresql+psycopg://" + args.database_url.split("://", 1)[1]
    scratch = Path(tempfile.mkdtemp(prefix="bench-load-"))
    try:
        run(args, environment(url, scratch), scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
