"""Which ticket events text whom, and the snapshot of values each text needs.

Called inside the store transaction that changes the ticket, so the message is queued in the
same atomic write as the change (never sent from here: see ``outbox``). No jinja2 here: texts
are rendered later from the snapshot, so the operator's commands stay fast.
"""

from .clock import local_day_month
from .numbers import blocked_reason
from .outbox import note_on_ticket, queue_message
from .privacy import description_for_officer
from .phones import textable

# ticket history event -> caller template
CALLER_EVENTS = {"opened": "logged", "call": "followup", "assign": "assigned", "resolve": "resolved",
                 "reopen": "reopened", "verify-reopen": "reopened", "close": "closed"}

# Words for the shipped categories in the callers' and officers' languages (others stay as named).
CATEGORY_WORDS = {
    "hi": {"ration": "राशन", "medicine": "दवा", "doctor": "डॉक्टर", "counselling": "परामर्श", "other": "अन्य"},
    "ur": {"ration": "راشن", "medicine": "دوا", "doctor": "ڈاکٹر", "counselling": "مشاورت", "other": "دیگر"},
}
DESCRIPTION_CHARS = 60  # an officer's text quotes at most this much of the caller's words
NAME_CHARS = 40  # names in texts are cut here: the length `templates check` budgets for


def category_word(category, lang):
    """:returns: the category's word in ``lang`` (en, hi, ur); the configured name otherwise."""
    return CATEGORY_WORDS.get(lang, {}).get(category, category)


def cut(text, limit=DESCRIPTION_CHARS):
    """:returns: ``text`` on one line, cut to ``limit`` characters with ``...`` (GSM-safe)."""
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def _sms_config(config):
    return config.raw.get("sms", {})


def officer_no_text_reason(db, officer):
    """:param officer: an officer document (any role).

    :returns: why texts cannot reach the officer (no phone on the roster, a landline, a number
        that opted out or that the gateway refused), or None when they can.
    """
    if not officer.get("phone"):
        return "no phone on the roster"
    if officer.get("phone_type") == "landline":
        return "a landline, which cannot receive SMS"
    return blocked_reason(db, officer["phone"])


def caller_context(config, ticket, officer):
    """:returns: the snapshot for a caller's text: strings only, '' where a value is unknown. An
    officer with no phone on the roster (a verifier may have none) is reached through the helpline:
    its number stands in for theirs (``-`` when ``[sms] helpline_phone`` is not set)."""
    helpline_phone = str(_sms_config(config).get("helpline_phone", ""))
    return {
        "district": config.district_name, "ticket_id": ticket["id"],
        "helpline_phone": helpline_phone,
        "officer_name": cut(officer["name"], NAME_CHARS) if officer else "",
        "officer_phone": (officer.get("phone") or helpline_phone or "-") if officer else "",
        "category": category_word(ticket["category"], ticket["language"]), "area": ticket["area"],
    }


def officer_context(config, ticket, officer):
    """:returns: the snapshot for an officer's ``officer_assigned`` text ('' where a value is unknown,
    and the template leaves that clause out; '-' for no phone; the due time as ``04 Dec 15:53``). A sensitive ticket's
    description is left out unless ``[sms] sensitive_details_to_officer = true`` (``privacy``)."""
    return {
        "district": config.district_name, "ticket_id": ticket["id"],
        "category": category_word(ticket["category"], officer["lang"]), "area": ticket["area"],
        "caller_name": cut(ticket["caller_name"], NAME_CHARS), "caller_phone": ticket["phone"] or "-",
        "description": cut(description_for_officer(config, ticket)),
        "due_local": local_day_month(ticket.get("due_at"), config.tz),
    }


def ticket_event(db, config, ticket, kind, now, sequence=None):
    """Queue the texts that one of the ticket's history events calls for.

    :param kind: the event as the lifecycle names it: ``opened``, ``call``, ``assign``, ``resolve``,
        ``reopen`` (also a not-solved verification) or ``close``.
    :param sequence: the event's index in the history (default: the newest event); part of each
        message's key, so one event is never texted twice.
    :returns: the outbox records queued (possibly none: landline, no phone, a number
        that opted out or that the gateway refused).
    """
    from .routing import get_officer

    sequence = len(ticket["history"]) - 1 if sequence is None else sequence
    officer = get_officer(db, ticket["officer"]) if ticket.get("officer") else None
    queued = []
    template = CALLER_EVENTS.get(kind)
    if template and ticket.get("phone") and textable(ticket.get("phone_type")) \
            and not blocked_reason(db, ticket["phone"]):  # opted out or refused: no text is queued
        queued.append(queue_message(
            db, now, key=f"{ticket['id']}:{template}:{sequence}:{ticket['phone']}", recipient=ticket["phone"],
            audience="caller", template=template, lang=ticket["language"], ticket_id=ticket["id"],
            context=caller_context(config, ticket, officer), note=False, ticket_events=len(ticket["history"])))
    if kind == "assign" and officer and not officer_no_text_reason(db, officer):  # else nobody to text
        queued.append(queue_message(
            db, now, key=f"{ticket['id']}:officer_assigned:{sequence}:{officer['phone']}", recipient=officer["phone"],
            audience="officer", template="officer_assigned", lang=officer["lang"], ticket_id=ticket["id"],
            officer_id=officer["officer_id"], context=officer_context(config, ticket, officer), note=False,
            ticket_events=len(ticket["history"])))
    queued = [q for q in queued if q is not None]
    note_on_ticket(db, *queued)
    return queued
