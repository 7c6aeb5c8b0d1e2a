"""Backoff for sign-in and activation: failures are counted per account (or code) and address.

The counts live in Flask-Limiter's storage: Redis when VOTING_REDIS_URL is set (shared by every
worker and host), else the database (`limiter_storage.py`: PostgreSQL's own database, or a file
beside the SQLite database), shared by every worker of every host. Never per worker.

Only failures (401) count, so the right password or code is never counted, and a resident who
types theirs right is never slowed by their neighbours on the same address.

Sign-in (`/login`, `POST /api/v1/auth/token`):
- 10 failures per 15 minutes for one account from one address: the guesser's own address backs
  off; the resident elsewhere is not stopped (40 wrong passwords from one address count 10);
- 60 failures per hour for one account from all addresses (VOTING_SIGN_IN_FAILURES_PER_ACCOUNT):
  one address alone fails at most 10 times in any 15 minutes, so at most 50 times in an hour, and
  cannot engage it; guessing from many addresses at once does, and then the account waits too;
- 30 failures per 15 minutes from one address, whatever the accounts (trying many accounts);
- 60 attempts per minute from one address, failed or not (each costs a slow hash).

Activation with a voting code (`activation.py`): a wrong code or wrong ID digits answer 401 and count.
- 10 failures per 15 minutes for one code from one address (someone with a slip guessing the ID digits);
- 60 failures per hour for one code from all addresses (the same guessing spread over addresses);
- 20 failures per 15 minutes from one address (guessing codes);
- 30 attempts per minute from one address (each costs a slow hash).

Each number can be set for tests in the app's config under its name below.
"""
from __future__ import annotations

import hashlib
import re

from flask import current_app, request
from flask_limiter.util import get_remote_address

from ..extensions import limiter

LIMITS = {
    "SIGN_IN_FAILURES_PER_ACCOUNT_AND_ADDRESS": "10 per 15 minutes",
    "SIGN_IN_FAILURES_PER_ACCOUNT": "60 per hour",
    "SIGN_IN_FAILURES_PER_ADDRESS": "30 per 15 minutes",
    "SIGN_IN_ATTEMPTS_PER_ADDRESS": "60 per minute",
    "ACTIVATION_FAILURES_PER_CODE_AND_ADDRESS": "10 per 15 minutes",
    "ACTIVATION_FAILURES_PER_CODE": "60 per hour",
    "ACTIVATION_FAILURES_PER_ADDRESS": "20 per 15 minutes",
    "ACTIVATION_ATTEMPTS_PER_ADDRESS": "30 per minute",
}


def _limit(name: str):
    """The limit called `name`, read from the app's config at each request (LIMITS by default)."""
    return lambda: current_app.config.get(name, LIMITS[name])


def _field(name: str):
    body = request.get_json(silent=True) if request.is_json else None
    return (body or {}).get(name) if isinstance(body, dict) else request.form.get(name)


def _digest(value: str) -> str:
    """The storage holds neither usernames nor codes, and a key of bounded length."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _account() -> str:
    name = _field("username")
    return "account:" + _digest(name.strip().lower() if isinstance(name, str) else "")


def _account_and_address() -> str:
    return f"{_account()}@{get_remote_address()}"


def _failed(response) -> bool:
    return response.status_code == 401


def sign_in_limits(view):
    """Apply the sign-in limits to a view that answers 401 to wrong credentials."""
    for name, key, scope in (
        ("SIGN_IN_FAILURES_PER_ACCOUNT_AND_ADDRESS", _account_and_address, "sign-in-account-address"),
        ("SIGN_IN_FAILURES_PER_ACCOUNT", _account, "sign-in-account"),
        ("SIGN_IN_FAILURES_PER_ADDRESS", None, "sign-in-address"),  # None: the address, the limiter's key
    ):
        view = limiter.limit(_limit(name), key_func=key, deduct_when=_failed, methods=["POST"], scope=scope)(view)
    return limiter.limit(_limit("SIGN_IN_ATTEMPTS_PER_ADDRESS"), methods=["POST"], scope="sign-in-attempts")(view)


def _voting_code() -> str:
    """The code's digits, hashed."""
    code = _field("voting_code")
    return "code:" + _digest(re.sub(r"\D", "", code)[:40] if isinstance(code, str) else "")


def _voting_code_and_address() -> str:
    return f"{_voting_code()}@{get_remote_address()}"


def activation_limits(view):
    """Apply the activation limits to a view that answers 401 to a wrong code or wrong ID digits."""
    for name, key, scope in (
        ("ACTIVATION_FAILURES_PER_CODE_AND_ADDRESS", _voting_code_and_address, "activate-code-address"),
        ("ACTIVATION_FAILURES_PER_CODE", _voting_code, "activate-code"),
        ("ACTIVATION_FAILURES_PER_ADDRESS", None, "activate-address"),
    ):
        view = limiter.limit(_limit(name), key_func=key, deduct_when=_failed, methods=["POST"], scope=scope)(view)
    return limiter.limit(_limit("ACTIVATION_ATTEMPTS_PER_ADDRESS"), methods=["POST"], scope="activate-attempts")(view)
