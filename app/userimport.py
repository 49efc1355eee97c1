"""Import staff from a CSV file as Chinese Excel writes it (UTF-8, UTF-8 with BOM, or GBK).

All rows or none: every row is checked first; any error and nothing is written. Rows are matched
by staff number, so importing the same file twice changes nothing.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _

from app import auditlog
from app.extensions import db
from app.models import Agency, Department, User
from app.vocab import ROLES

# Accepted header names, Chinese or English, for each column.
HEADERS = {
    "staff_no": ("staff_no", "工号", "人员编号"),
    "name": ("name", "姓名"),
    "department": ("department", "科室", "部门"),
    "email": ("email", "邮箱", "电子邮箱"),
    "roles": ("roles", "角色"),
    "joined_on": ("joined_on", "入职日期", "到岗日期"),
}
ROLE_NAMES = {"审计人员": "auditor", "纪检": "reviewer", "审理": "reviewer",
              "局领导": "leader", "管理员": "admin", **{code: code for code in ROLES}}


def decode(raw: bytes) -> str:
    """UTF-8 (with or without BOM) if it decodes, else GB18030 (a superset of GBK)."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("gb18030")


@dataclass
class RowResult:
    line: int
    staff_no: str
    action: str = ""  # create / update / unchanged
    errors: list[str] = field(default_factory=list)
    values: dict = field(default_factory=dict)


def _column_map(header: list[str]) -> dict[str, int]:
    positions = {}
    for index, name in enumerate(header):
        for key, names in HEADERS.items():
            if name.strip().lower() in names:
                positions[key] = index
    return positions


def _parse_row(line: int, row: list[str], columns: dict[str, int],
               departments: dict[str, Department]) -> RowResult:
    def cell(key: str) -> str:
        index = columns.get(key)
        return row[index].strip() if index is not None and index < len(row) else ""

    result = RowResult(line, cell("staff_no"))
    if not result.staff_no:
        result.errors.append(_("missing staff number"))
    name = cell("name")
    if not name:
        result.errors.append(_("missing name"))
    department = departments.get(cell("department"))
    if cell("department") and department is None:
        result.errors.append(_("unknown department %(name)s", name=cell("department")))
    email = cell("email") or None
    if email:
        try:
            email = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError:
            result.errors.append(_("bad e-mail %(email)s", email=email))
    roles = set()
    for part in cell("roles").replace("；", ";").replace("，", ";").replace(",", ";").split(";"):
        if part.strip():
            if part.strip() not in ROLE_NAMES:
                result.errors.append(_("unknown role %(role)s", role=part.strip()))
            else:
                roles.add(ROLE_NAMES[part.strip()])
    try:
        joined = date.fromisoformat(cell("joined_on")) if cell("joined_on") else None
    except ValueError:
        joined = None
        result.errors.append(_("bad date %(date)s (use YYYY-MM-DD)", date=cell("joined_on")))
    result.values = {"name": name, "department": department, "email": email,
                     "roles": roles or {"auditor"}, "joined_on": joined}
    return result


def check(agency: Agency, raw: bytes) -> list[RowResult]:
    """Every row with what importing it would do, or why it cannot be imported."""
    reader = csv.reader(io.StringIO(decode(raw)))
    header = next(reader, [])
    columns = _column_map(header)
    if "staff_no" not in columns or "name" not in columns:
        message = _("the header must name at least 工号 (staff number) and 姓名 (name)")
        return [RowResult(1, "", errors=[message])]
    departments = {
        d.name: d for d in db.session.scalars(
            sa.select(Department).where(Department.agency_id == agency.id))
    }
    results, seen = [], {}
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        result = _parse_row(line, row, columns, departments)
        if result.staff_no in seen:
            result.errors.append(_("duplicate staff number (also on line %(line)d)",
                                   line=seen[result.staff_no]))
        seen.setdefault(result.staff_no, line)
        results.append(result)
    _classify(agency, results)
    return results


def _classify(agency: Agency, results: list[RowResult]) -> None:
    existing = {
        u.staff_no: u for u in db.session.scalars(
            sa.select(User).where(User.staff_no.in_([r.staff_no for r in results])))
    }
    for result in results:
        user = existing.get(result.staff_no)
        if user is not None and user.agency_id != agency.id:
            result.errors.append(_("the staff number belongs to another agency"))
        elif user is None:
            result.action = "create"
        else:
            result.action = "unchanged" if _same(user, result.values) else "update"


def _same(user: User, values: dict) -> bool:
    return (user.name == values["name"] and user.department == values["department"]
            and user.email == values["email"] and user.roles == values["roles"]
            and (values["joined_on"] is None or user.joined_on == values["joined_on"]))


def apply(agency: Agency, results: list[RowResult], today: date) -> int:
    """Write the rows (the caller has checked none has errors); returns how many changed."""
    changed = 0
    for result in results:
        if result.action == "unchanged":
            continue
        user = db.session.scalar(sa.select(User).where(User.staff_no == result.staff_no))
        values = result.values
        if user is None:
            user = User(agency_id=agency.id, staff_no=result.staff_no,
                        joined_on=values["joined_on"] or today)
            db.session.add(user)
        user.name = values["name"]
        user.department = values["department"]
        user.email = values["email"]
        user.roles = values["roles"]
        if values["joined_on"]:
            user.joined_on = values["joined_on"]
        db.session.flush()
        auditlog.record("user.created" if result.action == "create" else "user.updated",
                        user, staff_no=user.staff_no, source="import")
        changed += 1
    return changed
