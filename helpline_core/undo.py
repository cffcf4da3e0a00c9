"""``helpline undo``: take back the operator's own last change to a ticket, from its history.

Which change: the newest history event, over every live ticket, that the operator made (its
``actor``, or ``recorded_by`` when they typed in someone else's verification). It can be undone
only while it is still the newest event of its ticket: when anybody (a colleague, a job, a
follow-up call) changed the ticket since, undo refuses and says who did what.

Undoable events and what undo restores (from the event's ``changes``, ``{field: [old, new]}``):
``assign``, ``unassign``, ``resolve``, ``reopen``, ``reject``, ``verify`` (closed or reopened)
and ``not_reached`` (no longer counted), ``note`` (withdrawn: kept in the history, marked undone).
Not undoable: ``opened`` and ``call`` (a logged call happened; reject a wrong ticket instead),
imported history, ``escalate`` (a job's), ``undo`` itself (do the change again instead).

The undo is itself a history event: ``{"type": "undo", "undoes": index, "changes": {field:
[new, old]}, "note": "undoes resolve of 2026-11-30 11:30"}``. Texts the undone event queued that
are still waiting are superseded when ``sms send`` checks them (``freshness``: the ticket's status
or officer moved on); texts already sent cannot be taken back (the result lists them).
An officer who was unassigned, and is now deactivated, is not given the ticket back: undo refuses.
"""

from .clock import from_iso, local_text, to_iso
from .errors import NotFound, TransitionError
from .words import event_label

UNDOABLE = ("assign", "unassign", "resolve", "reopen", "reject", "verify", "not_reached", "note")
SENT_STATES = ("sent", "delivered", "undelivered", "sending", "unknown")  # out of our hands
REFUSED = {
    "opened": "a logged call cannot be undone; reject the ticket with a reason instead",
    "call": "a logged call cannot be undone; add a note instead",
    "undo": "an undo cannot be undone; make the change again instead",
    "escalate": "an escalation is the scheduler's, not yours",
}


def _mine(event, actor):
    who = actor.casefold()
    return str(event.get("actor", "")).casefold() == who or str(event.get("recorded_by", "")).casefold() == who


def last_change(db, config, actor, ticket_id=None):
    """Find the change ``undo`` would take back.

    :param db: a TinyDB over the live data (a full ``Store.transaction`` or ``snapshot``).
    :param actor: the operator (``--as``). :param ticket_id: only look at this ticket (as typed).
    :returns: ``(ticket, index, event)``: the ticket and its history event to undo.
    :raises NotFound: the operator made no change to a live ticket (or to ``ticket_id``).
    :raises TransitionError: the change is not undoable, or someone changed the ticket since.
    """
    from .tickets import get_live, undone_events

    candidates = [get_live(db, config, ticket_id)] if ticket_id else db.table("tickets").all()
    best = None
    for ticket in candidates:
        undone = undone_events(ticket)
        for index, event in enumerate(ticket["history"]):
            if index in undone or not _mine(event, actor) or event.get("source"):
                continue
            key = (from_iso(event["at"]), ticket["serial"], index)
            if best is None or key > best[0]:
                best = (key, ticket, index, event)
    if best is None:
        where = f" to {ticket_id}" if ticket_id else " to a live ticket"
        raise NotFound(f"{actor} made no change{where} that undo could take back.")
    _, ticket, index, event = best
    when = local_text(event["at"], config.tz)
    kind = event["type"]
    if kind == "assign" and index == 1 and ticket["history"][0]["type"] == "opened" \
            and ticket["history"][0]["at"] == event["at"]:
        kind = "opened"  # the routing of a newly logged call is part of the log
    if kind not in UNDOABLE:
        why = REFUSED.get(kind, "only assign, unassign, resolve, reopen, reject, verify and note can be undone")
        raise TransitionError(f"your last change is the {kind} of {ticket['id']} at {when}: {why}.")
    if index != len(ticket["history"]) - 1:
        later = ticket["history"][-1]
        raise TransitionError(
            f"your last change, the {event_label(event['type'])} of {ticket['id']} at {when}, cannot be undone: "
            f"{later['actor']} changed the ticket since ({event_label(later['type'])} at {local_text(later['at'], config.tz)}).")
    return ticket, index, event


def describe(ticket, event, tz):
    """:returns: one line saying what ``undo`` will take back, in words, e.g. ``resolve of SXR-10003
    at 2026-11-30 11:30 (done): status back to assigned; resolved by back to none``."""
    from .words import shown_changes

    changes = "; ".join(f"{label} back to {old}" for label, old, _ in shown_changes(event.get("changes"), tz))
    what = f"{event_label(event['type'])} of {ticket['id']} at {local_text(event['at'], tz)}"
    if event.get("note"):
        what += f" ({event['note']})"
    return what + (f": {changes}" if changes else "")


def undo_last(db, config, actor, now, *, ticket_id=None, expect=None):
    """Undo the operator's last change (see the module docstring).

    :param expect: ``(ticket ID, index)`` that the operator confirmed; when the last change is
        another one by now, nothing is done and ``TransitionError`` is raised.
    :returns: ``(ticket, undone event, [keys of the event's texts that went out already])``.
    :raises NotFound, TransitionError: see ``last_change``; also when a field has changed since,
        or the officer to give the ticket back to is deactivated. Nothing is changed then.
    """
    from .routing import get_officer
    from .tickets import _apply, _event

    ticket, index, event = last_change(db, config, actor, ticket_id)
    if expect is not None and (ticket["id"], index) != tuple(expect):
        raise TransitionError("your last change is no longer the one confirmed; run 'helpline undo' again.")
    changes = event.get("changes") or {}
    for field, (old, new) in changes.items():
        if field != "messages" and ticket.get(field) != new:
            from .words import TICKET_CHANGE_LABELS, value_text

            label = TICKET_CHANGE_LABELS.get(field, field.replace("_", " "))
            raise TransitionError(f"{ticket['id']}'s {label} is {value_text(ticket.get(field), config.tz)} now, "
                                  f"not {value_text(new, config.tz)}: it was changed another way; undo refused.")
    restore = {field: old for field, (old, new) in changes.items()}
    officer = restore.get("officer")
    if officer and not get_officer(db, officer)["active"]:
        raise TransitionError(f"undoing would give {ticket['id']} back to {officer}, who is deactivated; "
                              f"assign it instead.")
    undo_event = _event("undo", actor, now, f"undoes {event_label(event['type'])} of {local_text(event['at'], config.tz)}")
    undo_event["undoes"] = index
    updated = _apply(db.table("tickets"), ticket, undo_event, **restore)

    sent = sorted(key for key, state in (ticket.get("messages") or {}).items()
                  if key.split(":")[2:3] == [str(index)] and state in SENT_STATES)
    return db.table("tickets").get(doc_id=updated.doc_id), event, sent
