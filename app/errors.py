"""Error pages: a generic page in the user's language, never a stack trace."""

import logging

from flask import Flask, render_template, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from app.extensions import db

log = logging.getLogger(__name__)

MESSAGES = {
    400: _l("The request could not be understood."),
    403: _l("You do not have access to this page."),
    404: _l("This page does not exist, or you do not have access to it."),
    405: _l("This action is not allowed here."),
    413: _l("The upload is too large. Each evidence file may have at most 10 MB."),
}


def _http_error(error: HTTPException):
    message = MESSAGES.get(error.code or 500, _l("Something went wrong."))
    return render_template("errors/error.html", code=error.code, message=message), error.code


def _csrf_error(error: CSRFError):
    message = _l("This form has expired or was sent from elsewhere. Please go back, reload the "
                 "page and try again: nothing has been changed.")
    return render_template("errors/error.html", code=400, message=message), 400


FALLBACK_PAGE = (
    "<!doctype html><meta charset=utf-8><title>500</title>"
    "<p>系统出现错误，未做任何更改，请稍后再试。</p>"
    "<p>Something went wrong. Nothing has been changed.</p>"
)


def _server_error(error: Exception):
    original = getattr(error, "original_exception", None) or error
    rule = request.url_rule.rule if request.url_rule else "(no route)"
    log.error("unhandled %s on %s %s", type(original).__name__, request.method, rule,
              exc_info=original)
    db.session.rollback()
    message = _l("Something went wrong on our side. Nothing has been changed; please try again.")
    try:
        return render_template("errors/error.html", code=500, message=message), 500
    except Exception:  # the page itself failed (say, the database is down): plain text will do
        return FALLBACK_PAGE, 500


def init_app(app: Flask) -> None:
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(InternalServerError, _server_error)
    app.register_error_handler(Exception, _server_error)
