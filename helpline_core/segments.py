"""How many SMS parts a text costs, counted the way carriers count them.

Rules and sources:

- The alphabet is the GSM 7-bit default alphabet of 3GPP TS 23.038 §6.2.1 (128 septets) and its
  extension table §6.2.1.1, reached by the escape septet 0x1B, so each extension character costs
  two septets. ``_GSM_BASIC`` and ``_GSM_EXTENSION`` below are those two tables copied position
  by position. The national language shift tables (TS 23.038 annex A, e.g. Hindi, Urdu) are
  not counted: this module assumes the default alphabet or UCS-2, as gateways send by default.
- A text with any character outside both tables goes as UCS-2 (TS 23.038 §6.2.3): one UTF-16
  code unit per character, two (a surrogate pair) for a character outside the Basic Multilingual
  Plane such as an emoji.
- One SMS carries 140 octets: 160 septets or 70 UTF-16 units. A concatenated message loses
  6 octets of every part to its user data header (TS 23.040 §9.2.3.24.1), leaving 153 septets or
  67 units per part.
- An escape sequence (extension character) or a surrogate pair is never split across two parts:
  if it does not fit in the part being filled, the whole of it starts the next part (so a
  text can take one part more than ``ceil(units / 153)`` or ``ceil(units / 67)``).

Library choice: ``gsm0338`` on PyPI is a well-kept codec of the same tables, but it only encodes
(it neither picks UCS-2 nor counts parts) and would be a runtime dependency for 137 characters,
so this module keeps its own table; the tests check it against ``gsm0338`` (a test extra).
Imports only ``typing`` (already loaded by click) and ``unicodedata`` (built in): about 2 ms to
import, 0.1 ms to count a message.

``to_gsm`` makes a value GSM-7 before it goes into an English text (issue 8): one pasted curly
quote would otherwise switch the whole text to UCS-2 and double its cost.
"""

import unicodedata
from typing import NamedTuple

GSM_7 = "GSM-7"
UCS_2 = "UCS-2"

# TS 23.038 §6.2.1, one string per column of the spec's table: string N holds septets
# 0x{N}0 .. 0x{N}F. 0x1B is the escape to the extension table, not a character of its own, so it
# is left out of the set below: a raw ESC (U+001B) in a text forces UCS-2.
_GSM_BASIC_COLUMNS = (
    "@£$¥èéùìòÇ\nØø\rÅå",  # 0x00-0x0F (0x0A line feed, 0x0D carriage return)
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ",  # 0x10-0x1F (Greek capitals; 0x1B escape)
    " !\"#¤%&'()*+,-./",  # 0x20-0x2F (0x24 is ¤ CURRENCY SIGN, not $)
    "0123456789:;<=>?",  # 0x30-0x3F
    "¡ABCDEFGHIJKLMNO",  # 0x40-0x4F (0x40 is ¡, not @)
    "PQRSTUVWXYZÄÖÑÜ§",  # 0x50-0x5F
    "¿abcdefghijklmno",  # 0x60-0x6F (0x60 is ¿, not `)
    "pqrstuvwxyzäöñüà",  # 0x70-0x7F
)
_GSM_BASIC = frozenset("".join(_GSM_BASIC_COLUMNS)) - {"\x1b"}  # 127 characters

# TS 23.038 §6.2.1.1: ESC followed by 0x0A form feed, 0x14 ^, 0x28 {, 0x29 }, 0x2F \,
# 0x3C [, 0x3D ~, 0x3E ], 0x40 |, 0x65 €. (0x0D CR2 and 0x1B SS2 are controls, not characters.)
_GSM_EXTENSION = frozenset("\f^{}\\[~]|€")

SINGLE_SEPTETS = 160
PART_SEPTETS = 153
SINGLE_UNITS = 70
PART_UNITS = 67


class SegmentCount(NamedTuple):
    """What a text costs as an SMS.

    :ivar encoding: ``"GSM-7"`` or ``"UCS-2"``.
    :ivar characters: characters the user sees, as Python ``len`` (Unicode code points).
    :ivar units: septets for GSM-7 (2 per extension character), UTF-16 code units for UCS-2
        (2 per character outside the BMP).
    :ivar segments: SMS parts billed; at least 1 (an empty text is sent as one empty part).
    :ivar per_segment: the capacity in ``units`` of each part: 160 or 70 for a single part,
        153 or 67 once the text is split.
    """

    encoding: str
    characters: int
    units: int
    segments: int
    per_segment: int


def _check(text):
    if not isinstance(text, str):
        raise TypeError(f"text must be str, not {type(text).__name__}")


def non_gsm_characters(text):
    """The characters that push ``text`` out of GSM-7 into UCS-2.

    :param text: the message (``str``).
    :returns: ``list[str]`` of distinct characters, in order of first appearance; empty when
        ``text`` fits GSM-7. E.g. ``non_gsm_characters("Don’t wait")`` is ``["’"]``.
    :raises TypeError: when ``text`` is not a ``str``.
    """
    _check(text)
    found = {}
    for char in text:
        if char not in _GSM_BASIC and char not in _GSM_EXTENSION:
            found.setdefault(char, None)
    return list(found)


def encoding_of(text):
    """The encoding a carrier uses for ``text``.

    :param text: the message (``str``).
    :returns: ``"GSM-7"`` when every character is in the GSM default alphabet or its extension
        table (TS 23.038 §6.2.1, §6.2.1.1), else ``"UCS-2"``. The empty text is GSM-7.
    :raises TypeError: when ``text`` is not a ``str``.
    """
    _check(text)
    for char in text:
        if char not in _GSM_BASIC and char not in _GSM_EXTENSION:
            return UCS_2
    return GSM_7


def _parts(sizes, single, per_part):
    """Number of parts for per-character ``sizes`` (in units), never splitting one character."""
    if sum(sizes) <= single:
        return 1
    parts, used = 1, 0
    for size in sizes:
        if used + size > per_part:
            parts, used = parts + 1, 0
        used += size
    return parts


def count_segments(text):
    """Count the SMS parts ``text`` is sent as.

    :param text: the message (``str``).
    :returns: a :class:`SegmentCount` ``(encoding, characters, units, segments, per_segment)``,
        e.g. ``count_segments("a" * 161)`` is ``SegmentCount("GSM-7", 161, 161, 2, 153)``.
    :raises TypeError: when ``text`` is not a ``str``.
    """
    encoding = encoding_of(text)
    if encoding == GSM_7:
        sizes = [2 if char in _GSM_EXTENSION else 1 for char in text]
        single, per_part = SINGLE_SEPTETS, PART_SEPTETS
    else:
        sizes = [2 if ord(char) > 0xFFFF else 1 for char in text]
        single, per_part = SINGLE_UNITS, PART_UNITS
    segments = _parts(sizes, single, per_part)
    return SegmentCount(
        encoding=encoding,
        characters=len(text),
        units=sum(sizes),
        segments=segments,
        per_segment=single if segments == 1 else per_part,
    )


# What people paste that GSM-7 lacks, and its GSM-7 form: typographic quotes, dashes, spaces.
GSM_LOOKALIKES = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'", "`": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u00a0": " ", "\u2002": " ", "\u2003": " ", "\u2007": " ", "\u2009": " ", "\u200a": " ", "\u202f": " ",
    "\t": " ", "\u2026": "...", "\u2022": "-",
}


def _sendable(char):
    return char in _GSM_BASIC or char in _GSM_EXTENSION


def to_gsm(text):
    """Make ``text`` fit GSM-7: look-alikes become their GSM form (curly quotes, dashes, non-breaking
    spaces, the ellipsis: ``GSM_LOOKALIKES``), accented letters lose accents GSM-7 lacks (``ā`` to
    ``a``), and any other character outside GSM-7 (an emoji, another script) is dropped.

    :param text: a value for a text (``str``).
    :returns: ``(text, dropped)``: the GSM-7 text and the distinct characters dropped, in order
        of first appearance (``""`` when none). E.g. ``to_gsm("Ghulām’s 🙏")`` is
        ``("Ghulam's ", "🙏")``.
    :raises TypeError: when ``text`` is not a ``str``.
    """
    _check(text)
    if encoding_of(text) == GSM_7:
        return text, ""
    kept, dropped = [], {}
    for char in text:
        if _sendable(char):
            kept.append(char)
            continue
        form = GSM_LOOKALIKES.get(char)
        if form is None:
            base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
            form = base if base and all(_sendable(c) for c in base) else ""
        if form:
            kept.append(form)
        else:
            dropped.setdefault(char, None)
    return "".join(kept), "".join(dropped)
