"""The one way a page handles a posted form, for every feature's views.

    return handle_form(form, lambda: service(db.session, current_user, ..., form.x.data),
                       done=lambda result: saved(_("Saved."), url_for(...)),
                       again=lambda status: render_page(..., status=status))

An invalid form is shown again with its field errors (`invalid`, 400 unless the page says
otherwise); a valid one is applied by a service call; a refusal (`Invalid`, `Conflict`) rolls the
transaction back and is shown next to the field it names, with its own status; on success `done`
answers, usually with `saved` (a flash and a redirect). Other errors (403, 404) go to the app's
error pages.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Response, flash, redirect
from flask_wtf import FlaskForm

from .errors import Conflict, DomainError, Invalid
from .extensions import db

T = TypeVar("T")


def handle_form(form: FlaskForm, apply: Callable[[], T], *, done: Callable[[T], Response],
                again: Callable[[int], Response], invalid: int = 400) -> Response:
    """Validate, apply, answer: see the module's docstring."""
    if not form.validate_on_submit():
        return again(invalid)
    try:
        result = apply()
    except (Invalid, Conflict) as error:
        db.session.rollback()
        return again(show_error(form, error))
    return done(result)


def saved(message: str, url: str) -> Response:
    """Say what was saved (on the next page) and go there."""
    flash(message, "info")
    return redirect(url)


def refusal(form: FlaskForm) -> str | None:
    """The refusals `show_error` put above the form, as one message (for pages that show it at the top)."""
    return " ".join(str(m) for m in form.form_errors) or None


def show_error(form: FlaskForm, error: DomainError) -> int:
    """Put a service's refusal next to the field it names (or above the form); return its status."""
    field = getattr(form, getattr(error, "field", None) or "", None)
    if field is not None and hasattr(field, "errors"):
        field.errors = [*field.errors, error.message]
    else:
        form.form_errors.append(error.message)
    return error.status
