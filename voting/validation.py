"""Reading user input once, for pages and the API alike, for every feature.

Services call these on the raw values of a form or a JSON body; each refusal is an `InvalidField`
that names the field to fix, so a page can show it next to the field and the API can answer it in
the one error shape (`{"error": {"code", "message"}}`).

The codes, one vocabulary for the app:

- `missing_<field>` a required value is empty (`missing_payee`, `missing_reason`, ...);
- `not_text`, `too_long`: a text of the wrong type or length;
- `bad_amount` not an amount of yuan, or (tracking) not more than zero; `cost_not_positive`,
  `cost_above_fund` a cost outside (0, fund];
- `not_a_number`, `out_of_range` a whole number (digits 0-9 only);
- `bad_time` a time, `bad_date` a date (YYYY-MM-DD), both in the years EARLIEST_YEAR to LATEST_YEAR.

A feature's own rules (a date before funding, spending beyond the fund, a score outside 1–5) raise
`InvalidField` too, with their own code beside the rule.
"""
from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from flask_babel import gettext as _

from .errors import Invalid
from .money import FEN_PER_YUAN, MAX_FEN, AmountTooLarge, MoneyError, parse_yuan

LOCAL_ZONE = ZoneInfo("Asia/Shanghai")
# A whole number as a person or a client writes it: an optional minus and digits 0-9 (`int()` alone
# also takes "1_000", "+ 5" and other scripts' digits); past 40 digits it is not worth reading.
_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,40}")
# The years a date or a time of this service may fall in (a fund's year, a vote, a payment).
EARLIEST_YEAR, LATEST_YEAR = 2000, 2100
# The largest whole number a column holds: ids, years and counts are PostgreSQL `integer`s (32 bits);
# a larger id in a route or a body is no such row, never a database error.
MAX_INTEGER = 2**31 - 1


class InvalidField(Invalid):
    """A refused input value, with the name of the field it came from."""

    def __init__(self, field: str, message: str, code: str = "invalid"):
        super().__init__(message, code)
        self.field = field


def text_value(value, field: str, label: str, *, max_length: int, required: bool = True) -> str | None:
    """The trimmed text, or None when optional and empty.

    :raises InvalidField: when missing, not text, or longer than `max_length` characters.
    """
    value = text_or_none(value, field, label)
    value = (value or "").strip()
    if not value:
        if required:
            raise InvalidField(field, _("%(field)s is required.", field=label), "missing_" + field)
        return None
    if len(value) > max_length:
        raise InvalidField(
            field, _("%(field)s may be at most %(n)d characters (now %(length)d).",
                     field=label, n=max_length, length=len(value)), "too_long",
        )
    return value


def text_or_none(value, field: str, label: str) -> str | None:
    """The value untouched when it is text or absent (None).

    :raises InvalidField: when it is anything else (a number, a list).
    """
    if value is not None and not isinstance(value, str):
        raise InvalidField(field, _("%(field)s must be text.", field=label), "not_text")
    return value


def yuan_value(value, field: str, label: str) -> int:
    """An amount of yuan (`"12000.50"`, digits 0-9, at most two decimals, no sign) as fen.

    :raises InvalidField: `missing_<field>` when empty, `bad_amount` when not an amount of yuan
        (`money.parse_yuan` says which forms are) or beyond `money.MAX_FEN`.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InvalidField(field, _("%(field)s is required.", field=label), "missing_" + field)
    try:
        return parse_yuan(value)
    except AmountTooLarge:
        most = f"{MAX_FEN // FEN_PER_YUAN:,}"
        raise InvalidField(field, _("%(field)s may be at most %(max)s yuan.", field=label, max=most),
                           "bad_amount") from None
    except MoneyError:
        raise InvalidField(
            field, _("%(field)s must be an amount of yuan written with the digits 0-9 and at most two decimals, "
                     "without separators or a sign, such as 35000 or 35000.50.", field=label),
            "bad_amount",
        ) from None


def money_value(value, field: str, label: str, *, fund_fen: int) -> int:
    """An amount of yuan as fen, more than zero and at most the fund.

    :raises InvalidField: when it is not an amount, not positive, or above the fund.
    """
    fen = yuan_value(value, field, label)
    if fen <= 0:
        raise InvalidField(field, _("%(field)s must be more than zero.", field=label), "cost_not_positive")
    if fen > fund_fen:
        fund = f"{fund_fen // 100:,}"
        raise InvalidField(
            field, _("%(field)s may not be more than the fund of %(fund)s yuan.", field=label, fund=fund),
            "cost_above_fund",
        )
    return fen


def int_value(value, field: str, label: str, *, minimum: int, maximum: int,
              required: bool = True) -> int | None:
    """A whole number within [minimum, maximum], or None when optional and empty.

    :raises InvalidField: when missing, not a whole number, or out of range.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise InvalidField(field, _("%(field)s is required.", field=label), "missing_" + field)
        return None
    if isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value.strip()):
        number = int(value.strip())
    elif isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:  # a float, true/false, a list; "1_000", "²", "３", "1e3"
        raise InvalidField(field, _("%(field)s must be a whole number written with the digits 0-9.", field=label),
                           "not_a_number")
    if not minimum <= number <= maximum:
        raise InvalidField(
            field, _("%(field)s must be between %(min)d and %(max)d.", field=label, min=minimum, max=maximum),
            "out_of_range",
        )
    return number


def query_int(value: str) -> int:
    """A whole number of a query string, for `request.args.get(name, default, type=query_int)`.

    :raises ValueError: (so the default is taken) unless digits 0-9 within ±MAX_INTEGER.
    """
    if not (_WHOLE_NUMBER.fullmatch(value) and -MAX_INTEGER <= int(value) <= MAX_INTEGER):
        raise ValueError(value)
    return int(value)


def date_value(value, field: str, label: str) -> date | None:
    """A date written YYYY-MM-DD, or None when empty (the service says whether it is required).

    :raises InvalidField: `bad_date` when it is not such a date.
    """
    if value in (None, ""):
        return None
    try:
        if not isinstance(value, str) or len(value) != 10 or not value.isascii():
            raise ValueError
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidField(field, _("%(key)s must be a date written YYYY-MM-DD.", key=label),
                           "bad_date") from None
    if not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
        raise InvalidField(field, _("%(key)s must be a date between the years %(first)d and %(last)d.",
                                    key=label, first=EARLIEST_YEAR, last=LATEST_YEAR), "bad_date")
    return day


def utc_time_value(value, field: str, label: str) -> datetime:
    """An ISO 8601 time with its zone (`2026-05-01T01:00:00Z`) as naive UTC.

    :raises InvalidField: when missing, not ISO 8601, or without a time zone.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidField(field, _("%(field)s is required.", field=label), "missing_" + field)
    try:
        moment = _moment(value)
    except ValueError:
        raise InvalidField(
            field, _("%(field)s must be an ISO 8601 time such as 2026-05-01T01:00:00Z.", field=label),
            "bad_time",
        ) from None
    _check_year(moment, field, label)
    if moment.tzinfo is None:
        raise InvalidField(
            field, _("%(field)s needs its time zone, such as 2026-05-01T01:00:00Z.", field=label), "bad_time"
        )
    return moment.astimezone(UTC).replace(tzinfo=None)


def local_time_value(value, field: str, label: str) -> datetime:
    """A time typed on a page (`2026-05-01T09:00`, Beijing time) as naive UTC.

    :raises InvalidField: when missing or not a date and time.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidField(field, _("%(field)s is required.", field=label), "missing_" + field)
    try:
        moment = _moment(value)
    except ValueError:
        raise InvalidField(field, _("%(field)s must be a date and a time.", field=label),
                           "bad_time") from None
    _check_year(moment, field, label)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL_ZONE)
    return moment.astimezone(UTC).replace(tzinfo=None)


def _moment(value: str) -> datetime:
    """:raises ValueError: unless an ISO 8601 date and time in ASCII (no other scripts' digits)."""
    value = value.strip()
    if not value.isascii() or len(value) > 40:
        raise ValueError(value)
    return datetime.fromisoformat(value)


def _check_year(moment: datetime, field: str, label: str) -> None:
    """:raises InvalidField: `bad_time` unless the time falls in EARLIEST_YEAR to LATEST_YEAR (before any
    conversion between zones, which fails at the ends of the calendar)."""
    if not EARLIEST_YEAR <= moment.year <= LATEST_YEAR:
        raise InvalidField(field, _("%(field)s must be a time between the years %(first)d and %(last)d.",
                                    field=label, first=EARLIEST_YEAR, last=LATEST_YEAR), "bad_time")


def to_local_input(value: datetime | None) -> str:
    """A stored UTC time as the value of a `datetime-local` input (Beijing time)."""
    if value is None:
        return ""
    return value.replace(tzinfo=UTC).astimezone(LOCAL_ZONE).strftime("%Y-%m-%dT%H:%M")


def choice_value(value, field: str, label: str, *, choices, code: str = "bad_choice") -> str:
    """One of `choices` (the values of an enum, say), exactly as written.

    :raises InvalidField: `code` naming the choices when it is anything else.
    """
    if value not in choices or not isinstance(value, str):
        raise InvalidField(field, _("%(field)s must be one of: %(choices)s.", field=label,
                                    choices=", ".join(choices)), code)
    return value
