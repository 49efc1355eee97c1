"""A real portal server (gunicorn) in a subprocess on the suite's own database, and a small
browser-like HTTP client for it: for tests that kill processes or race requests across
processes, which the test client (one request at a time, in the test's process) cannot show."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """`gunicorn wsgi:app` in the testing configuration on `database_url`: `workers`
    processes of `threads` threads each (gthread)."""

    def __init__(self, database_url: str, evidence_dir: Path, tmp_dir: Path, *,
                 workers: int = 1, threads: int = 1) -> None:
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DATABASE_URL"}}
        env.update(PORTAL_CONFIG="testing", DATABASE_URL=database_url,
                   PORTAL_INSTANCE_DIR=str(tmp_dir), EVIDENCE_DIR=str(evidence_dir),
                   TMPDIR=str(tmp_dir))
        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("gunicorn")), "--workers", str(workers),
             "--threads", str(threads), "--worker-class", "gthread",
             "--bind", f"127.0.0.1:{self.port}", "--timeout", "120", "wsgi:app"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.url = f"http://127.0.0.1:{self.port}"
        self.wait_ready()

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                connection.request("GET", "/healthz")
                connection.getresponse().read()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the server did not come up")

    def worker_pid(self) -> int:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            pids = children.read_text().split()
            if pids:
                return int(pids[0])
            time.sleep(0.05)
        raise RuntimeError("gunicorn has no worker")

    def kill_worker(self) -> None:
        """SIGKILL the worker (gunicorn's master starts a new one), and wait for it."""
        pid = self.worker_pid()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        self.wait_ready()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


@contextmanager
def gunicorn(database_url: str, folder: Path, *, workers: int = 3, threads: int = 4
             ) -> Iterator[LiveServer]:
    """A LiveServer for the duration of a `with` block, its folders under `folder`."""
    for name in ("evidence", "tmp"):
        (folder / name).mkdir(exist_ok=True)
    server = LiveServer(database_url, folder / "evidence", folder / "tmp", workers=workers,
                        threads=threads)
    try:
        yield server
    finally:
        server.stop()


class Browser:
    """Keeps the session cookie and sends forms with their CSRF token, like a browser."""

    def __init__(self, port: int) -> None:
        self.port, self.cookie = port, ""

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)

    def _keep_cookie(self, response: http.client.HTTPResponse) -> None:
        for header in response.headers.get_all("Set-Cookie") or []:
            if header.startswith("session="):
                self.cookie = header.split(";", 1)[0]

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None) -> tuple[int, bytes]:
        connection = self.connection()
        connection.request(method, path, body=body,
                           headers={"Cookie": self.cookie, **(headers or {})})
        response = connection.getresponse()
        self._keep_cookie(response)
        return response.status, response.read()

    def csrf(self, path: str) -> str:
        status, body = self.request("GET", path)
        match = CSRF_RE.search(body.decode())
        assert match, f"no form on {path} ({status})"
        return match.group(1)

    def post_form(self, path: str, fields: dict) -> int:
        data = urllib.parse.urlencode({"csrf_token": self.csrf(path), **fields}).encode()
        return self.request("POST", path, data,
                            {"Content-Type": "application/x-www-form-urlencoded"})[0]

    def multipart(self, path: str, fields: dict, files: list[tuple[str, str, bytes]]
                  ) -> tuple[bytes, bytes]:
        """The body and Content-Type of a multipart form with its CSRF token."""
        boundary = uuid.uuid4().hex
        parts = []
        for name, value in {"csrf_token": self.csrf(path), **fields}.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'
                         f'\r\n\r\n{value}\r\n'.encode())
        for name, filename, data in files:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                         f'filename="{filename}"\r\nContent-Type: application/octet-stream'
                         f'\r\n\r\n'.encode() + data + b"\r\n")
        parts.append(f"--{boundary}--\r\n".encode())
        return b"".join(parts), f"multipart/form-data; boundary={boundary}".encode()


@dataclass
class Answer:
    status: int
    location: str
    text: str
    headers: dict[str, str]


class WebSession(Browser):
    """A Browser whose answers carry the redirect, the text and the headers."""

    def __init__(self, server: LiveServer) -> None:
        super().__init__(server.port)

    def send(self, path: str, data: dict | None = None) -> Answer:
        """GET `path`, or POST `data` to it as a form."""
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if data else {}
        connection = self.connection()
        connection.request("POST" if data is not None else "GET", path, body=body,
                           headers={"Cookie": self.cookie, **headers})
        response = connection.getresponse()
        self._keep_cookie(response)
        return Answer(response.status, response.headers.get("Location", ""),
                      response.read().decode("utf-8", "replace"), dict(response.headers))

    def post(self, path: str, data: dict, *, form_path: str | None = None) -> Answer:
        return self.send(path, {"csrf_token": self.csrf(form_path or path), **data})
