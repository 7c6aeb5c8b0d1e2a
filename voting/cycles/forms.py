"""Page forms of the staff dashboard. They render the fields and carry the CSRF token; the rules
live in the services, whose `InvalidField` errors are shown next to the field they name."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, RadioField, SelectField, StringField, TextAreaField, ValidationError
from wtforms.fields import SelectChoice

from ..format import METHOD_LABELS, VOTERS_LABELS
from .models import OUTCOME_RULES

OUTCOME_RULE_LABELS = {
    "greedy": _l("Most votes first; skip what does not fit the fund"),
    "greedy-no-skip": _l("Most votes first; stop at the first that does not fit"),
    "greedy-threshold": _l("Most votes first, only projects with at least the threshold of votes"),
    "mes": _l("Method of Equal Shares"),
    "mes+greedy": _l("Method of Equal Shares, then fill the rest by votes"),
}
NUMBER = {"inputmode": "numeric", "pattern": "[0-9]*"}


def options(pairs) -> list[SelectChoice]:
    """Select options from (value, label) pairs."""
    return [SelectChoice(value, label) for value, label in pairs]


class ReviewForm(FlaskForm):
    decision = SelectField(_l("Decision"), validate_choice=False, choices=options([
        ("ballot", _l("Put on the ballot")), ("reject", _l("Reject")),
        ("merge", _l("Merge into another proposal")),
    ]))
    cost = StringField(_l("Reviewed cost (yuan)"), render_kw={"inputmode": "decimal"})
    reason = TextAreaField(_l("Reason (shown publicly)"), render_kw={"maxlength": 500, "rows": 2})
    into = SelectField(_l("Merge into"), choices=[], validate_choice=False)


class PhaseForm(FlaskForm):
    phase = HiddenField()
    reason = TextAreaField(_l("Reason for closing early (shown publicly)"),
                           render_kw={"maxlength": 500, "rows": 2})
    # Closing the vote early from a page: only after seeing the turnout and what the count would fund.
    confirm = BooleanField(_l("I have seen the turnout and what the count would fund, and I close the vote now."))

    def validate_confirm(self, field):
        if self.phase.data == "results" and not field.data:
            raise ValidationError(_l("Confirm that you close the vote now, after checking the turnout and what "
                                     "the count would fund."))


class WindowForm(FlaskForm):
    voting_opens_at = StringField(_l("Voting opens (Beijing time)"), render_kw={"type": "datetime-local"})
    voting_closes_at = StringField(_l("Voting closes (Beijing time)"), render_kw={"type": "datetime-local"})


class RulesForm(FlaskForm):
    method = RadioField(_l("Voting method"), choices=options(METHOD_LABELS.items()), validate_choice=False)
    min_choices = StringField(_l("Fewest projects a voter must choose"), render_kw=NUMBER)
    max_choices = StringField(_l("Most projects a voter may choose (empty: no limit)"), render_kw=NUMBER)
    points = StringField(_l("Points each voter spreads (cumulative only)"), render_kw=NUMBER)
    outcome_rule = RadioField(_l("Outcome rule"), validate_choice=False,
                               choices=options((r, OUTCOME_RULE_LABELS[r]) for r in OUTCOME_RULES))
    threshold = StringField(_l("Minimum votes for a project (greedy-threshold only)"), render_kw=NUMBER)
    threshold_percent = StringField(_l("Or: minimum share of voters for a project, in % (greedy-threshold only)"),
                                    render_kw=NUMBER)
    min_turnout_percent = StringField(_l("Minimum turnout, in % (empty: none; below it nothing is funded)"),
                                      render_kw=NUMBER)
    voters = RadioField(_l("Who votes"), choices=options(VOTERS_LABELS.items()), validate_choice=False,
                        default="adults")
    notice_days = StringField(_l("Days of public notice of the result (5 to 30)"), render_kw=NUMBER, default="7")


class NewCycleForm(FlaskForm):
    year = StringField(_l("Year"), render_kw=NUMBER)
