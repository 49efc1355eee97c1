"""Browser fixtures: the session's app served on a free local port, and Debian's Chromium.

`playwright install` cannot download browsers here, so Chromium is launched from
/usr/bin/chromium (override with CHROMIUM_PATH). Without it the browser tests are skipped, except
under CI (env CI set), where a missing browser is a failure rather than a silent skip.

Every page records console errors, uncaught exceptions and Content-Security-Policy violations
(`securitypolicyviolation` events) in `page_problems`; each test asserts that list is empty.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from werkzeug.serving import make_server

HERE = Path(__file__).parent
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
TIMEOUT_MS = 10_000

# Runs in every page before its own scripts (injected by Playwright, so the page's CSP does not
# apply to it): reports each CSP violation to the test through an exposed binding.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", function (e) {
  window.__reportCspViolation([e.violatedDirective, e.blockedURI, e.sourceFile + ":" +
                               e.lineNumber, e.sample].join(" | "));
}, true);
"""


def _under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def _unavailable(reason: str) -> None:
    if _under_ci():
        pytest.fail(f"{reason} (CI is set: browser tests must run, not be skipped)")
    pytest.skip(reason)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@dataclass
class LiveServer:
    url: str
    port: int


@pytest.fixture(scope="session")
def live_server(app) -> Iterator[LiveServer]:
    """The test app on http://127.0.0.1:<free port>, one thread per request."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(url=f"http://127.0.0.1:{server.server_port}", port=server.server_port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser():
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        _unavailable(f"Chromium not found at {CHROMIUM} (install Debian's chromium package)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed (pip install playwright)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageProblems:
    """What went wrong inside the browser while a test ran."""

    console_errors: list[str] = field(default_factory=list)
    csp_violations: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    # Console messages the test expects (e.g. "status of 401" after a wrong password).
    allowed: list[str] = field(default_factory=list)

    def allow(self, fragment: str) -> None:
        self.allowed.append(fragment)

    def unexpected(self) -> list[str]:
        errors = [e for e in self.console_errors if not any(a in e for a in self.allowed)]
        return (
            [f"CSP violation: {v}" for v in self.csp_violations]
            + [f"console error: {e}" for e in errors]
            + [f"page error: {e}" for e in self.page_errors]
        )

    def assert_clean(self) -> None:
        problems = self.unexpected()
        assert not problems, "problems in the browser:\n" + "\n".join(problems)


@pytest.fixture
def page_problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def page(browser, live_server, db, page_problems, request, tmp_path):
    """A fresh browser context (no cookies) on the live server, watched for errors."""
    context = browser.new_context(
        base_url=live_server.url,
        locale="zh-CN",
        timezone_id="Asia/Shanghai",
        accept_downloads=True,
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.expose_binding(
        "__reportCspViolation", lambda _source, text: page_problems.csp_violations.append(text)
    )
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()

    def on_console(message):
        if message.type == "error":
            page_problems.console_errors.append(f"{message.text} ({message.location})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: page_problems.page_errors.append(str(error)))
    try:
        yield page
    finally:
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            shot = tmp_path / "failure.png"
            try:
                page.screenshot(path=str(shot), full_page=True)
                (tmp_path / "failure.html").write_text(page.content(), encoding="utf-8")
                print(f"\nbrowser at failure: {page.url}; screenshot {shot}")
            except Exception as error:  # best effort: never mask the failure itself
                print(f"\nno screenshot: {error}")
        context.close()
