"""Named errors raised by services; views and the API turn them into a flash or a 4xx."""
from __future__ import annotations


class DomainError(Exception):
    """A refusal the user can act on: a stable code, a message, and an HTTP status."""

    status = 422
    code = "invalid"

    def __init__(self, message: str, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status


class BadRequest(DomainError):
    status, code = 400, "bad_request"


class Unauthorized(DomainError):
    status, code = 401, "unauthorized"


class Forbidden(DomainError):
    status, code = 403, "forbidden"


class NotFound(DomainError):
    status, code = 404, "not_found"


class Conflict(DomainError):
    status, code = 409, "conflict"


class Invalid(DomainError):
    status, code = 422, "invalid"
