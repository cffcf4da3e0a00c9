"""Phone numbers: every usual way of typing an Indian number, stored as E.164.

Parsing and validation are ``phonenumbers`` (Google's libphonenumber metadata), region IN.
"""

from .errors import InvalidValue

MOBILE = "mobile"
LANDLINE = "landline"
UNKNOWN = "unknown"


def parse_phone(text, region="IN"):
    """Normalise a typed phone number.

    ``09876543210``, ``98765 43210``, ``+91 98765-43210``, ``0091 9876543210`` and
    ``(0)98765 43210`` all give ``+919876543210``.

    :param text: the number as typed.
    :param region: ISO 3166 region for numbers without a country code.
    :returns: ``(e164, phone_type)`` where phone_type is ``mobile``, ``landline`` or ``unknown``
        (libphonenumber's FIXED_LINE_OR_MOBILE and other types are ``unknown``). Only ``mobile``
        numbers are sent SMS.
    :raises InvalidValue: when the number is incomplete, too long or not a valid number.
    """
    import phonenumbers  # 0.02 s: only the commands that read a phone number pay for it

    raw = str(text or "").strip()
    if not raw:
        raise InvalidValue("phone number is empty.")
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise InvalidValue(f"'{raw}' is not a phone number.") from None
    if not phonenumbers.is_valid_number(number):
        if phonenumbers.is_possible_number_with_reason(number) == phonenumbers.ValidationResult.TOO_SHORT:
            raise InvalidValue(f"'{raw}' is too short for a phone number: a digit is missing.")
        raise InvalidValue(f"'{raw}' is not a valid phone number.")
    kind = phonenumbers.number_type(number)
    if kind == phonenumbers.PhoneNumberType.MOBILE:
        phone_type = MOBILE
    elif kind == phonenumbers.PhoneNumberType.FIXED_LINE:
        phone_type = LANDLINE
    else:
        phone_type = UNKNOWN
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), phone_type
