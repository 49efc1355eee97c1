"""Import audit projects from XLSX or CSV, like staff (app/admin/userimport.py): all rows or none.

Rows are matched to the agency's projects by code, so importing the same file again changes
nothing and an updated file updates by code. A blank cell, or a missing column, leaves that
field of an existing project as it is; a new project needs its code, name and year.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext as _

from app.admin.userimport import agency_departments, department_value
from app.core import auditlog, tabular
from app.core.extensions import db
from app.core.tabular import RowResult, UnreadableFile
from app.models import Agency, AuditProject, Department

HEADERS = {
    "code": ("code", "项目编号", "项目代码", "编号"),
    "name": ("name", "项目名称", "名称"),
    "year": ("year", "年度", "年份"),
    "department": ("department", "主审科室", "科室", "部门"),
}
TEMPLATE_HEADER = ["项目编号", "项目名称", "年度", "主审科室"]
CODE_MAX = AuditProject.__table__.c.code.type.length
NAME_MAX = AuditProject.__table__.c.name.type.length
YEARS = range(2000, 2101)
FIELDS = ("name", "year", "department")


def _parse_year(text: str, result: RowResult) -> int | None:
    if text.isdigit() and int(text) in YEARS:
        return int(text)
    result.errors.append(_("bad year %(year)s", year=text))
    return None


def _check_identity(result: RowResult, name: str) -> None:
    if not result.key:
        result.errors.append(_("missing project code"))
    elif len(result.key) > CODE_MAX:
        result.errors.append(_("project code longer than %(max)d characters", max=CODE_MAX))
    if len(name) > NAME_MAX:
        result.errors.append(_("name longer than %(max)d characters", max=NAME_MAX))


def _parse_row(line: int, row: list[str], columns: dict[str, int],
               departments: dict[str, Department]) -> RowResult:
    cell = tabular.cell_reader(row, columns)
    result = RowResult(line, cell("code"))
    _check_identity(result, cell("name"))
    values: dict = {}
    if cell("name"):
        values["name"] = cell("name")
    if cell("year"):
        values["year"] = _parse_year(cell("year"), result)
    if cell("department"):
        values["department"] = department_value(cell("department"), departments, result)
    result.values = values
    return result


def check(agency: Agency, raw: bytes) -> list[RowResult]:
    """Every row with what importing it would do, or why it cannot be imported."""
    try:
        columns, rows = tabular.read_table(
            raw, HEADERS, ("code", "name"),
            _("the header must name at least 项目编号 (code) and 项目名称 (name)"))
    except UnreadableFile as error:
        return [RowResult(1, "", errors=[str(error)])]
    departments = agency_departments(agency)
    results = [_parse_row(line, row, columns, departments) for line, row in rows]
    tabular.flag_duplicates(
        results, lambda result: result.key,
        lambda line: _("duplicate project code (also on line %(line)d)", line=line))
    _classify(agency, results)
    return results


def _existing(agency: Agency, codes: list[str]) -> dict[str, AuditProject]:
    return {p.code: p for p in db.session.scalars(sa.select(AuditProject).where(
        AuditProject.agency_id == agency.id, AuditProject.code.in_(codes)))}


def _classify(agency: Agency, results: list[RowResult]) -> None:
    existing = _existing(agency, [r.key for r in results])
    for result in results:
        project = existing.get(result.key)
        if project is None:
            if "name" not in result.values:
                result.errors.append(_("missing name"))
            if "year" not in result.values:
                result.errors.append(_("missing year"))
            result.action = "create"
        else:
            result.action = "update" if _changes(project, result.values) else "unchanged"


def _changes(project: AuditProject, values: dict) -> list[str]:
    return sorted(key for key, value in values.items() if getattr(project, key) != value)


def _plain(key: str, value: object) -> object:
    return value.name if key == "department" and value is not None else value


def apply(agency: Agency, results: list[RowResult]) -> int:
    """Write the rows (the caller has checked none has errors); returns how many changed."""
    if any(result.errors for result in results):
        raise ValueError("rows with errors cannot be imported")
    existing = _existing(agency, [r.key for r in results if r.action == "update"])
    changed = 0
    for result in results:
        if result.action == "unchanged":
            continue
        project = existing.get(result.key)
        if project is None:
            project = AuditProject(agency_id=agency.id, code=result.key)
            db.session.add(project)
        fields = _changes(project, result.values)
        changes = {key: [_plain(key, getattr(project, key)), _plain(key, result.values[key])]
                   for key in fields}
        for key in fields:
            setattr(project, key, result.values[key])
        db.session.flush()
        action = "project.created" if result.action == "create" else "project.updated"
        auditlog.record(action, project, code=project.code, changes=changes, source="import")
        changed += 1
    return changed
