"""The API against its own OpenAPI document, on a real server (gunicorn): schemathesis makes
requests from the document (valid ones, and invalid ones) with a valid token, and checks that
none answers 5xx and that every answer has a documented status, content type and schema."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.api import tokens
from tests.helpers import factories, live
from tests.helpers.statement import YEAR, prepare_and_sign

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
# Bounded so the test stays well under a minute on a shared two-core machine.
EXAMPLES = 25


def test_the_api_conforms_to_its_openapi_document(app, db, year, agency, make_user,
                                                  tmp_path):
    people, _ = year
    prepare_and_sign(app, people)  # a locked statement: its figures are in the answers
    factories.ProjectFactory(agency=agency, year=YEAR)
    token = tokens.create(agency, "OA", make_user(roles={"admin"})).token
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    with live.gunicorn(app.config["SQLALCHEMY_DATABASE_URI"], tmp_path, workers=1,
                       threads=2) as server:
        schema = schemathesis.openapi.from_url(f"{server.url}/api/v1/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) == 4
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _run(operation, mode, server.url, headers)


def _run(operation, mode, base_url, headers):
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    def check(case):
        case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)

    check()
