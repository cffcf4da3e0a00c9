"""``db check`` and ``db backup``: looking after the store's files."""

import os
import shutil
import stat
from pathlib import Path

from .clock import to_iso
from .config import CONFIG_NAME
from .errors import StoreDamaged
from .store import read_json


def check_store(store):
    """Read every database and archive file and report what is in them.

    :returns: ``(problems, facts)``: lists of one-line strings. ``problems`` is empty when all is
        well. Nothing is written.
    """
    problems, facts = [], []
    counts, live_serials, archived_serials = {}, set(), set()
    max_serial, counter = 0, None
    for path in store.data_files():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            problems.append(f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}")
        try:
            data = read_json(path)
        except StoreDamaged as e:
            problems.append(str(e))
            continue
        if path == store.path:
            meta = data.get("meta", {}).get("1")
            counter = meta["serial"] if meta else None
            tickets = data.get("tickets", {}).values()
            live_serials = {t["serial"] for t in tickets}
            facts.append(f"{path.name}: {len(live_serials)} live tickets, {len(data.get('officers', {}))} officers, "
                         f"{path.stat().st_size:,} bytes")
        elif path.name.startswith("tickets-"):
            tickets = data.get("tickets", {}).values()
            archived_serials |= {t["serial"] for t in tickets}
        else:
            continue
        for t in tickets:
            counts[t["status"]] = counts.get(t["status"], 0) + 1
            max_serial = max(max_serial, t["serial"])
    if archived_serials:
        facts.append(f"archive: {len(archived_serials)} tickets in {len(store.archived_blocks())} files")
    both = live_serials & archived_serials
    if both:
        facts.append(f"{len(both)} tickets are both live and archived (an archive run was cut short; "
                     f"the live copy counts and the next archive run tidies it)")
    if counter is not None and counter < max_serial:
        problems.append(f"ticket counter {counter} is below the highest serial {max_serial}: new IDs could repeat")
    if counts:
        facts.append("by status: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    leftovers = [p for p in store.data_dir.glob(".*.tmp")]
    if leftovers:
        facts.append(f"{len(leftovers)} temporary files left by an interrupted write (removed on the next write)")
    if not store.path.exists():
        facts.append(f"{store.path} does not exist yet (a new, empty database)")
    return problems, facts


def backup_store(store, to_dir=None, now=None):
    """Copy the config, the live database and the archives, under the lock, into a dated folder.

    :param to_dir: where to put the backup folder; default ``<data dir>/backups``.
    :param now: aware UTC, for the folder's name ``helpline-YYYYMMDDTHHMMSSZ``.
    :returns: the Path of the backup folder (mode 0700, files 0600).
    """
    from .clock import utcnow

    now = now or utcnow()
    stamp = to_iso(now).replace("-", "").replace(":", "").replace("+0000", "Z")
    target = Path(to_dir or store.data_dir / "backups") / f"helpline-{stamp}"
    with store.lock():
        target.mkdir(mode=0o700, parents=True, exist_ok=False)
        sources = list(store.data_files())
        config = store.data_dir / CONFIG_NAME
        if config.exists():
            sources.append(config)
        for source in sources:
            relative = source.relative_to(store.data_dir)
            destination = target / relative
            destination.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
            os.chmod(destination, 0o600)
    return target
