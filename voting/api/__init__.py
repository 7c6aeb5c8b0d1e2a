"""The JSON API under /api/v1 (SPEC §5): bearer tokens, one error shape, an OpenAPI document.

Each feature adds its routes to `bp` in its own `api.py`; this package holds what they share.
"""
from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from ..errors import BadRequest, DomainError

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def error_response(code: str, message: str, status: int, headers=None):
    """The API's one error shape: {"error": {"code", "message"}}."""
    response = jsonify({"error": {"code": code, "message": message}})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def json_body() -> dict:
    """The request's JSON object.

    :raises BadRequest: when the body is not a JSON object.
    """
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest(_("The request body must be a JSON object."), "malformed_json")
    return body


def handle_domain_error(error: DomainError):
    headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
    return error_response(error.code, error.message, error.status, headers)


def handle_http_error(error: HTTPException):
    code = (error.name or "error").lower().replace(" ", "_")
    return error_response(code, error.description or error.name, error.code or 500)


from . import openapi  # noqa: E402,F401
