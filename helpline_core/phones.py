"""Phone numbers: every usual way of typing an Indian number, stored as E.164.

Parsing and validation are ``phonenumbers`` (Google's libphonenumber metadata), region IN.
"""

import re

from .errors import InvalidValue

MOBILE = "mobile"
MOBILE_OR_LANDLINE = "mobile_or_landline"
LANDLINE = "landline"
UNKNOWN = "unknown"
TEXTABLE = (MOBILE, MOBILE_OR_LANDLINE)

# Typed or pasted between digit groups: tab, no-break, figure, thin, hair and narrow no-break spaces.
_SPACES = re.compile(r"[\t\u00a0\u2007\u2009\u200a\u202f]")
# What may stand in a typed number besides digits and spaces: +91, dashes, (0), dots, slashes.
_NOT_A_PHONE_CHARACTER = re.compile(r"[^0-9 +\-()./]")


def textable(phone_type):
    """:returns: True when a number of ``phone_type`` is sent SMS: ``mobile``, and
    ``mobile_or_landline`` (libphonenumber cannot tell for many Indian mobile series, e.g. 8050-8059)."""
    return phone_type in TEXTABLE


def parse_phone(text, region="IN"):
    """Normalise a typed phone number.

    ``09876543210``, ``98765 43210``, ``+91 98765-43210``, ``0091 9876543210`` and
    ``(0)98765 43210`` all give ``+919876543210``; tabs, no-break and thin spaces count as spaces.

    :param text: the number as typed.
    :param region: ISO 3166 region for numbers without a country code.
    :returns: ``(e164, phone_type)`` where phone_type is ``mobile``, ``mobile_or_landline``
        (libphonenumber's FIXED_LINE_OR_MOBILE), ``landline`` or ``unknown``. ``mobile`` and
        ``mobile_or_landline`` numbers are sent SMS (``textable``).
    :raises InvalidValue: when the number holds a letter or another sign (libphonenumber would
        drop or translate it: ``98765O43210`` is refused, not read as ``9876543210``), is
        incomplete (a digit is missing, or more), too long or not a valid number.
    """
    import phonenumbers  # 0.02 s: only the commands that read a phone number pay for it

    raw = _SPACES.sub(" ", str(text or "")).strip()
    if not raw:
        raise InvalidValue("phone number is empty.")
    stray = _NOT_A_PHONE_CHARACTER.search(raw)
    if stray and not re.search(r"[0-9]", raw):
        raise InvalidValue(f"'{raw}' is not a phone number.")
    if stray:
        raise InvalidValue(f"'{raw}' has '{stray.group()}' in it, which is not a digit: type the number again.")
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise InvalidValue(f"'{raw}' is not a phone number.") from None
    if not phonenumbers.is_valid_number(number):
        reason = phonenumbers.is_possible_number_with_reason(number)
        short_indian = number.country_code == 91 and len(str(number.national_number)) < 10
        if reason == phonenumbers.ValidationResult.TOO_SHORT or short_indian:
            # an Indian mobile has 10 digits: say how many are missing; elsewhere the length varies
            missing = 10 - len(str(number.national_number)) if number.country_code == 91 else 0
            what = "a digit is missing" if missing == 1 else f"{missing} digits are missing" if missing else \
                "digits are missing"
            raise InvalidValue(f"'{raw}' is too short for a phone number: {what}.")
        raise InvalidValue(f"'{raw}' is not a valid phone number.")
    kind = phonenumbers.number_type(number)
    if kind == phonenumbers.PhoneNumberType.MOBILE:
        phone_type = MOBILE
    elif kind == phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE:
        phone_type = MOBILE_OR_LANDLINE
    elif kind == phonenumbers.PhoneNumberType.FIXED_LINE:
        phone_type = LANDLINE
    else:
        phone_type = UNKNOWN
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), phone_type
