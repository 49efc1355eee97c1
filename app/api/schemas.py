"""What the API takes and gives, as pydantic models: the views build their answers from them
and the OpenAPI document's schemas are generated from them (app/api/openapi.py), so the two
cannot drift apart. Only figures, names of people and organisation units: no incident content.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.bounds import MAX_ID, MAX_YEAR, MIN_YEAR

Count = Annotated[int, Field(ge=0, le=MAX_ID)]
PERIOD_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
MAX_LIST = 5000


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Error(Model):
    """Every refusal: its HTTP status, a stable code and a message for the developer."""

    status: int
    error: str = Field(description="e.g. bad_request, unauthorized, not_found")
    message: str


# Queries ---------------------------------------------------------------------------------

class Query(BaseModel):
    """Query parameters; unknown ones are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class ProjectsQuery(Query):
    year: int | None = Field(None, ge=MIN_YEAR, le=MAX_YEAR,
                             description="only the projects of this year")


class ComplianceQuery(Query):
    limit: int = Field(1000, ge=0, le=MAX_LIST,
                       description="how many non-filers to list (the counts are complete)")


# Organisation ----------------------------------------------------------------------------

class Department(Model):
    id: int
    name: str
    archived: bool


class Departments(Model):
    departments: list[Department]


class Project(Model):
    id: int
    code: str
    name: str
    year: int
    archived: bool
    department_id: int | None = Field(description="the department that carries out the audit")


class Projects(Model):
    projects: list[Project]


# Compliance ------------------------------------------------------------------------------

UnfiledStatus = Literal["due", "missing", "not_open"]


class Counts(Model):
    """Monthly reports of a group of auditors: every expected one is exactly one of on_time,
    late, missing, due or not_open; every filed one is zero or with_incidents."""

    expected: Count
    filed: Count
    on_time: Count
    late: Count
    missing: Count
    due: Count
    not_open: Count
    zero: Count
    with_incidents: Count


class DepartmentCounts(Model):
    department_id: int | None = Field(description="null: staff without a department")
    name: str | None
    figures: Counts


class NonFiler(Model):
    user_id: int
    staff_no: str
    name: str
    department: str | None
    active: bool


class Compliance(Model):
    period: str = Field(pattern=PERIOD_PATTERN)
    deadline: datetime
    unfiled_status: UnfiledStatus = Field(
        description="what a report not filed is now: due (before the deadline), missing "
                    "(after it), not_open (the month is not over)")
    total: Counts
    departments: list[DepartmentCounts]
    non_filers: list[NonFiler] = Field(description="by department and staff number")
    more_non_filers: int = Field(ge=0, description="non-filers beyond those listed")


# The annual statement ---------------------------------------------------------------------

class MonthCounts(Model):
    period: str = Field(pattern=PERIOD_PATTERN)
    unfiled_status: UnfiledStatus
    figures: Counts


class SignedFigures(Model):
    """The statement's headline figures exactly as signed (aggregates only)."""

    year: int
    staff: Count
    staff_full_year: Count
    staff_months: Count
    reports: Counts
    months: list[MonthCounts]
    incidents: Count
    open_reviews: Count
    referrals: Count
    violations: int = Field(ge=0, description="cases found to have affected independence")
    confirmations_expected: Count
    confirmations_given: Count


class Statement(Model):
    """A year's statement: none yet, a draft (its figures still change, so none are given),
    or locked (signed: the figures as signed)."""

    year: int = Field(ge=MIN_YEAR, le=MAX_YEAR)
    status: Literal["none", "draft", "locked"]
    signed_at: datetime | None
    document_number: str | None
    figures: SignedFigures | None
