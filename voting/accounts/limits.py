"""Backoff for sign-in: failed attempts are counted per account and per address.

The counts live in Flask-Limiter's storage (Redis when VOTING_REDIS_URL is set, shared by every
worker and host). Only failures (401) count, so a resident who types the password right is never
slowed by their neighbours on the same address.
"""
from __future__ import annotations

from flask import request

from ..extensions import limiter

FAILURES_PER_ACCOUNT = "10 per 15 minutes"
FAILURES_PER_ADDRESS = "30 per 15 minutes"
ATTEMPTS_PER_ADDRESS = "60 per minute"


def _username() -> str:
    body = request.get_json(silent=True) if request.is_json else None
    name = (body or {}).get("username") if isinstance(body, dict) else request.form.get("username")
    return "account:" + (name.strip().lower() if isinstance(name, str) else "")


def _failed(response) -> bool:
    return response.status_code == 401


def sign_in_limits(view):
    """Apply the sign-in limits to a view that answers 401 to wrong credentials."""
    view = limiter.limit(FAILURES_PER_ACCOUNT, key_func=_username, deduct_when=_failed, methods=["POST"],
                         scope="sign-in-account")(view)
    view = limiter.limit(FAILURES_PER_ADDRESS, deduct_when=_failed, methods=["POST"], scope="sign-in-address")(view)
    return limiter.limit(ATTEMPTS_PER_ADDRESS, methods=["POST"], scope="sign-in-attempts")(view)
