"""Error pages in the user's language, never a stack trace, and never a false claim.

An unhandled error is logged with its traceback. What the page says depends on how far the
request got: after its commit the change is saved and the page says so (a registration must
not be entered twice because the redirect failed); a commit sent but not confirmed is said to
be uncertain; a store that cannot take writes (read-only, locked, full, gone) gets its own
page; anything else changed nothing, since the request's transaction is rolled back.
"""

import errno
import logging
from dataclasses import dataclass

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Flask, g, has_request_context, jsonify, render_template, request
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from app.core.extensions import db
from app.core.refusals import Refused

log = logging.getLogger(__name__)

MESSAGES = {
    400: _l("The request could not be understood."),
    403: _l("You do not have access to this page."),
    404: _l("This page does not exist, or you do not have access to it."),
    405: _l("This action is not allowed here."),
    413: _l("The upload is too large. Each evidence file may have at most 10 MB."),
}


# Addresses answered in JSON, errors included: the API (app/api), whose clients are programs.
JSON_PREFIXES = ("/api/",)


def _wants_json() -> bool:
    return has_request_context() and request.path.startswith(JSON_PREFIXES)


def _json_error(status: int, name: str, message: str):
    response = jsonify(status=status, error=name.lower().replace(" ", "_").replace("'", ""),
                       message=message)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def _http_error(error: HTTPException):
    if _wants_json():
        return _json_error(error.code or 500, error.name, str(error.description or ""))
    message = MESSAGES.get(error.code or 500, _l("Something went wrong."))
    if error.description != type(error).description:  # a view's own message says more
        message = error.description
    return render_template("errors/error.html", code=error.code, message=message), error.code


def _refused(error: Refused):
    """A rule that says no, outside a view's own `attempt` (a key this user does not hold):
    its message and status, after undoing whatever the request had begun."""
    db.session.rollback()
    return render_template("errors/error.html", code=error.status, message=str(error)), \
        error.status


def _csrf_error(error: CSRFError):
    message = _l("This form has expired or was sent from elsewhere. Please go back, reload the "
                 "page and try again: nothing has been changed.")
    return render_template("errors/error.html", code=400, message=message), 400


@dataclass(frozen=True)
class Outcome:
    """What the user is told after an unhandled error: the truth about their change."""

    status: int
    message: LazyString
    fallback: str  # both languages, for when even the page cannot be drawn


NOTHING_CHANGED = Outcome(
    500, _l("Something went wrong on our side. Nothing has been changed; please try again."),
    "系统出现错误，未做任何更改，请稍后再试。 Something went wrong. Nothing has been changed.")
SAVED = Outcome(
    500, _l("Your change has been saved, but the next page could not be shown. Do not enter "
            "it again: open the page from the menu to see it."),
    "您的更改已保存，但无法显示下一页面。请勿重复提交，请从菜单打开页面查看。 "
    "Your change has been saved, but the next page could not be shown. Do not enter it again.")
UNCONFIRMED = Outcome(
    500, _l("The database did not confirm whether your change was saved. Please check (for "
            "example under My filings) before entering it again."),
    "数据库未确认您的更改是否已保存。请先查看（例如“我的报送记录”）再决定是否重新提交。 "
    "The database did not confirm whether your change was saved. Check before entering it "
    "again.")
STORAGE_DOWN = Outcome(
    503, _l("The portal cannot store anything at the moment: its database or disk is "
            "unavailable, read-only, busy or full. Nothing has been saved. Please try again "
            "later; the operator has been alerted."),
    "系统暂时无法保存数据（数据库或磁盘不可用、只读、繁忙或已满），未保存任何内容，请稍后再试。 "
    "The portal cannot store anything at the moment. Nothing has been saved.")

# PostgreSQL SQLSTATEs of a store that cannot take writes: read-only transaction, connection
# exceptions (08), insufficient resources such as a full disk (53), operator intervention (57).
STORAGE_SQLSTATES = ("25006", "08", "53", "57")
STORAGE_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EIO}


# SQLite's result codes of the same (its OperationalError also covers mistakes in SQL).
STORAGE_SQLITE_CODES = ("SQLITE_READONLY", "SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_FULL",
                        "SQLITE_IOERR", "SQLITE_CANTOPEN")


def _storage_failure(error: BaseException) -> bool:
    if isinstance(error, OSError):
        return error.errno in STORAGE_ERRNOS
    if not isinstance(error, sa.exc.DBAPIError):
        return False
    sqlite_code = getattr(error.orig, "sqlite_errorname", None)
    if sqlite_code is not None:
        return sqlite_code.startswith(STORAGE_SQLITE_CODES)
    sqlstate = getattr(error.orig, "sqlstate", None) or ""
    return (isinstance(error, sa.exc.OperationalError) or error.connection_invalidated
            or sqlstate.startswith(STORAGE_SQLSTATES))


def _outcome(error: BaseException) -> Outcome:
    if g.get("committed"):
        return SAVED
    if g.get("commit_sent"):
        return UNCONFIRMED
    return STORAGE_DOWN if _storage_failure(error) else NOTHING_CHANGED


def _server_error(error: Exception):
    original = getattr(error, "original_exception", None) or error
    rule = request.url_rule.rule if request.url_rule else "(no route)"
    outcome = _outcome(original)
    log.error("unhandled %s on %s %s%s", type(original).__name__, request.method, rule,
              {SAVED: " after the commit (the change is saved)",
               UNCONFIRMED: " during the commit (unknown whether saved)",
               STORAGE_DOWN: ": the store cannot take writes"}.get(outcome, ""),
              exc_info=original)
    try:
        db.session.rollback()
        if _wants_json():
            return _json_error(outcome.status, "internal_server_error", str(outcome.message))
        return render_template("errors/error.html", code=outcome.status,
                               message=outcome.message), outcome.status
    except Exception:  # the page itself failed (say, the database is down): plain text will do
        return FALLBACK_PAGE.format(status=outcome.status, text=outcome.fallback), outcome.status


FALLBACK_PAGE = "<!doctype html><meta charset=utf-8><title>{status}</title><p>{text}</p>"


def _wrote(*args: object) -> None:
    if has_request_context():
        g.wrote = True


def _orm_write(state: so.ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        _wrote()


def _commit_sent(*args: object) -> None:
    if has_request_context() and g.get("wrote"):
        g.commit_sent = True


def _committed(session: so.Session) -> None:
    if has_request_context() and g.get("wrote"):
        g.committed = True


def init_app(app: Flask) -> None:
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(Refused, _refused)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(InternalServerError, _server_error)
    app.register_error_handler(Exception, _server_error)
    # Whether the request's change reached the database decides what an error page may claim.
    # A transaction that only read commits too: only one that wrote counts.
    if not sa.event.contains(sa.engine.Engine, "commit", _commit_sent):
        sa.event.listen(so.Session, "after_flush", _wrote)
        sa.event.listen(so.Session, "do_orm_execute", _orm_write)
        sa.event.listen(sa.engine.Engine, "commit", _commit_sent)
        sa.event.listen(so.Session, "after_commit", _committed)
