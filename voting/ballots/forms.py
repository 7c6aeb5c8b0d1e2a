"""Ballot forms. The projects on a ballot vary, so the choices are read from named fields:
`projects` (checkboxes or a radio: one value per chosen project) and, in cumulative voting,
`points-<project id>` (a number; 0 or empty is not chosen). The rules are checked by the service,
the same check as the API's, so the form and the API refuse the same things with the same codes.
"""
from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, RadioField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

_POINTS_FIELD = re.compile(r"^points-(\d{1,11})$", re.ASCII)  # digits 0-9 only, as everywhere


def choices_from_form(formdata, method: str) -> list[tuple[object, object]]:
    """(project, points) pairs from a posted ballot form, as `validate_choices` takes them."""
    if method != "cumulative":
        return [(value, 1) for value in formdata.getlist("projects")]
    pairs = []
    for name in formdata:
        match = _POINTS_FIELD.match(name)
        if not match:
            continue
        raw = (formdata.get(name) or "").strip()
        if raw in ("", "0"):
            continue
        points = int(raw) if re.fullmatch(r"-?[0-9]{1,6}", raw) else raw
        pairs.append((int(match.group(1)), points))
    return pairs


def selected_choices(pairs) -> dict[int, int]:
    """Best-effort choices to show again on a form (what cannot be read is left out)."""
    selected = {}
    for project, points in pairs:
        try:
            selected[int(project)] = int(points)
        except (TypeError, ValueError):
            continue
    return selected


def hidden_choices(chosen: dict[int, int], method: str) -> list[tuple[str, str]]:
    """The form fields that carry chosen projects through the confirm step."""
    if method == "cumulative":
        return [(f"points-{p}", str(n)) for p, n in sorted(chosen.items())]
    return [("projects", str(p)) for p in sorted(chosen)]


class BallotForm(FlaskForm):
    """The CSRF token, and on the confirm step the request's id (a double submit is replayed)."""

    request_id = HiddenField()


class AssistedBallotForm(BallotForm):
    credential = PasswordField(_l("The resident's password or personal voting code"),
                               validators=[DataRequired(), Length(max=200)])


class ReceiptForm(FlaskForm):
    class Meta:
        csrf = False  # a GET search form

    code = StringField(_l("Receipt code"), validators=[DataRequired(), Length(max=40)])


class PaperBatchForm(FlaskForm):
    grid = SelectField(_l("Grid"), coerce=int)
    label = StringField(_l("Label (ballot box, street, date)"), validators=[DataRequired(), Length(max=80)])


class PaperEntryForm(FlaskForm):
    resident = SelectField(_l("Resident on the roll"), coerce=int)


class PaperDecisionForm(FlaskForm):
    """The staff's decision about a paper of a resident who already voted (checked by the service)."""

    decision = RadioField(_l("Decision"), validate_choice=False, choices=[
        SelectChoice("replace", _l("Count the paper ballot: it replaces the earlier ballot")),
        SelectChoice("discard", _l("Discard the paper ballot: the earlier ballot stands")),
    ])
    reason = TextAreaField(_l("Reason (kept in the action log)"), render_kw={"required": True, "maxlength": 500,
                                                                          "rows": 2})


class ActionForm(FlaskForm):
    """Only the CSRF token, for buttons that change state."""
