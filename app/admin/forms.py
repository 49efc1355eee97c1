import re
from functools import cache
from zoneinfo import available_timezones

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired, FileSize
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    AnyOf,
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from app.core.bounds import MAX_YEAR, MIN_YEAR
from app.core.forms import PageField, PortalForm
from app.core.i18n import ZONE_NAMES
from app.core.vocab import ROLES

ANY = SelectChoice("", _l("All"))
IMPORT_MAX_BYTES = 5 * 1024 * 1024


def stripped(value: str | None) -> str | None:
    return value.strip() if isinstance(value, str) else value


class UserFilterForm(PortalForm):
    """The account list's filters: a GET form (no CSRF: it changes nothing)."""

    class Meta:
        csrf = False

    q = StringField(_l("Search (name, staff number, e-mail)"),
                    validators=[Optional(), Length(max=100)], filters=[stripped])
    department = SelectField(_l("Department"), coerce=int, validators=[Optional()])
    role = SelectField(_l("Role"), validators=[Optional()],
                       choices=[ANY, *(SelectChoice(code, label) for code, label in ROLES.items())])
    active = SelectField(_l("Status"), validators=[Optional()],
                         choices=[ANY, SelectChoice("1", _l("Active")),
                                  SelectChoice("0", _l("Deactivated"))])
    page = PageField()


class UserForm(PortalForm):
    staff_no = StringField(_l("Staff number"), validators=[DataRequired(), Length(max=32)],
                           filters=[stripped])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=64)],
                       filters=[stripped])
    email = EmailField(_l("E-mail"), validators=[Optional(), Email(), Length(max=254)],
                       filters=[stripped])
    department = SelectField(_l("Department"), coerce=int)
    roles = SelectMultipleField(
        _l("Roles"), validators=[DataRequired(_l("Choose at least one role."))],
        choices=[SelectChoice(code, label) for code, label in ROLES.items()],
        widget=ListWidget(prefix_label=False), option_widget=CheckboxInput())
    joined_on = DateField(_l("In post since"), validators=[InputRequired()])
    submit = SubmitField(_l("Save"))


class DeactivateForm(PortalForm):
    """Posted twice: first for the summary to confirm, then with `confirmed` (or `edit`, to go
    back to the form with the date entered)."""

    left_on = DateField(_l("Left on (调离日期)"), validators=[InputRequired()])
    confirmed = HiddenField(validators=[Optional(), AnyOf(["1"])])
    edit = HiddenField(validators=[Optional(), AnyOf(["1"])])
    submit = SubmitField(_l("Deactivate…"))


class ReactivateForm(PortalForm):
    submit = SubmitField(_l("Reactivate"))


class ImportForm(PortalForm):
    file = FileField(_l("File (XLSX or CSV)"), validators=[
        FileRequired(_l("Choose a file.")),
        FileSize(IMPORT_MAX_BYTES, message=_l("The file is larger than 5 MB."))])
    submit = SubmitField(_l("Check the file"))


class ApplyImportForm(PortalForm):
    token = HiddenField(validators=[DataRequired()])
    submit = SubmitField(_l("Import all rows"))


class DepartmentForm(PortalForm):
    name = StringField(_l("Department name"), validators=[DataRequired(), Length(max=120)],
                       filters=[stripped])
    submit = SubmitField(_l("Save"))


class ArchiveForm(PortalForm):
    """Archive ("1") or restore ("0"): the state wanted, so a double click does no harm."""

    archived = HiddenField(validators=[AnyOf(["0", "1"])])


class ProjectForm(PortalForm):
    code = StringField(_l("Project code"), validators=[DataRequired(), Length(max=32)],
                       filters=[stripped])
    name = StringField(_l("Project name"), validators=[DataRequired(), Length(max=200)],
                       filters=[stripped])
    year = IntegerField(_l("Year"), validators=[InputRequired(), NumberRange(MIN_YEAR, MAX_YEAR)])
    department = SelectField(_l("Lead department"), coerce=int)
    submit = SubmitField(_l("Save"))


class ProjectFilterForm(PortalForm):
    class Meta:
        csrf = False

    year = IntegerField(_l("Year"), validators=[Optional(), NumberRange(MIN_YEAR, MAX_YEAR)])


@cache
def _timezones() -> list[str]:
    return sorted(available_timezones())


def timezone_choices() -> list[SelectChoice]:
    """China's zones first, by the names people use; then every other zone by its name."""
    first = [SelectChoice(zone, label) for zone, label in ZONE_NAMES.items()]
    return [*first, *(SelectChoice(zone, zone) for zone in _timezones() if zone not in ZONE_NAMES)]


def _optional_int(label: str, low: int, high: int) -> IntegerField:
    return IntegerField(label, validators=[Optional(), NumberRange(low, high)])


class AgencyForm(PortalForm):
    name = StringField(_l("Agency name"), validators=[DataRequired(), Length(max=120)],
                       filters=[stripped])
    timezone = SelectField(_l("Time zone"), validators=[DataRequired()])
    deadline_day = IntegerField(_l("Deadline day (of the following month)"),
                                validators=[InputRequired(), NumberRange(1, 28)])
    shift_to_workday = BooleanField(
        _l("A deadline on a day off moves to the next working day"))
    document_number_pattern = StringField(
        _l("Document number of the annual statement (发文字号)"),
        validators=[Length(max=60)], filters=[stripped])
    reminder_hour = _optional_int(_l("Hour of the reminders (local time)"), 0, 23)
    reminder_approaching_days = _optional_int(
        _l("“Deadline approaching” this many days before"), 1, 20)
    reminder_overdue_every_days = _optional_int(_l("Overdue notices every … days"), 1, 15)
    reminder_overdue_times = _optional_int(_l("Overdue notices at most … times"), 0, 10)
    reminder_digest_every_days = _optional_int(
        _l("Digest of non-filers every … days"), 1, 15)
    reminder_digest_times = _optional_int(_l("Digest of non-filers at most … times"), 1, 10)
    review_due_days = _optional_int(_l("A review is due within … working days"), 1, 60)
    review_digest = BooleanField(_l("Tell the discipline office of new registrations and "
                                    "supplements in one digest a day, instead of one e-mail each"))
    submit = SubmitField(_l("Save settings"))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.timezone.choices = timezone_choices()

    def validate_document_number_pattern(self, field: StringField) -> None:
        """Only {year} and {n}, and {n} present: two statements never share a number."""
        pattern = field.data or ""
        rest = re.sub(r"\{year\}|\{n\}", "", pattern)
        if pattern and ("{n}" not in pattern or "{" in rest or "}" in rest):
            raise ValidationError(_l("Use {year} and {n} only, with {n}: for example "
                                     "西审〔{year}〕{n}号."))


class ChannelForm(PortalForm):
    """One messaging channel of the agency; a blank address or secret keeps the stored one."""

    url = StringField(_l("Webhook address"), validators=[Optional(), Length(max=1000)],
                      filters=[stripped])
    secret = PasswordField(_l("Secret"), validators=[Optional(), Length(max=255)])
    enabled = BooleanField(_l("Send the agency's notices to this channel"))
    clear = BooleanField(_l("Remove the stored address and secret"))
    submit = SubmitField(_l("Save"))


class CalendarDayForm(PortalForm):
    day = DateField(_l("Date"), validators=[InputRequired()])
    is_workday = SelectField(_l("This date is"), choices=[
        SelectChoice("0", _l("a day off (放假)")),
        SelectChoice("1", _l("a working day (调休上班)"))], validators=[AnyOf(["0", "1"])])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=120)], filters=[stripped])
    submit = SubmitField(_l("Add the date"))


class DeleteForm(PortalForm):
    """A delete button: the CSRF token is all it carries."""


class ApiTokenForm(PortalForm):
    name = StringField(_l("Client"), validators=[DataRequired(), Length(max=80)],
                       filters=[stripped],
                       description=_l("What will use the token, e.g. “OA system”."))
    submit = SubmitField(_l("Create token"))


class RevokeForm(PortalForm):
    """A revoke button: the CSRF token is all it carries."""

    submit = SubmitField(_l("Revoke"))
