"""Money is integer fen (分); shown and exchanged as yuan with two decimals."""
from __future__ import annotations

import math
import re
from decimal import Decimal

FEN_PER_YUAN = 100
# Far above any fund (at most 10 million yuan), far below what an integer column holds.
MAX_FEN = 10**12
# Digits 0-9 only (`\d` would take full-width and other scripts' digits), at most two decimals.
AMOUNT = re.compile(r"([0-9]+)(?:\.([0-9]{1,2}))?", re.ASCII)
# The longest text worth reading: the digits of MAX_FEN in yuan, a point and two decimals (with room
# for leading zeros); anything longer is refused before the pattern runs.
_LONGEST = 32


class MoneyError(ValueError):
    """A money amount that is not a valid number of yuan."""


class AmountTooLarge(MoneyError):
    """An amount written well but beyond `MAX_FEN`."""


def yuan(fen: int) -> str:
    """Format fen as a yuan string with two decimals: 20000000 -> '200000.00'."""
    sign = "-" if fen < 0 else ""
    whole, part = divmod(abs(int(fen)), FEN_PER_YUAN)
    return f"{sign}{whole}.{part:02d}"


def yuan_grouped(fen: int) -> str:
    """Format fen for reading: 20000000 -> '200,000', 1234550 -> '12,345.50'."""
    whole, part = divmod(abs(int(fen)), FEN_PER_YUAN)
    text = f"{whole:,}" + (f".{part:02d}" if part else "")
    return ("-" if fen < 0 else "") + text


def parse_yuan(value) -> int:
    """Parse an amount of yuan into fen: ASCII digits with at most two decimals (`"35000"`,
    `"35000.5"`, `"35000.50"`), or a JSON number of the same (35000, 35000.5), from 0 up to
    `MAX_FEN`.

    Everything else is refused before any arithmetic: signs, exponents (`"1e999997"`), separators
    (`"35,5"`, `"1_000"`, `"1 000"`), full-width or other Unicode digits, booleans, NaN and infinity,
    and a float whose shortest form has more than two decimals.

    :raises MoneyError: when the value is not such an amount (`AmountTooLarge` beyond `MAX_FEN`).
    """
    if isinstance(value, bool):
        raise MoneyError("an amount is a number of yuan, not true or false")
    if isinstance(value, int):
        text = str(value) if 0 <= value <= MAX_FEN else ""
    elif isinstance(value, float):
        text = repr(value) if math.isfinite(value) and 0 <= value <= MAX_FEN else ""  # the shortest form
    elif isinstance(value, Decimal):
        text = format(value, "f") if value.is_finite() and 0 <= value <= MAX_FEN else ""
    elif isinstance(value, str):
        text = value.strip()
    else:
        text = ""
    match = AMOUNT.fullmatch(text) if len(text) <= _LONGEST else None
    if match is None:
        raise MoneyError("write the amount in yuan with digits 0-9 and at most two decimals, such as 35000.50")
    whole, part = match.group(1), (match.group(2) or "").ljust(2, "0")
    fen = int(whole) * FEN_PER_YUAN + int(part)
    if fen > MAX_FEN:
        raise AmountTooLarge(f"amounts are at most {MAX_FEN // FEN_PER_YUAN} yuan")
    return fen
