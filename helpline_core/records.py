"""The stable, documented shapes that ``--json`` and ``--csv`` print (see README, "JSON output")."""

from .clock import local_iso
from .tickets import is_overdue, not_reached_count

TICKET_FIELDS = ("id", "status", "phone", "phone_type", "caller_name", "area", "category", "description",
                 "language", "officer", "opened_at", "due_at", "resolved_at", "closed_at", "overdue",
                 "calls", "resolved_by", "follows", "duplicate_of", "sms_blocked", "external_id", "source")
_TIMES = ("opened_at", "due_at", "resolved_at", "closed_at")
CSV_FIELDS = tuple(f for f in TICKET_FIELDS)


def ticket_record(ticket, tz, now, with_history=True):
    """:param ticket: a stored ticket. :param tz: the district zone. :param now: aware UTC.

    :returns: a dict with the fields of ``TICKET_FIELDS`` (times ISO 8601 in the district's zone
        with their offset, or None), ``history`` (events with ``type``, ``at``, ``actor``, ``note``,
        ``changes``) when asked, and ``not_reached`` (verification calls that did not reach the
        caller since the ticket was last resolved).
    """
    record = {f: ticket.get(f) for f in TICKET_FIELDS}
    for f in _TIMES:
        record[f] = local_iso(ticket.get(f), tz)
    record["overdue"] = is_overdue(ticket, now)
    record["not_reached"] = not_reached_count(ticket)
    record["messages"] = [{"key": key, "state": state} for key, state in (ticket.get("messages") or {}).items()]
    if with_history:
        record["history"] = [
            {"type": e["type"], "at": local_iso(e["at"], tz), "actor": e["actor"], "note": e.get("note"),
             "changes": e.get("changes", {})}
            for e in ticket["history"]
        ]
    return record


def officer_record(officer):
    """:returns: the public shape of an officer (no history)."""
    return {k: officer.get(k) for k in ("officer_id", "name", "phone", "phone_type", "role", "lang", "areas",
                                        "categories", "active", "sms_blocked")}


def csv_safe(value):
    """Neutralise a cell a spreadsheet would run as a formula (OWASP "CSV injection"):
    text starting with ``= + - @``, tab or carriage return gets a leading apostrophe.
    Numbers stay as they are, lists become ``;``-joined text, None an empty cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)  # a number is data, not a formula: -71.05 stays a number
    if isinstance(value, (list, tuple)):
        value = ";".join(str(v) for v in value)
    text = str(value)
    if text and text[0] in "=+-@\t\r":
        # E.164 numbers get it too: a spreadsheet then keeps them as text, not a number
        return "'" + text
    return text


def write_csv(stream, records, fields):
    """Write ``records`` (dicts) to ``stream`` as RFC 4180 CSV (CRLF) with a header row, cells neutralised."""
    import csv

    writer = csv.writer(stream, lineterminator="\r\n")  # RFC 4180; with "\n" a bare "\r" in a cell goes unquoted
    writer.writerow(fields)
    for record in records:
        writer.writerow([csv_safe(record.get(f)) for f in fields])
