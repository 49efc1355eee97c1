"""A real OpenLDAP server (Debian's slapd) on a free loopback port, for the directory sign-in tests.

It runs as the current user from a slapd.conf in a temporary folder (mdb database there too) and
is loaded with ldapadd. The access rules are a bureau's usual ones: nobody but the service
account may search, passwords are only good for binding.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SLAPD = shutil.which("slapd") or "/usr/sbin/slapd"
LDAPADD = shutil.which("ldapadd") or "/usr/bin/ldapadd"
BASE_DN = "ou=people,dc=test"
SERVICE_DN = "cn=portal,ou=services,dc=test"
SERVICE_PASSWORD = "service secret"
ROOT_DN = "cn=admin,dc=test"
ROOT_PASSWORD = "root secret"

CONFIG = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile {dir}/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
database mdb
maxsize 10485760
suffix "dc=test"
rootdn "{root_dn}"
rootpw "{root_password}"
directory {dir}/data
access to attrs=userPassword by self read by anonymous auth by * none
access to * by dn.exact="{service_dn}" read by self read by * none
"""


def unavailable_reason() -> str | None:
    """Why slapd cannot run here, or None."""
    for tool in (SLAPD, LDAPADD):
        if not Path(tool).is_file():
            return f"{tool} is missing (apt-get install slapd ldap-utils; `make ldap` does)"
    if not Path("/usr/lib/ldap/back_mdb.so").exists():
        return "slapd's mdb backend (/usr/lib/ldap/back_mdb.so) is missing"
    return None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _person(uid: str, name: str, password: str) -> str:
    return (f"dn: uid={uid},{BASE_DN}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {name}\n"
            f"sn: {name}\nemployeeNumber: {uid}\nuserPassword: {password}\n")


@dataclass
class Directory:
    folder: Path
    people: dict[str, str]  # uid (the staff number) -> password
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"ldap://127.0.0.1:{self.port}"

    def start(self) -> None:
        (self.folder / "data").mkdir(parents=True, exist_ok=True)
        conf = self.folder / "slapd.conf"
        conf.write_text(CONFIG.format(dir=self.folder, root_dn=ROOT_DN,
                                      root_password=ROOT_PASSWORD, service_dn=SERVICE_DN))
        # -d 0: stay in the foreground (this process is the server), log nothing.
        self.process = subprocess.Popen(
            [SLAPD, "-f", str(conf), "-h", f"{self.url}/", "-d", "0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"slapd exited: {self.process.stderr.read().decode()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("slapd did not start listening within 10 s")

    def load(self) -> None:
        entries = [
            "dn: dc=test\nobjectClass: dcObject\nobjectClass: organization\ndc: test\no: Test\n",
            "dn: ou=people,dc=test\nobjectClass: organizationalUnit\nou: people\n",
            "dn: ou=services,dc=test\nobjectClass: organizationalUnit\nou: services\n",
            f"dn: {SERVICE_DN}\nobjectClass: person\ncn: portal\nsn: portal\n"
            f"userPassword: {SERVICE_PASSWORD}\n",
            *(_person(uid, f"User {uid}", password) for uid, password in self.people.items()),
        ]
        subprocess.run([LDAPADD, "-x", "-H", self.url, "-D", ROOT_DN, "-w", ROOT_PASSWORD],
                       input="\n".join(entries).encode(), check=True, capture_output=True,
                       timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
