"""Sign-in against the bureau's directory (LDAP: Active Directory or OpenLDAP) when LDAP_URL is set.

The directory checks only the password. The portal finds its own account first (by staff number
or e-mail), then looks for the directory entry whose LDAP_USER_ATTRIBUTE (default ``uid``; AD:
``sAMAccountName`` or ``employeeID``) equals that account's staff number under LDAP_BASE_DN,
after a service bind (LDAP_BIND_DN / LDAP_BIND_PASSWORD) if one is configured, and binds as the
entry found with the password given. Roles, the throttle, sessions and the second factor stay
the portal's (app/auth/security.py).

- The staff number is escaped (RFC 4515) before it goes into the filter: ``*)(uid=*`` looks for
  that literal name and finds no one.
- An empty password is refused before any bind: LDAP treats a simple bind with a DN and no
  password as an anonymous bind, which "succeeds".
- Exactly one entry must match; none or several is a wrong sign-in.
- A directory that cannot be reached, times out (LDAP_TIMEOUT) or answers anything but a verdict
  on the password raises DirectoryUnavailable. The caller never falls back to the portal's own
  password: only the accounts listed in LDAP_LOCAL_ACCOUNTS sign in with one, always, whatever
  the directory's state.
- ldaps:// checks the server's certificate (the system's CAs, or LDAP_CA_FILE).
"""

from __future__ import annotations

import ssl

from flask import current_app
from flask_babel import gettext as _
from ldap3 import NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars

from app.core.refusals import Refused
from app.models import User

INVALID_CREDENTIALS = 49  # LDAP result code: wrong password, or (AD) a disabled or locked entry


class DirectoryUnavailable(Refused):
    """The directory gave no verdict on the password: sign-in is impossible for now."""

    status = 503

    def __init__(self) -> None:
        super().__init__(_("The bureau's directory cannot be reached, so signing in is not "
                           "possible at the moment. Please try again in a few minutes; if it "
                           "lasts, tell the administrator."))
        self.message = str(self)


def enabled() -> bool:
    return bool(current_app.config["LDAP_URL"])


def local_accounts() -> tuple[str, ...]:
    return current_app.config["LDAP_LOCAL_ACCOUNTS"]


def uses_directory(user: User | None) -> bool:
    """Whether this account's password is the directory's (no portal password)."""
    if not enabled():
        return False
    return user is None or user.staff_no not in local_accounts()


def _server() -> Server:
    config = current_app.config
    tls = None
    if config["LDAP_URL"].lower().startswith("ldaps://"):
        tls = Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=config["LDAP_CA_FILE"] or None)
    return Server(config["LDAP_URL"], connect_timeout=config["LDAP_TIMEOUT"], get_info=NONE,
                  tls=tls)


def _connection(server: Server, user: str | None, password: str | None) -> Connection:
    return Connection(server, user=user, password=password, read_only=True,
                      auto_referrals=False, raise_exceptions=False,
                      receive_timeout=current_app.config["LDAP_TIMEOUT"])


def _unavailable(what: str, detail: object) -> DirectoryUnavailable:
    current_app.logger.warning("LDAP directory unavailable (%s): %s", what, detail)
    return DirectoryUnavailable()


def find_dn(connection: Connection, staff_no: str) -> str | None:
    """The DN of the one entry holding this staff number, or None (no entry, or several)."""
    config = current_app.config
    attribute = config["LDAP_USER_ATTRIBUTE"]
    found = connection.search(config["LDAP_BASE_DN"],
                              f"({attribute}={escape_filter_chars(staff_no)})",
                              search_scope=SUBTREE, attributes=[], size_limit=2,
                              time_limit=config["LDAP_TIMEOUT"])
    result = connection.result.get("result")
    # 0 success, 32 noSuchObject (nothing under the base), 4 sizeLimitExceeded (several)
    if not found and result not in (0, 4, 32):
        raise _unavailable("search", connection.result)
    entries = [e for e in connection.response or [] if e.get("type") == "searchResEntry"]
    return entries[0]["dn"] if len(entries) == 1 and result != 4 else None


def check(staff_no: str, password: str) -> bool:
    """Whether the directory accepts `password` for the entry of `staff_no`; raises
    DirectoryUnavailable when it gives no verdict."""
    config = current_app.config
    try:
        server = _server()
        service = _connection(server, config["LDAP_BIND_DN"] or None,
                              config["LDAP_BIND_PASSWORD"] or None)
        if not service.bind():
            raise _unavailable("service bind", service.result)
        try:
            dn = find_dn(service, staff_no)
        finally:
            service.unbind()
        if dn is None or not password:
            return False
        own = _connection(server, dn, password)
        accepted = own.bind()
        result = own.result.get("result")
        own.unbind()
    except LDAPException as error:
        raise _unavailable("connection", repr(error)) from None
    if accepted:
        return True
    if result == INVALID_CREDENTIALS:
        return False
    raise _unavailable("bind", {"result": result})
