"""Exact numbers for money, points and scores: ints where whole, Fractions otherwise, never floats.

The tally works in whatever unit it is given (yuan, fen, złoty): it never rounds, so a budget of
``1546168.66`` stays exactly that. ``Decimal`` inputs are accepted and turned into ``Fraction``.
"""
from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction
from typing import Union

Amount = Union[int, Fraction]
"""An exact number: an ``int`` when whole, otherwise a ``Fraction``."""

_DECIMAL = re.compile(r"\d+(?:\.\d+)?")


def normalize(value: int | Fraction) -> Amount:
    """Return ``value`` as an int when it is whole, else as a Fraction."""
    if isinstance(value, Fraction) and value.denominator == 1:
        return value.numerator
    return value


def exact(value: object) -> Amount:
    """Turn an int, Fraction, Decimal or decimal string into an exact amount.

    :raises TypeError: for floats and booleans (inexact or meaningless as money).
    :raises ValueError: for strings that are not plain decimals such as ``"1200"`` or ``"0.5"``.
    """
    if isinstance(value, (bool, float)):
        raise TypeError(f"{value!r} is not exact; use int, Fraction, Decimal or a decimal string")
    if isinstance(value, int):
        return value
    if isinstance(value, Fraction):
        return normalize(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a finite number")
        return normalize(Fraction(value))
    if isinstance(value, str):
        return parse_decimal(value)
    raise TypeError(f"{value!r} is not a number")


def parse_decimal(text: str) -> Amount:
    """Parse a non-negative plain decimal (``"1200"``, ``"1546168.66"``) exactly.

    :raises ValueError: for anything else, including ``"1,5"`` and ``"1e3"``.
    """
    text = text.strip()
    if not _DECIMAL.fullmatch(text):
        raise ValueError(f"'{text}' is not a plain decimal number (digits, optionally '.' and digits)")
    return normalize(Fraction(text))


def format_amount(value: Amount, grouped: bool = False) -> str:
    """Write an exact amount as a decimal string: ``1546168.66``; ``1,546,168.66`` when grouped.

    :raises ValueError: when the value has no finite decimal form (such as 1/3).
    """
    value = normalize(Fraction(value))
    sign = "-" if value < 0 else ""
    magnitude = abs(Fraction(value))
    places = _decimal_places(magnitude.denominator)
    if places is None:
        raise ValueError(f"{value} has no finite decimal form")
    scaled = magnitude.numerator * 10**places // magnitude.denominator
    whole, part = divmod(scaled, 10**places)
    whole_text = f"{whole:,}" if grouped else str(whole)
    return sign + whole_text + (f".{part:0{places}d}" if places else "")


def describe_amount(value: Amount) -> str:
    """Write an amount for people to read: grouped, exact when it has at most two decimals.

    Amounts with more decimals (shares of money split between voters) are rounded down to two
    decimals and prefixed with ``~``; the exact figure stays in the reason's arguments.
    """
    cents = Fraction(value) * 100
    if cents.denominator == 1:
        return format_amount(value, grouped=True)
    whole, part = divmod(math.floor(cents), 100)
    return f"~{whole:,}.{part:02d}"


def _decimal_places(denominator: int) -> int | None:
    """The number of decimals ``1/denominator`` needs, or None when it never terminates."""
    twos = fives = 0
    while denominator % 2 == 0:
        denominator //= 2
        twos += 1
    while denominator % 5 == 0:
        denominator //= 5
        fives += 1
    return max(twos, fives) if denominator == 1 else None
