"""SMS segment counting: every expected value below is worked out by hand in its comment.

Reminder of the rules (helpline_core/segments.py): GSM-7 is 160 septets in one part, else 153
per part; UCS-2 is 70 UTF-16 units in one part, else 67 per part; an extension character
(2 septets) or a surrogate pair (2 units) is never split across parts.
"""

import pytest

from helpline_core.segments import SegmentCount, count_segments, encoding_of, non_gsm_characters

KA = "क"  # DEVANAGARI LETTER KA, U+0915: one code point, one UTF-16 unit
AMBULANCE = "\U0001F691"  # 🚑 outside the BMP: one code point, two UTF-16 units (a surrogate pair)


# --- GSM-7 -------------------------------------------------------------------------------

def test_plain_english_is_gsm7_one_septet_per_character():
    # "Help is on the way." = 4 + 1 + 2 + 1 + 2 + 1 + 3 + 1 + 4 = 19 characters, all basic table.
    assert count_segments("Help is on the way.") == SegmentCount("GSM-7", 19, 19, 1, 160)
    assert encoding_of("Help is on the way.") == "GSM-7"


def test_non_ascii_characters_of_the_basic_table_stay_gsm7():
    # £ (0x01) $ (0x02) @ (0x00) Ω (0x15) Ç (0x09) ¿ (0x60) Ñ (0x5D) ¤ (0x24) § (0x5F) ß (0x1E)
    # ¡ (0x40) à (0x7F), plus LF (0x0A) and CR (0x0D): 14 characters, one septet each.
    text = "£$@ΩÇ¿Ñ¤§ß¡à\n\r"
    assert count_segments(text) == SegmentCount("GSM-7", 14, 14, 1, 160)
    assert non_gsm_characters(text) == []


def test_empty_text_is_one_gsm7_part():
    # Decision documented in SegmentCount: an empty SMS is still sent (and billed) as one part.
    assert count_segments("") == SegmentCount("GSM-7", 0, 0, 1, 160)


def test_extension_characters_count_two_septets():
    # ^ { } \ [ ~ ] | € and form feed: 10 characters x 2 septets = 20 septets.
    assert count_segments("^{}\\[~]|€\f") == SegmentCount("GSM-7", 10, 20, 1, 160)


def test_eighty_euro_signs_fill_exactly_one_part():
    # 80 x 2 = 160 septets = the single-part limit.
    assert count_segments("€" * 80) == SegmentCount("GSM-7", 80, 160, 1, 160)


def test_eighty_one_euro_signs_need_two_parts():
    # 81 x 2 = 162 septets > 160, so parts of 153: 76 euros = 152 septets fill part 1 (a 77th
    # would make 154), the other 5 euros = 10 septets go in part 2.
    assert count_segments("€" * 81) == SegmentCount("GSM-7", 81, 162, 2, 153)


@pytest.mark.parametrize("length, segments, per_segment", [
    (160, 1, 160),  # exactly the single-part limit
    (161, 2, 153),  # one over: 153 + 8
    (306, 2, 153),  # 2 x 153 exactly
    (307, 3, 153),  # 153 + 153 + 1
])
def test_gsm7_boundaries(length, segments, per_segment):
    assert count_segments("a" * length) == SegmentCount("GSM-7", length, length, segments, per_segment)


def test_escape_sequence_is_not_split_across_a_part_boundary():
    # 152 'a' fill septets 1-152 of part 1; '€' needs 2 septets but only 1 is left (153), so it
    # starts part 2: part 2 = 2 + 152 'b' = 154 > 153, so the last 'b' makes part 3.
    # Total 152 + 2 + 152 = 306 septets: a naive ceil(306 / 153) would say 2.
    assert count_segments("a" * 152 + "€" + "b" * 152) == SegmentCount("GSM-7", 305, 306, 3, 153)


def test_escape_sequence_ending_exactly_on_a_boundary_stays_in_its_part():
    # 151 'a' + '€' = 151 + 2 = 153 septets fill part 1 exactly; 152 'b' fit in part 2.
    assert count_segments("a" * 151 + "€" + "b" * 152) == SegmentCount("GSM-7", 304, 305, 2, 153)


# --- UCS-2 -------------------------------------------------------------------------------

def test_one_curly_apostrophe_forces_ucs2():
    # "Don’t wait" = 10 characters; ’ (U+2019) is in neither GSM table, so the whole text goes as
    # UCS-2 at one unit per character. The same text with ' (0x27) is GSM-7.
    assert count_segments("Don’t wait") == SegmentCount("UCS-2", 10, 10, 1, 70)
    assert encoding_of("Don't wait") == "GSM-7"
    assert non_gsm_characters("Don’t wait") == ["’"]


@pytest.mark.parametrize("char", ["ç", "’", "“", "”", "–", "₹", "`", "á", "\x1b"])
def test_lookalikes_outside_the_gsm_tables_force_ucs2(char):
    # ç (only Ç is at 0x09), curly quotes, en dash, rupee sign, backtick (0x60 is ¿), á (Spanish
    # shift table only), and a raw ESC (0x1B is the escape, not a character).
    assert encoding_of("Rs 50 " + char) == "UCS-2"
    assert non_gsm_characters("Rs 50 " + char) == [char]


def test_hindi_devanagari_is_ucs2():
    # "मदद आ रही है": म द द (3) + space + आ (1) + space + र ह ी (3) + space + ह ै (2) = 12 code
    # points, all in the BMP, so 12 units.
    assert count_segments("मदद आ रही है") == SegmentCount("UCS-2", 12, 12, 1, 70)


def test_hindi_over_seventy_characters_takes_two_parts():
    # The 12-character message above 6 times = 72 units > 70: 67 + 5, so 2 parts of 67.
    assert count_segments("मदद आ रही है" * 6) == SegmentCount("UCS-2", 72, 72, 2, 67)


def test_urdu_perso_arabic_is_ucs2():
    # "مدد آ رہی ہے": م د د (3) + space + آ (U+0622, 1) + space + ر ہ ی (3) + space + ہ ے (2)
    # = 12 code points, all in the BMP.
    assert count_segments("مدد آ رہی ہے") == SegmentCount("UCS-2", 12, 12, 1, 70)


def test_extension_character_in_a_ucs2_text_counts_one_unit():
    # "€5 राशन": € 5 space र ा श न = 7 characters; in UCS-2 the € is one unit, not two septets.
    assert count_segments("€5 राशन") == SegmentCount("UCS-2", 7, 7, 1, 70)


def test_emoji_is_a_surrogate_pair():
    # "Help " (5 units) + 🚑 (2 units) = 6 characters, 7 units.
    assert count_segments("Help " + AMBULANCE) == SegmentCount("UCS-2", 6, 7, 1, 70)


def test_thirty_five_emoji_fill_one_part_and_thirty_six_take_two():
    # 35 x 2 = 70 units = the single-part limit.
    assert count_segments(AMBULANCE * 35) == SegmentCount("UCS-2", 35, 70, 1, 70)
    # 36 x 2 = 72 > 70: a part of 67 holds 33 emoji (66 units, a 34th would be 68), so 33 + 3.
    assert count_segments(AMBULANCE * 36) == SegmentCount("UCS-2", 36, 72, 2, 67)


@pytest.mark.parametrize("length, segments, per_segment", [
    (70, 1, 70),  # exactly the single-part limit
    (71, 2, 67),  # one over: 67 + 4
    (134, 2, 67),  # 2 x 67 exactly
    (135, 3, 67),  # 67 + 67 + 1
])
def test_ucs2_boundaries(length, segments, per_segment):
    assert count_segments(KA * length) == SegmentCount("UCS-2", length, length, segments, per_segment)


def test_surrogate_pair_is_not_split_across_a_part_boundary():
    # 66 क = 66 units; 🚑 needs 2 but only 1 is left in part 1 (67), so it starts part 2:
    # part 2 = 2 + 66 = 68 > 67, so the last क makes part 3. Total 66 + 2 + 66 = 134 units:
    # a naive ceil(134 / 67) would say 2.
    assert count_segments(KA * 66 + AMBULANCE + KA * 66) == SegmentCount("UCS-2", 133, 134, 3, 67)


def test_surrogate_pair_ending_exactly_on_a_boundary_stays_in_its_part():
    # 65 क + 🚑 = 65 + 2 = 67 units fill part 1 exactly; 67 क fill part 2 exactly.
    assert count_segments(KA * 65 + AMBULANCE + KA * 67) == SegmentCount("UCS-2", 133, 134, 2, 67)


# --- non_gsm_characters ------------------------------------------------------------------

def test_non_gsm_characters_are_distinct_in_order_of_first_appearance():
    # “ (U+201C), ” (U+201D), – (U+2013), ’ (U+2019); the second ’ is not repeated.
    assert non_gsm_characters("“Call” now – it’s free, it’s 24x7") == ["“", "”", "–", "’"]


def test_non_gsm_characters_of_mixed_english_and_hindi():
    # "Call 112: मदद" — only म and द are outside GSM; द appears twice, listed once.
    assert non_gsm_characters("Call 112: मदद") == ["म", "द"]


def test_non_gsm_characters_lists_an_emoji_as_one_character():
    assert non_gsm_characters("On the way " + AMBULANCE) == [AMBULANCE]


def test_gsm_text_with_extension_characters_has_no_non_gsm_characters():
    assert non_gsm_characters("Fee: €5 [cash] {card}") == []


# --- errors and oracle -------------------------------------------------------------------

@pytest.mark.parametrize("function", [encoding_of, count_segments, non_gsm_characters])
@pytest.mark.parametrize("value", [None, b"abc", 5])
def test_non_text_is_refused(function, value):
    with pytest.raises(TypeError, match="text must be str"):
        function(value)


def test_tables_agree_with_the_gsm0338_codec():
    # Oracle: the PyPI codec gsm0338 (tables from TS 23.038 Rel-15) encodes a basic character to
    # 1 byte and an extension character to 2 (ESC + code). It maps U+001B to 0x1B, which this
    # module deliberately refuses, so that one code point is left out. (gsm0338 is a test extra.)
    import gsm0338  # noqa: F401  registers the "gsm03.38" codec
    for code_point in range(0x10000):
        if 0xD800 <= code_point <= 0xDFFF or code_point == 0x1B:
            continue
        char = chr(code_point)
        try:
            expected = ("GSM-7", len(char.encode("gsm03.38")))
        except UnicodeEncodeError:
            expected = ("UCS-2", 1)
        got = count_segments(char)
        assert (got.encoding, got.units) == expected, hex(code_point)
