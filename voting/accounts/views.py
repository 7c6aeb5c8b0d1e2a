from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from ..config import secret_keys
from ..database import transactional
from ..errors import DomainError, Unauthorized
from ..extensions import db
from .access import public
from .activation import Activation, activate_account
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
    if form.validate_on_submit():
        try:
            user = authenticate(db.session, form.username.data.strip(), form.password.data)
        except Unauthorized as error:
            flash(error.message, "error")
            return render_template("accounts/login.html", form=form), 401
        session.clear()
        login_user(user)
        return redirect(_safe_next(request.args.get("next")) or url_for("geography.home"))
    return render_template("accounts/login.html", form=form), 400 if form.errors else 200


@bp.route("/logout", methods=["GET", "POST"])
@public
@transactional
def logout():
    """Sign out (POST); GET shows the button."""
    form = LogoutForm()
    if request.method == "POST" and form.validate_on_submit():
        if current_user.is_authenticated:
            end_sessions(current_user)
        logout_user()
        session.clear()
        flash(_("You have signed out."), "info")
        return redirect(url_for("geography.home"))
    if not current_user.is_authenticated:
        return redirect(url_for("geography.home"))
    return render_template("accounts/logout.html", form=form)


@bp.route("/account/password", methods=["GET", "POST"])
@transactional
def change_password_page():
    """Change the password; every other session and token of the account ends."""
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            change_password(db.session, current_user, form.current.data, form.new.data)
        except DomainError as error:
            field = form.current if error.status == 401 else form.new
            field.errors.append(error.message)
        else:
            login_user(current_user)  # this session carries the new session version
            flash(_("Your password has been changed. Other devices have been signed out."), "info")
            return redirect(url_for("geography.home"))
    return render_template("accounts/password.html", form=form), 400 if form.errors else 200


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
    if form.validate_on_submit():
        try:
            done = activate_account(db.session, Activation(form.voting_code.data, form.id_last6.data,
                                                           form.username.data, form.password.data,
                                                           form.community.data or None),
                                    secret_keys(current_app.config))
        except DomainError as error:
            db.session.rollback()
            field = getattr(form, _ACTIVATION_FIELDS.get(error.code, ""), None)
            if field is not None:
                field.errors = [*field.errors, error.message]
            else:
                form.form_errors.append(error.message)
            return render_template("accounts/activate.html", form=form), error.status
        session.clear()
        login_user(done.user)
        flash(_("Your account '%(u)s' is ready and you are signed in.", u=done.user.username)
              if not done.replaced else
              _("Your new password is set and you are signed in as '%(u)s'. Other devices have been signed out.",
                u=done.user.username), "info")
        return redirect(url_for("geography.community", code=done.user.community.code))
    return render_template("accounts/activate.html", form=form), 400 if form.errors else 200


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site, never another host."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None
