"""Page forms of the public notice: a resident's objection and the staff's answer. The rules live in
`results.services`, whose refusals are shown next to the field."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import TextAreaField

from .services import MAX_OBJECTION_LENGTH


class ObjectionForm(FlaskForm):
    text = TextAreaField(_l("Your objection (shown publicly, without your name)"),
                         render_kw={"maxlength": MAX_OBJECTION_LENGTH, "rows": 4})


class AnswerForm(FlaskForm):
    text = TextAreaField(_l("The answer (shown publicly)"), render_kw={"maxlength": MAX_OBJECTION_LENGTH, "rows": 3})
