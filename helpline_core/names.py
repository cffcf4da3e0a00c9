"""Matching typed names (areas, categories, officers) to known ones, forgivingly."""

import difflib
import unicodedata

from .errors import NotFound


def clean_text(text, limit=None, what="text"):
    """One line of typed text: control characters (ESC, BEL, newlines...) become spaces and runs
    of white space one space; format characters that Urdu needs (RTL marks) stay.

    :param limit: the most characters allowed. :returns: the text ('' for None).
    :raises InvalidValue: when it is longer than ``limit``.
    """
    from .errors import InvalidValue

    text = str(text or "").encode("utf-8", "replace").decode("utf-8")  # bytes that were not UTF-8 become "?"
    text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)
    text = " ".join(text.split())
    if limit and len(text) > limit:
        raise InvalidValue(f"{what} is {len(text)} characters long; at most {limit} are kept.")
    return text


def match_name(text, lookup, kind, hint=None):
    """Find the canonical name for ``text``.

    :param text: what was typed.
    :param lookup: dict of casefolded accepted spellings -> canonical name, or -> a list of the
        canonical names that spelling belongs to (more than one: it is ambiguous).
    :param kind: the word for the thing, for messages ("area").
    :param hint: a command that lists the known names.
    :returns: the canonical name.
    :raises AmbiguousName: the spelling belongs to two or more names (``candidates`` lists them); when
        it is one's full name, the message says how to make it that one's alone.
    :raises NotFound: "unknown area 'X'; did you mean 'Y'?" (difflib's close matches) or the list.
    """
    from .errors import AmbiguousName

    def names_of(key):
        found = lookup[key]
        return [found] if isinstance(found, str) else list(found)

    key = " ".join(str(text or "").split()).casefold()
    if key in lookup:
        candidates = names_of(key)
        if len(candidates) == 1:
            return candidates[0]
        candidates = sorted(candidates, key=str.casefold)
        named = [c for c in candidates if " ".join(c.split()).casefold() == key]
        if named:  # typing that full name again would fail the same way: say what lets it through
            others = " and ".join(repr(c) for c in candidates if c != named[0])
            how = (f"'{named[0]}' is also an alternative name of {others}: remove it from the alt_names of "
                   f"{others} in config.toml, or run the command at a terminal to be asked which.")
        else:
            how = "type the full name of one."
        raise AmbiguousName(f"{kind} '{text}' is ambiguous: it names {' and '.join(repr(c) for c in candidates)}; "
                            + how, candidates)
    close = difflib.get_close_matches(key, list(lookup), n=3, cutoff=0.6)
    names = sorted({name for k in lookup for name in names_of(k)})
    if close:
        suggestions = []
        for c in close:
            for name in names_of(c):
                if name not in suggestions:
                    suggestions.append(name)
        raise NotFound(f"unknown {kind} '{text}'; did you mean {' or '.join(repr(s) for s in suggestions)}?")
    known = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    more = f" (see '{hint}')" if hint and len(names) > 12 else ""
    raise NotFound(f"unknown {kind} '{text}'; known: {known}{more}.")


def spellings(areas):
    """Every accepted spelling of a list of areas.

    :param areas: [{"name": str, "alt_names": [str]}].
    :returns: {casefolded, single-spaced spelling: [canonical names it belongs to]}, in the
        areas' order; a list longer than one is an ambiguous spelling.
    """
    found = {}
    for area in areas:
        for spelling in [area["name"], *area.get("alt_names", [])]:
            key = " ".join(str(spelling).split()).casefold()
            names = found.setdefault(key, [])
            if area["name"] not in names:
                names.append(area["name"])
    return found
