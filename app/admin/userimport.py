"""Import staff from an XLSX file or a CSV file as Chinese Excel writes it (UTF-8, UTF-8 with
BOM, or GBK): the same code behind `flask import-users` and the administrator's import page.

All rows or none: every row is checked first; any error and nothing is written. Rows are matched
by staff number, so importing the same file twice changes nothing. A blank cell, or a column the
file does not have, leaves that field of an existing account as it is (a new account gets no
department, no e-mail, the auditor role and today as its joining date): an export without the
角色 column must not strip the leaders and the discipline office of their roles. A row whose
staff number belongs to another agency is a transfer (调动) here if it gives the date in the
调入日期 column (app/admin/employment.py), and an error otherwise.
"""

from __future__ import annotations

import re
from datetime import date

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext as _

from app.admin import accounts, employment
from app.core import auditlog, tabular
from app.core.codes import Role
from app.core.extensions import db
from app.core.tabular import RowResult, UnreadableFile
from app.core.vocab import ROLES
from app.models import Agency, Department, User

# Accepted header names, Chinese or English, for each column.
HEADERS = {
    "staff_no": ("staff_no", "工号", "人员编号"),
    "name": ("name", "姓名"),
    "department": ("department", "科室", "部门"),
    "email": ("email", "邮箱", "电子邮箱"),
    "roles": ("roles", "角色"),
    "joined_on": ("joined_on", "入职日期", "到岗日期"),
    "transferred_on": ("transferred_on", "调入日期", "调动日期"),
}
# Not a field of the account: the day a person of another agency starts here (a transfer).
TRANSFER = "transferred_on"
ROLE_NAMES = {"审计人员": Role.AUDITOR, "纪检": Role.REVIEWER, "审理": Role.REVIEWER,
              "局领导": Role.LEADER, "管理员": Role.ADMIN, **{code: code for code in ROLES}}
# ISO dates, and the 2025/3/1 form Chinese Excel writes into a CSV file.
DATE_RE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})")
STAFF_NO_MAX = User.__table__.c.staff_no.type.length
NAME_MAX = User.__table__.c.name.type.length


def _parse_date(text: str) -> date:
    match = DATE_RE.fullmatch(text)
    if match is None:
        raise ValueError(text)
    return date(*(int(part) for part in match.groups()))


def _parse_roles(text: str, result: RowResult) -> set[str]:
    roles = set()
    for part in text.replace("；", ";").replace("，", ";").replace(",", ";").split(";"):
        part = part.strip()
        role = ROLE_NAMES.get(part) or ROLE_NAMES.get(part.lower())
        if role:
            roles.add(role)
        elif part:
            result.errors.append(_("unknown role %(role)s", role=part))
    return roles


def _parse_email(text: str, result: RowResult) -> str:
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        result.errors.append(_("bad e-mail %(email)s", email=text))
        return text


def _check_identity(result: RowResult, name: str) -> None:
    if not result.staff_no:
        result.errors.append(_("missing staff number"))
    elif len(result.staff_no) > STAFF_NO_MAX:
        result.errors.append(_("staff number longer than %(max)d characters", max=STAFF_NO_MAX))
    if not name:
        result.errors.append(_("missing name"))
    elif len(name) > NAME_MAX:
        result.errors.append(_("name longer than %(max)d characters", max=NAME_MAX))


def department_value(text: str, departments: dict[str, Department],
                     result: RowResult) -> Department | None:
    """The department a cell names; an error if it is unknown or archived."""
    department = departments.get(text)
    if department is None:
        result.errors.append(_("unknown department %(name)s", name=text))
    elif department.archived:
        result.errors.append(_("department %(name)s is archived", name=text))
    return department


def agency_departments(agency: Agency) -> dict[str, Department]:
    return {d.name: d for d in db.session.scalars(
        sa.select(Department).where(Department.agency_id == agency.id))}


def _parse_row(line: int, row: list[str], columns: dict[str, int],
               departments: dict[str, Department]) -> RowResult:
    cell = tabular.cell_reader(row, columns)
    result = RowResult(line, cell("staff_no"))
    _check_identity(result, cell("name"))
    values: dict = {"name": cell("name")}
    if cell("department"):
        values["department"] = department_value(cell("department"), departments, result)
    if cell("email"):
        values["email"] = _parse_email(cell("email"), result)
    if roles := _parse_roles(cell("roles"), result):
        values["roles"] = roles
    for key in ("joined_on", TRANSFER):
        if cell(key):
            try:
                values[key] = _parse_date(cell(key))
            except ValueError:
                result.errors.append(_("bad date %(date)s (use YYYY-MM-DD)", date=cell(key)))
    result.values = values
    return result


def check(agency: Agency, raw: bytes, *, operator: bool = False) -> list[RowResult]:
    """Every row with what importing it would do, or why it cannot be imported. Only the
    operator's command line (`operator`) may give the discipline office's role: an
    administrator's upload cannot (app/review/office.py)."""
    try:
        columns, rows = tabular.read_table(
            raw, HEADERS, ("staff_no", "name"),
            _("the header must name at least 工号 (staff number) and 姓名 (name)"))
    except UnreadableFile as error:
        return [RowResult(1, "", errors=[str(error)])]
    departments = agency_departments(agency)
    results = [_parse_row(line, row, columns, departments) for line, row in rows]
    _flag_duplicates(results)
    _classify(agency, results, operator)
    return results


def _flag_duplicates(results: list[RowResult]) -> None:
    """A staff number or an e-mail given on two lines of the file: the later line is wrong."""
    tabular.flag_duplicates(
        results, lambda result: result.key,
        lambda line: _("duplicate staff number (also on line %(line)d)", line=line))
    tabular.flag_duplicates(
        results, lambda result: (result.values.get("email") or "").lower(),
        lambda line: _("duplicate e-mail (also on line %(line)d)", line=line))


def _email_owners(results: list[RowResult]) -> dict[str, str]:
    """lower-cased e-mail -> staff number of the account that already has it."""
    wanted = {r.values["email"].lower() for r in results if r.values.get("email")}
    if not wanted:
        return {}
    rows = db.session.execute(
        sa.select(sa.func.lower(User.email), User.staff_no)
        .where(sa.func.lower(User.email).in_(wanted)))
    return {email: staff_no for email, staff_no in rows}


def _classify(agency: Agency, results: list[RowResult], operator: bool) -> None:
    existing = {
        u.staff_no: u for u in db.session.scalars(
            sa.select(User).where(User.staff_no.in_([r.staff_no for r in results])))
    }
    owners = _email_owners(results)
    for result in results:
        email = (result.values.get("email") or "").lower()
        if email in owners and owners[email] != result.staff_no:
            result.errors.append(_("e-mail %(email)s is already used by another account",
                                   email=result.values["email"]))
        user = existing.get(result.staff_no)
        if not _check_transfer(agency, user, result):
            continue
        if "roles" in result.values:
            try:
                result.values["roles"] = accounts.roles_after_edit(
                    user, result.values["roles"], operator=operator)
            except accounts.AccountError as refused:
                result.errors.append(str(refused))
        if user is None:
            result.action = "create"
        elif TRANSFER in result.values:
            result.action = "transfer"
        elif _start_refused(user, result):
            continue
        else:
            result.action = "unchanged" if not _changes(user, result.values) else "update"


def _check_transfer(agency: Agency, user: User | None, result: RowResult) -> bool:
    """Whether the row can go on: a person of another agency only with a transfer date (and
    a transfer the rules accept); a transfer date for someone already here only if it is the
    one they came on (importing the same file twice changes nothing), and then it is dropped."""
    on = result.values.get(TRANSFER)
    if user is not None and user.agency_id != agency.id:
        if on is None:
            result.errors.append(_("the staff number belongs to another agency: to transfer "
                                   "the person here, give the date in the 调入日期 column"))
            return False
        try:
            employment.check_transfer(user, agency, result.values.get("department"), on)
        except employment.TransferRefused as refused:
            result.errors.append(str(refused))
            return False
        result.values.pop("joined_on", None)  # a transfer starts the period on its date
        return True
    if on is not None:
        if user is None or on != user.joined_on:
            result.errors.append(_("a transfer date (调入日期) is only for staff of another "
                                   "agency who move here"))
            return False
        del result.values[TRANSFER]
    return True


def _start_refused(user: User, result: RowResult) -> bool:
    """A new joining date that would overlap the person's previous period (an error)."""
    if "joined_on" in result.values and result.values["joined_on"] != user.joined_on:
        try:
            employment.check_start(user, result.values["joined_on"])
        except employment.EmploymentRefused as refused:
            result.errors.append(str(refused))
            return True
    return False


def _changes(user: User, values: dict) -> list[str]:
    """The fields the row would change (the values use User's attribute names)."""
    return sorted(key for key, value in values.items()
                  if key != TRANSFER and getattr(user, key) != value)


def apply(agency: Agency, results: list[RowResult], today: date) -> int:
    """Write the rows (the caller has checked none has errors); returns how many changed."""
    if any(result.errors for result in results):
        raise ValueError("rows with errors cannot be imported")
    changed = 0
    for result in results:
        if result.action == "unchanged":
            continue
        user = db.session.scalar(sa.select(User).where(User.staff_no == result.staff_no))
        if user is None:
            user = User(agency_id=agency.id, staff_no=result.staff_no, joined_on=today)
            user.roles = {Role.AUDITOR}
            db.session.add(user)
        if result.action == "transfer":
            employment.transfer(user, agency, result.values.get("department"),
                                result.values[TRANSFER])
        fields = _changes(user, result.values)
        before = accounts.snapshot(user, tuple(fields))
        for key in fields:
            setattr(user, key, result.values[key])
        employment.follow(user)
        if result.action == "create":
            auditlog.record("user.created", user, staff_no=user.staff_no,
                            roles=sorted(user.roles), source="import")
        elif fields:
            auditlog.record("user.updated", user, staff_no=user.staff_no, fields=fields,
                            changes=accounts.diff(before, accounts.snapshot(user, tuple(fields))),
                            source="import")
        changed += 1
    return changed
