import pytest

from voting.errors import Invalid
from voting.residents.services import hash_id_number, id_check_char, validate_id_number


def test_check_digit_of_a_known_number():
    # The example of GB 11643-1999.
    assert id_check_char("11010519491231002") == "X"


def test_validate_accepts_and_normalises():
    assert validate_id_number(" 11010519491231002x ") == "11010519491231002X"


@pytest.mark.parametrize("number", ["", "1101051949123100", "110105194912310021", "A1010519491231002X"])
def test_validate_refuses(number):
    with pytest.raises(Invalid):
        validate_id_number(number)


def test_hash_is_keyed_and_stable():
    number = "11010519491231002X"
    assert hash_id_number("k1", number) == hash_id_number("k1", number)
    assert hash_id_number("k1", number) != hash_id_number("k2", number)
    assert number not in hash_id_number("k1", number)
