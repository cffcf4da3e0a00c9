"""Exports: a complete JSON dump (and loading it back), ticket CSV, Open311 GeoReport v2.

The dump (``helpline export --format json``) is the data directory in one JSON object, every
document exactly as stored, so that ``load_dump`` into an empty data directory rebuilds the
same files byte for byte::

    {"format": "helpline-dump", "version": 1, "exported_at": UTC ISO 8601,
     "personal_data": "This file holds personal data: ...",   # a plain warning to whoever opens it
     "district": {"code", "name", "timezone"},
     "config_toml": "<config.toml, verbatim>",
     "live": {table: {doc_id: document}},        # helpline.json: meta, tickets, officers, outbox, imports, ...
     "archive": {"tickets": {"NNNN": {serial: ticket}},   # archive/tickets-NNNN.json
                 "phones": {"NN": {phone: [[serial, category, final_at], ...]}}},   # archive/phones-NN.json
     "sms": {"YYYY-MM-DD": {"messages": {key: message}}}}  # sms/YYYY-MM-DD.json (texts sent or final)

Not in it: the file gateway's ``outbox.jsonl`` (the stand-in for an SMS provider's log),
backups, rejects files of imports and ``stats-cache.json`` (derived).

Open311 (``--format open311``) writes GeoReport v2 service requests. It is a public format, so
the caller's phone number and name are never in it, nor a sensitive ticket's description or
notes. The dump, which holds everything, says so in ``personal_data``.
"""

import json
import os
from pathlib import Path

from .clock import from_iso, local_day_bounds, local_iso, to_iso
from .config import CONFIG_NAME
from .errors import InvalidValue
from .privacy import PERSONAL_DATA_NOTICE
from .store import atomic_write, dump_json, read_json

DUMP_FORMAT = "helpline-dump"
DUMP_VERSION = 1
EXTRA_CSV_FIELDS = ("address", "lat", "long")  # after the columns of list --csv (external_id, source among them)


def dump_store(store, config, now):
    """Read the whole data directory, under the lock so that no write lands half-way.

    :param now: aware UTC (``exported_at``). :returns: the dump (see the module docstring).
    :raises StoreLocked, StoreDamaged: as the store does.
    """
    from .outbox import SMS_DIR

    with store.lock():
        dump = {"format": DUMP_FORMAT, "version": DUMP_VERSION, "exported_at": to_iso(now),
                "personal_data": PERSONAL_DATA_NOTICE,
                "district": {"code": config.district_code, "name": config.district_name,
                             "timezone": config.timezone_name},
                "config_toml": (store.data_dir / CONFIG_NAME).read_text(encoding="utf-8"),
                "live": read_json(store.path), "archive": {"tickets": {}, "phones": {}}, "sms": {}}
        for path in sorted(store.archive_dir.glob("tickets-*.json")):
            dump["archive"]["tickets"][path.stem[len("tickets-"):]] = read_json(path).get("tickets", {})
        for path in sorted(store.archive_dir.glob("phones-*.json")):
            dump["archive"]["phones"][path.stem[len("phones-"):]] = read_json(path).get("phones", {})
        for path in sorted((store.data_dir / SMS_DIR).glob("????-??-??.json")):
            dump["sms"][path.stem] = read_json(path)
    return dump


def read_dump(path):
    """:returns: the dump in ``path``. :raises InvalidValue: not a helpline dump of a known version."""
    try:
        with open(path, "rb") as f:
            dump = json.loads(f.read())
    except FileNotFoundError:
        raise InvalidValue(f"no such file {path}.") from None
    except (OSError, ValueError) as e:
        raise InvalidValue(f"{path} is not a JSON file ({e}).") from None
    if not isinstance(dump, dict) or dump.get("format") != DUMP_FORMAT:
        raise InvalidValue(f"{path} is not a helpline dump; make one with 'helpline export --format json'.")
    if dump.get("version") != DUMP_VERSION:
        raise InvalidValue(f"{path} is a version {dump.get('version')} dump; "
                           f"this helpline reads version {DUMP_VERSION}.")
    for key in ("config_toml", "live", "archive", "sms"):
        if key not in dump:
            raise InvalidValue(f"{path} has no '{key}': the dump is incomplete.")
    return dump


def _is_empty(data_dir):
    data_dir = Path(data_dir)
    if not data_dir.exists():
        return True
    return all(p.suffix == ".lock" for p in data_dir.iterdir())  # lock files hold no data


def load_dump(store, dump):
    """Write a dump into an empty data directory: the same files the dump was made from.

    Archives and SMS day files are written first, then ``helpline.json``, then ``config.toml``
    (a directory without a config is no district yet); on an error every file written is removed.

    :returns: ``{"tickets", "archived", "officers", "messages"}`` counts.
    :raises InvalidValue: the data directory is not empty, or the dump's parts have the wrong shape.
    """
    from .outbox import SMS_DIR

    if not _is_empty(store.data_dir):
        raise InvalidValue(f"{store.data_dir} is not empty; import-json loads a dump into a new data directory "
                           f"(give --data-dir a new folder).")
    live, archive, sms = dump["live"], dump["archive"], dump["sms"]
    if not isinstance(live, dict) or not all(isinstance(t, dict) for t in live.values()):
        raise InvalidValue("the dump's 'live' part is not a table of documents.")
    written = []
    with store.lock():
        if not _is_empty(store.data_dir):
            raise InvalidValue(f"{store.data_dir} is not empty.")
        try:
            for block, tickets in sorted(archive.get("tickets", {}).items()):
                store.write_block(int(block), tickets)
                written.append(store.block_path(int(block)))
            for bucket, phones in sorted(archive.get("phones", {}).items()):
                path = store.archive_dir / f"phones-{bucket}.json"
                store.write_phone_bucket(path, phones)
                written.append(path)
            if sms:
                (store.data_dir / SMS_DIR).mkdir(mode=0o700, exist_ok=True)
            for day, content in sorted(sms.items()):
                path = store.data_dir / SMS_DIR / f"{day}.json"
                atomic_write(path, dump_json(content))
                written.append(path)
            atomic_write(store.path, dump_json(live))
            written.append(store.path)
            atomic_write(store.data_dir / CONFIG_NAME, dump["config_toml"].encode("utf-8"))
        except BaseException:
            for path in written:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
            raise
    archived = sum(len(t) for t in archive.get("tickets", {}).values())
    return {"tickets": len(live.get("tickets", {})) + archived, "archived": archived,
            "officers": len(live.get("officers", {})),
            "messages": len(live.get("outbox", {})) + sum(len(d.get("messages", {})) for d in sms.values())}


def tickets_in_period(store, config, first_day=None, last_day=None):
    """:returns: every ticket (live and archived) opened on the local dates given (None: no bound), by serial."""
    from .tickets import iter_tickets

    start = local_day_bounds(first_day, config.tz)[0] if first_day else None
    end = local_day_bounds(last_day, config.tz)[1] if last_day else None
    found = []
    for ticket in iter_tickets(store.snapshot(), store, include_archived=True):
        if start or end:
            opened = from_iso(ticket["opened_at"])
            if start and opened < start or end and opened >= end:
                continue
        found.append(ticket)
    return sorted(found, key=lambda t: t["serial"])


def _cell(value):
    """A number is never a formula (``-71.0587`` stays a number); any other cell goes through ``csv_safe``."""
    from .records import csv_safe

    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value) if isinstance(value, float) else str(value)
    return csv_safe(value)


def tickets_csv(tickets, config, now):
    """:returns: CSV text: the columns of ``list --csv`` (``external_id`` and ``source`` among them)
    plus ``address``, ``lat``, ``long``, each column once; text cells a spreadsheet would run as a formula get a leading ``'``.
    Sensitive tickets go without their caller's name and description (``privacy.shareable``)."""
    import csv
    import io

    from .records import CSV_FIELDS, ticket_record

    from .privacy import shareable

    fields = CSV_FIELDS + EXTRA_CSV_FIELDS
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180, as list --csv
    writer.writerow(fields)
    for ticket in tickets:
        ticket = shareable(config, ticket)
        record = ticket_record(ticket, config.tz, now, with_history=False)
        for name in EXTRA_CSV_FIELDS:
            record[name] = ticket.get(name)
        writer.writerow([_cell(record.get(f)) for f in fields])
    return buffer.getvalue()


def _status_notes(ticket):
    for event in reversed(ticket.get("history", [])):
        if event["type"] in ("resolve", "reject") and event.get("note"):
            return event["note"]
    return None


def open311_requests(tickets, config, officers):
    """Open311 GeoReport v2 service requests (the fields of ``GET /requests.json``).

    :param officers: {officer_id: officer} for ``agency_responsible`` (the officer's name).
    :returns: a list of dicts: ``service_request_id`` (the ticket ID), ``status`` (``open``;
        ``closed`` once closed or rejected), ``status_notes`` (the resolution note or the reason
        for rejecting), ``service_name`` and ``service_code`` (the category), ``description``,
        ``agency_responsible``, ``service_notice`` (null), ``requested_datetime`` (opened),
        ``updated_datetime`` (the last history event), ``expected_datetime`` (due),
        ``address`` (the area when no address is known), ``address_id`` (null), ``zipcode``
        (null), ``lat``, ``long``, ``media_url``
        (null); times ISO 8601 in the district's zone with their offset, null when unknown.
        No phone number or caller's name; a sensitive ticket's ``description`` and
        ``status_notes`` are null (``privacy.shareable``).
    """
    from .privacy import shareable

    requests = []
    for t in tickets:
        t = shareable(config, t)
        officer = officers.get(t.get("officer")) if t.get("officer") else None
        last = t["history"][-1]["at"] if t.get("history") else t["opened_at"]
        requests.append({
            "service_request_id": t["id"],
            "status": "closed" if t["status"] in ("closed", "rejected") else "open",
            "status_notes": _status_notes(t),
            "service_name": t["category"],
            "service_code": t["category"],
            "description": t.get("description"),
            "agency_responsible": (officer or {}).get("name") or t.get("officer"),
            "service_notice": None,
            "requested_datetime": local_iso(t["opened_at"], config.tz),
            "updated_datetime": local_iso(last, config.tz),
            "expected_datetime": local_iso(t.get("due_at"), config.tz),
            "address": t.get("address") or t.get("area"),
            "address_id": None,
            "zipcode": None,
            "lat": t.get("lat"),
            "long": t.get("long"),
            "media_url": None,
        })
    return requests


def write_output(path, text):
    """Write an export or report to ``path`` atomically, mode 0600 (exports hold callers' numbers)."""
    path = Path(path)
    if path.parent != Path("."):
        path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text.encode("utf-8"))
    return path
