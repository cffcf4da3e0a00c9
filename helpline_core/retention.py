"""Retiring callers' personal data on time: ``helpline purge`` and the monthly ``purge`` job.

A ticket final (closed or rejected) for longer than the retention period is *purged*:

* its phone number becomes ``purged:<hex>``, an HMAC-SHA256 of the number under the district's
  salt (so one caller's tickets still share one value: repeat-caller counts keep working, and
  nobody without the salt can test a guessed number against it);
* its caller's name, description and every history note are removed (``privacy.strip_words``);
  the history keeps its events (type, time, actor, changes), so every report figure stays;
* it gets ``purged_at`` and leaves the archive's phone index (``find`` cannot reach it by number);
* the texts about it, in the ``sms/`` day files, the file gateway's ``outbox.jsonl`` and the
  live outbox, lose their bodies, the values they were rendered from and their numbers (hashed
  in recipients, keys, gateway IDs and errors); their times, states, segments and ticket stay,
  so the SMS figures stay too. One still waiting to be sent is cancelled.

Verification lists (``verification/DATE.csv|html``, which name callers) of local dates before
the cut-off are deleted. Not touched: backups (the one taken before the purge holds everything
and is named in the output), import rejects files, and numbers that opted out (the ``phones``
table keeps them so they are never texted).

The salt is 32 random bytes, created once per district in ``phone-salt`` (hex, mode 0600) in the
data directory and copied by ``db backup``; losing it only means later purges hash the same
number to a different value.

One transaction, as ``importer`` does it: under the store lock, a backup first
(``dbtools.backup_locked``), then a journal ``purge.journal.json`` naming the tickets, then the
archive blocks, phone buckets, day files, ``outbox.jsonl`` and verification lists, and last the
live file. An error keeps the lock, puts back the original bytes of every file written and
removes the journal: nothing is changed. A crash (power cut) leaves the journal; purging is
idempotent, so the next purge finishes the journal's tickets first (roll forward) and ``db
check`` reports it until then.
"""

import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta

from .clock import from_iso, to_iso
from .dbtools import SALT_NAME
from .errors import HelplineError, InvalidValue
from .privacy import strip_words
from .store import atomic_write, dump_json, keep_original, put_back, put_document, read_json

JOURNAL_NAME = "purge.journal.json"
PURGED_PREFIX = "purged:"
FINAL = ("closed", "rejected")


def district_salt(store, create=True):
    """:returns: the district's salt (bytes) from ``phone-salt`` in the data directory, created
        (32 random bytes, hex, mode 0600) when there is none and ``create``; None otherwise.

    :raises HelplineError: the file exists but is not 64 hex digits (restore it from a backup).
    """
    path = store.data_dir / SALT_NAME
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        if not create:
            return None
        store.ensure_dir()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return district_salt(store, create=False)
        try:
            os.write(fd, (secrets.token_hex(32) + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        text = path.read_text(encoding="ascii").strip()
    except UnicodeDecodeError:
        text = ""
    try:
        salt = bytes.fromhex(text)
    except ValueError:
        salt = b""
    if len(salt) != 32:
        raise HelplineError(f"{path} is damaged (not 64 hex digits); restore it from a backup (it is copied by "
                            f"'helpline db backup'). Nothing was changed.")
    return salt


def hash_phone(phone, salt):
    """:param phone: an E.164 number (str). :param salt: the district's salt.

    :returns: ``purged:`` and 24 hex digits of HMAC-SHA256(salt, phone): the same number always
        gives the same value in one district; a value already purged is returned as it is.
    """
    if phone.startswith(PURGED_PREFIX):
        return phone
    return PURGED_PREFIX + hmac.new(salt, phone.encode("utf-8"), hashlib.sha256).hexdigest()[:24]


_E164 = re.compile(r"\+\d{8,15}")


def _replace_phones(text, salt):
    """:returns: ``text`` with every E.164 number in it hashed (``hash_phone``); non-text as it is."""
    if not isinstance(text, str) or "+" not in text:
        return text
    return _E164.sub(lambda m: hash_phone(m.group(0), salt), text)


def purge_ticket(ticket, salt, now):
    """:param ticket: a stored ticket (not changed). :param now: aware UTC.

    :returns: the purged copy (see the module docstring); keys of its ``messages`` summary have
        their numbers hashed, its history ``changes`` lose the private fields' values.
    """
    purged = strip_words(ticket)
    if ticket.get("phone"):
        purged["phone"] = hash_phone(ticket["phone"], salt)
    if ticket.get("messages"):
        purged["messages"] = {_replace_phones(k, salt): v for k, v in ticket["messages"].items()}
    private = {"phone", "caller_name", "description"}
    purged["history"] = [dict(e, changes={k: v for k, v in e["changes"].items() if k not in private})
                         if e.get("changes") else e for e in purged["history"]]
    purged["purged_at"] = to_iso(now)
    return purged


def purge_message(record, salt):
    """:param record: an outbox message (not changed). :returns: the copy a purge keeps: no body,
    no context, numbers hashed in ``recipient``, ``key``, ``gateway_id`` and ``error``."""
    copy = dict(record, body=None, context={}, purged=True)
    for name in ("recipient", "key", "gateway_id", "error"):
        copy[name] = _replace_phones(record.get(name), salt)
    return copy


@dataclass
class PurgeResult:
    """What a purge did (or, with ``dry_run``, would do). Counts: ``live`` and ``archived``
    tickets purged, ``texts`` messages cleaned in ``day_files`` files (and ``outbox.jsonl``),
    ``verification_files`` deleted. ``backup``: the folder written before (None: nothing to do
    or a dry run). ``finished``: tickets of a purge a crash had cut short, finished now.
    ``refused``: a dry run's reason the purge itself would be refused (no backup folder), or None."""

    cutoff: object
    dry_run: bool = False
    live: int = 0
    archived: int = 0
    texts: int = 0
    day_files: int = 0
    verification_files: int = 0
    finished: int = 0
    backup: object = None
    refused: object = None
    ticket_ids: list = field(default_factory=list)

    @property
    def tickets(self):
        return self.live + self.archived

    def as_dict(self):
        """:returns: the shape ``helpline purge --json`` prints."""
        return {"cutoff": to_iso(self.cutoff), "dry_run": self.dry_run, "tickets": self.tickets, "live": self.live,
                "archived": self.archived, "texts": self.texts, "day_files": self.day_files,
                "verification_files": self.verification_files, "finished_from_interrupted": self.finished,
                "backup": str(self.backup) if self.backup else None, "refused": self.refused}


def _due(ticket, cutoff, pending):
    if ticket.get("purged_at"):
        return False
    if ticket["serial"] in pending:
        return True
    return ticket.get("status") in FINAL and bool(ticket.get("final_at")) and from_iso(ticket["final_at"]) <= cutoff


def _read_journal(store):
    path = store.data_dir / JOURNAL_NAME
    try:
        return set(json.loads(path.read_text(encoding="utf-8")).get("serials", []))
    except FileNotFoundError:
        return set()
    except (OSError, ValueError):
        raise HelplineError(f"{path} is damaged; remove it and run the purge again (a purge is safe to "
                            f"repeat). Nothing was changed.") from None


def purge(store, config, *, older_than_days, now, dry_run=False, backup_dir=None, option="--backup-to"):
    """Purge every ticket final (closed or rejected) for more than ``older_than_days`` days.

    :param older_than_days: a whole number >= 1. :param now: aware UTC.
    :param dry_run: count what would be purged and check the backup folder (``refused``); write
        nothing (no salt, no backup).
    :param backup_dir: the folder for the backup taken first; default ``[store] backup_dir``
        (``dbtools.backup_folder``: refused when neither is set, or inside the data directory).
    :param option: the option that gives ``backup_dir``, named when there is no folder (None: the job).
    :returns: a ``PurgeResult``.
    :raises InvalidValue: ``older_than_days`` is not a whole number from 1 to ``clock.MAX_DAYS``;
        the backup folder is inside the data directory. :raises ConfigError: no backup folder (not for a dry run).
    :raises StoreLocked, StoreDamaged, OSError: as the store does; the data directory is then as
        it was (see the module docstring for a crash).
    """
    from .clock import MAX_DAYS

    if isinstance(older_than_days, bool) or not isinstance(older_than_days, int) \
            or not 1 <= older_than_days <= MAX_DAYS:
        raise InvalidValue(f"--older-than must be a whole number of days from 1 to {MAX_DAYS:,}, "
                           f"not {older_than_days!r}.")
    result = PurgeResult(cutoff=now - timedelta(days=older_than_days), dry_run=dry_run)
    from .dbtools import backup_folder, backup_locked

    if dry_run:
        _plan(store, store.snapshot(), result, _read_journal(store))
        if result.tickets:  # the count alone would promise a purge that is then refused
            try:
                backup_folder(store.data_dir, config, backup_dir, option=option)
            except HelplineError as e:
                result.refused = str(e).removesuffix(" Nothing was changed.")
        return result

    folder = backup_folder(store.data_dir, config, backup_dir, option=option)
    saved = {}  # path -> original bytes (None: it did not exist)
    journal_path = store.data_dir / JOURNAL_NAME
    with store.lock():
        try:
            with store._whole_file() as db:
                pending = _read_journal(store)
                plan = _plan(store, db, result, pending)
                result.finished = len(pending)
                if not result.tickets and not pending:
                    return result
                keep_original(saved, store.data_dir / SALT_NAME)
                salt = district_salt(store)
                result.backup = backup_locked(store, config, folder, now)
                keep_original(saved, journal_path)
                atomic_write(journal_path, dump_json({"serials": sorted(plan["serials"]), "started_at": to_iso(now),
                                                      "cutoff": to_iso(result.cutoff),
                                                      "backup": str(result.backup)}))
                _write_archives(store, plan, salt, now, saved)
                tickets = db.table("tickets")
                for ticket in plan["live"]:
                    put_document(tickets, ticket["serial"], purge_ticket(ticket, salt, now))
                _clean_texts(store, config, db, plan, salt, saved, result, now)
                _remove_lists(store, config, result, saved)
        except BaseException:
            if result.backup is not None:  # a copy of everything, taken for a purge that did not happen
                import shutil

                shutil.rmtree(result.backup, ignore_errors=True)
            put_back(saved)
            raise
        os.unlink(journal_path)
    return result


def _plan(store, db, result, pending):
    """Find the tickets to purge, live and archived; fill ``result``'s ticket counts."""
    live, before = [], set()
    for t in db.table("tickets").all():
        if _due(t, result.cutoff, pending):
            live.append(dict(t))
        elif t.get("purged_at"):
            before.add(t["id"])
    live_serials = {t["serial"] for t in live}
    archived, counted = {}, 0
    for block in store.archived_blocks():
        due = []
        for t in store.read_block(block).values():
            if t["serial"] in live_serials:  # also live (an archive run cut short): purge this copy too
                if not t.get("purged_at"):
                    due.append(t)
            elif _due(t, result.cutoff, pending):
                due.append(t)
                counted += 1
                result.ticket_ids.append(t["id"])
            elif t.get("purged_at"):
                before.add(t["id"])
        if due:
            archived[block] = due
    result.live, result.archived = len(live), counted
    result.ticket_ids = sorted(result.ticket_ids + [t["id"] for t in live])
    every = live + [t for d in archived.values() for t in d]
    return {"live": live, "archived": archived, "serials": {t["serial"] for t in every},
            "ids": {t["id"] for t in every}, "purged_before": before,
            "phones": {t["phone"] for t in every if t.get("phone") and not t["phone"].startswith(PURGED_PREFIX)}}


def _write_archives(store, plan, salt, now, saved):
    for block, due in sorted(plan["archived"].items()):
        path = store.block_path(block)
        keep_original(saved, path)
        stored = store.read_block(block)
        for ticket in due:
            stored[str(ticket["serial"])] = purge_ticket(ticket, salt, now)
        store.write_block(block, stored)
    buckets = {store.phones_path(phone) for phone in plan["phones"]}
    for path in sorted(buckets):
        phones = store.read_phone_bucket(path)
        changed = False
        for phone in list(phones):
            kept = [row for row in phones[phone] if row[0] not in plan["serials"]]
            if len(kept) != len(phones[phone]):
                changed = True
                if kept:
                    phones[phone] = kept
                else:
                    del phones[phone]
        if changed:
            keep_original(saved, path)
            store.write_phone_bucket(path, phones)


def _clean_texts(store, config, db, plan, salt, saved, result, now):
    from .outbox import CANCELLED, LIVE_STATES, WAITING, all_day_files, day_path, move_to_day_files, note_on_ticket

    ids = plan["ids"] | plan["purged_before"]  # texts of tickets purged before, sent since, are cleaned too
    for path in all_day_files(store):
        data = read_json(path)
        messages = data.get("messages", {})
        cleaned, changed = {}, 0
        for key, record in messages.items():
            if record.get("ticket_id") in ids and not record.get("purged"):
                record = purge_message(record, salt)
                changed += 1
            cleaned[record.get("key", key) if record.get("purged") else key] = record
        if changed:
            keep_original(saved, path)
            atomic_write(path, dump_json(dict(data, messages=cleaned)))
            result.texts += changed
            result.day_files += 1
    outbox, cancelled = db.table("outbox"), []
    for doc in outbox.all():
        if doc.get("ticket_id") not in ids or doc.get("purged"):
            continue
        if doc["state"] in WAITING:  # still waiting for a ticket final this long: never sent, cleaned
            record = purge_message(dict(doc, state=CANCELLED, updated_at=to_iso(now),
                                        error="not sent: the ticket's personal data was purged"), salt)
            put_document(outbox, doc.doc_id, record)
            note_on_ticket(db, record)
            cancelled.append(record)
        elif doc["state"] not in LIVE_STATES:
            put_document(outbox, doc.doc_id, purge_message(doc, salt))
        else:
            continue  # being sent right now: cleaned in its day file by the next purge
        result.texts += 1
    if cancelled:
        keep_original(saved, day_path(store, now.astimezone(config.tz).date()))
        move_to_day_files(store, config, db, cancelled, now)
    log = store.data_dir / "outbox.jsonl"
    if log.exists():
        lines, changed = [], False
        with open(log, encoding="utf-8") as f:
            for line in f:
                try:
                    entry = json.loads(line)
                except ValueError:
                    lines.append(line)
                    continue
                if str(entry.get("key", "")).split(":", 1)[0] in ids and entry.get("body") is not None:
                    entry = dict(entry, body=None, to=_replace_phones(entry.get("to"), salt),
                                 key=_replace_phones(entry.get("key"), salt))
                    line = json.dumps(entry, ensure_ascii=False) + "\n"
                    changed = True
                lines.append(line)
        if changed:
            keep_original(saved, log)
            atomic_write(log, "".join(lines).encode("utf-8"))


def _remove_lists(store, config, result, saved):
    from datetime import date

    from .verification import FOLDER

    before = result.cutoff.astimezone(config.tz).date()
    folder = store.data_dir / FOLDER
    if not folder.exists():
        return
    for path in sorted(folder.iterdir()):
        try:
            day = date.fromisoformat(path.stem)
        except ValueError:
            continue
        if day < before and path.suffix in (".csv", ".html"):
            keep_original(saved, path)
            os.unlink(path)
            result.verification_files += 1


def purge_task(store, config, *, now, day, **_):
    """The ``purge`` job: off unless config.toml has ``[retention] purge_after_days = N``; then on
    the first day of each local month (a catch-up covers the days after) it purges tickets final
    for more than N days. :returns: counts for ``jobs.log``."""
    days = config.raw.get("retention", {}).get("purge_after_days")
    if not days:
        return {"purge": "off ([retention] purge_after_days is not set)"}
    if day is not None and day.day != 1:
        return {"purge": "not due (it runs on the 1st of the month)"}
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise InvalidValue(f"[retention] purge_after_days = {days!r} is not a whole number of at least 1.")
    result = purge(store, config, older_than_days=days, now=now, option=None)
    return {"tickets": result.tickets, "texts": result.texts, "backup": str(result.backup) if result.backup else "-"}
