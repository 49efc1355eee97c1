"""The portal served for real: gunicorn worker processes on a free loopback port, against the
suite's own database, and a small cookie-keeping HTTP client for it.

For what must hold across processes (races decided by the database, not by a lock in Python):
the test client runs one request at a time in the test's own process and cannot show them.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_env(database_url: str, instance: Path, **extra: str) -> dict[str, str]:
    """The environment of a portal process on the suite's database (testing configuration)."""
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "PORTAL_CONFIG", "PORTAL_INSTANCE_DIR", "SECRET_KEY"}}
    env.update(PORTAL_CONFIG="testing", DATABASE_URL=database_url,
               PORTAL_INSTANCE_DIR=str(instance), **extra)
    return env


@dataclass
class Server:
    url: str
    process: subprocess.Popen


@contextmanager
def gunicorn(database_url: str, instance: Path, *, workers: int = 3, threads: int = 4,
             config: str = "testing", **env: str) -> Iterator[Server]:
    """`gunicorn wsgi:app` with `workers` processes of `threads` threads each."""
    port = free_port()
    environment = server_env(database_url, instance, **env)
    environment["PORTAL_CONFIG"] = config
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers",
         str(workers), "--threads", str(threads), "--worker-class", "gthread",
         "--graceful-timeout", "2", "wsgi:app"],
        cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = Server(f"http://127.0.0.1:{port}", process)
    try:
        _wait_until_up(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_up(server: Server, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError("gunicorn exited: " + server.process.stderr.read().decode()[-2000:])
        try:
            urllib.request.urlopen(server.url + "/login", timeout=5).close()  # noqa: S310
            return
        except OSError:  # refused, reset or timed out while the workers start
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not answer in time")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


@dataclass
class Answer:
    status: int
    location: str
    text: str
    headers: dict[str, str]


class WebSession:
    """One browser: its own cookies; forms sent with the CSRF token of the page they are on."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect())

    def request(self, path: str, data: dict | None = None) -> Answer:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        try:
            response = self.opener.open(self.base_url + path, data=body, timeout=60)
        except urllib.error.HTTPError as error:
            response = error
        with response:
            return Answer(response.status, response.headers.get("Location", ""),
                          response.read().decode("utf-8", "replace"), dict(response.headers))

    def token(self, path: str) -> str:
        match = CSRF_RE.search(self.request(path).text)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def post(self, path: str, data: dict, *, form_path: str | None = None) -> Answer:
        return self.request(path, {"csrf_token": self.token(form_path or path), **data})
