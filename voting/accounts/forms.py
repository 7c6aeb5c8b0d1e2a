from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


class LogoutForm(FlaskForm):
    """Only the CSRF token: signing out changes state, so it is a POST."""


class PasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=200)])
    new = PasswordField(_l("New password"), validators=[DataRequired(), Length(min=8, max=200)])
    confirm = PasswordField(_l("New password again"),
                            validators=[DataRequired(), EqualTo("new", message=_l("The two new passwords differ."))])


class ActivateForm(FlaskForm):
    """A resident activates their account: the slip's code, the ID number's last six, a username and a
    password (twice: typed on a phone). What the fields must hold is checked by `activation.py`; the
    lengths here only keep a page from carrying megabytes."""
    voting_code = StringField(_l("Personal voting code (12 digits, on your slip)"),
                              validators=[DataRequired(), Length(max=40)],
                              render_kw={"inputmode": "numeric", "autocomplete": "one-time-code", "maxlength": 40})
    id_last6 = StringField(_l("Last six characters of your ID number"), validators=[DataRequired(), Length(max=20)],
                           render_kw={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false",
                                      "maxlength": 20})
    username = StringField(_l("Choose a username"), validators=[DataRequired(), Length(max=80)],
                           render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false",
                                      "maxlength": 80})
    password = PasswordField(_l("Choose a password"), validators=[DataRequired(), Length(max=200)],
                             render_kw={"autocomplete": "new-password", "maxlength": 200})
    confirm = PasswordField(_l("The password again"),
                            validators=[DataRequired(), EqualTo("password", message=_l("The two passwords differ."))],
                            render_kw={"autocomplete": "new-password", "maxlength": 200})
    community = HiddenField(validators=[Length(max=32)])
