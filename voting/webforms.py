"""The one way a page handles a posted form, for every feature's views.

    return handle_form(form, lambda: service(db.session, current_user, ..., form.x.data),
                       done=lambda result: saved(_("Saved."), url_for(...)),
                       again=lambda status: render_page(..., status=status))

A page that also answers GET shows its form with 200 (`again(200)`). An invalid form is shown
again with its field errors (`invalid`, 400 unless the page says otherwise); a valid one is applied
by a service call; a refusal rolls the transaction back and is shown on the page again with its own
status, by default next to the field it names (or above the form). On success `done` answers,
usually with `saved` (a flash and a redirect).

Which errors are refusals is the page's to say: `Invalid` and `Conflict` unless it names others in
`refusals` (`()`: none, every error goes to the app's error pages, as 403 and 404 always do
otherwise). Where a refusal is shown is `show`'s to say: `show_error` next to the field it names,
`show_error(form, error, field)` next to another, `flash_error` as a flash; each returns the status
to answer with. A page with nothing to show again (a button, a signed step) answers from `again`
itself, or raises there for the error pages.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from flask import Response, flash, redirect
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField

from .errors import Conflict, DomainError, Invalid
from .extensions import db
from .validation import query_int

T = TypeVar("T")


class WholeNumberField(IntegerField):
    """A whole number typed on a page: digits 0-9 only (WTForms' own field also takes other scripts'
    digits and numbers of any size) within ±MAX_INTEGER; bound it further with NumberRange."""

    def process_formdata(self, valuelist):
        if valuelist and valuelist[0].strip():
            try:
                self.data = query_int(valuelist[0].strip())
            except ValueError:
                self.data = None
                raise ValueError(_l("Write a whole number with the digits 0-9.")) from None


def show_error(form: FlaskForm, error: DomainError, field: str | None = None) -> int:
    """Put a service's refusal next to `field` (by default the field it names), else above the form;
    return its status."""
    shown = getattr(form, field or getattr(error, "field", None) or "", None)
    if shown is not None and hasattr(shown, "errors"):
        shown.errors = [*shown.errors, error.message]
    else:
        form.form_errors.append(error.message)
    return error.status


def flash_error(_form: FlaskForm, error: DomainError) -> int:
    """Say a service's refusal as a flash above the page (for a form with no place for it); return its status."""
    flash(error.message, "error")
    return error.status


def handle_form(form: FlaskForm, apply: Callable[[], T], *, done: Callable[[T], Response],
                again: Callable[[int], Response], invalid: int = 400,
                refusals: tuple[type[Exception], ...] = (Invalid, Conflict),
                show: Callable[[FlaskForm, Exception], int] = show_error) -> Response:
    """Validate, apply, answer: see the module's docstring."""
    if not form.is_submitted():
        return again(200)
    if not form.validate():
        return again(invalid)
    try:
        result = apply()
    except refusals as error:
        db.session.rollback()
        return again(show(form, error))
    return done(result)


def saved(message: str, url: str) -> Response:
    """Say what was saved (on the next page) and go there."""
    flash(message, "info")
    return redirect(url)


def refusal(form: FlaskForm) -> str | None:
    """The refusals `show_error` put above the form, as one message (for pages that show it at the top)."""
    return " ".join(str(m) for m in form.form_errors) or None
