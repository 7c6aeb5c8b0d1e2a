from flask import flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from ..errors import Unauthorized
from ..extensions import db, limiter
from . import bp
from .access import public
from .forms import LoginForm, LogoutForm
from .services import authenticate


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit("20 per minute", methods=["POST"])
def login():
    """Sign in with username and password; a fresh session every time."""
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
def logout():
    """Sign out (POST); GET shows the button."""
    form = LogoutForm()
    if request.method == "POST" and form.validate_on_submit():
        logout_user()
        session.clear()
        flash(_("You have signed out."), "info")
        return redirect(url_for("geography.home"))
    if not current_user.is_authenticated:
        return redirect(url_for("geography.home"))
    return render_template("accounts/logout.html", form=form)


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site, never another host."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None
