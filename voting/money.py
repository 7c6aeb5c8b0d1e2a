"""Money is integer fen (分); shown and exchanged as yuan with two decimals."""
from __future__ import annotations

from decimal import Decimal, InvalidOperation

FEN_PER_YUAN = 100


class MoneyError(ValueError):
    """A money amount that is not a valid number of yuan."""


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
    """Parse yuan (string, int or Decimal; at most two decimals) into fen.

    :raises MoneyError: when the value is not a finite number with at most two decimals.
    """
    if isinstance(value, bool) or isinstance(value, float):
        raise MoneyError("amount must be a decimal string such as '35000.00'")
    try:
        amount = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        raise MoneyError(f"'{value}' is not an amount of yuan") from None
    if not amount.is_finite():
        raise MoneyError(f"'{value}' is not an amount of yuan")
    fen = amount * FEN_PER_YUAN
    if fen != fen.to_integral_value():
        raise MoneyError("amounts have at most two decimals (fen)")
    return int(fen)
