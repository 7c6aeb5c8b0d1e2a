"""The proposal form. It renders the fields and carries the CSRF token; the rules live in
`services.clean_proposal`, whose errors are shown next to their field."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import MultipleFileField, SelectField, StringField, TextAreaField

from ..cycles.forms import options
from ..format import CATEGORY_LABELS
from .photos import MAX_BYTES
from .services import DESCRIPTION_LENGTH, LOCATION_LENGTH, TITLE_LENGTH


class ProposalForm(FlaskForm):
    title = StringField(_l("What should be done?"), render_kw={"maxlength": TITLE_LENGTH, "required": True,
                                                                 "autocomplete": "off"})
    description = TextAreaField(_l("Why is it needed? Who will it help?"),
                                render_kw={"maxlength": DESCRIPTION_LENGTH, "required": True, "rows": 5})
    category = SelectField(_l("Kind of project"), validate_choice=False,
                           choices=options([("", _l("Choose…")), *CATEGORY_LABELS.items()]))
    location = StringField(_l("Where? (building, street, courtyard)"),
                           render_kw={"maxlength": LOCATION_LENGTH})
    estimated_cost = StringField(_l("Estimated cost in yuan"), render_kw={"inputmode": "decimal",
                                                                          "autocomplete": "off"})
    photos = MultipleFileField(_l("Photos (optional)"),
                               render_kw={"accept": "image/jpeg,image/png,image/webp", "multiple": True,
                                          "data-max-bytes": MAX_BYTES})


def read_uploads(files) -> list[tuple[str, bytes]]:
    """The chosen files as (name, bytes), skipping the empty part a browser sends for none; reading
    stops just past the size limit so that an over-large file is refused without being held whole."""
    return [(f.filename, f.read(MAX_BYTES + 1)) for f in files or [] if f and f.filename]
