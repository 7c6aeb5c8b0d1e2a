"""Deny by default: every endpoint needs a signed-in user unless marked `@public`.

Web pages know the user from the session (Flask-Login); the API only from a bearer token, so a
browser's cookie can never act through the API. `acting_user()` answers for both.
"""
from __future__ import annotations

import functools

from flask import current_app, g, request
from flask_babel import gettext as _
from flask_login import AnonymousUserMixin, current_user

from ..errors import Forbidden, Unauthorized


def public(view):
    """Mark a view as open to everyone, signed in or not."""
    view.is_public = True
    return view


def is_api_request() -> bool:
    return request.blueprint == "api" or (request.path or "").startswith("/api/")


def acting_user():
    """The signed-in user of this request (token for the API, session for pages). For the API the
    account is loaded on first use: `deny_by_default` checked the token (`bearer()`)."""
    if is_api_request():
        if "api_user" not in g:
            from ..extensions import db
            from .models import User

            g.api_user = db.session.get(User, g.api_bearer.id) if g.get("api_bearer") else None
        return g.api_user or AnonymousUserMixin()
    return current_user


def bearer():
    """The API request's `accounts.services.Bearer` (who its token stands for), or None."""
    return g.get("api_bearer")


def require_roles(*roles: str):
    """Allow the view only to signed-in users holding one of `roles`."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            user = acting_user()
            if not user.is_authenticated:
                raise Unauthorized(_("Please sign in first."))
            if user.role not in roles:
                raise Forbidden(_("Your account may not do this."))
            return view(*args, **kwargs)

        wrapper.allowed_roles = roles
        return wrapper

    return decorate


def require_scope(user, community_id: int) -> None:
    """Refuse when the user's scope does not cover the community.

    :raises Forbidden: for staff, grid workers and residents of another community.
    """
    if not user.can_act_in(community_id):
        raise Forbidden(_("This belongs to another community."))


def deny_by_default():
    """Before every request: let public endpoints and static files through, else require sign-in."""
    api = is_api_request()
    if api:
        g.api_bearer = _bearer()
        g.pop("api_user", None)  # loaded by `acting_user` for this bearer (`g` outlives a request in tests)
    if request.endpoint is None or request.endpoint == "static" or request.endpoint.endswith(".static"):
        return None
    view = current_app.view_functions.get(request.endpoint)
    if view is None or getattr(view, "is_public", False):
        return None
    if not (g.api_bearer if api else current_user.is_authenticated):
        raise Unauthorized(_("Please sign in first."))
    return None


def _bearer():
    from ..extensions import db
    from .services import user_for_token

    scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
    return user_for_token(db.session, token.strip()) if scheme.lower() == "bearer" and token.strip() else None
