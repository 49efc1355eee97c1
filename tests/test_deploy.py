"""deploy/ against the code it runs: the settings config.py reads, and the paths and port the
units, the nginx site, the environment file and bin/portal must agree on. (The tools' own
checks, nginx -t and systemd-analyze verify, are deploy/check, run by CI.)"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))


def unit_values(unit: Path, key: str) -> list[str]:
    return re.findall(rf"^{key}=(.*)$", unit.read_text(), re.MULTILINE)


def test_the_environment_template_lists_every_setting_the_portal_reads():
    read = set(re.findall(r"""(?:environ\.get|_int|_bool|_database_url)\(\s*"([A-Z_]+)""",
                          (ROOT / "config.py").read_text()))
    read.add("PORTAL_CONFIG")  # app/__init__.py
    listed = set(re.findall(r"^(?:# )?([A-Z_]+)=", (DEPLOY / "portal.env.example").read_text(),
                            re.MULTILINE))
    assert read - listed == set(), "add these to deploy/portal.env.example"
    assert listed - read == set(), "deploy/portal.env.example lists settings nobody reads"


def test_units_nginx_and_bin_portal_agree():
    assert [u.name for u in UNITS] == ["audit-portal-scheduler.service",
                                       "audit-portal-web.service"]
    portal = (DEPLOY / "bin" / "portal").read_text()
    for unit in UNITS:
        assert unit_values(unit, "User") == ["audit-portal"]
        assert f"user=${{PORTAL_USER:-{unit_values(unit, 'User')[0]}}}" in portal
        [env_file] = unit_values(unit, "EnvironmentFile")
        assert f"env_file=${{PORTAL_ENV_FILE:-{env_file}}}" in portal
        assert unit_values(unit, "WorkingDirectory") == ["/opt/audit-portal"]
        assert unit_values(unit, "Restart") == ["on-failure"]
        assert unit_values(unit, "NoNewPrivileges") == ["yes"]
        assert unit_values(unit, "ProtectSystem") == ["strict"]
        writable = unit_values(unit, "ReadWritePaths")[0].split()
        env = (DEPLOY / "portal.env.example").read_text()
        instance = re.search(r"^PORTAL_INSTANCE_DIR=(.*)$", env, re.MULTILINE)[1]
        assert instance in writable
    [web] = [u for u in UNITS if u.name == "audit-portal-web.service"]
    bind = re.search(r"--bind (\S+)", unit_values(web, "ExecStart")[0])[1]
    site = (DEPLOY / "nginx" / "audit-portal.conf").read_text()
    assert f"server {bind};" in site
    assert re.search(r"^PROXY_COUNT=1$", env, re.MULTILINE)
    for header in ("X-Forwarded-For", "X-Forwarded-Proto", "X-Request-ID", "Host"):
        assert f"proxy_set_header {header} " in site


def test_gunicorn_outlives_nginx_on_a_slow_request():
    [web] = [u for u in UNITS if u.name == "audit-portal-web.service"]
    timeout = int(re.search(r"--timeout (\d+)", unit_values(web, "ExecStart")[0])[1])
    site = (DEPLOY / "nginx" / "audit-portal.conf").read_text()
    assert int(re.search(r"proxy_read_timeout (\d+)s", site)[1]) <= timeout
