"""Ticket IDs: district code, serial, Verhoeff check digit (``SXR-10429`` is serial 1042, check digit 9).

The Verhoeff scheme (J. Verhoeff, 1969; the one Aadhaar numbers use) catches every single-digit
error and every swap of neighbouring digits, the two mistakes of a caller reading an ID over a
bad line. The tables below are the standard dihedral-group D5 tables; ``python-stdnum``'s
``stdnum.verhoeff`` implements the same algorithm, and a test checks every serial from 1 to
100,000 against it. We keep our own copy because importing stdnum costs about 0.035 s of an
operator command's 0.1 s budget.
"""

import re

from .errors import InvalidValue

_MULTIPLY = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_PERMUTE = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 2, 6, 5, 3, 1, 8, 9),
)
_INVERSE = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)

_ID_SHAPE = re.compile(r"^([A-Z]*)([0-9]{2,12})$")  # ASCII digits only: "①" or "¹" are not IDs


def _checksum(digits):
    check = 0
    for position, digit in enumerate(reversed(digits)):
        check = _MULTIPLY[check][_PERMUTE[position % 8][int(digit)]]
    return check


def check_digit(number):
    """:param number: a serial as text of digits. :returns: its Verhoeff check digit as one character."""
    return str(_INVERSE[_checksum(number + "0")])


def is_valid_number(number):
    """:param number: digits including the trailing check digit. :returns: True when the check holds."""
    return _checksum(number) == 0


def format_id(district_code, serial):
    """:param serial: a positive int. :returns: the ticket ID, e.g. ``format_id("SXR", 1042)`` -> ``SXR-10429``."""
    digits = str(serial)
    return f"{district_code}-{digits}{check_digit(digits)}"


def parse_id(text, district_code):
    """Read a ticket ID as a caller or operator typed it.

    Accepts ``SXR-10429``, ``sxr 10429``, ``SXR10429`` and ``10429``.

    :param text: what was typed.
    :param district_code: this district's code; an ID with another prefix is refused.
    :returns: the serial (int).
    :raises InvalidValue: when the shape is wrong, the prefix belongs to another district, or the
        check digit does not match (a mistyped ID is never matched to another ticket).
    """
    compact = re.sub(r"[\s\-_./]", "", str(text)).upper()
    match = _ID_SHAPE.match(compact)
    if not match:
        raise InvalidValue(f"'{text}' is not a ticket ID; IDs look like {format_id(district_code, 1000)}.")
    prefix, number = match.groups()
    if prefix and prefix != district_code.upper():
        raise InvalidValue(f"'{text}' is not a ticket of this district ({district_code}).")
    if not is_valid_number(number):
        raise InvalidValue(f"'{text}' has a wrong check digit: the ID was probably mistyped; ask the caller to read it again.")
    return int(number[:-1])
