"""The last six characters of a resident's ID number, which a resident types to activate their
account: kept only as a salted keyed hash (the registry never keeps the ID number itself)."""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata

ID_LAST6 = re.compile(r"^\d{5}[\dX]$")
_SCHEME = "hmac-sha256"


def normalise_id_last6(text: str) -> str | None:
    """The six characters as typed (full-width digits, a lower-case x, spaces) in their stored form,
    or None when they cannot be the end of an ID number (five digits, then a digit or X)."""
    raw = re.sub(r"\s", "", unicodedata.normalize("NFKC", text or "")).upper()
    return raw if ID_LAST6.match(raw) else None


def hash_id_last6(secret_key: str, number: str, salt: str | None = None) -> str:
    """The stored hash of the last six characters of the (normalised, 18-character) ID number:
    `hmac-sha256$<salt>$<HMAC-SHA256 under the server's key>`. The salt is the resident's own, so
    residents whose numbers end alike do not share a hash."""
    salt = salt or secrets.token_hex(8)
    key = hmac.new(secret_key.encode(), b"resident-id-last6", hashlib.sha256).digest()
    digest = hmac.new(key, f"{salt}:{number[-6:]}".encode(), hashlib.sha256).hexdigest()
    return f"{_SCHEME}${salt}${digest}"


def id_last6_matches(keys, stored: str | None, last6: str) -> bool:
    """Whether `last6` (normalised) is the end of the ID number behind `stored`, under any of the
    server's keys (the current one first, then those of a rotation)."""
    if not stored or stored.count("$") != 2:
        return False
    scheme, salt, _digest = stored.split("$")
    if scheme != _SCHEME:
        return False
    return any(hmac.compare_digest(hash_id_last6(key, last6, salt), stored) for key in keys)
