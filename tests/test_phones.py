import pytest

from helpline_core.errors import InvalidValue
from helpline_core.phones import parse_phone


@pytest.mark.parametrize("typed", [
    "9876543210", "09876543210", "+919876543210", "+91 98765 43210", "0091 98765 43210",
    "0091-9876543210", "98765-43210", "(0) 98765 43210", "+91 (98765) 43210", "91 9876543210",
])
def test_every_usual_form_of_a_mobile_gives_one_e164(typed):
    assert parse_phone(typed) == ("+919876543210", "mobile")


def test_landline_is_accepted_and_marked():
    assert parse_phone("0194 245 2052") == ("+911942452052", "landline")


@pytest.mark.parametrize("typed, message", [
    ("98765", "too short"), ("", "empty"), ("phone", "not a phone number"), ("98765432101234", "not a valid"),
    ("+91 55555 55555", "not a valid"),
])
def test_incomplete_or_invalid_numbers_are_refused(typed, message):
    with pytest.raises(InvalidValue, match=message):
        parse_phone(typed)


@pytest.mark.parametrize("typed", ["98765O43210", "98765o43210", "9876543210x", "98765#43210"])
def test_a_letter_or_sign_inside_a_number_is_refused_not_dropped(typed):
    with pytest.raises(InvalidValue, match="which is not a digit"):
        parse_phone(typed)


@pytest.mark.parametrize("typed", ["98765\t43210", "98765\u00a043210", "98765\u200943210", "98765\u202f43210",
                                   "\t+91\u2009 98765\u00a043210 "])
def test_tabs_thin_and_no_break_spaces_are_spaces(typed):
    assert parse_phone(typed) == ("+919876543210", "mobile")


@pytest.mark.parametrize("typed", ["987654321", "098765 4321", "+91 98765 4321"])
def test_a_nine_digit_number_says_a_digit_is_missing(typed):
    with pytest.raises(InvalidValue, match="a digit is missing"):
        parse_phone(typed)


@pytest.mark.parametrize("typed, region, what", [("9876543", "IN", "3 digits are missing"),
                                                  ("617", "US", "digits are missing")])
def test_a_shorter_number_does_not_say_one_digit_is_missing(typed, region, what):
    with pytest.raises(InvalidValue) as refused:
        parse_phone(typed, region)
    assert str(refused.value) == f"'{typed}' is too short for a phone number: {what}."


@pytest.mark.parametrize("typed", ["8050123456", "8055512345", "08059 912345"])
def test_fixed_line_or_mobile_series_are_textable(typed):
    from helpline_core.phones import textable

    e164, phone_type = parse_phone(typed)
    assert phone_type == "mobile_or_landline" and textable(phone_type)
    assert not textable(parse_phone("0194 245 2052")[1])
