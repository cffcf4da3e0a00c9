"""Is a waiting text still true? The check ``sms send`` makes just before a text goes out.

A text is queued with a snapshot of the ticket as it was; it may wait hours (quiet hours, retries)
while the ticket moves on. Just before sending, each text that belongs to a ticket is checked
against the ticket as it is now (issue 8):

- *overtaken*: an event after the ones the ticket had when the text was queued changed the
  ticket's status or officer (resolved, reopened, reassigned, unassigned, rejected, closed). A
  caller's text then tells an old state; an officer's text may name work no longer theirs. Such
  a text is ``superseded``, not sent. Because each of the caller's state texts (``logged``,
  ``assigned``, ``resolved``, ``reopened``, ``closed``) comes from a change of status or
  officer, several of them waiting at once collapse to the latest state's text.
- a ``followup`` (the caller's call was added) is superseded while a state text of the same
  ticket, or a newer follow-up, is waiting to go out: one text per ticket says where it stands.
- officer texts: superseded when the officer is deactivated or gone; ``officer_assigned`` also
  when the ticket is no longer assigned to that officer; ``escalation`` also when the ticket is no
  longer open or assigned, and a callback's escalation when the callback was returned. An escalation's figures (hours past due, the officer's name) are
  computed at send time from the ticket, not at queue time.

Texts without a ticket (digests, test texts) are checked for their officer only.
"""

from .clock import from_iso, local_text

STATE_TEXTS = ("logged", "assigned", "resolved", "reopened", "closed")
FOLLOWUP = "followup"
MOVES = ("status", "officer")  # the fields whose change makes a queued text stale


def queued_events(record):
    """:returns: how many history events the record's ticket had when the text was queued: the
        stored ``ticket_events``, else (a record queued before it was stored) the event sequence
        in the key plus one; None when the text is not about a ticket event."""
    if record.get("ticket_events") is not None:
        return int(record["ticket_events"])
    parts = str(record.get("key", "")).split(":")
    if record.get("ticket_id") and len(parts) == 4 and parts[0] == record["ticket_id"] and parts[2].isdigit():
        return int(parts[2]) + 1
    return None


def overtaking_event(ticket, record):
    """:returns: the first history event after the text was queued that changed the ticket's status
        or officer (a dict with ``type`` and ``at``), or None when the ticket has not moved on."""
    seen = queued_events(record)
    if seen is None:
        return None
    for event in ticket.get("history", [])[seen:]:
        if any(field in (event.get("changes") or {}) for field in MOVES):
            return event
    return None


def _describe(event, tz):
    words = {"assign": "reassigned", "unassign": "unassigned", "resolve": "resolved", "reopen": "reopened",
             "reject": "rejected", "verify": "verified", "call": "called about"}
    return f"the ticket was {words.get(event['type'], event['type'])} at {local_text(event['at'], tz)}"


def check(record, ticket, officers, waiting, now, tz):
    """Decide whether ``record`` still goes out, and with which values.

    :param record: the outbox record about to be sent.
    :param ticket: its ticket as it is now (live or archived), or None (no ticket, or not found).
    :param officers: {officer_id: officer document} of every officer.
    :param waiting: the other live waiting records (queued or held) of the same ticket.
    :param now: aware UTC, the run's clock. :param tz: the district's zone (for the reason's times).
    :returns: ``(reason, context)``: ``reason`` is None when the text goes out, else a sentence saying
        why it is superseded; ``context`` is the context to render (refreshed figures) or None.
    """
    officer_id = record.get("officer_id")
    if officer_id and record.get("audience") != "caller":
        officer = officers.get(officer_id)
        if officer is None or not officer.get("active", True):
            return f"officer {officer_id} is no longer active", None
    if ticket is None:
        return None, None
    event = overtaking_event(ticket, record)
    if event is not None:
        return _describe(event, tz) + " after this text was queued", None
    template = record.get("template")
    if template == "officer_assigned" and (ticket.get("officer") != officer_id or ticket.get("status") != "assigned"):
        return f"the ticket is no longer assigned to {officer_id}", None
    if template == "escalation":
        if ticket.get("status") not in ("open", "assigned"):
            return f"the ticket is {ticket.get('status')}", None
        callback = ticket.get("callback") or {}
        if (record.get("context") or {}).get("level") == "C" and callback.get("returned_at"):
            return f"the callback was returned at {local_text(callback['returned_at'], tz)}", None
        return None, _escalation_context(record, ticket, officers, now)
    if template == FOLLOWUP:
        mine = queued_events(record) or 0
        for other in waiting:
            if other.get("audience") != "caller" or other["key"] == record["key"] \
                    or overtaking_event(ticket, other) is not None:
                continue
            if other.get("template") in STATE_TEXTS:
                return f"the caller gets the ticket's latest state instead ({other['key']})", None
            if other.get("template") == FOLLOWUP and (queued_events(other) or 0) > mine:
                return f"a newer follow-up text is waiting ({other['key']})", None
    return None, None


def _escalation_context(record, ticket, officers, now):
    """:returns: the escalation's context with hours past due and the officer's name as of ``now``;
        for a callback's escalation (level C) the hours the caller has waited since asking."""
    context = dict(record.get("context") or {})
    due = from_iso(ticket.get("due_at")) if ticket.get("due_at") else None
    if context.get("level") == "C" and (ticket.get("callback") or {}).get("requested_at"):
        due = from_iso(ticket["callback"]["requested_at"])
    context["overdue_hours"] = int((now - due).total_seconds() // 3600) if due and now > due else 0
    officer = officers.get(ticket.get("officer")) if ticket.get("officer") else None
    if "officer_name" in context:
        from .notify import NAME_CHARS, cut

        context["officer_name"] = cut(officer["name"], NAME_CHARS) if officer else ""
    return context
