from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from ..config import secret_keys
from ..database import transactional
from ..errors import DomainError, Unauthorized
from ..extensions import db
from ..security import safe_path
from ..webforms import flash_error, handle_form, saved, show_error
from .access import public
from .activation import Activated, Activation, activate_account
from .limits import activation_limits, sign_in_limits
from .forms import ActivateForm, LoginForm, LogoutForm, PasswordForm
from .services import authenticate, change_password, end_sessions

bp = Blueprint("accounts", __name__)


@bp.route("/login", methods=["GET", "POST"])
@public
@sign_in_limits
def login():
    """Sign in with username and password; a fresh session every time. It writes nothing (the
    session is the cookie), so it is not `@transactional`: the password hash holds no write lock."""
    form = LoginForm()
    return handle_form(
        form, lambda: authenticate(db.session, form.username.data.strip(), form.password.data),
        done=_signed_in,
        again=lambda status: (render_template("accounts/login.html", form=form), status),
        refusals=(Unauthorized,), show=flash_error)  # a wrong password answers 401: the limits count it


def _signed_in(user):
    session.clear()
    login_user(user)
    return redirect(safe_path(request.args.get("next")) or url_for("me.home"))  # their own page


@bp.route("/logout", methods=["GET", "POST"])
@public
@transactional
def logout():
    """Sign out (POST); GET shows the button."""
    form = LogoutForm()

    def sign_out():
        if current_user.is_authenticated:
            end_sessions(current_user)
        logout_user()
        session.clear()

    def again(_status):  # the GET, or a form with only its CSRF token refused: the button again
        if not current_user.is_authenticated:
            return redirect(url_for("geography.home"))
        return render_template("accounts/logout.html", form=form)

    return handle_form(form, sign_out, done=lambda _r: saved(_("You have signed out."), url_for("geography.home")),
                       again=again)


@bp.route("/account/password", methods=["GET", "POST"])
@transactional
def change_password_page():
    """Change the password; every other session and token of the account ends."""
    form = PasswordForm()
    return handle_form(
        form, lambda: change_password(db.session, current_user, form.current.data, form.new.data),
        done=_password_changed,
        # a wrong current password beside it, a weak new one beside that; any error answers 400
        again=lambda _status: (render_template("accounts/password.html", form=form), 400 if form.errors else 200),
        refusals=(DomainError,),
        show=lambda form, error: show_error(form, error, "current" if error.status == 401 else "new"))


def _password_changed(_none):
    login_user(current_user)  # this session carries the new session version
    return saved(_("Your password has been changed. Other devices have been signed out."), url_for("geography.home"))


# Which field of the activation page a refusal belongs next to (the rest go above the form).
_ACTIVATION_FIELDS = {"bad_voting_code": "voting_code", "bad_id_last6": "id_last6", "bad_username": "username",
                      "username_taken": "username", "weak_password": "password", "too_long": "password"}


@bp.route("/activate", methods=["GET", "POST"])
@public
@activation_limits
@transactional
def activate_page():
    """A resident activates their account (or replaces a lost password) with the slip's code and ID digits."""
    if current_user.is_authenticated:  # a grid worker's phone, say: never activate as, or for, the signed-in
        return render_template("accounts/activate.html", form=None), 409 if request.method == "POST" else 200
    form = ActivateForm(community=request.args.get("community", "")[:32])
    return handle_form(
        form, lambda: activate_account(db.session, Activation(form.voting_code.data, form.id_last6.data,
                                                              form.username.data, form.password.data,
                                                              form.community.data or None),
                                       secret_keys(current_app.config)),
        done=_activated,
        again=lambda status: (render_template("accounts/activate.html", form=form), status),
        refusals=(DomainError,),  # a wrong code or wrong ID digits answer 401: the limits count it
        show=lambda form, error: show_error(form, error, _ACTIVATION_FIELDS.get(error.code)))


def _activated(done: Activated):
    session.clear()
    login_user(done.user)
    return saved(_("Your account '%(u)s' is ready and you are signed in.", u=done.user.username)
                 if not done.replaced else
                 _("Your new password is set and you are signed in as '%(u)s'. Other devices have been signed out.",
                   u=done.user.username),
                 url_for("geography.community", code=done.user.community.code))
