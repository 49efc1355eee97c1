from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    IntegerField,
    PasswordField,
    SelectField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from app.auth.forms import code_field
from app.core.bounds import MAX_YEAR, MIN_YEAR
from app.core.forms import PortalForm


class PrepareForm(PortalForm):
    year = IntegerField(_l("Year"), validators=[InputRequired(), NumberRange(MIN_YEAR, MAX_YEAR)])
    submit = SubmitField(_l("Prepare the draft"))


class SignForm(PortalForm):
    password = PasswordField(_l("Your password, again"), validators=[DataRequired()])
    code = code_field(required=False)  # asked of accounts with a second factor (leaders)
    submit = SubmitField(_l("Sign and lock"))


class AddendumForm(PortalForm):
    # A record filed after signing that the addendum accounts for (choices set by the view).
    record = SelectField(_l("Accounts for"), default="",
                         choices=[SelectChoice("", _l("No particular record"))])
    text = TextAreaField(_l("Addendum"), validators=[DataRequired(), Length(max=5000)])
    submit = SubmitField(_l("Record the addendum"))


class ConfirmationForm(PortalForm):
    exceptions = TextAreaField(_l("Exceptions (leave empty if there are none)"),
                               validators=[Length(max=5000)])
    declaration = BooleanField(
        _l("I confirm that I have registered every attempt to probe or interfere with an "
           "audit matter this year, and that I know of no violation of audit independence "
           "other than the exceptions written above."),
        validators=[DataRequired(_l("Please tick the confirmation."))])
    submit = SubmitField(_l("Confirm"))
