"""The JSON API under /api/v1 (SPEC §5): bearer tokens, one error shape, an OpenAPI document.

Each feature adds its routes to `bp` in its own `api.py` (which `create_app` imports, with
`openapi`); this package holds what they share, and the bounds of every JSON body the app reads
(`JSONProvider`, `Request`: whoever calls `request.get_json`, a view, a schema or a rate limit).
"""
from __future__ import annotations

import json

import flask
from flask import Blueprint, jsonify, request
from flask.json.provider import DefaultJSONProvider
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from ..errors import BadRequest, DomainError

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def error_response(code: str, message: str, status: int, headers=None, fields=None):
    """The API's one error shape: {"error": {"code", "message"}}, with `fields` (each refused field:
    {"field", "code", "message"}) when the refusal is about fields of the request."""
    error = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    response = jsonify({"error": error})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


# A JSON body is small (a ballot, a proposal, a payment): photos come as multipart forms, whose bound
# is MAX_CONTENT_LENGTH. Nesting beyond a few levels is never meant.
MAX_JSON_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 32


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, reading only UTF-8, at most MAX_JSON_DEPTH levels of arrays and objects, and no
    NUL character (`\\u0000`, which PostgreSQL's text cannot hold).

    A refusal is a ValueError, which `request.get_json` answers as a body that is not JSON (None
    when silent, else 400), so deep nesting never reaches Python's recursion limit (a 500)."""

    def loads(self, s: str | bytes, **kwargs):
        try:
            text = s.decode("utf-8") if isinstance(s, bytes | bytearray) else s
            value = json.loads(text, **kwargs)
        except RecursionError:  # the C decoder stops itself at Python's recursion limit
            raise ValueError("JSON nested too deeply") from None
        if "\\u0000" in text:  # a raw NUL is refused by the decoder itself
            raise ValueError("JSON with a NUL character")
        if _too_deep(value):
            raise ValueError("JSON nested too deeply")
        return value


def _too_deep(value) -> bool:
    """Whether arrays and objects nest beyond MAX_JSON_DEPTH (walked without recursion)."""
    level = [value]
    for _depth in range(MAX_JSON_DEPTH):
        level = [item for container in level if isinstance(container, dict | list)
                 for item in (container.values() if isinstance(container, dict) else container)]
        if not level:
            return False
    return any(isinstance(item, dict | list) for item in level)


class Request(flask.Request):
    """A request whose JSON body may hold at most MAX_JSON_BYTES (413 beyond, before it is read)."""

    @property
    def max_content_length(self) -> int | None:
        limit = flask.Request.max_content_length.fget(self)
        if self.is_json:
            return min(limit, MAX_JSON_BYTES) if limit else MAX_JSON_BYTES
        return limit

    @max_content_length.setter
    def max_content_length(self, value: int | None) -> None:
        self._max_content_length = value


def json_body() -> dict:
    """The request's JSON object (UTF-8, at most MAX_JSON_BYTES and MAX_JSON_DEPTH levels deep).

    :raises BadRequest: `malformed_json` when the body is not a JSON object.
    :raises RequestEntityTooLarge: (413) beyond MAX_JSON_BYTES.
    """
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest(_("The request body must be a JSON object."), "malformed_json")
    return body


def handle_domain_error(error: DomainError):
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return error_response(error.code, error.message, error.status, headers, fields=refused_fields(error))


def refused_fields(error: DomainError) -> list[dict] | None:
    """The fields a refusal names: every field of a refused body, or the one field a service refused."""
    if hasattr(error, "fields"):
        return [refusal.model_dump() for refusal in error.fields]
    if hasattr(error, "field"):
        return [{"field": error.field, "code": error.code, "message": error.message}]
    return None


HTTP_MESSAGES = {
    400: _l("The request could not be understood. Please go back and try again."),
    403: _l("Your account may not do this."),
    404: _l("There is no such page. Please check the address."),
    405: _l("This address does not take that kind of request."),
    413: _l("What you sent is too large."),
    429: _l("Too many attempts. Please wait a few minutes and try again."),
}


def http_error_message(error: HTTPException) -> str:
    """What a Flask or Werkzeug error says, in the reader's language.

    Werkzeug's own descriptions (and Flask-Limiter's, which names the limit) are English; a
    description a view gave itself is kept.
    """
    if isinstance(error, CSRFError):
        return _("The form had expired; please try again.")
    if error.code != 429 and error.description and error.description != type(error).description:
        return error.description
    if error.code in HTTP_MESSAGES:
        return str(HTTP_MESSAGES[error.code])
    if (error.code or 500) >= 500:
        return _("Something went wrong on our side.")
    return _("We could not do that")


def handle_http_error(error: HTTPException):
    code = (error.name or "error").lower().replace(" ", "_")
    return error_response(code, http_error_message(error), error.code or 500)

