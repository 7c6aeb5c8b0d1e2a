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
from ..extensions import db
from .models import User
from .services import user_for_token


def public(view):
    """Mark a view as open to everyone, signed in or not."""
    view.is_public = True
    return view


def is_api_request() -> bool:
    return request.blueprint == "api" or (request.path or "").startswith("/api/")


def acting_user():
    """The signed-in user of this request (token for the API, session for pages). For the API the
    account is loaded on first use: `deny_by_default` (or the view, see `reads_own_token`) read the
    token's `accounts.services.Bearer` into `g.api_bearer`."""
    if is_api_request():
        if "api_user" not in g:
            g.api_user = db.session.get(User, g.api_bearer.id) if g.get("api_bearer") else None
        return g.api_user or AnonymousUserMixin()
    return current_user


def reads_own_token(view):
    """Mark an API view that reads its bearer token itself, in its first statement, instead of
    `deny_by_default` in a statement of its own: a round trip fewer on casting, the API's busiest
    call. Before anything else it must hand what it read to `accept_bearer`, which refuses (401)
    a missing, unknown or ended token."""
    view.reads_own_token = True
    return view


def presented_token() -> str | None:
    """The API request's bearer token as sent (`Authorization: Bearer …`), or None."""
    scheme, _sep, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def accept_bearer(found):
    """For a view marked `@reads_own_token`: make `found` (`accounts.services.Bearer`, or None for
    a missing, unknown or ended token) this request's bearer.

    :raises Unauthorized: when it is None.
    """
    if found is None:
        raise Unauthorized(_("Please sign in first."))
    g.api_bearer = found
    return found


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


def deny_by_default():
    """Before every request: let public endpoints and static files through, else require sign-in
    (an API view marked `@reads_own_token` checks its token itself: here only that one was sent, so
    that a caller without one hears 401 before anything about its body)."""
    api = is_api_request()
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    own_token = getattr(view, "reads_own_token", False)
    if api:
        g.api_bearer = None if own_token else _bearer()
        g.pop("api_user", None)  # loaded by `acting_user` for this bearer (`g` outlives a request in tests)
    if request.endpoint is None or request.endpoint == "static" or request.endpoint.endswith(".static"):
        return None
    if view is None or getattr(view, "is_public", False) or (api and own_token and presented_token()):
        return None
    if own_token or not (g.api_bearer if api else current_user.is_authenticated):
        raise Unauthorized(_("Please sign in first."))
    return None


def _bearer():
    token = presented_token()
    return user_for_token(db.session, token) if token else None
