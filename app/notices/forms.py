from flask_babel import lazy_gettext as _l
from wtforms import EmailField, SubmitField
from wtforms.validators import DataRequired, Email, Length

from app.core.forms import PortalForm


class TestMailForm(PortalForm):
    address = EmailField(_l("Send a test e-mail to"),
                         validators=[DataRequired(), Email(), Length(max=254)])
    submit = SubmitField(_l("Send test e-mail"))


class RetryForm(PortalForm):
    submit = SubmitField(_l("Retry"))


class MarkReadForm(PortalForm):
    submit = SubmitField(_l("Mark all as read"))
