import math
import time
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from voting.money import MAX_FEN, AmountTooLarge, MoneyError, parse_yuan, yuan, yuan_grouped


@pytest.mark.parametrize("fen, text", [(20_000_000, "200000.00"), (1, "0.01"), (0, "0.00"), (-150, "-1.50")])
def test_yuan(fen, text):
    assert yuan(fen) == text


def test_grouped():
    assert yuan_grouped(20_000_000) == "200,000" and yuan_grouped(1_234_550) == "12,345.50"


@pytest.mark.parametrize("value, fen", [
    ("35000", 3_500_000), ("35000.5", 3_500_050), ("35000.50", 3_500_050), (" 12 ", 1200), ("0.01", 1),
    (35000, 3_500_000), (35000.5, 3_500_050), (0.1, 10), (Decimal("12.30"), 1230),
    ("10000000000", MAX_FEN), ("010.00", 1000),
])
def test_parse(value, fen):
    assert parse_yuan(value) == fen


@pytest.mark.parametrize("value", [
    "abc", "1.001", "NaN", "Infinity", "inf", "", ".5", "5.", "1e3", "1E3", "1e999997", "35,5", "1,200.00",
    "1_000", "1 000", "３５", "٣", "²", "-5", "+5", "- 5", "0x10", "1.5.5", "12元", "¥12",
    True, False, None, [], {}, -1, 0.1 + 0.2, 35000.505, math.nan, math.inf, -0.5, Decimal("1E+999997"),
    Decimal("NaN"), "1" * 100_000,
])
def test_parse_refuses(value):
    with pytest.raises(MoneyError):
        parse_yuan(value)


@pytest.mark.parametrize("value", ["10000000000.01", "99999999999", 10**10 + 1, 1e11])
def test_parse_refuses_beyond_the_bound(value):
    with pytest.raises(MoneyError):
        parse_yuan(value)
    if isinstance(value, str):
        with pytest.raises(AmountTooLarge):
            parse_yuan(value)


def test_a_huge_exponent_is_refused_at_once():
    started = time.perf_counter()
    for value in ("1e999997", "9" * 1_000_000, "1" + "0" * 999_999 + ".00", Decimal("1e999997")):
        with pytest.raises(MoneyError):
            parse_yuan(value)
    assert time.perf_counter() - started < 0.05


@given(st.integers(min_value=0, max_value=MAX_FEN), st.sampled_from(["full", "short", "json"]))
def test_every_amount_in_fen_reads_back(fen, form):
    whole, part = divmod(fen, 100)
    if form == "full":
        text = f"{whole}.{part:02d}"
    elif form == "short":
        text = str(whole) if not part else f"{whole}.{part:02d}".rstrip("0")
    else:
        text = whole if not part else None
    if text is None:
        return
    assert parse_yuan(text) == fen
    assert parse_yuan(yuan(fen)) == fen


@given(st.integers(min_value=0, max_value=10**10 - 1), st.integers(min_value=0, max_value=99))
def test_a_json_number_with_two_decimals_is_read_exactly(whole, part):
    """A float parsed from such a JSON number (12 digits at most) has that number as its shortest form."""
    assert parse_yuan(float(f"{whole}.{part:02d}")) == whole * 100 + part


@settings(max_examples=300)
@given(st.text(max_size=20))
@example("1e5")
@example("1_0")
@example("1,0")
@example("１")
@example("-1")
@example("1.234")
@example("99999999999")
def test_any_text_is_read_only_when_plain_digits(text):
    """A text is an amount exactly when it is digits 0-9 with at most two decimals (and within the bound)."""
    stripped = text.strip()
    whole, _point, part = stripped.partition(".")
    plain = (whole.isascii() and whole.isdigit() and (not _point or (part.isascii() and part.isdigit()
                                                                      and len(part) <= 2)))
    try:
        fen = parse_yuan(text)
    except MoneyError:
        assert not plain or int(whole) * 100 + int(part.ljust(2, "0") or 0) > MAX_FEN
    else:
        assert plain and fen == int(whole) * 100 + int(part.ljust(2, "0") or 0)


@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.none(),
                 st.lists(st.integers(), max_size=2), st.integers(max_value=-1),
                 st.integers(min_value=MAX_FEN + 1)))
def test_other_json_values_are_refused_or_exact(value):
    """A float counts only when its shortest form has at most two decimals; nothing else but ints."""
    try:
        fen = parse_yuan(value)
    except MoneyError:
        return
    assert isinstance(value, float) and 0 <= fen <= MAX_FEN and Decimal(repr(value)) * 100 == fen
