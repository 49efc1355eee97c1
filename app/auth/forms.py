from flask_babel import lazy_gettext as _l
from wtforms import PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, EqualTo, Length, Optional, ValidationError

from app.auth import passwords
from app.core.forms import PortalForm


class LoginForm(PortalForm):
    identifier = StringField(_l("Staff number or e-mail"),
                             validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])
    submit = SubmitField(_l("Sign in"))


def code_field(required: bool = True) -> StringField:
    """The second-factor field, for any form that asks for the code (again)."""
    return StringField(_l("Code from your authenticator app, or a recovery code"),
                       validators=[DataRequired() if required else Optional(), Length(max=32)])


class CodeForm(PortalForm):
    """The second step of sign-in, and every confirmation that asks for a code again."""

    code = code_field()
    submit = SubmitField(_l("Continue"))


class EnrolForm(PortalForm):
    """Confirms that the authenticator app holds the secret shown (kept in the session)."""

    code = StringField(_l("Six-digit code shown by the app"),
                       validators=[DataRequired(), Length(max=16)])
    submit = SubmitField(_l("Turn on two-factor sign-in"))


class NewPasswordForm(PortalForm):
    """A new password, twice; checked against the password rule for `account`."""

    new = PasswordField(_l("New password"), validators=[DataRequired()])
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[DataRequired(), EqualTo("new", message=_l("The passwords do not match."))],
    )
    submit = SubmitField(_l("Set password"))

    def __init__(self, *args, account=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.account = account

    def validate_new(self, field: PasswordField) -> None:
        problem = passwords.problem(field.data, self.account)
        if problem:
            raise ValidationError(problem)


class ChangePasswordForm(NewPasswordForm):
    current = PasswordField(_l("Current password"),
                            validators=[DataRequired(), Length(max=1024)])
    submit = SubmitField(_l("Change password"))

