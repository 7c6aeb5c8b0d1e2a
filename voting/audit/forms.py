"""Forms of the audit pages."""
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField


class LogFilterForm(FlaskForm):
    """The action log's filters (a GET form: no CSRF token). A value not among the choices shows
    everything, as the page's own links never send one."""

    class Meta:
        csrf = False

    action = SelectField(_l("Action"), default="", choices=[])
    community = SelectField(_l("Community"), default="", choices=[])
