import pytest
from stdnum import verhoeff

from helpline_core.errors import InvalidValue
from helpline_core.ids import check_digit, format_id, is_valid_number, parse_id


def test_check_digit_matches_python_stdnum_for_every_serial_to_100000():
    for serial in range(1, 100_001):
        digits = str(serial)
        assert check_digit(digits) == verhoeff.calc_check_digit(digits), serial


def test_format_and_parse_round_trip():
    assert format_id("SXR", 1042) == "SXR-10429"
    for typed in ("SXR-10429", "sxr 10429", "SXR10429", "10429", " sxr-1042-9 "):
        assert parse_id(typed, "SXR") == 1042


@pytest.mark.parametrize("typed", ["SXR-10428", "SXR-10492", "SXR-14029"])
def test_single_digit_error_or_swap_is_reported_as_mistyped(typed):
    with pytest.raises(InvalidValue, match="check digit"):
        parse_id(typed, "SXR")


def test_every_single_digit_error_and_adjacent_swap_is_caught():
    for serial in range(1000, 3000):
        good = str(serial) + check_digit(str(serial))
        for i in range(len(good)):
            for d in "0123456789":
                if d != good[i]:
                    assert not is_valid_number(good[:i] + d + good[i + 1:])
            if i + 1 < len(good) and good[i] != good[i + 1]:
                assert not is_valid_number(good[:i] + good[i + 1] + good[i] + good[i + 2:])


def test_other_district_and_garbage_are_refused():
    with pytest.raises(InvalidValue, match="not a ticket of this district"):
        parse_id("BDG-10429", "SXR")
    for bad in ("", "SXR-", "hello", "7", "SXR-10429-X"):
        with pytest.raises(InvalidValue):
            parse_id(bad, "SXR")
