from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, SubmitField
from wtforms.validators import DataRequired, Email, Length


class TestMailForm(FlaskForm):
    address = EmailField(_l("Send a test e-mail to"),
                         validators=[DataRequired(), Email(), Length(max=254)])
    submit = SubmitField(_l("Send test e-mail"))


class RetryForm(FlaskForm):
    submit = SubmitField(_l("Retry"))


class MarkReadForm(FlaskForm):
    submit = SubmitField(_l("Mark all as read"))
