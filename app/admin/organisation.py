"""Departments and audit projects as an administrator keeps them: create, edit, archive.

Nothing is ever deleted: incidents, reports and accounts keep pointing at what they named.
An archived department or project stays on the records that have it, and is no longer offered
for new ones (new incident registrations, new accounts, imports). Every change is in the audit
log with old and new values.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext as _

from app.core import auditlog
from app.core.extensions import db
from app.core.refusals import Invalid
from app.models import Agency, AuditProject, Department, User

PROJECT_FIELDS = ("code", "name", "year", "department")


class OrganisationError(Invalid):
    """A change refused, with a message for the administrator."""


def departments(agency: Agency) -> list[tuple[Department, int]]:
    """Every department of the agency with its number of active accounts, archived last."""
    count = (sa.select(sa.func.count()).where(User.department_id == Department.id, User.active)
             .correlate(Department).scalar_subquery())
    rows = db.session.execute(
        sa.select(Department, count).where(Department.agency_id == agency.id)
        .order_by(Department.archived, Department.name))
    return [(department, number) for department, number in rows]


def _name_taken(agency: Agency, name: str, department: Department | None) -> bool:
    return db.session.scalar(sa.select(Department.id).where(
        Department.agency_id == agency.id, Department.name == name,
        Department.id != (department.id if department else 0))) is not None


def create_department(agency: Agency, name: str) -> Department:
    if _name_taken(agency, name, None):
        raise OrganisationError(_("A department named %(name)s exists already.", name=name))
    department = Department(agency_id=agency.id, name=name)
    db.session.add(department)
    db.session.flush()
    auditlog.record("department.created", department, name=name)
    return department


def department_named(agency: Agency, name: str) -> Department | None:
    """The agency's department of that name, created (and logged) if new; None for no name.
    A transfer (调动) names the department the person joins in the new agency."""
    if not name:
        return None
    department = db.session.scalar(sa.select(Department).where(
        Department.agency_id == agency.id, Department.name == name))
    return department or create_department(agency, name)


def rename_department(department: Department, name: str) -> None:
    if name == department.name:
        return
    if _name_taken(department.agency, name, department):
        raise OrganisationError(_("A department named %(name)s exists already.", name=name))
    old, department.name = department.name, name
    auditlog.record("department.updated", department, changes={"name": [old, name]})


def set_archived(record: Department | AuditProject, archived: bool) -> bool:
    """Archive or restore; False if it already was in that state (a double click)."""
    if record.archived == archived:
        return False
    record.archived = archived
    kind = "department" if isinstance(record, Department) else "project"
    auditlog.record(f"{kind}.{'archived' if archived else 'restored'}", record,
                    changes={"archived": [not archived, archived]})
    return True


def projects(agency: Agency, year: int | None) -> list[AuditProject]:
    query = sa.select(AuditProject).where(AuditProject.agency_id == agency.id)
    if year:
        query = query.where(AuditProject.year == year)
    return list(db.session.scalars(query.order_by(AuditProject.archived,
                                                  AuditProject.year.desc(), AuditProject.code)))


def _plain(key: str, value: object) -> object:
    return value.name if key == "department" and value is not None else value


def _check_code(agency: Agency, code: str, project: AuditProject | None) -> None:
    if db.session.scalar(sa.select(AuditProject.id).where(
            AuditProject.agency_id == agency.id, AuditProject.code == code,
            AuditProject.id != (project.id if project else 0))) is not None:
        raise OrganisationError(_("A project with code %(code)s exists already.", code=code))


def create_project(agency: Agency, values: dict) -> AuditProject:
    _check_code(agency, values["code"], None)
    project = AuditProject(agency_id=agency.id)
    for key in PROJECT_FIELDS:
        setattr(project, key, values[key])
    db.session.add(project)
    db.session.flush()
    auditlog.record("project.created", project, code=project.code,
                    values={key: _plain(key, values[key]) for key in PROJECT_FIELDS})
    return project


def update_project(project: AuditProject, values: dict) -> dict[str, list[object]]:
    _check_code(project.agency, values["code"], project)
    changes = {key: [_plain(key, getattr(project, key)), _plain(key, values[key])]
               for key in PROJECT_FIELDS if getattr(project, key) != values[key]}
    for key in changes:
        setattr(project, key, values[key])
    if changes:
        db.session.flush()
        auditlog.record("project.updated", project, code=project.code, changes=changes)
    return changes
