"""What helpline knows about a phone number, beyond any one ticket: whether texts can reach it.

The live ``phones`` table holds one document per number that the gateway refused or that opted
out; a number with no document (or one lifted by ``opt_in``) can be texted::

    {"phone": "+919876543210",
     "blocked": "cannot receive SMS: 21211: invalid number" | null,
     "opted_out_at": UTC ISO | null, "updated_at": UTC ISO,
     "history": [{"type": "blocked|opted-out|opt-in", "at", "actor", "note"}]}

``blocked`` is set by Twilio's permanent errors (21211 invalid number, 21612 cannot route, 21614
not a mobile) and by 21610 (the person replied STOP: ``opted_out_at`` too). While it is set, no
text is queued for the number (``notify``) and any already queued is cancelled unsent
(``sending``); the number's live tickets and officers carry the reason as ``sms_blocked`` so
``show`` and ``log`` say so. Only the operator lifts it, when the person asks by phone
(``opt_in``): Twilio cannot receive replies from Indian numbers.
"""

from tinydb import Query

from .clock import to_iso
from .errors import InvalidValue
from .names import clean_text
from .phones import LANDLINE, textable


def blocked_reason(db, phone):
    """:returns: why texts cannot reach ``phone`` (``"cannot receive SMS: ..."``), or None."""
    if not phone:
        return None
    doc = db.table("phones").get(Query().phone == phone)
    return (doc.get("blocked") or None) if doc else None


def flag_phone(db, phone, now, *, reason, opted_out=False, actor="gateway"):
    """Record that ``phone`` cannot get texts; mark its live tickets and officers (``sms_blocked``).

    :param reason: ``"cannot receive SMS: <code>: <what>"``. :param opted_out: the number replied STOP.
    :param now: aware UTC. The change is a history event on the number.
    """
    table = db.table("phones")
    doc = table.get(Query().phone == phone) or {}
    event = {"type": "opted-out" if opted_out else "blocked", "at": to_iso(now), "actor": actor, "note": reason}
    fields = {"phone": phone, "blocked": reason, "updated_at": to_iso(now),
              "opted_out_at": to_iso(now) if opted_out else doc.get("opted_out_at"),
              "history": list(doc.get("history") or []) + [event]}
    table.upsert(fields, Query().phone == phone)
    db.table("tickets").update({"sms_blocked": reason}, Query().phone == phone)
    db.table("officers").update({"sms_blocked": reason}, Query().phone == phone)


def opt_in(db, phone, *, note, actor, now):
    """Lift an opt-out or a block on ``phone`` because the person asked by phone to get texts again.

    :param phone: E.164. :param note: required: who asked, when (kept in the number's history).
    :returns: the reason that was lifted.
    :raises InvalidValue: empty note, or nothing to lift (the number can be texted already).
    """
    note = clean_text(note, 500, "the note")
    if not note:
        raise InvalidValue("a note is required (--note): who asked for texts again, and how.")
    table = db.table("phones")
    doc = table.get(Query().phone == phone)
    if not doc or not doc.get("blocked"):
        raise InvalidValue(f"{phone} is not opted out or blocked; texts can reach it already.")
    event = {"type": "opt-in", "at": to_iso(now), "actor": actor, "note": note}
    table.update({"blocked": None, "opted_out_at": None, "updated_at": to_iso(now),
                  "history": list(doc.get("history") or []) + [event]}, doc_ids=[doc.doc_id])
    for name in ("tickets", "officers"):
        for row in db.table(name).search(Query().phone == phone):
            db.table(name).update({"sms_blocked": None}, doc_ids=[row.doc_id])
    return doc["blocked"]


def no_texts_reason(ticket):
    """:returns: one line saying why the caller of ``ticket`` will get no texts, or None when they will.

    Reasons: a landline or a number of unknown type, or a number that opted out or that the
    gateway refused (the ticket's ``sms_blocked``).
    """
    if not ticket.get("phone"):
        return "no phone number: the caller will get no SMS"
    if ticket.get("sms_blocked"):
        return f"this number {ticket['sms_blocked']}; the caller will get no SMS"
    if ticket.get("phone_type") == LANDLINE:
        return "landline: the caller will get no SMS"
    if not textable(ticket.get("phone_type")):
        return f"{ticket.get('phone_type')} number type: the caller will get no SMS"
    return None
