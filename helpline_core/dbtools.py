"""``db check`` and ``db backup``: looking after the store's files."""

import os
import shutil
import stat
from pathlib import Path

from .clock import to_iso
from .config import CONFIG_NAME
from .errors import HelplineError, StoreDamaged
from .store import read_json

TICKET_KEYS = ("id", "serial", "status", "history")
SALT_NAME = "phone-salt"  # retention.SALT_NAME: the district's salt for purged phone numbers


def _private(path, problems):
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        problems.append(f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}")


def check_store(store):
    """Read every file of the data directory (config, live database, archives, SMS day files)
    and report what is in them.

    :returns: ``(problems, facts)``: lists of one-line strings. ``problems`` is empty when all is
        well. Nothing is written.
    """
    problems, facts = [], []
    config = store.data_dir / CONFIG_NAME
    if config.exists():
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
            facts.append(f"{path.name}: {len(tickets)} live tickets, {len(data.get('officers', {}))} officers, "
                         f"{len(data.get('outbox', {}))} texts waiting, {path.stat().st_size:,} bytes")
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
        facts.append(f"archive: {len(archived_serials)} tickets in {len(store.archived_blocks())} files")
    both = live_serials & archived_serials
    if both:
        facts.append(f"{len(both)} tickets are both live and archived (an archive run was cut short; "
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
    _free_space(store, problems, facts)
    leftovers = list(store.data_dir.glob(".*.tmp"))
    if leftovers:
        facts.append(f"{len(leftovers)} temporary files left by an interrupted write (removed on the next write)")
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


def backup_store(store, to_dir=None, now=None):
    """Copy the config, the live database, the archives, the SMS day files and the verification
    lists, under the lock, into a dated folder.

    Every database file is read first, so a damaged store is refused rather than copied; the copy
    is made in a temporary folder and renamed into place, so a failed backup leaves no half copy.

    :param to_dir: where to put the backup folder; default ``<data dir>/backups``.
    :param now: aware UTC, for the folder's name ``helpline-YYYYMMDDTHHMMSSZ``.
    :returns: the Path of the backup folder (mode 0700, files 0600).
    :raises StoreDamaged: a file cannot be read as it should. :raises OSError: a copy failed.
    """
    with store.lock():
        return backup_locked(store, to_dir, now)


def backup_locked(store, to_dir=None, now=None):
    """``backup_store`` for a caller that holds the store lock already (``retention.purge``
    takes its backup inside its own transaction). Same parameters, result and errors."""
    from .clock import utcnow

    now = now or utcnow()
    stamp = to_iso(now).replace("-", "").replace(":", "").replace("+0000", "Z")
    parent = Path(to_dir or store.data_dir / "backups")
    target = parent / f"helpline-{stamp}"
    for path in store.data_files():
        read_json(path)  # raises StoreDamaged: never back up a damaged store over a good backup
    if target.exists():
        raise HelplineError(f"{target} exists already; wait a second and try again.")
    parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = parent / f".{target.name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir(mode=0o700)
        sources = list(store.data_files())
        for name in (CONFIG_NAME, "outbox.jsonl", "jobs.log", SALT_NAME):
            if (store.data_dir / name).exists():
                sources.append(store.data_dir / name)
        for folder in ("sms", "verification"):
            sources += sorted(p for p in (store.data_dir / folder).glob("*") if p.is_file())
        for source in sources:
            destination = partial / source.relative_to(store.data_dir)
            destination.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
            os.chmod(destination, 0o600)
        os.rename(partial, target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return target
