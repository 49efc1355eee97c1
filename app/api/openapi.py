"""The OpenAPI 3.1 document of /api/v1, generated from the routes and their pydantic models.

Each view is declared once with `operation` (its path, query model, answer model and words);
the document is built from those declarations and the models' JSON Schemas (pydantic emits JSON
Schema 2020-12, which OpenAPI 3.1 takes as it is). Nothing here is written by hand twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from app.api import schemas

REF = "#/components/schemas/{model}"
ERRORS = {400: "Bad input (a parameter out of range or malformed)",
          401: "No token, or a token that is unknown or revoked",
          404: "No such resource"}


@dataclass(frozen=True)
class Operation:
    rule: str  # the Flask rule under the blueprint: "/statements/<year:year>"
    name: str  # the view's name, its operationId
    summary: str
    answer: type[BaseModel]
    query: type[BaseModel] | None = None
    path: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> JSON Schema
    description: str = ""


OPERATIONS: list[Operation] = []


def operation(**declared: Any) -> Callable:
    """Declare the view below as an API operation (for the document only; routing is Flask's)."""

    def decorator(view: Callable) -> Callable:
        OPERATIONS.append(Operation(name=view.__name__, **declared))
        return view

    return decorator


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[a-z_]+:)?([a-z_]+)>", r"{\1}", rule)


def _query_parameters(model: type[BaseModel] | None) -> list[dict]:
    if model is None:
        return []
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", []))
    parameters = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        description = prop.pop("description", "")
        prop.pop("title", None)
        parameters.append({"name": name, "in": "query", "required": name in required,
                           "description": description, "schema": prop})
    return parameters


def document(prefix: str) -> dict[str, Any]:
    models = {op.answer for op in OPERATIONS} | {schemas.Error}
    _, top = models_json_schema([(model, "serialization") for model in sorted(
        models, key=lambda m: m.__name__)], ref_template=REF)
    components = top.get("$defs", {})
    paths: dict[str, Any] = {}
    for op in OPERATIONS:
        parameters = [{"name": name, "in": "path", "required": True, "schema": schema}
                      for name, schema in op.path.items()]
        parameters += _query_parameters(op.query)
        responses: dict[str, Any] = {"200": {
            "description": op.summary,
            "content": {"application/json": {"schema": {"$ref": REF.format(
                model=op.answer.__name__)}}}}}
        for status, text in ERRORS.items():
            if status == 404 and not op.path:
                continue
            responses[str(status)] = {"description": text, "content": {"application/json": {
                "schema": {"$ref": REF.format(model="Error")}}}}
        paths[prefix + _openapi_path(op.rule)] = {"get": {
            "operationId": op.name, "summary": op.summary, "description": op.description,
            "parameters": parameters, "responses": responses}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Audit independence portal API", "version": "1",
                 "description": "Read-only figures of one agency for its OA and statistics "
                                "systems. Never any incident content."},
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {
            "token": {"type": "http", "scheme": "bearer",
                      "description": "An API token an administrator made on "
                                     "Administration → API tokens"}}},
        "security": [{"token": []}],
    }
