"""The codes of voting: the pseudonymous voter code, receipts, and personal voting codes."""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets

# Crockford's base32: no I, L, O or U, so a code read aloud or typed from paper is unambiguous.
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_READ = str.maketrans({"O": "0", "I": "1", "L": "1"})
RECEIPT_CHARS = 12
VOTER_CODE_HEX = 24
KEY_FINGERPRINT_HEX = 16
VOTING_CODE_DIGITS = 12
_RECEIPT_PATTERN = re.compile(rf"^[{CROCKFORD}]{{{RECEIPT_CHARS}}}$")


def voter_code(secret_key: str, cycle_id: int, resident_id: int) -> str:
    """The voter's pseudonym in a cycle's ballot record: HMAC-SHA256 keyed by the server's secret,
    truncated to 24 hex digits (96 bits). The roll never stores it; only the key links the two."""
    digest = hmac.new(secret_key.encode(), f"voter:{cycle_id}:{resident_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:VOTER_CODE_HEX]


def key_fingerprint(secret_key: str) -> str:
    """What a cycle's chain head stores of the key its voter codes come from: 16 hex digits of an
    HMAC under the key (names the key without revealing it)."""
    return hmac.new(secret_key.encode(), b"voting:voter-key", hashlib.sha256).hexdigest()[:KEY_FINGERPRINT_HEX]


def key_with_fingerprint(keys, fingerprint: str | None) -> str | None:
    """Of the server's keys (the current one first, then the fallbacks of a rotation), the one a
    cycle's voter codes come from: the current key for a cycle with no ballot yet (`fingerprint`
    None), else the key with that fingerprint, or None when this server holds no such key."""
    if fingerprint is None:
        return keys[0]
    return next((key for key in keys if key_fingerprint(key) == fingerprint), None)


def new_receipt() -> str:
    """A random receipt code, 12 Crockford base32 characters (60 bits) grouped XXXX-XXXX-XXXX."""
    bits = secrets.randbits(5 * RECEIPT_CHARS)  # one draw; each character is 5 of its bits
    return _group("".join(CROCKFORD[(bits >> 5 * i) & 31] for i in range(RECEIPT_CHARS)))


def normalise_receipt(text: str) -> str | None:
    """A receipt as typed (any case, spaces or dashes, O for 0, I or L for 1) in its stored form,
    or None when it cannot be a receipt."""
    raw = re.sub(r"[\s\-]", "", (text or "").upper()).translate(_CROCKFORD_READ)
    return _group(raw) if _RECEIPT_PATTERN.match(raw) else None


def new_voting_code() -> str:
    """A personal voting code: 12 random digits grouped in fours (40 bits), easy to read aloud."""
    digits = "".join(secrets.choice("0123456789") for _ in range(VOTING_CODE_DIGITS))
    return " ".join(digits[i:i + 4] for i in range(0, VOTING_CODE_DIGITS, 4))


VOTING_CODE_TAG_HEX = 4


def voting_code_tag(secret_key: str, digits: str) -> str:
    """A short keyed tag of a voting code's digits (HMAC-SHA256 under the server's key, 4 hex digits:
    16 bits), stored beside the code's slow hash so that activation finds the code's resident among
    a few candidates (a district's 280,000 residents share 65,536 tags: about 4 a tag) instead of
    checking a slow hash for everyone. It says nothing without the key; with the key it narrows a
    code's 10^12 possibilities only to about 1.5 × 10^7 slow hashes."""
    digest = hmac.new(secret_key.encode(), b"voting-code-tag:" + digits.encode(), hashlib.sha256)
    return digest.hexdigest()[:VOTING_CODE_TAG_HEX]


def normalise_voting_code(text: str) -> str:
    """Only the digits of a voting code as typed."""
    return re.sub(r"\D", "", text or "")


def _group(raw: str) -> str:
    return "-".join(raw[i:i + 4] for i in range(0, len(raw), 4))
