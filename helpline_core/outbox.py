"""The outbox: the only way anything is texted.

A message is queued in the same store transaction as the event that calls for it, with a
snapshot of the values its text needs; ``sending`` renders and sends it later. While it waits
it lives in the live database's ``outbox`` table; once final for the sending run (sent, failed,
cancelled) it moves to ``sms/YYYY-MM-DD.json`` (by local date), so the live file stays the size
of the work still to do. Delivery status (``sms sync``) updates those day files.

Message record::

    {"key": "SXR-10429:assigned:3:+919876543210",   # (ticket, event, event sequence, recipient)
     "ticket_id": "SXR-10429" | null, "officer_id": "rafiq" | null,
     "audience": "caller" | "officer" | "supervisor", "recipient": "+91...", "lang": "en|hi|ur",
     "template": "assigned", "context": {...snapshot...},
     "state": "queued|held|sending|unknown|sent|delivered|undelivered|failed|cancelled|superseded",
     "body", "encoding", "segments": set when rendered (null before),
     "attempts": int, "next_attempt_at", "last_attempt_at", "sent_at", "created_at", "updated_at": UTC ISO,
     "gateway": "file|twilio" | null, "gateway_id": str | null,
     "error_code": int | null, "error": str | null, "ignore_quiet_hours": bool,
     "ticket_events": int | null,      # history events the ticket had when queued (``freshness``)
     "superseded": str | null,         # why it was not sent: the ticket moved on (``freshness``)
     "dropped": str | null,            # characters left out of the values: not sendable in GSM-7
     "over_budget": int | null,        # the segment budget the rendered text exceeds
     "checked_at": UTC ISO}            # last delivery-status poll (``sms sync``); absent before the first

A ticket keeps a short summary of its messages in ``ticket["messages"]`` ({key: state}) so
``show`` needs no other file.
"""

from datetime import timedelta

from .clock import to_iso
from .errors import InvalidValue, NotFound
from .store import put_document, raw_documents

QUEUED, HELD, SENDING, UNKNOWN = "queued", "held", "sending", "unknown"
SENT, DELIVERED, UNDELIVERED, FAILED, CANCELLED = "sent", "delivered", "undelivered", "failed", "cancelled"
SUPERSEDED = "superseded"  # final: the ticket moved on before the text went out (``freshness``)
WAITING = (QUEUED, HELD)
LIVE_STATES = (QUEUED, HELD, SENDING, UNKNOWN)
STATES = (QUEUED, HELD, SENDING, UNKNOWN, SENT, DELIVERED, UNDELIVERED, FAILED, CANCELLED, SUPERSEDED)
SMS_DIR = "sms"


def queue_message(db, now, *, key, recipient, audience, template, lang, context, ticket_id=None, officer_id=None,
                  ignore_quiet_hours=False, note=True, ticket_events=None):
    """Add a message to the outbox unless its key was queued before (the same event never twice).

    :param now: aware UTC. :param context: the snapshot the template renders from (strings, numbers,
        lists of dicts). :param note: add it to the ticket's message summary now (``notify`` does
        that once for all the texts of one event instead).
    :param ticket_events: how many history events the ticket has now; a later event that changes
        its status or officer supersedes the text (``freshness``).
    :returns: the record, or None when the key exists already.
    """
    table = db.table("outbox")
    keys = getattr(db, "outbox_keys", None)
    if keys is None:  # once per transaction: a job queues thousands
        keys = db.outbox_keys = {doc.get("key") for doc in raw_documents(db, "outbox")}
    if key in keys:
        return None
    if ticket_id is not None and key in (db.table("tickets").get(doc_id=_serial(ticket_id)) or {}).get("messages", {}):
        return None
    stamp = to_iso(now)
    record = {
        "key": key, "ticket_id": ticket_id, "officer_id": officer_id, "audience": audience,
        "recipient": recipient, "lang": lang, "template": template, "context": context,
        "state": QUEUED, "body": None, "encoding": None, "segments": None, "attempts": 0,
        "next_attempt_at": stamp, "last_attempt_at": None, "sent_at": None, "created_at": stamp,
        "updated_at": stamp, "gateway": None, "gateway_id": None, "error_code": None, "error": None,
        "ignore_quiet_hours": ignore_quiet_hours, "ticket_events": ticket_events,
    }
    put_document(table, table._get_next_id(), record)  # O(1): TinyDB's insert copies the whole table
    keys.add(key)
    if note:
        note_on_ticket(db, record)
    return record


def _serial(ticket_id):
    return int(ticket_id.split("-")[-1][:-1])


def note_on_ticket(db, *records):
    """Keep a ticket's ``messages`` summary ({key: state}) in step with ``records`` (all of one
    ticket; live tickets only), in one update."""
    records = [r for r in records if r and r.get("ticket_id")]
    if not records:
        return
    tickets = db.table("tickets")
    serial = _serial(records[0]["ticket_id"])
    ticket = tickets.get(doc_id=serial)
    if ticket is None:
        return
    messages = dict(ticket.get("messages") or {})
    for record in records:
        messages[record["key"]] = record["state"]
    put_document(tickets, serial, dict(ticket, messages=messages))


def day_path(store, day):
    """:returns: the day file of final messages for local date ``day``."""
    return store.data_dir / SMS_DIR / f"{day.isoformat()}.json"


def move_to_day_files(store, config, db, records, now):
    """Move final ``records`` out of the live outbox into their day files (lock held).

    Day files are written before the caller's transaction writes the live file, so a crash in
    between leaves a message in both; ``live_or_day`` prefers the day file's copy for final
    states and the next run removes the live one.
    """
    from .store import atomic_write, dump_json, read_json

    if not records:
        return
    by_day = {}
    for record in records:
        day = now.astimezone(config.tz).date()
        by_day.setdefault(day, []).append(record)
    (store.data_dir / SMS_DIR).mkdir(mode=0o700, exist_ok=True)
    for day, moving in by_day.items():
        path = day_path(store, day)
        stored = read_json(path).get("messages", {})
        for record in moving:
            stored[record["key"]] = dict(record)
        atomic_write(path, dump_json({"messages": stored}))
    keys = {r["key"] for r in records}
    table = db.table("outbox")
    table.remove(doc_ids=[doc_id for doc_id, doc in ((d.doc_id, d) for d in table.all()) if doc["key"] in keys])


def recent_day_files(store, days, now, tz):
    """:returns: [(date, path)] of day files for the last ``days`` local dates (and any later ones,
    written by runs with a later ``--as-of``), newest first."""
    from datetime import date

    cutoff = now.astimezone(tz).date() - timedelta(days=days - 1)
    found = []
    for path in all_day_files(store):
        day = date.fromisoformat(path.stem)
        if day >= cutoff:
            found.append((day, path))
    return found


def keys_in_day_files(store, config, now, days):
    """:returns: the set of message keys in the day files of the last ``days`` local dates (texts
    that left the outbox: a rerun job checks them so it never queues a text twice)."""
    from .store import read_json

    keys = set()
    for _, path in recent_day_files(store, days, now, config.tz):
        keys.update(read_json(path).get("messages", {}))
    return keys


def all_day_files(store):
    """:returns: every day file, newest first."""
    folder = store.data_dir / SMS_DIR
    if not folder.exists():
        return []
    return sorted(folder.glob("????-??-??.json"), reverse=True)


def list_messages(store, config, now, *, states=None, ticket_id=None, days=7):
    """:returns: live messages and those of the last ``days`` day files, newest first, filtered."""
    from .store import read_json

    found = {d["key"]: dict(d) for d in store.snapshot().table("outbox").all()}
    for _, path in recent_day_files(store, days, now, config.tz):
        for key, record in read_json(path).get("messages", {}).items():
            found.setdefault(key, record)
    records = [r for r in found.values()
               if (not states or r["state"] in states) and (not ticket_id or r["ticket_id"] == ticket_id)]
    return sorted(records, key=lambda r: (r["created_at"], r["key"]), reverse=True)


def find_message(store, key):
    """:returns: ``(record, where)`` where is ``"live"`` or the day file Path.

    :raises NotFound: no message with that key.
    """
    from .store import read_json

    for doc in store.snapshot().table("outbox").all():
        if doc["key"] == key:
            return dict(doc), "live"
    for path in all_day_files(store):
        record = read_json(path).get("messages", {}).get(key)
        if record:
            return record, path
    raise NotFound(f"no message with key '{key}'; see 'helpline sms list'.")


def retry_message(store, config, key, now):
    """Queue a failed, undelivered, cancelled or unknown message again (attempts start over).

    :returns: the queued record. :raises InvalidValue: when it is waiting or was sent already.
    """
    from .store import atomic_write, dump_json, read_json

    with store.transaction() as db:
        record, where = _locate(store, db, key)
        if record["state"] not in (FAILED, UNDELIVERED, CANCELLED, UNKNOWN):
            raise InvalidValue(f"message {key} is {record['state']}; only failed, undelivered, cancelled or unknown "
                               f"messages can be retried.")
        record.update(state=QUEUED, attempts=0, next_attempt_at=to_iso(now), updated_at=to_iso(now),
                      error=None, error_code=None)
        table = db.table("outbox")
        if where == "live":
            table.update(record, doc_ids=[_live_doc_id(db, key)])
        else:
            table.insert(record)
        note_on_ticket(db, record)
    if where != "live":  # only once the live file holds it again: a failed write loses nothing
        with store.lock():
            stored = read_json(where)
            stored.get("messages", {}).pop(key, None)
            atomic_write(where, dump_json(stored))
    return record


def cancel_message(store, config, key, now, reason="cancelled by operator"):
    """Cancel a message that has not been sent. :raises InvalidValue: when it was sent or is final."""
    with store.transaction() as db:
        record, where = _locate(store, db, key)
        if where != "live" or record["state"] == SENDING:
            raise InvalidValue(f"message {key} is {record['state']}; only waiting messages can be cancelled.")
        record.update(state=CANCELLED, error=reason, updated_at=to_iso(now))
        db.table("outbox").update(record, doc_ids=[_live_doc_id(db, key)])
        note_on_ticket(db, record)
        move_to_day_files(store, config, db, [record], now)
        return record


def cancel_ticket_messages(store, config, ticket_id, now, reason="cancelled by operator"):
    """Cancel every waiting (queued or held) message of one ticket, in one write.

    :param ticket_id: the canonical ticket ID (``SXR-10427``).
    :returns: the cancelled records, oldest first.
    :raises NotFound: the ticket has no waiting messages (nothing is changed).
    """
    with store.transaction() as db:
        table = db.table("outbox")
        found = sorted((doc for doc in table.all() if doc.get("ticket_id") == ticket_id and doc["state"] in WAITING),
                       key=lambda doc: (doc["created_at"], doc.doc_id))
        if not found:
            raise NotFound(f"ticket {ticket_id} has no waiting messages; see 'helpline sms list --ticket {ticket_id}'.")
        stamp = to_iso(now)
        records = []
        for doc in found:
            record = dict(doc, state=CANCELLED, error=reason, updated_at=stamp)
            put_document(table, doc.doc_id, record)
            records.append(record)
        note_on_ticket(db, *records)
        move_to_day_files(store, config, db, records, now)
        return records


def _live_doc_id(db, key):
    for doc in db.table("outbox").all():
        if doc["key"] == key:
            return doc.doc_id
    raise NotFound(f"no message with key '{key}'.")


def _locate(store, db, key):
    for doc in db.table("outbox").all():
        if doc["key"] == key:
            return dict(doc), "live"
    record, where = find_message(store, key)
    return record, where


def alert_after_minutes(config):
    """:returns: ``[sms] alert_after_minutes`` (default 60): how long a text may wait, outside quiet
    hours, before ``jobs status`` fails."""
    return float(config.raw.get("sms", {}).get("alert_after_minutes", 60))


def waiting_too_long(store, config, now, minutes=None):
    """:returns: live texts (queued, held, sending, unknown) that have waited more than ``minutes``
    (default ``alert_after_minutes``) since they were queued, quiet hours not counted; oldest first.
    Each is the stored record plus ``waited_minutes``."""
    from .clock import from_iso
    from .quiet_hours import minutes_outside_quiet

    limit = alert_after_minutes(config) if minutes is None else minutes
    found = []
    for doc in store.snapshot().table("outbox").all():
        if doc["state"] not in LIVE_STATES:
            continue
        waited = minutes_outside_quiet(from_iso(doc["created_at"]), now, config.tz, config.quiet_start,
                                       config.quiet_end)
        if waited > limit:
            found.append(dict(doc, waited_minutes=round(waited)))
    return sorted(found, key=lambda r: r["created_at"])


def recent_trouble(store, config, now, hours=24):
    """Texts of the last ``hours`` that did not, or not yet provably, reach their recipient.

    :returns: ``{"failed": n, "unconfirmed": n}``: ``failed`` counts texts failed for good or
        found undelivered (their last change in the window); ``unconfirmed`` counts texts the gateway
        only accepted (``sent``: Twilio's queued/sent, no delivery report yet) or whose outcome is
        not known (``unknown``), sent or tried in the window.
    """
    from .clock import from_iso
    from .store import read_json

    since = now - timedelta(hours=hours)
    records = [dict(d) for d in store.snapshot().table("outbox").all()]
    for _, path in recent_day_files(store, 4, now, config.tz):
        records.extend(read_json(path).get("messages", {}).values())
    counts = {"failed": 0, "unconfirmed": 0}
    for record in records:
        if record["state"] in (FAILED, UNDELIVERED):
            stamp, kind = record.get("updated_at"), "failed"
        elif record["state"] in (SENT, UNKNOWN):
            stamp, kind = record.get("sent_at") or record.get("last_attempt_at") or record.get("updated_at"), "unconfirmed"
        else:
            continue
        moment = from_iso(stamp)
        if moment and since < moment <= now:
            counts[kind] += 1
    return counts
