from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, Length, Optional, ValidationError

from app.core.forms import PageField, PortalForm
from app.core.vocab import CATEGORIES, CHANNELS, KINDS
from app.filing.periods import Period
from app.review.workflow import DEFAULT_SORT, OVERDUE, SORTS, STATUSES, TRANSITIONS, WAITING_FOR_ME

ANY = SelectChoice("", _l("All"))


def _options(vocabulary: dict) -> list[SelectChoice]:
    return [ANY, *(SelectChoice(code, label) for code, label in vocabulary.items())]


PER_PAGE_CHOICES = [20, 50, 100]


class QueueFilterForm(PortalForm):
    """The queue's filters: a GET form (no CSRF: it changes nothing)."""

    class Meta:
        csrf = False

    period = StringField(_l("Month (YYYY-MM)"), validators=[Optional(), Length(max=7)])
    waiting = SelectField(_l("Whose turn"), validators=[Optional()], choices=[
        SelectChoice("", _l("All cases")),
        SelectChoice(WAITING_FOR_ME, _l("Waiting for me")),
        SelectChoice(OVERDUE, _l("Waiting for me and overdue"))])
    status = SelectField(_l("Status"), choices=_options(STATUSES), validators=[Optional()])
    kind = SelectField(_l("Kind"), choices=_options(KINDS), validators=[Optional()])
    category = SelectField(
        _l("Category"), validators=[Optional()],
        choices=[ANY, *(SelectChoice(code, label) for code, (_k, label, _e) in CATEGORIES.items())],
    )
    channel = SelectField(_l("Channel"), choices=_options(CHANNELS), validators=[Optional()])
    department = SelectField(_l("Department"), coerce=int, validators=[Optional()])
    project = SelectField(_l("Audit project"), coerce=int, validators=[Optional()])
    actor = StringField(_l("Person who interfered"), validators=[Optional(), Length(max=64)])
    q = StringField(_l("Search text"), validators=[Optional(), Length(max=100)])
    # Sorting and paging come from the column headers and the pager: closed sets, bounded.
    sort = SelectField(choices=[SelectChoice(key, key) for key in SORTS], default=DEFAULT_SORT,
                       validators=[Optional()])
    dir = SelectField(choices=[SelectChoice("asc", "asc"), SelectChoice("desc", "desc")],
                      default="desc", validators=[Optional()])
    per = SelectField(_l("Per page"), coerce=int,
                      choices=[SelectChoice(n, str(n)) for n in PER_PAGE_CHOICES],
                      default=PER_PAGE_CHOICES[1], validators=[Optional()])
    page = PageField()

    def validate_period(self, field: StringField) -> None:
        if field.data:
            try:
                Period.parse(field.data.strip())
            except ValueError:
                raise ValidationError(_l("Give the month as YYYY-MM, for example 2025-03.")) \
                    from None


class ReviewStepForm(PortalForm):
    """One step of the workflow; which fields are needed depends on the action (the review
    service checks them and explains what is missing)."""

    action = HiddenField(validators=[AnyOf(list(TRANSITIONS))])
    # An irreversible step is posted twice: once to see its summary, then with `confirmed`
    # (or `edit`, to go back to its form with what was entered).
    confirmed = HiddenField(validators=[Optional(), AnyOf(["1"])])
    edit = HiddenField(validators=[Optional(), AnyOf(["1"])])
    note = TextAreaField(_l("Text"), validators=[Optional(), Length(max=5000)])
    for_registrant = BooleanField(_l("Addressed to the registrant (they will see it)"))
    affected = RadioField(
        _l("Did this affect audit independence?"),
        choices=[SelectChoice("no", _l("No: audit independence was not affected")),
                 SelectChoice("yes", _l("Yes: a violation (for example the auditor yielded)"))],
        validators=[Optional()],
    )
    determination = TextAreaField(_l("Reasoning of the determination"),
                                  validators=[Optional(), Length(max=5000)])
    referred_to = StringField(_l("Referred to"), validators=[Optional(), Length(max=200)])
    referral_reason = TextAreaField(_l("Reason for the referral"),
                                    validators=[Optional(), Length(max=5000)])
    category = SelectField(
        _l("Reclassify as"), validators=[Optional()],
        choices=[SelectChoice("", _l("— choose —")),
                 *(SelectChoice(code, label) for code, (_k, label, _e) in CATEGORIES.items())],
    )


class ProposeMemberForm(PortalForm):
    """A member of the discipline office proposes a colleague (granted when they accept)."""

    user = SelectField(_l("Colleague"), coerce=int)


class AnswerInvitationForm(PortalForm):
    accept = HiddenField(validators=[AnyOf(["yes", "no"])])


class LogFilterForm(PortalForm):
    """The audit log's filters: a GET form (it changes nothing). Choices are set per request
    (the agency's people; the action codes in words); dates are days in the agency's zone,
    within the portal's bounds (PortalForm)."""

    class Meta:
        csrf = False

    person = SelectField(_l("Operator"), coerce=int, validators=[Optional()])
    action = SelectField(_l("Action"), validators=[Optional()])
    since = DateField(_l("From date"), validators=[Optional()])
    until = DateField(_l("To date"), validators=[Optional()])
    page = PageField()

    def validate(self, extra_validators: dict | None = None) -> bool:
        valid = super().validate(extra_validators)
        if valid and self.since.data and self.until.data and self.since.data > self.until.data:
            self.until.errors = [*self.until.errors,
                                 str(_l("The end date is before the start date."))]
            valid = False
        return valid
