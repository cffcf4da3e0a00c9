"""Importing another system's CSV export as helpline tickets (``helpline import``).

The mapping file and its rules are described in ``import_mapping``; the shipped
``data/mappings/boston311.toml`` is a worked example.

Each imported ticket gets a new serial and ID and keeps ``external_id``, ``source``,
``import_batch``, ``address``, ``lat``, ``long``; its history is rebuilt from the source's times
(opened, assign, resolve, close or reject) with the person importing as the actor and the source
named in the notes. No text is queued: imports never send SMS.

Every data row is either imported or rejected with its row number (spreadsheet numbering: the
header is row 1) and a reason; rows whose ``(source, external_id)`` is already in the store, live
or archived, are rejected as "already imported", so importing a file twice adds nothing.

What a failure leaves. Everything runs in one ``Store.transaction`` (one lock). Tickets already
final (closed, rejected) go straight to the archive files, the others into the live file, in this
order: a journal ``import-<batch>.journal.json`` (which serials, blocks and phone buckets the
import touches), the config (new categories), archive blocks, phone buckets, and last the live
file, which also records the batch in its ``imports`` table: that write is the commit.

* An error before the commit (a full disk, a bad write, Ctrl-C) puts back the original bytes of
  every archive file and of the config (the lock is still held, so nobody else wrote them) and
  removes the journal: the data directory is as it was.
* A crash (power cut, SIGKILL) after some archive files were written leaves archived tickets the
  live file does not know and the journal beside them. The next ``helpline import`` (or
  ``recover_imports``) sees the journal, finds the batch missing from the live ``imports`` table
  and removes from the archive files exactly the tickets of that batch (matched by serial *and*
  ``import_batch``, so a ticket archived since with a reused serial is kept) and puts back the
  config it extended (unless the config was edited since). A journal whose batch *is* in the
  live file is simply removed. An error in the live write itself is handled the same way.
"""

import csv
import functools
import io
import json
import math
import os
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .clock import UTC, to_iso
from .config import CONFIG_NAME
from .errors import ConfigError, InvalidValue
from .ids import format_id
from .import_mapping import check_for_district, fast_strptime, read_csv, squash_spaces, value_key
from .store import atomic_write, dump_json, keep_original, put_back

STATUSES = ("open", "assigned", "resolved", "closed", "rejected")
FINAL = ("closed", "rejected")
JOURNAL_GLOB = "import-*.journal.json"
PROGRESS_EVERY = 500
REJECT_COLUMNS = ("rejected_row", "rejected_reason")


# Converting one row -------------------------------------------------------------------------


class _Reject(Exception):
    """A row that cannot be imported: ``kind`` (for the summary) and the reason for the rejects file."""

    def __init__(self, kind, reason):
        super().__init__(reason)
        self.kind = kind


def _time_parser(mapping):
    fmt, tz = mapping.timestamp_format, mapping.tz
    quick = None if fmt == "iso" else fast_strptime(fmt)

    def parse(text, what):
        try:
            if fmt == "iso":
                moment = datetime.fromisoformat(text)
            else:
                moment = quick(text) if quick else datetime.strptime(text, fmt)
        except ValueError:
            expected = "ISO 8601" if fmt == "iso" else fmt
            raise _Reject("unparseable time", f"unparseable {what} time '{text}' (expected {expected})") from None
        if moment.tzinfo is not None:
            return moment.astimezone(UTC)
        utc = moment.replace(tzinfo=tz).astimezone(UTC)  # an ambiguous hour (clocks back) takes the first
        if utc.astimezone(tz).replace(tzinfo=None) != moment:
            raise _Reject("time that does not exist",
                          f"{what} time '{text}' does not exist in {mapping.timezone_name} (the clocks skipped it)")
        return utc

    return parse


class _RowReader:
    """Turns one row's cells into helpline values (raises ``_Reject``)."""

    def __init__(self, mapping, header, config, officers, categories, actor, now):
        self.mapping = mapping
        self.index = {name: i for i, name in enumerate(header)}
        self.parse_time = _time_parser(mapping)
        self.tz = config.tz
        self.areas = config.area_spellings  # value_key(spelling) -> [area names]
        self.categories = {value_key(c): c for c in categories}
        self.languages = set(config.languages)
        self.officers = officers  # officer_id -> doc (existing and created)
        self.created = {}  # officer_id -> officer doc created by this import (rows imported)
        self.pending = {}  # officer_id -> officer doc created by the row being read
        self.by_queue = {(o.get("source"), value_key(o["external_name"])): oid
                         for oid, o in officers.items() if o.get("external_name")}
        self.actor, self.now = actor, now
        self.phone_cache = {}

    def raw(self, cells, name):
        """:returns: the field's text after joining its columns, or None when blank."""
        spec = self.mapping.fields.get(name)
        if spec is None:
            return None
        if not spec.columns:
            return str(spec.value) if spec.value is not None else None
        parts = []
        for column in spec.columns:
            text = cells[self.index[column]].strip()
            if text and text not in parts:
                parts.append(text)
        return spec.join.join(parts) if parts else None

    def value(self, cells, name, otherwise=True):
        """:returns: the field's value translated by its map/default/otherwise (see ``import_mapping``).

        :param otherwise: False leaves a value the map lacks as it is (the area's ``otherwise``
            is for values that are no area, so the caller applies it).
        """
        spec = self.mapping.fields.get(name)
        if spec is None:
            return None
        text = self.raw(cells, name)
        if text is None:
            return spec.default
        if spec.mapping:
            translated = spec.mapping.get(value_key(text))
            if translated is not None:
                return translated
        if otherwise and spec.otherwise is not None:
            return spec.otherwise
        return text

    def area(self, cells):
        """:returns: the row's area name. :raises _Reject: none, unknown (and no ``otherwise``) or ambiguous."""
        value = self.value(cells, "area", otherwise=False)
        if value is None:
            raise _Reject("no area", "no area (give [fields.area] a default)")
        names = self.areas.get(value_key(value))
        if names is None and self.mapping.fields["area"].otherwise is not None:
            value = self.mapping.fields["area"].otherwise  # checked against the district's areas on loading
            names = self.areas.get(value_key(value))
        if names is None:
            raise _Reject("unknown area", f"unknown area '{value}' (add it to the district's areas, map it in "
                                          f"[fields.area.map] or set otherwise in [fields.area])")
        if len(names) > 1:
            raise _Reject("ambiguous area", f"area '{value}' names {' and '.join(names)} (map it in [fields.area.map])")
        return names[0]

    def time(self, cells, name, what):
        text = self.raw(cells, name)
        return self.parse_time(text, what) if text else None

    def officer(self, cells):
        spec = self.mapping.fields.get("officer")
        value = self.value(cells, "officer")
        if value is None:
            return None
        officer_id = str(value).strip().lower()
        if officer_id in self.officers and not self.officers[officer_id].get("external_name"):
            return officer_id
        queue = squash_spaces(value)
        known = self.by_queue.get((self.mapping.source, value_key(queue)))
        if known:
            return known
        if officer_id in self.officers:
            return officer_id
        if not spec.create:
            raise _Reject("unknown officer",
                          f"unknown officer '{queue}' (map it in [fields.officer.map] or set create = true)")
        new_id = _new_officer_id(queue, self.officers)
        doc = {"officer_id": new_id, "name": queue[:80], "phone": None, "phone_type": "unknown",
               "areas": [], "categories": [], "role": "officer", "lang": "en", "active": False,
               "history": [{"type": "added", "at": to_iso(self.now), "actor": self.actor,
                            "note": f"created by import from {self.mapping.source} (queue '{queue}'); "
                                    f"no phone: inactive until edited"}],
               "source": self.mapping.source, "external_name": queue}
        self.officers[new_id] = doc
        self.pending[new_id] = doc
        self.by_queue[(self.mapping.source, value_key(queue))] = new_id
        return new_id

    def settle(self, imported):
        """Keep the officers the last row created when it is imported; forget them when rejected."""
        if imported:
            self.created.update(self.pending)
        else:
            for officer_id, doc in self.pending.items():
                del self.officers[officer_id]
                del self.by_queue[(doc["source"], value_key(doc["external_name"]))]
        self.pending = {}

    def phone(self, cells):
        text = self.raw(cells, "phone")
        if text is None:
            return None, "unknown"
        if text not in self.phone_cache:
            from .phones import parse_phone

            try:
                self.phone_cache[text] = parse_phone(text, self.mapping.phone_region)
            except InvalidValue as e:
                self.phone_cache[text] = str(e)
        found = self.phone_cache[text]
        if isinstance(found, str):
            raise _Reject("bad phone number", f"bad phone number: {found}")
        return found

    def coordinates(self, cells):
        found = []
        for name, low, high in (("lat", -90, 90), ("long", -180, 180)):
            text = self.raw(cells, name)
            if text is None:
                found.append(None)
                continue
            try:
                number = float(text)
            except ValueError:
                raise _Reject("bad coordinates", f"unparseable {name} '{text}'") from None
            if not (low <= number <= high) or math.isnan(number):
                raise _Reject("bad coordinates", f"{name} {text} is out of range")
            found.append(number)
        lat, long = found
        if lat is not None and long is not None and (round(lat, 4), round(long, 4)) in self.mapping.unknown_points:
            return None, None
        return lat, long

    def read(self, cells):
        """:returns: a dict of helpline values for one row. :raises _Reject: with the reason."""
        m = self.mapping
        external_id = self.raw(cells, "external_id")
        if external_id is None:
            raise _Reject("no external ID", "no external ID")
        area = self.area(cells)
        category_value = self.value(cells, "category")
        if category_value is None:
            raise _Reject("no category", "no category (give [fields.category] a default)")
        category = self.categories.get(value_key(category_value))
        if category is None:
            raise _Reject("unknown category", f"unknown category '{category_value}' (map it in "
                                              f"[fields.category.map] or list it in the mapping's [categories])")
        language = str(self.value(cells, "language") or "en").strip().lower()
        if language not in self.languages:
            raise _Reject("unknown language", f"language '{language}' is not offered by the district")
        opened = self.time(cells, "opened_at", "opened")
        if opened is None:
            raise _Reject("no opened time", "no opened time")
        if opened > self.now:
            raise _Reject("time in the future",
                          f"opened time {opened.astimezone(m.tz).isoformat()} is in the future")
        due = self.time(cells, "due_at", "due")
        assigned = self.time(cells, "assigned_at", "assigned")
        resolved = self.time(cells, "resolved_at", "resolved")
        closed = self.time(cells, "closed_at", "closed")
        officer = self.officer(cells)
        status = self._status(cells, officer, resolved, closed)
        if status in ("open", "assigned"):
            status = "assigned" if officer else "open"
        if status in ("resolved", "closed"):
            resolved = resolved or closed
        if status == "closed":
            closed = closed or resolved
        for moment, what in ((closed, "closed"), (resolved, "resolved"), (assigned, "assigned")):
            if moment is not None and moment < opened:
                raise _Reject(f"{what} before opened", f"{what} before opened ({moment.astimezone(m.tz).isoformat()}"
                                                       f" < {opened.astimezone(m.tz).isoformat()})")
            if moment is not None and moment > self.now:
                raise _Reject("time in the future",
                              f"{what} time {moment.astimezone(m.tz).isoformat()} is in the future")
        if resolved and closed and closed < resolved:
            raise _Reject("closed before resolved", "closed before resolved")
        if assigned and resolved and resolved < assigned:
            raise _Reject("resolved before assigned", "resolved before assigned")
        phone, phone_type = self.phone(cells)
        lat, long = self.coordinates(cells)
        name = self.raw(cells, "caller_name")
        return {
            "external_id": external_id, "area": area, "category": category, "language": language,
            "opened": opened, "due": due, "assigned": assigned, "resolved": resolved, "closed": closed,
            "status": status, "officer": officer, "phone": phone, "phone_type": phone_type,
            "caller_name": squash_spaces(name) if name else None, "description": self.raw(cells, "description"),
            "note": self.raw(cells, "resolution_note"),
            "address": squash_spaces(self.raw(cells, "address") or "") or None,
            "lat": lat, "long": long,
        }

    def _status(self, cells, officer, resolved, closed):
        if "status" not in self.mapping.fields:
            return "closed" if closed else "resolved" if resolved else "assigned" if officer else "open"
        value = self.value(cells, "status")
        if value is None:
            raise _Reject("no status", "no status (give [fields.status] a default)")
        status = str(value).strip().lower()
        if status not in STATUSES:
            raise _Reject("unknown status", f"unknown status '{value}' (map it in [fields.status.map])")
        if status in ("open", "assigned") and (resolved or closed):
            raise _Reject("status does not match times",
                          f"status '{self.raw(cells, 'status')}' is open but the row has a resolved/closed time")
        if status in ("resolved", "closed", "rejected") and not (resolved or closed):
            raise _Reject("status does not match times",
                          f"status '{self.raw(cells, 'status')}' needs a resolved or closed time")
        return status


def _new_officer_id(queue, officers):
    base = re.sub(r"[^a-z0-9]+", "-", queue.lower()).strip("-")[:28].strip("-") or "queue"
    if not base[0].isalnum():
        base = "q" + base
    candidate, n = base, 2
    while candidate in officers:
        candidate = f"{base[:28]}-{n}"
        n += 1
    return candidate


def _event(kind, at, actor, note, changes=None):
    event = {"type": kind, "at": to_iso(at), "actor": actor, "note": note}
    if changes:
        event["changes"] = changes
    return event


def build_ticket(values, *, serial, district_code, source, batch, actor, now, file_name, row):
    """Build the stored ticket document for one imported row, its history rebuilt from its times.

    :param values: what ``_RowReader.read`` returned (times aware UTC).
    :returns: a ticket in the shape of ``store.py`` plus ``external_id``, ``source``,
        ``import_batch``, ``address``, ``lat``, ``long``.
    """
    ticket_id = format_id(district_code, serial)
    status, officer = values["status"], values["officer"]
    where = source
    history = [_event("opened", values["opened"], actor,
                      f"imported from {where} on {now.date().isoformat()}: external ID {values['external_id']}, "
                      f"{file_name} row {row}")]
    current = "open"
    if officer:
        history.append(_event("assign", values["assigned"] or values["opened"], actor, f"as in {where}",
                              {"status": ["open", "assigned"], "officer": [None, officer]}))
        current = "assigned"
    resolved_at = closed_at = final_at = None
    if status in ("resolved", "closed"):
        resolved_at = to_iso(values["resolved"])
        history.append(_event("resolve", values["resolved"], actor, values["note"] or f"resolved in {where}",
                              {"status": [current, "resolved"], "resolved_at": [None, resolved_at],
                               "resolved_by": [None, officer]} if officer else
                              {"status": [current, "resolved"], "resolved_at": [None, resolved_at]}))
        current = "resolved"
    if status == "closed":
        closed_at = final_at = to_iso(values["closed"])
        history.append(_event("close", values["closed"], actor, f"closed in {where}",
                              {"status": [current, "closed"], "closed_at": [None, closed_at],
                               "final_at": [None, final_at]}))
    elif status == "rejected":
        final_at = to_iso(values["closed"] or values["resolved"])
        history.append(_event("reject", values["closed"] or values["resolved"], actor,
                              values["note"] or f"rejected in {where}",
                              {"status": [current, "rejected"], "final_at": [None, final_at]}))
    return {
        "id": ticket_id, "serial": serial, "status": status, "phone": values["phone"],
        "phone_type": values["phone_type"], "caller_name": values["caller_name"], "area": values["area"],
        "category": values["category"], "description": values["description"], "language": values["language"],
        "officer": officer, "opened_at": to_iso(values["opened"]),
        "due_at": to_iso(values["due"]) if values["due"] else None,
        "resolved_at": resolved_at, "resolved_by": officer if resolved_at else None, "closed_at": closed_at,
        "final_at": final_at, "follows": None, "calls": 1, "history": history,
        "external_id": values["external_id"], "source": source, "import_batch": batch,
        "address": values["address"], "lat": values["lat"], "long": values["long"],
    }


# The import ---------------------------------------------------------------------------------


@dataclass
class ImportResult:
    """What an import did (or, with ``dry_run``, would do).

    ``rejects`` is ``[(row number, reason, cells)]`` and ``reject_kinds`` counts them by kind
    (``already imported``, ``unparseable time``, ...); ``rows == imported + len(rejects)`` always.
    """

    file: str
    source: str
    header: list
    rows: int = 0
    imported: int = 0
    archived: int = 0
    live: int = 0
    first_id: str = None
    last_id: str = None
    rejects: list = field(default_factory=list)
    reject_kinds: dict = field(default_factory=dict)
    categories_added: dict = field(default_factory=dict)
    officers_created: list = field(default_factory=list)
    batch: str = None
    dry_run: bool = False
    recovered: list = field(default_factory=list)

    def as_dict(self):
        """:returns: the JSON shape ``helpline import --json`` prints (rejects as counts by reason)."""
        return {"file": self.file, "source": self.source, "rows": self.rows, "imported": self.imported,
                "rejected": len(self.rejects), "archived": self.archived,
                "live": self.live, "first_id": self.first_id, "last_id": self.last_id,
                "reject_reasons": dict(sorted(self.reject_kinds.items())), "categories_added": self.categories_added,
                "officers_created": self.officers_created, "batch": self.batch, "dry_run": self.dry_run,
                "recovered_batches": self.recovered}


def _external_index(db, store, skip_batches=()):
    """:returns: {(source, external_id): ticket ID} of every live and archived imported ticket."""
    index = {}
    for ticket in db.table("tickets").all():
        if ticket.get("external_id") is not None and ticket.get("import_batch") not in skip_batches:
            index[(ticket.get("source"), ticket["external_id"])] = ticket["id"]
    for block in store.archived_blocks():
        for ticket in store.read_block(block).values():
            if ticket.get("external_id") is not None and ticket.get("import_batch") not in skip_batches:
                index.setdefault((ticket.get("source"), ticket["external_id"]), ticket["id"])
    return index


def import_csv(store, config, csv_path, mapping, *, actor, now, dry_run=False, progress=None):
    """Import a CSV export into the store (see the module docstring for every rule).

    :param store: the ``Store``. :param config: the district ``Config``.
    :param csv_path: the CSV file. :param mapping: a ``Mapping`` (``load_mapping``).
    :param actor: who imports (recorded in every rebuilt history event).
    :param now: aware UTC; rows with times after it are rejected.
    :param dry_run: check every row and count, write nothing at all.
    :param progress: optional ``progress(rows_done, rows_total)``, called every ``PROGRESS_EVERY`` (500) rows and once at the end.
    :returns: an ``ImportResult``.
    :raises InvalidValue: unreadable file, missing column, or a mapping whose catch-all area the
        district lacks (``check_for_district``); nothing is written.
    :raises StoreLocked, StoreDamaged: as the store does. On any error the data directory is left
        as it was (see the module docstring for a crash).
    """
    check_for_district(mapping, config)
    header, rows = read_csv(csv_path, mapping)
    result = ImportResult(file=Path(csv_path).name, source=mapping.source, header=header, rows=len(rows),
                          dry_run=dry_run, batch=uuid.uuid4().hex[:12])
    if dry_run:
        db = store.snapshot()  # changes stay in memory
        pending = {j["batch"] for j in _journals(store) if not _committed(db, j["batch"])}
        _plan(db, store, config, mapping, header, rows, result, actor, now, progress, pending)
        return result
    journal_path = store.data_dir / f"import-{result.batch}.journal.json"
    try:
        with store.transaction() as db:
            result.recovered = recover_imports(store, db)
            plan = _plan(db, store, config, mapping, header, rows, result, actor, now, progress, ())
            if not result.imported:
                return result
            _commit(store, config, db, plan, result, journal_path, actor, now, mapping)
    except BaseException:
        if journal_path.exists():  # the error came with the live write itself: decide under the lock
            with store.lock():
                recover_imports(store, store.snapshot())
        raise
    try:
        os.unlink(journal_path)
    except FileNotFoundError:
        pass
    _refresh_stats(store, config, now)
    return result


def _refresh_stats(store, config, now):
    """Summarise the archive files just written for ``helpline stats`` now, not on its first run."""
    from .reports import headline

    try:
        headline(store, config, now)
    except Exception:  # only a cache: stats rebuilds it
        pass


def _plan(db, store, config, mapping, header, rows, result, actor, now, progress, skip_batches):
    """Check every row, give the good ones serials, and return the documents to write."""
    from .tickets import next_serial

    seen = _external_index(db, store, skip_batches)
    officers = {o["officer_id"]: dict(o) for o in db.table("officers").all()}
    new_categories = {c: h for c, h in mapping.categories.items()
                      if value_key(c) not in {value_key(k) for k in config.categories}}
    reader = _RowReader(mapping, header, config, officers, list(config.categories) + list(new_categories),
                        actor, now)
    in_file = {}
    final, live = [], []
    width = len(header)
    total = len(rows)
    for done, (number, cells) in enumerate(rows, 1):
        if progress and done % PROGRESS_EVERY == 0:
            progress(done, total)
        try:
            if len(cells) != width:
                raise _Reject("wrong number of cells", f"row has {len(cells)} cells, the header has {width}")
            values = reader.read(cells)
            key = (mapping.source, values["external_id"])
            if key in seen:
                raise _Reject("already imported",
                              f"already imported as {seen[key]} (external ID {values['external_id']})")
            if key in in_file:
                raise _Reject("repeated external ID", f"external ID {values['external_id']} appears again "
                                                      f"(first at row {in_file[key]})")
        except _Reject as reason:
            reader.settle(imported=False)
            result.rejects.append((number, str(reason), cells))
            result.reject_kinds[reason.kind] = result.reject_kinds.get(reason.kind, 0) + 1
            continue
        reader.settle(imported=True)
        in_file[key] = number
        serial = next_serial(db)
        ticket = build_ticket(values, serial=serial, district_code=config.district_code, source=mapping.source,
                              batch=result.batch, actor=actor, now=now, file_name=result.file, row=number)
        (final if ticket["status"] in FINAL else live).append(ticket)
        result.imported += 1
        if result.first_id is None:
            result.first_id = ticket["id"]
        result.last_id = ticket["id"]
    if progress:
        progress(total, total)
    result.archived, result.live = len(final), len(live)
    used = {t["category"] for t in final + live}
    result.categories_added = {c: h for c, h in new_categories.items() if c in used}
    result.officers_created = sorted(reader.created)
    return {"final": final, "live": live, "officers": list(reader.created.values())}


def _commit(store, config, db, plan, result, journal_path, actor, now, mapping):
    """Write journal, config, archives and (on leaving the transaction) the live file; undo on error."""
    from tinydb.table import Document

    by_block, by_bucket = {}, {}
    for ticket in plan["final"]:
        by_block.setdefault(store.block_of(ticket["serial"]), []).append(ticket)
        if ticket.get("phone"):
            by_bucket.setdefault(store.phones_path(ticket["phone"]), []).append(ticket)
    serials = [t["serial"] for t in plan["final"] + plan["live"]]
    journal = {"batch": result.batch, "source": result.source, "file": result.file, "started_at": to_iso(now),
               "serials": [min(serials), max(serials)] if serials else None,
               "blocks": sorted(by_block), "phone_files": sorted(p.name for p in by_bucket)}
    config_path = Path(config.path)
    if result.categories_added:
        before = config_path.read_text(encoding="utf-8")
        journal["config"] = {"before": before, "after": add_categories_text(before, result.categories_added)}
    saved = {}  # path -> original bytes (None: the file did not exist)
    keep = functools.partial(keep_original, saved)

    try:
        atomic_write(journal_path, dump_json(journal))
        if result.categories_added:
            keep(config_path)
            atomic_write(config_path, journal["config"]["after"].encode("utf-8"))
        for block, moving in sorted(by_block.items()):
            keep(store.block_path(block))
            stored = store.read_block(block)
            for ticket in moving:
                stored[str(ticket["serial"])] = ticket
            store.write_block(block, stored)
        for path, moving in sorted(by_bucket.items()):
            keep(path)
            phones = store.read_phone_bucket(path)
            for ticket in moving:
                phones.setdefault(ticket["phone"], []).append(
                    [ticket["serial"], ticket["category"], ticket["final_at"]])
            store.write_phone_bucket(path, phones)
        if plan["live"]:
            db.table("tickets").insert_multiple(Document(t, doc_id=t["serial"]) for t in plan["live"])
        if plan["officers"]:
            db.table("officers").insert_multiple(plan["officers"])
        db.table("imports").insert({
            "batch": result.batch, "source": result.source, "file": result.file, "at": to_iso(now),
            "actor": actor, "rows": result.rows, "imported": result.imported, "rejected": len(result.rejects),
            "first_id": result.first_id, "last_id": result.last_id,
            "categories_added": result.categories_added, "officers_created": result.officers_created})
    except BaseException:
        put_back(saved)
        try:
            os.unlink(journal_path)
        except FileNotFoundError:
            pass
        raise


def add_categories_text(text, categories):
    """:param text: a config.toml's text. :param categories: {name: SLA hours} to add.

    :returns: the text with the categories added at the end of its ``[categories]`` table (a
        table is added, with the default categories, when the file has none); comments and the
        rest of the file are kept.
    :raises ConfigError: when the result would not read back with those categories.
    """
    import tomllib

    from .config import DEFAULT_CATEGORIES

    lines = [f"{json.dumps(name, ensure_ascii=False)} = {hours:g}" for name, hours in categories.items()]
    rows = text.split("\n")
    header = next((i for i, row in enumerate(rows) if row.strip() == "[categories]"), None)
    if header is None:
        defaults = [f"{json.dumps(n)} = {h:g}" for n, h in DEFAULT_CATEGORIES.items()]
        new = text.rstrip("\n") + "\n\n[categories]\n" + "\n".join(defaults + lines) + "\n"
    else:
        end = header + 1
        while end < len(rows) and not rows[end].lstrip().startswith("["):
            end += 1
        while end > header + 1 and (not rows[end - 1].strip() or rows[end - 1].lstrip().startswith("#")):
            end -= 1  # blank lines and the next table's comments stay with the next table
        new = "\n".join(rows[:end] + lines + rows[end:])
    try:
        parsed = tomllib.loads(new).get("categories", {})
    except tomllib.TOMLDecodeError:
        parsed = {}
    if not all(name in parsed for name in categories):
        raise ConfigError(f"could not add categories {', '.join(categories)} to config.toml; "
                          f"add them by hand to its [categories] table.")
    return new


# Recovery -----------------------------------------------------------------------------------


def _journals(store):
    found = []
    for path in sorted(store.data_dir.glob(JOURNAL_GLOB)):
        try:
            journal = json.loads(path.read_text(encoding="utf-8"))
            journal["path"] = path
            found.append(journal)
        except (OSError, ValueError):
            continue
    return found


def _committed(db, batch):
    return any(r.get("batch") == batch for r in db.table("imports").all())


def recover_imports(store, db):
    """Finish or undo imports a crash interrupted (the store lock must be held).

    For each ``import-<batch>.journal.json`` in the data directory: when ``db`` (the live data)
    records the batch in ``imports``, the import was committed and the journal is removed;
    otherwise the tickets of that batch (serial in the journal's range *and* ``import_batch``
    equal) are removed from the archive blocks and phone buckets it names, the config gets back
    the text it had before (when it still has the text the import wrote), then the journal goes.

    :returns: the batches undone.
    """
    undone = []
    for journal in _journals(store):
        batch = journal["batch"]
        if not _committed(db, batch) and journal.get("serials"):
            low, high = journal["serials"]
            for block in journal.get("blocks", []):
                stored = store.read_block(block)
                keep = {k: t for k, t in stored.items()
                        if not (low <= t["serial"] <= high and t.get("import_batch") == batch)}
                if len(keep) != len(stored):
                    if keep:
                        store.write_block(block, keep)
                    else:
                        os.unlink(store.block_path(block))
            for name in journal.get("phone_files", []):
                path = store.archive_dir / name
                phones = store.read_phone_bucket(path)
                blocks = {}
                changed = False
                for phone, rows in list(phones.items()):
                    kept = []
                    for row in rows:
                        if low <= row[0] <= high:
                            block = store.block_of(row[0])
                            if block not in blocks:
                                blocks[block] = store.read_block(block)
                            ticket = blocks[block].get(str(row[0]))
                            if not ticket or ticket.get("phone") != phone or ticket.get("import_batch") == batch:
                                changed = True
                                continue
                        kept.append(row)
                    if kept:
                        phones[phone] = kept
                    else:
                        del phones[phone]
                if changed:
                    store.write_phone_bucket(path, phones)
            config = journal.get("config")
            path = store.data_dir / CONFIG_NAME
            if config and path.exists() and path.read_text(encoding="utf-8") == config["after"]:
                atomic_write(path, config["before"].encode("utf-8"))  # unless someone edited it since
            undone.append(batch)
        try:
            os.unlink(journal["path"])
        except FileNotFoundError:
            pass
    return undone


# Rejects file -------------------------------------------------------------------------------


def write_rejects(path, result):
    """Write the rejected rows: ``rejected_row``, ``rejected_reason``, then the source's own
    columns, verbatim.

    Fixed rows can be imported again with the same mapping (the two extra columns are ignored;
    importing a rejects file writes new ones in their place instead of adding two more). The
    file is written atomically, mode 0600 (it may hold callers' numbers).

    :returns: the Path written.
    """
    skip = 2 if result.header[:2] == list(REJECT_COLUMNS) else 0
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180, as list --csv: a bare CR in a cell is quoted
    writer.writerow([*REJECT_COLUMNS, *result.header[skip:]])
    for number, reason, cells in result.rejects:
        writer.writerow([number, reason, *cells[skip:]])
    path = Path(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write(path, buffer.getvalue().encode("utf-8"))
    return path


def default_rejects_path(store, csv_path, now):
    """:returns: ``<data dir>/imports/<file stem>-<UTC time>-rejects.csv``."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return store.data_dir / "imports" / f"{Path(csv_path).stem}-{stamp}-rejects.csv"
