"""The resident registry: ID numbers are checked, then kept only as a keyed hash."""
from __future__ import annotations

import hashlib
import hmac

from flask_babel import gettext as _

from ..errors import Invalid

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"


def id_check_char(first17: str) -> str:
    """The check character of a resident ID number (GB 11643-1999)."""
    return _CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, _WEIGHTS)) % 11]


def validate_id_number(number: str) -> str:
    """Return the normalised 18-character ID number.

    :raises Invalid: when it is not 17 digits and a matching check character.
    """
    number = (number or "").strip().upper()
    if len(number) != 18 or not number[:17].isdigit() or number[17] not in "0123456789X":
        raise Invalid(_("An ID number has 17 digits and a check digit or X (18 characters)."), "bad_id_number")
    if id_check_char(number[:17]) != number[17]:
        raise Invalid(_("The ID number's check digit does not match; please check it."), "bad_id_number")
    return number


def hash_id_number(secret_key: str, number: str) -> str:
    """The keyed hash stored instead of the ID number (HMAC-SHA256 with the server's secret)."""
    key = hmac.new(secret_key.encode(), b"resident-id-number", hashlib.sha256).digest()
    return hmac.new(key, number.encode(), hashlib.sha256).hexdigest()
