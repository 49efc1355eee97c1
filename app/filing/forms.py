from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    HiddenField,
    MultipleFileField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from app.core import clock
from app.core.forms import PortalForm
from app.core.vocab import CATEGORIES, CHANNELS, KINDS, RELATIONS, RESPONSES, STAGES
from app.filing import evidence
from app.filing.records import IncidentData

TEXT_MAX = 5000
DECLARATION = _l("I declare that what I report is true and complete.")
NOTE_MAX = 2000
CHOOSE = SelectChoice("", _l("— choose —"))


def _choices(vocabulary: dict) -> list[SelectChoice]:
    return [SelectChoice(code, label) for code, label in vocabulary.items()]


def _category_choices() -> list[SelectChoice]:
    """Behaviour categories grouped by kind (rendered as <optgroup>)."""
    return [SelectChoice(code, label, optgroup=str(KINDS[kind]))
            for code, (kind, label, _example) in CATEGORIES.items()]


class IncidentForm(PortalForm):
    occurred_at = DateTimeLocalField(
        _l("When it happened"), format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
        validators=[DataRequired(message=_l("Enter the date and time it happened."))],
    )
    category = SelectField(_l("What was done"),
                           validators=[DataRequired(message=_l("Choose what was done."))])
    # Every choice that states a fact starts empty and must be made: a hurried registration
    # must not say "a leading cadre, in person" when nobody said so (the statement counts it).
    channel = SelectField(_l("Channel"), validators=[
        DataRequired(message=_l("Choose how it was done: in person, by phone, …"))])
    actor_name = StringField(_l("Name of the person"), validators=[
        DataRequired(message=_l("Enter the name of the person (as much as you know).")),
        Length(max=64)])
    actor_org = StringField(_l("Their organisation"), validators=[
        DataRequired(message=_l("Enter the person's organisation.")), Length(max=120)])
    actor_position = StringField(_l("Their position"), validators=[Optional(), Length(max=64)])
    actor_relation = SelectField(_l("Relation to you or the audit"), validators=[
        DataRequired(message=_l("Choose the person's relation to you or the audit."))])
    project = SelectField(_l("Audit project concerned"), coerce=int)
    stage = SelectField(_l("Stage of the audit"), validators=[
        DataRequired(message=_l("Choose the stage the audit was at."))])
    description = TextAreaField(_l("What was said or done"), validators=[
        DataRequired(message=_l("Describe what was said or done.")), Length(max=TEXT_MAX)])
    response = SelectField(_l("How you responded"), validators=[
        DataRequired(message=_l("Choose how you responded."))])
    response_detail = TextAreaField(_l("Details of your response"),
                                    validators=[Optional(), Length(max=NOTE_MAX)])
    delay_reason = TextAreaField(_l("Reason for registering late"),
                                 validators=[Optional(), Length(max=NOTE_MAX)])
    evidence = MultipleFileField(_l("Evidence files (optional)"))
    # 直报上级: offered only where the bureau has an agency above it (app/review/upward.py).
    to_level_above = BooleanField(_l("Report it directly to the discipline office of the level "
                                     "above"))
    submit = SubmitField(_l("Register"))

    def __init__(self, tz: ZoneInfo, projects: list[SelectChoice], **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.tz = tz
        self.uploads: list[evidence.Upload] = []
        self.held_count = 0  # files kept from an earlier submission (the view sets it)
        self.category.choices = [CHOOSE, *_category_choices()]
        self.channel.choices = [CHOOSE, *_choices(CHANNELS)]
        self.actor_relation.choices = [CHOOSE, *_choices(RELATIONS)]
        self.stage.choices = [CHOOSE, *_choices(STAGES)]
        self.response.choices = [CHOOSE, *_choices(RESPONSES)]
        self.project.choices = [SelectChoice(0, _l("Not tied to an audit project")), *projects]

    def occurred_utc(self) -> datetime:
        return self.occurred_at.data.replace(tzinfo=self.tz).astimezone(UTC)

    def validate_occurred_at(self, field: DateTimeLocalField) -> None:
        if field.data and self.occurred_utc() > clock.now():
            raise ValidationError(_l("The time it happened cannot be in the future."))

    def validate_evidence(self, field: MultipleFileField) -> None:
        """Each file on its own: the acceptable ones are kept (and held if the form comes
        back), each refused one named."""
        files = [f for f in field.data or [] if f and f.filename]
        limit = current_app.config["EVIDENCE_MAX_FILES"]
        if len(files) + self.held_count > limit:
            raise ValidationError(_l("At most %(n)d files at a time.", n=limit))
        refusals = []
        for storage in files:
            try:
                self.uploads.append(evidence.inspect(storage))
            except evidence.EvidenceRefused as refused:
                refusals.append(str(refused))
        if refusals:
            raise ValidationError(" ".join(refusals))

    def incident_data(self) -> IncidentData:
        return IncidentData(
            occurred_at=self.occurred_utc(),
            category=self.category.data,
            channel=self.channel.data,
            actor_name=self.actor_name.data.strip(),
            actor_org=self.actor_org.data.strip(),
            actor_position=(self.actor_position.data or "").strip(),
            actor_relation=self.actor_relation.data,
            project_id=self.project.data or None,
            stage=self.stage.data,
            description=self.description.data.strip(),
            response=self.response.data,
            response_detail=(self.response_detail.data or "").strip(),
            delay_reason=(self.delay_reason.data or "").strip(),
        )


class CorrectIncidentForm(IncidentForm):
    to_level_above = None  # where a registration goes is chosen once, when registering
    reason = TextAreaField(_l("Reason for the correction"),
                           validators=[DataRequired(), Length(max=NOTE_MAX)])
    submit = SubmitField(_l("Save the corrected version"))


class FileReportForm(PortalForm):
    zero = HiddenField(validators=[InputRequired()])
    declaration = BooleanField(
        DECLARATION,
        validators=[DataRequired(message=_l("Please confirm the declaration."))],
    )
    submit = SubmitField(_l("File the report"))


class CorrectReportForm(PortalForm):
    reason = TextAreaField(_l("Reason for the correction"),
                           validators=[DataRequired(), Length(max=NOTE_MAX)])
    declaration = BooleanField(
        DECLARATION,
        validators=[DataRequired(message=_l("Please confirm the declaration."))],
    )
    submit = SubmitField(_l("File the corrected version"))
