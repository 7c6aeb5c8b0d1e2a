"""Forms of the registry pages: the file to import, and which residents get new voting codes."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, HiddenField, SelectField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from ..webforms import WholeNumberField


class ImportForm(FlaskForm):
    registry = FileField(_l("Registry file (.csv or .xlsx)"),
                         validators=[FileRequired(_l("Choose the registry file first."))],
                         render_kw={"accept": ".csv,.xlsx"})


class VotingCodesForm(FlaskForm):
    """Print a sheet of new codes: for a grid's next residents without one, or for one resident."""
    grid = HiddenField(validators=[DataRequired(), Length(max=32)])
    resident = WholeNumberField(validators=[Optional(), NumberRange(min=1)])


class ConfirmImportForm(FlaskForm):
    """Apply a previewed file: the file itself (base64) and a signed token naming its hash and the
    plan the preview showed, so what is applied is what was previewed."""
    file_data = HiddenField(validators=[DataRequired()])
    filename = HiddenField(validators=[Length(max=200)])
    token = HiddenField(validators=[DataRequired(), Length(max=500)])
    # Residents not in the file stay as they are unless the staff say so (a file of newcomers only).
    mark_moved = BooleanField(_l("Also mark the residents who are not in this file as moved away"))


class StatusForm(FlaskForm):
    status = SelectField(_l("Status"), choices=[SelectChoice("moved", _l("Moved away")),
                                                SelectChoice("deceased", _l("Deceased")),
                                                SelectChoice("active", _l("Lives here"))])
