"""The ticket lifecycle (DESIGN.md):

    open --assign--> assigned --resolve--> resolved --verify(confirmed)--> closed
      ^                 |  ^                   |
      +--(unassign)-----+  +---reopen----------+   (verify --not-solved reopens too)
    open/assigned --reject (reason required)--> rejected

Each function takes ``db`` (a TinyDB inside ``Store.transaction``), the district ``config``,
the ``actor`` (who did it) and ``now`` (aware UTC), changes one ticket, appends a history event
and returns the ticket document. Nothing is written until the transaction ends.
"""

from datetime import timedelta

from tinydb import Query
from tinydb.table import Document

from . import notify, routing
from .clock import from_iso, to_iso
from .errors import InvalidValue, NotFound, TransitionError
from .ids import format_id, parse_id
from .names import clean_text
from .numbers import blocked_reason
from .store import put_document
from .phones import parse_phone

OPEN, ASSIGNED, RESOLVED, CLOSED, REJECTED = "open", "assigned", "resolved", "closed", "rejected"
STATUSES = (OPEN, ASSIGNED, RESOLVED, CLOSED, REJECTED)
FINAL = (CLOSED, REJECTED)
ACTIVE = (OPEN, ASSIGNED, RESOLVED)
FOLLOWUP_REOPEN_NOTE = "the caller called again: not solved"

# status -> the actions allowed in it (for the refusal message as much as for the check)
ALLOWED = {
    OPEN: ("assign", "reject", "note"),
    ASSIGNED: ("assign", "unassign", "resolve", "reject", "note"),
    RESOLVED: ("verify", "reopen", "note"),
    CLOSED: ("note",),
    REJECTED: ("note",),
}


def _require(ticket, action):
    if action not in ALLOWED[ticket["status"]]:
        raise TransitionError(
            f"{ticket['id']} is {ticket['status']}; cannot {action} it. "
            f"Allowed now: {', '.join(ALLOWED[ticket['status']])}."
        )


def _event(kind, actor, now, note=None, changes=None):
    event = {"type": kind, "at": to_iso(now), "actor": actor, "note": note}
    if changes:
        event["changes"] = changes
    return event


def _apply(tickets_table, ticket, event, **fields):
    """Set ``fields`` on ``ticket``, record old/new values in ``event``, and store both."""
    changes = {k: [ticket.get(k), v] for k, v in fields.items() if ticket.get(k) != v}
    if changes:
        event.setdefault("changes", {}).update(changes)
    updated = dict(ticket)
    updated.update(fields)
    updated["history"] = ticket["history"] + [event]
    put_document(tickets_table, ticket.doc_id, updated)
    return Document(updated, doc_id=ticket.doc_id)


def _load(db, serial):
    """In a one-ticket transaction (``Store.ticket_transaction``), parse that ticket's line first."""
    if getattr(db, "partial", None) is not None:
        db.partial.load(serial)


def _fresh(db, ticket):
    """:returns: the stored ticket again (with the message summary ``notify`` just added)."""
    return db.table("tickets").get(doc_id=ticket.doc_id)


def _need_text(value, what):
    text = clean_text(value, 1000, what)
    if not text:
        raise InvalidValue(f"{what} is required and cannot be empty.")
    return text


def due_at(config, category, start):
    """:returns: ``start`` + the category's SLA hours (aware UTC)."""
    return start + timedelta(hours=config.sla_hours(category))


def next_serial(db):
    """Take the next ticket serial from the stored counter (never TinyDB's doc_id; never reused)."""
    meta = db.table("meta")
    current = meta.get(doc_id=1)
    serial = (current["serial"] if current else 999) + 1
    meta.upsert(Document({"serial": serial}, doc_id=1))
    return serial


def get_live(db, config, ticket_id):
    """:param ticket_id: as typed. :returns: the live ticket document.

    :raises InvalidValue: mistyped ID. :raises NotFound: no such live ticket (archived tickets are final).
    """
    serial = parse_id(ticket_id, config.district_code)
    _load(db, serial)
    ticket = db.table("tickets").get(doc_id=serial)
    if ticket is None:
        raise NotFound(f"no open ticket {format_id(config.district_code, serial)}: "
                       f"it does not exist or is archived (final); see 'helpline show'.")
    return ticket


def _same_caller(db, e164, category):
    """:returns: the live tickets of number ``e164`` in ``category`` (none for an unknown number)."""
    from .store import live_rows

    if not e164:
        return []
    matches = [serial for serial, (phone, cat, _, _) in live_rows(db) if phone == e164 and cat == category]
    for serial in matches:
        _load(db, serial)
    return [db.table("tickets").get(doc_id=serial) for serial in matches]


def followup_target(db, config, phone, category):
    """The ticket a call from ``phone`` about ``category`` would be added to (``log_call``).

    :param phone: E.164 (or as typed), or None for a caller with no number (never a follow-up).
    :returns: the newest live, non-final ticket of that number in that category, or None.
    :raises InvalidValue, NotFound: bad phone or category. Reads only: nothing is changed.
    """
    e164 = parse_phone(phone)[0] if phone else None
    active = [t for t in _same_caller(db, e164, config.category(category)) if t["status"] not in FINAL]
    return max(active, key=lambda t: t["serial"]) if active else None


def log_call(db, config, store, *, phone, area, category, actor, now, caller_name=None,
             language="en", description=None, force_new=False):
    """Log one call: open a ticket, or add the call to the caller's open ticket in that category.

    A call on a *resolved* ticket says it is not solved: it reopens the ticket to its officer (a
    ``reopen`` event after the ``call``; the caller is texted that it is open again). A call that
    gives another area than the open ticket's is still added to it: the ticket keeps its area and
    the call's event notes the one given.

    :param phone: as typed (parsed for region IN), or None when the caller's number is unknown
        (withheld, no caller ID): the ticket is never texted and never matched as a follow-up.
    :param store: the ``Store`` (to look up the caller's archived tickets for a link).
    :param force_new: open a new ticket even when the caller has one open in the category.
    :returns: ``(ticket, followup)``; ``followup`` is True when the call was added to a ticket.
    :raises InvalidValue, NotFound: bad phone, area, category or language; nothing is stored
        (``AmbiguousName``, a NotFound, for a typed name of two areas; an exact area name is
        taken as that area).
    """
    e164, phone_type = parse_phone(phone) if phone else (None, "unknown")
    area = config.area(area, canonical=True)  # the commands resolved it, asking when ambiguous
    category = config.category(category)
    language = config.language(language or "en")
    caller_name = clean_text(caller_name, 80, "the caller's name") or None
    description = clean_text(description, 1000, "the description") or None
    tickets = db.table("tickets")
    same_caller = _same_caller(db, e164, category)
    if not force_new:
        active = [t for t in same_caller if t["status"] not in FINAL]
        if active:
            ticket = max(active, key=lambda t: t["serial"])
            note = description
            if ticket["area"] != area:  # the ticket keeps its area; the call's is kept in the history
                note = "; ".join(x for x in (f"caller gave area {area} (ticket is for {ticket['area']})",
                                             description) if x)
            event = _event("call", actor, now, note)
            ticket = _apply(tickets, ticket, event, calls=ticket["calls"] + 1)
            if ticket["status"] == RESOLVED:  # the caller is saying it is not solved: back to the officer
                return _reopen(db, config, ticket, _event("reopen", actor, now, FOLLOWUP_REOPEN_NOTE), now), True
            notify.ticket_event(db, config, ticket, "call", now)
            return _fresh(db, ticket), True

    earlier = [(t["serial"], t["id"]) for t in same_caller if t["status"] in FINAL]
    if e164:
        earlier += [(row[0], format_id(config.district_code, row[0]))
                    for row in store.read_phone_index(e164) if row[1] == category]
    follows = max(earlier)[1] if earlier else None

    serial = next_serial(db)
    ticket = {
        "id": format_id(config.district_code, serial), "serial": serial, "status": OPEN,
        "phone": e164, "phone_type": phone_type, "caller_name": caller_name, "area": area,
        "category": category, "description": description, "language": language, "officer": None,
        "opened_at": to_iso(now), "due_at": to_iso(due_at(config, category, now)),
        "resolved_at": None, "resolved_by": None, "closed_at": None, "final_at": None,
        "follows": follows, "calls": 1,
        "history": [_event("opened", actor, now, f"follows {follows}" if follows else
                           None if e164 else "no caller number: never texted")],
    }
    blocked = blocked_reason(db, e164)
    if blocked:
        ticket["sms_blocked"] = blocked
    officer = routing.pick_officer(db, area, category)
    if officer:  # routed before the insert: one write of the table instead of two
        ticket["status"], ticket["officer"] = ASSIGNED, officer["officer_id"]
        ticket["history"].append(_event("assign", actor, now, "routed automatically", changes={
            "status": [OPEN, ASSIGNED], "officer": [None, officer["officer_id"]]}))
    tickets.insert(Document(ticket, doc_id=serial))
    ticket = tickets.get(doc_id=serial)
    notify.ticket_event(db, config, ticket, "opened", now, sequence=0)
    if officer:
        notify.ticket_event(db, config, ticket, "assign", now, sequence=1)
    return tickets.get(doc_id=serial), False


def assign(db, config, ticket_id, officer_id=None, *, actor, now):
    """Assign (or reassign) a ticket to ``officer_id``, or route it automatically when None.

    :raises TransitionError: ticket not open/assigned, or already with that officer.
    :raises NotFound: unknown or inactive officer, or no officer covers the area and category.
    """
    tickets = db.table("tickets")
    ticket = get_live(db, config, ticket_id)
    _require(ticket, "assign")
    if officer_id is None:
        officer = routing.pick_officer(db, ticket["area"], ticket["category"], exclude=ticket["officer"])
        if officer is None:
            raise NotFound(f"no active officer covers {ticket['area']} / {ticket['category']}; "
                           f"name one: helpline assign {ticket['id']} OFFICER.")
        note = "routed automatically"
    else:
        officer = routing.get_officer(db, officer_id)
        if not officer["active"]:
            raise InvalidValue(f"officer {officer['officer_id']} is deactivated; choose another.")
        note = None
    if ticket["officer"] == officer["officer_id"]:
        raise TransitionError(f"{ticket['id']} is already assigned to {officer['officer_id']}.")
    ticket = _apply(tickets, ticket, _event("assign", actor, now, note), status=ASSIGNED,
                    officer=officer["officer_id"])
    notify.ticket_event(db, config, ticket, "assign", now)
    return _fresh(db, ticket)


def unassign(db, config, ticket_id, *, actor, now, note=None):
    """Take an assigned ticket back to ``open``. :raises TransitionError: unless assigned."""
    ticket = get_live(db, config, ticket_id)
    _require(ticket, "unassign")
    return _apply(db.table("tickets"), ticket, _event("unassign", actor, now, note), status=OPEN, officer=None)


def resolve(db, config, ticket_id, *, note, actor, now, by=None):
    """Mark an assigned ticket resolved; ``by`` (officer id) defaults to the assigned officer.

    :raises InvalidValue: empty note. :raises TransitionError: unless assigned.
    """
    note = _need_text(note, "a resolution note (--note)")
    ticket = get_live(db, config, ticket_id)
    _require(ticket, "resolve")
    by = routing.get_officer(db, by)["officer_id"] if by else ticket["officer"]
    ticket = _apply(db.table("tickets"), ticket, _event("resolve", actor, now, note), status=RESOLVED,
                    resolved_at=to_iso(now), resolved_by=by)
    notify.ticket_event(db, config, ticket, "resolve", now)
    return _fresh(db, ticket)


def _reopen(db, config, ticket, event, now):
    officer = ticket["officer"]
    if officer and not routing.get_officer(db, officer)["active"]:
        officer = None
    ticket = _apply(db.table("tickets"), ticket, event, status=ASSIGNED if officer else OPEN, officer=officer,
                    resolved_at=None, resolved_by=None,
                    due_at=to_iso(due_at(config, ticket["category"], now)))
    notify.ticket_event(db, config, ticket, "reopen", now)
    return _fresh(db, ticket)


def _check_verifier(db, ticket, verifier):
    """:raises TransitionError: when ``verifier`` is the officer who resolved ``ticket`` (by ID or name)."""
    resolver = ticket.get("resolved_by")
    if resolver:
        officer = db.table("officers").get(Query().officer_id == resolver) or {}
        names = {resolver.casefold(), str(officer.get("name", "")).casefold()}
        if verifier.casefold() in names:
            raise TransitionError(f"{ticket['id']} was resolved by {resolver}; someone else must verify it.")


def _verify_event(verifier, actor, now, note, extra):
    event = _event("verify", verifier, now, note)
    if verifier != actor:
        event["recorded_by"] = actor  # the operator who typed it in: theirs to undo
    event.update(extra or {})
    return event


def verify(db, config, ticket_id, *, confirmed, actor, now, note=None, by=None, extra=None):
    """Record the cross-check with the caller: ``confirmed`` closes, otherwise reopens to the officer.

    :param by: the verifier (defaults to ``actor``); must not be the officer who resolved it.
    :param extra: more fields for the history event (``{"from_list": "2026-11-30"}``).
    :raises TransitionError: unless resolved, or when the verifier resolved it.
    """
    ticket = get_live(db, config, ticket_id)
    _require(ticket, "verify")
    verifier = clean_text(by or actor)
    _check_verifier(db, ticket, verifier)
    if confirmed:
        stamp = to_iso(now)
        ticket = _apply(db.table("tickets"), ticket,
                        _verify_event(verifier, actor, now, note or "confirmed by caller", extra),
                        status=CLOSED, closed_at=stamp, final_at=stamp)
        notify.ticket_event(db, config, ticket, "close", now)
        return _fresh(db, ticket)
    return _reopen(db, config, ticket, _verify_event(verifier, actor, now, note or "caller says not solved", extra),
                   now)


NOT_REACHED = "not_reached"  # the history event of a verification call nobody answered


def undone_events(ticket):
    """:returns: the set of history indexes that an ``undo`` event has taken back."""
    return {e["undoes"] for e in ticket.get("history", ()) if e.get("type") == "undo" and "undoes" in e}


def not_reached_count(ticket):
    """:returns: how often the verifier could not reach the caller since the ticket was last
    resolved (``not_reached`` events after the last ``resolve`` event, undone ones not counted)."""
    history = ticket.get("history", ())
    undone = undone_events(ticket)
    count = 0
    for index, event in enumerate(history):
        if event.get("type") == "resolve":
            count = 0
        elif event.get("type") == NOT_REACHED and index not in undone:
            count += 1
    return count


def verification_not_reached(db, config, ticket_id, *, actor, now, note=None, by=None, extra=None):
    """Record a verification call that did not reach the caller: the ticket stays ``resolved`` and
    on the verification list; the attempts are counted (``not_reached_count``). Once they reach
    ``[verification] max_attempts`` the supervisor's morning digest lists the ticket
    (``job_tasks.digest_task``). Nothing is texted.

    :param by: the verifier (default ``actor``); the same rule as ``verify``: never the resolver.
    :param extra: more fields for the history event (``{"from_list": "2026-11-30"}``).
    :returns: the ticket. :raises TransitionError: unless resolved, or when the verifier resolved it.
    """
    ticket = get_live(db, config, ticket_id)
    _require(ticket, "verify")
    verifier = clean_text(by or actor)
    _check_verifier(db, ticket, verifier)
    event = _event(NOT_REACHED, verifier, now, note or "caller not reached")
    if verifier != actor:
        event["recorded_by"] = actor
    event.update(extra or {})
    return _apply(db.table("tickets"), ticket, event)


def reopen(db, config, ticket_id, *, note, actor, now):
    """Send a resolved ticket back to its officer (or ``open`` if the officer left); restarts the SLA."""
    note = _need_text(note, "a note saying why (--note)")
    ticket = get_live(db, config, ticket_id)
    _require(ticket, "reopen")
    return _reopen(db, config, ticket, _event("reopen", actor, now, note), now)


def reject(db, config, store, ticket_id, *, reason, actor, now, duplicate_of=None):
    """Reject an open or assigned ticket (duplicate, out of scope, prank).

    :raises InvalidValue: empty reason, or ``duplicate_of`` is the ticket itself.
    :raises NotFound: ``duplicate_of`` does not exist.
    """
    reason = _need_text(reason, "a reason (--reason)")
    ticket = get_live(db, config, ticket_id)
    _require(ticket, "reject")
    fields = {}
    if duplicate_of:
        original = find_ticket(db, store, config, duplicate_of)
        if original["serial"] == ticket["serial"]:
            raise InvalidValue(f"{ticket['id']} cannot be a duplicate of itself.")
        fields["duplicate_of"] = original["id"]
    stamp = to_iso(now)
    return _apply(db.table("tickets"), ticket, _event("reject", actor, now, reason), status=REJECTED,
                  final_at=stamp, **fields)


def add_note(db, config, ticket_id, text, *, actor, now):
    """Append a note to a live ticket's history. :raises InvalidValue: empty text."""
    text = _need_text(text, "note text")
    ticket = get_live(db, config, ticket_id)
    return _apply(db.table("tickets"), ticket, _event("note", actor, now, text))


def edit_phone(db, config, store, ticket_id, phone, *, actor, now, note=None):
    """Correct a live ticket's phone number (a mistyped or changed number).

    The number's type and whether texts can reach it (``numbers.blocked_reason``) are worked out
    again; caller texts still waiting for the old number are cancelled, unsent. Later events text
    the new number when it can receive SMS.

    :param phone: as typed. :param store: the ``Store`` (cancelled texts move to their day file).
    :returns: the ticket. :raises InvalidValue: bad number, or the same number as now.
    :raises NotFound: no such live ticket (final tickets are archived and not edited).
    """
    from . import outbox

    e164, phone_type = parse_phone(phone)
    ticket = get_live(db, config, ticket_id)
    if ticket["phone"] == e164:
        raise InvalidValue(f"{ticket['id']} already has the number {e164}.")
    old = ticket["phone"]
    ticket = _apply(db.table("tickets"), ticket, _event("edit", actor, now, clean_text(note, 500, "the note") or None),
                    phone=e164, phone_type=phone_type, sms_blocked=blocked_reason(db, e164))
    stale = [dict(doc) for doc in db.table("outbox").all()
             if doc.get("ticket_id") == ticket["id"] and doc["recipient"] == old and doc["state"] in outbox.WAITING]
    for record in stale:
        record.update(state=outbox.CANCELLED, updated_at=to_iso(now),
                      error=f"not sent: the ticket's number was corrected to {e164}")
    if stale:
        outbox.note_on_ticket(db, *stale)
        outbox.move_to_day_files(store, config, db, stale, now)
    return _fresh(db, ticket)


def find_ticket(db, store, config, ticket_id):
    """:param db: a TinyDB over the live data, or None to read just the ticket's own line
        (``Store.find_ticket_document``: ``show`` need not parse every live ticket).

    :returns: the ticket, live or archived. :raises InvalidValue: mistyped. :raises NotFound.
    """
    serial = parse_id(ticket_id, config.district_code)
    if db is None:
        ticket = store.find_ticket_document(serial)
    else:
        _load(db, serial)
        ticket = db.table("tickets").get(doc_id=serial)
        if ticket is None:
            ticket = store.read_block(store.block_of(serial)).get(str(serial))
    if ticket is None:
        raise NotFound(f"no ticket {format_id(config.district_code, serial)}.")
    return ticket


def is_overdue(ticket, now):
    """:returns: True when an open or assigned ticket is past its ``due_at``."""
    return ticket["status"] in (OPEN, ASSIGNED) and ticket.get("due_at") is not None \
        and from_iso(ticket["due_at"]) < now


def tickets_of_phone(db, store, phone):
    """:returns: every ticket of ``phone`` (E.164), live and archived, newest first."""
    live = db.table("tickets").search(Query().phone == phone)
    seen = {t["serial"] for t in live}
    found = list(live)
    blocks = {}
    for row in store.read_phone_index(phone):
        serial = row[0]
        if serial in seen:
            continue
        block = store.block_of(serial)
        if block not in blocks:
            blocks[block] = store.read_block(block)
        ticket = blocks[block].get(str(serial))
        if ticket:
            found.append(ticket)
            seen.add(serial)
    return sorted(found, key=lambda t: t["serial"], reverse=True)


def iter_tickets(db, store, include_archived):
    """Yield live tickets, then (when asked) archived ones not also live."""
    live = db.table("tickets").all()
    yield from live
    if include_archived:
        seen = {t["serial"] for t in live}
        for block in store.archived_blocks():
            for ticket in store.read_block(block).values():
                if ticket["serial"] not in seen:
                    yield ticket


def select(db, store, config, now, *, statuses=None, area=None, category=None, officer=None,
           overdue=False, since=None, until=None, phone=None, limit=None):
    """Filter tickets for ``list``.

    :param statuses: statuses to include; None means the active ones (open, assigned, resolved).
        Asking for closed or rejected reads the archives too.
    :param since, until: local dates (inclusive) of the opened time, in the district's zone.
    :param phone: E.164. :param limit: at most this many (newest first).
    :returns: list of ticket documents, newest first.
    """
    from .clock import local_day_bounds

    statuses = set(statuses or ACTIVE)
    start = local_day_bounds(since, config.tz)[0] if since else None
    end = local_day_bounds(until, config.tz)[1] if until else None
    found = []
    for t in iter_tickets(db, store, include_archived=bool(statuses & set(FINAL))):
        if t["status"] not in statuses:
            continue
        if area and t["area"] != area or category and t["category"] != category:
            continue
        if officer and t["officer"] != officer or phone and t["phone"] != phone:
            continue
        if overdue and not is_overdue(t, now):
            continue
        if start or end:
            opened = from_iso(t["opened_at"])
            if start and opened < start or end and opened >= end:
                continue
        found.append(t)
    found.sort(key=lambda t: t["serial"], reverse=True)
    return found[:limit] if limit else found
