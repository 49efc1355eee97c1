"""The installation administrator's forms."""

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    SubmitField,
    URLField,
)
from wtforms.validators import (
    URL,
    DataRequired,
    Email,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from app.admin.forms import stripped, timezone_choices
from app.core.forms import PortalForm


class PlaceForm(PortalForm):
    """An agency's name and where it sits in the tree (parent 0: at the top)."""

    name = StringField(_l("Agency name"), validators=[DataRequired(), Length(max=120)],
                       filters=[stripped])
    parent = SelectField(_l("Above it"), coerce=int)
    submit = SubmitField(_l("Save"))


class NewAgencyForm(PlaceForm):
    timezone = SelectField(_l("Time zone"), validators=[DataRequired()], default="Asia/Shanghai")
    deadline_day = IntegerField(_l("Deadline day (of the following month)"), default=5,
                                validators=[InputRequired(), NumberRange(1, 28)])
    submit = SubmitField(_l("Create the agency"))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.timezone.choices = timezone_choices()


class AppointForm(PortalForm):
    """An administrator for the agency: an account of it, or a new one (name given)."""

    staff_no = StringField(_l("Staff number"), validators=[DataRequired(), Length(max=32)],
                           filters=[stripped])
    name = StringField(_l("Name (for a new account)"), validators=[Optional(), Length(max=64)],
                       filters=[stripped])
    email = EmailField(_l("E-mail (for a new account)"),
                       validators=[Optional(), Email(), Length(max=254)], filters=[stripped])
    submit = SubmitField(_l("Appoint administrator"))


class TransferForm(PortalForm):
    """调动: someone of another agency of the installation comes to work in this one."""

    staff_no = StringField(_l("Staff number"), validators=[DataRequired(), Length(max=32)],
                           filters=[stripped])
    department = StringField(_l("Department here (created if new)"),
                             validators=[Optional(), Length(max=120)], filters=[stripped])
    on = DateField(_l("First day here"), validators=[InputRequired()])
    submit = SubmitField(_l("Transfer here"))


class MailForm(PortalForm):
    smtp_host = StringField(_l("Mail server (SMTP host)"),
                            validators=[Optional(), Length(max=255)], filters=[stripped])
    smtp_port = IntegerField(_l("Port"), validators=[InputRequired(), NumberRange(1, 65535)])
    smtp_tls = BooleanField(_l("STARTTLS after connecting"))
    smtp_user = StringField(_l("User name"), validators=[Optional(), Length(max=255)],
                            filters=[stripped])
    smtp_password = PasswordField(_l("Password"), validators=[Optional(), Length(max=255)])
    clear_password = BooleanField(_l("Remove the stored password"))
    mail_from = EmailField(_l("Sender address"),
                           validators=[DataRequired(), Email(), Length(max=254)],
                           filters=[stripped])
    portal_base_url = URLField(_l("Portal address as users reach it (for links in e-mails)"),
                               validators=[DataRequired(), URL(require_tld=False),
                                           Length(max=255)], filters=[stripped])
    submit = SubmitField(_l("Save mail settings"))

    def validate_portal_base_url(self, field: URLField) -> None:
        if not field.data.lower().startswith(("http://", "https://")):
            raise ValidationError(_l("The address starts with http:// or https://."))


