"""The API's views: each reads one agency's figures (the token's) and answers JSON built from
its pydantic model (app/api/schemas.py). Refusals answer JSON too (app/core/errors.py)."""

from __future__ import annotations

import re
from typing import TypeVar

import sqlalchemy as sa
from flask import abort, current_app, g, jsonify, request
from pydantic import BaseModel, ValidationError

from app.api import openapi, schemas, tokens
from app.api.blueprint import bp
from app.compliance import rates
from app.core import clock
from app.core.codes import StatementStatus
from app.core.extensions import db, login_manager
from app.filing.periods import Period
from app.models import Agency, ApiToken, AuditProject, Department
from app.statement import figures, signing

Q = TypeVar("Q", bound=BaseModel)
# Reached without a token: the description of the API holds no data.
OPEN_ENDPOINTS = {"api.openapi_document"}


@bp.before_request
def _authenticate() -> None:
    """A valid, unrevoked token in `Authorization: Bearer ...`, else 401. The API answers for
    the token's agency only and ignores any session cookie sent along (no one is signed in
    here: the log names the token, not a browser's user)."""
    g._login_user = login_manager.anonymous_user()
    if request.endpoint in OPEN_ENDPOINTS:
        return
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    row = tokens.find(token.strip()) if scheme.lower() == "bearer" else None
    if row is None or row.revoked_at is not None:
        abort(401, description="Send a valid API token: Authorization: Bearer <token>.")
    tokens.used(row, request.endpoint or "", request.full_path)
    # The call is logged even if reading then fails.
    db.session.commit()
    g.api_token = row


def _agency() -> Agency:
    token: ApiToken = g.api_token
    return token.agency


def _answer(model: BaseModel):
    return current_app.response_class(model.model_dump_json(), mimetype="application/json")


def _query(model: type[Q]) -> Q:
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                             for e in error.errors(include_url=False, include_input=False))
        abort(400, description=problems)


def _counts(value: rates.Figures) -> schemas.Counts:
    return schemas.Counts(expected=value.expected, filed=value.filed, on_time=value.on_time,
                          late=value.late, missing=value.missing, due=value.due,
                          not_open=value.not_open, zero=value.zero,
                          with_incidents=value.with_incidents)


@bp.get("/openapi.json")
def openapi_document():
    return jsonify(openapi.document(bp.url_prefix or ""))


@bp.get("/departments")
@openapi.operation(rule="/departments", summary="The agency's departments",
                   answer=schemas.Departments,
                   description="Every department, archived ones flagged, by name.")
def departments():
    rows = db.session.scalars(sa.select(Department).where(
        Department.agency_id == _agency().id).order_by(Department.name, Department.id))
    return _answer(schemas.Departments(departments=[
        schemas.Department(id=d.id, name=d.name, archived=d.archived) for d in rows]))


@bp.get("/projects")
@openapi.operation(rule="/projects", summary="The agency's audit projects",
                   answer=schemas.Projects, query=schemas.ProjectsQuery,
                   description="Newest year first, then by code.")
def projects():
    query = _query(schemas.ProjectsQuery)
    select = sa.select(AuditProject).where(AuditProject.agency_id == _agency().id)
    if query.year is not None:
        select = select.where(AuditProject.year == query.year)
    rows = db.session.scalars(select.order_by(AuditProject.year.desc(), AuditProject.code))
    return _answer(schemas.Projects(projects=[
        schemas.Project(id=p.id, code=p.code, name=p.name, year=p.year, archived=p.archived,
                        department_id=p.department_id) for p in rows]))


@bp.get("/compliance/<period>")
@openapi.operation(rule="/compliance/<period>", summary="Filing compliance of a month",
                   answer=schemas.Compliance, query=schemas.ComplianceQuery,
                   path={"period": {"type": "string", "pattern": schemas.PERIOD_PATTERN,
                                    "description": "the month, YYYY-MM (2000-01 to 2100-12)"}},
                   description="Who has filed the monthly report for the month, in figures "
                               "(overall and per department) and the names of those who "
                               "have not. Never what anyone registered.")
def compliance(period: str):
    try:
        # The pattern first: Period.parse also takes other scripts' digits ("２０２５-03").
        if not re.fullmatch(schemas.PERIOD_PATTERN, period, flags=re.ASCII):
            raise ValueError(period)
        month = Period.parse(period)
    except ValueError:
        abort(400, description="period: a month as YYYY-MM, from 2000-01 to 2100-12")
    query = _query(schemas.ComplianceQuery)
    result = rates.period_figures(_agency(), month, clock.now(), limit=query.limit)
    return _answer(schemas.Compliance(
        period=str(result.period), deadline=result.deadline,
        unfiled_status=result.unfiled_status, total=_counts(result.total),
        departments=[schemas.DepartmentCounts(department_id=d.department_id, name=d.name,
                                              figures=_counts(d.figures))
                     for d in result.departments],
        non_filers=[schemas.NonFiler(user_id=n.user_id, staff_no=n.staff_no, name=n.name,
                                     department=n.department, active=n.active)
                    for n in result.non_filers],
        more_non_filers=result.more_non_filers))


@bp.get("/statements/<year:year>")
@openapi.operation(rule="/statements/<year:year>", summary="The year's annual statement",
                   answer=schemas.Statement,
                   path={"year": {"type": "integer", "minimum": 2000, "maximum": 2100}},
                   description="Its state; once signed (locked), the figures as signed. A "
                               "draft's figures still change and are not given.")
def statement(year: int):
    item = signing.of_year(_agency(), year)
    if item is None:
        return _answer(schemas.Statement(year=year, status="none", signed_at=None,
                                         document_number=None, figures=None))
    if item.status != StatementStatus.LOCKED:
        return _answer(schemas.Statement(year=year, status="draft", signed_at=None,
                                         document_number=None, figures=None))
    signed = figures.stored(item)
    return _answer(schemas.Statement(
        year=year, status="locked", signed_at=item.signed_at,
        document_number=item.document_number or None,
        figures=schemas.SignedFigures(
            year=signed.year, staff=signed.staff, staff_full_year=signed.staff_full_year,
            staff_months=signed.staff_months, reports=_counts(signed.reports),
            months=[schemas.MonthCounts(period=m.period, unfiled_status=m.unfiled_status,
                                        figures=_counts(m.figures)) for m in signed.months],
            incidents=signed.incidents, open_reviews=signed.open_reviews,
            referrals=signed.referrals, violations=signed.violations,
            confirmations_expected=signed.confirmations_expected,
            confirmations_given=signed.confirmations_given)))
