"""The portal's log: one line per event on stderr, with its request id and the acting user's id.

The operator needs to follow a request and see who did it, never what they wrote: a line holds
the endpoint's rule (``/signin/<token>``, never the path, which may carry a token), the status,
ids, and for errors the exception and its traceback. The database engine hides statement
parameters (config ``SQLALCHEMY_ENGINE_OPTIONS``), so a failed INSERT does not copy incident
text into the traceback.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid

import sqlalchemy as sa
from flask import Flask, Response, g, has_request_context, request

LOGGER_NAME = "app"
FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] user=%(user_id)s %(name)s: %(message)s"
REQUEST_ID_HEADER = "X-Request-ID"
# An id from a proxy is kept only if it is short and plain: it is echoed and written to the log.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

access_log = logging.getLogger("app.request")


class RequestContext(logging.Filter):
    """Adds the request id and user id (``-`` outside a request or before sign-in)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        record.user_id = _user_id()
        return True


def _user_id() -> object:
    """The signed-in user's id without touching the database: flask-login keeps the loaded
    user on g, and its identity key survives the commit that expired its attributes (a log line
    written when the database is gone must not need it)."""
    user = g.get("_login_user") if has_request_context() else None
    state = sa.inspect(user, raiseerr=False) if user is not None else None
    return state.identity[0] if state is not None and state.identity else "-"


def _request_id() -> str:
    offered = request.headers.get(REQUEST_ID_HEADER, "")
    return offered if SAFE_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex


def _start() -> None:
    g.request_id = _request_id()
    g.request_started = time.monotonic()


def _finish(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
    rule = request.url_rule.rule if request.url_rule else "(no route)"
    elapsed = time.monotonic() - g.get("request_started", time.monotonic())
    access_log.info("%s %s %s %.0fms", request.method, rule, response.status_code,
                    elapsed * 1000)
    return response


def handler_of(app: Flask) -> logging.Handler:
    """The portal's own handler (tests point its stream elsewhere)."""
    return next(h for h in logging.getLogger(LOGGER_NAME).handlers
                if getattr(h, "portal", False))


def register_logging(app: Flask) -> None:
    """Log the ``app`` logger (every module's ``logging.getLogger(__name__)``) to stderr at
    LOG_LEVEL, and give every request an id, echoed in the X-Request-ID response header."""
    from flask.logging import default_handler

    logger = logging.getLogger(LOGGER_NAME)
    for old in [h for h in logger.handlers if getattr(h, "portal", False) or h is default_handler]:
        logger.removeHandler(old)  # a second create_app (tests) replaces, never duplicates
    handler = logging.StreamHandler(sys.stderr)
    handler.portal = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RequestContext())
    logger.addHandler(handler)
    logger.setLevel(app.config["LOG_LEVEL"].upper())
    app.before_request(_start)
    app.after_request(_finish)
