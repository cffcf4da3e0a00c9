"""``db check``, ``db backup`` and ``db restore``: looking after the store's files.

A backup is a folder ``backup-<local time>`` (``backup-2026-12-02T12-13-45+0530``: the
district's local time with its UTC offset, hyphens instead of colons so every file system and
shell takes it) holding what ``BACKED_UP`` names and a ``manifest.json`` (size and SHA-256 of
every file), so a backup cut short or damaged later is refused by ``restore``. Backups live
outside the data directory they protect (``--to`` or ``[store] backup_dir``): a disk that dies
or a folder deleted by mistake must not take its backups with it.

``restore`` swaps the backup in without ever leaving a mix of old and new files: under the store
lock it copies the current data to a dated folder beside the other backups, copies the backup
into ``.restore-new/`` in the data directory, writes ``restore.journal.json`` and only then moves
the old entries to ``.restore-old/`` and the new ones in (renames in one folder). A crash after
the journal is written leaves the journal: every command refuses the store until the same
``db restore`` is run again, which finishes the moves first (roll forward).
"""

import hashlib
import os
import re
import shutil
import stat
from contextlib import ExitStack, contextmanager
from pathlib import Path

import orjson
from tinydb.table import Document

from .clock import to_iso
from .config import CONFIG_NAME
from .errors import ConfigError, HelplineError, InvalidValue, StoreDamaged
from .store import DB_NAME, MANIFEST_NAME, RESTORE_JOURNAL, Store, atomic_write, dump_json, read_json
from .words import plural

TICKET_KEYS = ("id", "serial", "status", "history")
SALT_NAME = "phone-salt"  # retention.SALT_NAME: the district's salt for purged phone numbers


def _private(path, problems):
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        problems.append(f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}")


def check_store(store, as_backup=False):
    """Read every file of the data directory (config, live database, archives, SMS day files)
    and report what is in them.

    :param as_backup: the folder is a backup about to be restored: its files' modes (a copy on a
        USB stick may not keep them; restored files are made 0600) and the free space of its disk
        are not looked at.
    :returns: ``(problems, facts)``: lists of one-line strings. ``problems`` is empty when all is
        well. Nothing is written.
    """
    problems, facts = [], []
    config = store.data_dir / CONFIG_NAME
    if not config.exists():
        problems.append(f"no {CONFIG_NAME} in {store.data_dir}: no district is set up there, or its settings were "
                        f"lost; restore them with 'helpline db restore BACKUP' (or run 'helpline init')")
    else:
        from .config import load_config

        try:
            load_config(store.data_dir).tz
        except HelplineError as error:
            problems.append(str(error))
    counts, live_serials, archived_serials = {}, set(), set()
    max_serial, counter = 0, None
    files = store.data_files() + sorted((store.data_dir / "sms").glob("*.json"))
    for path in files:
        try:
            if not as_backup:
                _private(path, problems)
            data = read_json(path)
        except (StoreDamaged, OSError) as e:
            problems.append(str(e) if isinstance(e, StoreDamaged) else f"{path} cannot be read: {e.strerror}")
            continue
        if path.parent.name == "sms":
            if not isinstance(data.get("messages", {}), dict):
                problems.append(f"{path} is damaged (no table of messages)")
            continue
        if path == store.path:
            meta = data.get("meta", {}).get("1")
            counter = meta.get("serial") if isinstance(meta, dict) else None
            tickets = list(data.get("tickets", {}).values())
            facts.append(f"{path.name}: {plural(len(tickets), 'live ticket')}, "
                         f"{plural(len(data.get('officers', {})), 'officer')}, "
                         f"{plural(len(data.get('outbox', {})), 'text')} waiting, {plural(path.stat().st_size, 'byte')}")
        elif path.name.startswith("tickets-"):
            tickets = list(data.get("tickets", {}).values())
        else:
            continue
        for ticket in tickets:
            if not isinstance(ticket, dict) or any(k not in ticket for k in TICKET_KEYS):
                problems.append(f"{path} holds a damaged ticket: {str(ticket)[:60]}")
                continue
            (live_serials if path == store.path else archived_serials).add(ticket["serial"])
            counts[ticket["status"]] = counts.get(ticket["status"], 0) + 1
            if isinstance(ticket["serial"], int):
                max_serial = max(max_serial, ticket["serial"])
    if archived_serials:
        facts.append(f"archive: {plural(len(archived_serials), 'ticket')} in {plural(len(store.archived_blocks()), 'file')}")
    both = live_serials & archived_serials
    if both:
        facts.append(f"{plural(len(both), 'ticket')} {'is' if len(both) == 1 else 'are'} both live and archived (an archive run was cut short; "
                     f"the live copy counts and the next archive run tidies it)")
    if config.exists() and (not store.path.exists() or store.path.stat().st_size == 0):
        problems.append(f"{store.path} is missing or empty but the district is set up: restore it from a backup")
    elif (counter or 0) < max_serial:
        problems.append(f"ticket counter {counter} is below the highest serial {max_serial}: new IDs could repeat")
    if counts:
        facts.append("by status: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for journal in store.data_dir.glob("import-*.journal.json"):
        problems.append(f"{journal.name}: an import was cut short; run any 'helpline import' to undo it")
    if (store.data_dir / "purge.journal.json").exists():
        problems.append("purge.journal.json: a purge was cut short; run 'helpline purge' again to finish it")
    if (store.data_dir / RESTORE_JOURNAL).exists():
        problems.append(f"{RESTORE_JOURNAL}: a restore was cut short; run the same 'helpline db restore BACKUP' "
                        f"again to finish it")
    if not as_backup:
        _free_space(store, problems, facts)
    leftovers = list(store.data_dir.glob(".*.tmp"))
    if leftovers:
        facts.append(f"{plural(len(leftovers), 'temporary file')} left by an interrupted write (removed on the next write)")
    return problems, facts


def _free_space(store, problems, facts):
    """Every write of the live file first writes a whole temporary copy of it beside the old one:
    below twice its size free, the disk is one bad day from refusing writes."""
    from .store import size_text

    if not store.path.exists():
        return
    size = store.path.stat().st_size
    free = shutil.disk_usage(store.data_dir).free
    facts.append(f"free space on the disk of {store.data_dir}: {size_text(free)}")
    if free < 2 * size:
        problems.append(f"only {size_text(free)} free on the disk of {store.data_dir}; every write of "
                        f"{store.path.name} needs a whole temporary copy of it ({size_text(size)}): keep at least "
                        f"{size_text(2 * size)} free")


# What a backup holds and a restore replaces: files and folders of the data directory.
BACKED_UP = (CONFIG_NAME, DB_NAME, "archive", "outbox.jsonl", "jobs.log", SALT_NAME, "sms", "verification")
# Derived or half-done state that would not match the restored data: moved out by a restore.
STALE_AFTER_RESTORE = ("stats-cache.json", "purge.journal.json")
RESTORE_NEW, RESTORE_OLD = ".restore-new", ".restore-old"


def backup_stamp(now, tz):
    """:param now: aware datetime. :param tz: the district's zone.
    :returns: ``2026-12-02T12-13-45+0530``: local time with its offset, safe in a file name."""
    return now.astimezone(tz).strftime("%Y-%m-%dT%H-%M-%S%z")


def is_inside(path, folder):
    """:returns: True when ``path`` is ``folder`` or lies under it (symbolic links followed)."""
    path, folder = Path(path).expanduser().resolve(), Path(folder).expanduser().resolve()
    return path == folder or folder in path.parents


def backup_folder(data_dir, config, to_dir=None, option="--to"):
    """Where a backup of ``data_dir`` goes: ``to_dir``, else ``[store] backup_dir``.

    :param config: the district's ``Config`` (None when it cannot be read).
    :param option: the command's option for ``to_dir``, named in the error (None: a job, which has none).
    :returns: an absolute Path (it need not exist yet).
    :raises ConfigError: neither is given (the message says how to configure one).
    :raises InvalidValue: the folder is the data directory or inside it, or a file.
    """
    if to_dir:
        folder = Path(to_dir).expanduser().absolute()
    elif config is not None and config.backup_dir is not None:
        folder = config.backup_dir
    else:
        given = f"give {option} DIR (outside {data_dir}), or " if option else ""
        raise ConfigError(f"no backup folder: {given}set backup_dir under [store] in {Path(data_dir) / CONFIG_NAME} "
                          f"(e.g. backup_dir = \"/media/usb/helpline-backups\"). Nothing was changed.")
    if folder.exists() and not folder.is_dir():
        raise InvalidValue(f"{folder} is a file, not a folder for backups; choose a folder. Nothing was changed.")
    if is_inside(folder, data_dir):
        raise InvalidValue(f"{folder} is inside the data directory {data_dir}: a backup there is lost with it; "
                           f"choose a folder outside it (another disk is best). Nothing was changed.")
    return folder


def backup_store(store, config, to_dir=None, now=None):
    """Copy what ``BACKED_UP`` names, under the lock, into a dated folder with a manifest.

    Every database file is read first, so a damaged store is refused rather than copied; the copy
    is made in a temporary folder and renamed into place, so a failed backup leaves no half copy.

    :param config: the district's ``Config`` (zone for the name, ``[store] backup_dir``).
    :param to_dir: the folder for the backup; default ``[store] backup_dir`` (see ``backup_folder``).
    :param now: aware UTC, for the folder's name ``backup-<local time>`` (see ``backup_stamp``).
    :returns: the Path of the backup folder (mode 0700, files 0600).
    :raises ConfigError, InvalidValue: no folder, or one inside the data directory.
    :raises StoreDamaged: a file cannot be read as it should. :raises OSError: a copy failed.
    """
    folder = backup_folder(store.data_dir, config, to_dir)
    with store.lock():
        return backup_locked(store, config, folder, now)


def backup_locked(store, config, folder, now=None):
    """``backup_store`` for a caller that holds the store lock already (``retention.purge``
    takes its backup inside its own transaction). ``folder``: from ``backup_folder``.
    Same result and errors."""
    from .clock import utcnow

    now = now or utcnow()
    for path in store.data_files():
        read_json(path)  # raises StoreDamaged: never back up a damaged store over a good backup
    return _copy_data(store.data_dir, Path(folder), f"backup-{backup_stamp(now, config.tz)}",
                      config.district_code, now)


def _sources(data_dir):
    """:returns: [Path] of the files ``BACKED_UP`` names that exist (a folder's own files,
    temporary ones left out)."""
    sources = []
    for name in BACKED_UP:
        path = data_dir / name
        if path.is_dir():
            sources += sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        elif path.is_file():
            sources.append(path)
    return sources


def _copy_file(source, destination):
    """Copy, fsync, 0600. :returns: ``{"bytes": n, "sha256": hex}`` of what was written."""
    digest, size = hashlib.sha256(), 0
    with open(source, "rb") as f, open(destination, "wb") as out:
        os.fchmod(out.fileno(), 0o600)
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    return {"bytes": size, "sha256": digest.hexdigest()}


def _copy_data(data_dir, parent, name, code, now, manifest=True):
    """Copy ``_sources(data_dir)`` into ``parent/name`` through ``.name.partial`` (renamed when
    complete); when a copy of that name exists (two in one second), ``name-2``, ``name-3``...
    :returns: the new folder."""
    parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    target, n = parent / name, 1
    while target.exists():
        n += 1
        target = parent / f"{name}-{n}"
    name = target.name
    _remove_dead_partials(parent)
    partial = parent / f".{name}.{os.getpid()}.partial"
    try:
        partial.mkdir(mode=0o700)
        files = {}
        for source in _sources(data_dir):
            relative = source.relative_to(data_dir)
            destination = partial / relative
            destination.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            files[relative.as_posix()] = _copy_file(source, destination)
        if manifest:
            atomic_write(partial / MANIFEST_NAME, dump_json({"district": code, "made_at": to_iso(now), "files": files}))
        os.rename(partial, target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return target


def _remove_dead_partials(parent):
    """Remove the half copies (``.backup-....<pid>.partial``) that a backup or restore killed
    midway left in ``parent``: they hold callers' numbers and a whole copy's space. A copy whose
    process still runs (another district's backup to the same disk) is left alone."""
    for path in parent.glob(".backup-*.partial"):
        pid = path.name.rsplit(".", 2)[-2]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except PermissionError:
            pass  # another account's process: running


def check_backup(backup):
    """Check a backup folder with ``db check``'s checks and its manifest, writing nothing.

    :returns: ``{"config": Config, "live": int, "archives": int, "made_at": str | None}``
        (``made_at``: UTC ISO from the manifest; a backup from before manifests has none).
    :raises InvalidValue: not a folder. :raises StoreDamaged: damaged or incomplete (the first
        problem named, with the count of others).
    """
    from .config import load_config

    backup = Path(backup)
    if not backup.is_dir():
        raise InvalidValue(f"{backup} is not a backup folder (one made by 'helpline db backup').")
    problems, _ = check_store(Store(backup), as_backup=True)
    manifest, made_at = backup / MANIFEST_NAME, None
    if manifest.exists():
        try:
            listed = orjson.loads(manifest.read_bytes())
            files, made_at = listed["files"], listed.get("made_at")
            for relative, expected in files.items():
                path = backup / relative
                if ".." in Path(relative).parts or not path.is_file():
                    problems.append(f"{relative} is missing: the backup is incomplete")
                elif _digest(path) != (expected["bytes"], expected["sha256"]):
                    problems.append(f"{relative} is not as it was backed up (size or contents differ)")
        except (OSError, orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
            problems.append(f"{manifest} is damaged")
    if not (backup / DB_NAME).is_file() and not any("missing or empty" in p for p in problems):
        problems.append(f"{backup / DB_NAME} is missing: the backup is incomplete")
    if problems:
        more = f" (and {len(problems) - 1} more; 'helpline --data-dir {backup} db check' lists them)" \
            if len(problems) > 1 else ""
        raise StoreDamaged(f"{backup} cannot be restored: {problems[0]}{more}. Nothing was changed.")
    data = read_json(backup / DB_NAME)
    blocks = Store(backup).archived_blocks()
    return {"config": load_config(backup), "live": len(data.get("tickets", {})), "archives": len(blocks),
            "made_at": made_at}


def _digest(path):
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def data_present(store):
    """What a data directory already holds that set-up must not lose, read without the config.

    :returns: ``{"code": str | None, "found": [str], "config": bool}``: ``found`` names the
        tickets, archives and texts there in words (``["12 live tickets", "2 archive files"]``;
        empty when there are none); ``code`` is the district code of ``config.toml`` when it
        can be read, else the prefix of the stored tickets' IDs, else None.
    """
    found, code, ticket_code = [], None, None
    try:
        data = read_json(store.path)
    except StoreDamaged:
        data = None
        found.append(f"a damaged {DB_NAME}")
    if data:
        live = list(data.get("tickets", {}).values())
        if live:
            found.append(plural(len(live), "live ticket"))
            ticket_code = _prefix(live)
        waiting = len(data.get("outbox", {}))
        if waiting:
            found.append(plural(waiting, "text") + " in the outbox")
    blocks = store.archived_blocks()
    if blocks:
        found.append(plural(len(blocks), "archive file"))
        if ticket_code is None:
            try:
                ticket_code = _prefix(store.read_block(blocks[-1]).values())
            except StoreDamaged:
                pass
    days = [p for p in (store.data_dir / "sms").glob("*.json")]
    if days:
        found.append(plural(len(days), "SMS day file"))
    sent = store.data_dir / "outbox.jsonl"
    if sent.is_file() and sent.stat().st_size:
        found.append("texts in outbox.jsonl")
    config = store.data_dir / CONFIG_NAME
    if config.exists():
        code = _config_code(config)
    return {"code": code or ticket_code, "found": found, "config": config.exists()}


def _prefix(tickets):
    for ticket in tickets:
        if isinstance(ticket, dict) and "-" in str(ticket.get("id", "")):
            return str(ticket["id"]).split("-")[0]
    return None


def _config_code(path):
    import tomllib

    try:
        with open(path, "rb") as f:
            code = tomllib.load(f).get("district", {}).get("code")
    except (OSError, tomllib.TOMLDecodeError):
        return None
    return code if isinstance(code, str) else None


def _stale_entries(data_dir):
    """:returns: the names a restore moves out of the data directory."""
    names = list(BACKED_UP) + list(STALE_AFTER_RESTORE)
    names += sorted(p.name for p in data_dir.glob("import-*.journal.json"))
    return names


def restore_folder(store, backup):
    """Where a restore keeps the current data: the current ``[store] backup_dir`` when the
    config can be read and sets one, else the folder that holds ``backup``.

    :returns: a Path. :raises InvalidValue: that folder is inside the data directory.
    """
    from .config import load_config

    try:
        folder = load_config(store.data_dir).backup_dir
    except HelplineError:
        folder = None
    folder = folder or Path(backup).expanduser().absolute().parent
    if is_inside(folder, store.data_dir):
        raise InvalidValue(f"the copy of the current data would go to {folder}, inside the data directory "
                           f"{store.data_dir}; move the backup out of it first (or set [store] backup_dir). "
                           f"Nothing was changed.")
    return folder


def restore_backup(store, backup, now):
    """Put ``backup`` in place of the data in ``store.data_dir`` (see the module docstring).

    Nothing is touched before the backup passes ``check_backup``. The current data (whatever
    state it is in, not checked) is copied first to ``backup-<local time>-before-restore`` in
    ``restore_folder``; a data directory with nothing of ``BACKED_UP`` in it gets no copy.
    Then, under the store lock, the backup's files replace the ``BACKED_UP`` entries, and
    ``stats-cache.json`` and cut-short journals are removed; other files (the lock, cron's log,
    import rejects) stay. A restore a crash cut short is finished first.

    :param now: aware UTC, for the name of the copy.
    The restored ticket counter is raised to the highest serial the current data had issued, so
    an ID given to a caller after the backup was made is never given to another caller.

    :returns: ``{"kept": Path | None, "code": str, "live": int, "archives": int, "finished": bool,
        "lost": [ticket ID]}``; ``lost``: the current live tickets opened after the backup was made,
        which the restore drops (they stay in ``kept``); ``texts``: how many texts the backup has
        waiting that the current data had sent (or tried to) since, kept as they are now so
        they are not sent twice.
    :raises InvalidValue, StoreDamaged: see ``check_backup``, ``restore_folder``; the data
        directory holds another district's data. :raises StoreLocked: as ``Store.lock``.
    :raises JobBusy: an ``sms send`` or ``sms sync`` is running (nothing is changed).
    """
    backup = Path(backup).expanduser().absolute()
    if is_inside(backup, store.data_dir):
        raise InvalidValue(f"{backup} is inside the data directory {store.data_dir} it would replace; move it "
                           f"out first. Nothing was changed.")
    info = check_backup(backup)
    config = info["config"]
    keep_in = restore_folder(store, backup)
    store.mid_restore_ok = True
    try:
        with store.lock(), ExitStack() as runs:
            finished = _finish_restore(store)
            present = data_present(store)
            if present["code"] and present["code"] != config.district_code:
                raise InvalidValue(f"{store.data_dir} holds district {present['code']}; the backup is of district "
                                   f"{config.district_code}: restore it into its own data directory (--data-dir). "
                                   f"Nothing was changed.")
            runs.enter_context(_no_sending_run(store))
            kept = None
            if any((store.data_dir / name).exists() for name in BACKED_UP):
                kept = _copy_data(store.data_dir, keep_in, f"backup-{backup_stamp(now, config.tz)}-before-restore",
                                  present["code"], now)
            staging = store.data_dir / RESTORE_NEW
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(mode=0o700)
            for source in _sources(backup):
                destination = staging / source.relative_to(backup)
                destination.parent.mkdir(mode=0o700, exist_ok=True)
                _copy_file(source, destination)
            issued = _issued_serial(store)
            lost = _opened_after(store, issued, staging)
            _raise_counter(staging, issued)
            texts = _keep_texts_sent_since(store, staging)
            _fsync_dir(staging)
            entries = sorted(p.name for p in staging.iterdir())
            atomic_write(store.data_dir / RESTORE_JOURNAL, dump_json({"entries": entries, "backup": str(backup),
                                                                      "started_at": to_iso(now)}))
            _finish_restore(store)
    finally:
        store.mid_restore_ok = False
    return {"kept": kept, "code": config.district_code, "live": info["live"], "archives": info["archives"],
            "finished": finished, "lost": lost, "texts": texts}


def _counter(data):
    meta = data.get("meta", {}).get("1")
    serial = meta.get("serial") if isinstance(meta, dict) else None
    return serial if isinstance(serial, int) else 0


def _issued_serial(store):
    """The highest ticket serial the data directory has issued, as far as its files tell (its
    counter, its live tickets, its last archive file; of a damaged live file, every serial still
    legible in it); 0 when none can be read (a new machine)."""
    from .district import _highest_archived_serial

    try:
        data = read_json(store.path)
    except StoreDamaged:  # what can still be read of it: the counter leads the file, tickets follow
        data = {}
        with open(store.path, "rb") as f:
            found = re.findall(rb'"serial":\s*(\d{1,12})\b', f.read())
        if found:
            data = {"meta": {"1": {"serial": max(int(n) for n in found)}}}
    serials = [t.get("serial") for t in data.get("tickets", {}).values() if isinstance(t, dict)]
    highest = max([_counter(data)] + [s for s in serials if isinstance(s, int)])
    try:
        return max(highest, _highest_archived_serial(store))
    except (StoreDamaged, KeyError, TypeError, ValueError):
        return highest


def _opened_after(store, issued, staging):
    """:returns: [ticket ID] of the current live tickets opened after the backup was made (a
    serial above the backup's counter): the restore drops them. Read-only; [] when unreadable."""
    backup_counter = _counter(read_json(staging / DB_NAME))
    if issued <= backup_counter:
        return []
    try:
        tickets = read_json(store.path).get("tickets", {}).values()
    except StoreDamaged:
        return []
    return [t["id"] for t in sorted((t for t in tickets if isinstance(t, dict) and isinstance(t.get("serial"), int)
                                     and t["serial"] > backup_counter), key=lambda t: t["serial"])]


def _keep_texts_sent_since(store, staging):
    """Texts that left: a restore does not take back what was texted. Every text of the current
    data's day files is merged into the staged backup's (the current record wins: it is newer),
    so ``sms list`` still shows it and a job run again (the morning digest) does not send it a
    second time; a text waiting in the staged outbox that the current data has sent, or tried
    to send, since keeps its current record (moved to its day file, or in the outbox when still
    ``sending``/``unknown``): a restore must not text a caller or an officer twice.
    :returns: how many of the staged outbox's waiting texts were kept so."""
    from .outbox import SMS_DIR, WAITING, all_day_files, note_on_ticket
    from .store import put_document

    sent = {}  # key: the merged messages of its day file
    for path in all_day_files(store):
        try:
            messages = read_json(path).get("messages", {})
        except StoreDamaged:
            continue  # kept in the copy of the current data; the backup's file of that day stays
        if not isinstance(messages, dict) or not messages:
            continue
        target = staging / SMS_DIR / path.name
        target.parent.mkdir(mode=0o700, exist_ok=True)
        try:
            stored = read_json(target).get("messages", {})
        except StoreDamaged:
            stored = {}
        stored.update(messages)
        atomic_write(target, dump_json({"messages": stored}))
        sent.update(dict.fromkeys(messages, stored))
    waiting = {doc.get("key"): int(doc_id) for doc_id, doc in read_json(staging / DB_NAME).get("outbox", {}).items()
               if isinstance(doc, dict) and doc.get("state") in WAITING}
    try:
        live = read_json(store.path)
    except StoreDamaged:
        live = {}
    now = {}  # key: (True when in a day file now, record)
    for doc in live.get("outbox", {}).values():
        if isinstance(doc, dict) and doc.get("key") in waiting and doc.get("state") not in WAITING:
            now[doc["key"]] = (False, doc)
    for key in waiting.keys() & sent.keys():
        now[key] = (True, sent[key][key])
    by_ticket = {}  # a ticket's summary lists its texts sent since too: the same event is not texted again
    for key, messages in sent.items():
        record = messages[key]
        if isinstance(record, dict) and record.get("ticket_id"):
            by_ticket.setdefault(record["ticket_id"], []).append(record)
    if not now and not by_ticket:
        return 0
    with Store(staging)._whole_file() as db:  # see _raise_counter
        outbox = db.table("outbox")
        for key, (in_day_file, record) in now.items():
            if in_day_file:
                outbox.remove(doc_ids=[waiting[key]])
            else:
                put_document(outbox, waiting[key], record)
            note_on_ticket(db, record)
        for records in by_ticket.values():
            try:
                note_on_ticket(db, *records)  # a ticket the backup lacks is left out
            except (ValueError, TypeError, IndexError):
                continue  # not a ticket ID of this store's form: nothing to note
    return len(now)


def _raise_counter(staging, issued):
    """Set the staged live file's ticket counter to at least ``issued``: IDs given to callers
    after the backup was made are never issued again to other callers."""
    staged = Store(staging)
    if _counter(read_json(staged.path)) >= issued:
        return
    with staged._whole_file() as db:  # no lock of its own: the staging folder is ours, under the store lock
        db.table("meta").upsert(Document({"serial": issued}, doc_id=1))


@contextmanager
def _no_sending_run(store):
    """Hold the ``sms send`` and ``sms sync`` run locks for a restore: such a run records its
    results after the gateway calls, by the texts' places in the outbox it read, and would write
    them over other texts of the restored data. :raises JobBusy: one is running."""
    from .errors import JobBusy
    from .sending import run_lock

    with ExitStack() as held:
        for name in ("sms-send", "sms-sync"):
            try:
                held.enter_context(run_lock(store, name))
            except JobBusy:
                raise JobBusy(f"'{name.replace('-', ' ')}' is running on {store.data_dir}: restore when it has "
                              f"finished (its results would be written into the restored data). Nothing was "
                              f"changed.") from None
        yield


def _finish_restore(store):
    """Carry out ``restore.journal.json`` (idempotent: a crash at any point is finished by
    running it again). Lock held. :returns: True when there was a journal."""
    data_dir = store.data_dir
    journal = data_dir / RESTORE_JOURNAL
    if not journal.exists():
        return False
    try:
        entries = orjson.loads(journal.read_bytes())["entries"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise StoreDamaged(f"{journal} is damaged: the restore cannot be finished; run 'helpline db restore "
                           f"BACKUP' again after moving the journal away.") from None
    new, old = data_dir / RESTORE_NEW, data_dir / RESTORE_OLD
    old.mkdir(mode=0o700, exist_ok=True)
    for name in _stale_entries(data_dir):
        here = data_dir / name
        if not (here.exists() or here.is_symlink()):
            continue
        if name in entries and not (new / name).exists():
            continue  # the backup's, moved in before the crash
        if (old / name).exists():
            _remove(old / name)
        os.rename(here, old / name)
    for name in entries:
        if (new / name).exists():
            os.rename(new / name, data_dir / name)
    _fsync_dir(data_dir)
    os.unlink(journal)
    _fsync_dir(data_dir)
    shutil.rmtree(new, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    return True


def _remove(path):
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _fsync_dir(folder):
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
