"""Static files under an address that changes with their content, cached for a year.

Every `url_for('static', …)` (and Bootstrap-Flask's own, `bootstrap.static`) carries `v`, the
first characters of the file's SHA-256: a browser keeps the file as long as it likes and asks
again only when a deployment changes it. A request without the current `v` gets the default
(revalidated) caching, so an old page never pins an outdated file.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from flask import Flask, Response, current_app, request

STATIC_ENDPOINTS = ("static", "bootstrap.static")
YEAR = 365 * 24 * 3600


@functools.cache
def _digest(folder: str, filename: str) -> str | None:
    path = Path(folder, filename)
    if not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


def _folder(endpoint: str) -> str | None:
    if endpoint == "static":
        return current_app.static_folder
    blueprint = current_app.blueprints.get(endpoint.partition(".")[0])
    return blueprint.static_folder if blueprint is not None else None


def _version(endpoint: str, values: dict) -> None:
    if endpoint in STATIC_ENDPOINTS and "filename" in values:
        folder = _folder(endpoint)
        digest = _digest(folder, values["filename"]) if folder else None
        if digest:
            values.setdefault("v", digest)


def _cache_versioned(response: Response) -> Response:
    if request.endpoint in STATIC_ENDPOINTS and response.status_code in (200, 304):
        folder = _folder(request.endpoint)
        filename = (request.view_args or {}).get("filename", "")
        if folder and request.args.get("v") == _digest(folder, filename):
            response.cache_control.no_cache = None
            response.cache_control.public = True
            response.cache_control.max_age = YEAR
            response.cache_control.immutable = True
    return response


def init_app(app: Flask) -> None:
    app.url_defaults(_version)
    app.after_request(_cache_versioned)
