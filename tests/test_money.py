import pytest

from voting.money import MoneyError, parse_yuan, yuan, yuan_grouped


@pytest.mark.parametrize("fen, text", [(20_000_000, "200000.00"), (1, "0.01"), (0, "0.00"), (-150, "-1.50")])
def test_yuan(fen, text):
    assert yuan(fen) == text


def test_grouped():
    assert yuan_grouped(20_000_000) == "200,000" and yuan_grouped(1_234_550) == "12,345.50"


@pytest.mark.parametrize("value, fen", [("35000", 3_500_000), ("35000.5", 3_500_050), ("1,200.00", 120_000), (12, 1200)])
def test_parse(value, fen):
    assert parse_yuan(value) == fen


@pytest.mark.parametrize("value", ["abc", "1.001", "NaN", "Infinity", "", 1.5, True])
def test_parse_refuses(value):
    with pytest.raises(MoneyError):
        parse_yuan(value)
