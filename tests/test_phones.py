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
