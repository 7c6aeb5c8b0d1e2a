"""Backoff for sign-in: failed attempts are counted per account and per address.

The counts live in Flask-Limiter's storage (Redis when VOTING_REDIS_URL is set, shared by every
worker and host). Only failures (401) count, so a resident who types the password right is never
slowed by their neighbours on the same address.
"""
from __future__ import annotations

import hashlib
import re

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


# Activation with a voting code (`activation.py`): wrong code or ID digits answer 401 and count.
ACTIVATION_FAILURES_PER_CODE = "10 per 15 minutes"  # someone who found a slip guessing the ID digits
ACTIVATION_FAILURES_PER_ADDRESS = "20 per 15 minutes"  # guessing codes
ACTIVATION_ATTEMPTS_PER_ADDRESS = "30 per minute"  # each attempt costs a slow hash


def _voting_code() -> str:
    """The code's digits, hashed: the limiter's storage never holds a code."""
    body = request.get_json(silent=True) if request.is_json else None
    code = (body or {}).get("voting_code") if isinstance(body, dict) else request.form.get("voting_code")
    digits = re.sub(r"\D", "", code)[:40] if isinstance(code, str) else ""
    return "code:" + hashlib.sha256(digits.encode()).hexdigest()[:32]


def activation_limits(view):
    """Apply the activation limits to a view that answers 401 to a wrong code or wrong ID digits."""
    view = limiter.limit(ACTIVATION_FAILURES_PER_CODE, key_func=_voting_code, deduct_when=_failed, methods=["POST"],
                         scope="activate-code")(view)
    view = limiter.limit(ACTIVATION_FAILURES_PER_ADDRESS, deduct_when=_failed, methods=["POST"],
                         scope="activate-address")(view)
    return limiter.limit(ACTIVATION_ATTEMPTS_PER_ADDRESS, methods=["POST"], scope="activate-attempts")(view)
