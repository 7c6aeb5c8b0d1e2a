"""Forms of the registry pages: the file to import, and which residents get new voting codes."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import HiddenField, IntegerField
from wtforms.validators import DataRequired, Length, Optional


class ImportForm(FlaskForm):
    registry = FileField(_l("Registry file (.csv or .xlsx)"),
                         validators=[FileRequired(_l("Choose the registry file first."))],
                         render_kw={"accept": ".csv,.xlsx"})


class VotingCodesForm(FlaskForm):
    """Print a sheet of new codes: for a grid's next residents without one, or for one resident."""
    grid = HiddenField(validators=[DataRequired(), Length(max=32)])
    resident = IntegerField(validators=[Optional()])
