from flask_babel import lazy_gettext as _l
from wtforms import HiddenField, SelectField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired

from app.forms import PortalForm


class LanguageForm(PortalForm):
    lang = SelectField(
        _l("Language"),
        choices=[SelectChoice("zh_CN", "中文"), SelectChoice("en", "English")],
        validators=[DataRequired()],
    )
    next = HiddenField()
    submit = SubmitField(_l("Switch"))
