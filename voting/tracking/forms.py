"""Forms of the tracking pages. They parse (dates, yuan, files); the services apply the rules."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField, HiddenField, MultipleFileField, RadioField, SelectField, StringField, TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import NumberRange, Optional

from ..money import MoneyError, parse_yuan
from ..webforms import WholeNumberField


class YuanField(StringField):
    """An amount of yuan typed by a person ("12,000.50"), kept as integer fen in `data`."""

    def process_formdata(self, valuelist):
        self.raw = valuelist[0].strip() if valuelist else ""
        self.data = None
        if self.raw:
            try:
                self.data = parse_yuan(self.raw)
            except MoneyError:
                self.data = None
                raise ValueError(_l("Write the amount in yuan, such as 12000 or 12000.50.")) from None

    def _value(self):
        return getattr(self, "raw", "") or ""


class ArchiveForm(FlaskForm):
    """The archive's filters (a GET form: no CSRF token)."""

    class Meta:
        csrf = False

    q = StringField(_l("Search project titles"), filters=[lambda v: (v or "").strip()[:100]])
    sub_district = SelectField(_l("Sub-district"), default="", choices=[])
    community = SelectField(_l("Community"), default="", choices=[])
    year = SelectField(_l("Year"), default="", choices=[])
    category = SelectField(_l("Category"), default="", choices=[])
    state = SelectField(_l("Show"), default="done", choices=[
        SelectChoice("done", _l("Completed projects")), SelectChoice("underway", _l("Funded, being built")),
        SelectChoice("all", _l("Every funded project")), SelectChoice("ended", _l("Ended before acceptance")),
    ])
    page = WholeNumberField(_l("Page"), default=1, validators=[Optional(), NumberRange(min=1, max=100_000)])


class StatusForm(FlaskForm):
    """Move the project one step forward; accepting it asks for the acceptance record."""

    to_status = HiddenField()
    accepted_on = DateField(_l("Date of the acceptance"), validators=[Optional()])
    panel = StringField(_l("Who took part in the acceptance"),
                        description=_l("For example: community committee, residents' representatives, "
                                       "owners' committee, the contractor."),
                        render_kw={"maxlength": 300})
    remarks = TextAreaField(_l("Remarks"), render_kw={"maxlength": 1000, "rows": 3})


class MilestoneForm(FlaskForm):
    happened_on = DateField(_l("Date"), validators=[Optional()], render_kw={"required": True})
    text = TextAreaField(_l("What happened"), render_kw={"required": True, "maxlength": 1000, "rows": 3})
    photos = MultipleFileField(_l("Photos (optional, up to 6)"),
                               render_kw={"accept": "image/jpeg,image/png,image/webp"})


class SpendingForm(FlaskForm):
    spent_on = DateField(_l("Date paid"), validators=[Optional()], render_kw={"required": True})
    amount = YuanField(_l("Amount (yuan)"), render_kw={"required": True, "inputmode": "decimal",
                                                      "autocomplete": "off"})
    payee = StringField(_l("Paid to"), render_kw={"required": True, "maxlength": 120})
    note = StringField(_l("Note (optional)"), render_kw={"maxlength": 500})


class RatingForm(FlaskForm):
    score = RadioField(_l("Your score"), coerce=int, validate_choice=False, choices=[
        SelectChoice(5, _l("5 · Very good")), SelectChoice(4, _l("4 · Good")), SelectChoice(3, _l("3 · All right")),
        SelectChoice(2, _l("2 · Poor")), SelectChoice(1, _l("1 · Very poor")),
    ])
    comment = TextAreaField(_l("Comment (optional)"), render_kw={"maxlength": 500, "rows": 3})


class ReversalForm(FlaskForm):
    """Cancel a wrong payment: a reversing entry with the reason."""

    reason = StringField(_l("Why is this payment reversed?"), render_kw={"required": True, "maxlength": 500})


class ApprovalForm(FlaskForm):
    project = SelectField(_l("Beyond what"), default="", choices=[],
                          description=_l("The year's fund, or the voted cost of one project."))
    amount = YuanField(_l("Allow this much beyond it (yuan)"),
                       render_kw={"required": True, "inputmode": "decimal", "autocomplete": "off"})
    reason = TextAreaField(_l("Reason (kept in the record)"), render_kw={"required": True, "maxlength": 500,
                                                                       "rows": 3})


class CarryOverForm(FlaskForm):
    """Carry a project over into the community's next cycle (a button: the form is its CSRF token)."""


class EndForm(FlaskForm):
    reason = TextAreaField(_l("Why it ends (published on the project's page)"),
                           render_kw={"required": True, "maxlength": 500, "rows": 3})
