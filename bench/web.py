"""Benchmark: what users meet through gunicorn, against a fair floor measured in the same run.

    .venv/bin/python bench/web.py [--database-url URL] [--seconds 3] [--rounds 3]
                                  [--workers 2] [--clients 8]

Loads the demo bureau (`flask demo`) into a scratch database (a temporary SQLite file, or the
PostgreSQL database given: its tables are dropped), then serves, under the same gunicorn
settings (`--workers` sync workers on loopback), both the portal and `bench/bare.py`: a bare
Flask page that reads 12 rows of the same database and renders them in a template. Each of
`--clients` threads keeps one connection and one signed-in session, and requests as fast as
answers come, for `--seconds`; pages and the floor are interleaved (page, floor, page, floor
…) for `--rounds` rounds, and each ratio is the median of the rounds. It prints `name: value`
lines:

- `bare_per_s`: the floor, requests per second of the bare page;
- `home_ratio`, `history_ratio`, `queue_ratio`, `dashboard_ratio`: each page's requests per
  second divided by the bare page's of the same round (the auditor's home and "my filings",
  the discipline office's review queue, a leader's compliance dashboard);
- `signin_per_s`: complete sign-ins per second (the form, then the password, Argon2id
  included) of auditors, each on a fresh session, and `signin_ms_p50`.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import pyotp
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
PASSWORD = "Demo-password-2025"  # noqa: S105  (the demo's published password)
DEMO_TOTP = "DEMODEMODEMODEMODEMODEMODEMODEMO"
PAGES = {"home": ("XQ010", "/"), "history": ("XQ010", "/filing/history"),
         "queue": ("XQ003", "/review/"), "dashboard": ("XQ001", "/compliance/")}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment(database_url: str, instance: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "PORTAL_CONFIG"}}
    env.update(DATABASE_URL=database_url, PORTAL_INSTANCE_DIR=str(instance),
               PORTAL_CONFIG="development", SCHEDULER_ENABLED="0")
    return env


def load_demo(env: dict[str, str]) -> None:
    """A fresh schema (PostgreSQL: the scratch database's tables dropped), then the demo."""
    if env["DATABASE_URL"].startswith("postgresql"):
        engine = sa.create_engine(env["DATABASE_URL"])
        with engine.begin() as connection:
            connection.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
    for args in (["db", "upgrade"], ["demo", "--force"]):
        subprocess.run([*flask, *args], cwd=ROOT, env=env, check=True, capture_output=True)


@contextmanager
def gunicorn(app: str, env: dict[str, str], workers: int):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind",
         f"127.0.0.1:{port}", "--log-level", "warning", app],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=30)


class Session:
    """One client: a keep-alive connection and the session cookie."""

    def __init__(self, port: int) -> None:
        self.port, self.cookie, self.location = port, "", ""
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method: str, path: str, form: dict | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(form).encode() if form is not None else None
        headers = {"Cookie": self.cookie}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        self.location = response.headers.get("Location", "")
        for header in response.headers.get_all("Set-Cookie") or []:
            if header.startswith("session="):
                self.cookie = header.split(";", 1)[0]
        return response.status, response.read().decode("utf-8", "replace")

    def post(self, path: str, form: dict) -> tuple[int, str]:
        status, page = self.request("GET", path)
        match = CSRF_RE.search(page)
        assert match, f"no form on {path} ({status}): {page[:200]}"
        return self.request("POST", path, {"csrf_token": match.group(1), **form})

    def sign_in(self, staff_no: str) -> None:
        status, _ = self.post("/auth/login", {"identifier": staff_no, "password": PASSWORD})
        if status == 302 and self.location.endswith("/auth/login/code"):
            status, _ = self.post("/auth/login/code", {"code": pyotp.TOTP(DEMO_TOTP).now()})
        assert status == 302, f"{staff_no} could not sign in ({status})"


def throughput(make: Callable[[], Callable[[], None]], clients: int, seconds: float) -> float:
    """Requests per second of `clients` threads, each running its own `make()`'d step."""
    steps = [make() for _ in range(clients)]
    counts = [0] * clients
    stop = time.monotonic() + seconds

    def run(i: int) -> None:
        while time.monotonic() < stop:
            steps[i]()
            counts[i] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / seconds


def page_step(port: int, session_cookie: str, path: str) -> Callable[[], None]:
    session = Session(port)
    session.cookie = session_cookie

    def step() -> None:
        status, _ = session.request("GET", path)
        assert status == 200, f"{path}: {status}"

    return step


def signed_in_cookies(port: int) -> dict[str, str]:
    """One session per demo account; the second factor's code opens one session per 30 s
    step, so every client of a page shares its account's cookie."""
    cookies = {}
    for staff_no in {who for who, _path in PAGES.values()}:
        session = Session(port)
        session.sign_in(staff_no)
        cookies[staff_no] = session.cookie
    return cookies


def signin_rate(port: int, clients: int, seconds: float) -> tuple[float, float]:
    auditors = [f"XQ{n:03d}" for n in range(11, 32)]
    durations: list[float] = []
    lock = threading.Lock()
    counter = iter(range(10**9))

    def make() -> Callable[[], None]:
        def step() -> None:
            with lock:
                staff_no = auditors[next(counter) % len(auditors)]
            started = time.perf_counter()
            Session(port).sign_in(staff_no)
            with lock:
                durations.append(time.perf_counter() - started)

        return step

    rate = throughput(make, clients, seconds)
    return rate, statistics.median(durations) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-web-"))
    url = (args.database_url or f"sqlite:///{scratch / 'portal.sqlite'}").replace(
        "postgresql://", "postgresql+psycopg://", 1)
    env = environment(url, scratch)
    try:
        load_demo(env)
        bare_env = {**env, "BARE_DATABASE_URL": url}
        with gunicorn("wsgi:app", env, args.workers) as portal, \
                gunicorn("bench.bare:app", bare_env, args.workers) as bare:
            cookies = signed_in_cookies(portal)
            ratios: dict[str, list[float]] = {name: [] for name in PAGES}
            floors = []
            for _round in range(args.rounds):
                for name, (staff_no, path) in PAGES.items():
                    page = throughput(partial(page_step, portal, cookies[staff_no], path),
                                      args.clients, args.seconds)
                    floor = throughput(partial(page_step, bare, "", "/"), args.clients,
                                       args.seconds)
                    floors.append(floor)
                    ratios[name].append(page / floor)
            print(f"bare_per_s: {statistics.median(floors):.0f}")
            for name, values in ratios.items():
                print(f"{name}_ratio: {statistics.median(values):.2f}")
            rate, p50 = signin_rate(portal, args.clients, args.seconds * 2)
            print(f"signin_per_s: {rate:.1f}")
            print(f"signin_ms_p50: {p50:.0f}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
