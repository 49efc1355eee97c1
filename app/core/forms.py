"""The one base of every form: what no field of the portal may hold, checked in one place.

Every form subclasses `PortalForm` (a test checks it), so a control character in any text
field, a date outside the portal's years or a number beyond the database's integers is refused
with a message next to the field, whichever form it was typed in, before any rule or query sees
it (app/core/bounds.py holds the bounds).
"""

from __future__ import annotations

from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Field, HiddenField, IntegerField, SelectField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, NumberRange, Optional

from app.core import bounds

CONTROL_MESSAGE = _l("This field contains an invisible control character (such as NUL) that "
                     "cannot be stored. Delete it and type the text again.")
DATE_MESSAGE = _l("Give a date between %(low)s and %(high)s.")
NUMBER_MESSAGE = _l("This number is too large.")


def _problem(data: object) -> str | None:
    values = data if isinstance(data, list | tuple) else [data]
    for value in values:
        if isinstance(value, str) and bounds.has_control_character(value):
            return str(CONTROL_MESSAGE)
        if isinstance(value, date):
            day = value.date() if isinstance(value, datetime) else value
            if not bounds.MIN_DATE <= day <= bounds.MAX_DATE:
                return str(DATE_MESSAGE % {"low": bounds.MIN_DATE.isoformat(),
                                           "high": bounds.MAX_DATE.isoformat()})
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > bounds.MAX_ID:
            return str(NUMBER_MESSAGE)
    return None


class PortalForm(FlaskForm):
    """FlaskForm (CSRF) plus the portal-wide bounds on every field's data."""

    def validate(self, extra_validators: dict | None = None) -> bool:
        valid = super().validate(extra_validators)
        for field in self:
            problem = _problem(_raw_or_data(field))
            if problem is not None:
                field.errors = [*field.errors, problem]
                valid = False
        return valid


def _raw_or_data(field: Field) -> object:
    """What was sent for the field: its parsed data, or the raw text a parser refused (a NUL
    in a number or a date is still reported as a control character)."""
    if field.data is None and field.raw_data:
        return field.raw_data
    return field.data


def PageField() -> IntegerField:
    """A list's page number: 1 to the id bound."""
    return IntegerField(validators=[Optional(), NumberRange(1, bounds.MAX_ID)], default=1)


class LanguageForm(PortalForm):
    lang = SelectField(
        _l("Language"),
        choices=[SelectChoice("zh_CN", "中文"), SelectChoice("en", "English")],
        validators=[DataRequired()],
    )
    next = HiddenField()
    submit = SubmitField(_l("Switch"))
