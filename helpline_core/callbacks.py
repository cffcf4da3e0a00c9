"""Callback requests: a caller asked (on the voice menu) to be phoned back by an operator.

A request is a ``callback`` history event on a ticket and the ticket's ``callback`` field::

    "callback": {"requested_at": UTC ISO, "returned_at": UTC ISO | null, "escalated_at": UTC ISO | null,
                 "call_sid": "CA..."}

It is *waiting* while ``returned_at`` is null and the ticket is not final. ``helpline callbacks``
lists the waiting ones oldest first; ``helpline log --callback TICKET`` records that the call
was returned; the escalation job texts the area's supervisors about requests waiting longer
than ``[ivr] callback_sla_minutes`` (once per request).
"""

from .clock import from_iso, to_iso
from .errors import TransitionError
from .tickets import FINAL, _apply, _event, _load, get_live, log_call

ACTOR = "ivr"


def request_callback(db, config, store, settings, *, phone, category, language, now, call_sid):
    """Open a ``callback`` ticket for ``phone`` in ``category``, or add a ``callback`` event to
    the caller's open ticket in that category. Routed like any call (``tickets.log_call``).

    :param db: a TinyDB in ``Store.ticket_transaction``. :param settings: ``IvrSettings``.
    :param phone: E.164. :param category: a configured category. :param call_sid: Twilio's CallSid.
    :returns: ``(ticket, opened)``; ``opened`` is True when a new ticket was opened.
    :raises HelplineError: as ``log_call`` (an unknown area or category); nothing is stored.
    """
    from .store import live_rows

    mine = sorted(serial for serial, (p, _, status, _) in live_rows(db) if p == phone and status not in FINAL)
    tickets = db.table("tickets")
    for serial in mine:
        _load(db, serial)
    same = [tickets.get(doc_id=s) for s in mine]
    same = [t for t in same if t is not None]
    existing = [t for t in same if t["category"] == category]
    opened = not existing
    if existing:
        ticket = existing[-1]
    else:
        area = same[-1]["area"] if same else settings.callback_area
        ticket, _ = log_call(db, config, store, phone=phone, area=area, category=category, actor=ACTOR, now=now,
                             language=language, description="Callback requested on the voice menu.", force_new=True)
    waiting = ticket.get("callback") if ticket.get("callback") and not ticket["callback"].get("returned_at") else None
    state = waiting or {"requested_at": to_iso(now), "returned_at": None, "escalated_at": None, "call_sid": call_sid}
    note = f"callback requested on the voice menu (call {call_sid})"
    ticket = _apply(tickets, ticket, _event("callback", ACTOR, now, note), callback=state)
    return ticket, opened


def waiting_callbacks(tickets, now):
    """:param tickets: live ticket documents. :returns: the waiting requests, oldest first:
    ``[{"id", "phone", "category", "area", "language", "status", "requested_at", "waited_minutes",
    "escalated"}]``."""
    rows = []
    for t in tickets:
        request = t.get("callback")
        if not request or request.get("returned_at") or t["status"] in FINAL:
            continue
        waited = int((now - from_iso(request["requested_at"])).total_seconds() // 60)
        rows.append({"id": t["id"], "phone": t.get("phone"), "category": t["category"], "area": t["area"],
                     "language": t.get("language"), "status": t["status"], "requested_at": request["requested_at"],
                     "waited_minutes": max(waited, 0), "escalated": bool(request.get("escalated_at"))})
    return sorted(rows, key=lambda r: (r["requested_at"], r["id"]))


def mark_returned(db, config, ticket_id, *, actor, now, note=None):
    """Record that an operator returned a caller's requested call.

    :returns: the ticket. :raises NotFound: no live ticket. :raises TransitionError: the ticket
        has no callback waiting. Nothing is stored on an error.
    """
    ticket = get_live(db, config, ticket_id)
    request = ticket.get("callback")
    if not request or request.get("returned_at"):
        raise TransitionError(f"{ticket['id']} has no callback waiting; see 'helpline callbacks'.")
    waited = int((now - from_iso(request["requested_at"])).total_seconds() // 60)
    text = f"callback returned after {max(waited, 0)} min" + (f": {note}" if note else "")
    return _apply(db.table("tickets"), ticket, _event("callback", actor, now, text),
                  callback=dict(request, returned_at=to_iso(now)))


def escalate_callbacks(db, config, now, officers, sla_minutes):
    """For the escalation job: text the area's supervisors about each callback request waiting
    longer than ``sla_minutes`` (once per request), and record an ``escalate`` event.

    :param officers: the officer documents. :returns: how many requests were escalated.
    """
    from .job_tasks import _supervisors_for, queue_escalation

    tickets = db.table("tickets")
    count = 0
    for ticket in tickets.all():
        request = ticket.get("callback")
        if not request or request.get("returned_at") or request.get("escalated_at") or ticket["status"] in FINAL:
            continue
        waited_minutes = (now - from_iso(request["requested_at"])).total_seconds() / 60
        if waited_minutes <= sla_minutes:
            continue
        recipients = _supervisors_for(officers, ticket["area"])
        note = (f"callback waiting {int(waited_minutes)} min: to "
                f"{', '.join(r['officer_id'] for r in recipients) or 'nobody (no supervisor)'}")
        ticket = _apply(tickets, ticket, _event("escalate", "scheduler", now, note),
                        callback=dict(request, escalated_at=to_iso(now)))
        queue_escalation(db, config, ticket, recipients, now, level="C",
                         overdue_hours=int(waited_minutes // 60), officer_name="")
        count += 1
    return count
