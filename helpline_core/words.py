"""What people read: counts with their noun, and history changes in words.

A history event stores its changes as ``{field: [old, new]}`` with the stored values (UTC ISO
times, lists, None, booleans). Screens show them in words: a label people use, values as text
(local times, lists joined, "none"), and never the fields that only the program reads
(``final_at``, ``escalations``, ``messages``, ...): the event's type and note already say those.
"""

from .clock import local_text

# field -> label; a field not listed here is internal and never shown
TICKET_CHANGE_LABELS = {
    "status": "status", "officer": "officer", "calls": "calls", "phone": "phone", "area": "area",
    "category": "category", "language": "language", "due_at": "due", "resolved_by": "resolved by",
    "duplicate_of": "duplicate of", "sms_blocked": "texts blocked",
}
OFFICER_CHANGE_LABELS = {
    "name": "name", "phone": "phone", "role": "role", "lang": "language", "areas": "areas",
    "categories": "categories", "sms_blocked": "texts blocked",
}
_SHOWN_ONLY_WHEN_SET = {"resolved_by"}  # cleared on reopen: the status change says it already

EVENT_LABELS = {"not_reached": "not reached"}


def plural(count, noun, plural_form=None):
    """:returns: the count with its noun, ``0 tickets``, ``1 ticket``, ``1,204 tickets``.

    :param plural_form: for nouns that do not just take an ``s`` (``plural(2, "day file")`` works;
        ``plural(2, "category", "categories")``).
    """
    return f"{count:,} {noun if count == 1 else plural_form or noun + 's'}"


def value_text(value, tz):
    """One stored value in words: None and empty lists ``none``, booleans ``yes``/``no``, lists
    joined with commas, stored UTC times in local time (``2026-11-30 11:30``)."""
    if value is None or value == [] or value == "":
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(value_text(v, tz) for v in value)
    if isinstance(value, str) and value.endswith("+00:00") and value[:4].isdigit():
        return local_text(value, tz)
    return str(value)


def shown_changes(changes, tz, labels=TICKET_CHANGE_LABELS):
    """:param changes: an event's ``{field: [old, new]}``. :param tz: the district zone.

    :returns: ``[(label, old text, new text)]`` for the fields people read, in the stored order;
        internal fields, and changes that read the same in words, are left out.
    """
    shown = []
    for field, pair in (changes or {}).items():
        if field not in labels or not isinstance(pair, (list, tuple)) or len(pair) != 2:
            continue
        old, new = pair
        if isinstance(old, dict) or isinstance(new, dict):
            continue
        if field in _SHOWN_ONLY_WHEN_SET and new in (None, ""):
            continue
        old_text, new_text = value_text(old, tz), value_text(new, tz)
        if old_text != new_text:
            shown.append((labels[field], old_text, new_text))
    return shown


def changes_text(changes, tz, labels=TICKET_CHANGE_LABELS):
    """:returns: an event's changes in words, e.g. ``status assigned (was open); officer meena``;
    ``''`` when there is nothing people need to read."""
    return "; ".join(_phrase(*change) for change in shown_changes(changes, tz, labels))


def _phrase(label, old, new):
    if label == "texts blocked":  # the value is the reason
        return "texts no longer blocked" if new == "none" else f"texts blocked ({new})"
    return f"{label} {new}" if old == "none" else f"{label} {new} (was {old})"


def event_label(kind):
    """:returns: a history event's type in words (``not_reached`` -> ``not reached``)."""
    return EVENT_LABELS.get(kind, kind.replace("_", " "))
