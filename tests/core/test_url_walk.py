"""A generated walk over every route: out-of-range numbers, dates and control characters in each
path parameter and in each query parameter a view reads never answer 5xx, for any role.

The query parameters are found by watching what each page reads from `request.args` (its
filters, its page number, its WTForms GET forms), so a parameter added later is walked too.
"""

from __future__ import annotations

from typing import ClassVar

import pytest
from werkzeug.datastructures import ImmutableMultiDict

from tests.helpers.review import make_incident
from tests.helpers.web import login

BAD_NUMBERS = ["99999999999999999999", "9223372036854775807", "2147483648"]
BAD_VALUES = [*BAD_NUMBERS, "-1", "1900-01", "0001-01-01", "\x00", "\x01"]
# Valid samples for the path parameters that are not numbers.
SAMPLES = {"period": "2025-03", "kind": "users", "fmt": "csv", "token": "not-a-token",
           "year": "2025"}


class _Seen:
    keys: ClassVar[set[str]] = set()


class RecordingArgs(ImmutableMultiDict):
    """request.args that notes every key a view asks for."""

    def get(self, key, *args, **kwargs):
        _Seen.keys.add(key)
        return super().get(key, *args, **kwargs)

    def getlist(self, key, *args, **kwargs):
        _Seen.keys.add(key)
        return super().getlist(key, *args, **kwargs)

    def __getitem__(self, key):
        _Seen.keys.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        _Seen.keys.add(key)
        return super().__contains__(key)


@pytest.fixture
def recording(app, monkeypatch):
    class RecordingRequest(app.request_class):
        parameter_storage_class = RecordingArgs

    monkeypatch.setattr(app, "request_class", RecordingRequest)


@pytest.fixture
def clients(app, db, make_user, frozen, recording):
    auditor = make_user(name="审计员", roles={"auditor"})
    make_incident(auditor)
    people = {role: make_user(name=role, roles={role}) for role in ("reviewer", "leader", "admin")}
    signed_in = {"anonymous": app.test_client()}
    for role, user in {"auditor": auditor, **people}.items():
        client = app.test_client()
        login(client, user)
        signed_in[role] = client
    return signed_in


def _rules(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in {"static", "bootstrap.static"}:
            continue
        yield rule


def _path(rule, bad: str | None) -> str:
    """The rule's URL with each number parameter `bad` (or 1) and the others their sample."""
    values = {}
    for name, converter in rule._converters.items():
        if type(converter).__name__ == "BoundedIntConverter":
            values[name] = bad or "1"
        else:
            values[name] = SAMPLES.get(name, "x")
    url = rule.rule
    for name, value in values.items():
        url = url.replace(f"<{_spec(rule, name)}>", value)
    return url


def _spec(rule, name: str) -> str:
    start = rule.rule.index(name + ">")
    return rule.rule[rule.rule.rindex("<", 0, start) + 1:start] + name


def test_no_path_parameter_out_of_range_answers_5xx(app, clients):
    failures = []
    for rule in _rules(app):
        if not rule.arguments:
            continue
        for bad in BAD_NUMBERS:
            url = _path(rule, bad)
            for role, client in clients.items():
                for method in rule.methods - {"HEAD", "OPTIONS"}:
                    status = client.open(url, method=method).status_code
                    if status >= 500:
                        failures.append(f"{method} {url} as {role}: {status}")
    assert failures == []


def test_no_query_parameter_out_of_range_answers_5xx(app, clients):
    failures, walked = [], 0
    for rule in _rules(app):
        if "GET" not in rule.methods:
            continue
        url = _path(rule, None)
        for role, client in clients.items():
            _Seen.keys = set()
            client.get(url)
            for key in sorted(_Seen.keys):
                for bad in BAD_VALUES:
                    walked += 1
                    status = client.get(url, query_string={key: bad}).status_code
                    if status >= 500:
                        failures.append(f"GET {url}?{key}={bad!r} as {role}: {status}")
    assert failures == []
    assert walked > 100  # the walk found the filters, pages and periods it is there to try
