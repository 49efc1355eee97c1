"""The dashboard's period picker: a GET form (no CSRF: it changes nothing)."""

from flask_babel import lazy_gettext as _l
from wtforms import StringField
from wtforms.validators import Optional, ValidationError

from app.core.forms import PortalForm
from app.filing.periods import Period


class PeriodForm(PortalForm):
    class Meta:
        csrf = False

    period = StringField(_l("Month (YYYY-MM)"), validators=[Optional()])

    def validate_period(self, field: StringField) -> None:
        try:
            Period.parse(field.data.strip())
        except ValueError:
            raise ValidationError(_l("Give the month as YYYY-MM, for example 2025-03.")) from None

    def chosen(self) -> Period | None:
        """The valid period asked for, or None (none asked, or not valid)."""
        if self.period.data and not self.period.errors:
            return Period.parse(self.period.data.strip())
        return None
