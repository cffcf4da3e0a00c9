"""Setting up a district: the data directory, its config and its reference data."""

import csv
import os
import shutil
from pathlib import Path

from tinydb.table import Document

from .config import (CONFIG_NAME, DEFAULT_CATEGORIES, DEFAULT_TIMEZONE, load_config, render_config,
                     validate_district_code, write_config_text)
from .errors import ConfigError, InvalidValue
from .resources import resource_dir
from .store import Store, read_json


def read_areas_csv(path):
    """Read areas from a CSV with a ``name`` column and optional ``alt_names`` (``;``-separated).

    Other columns are ignored (the format of ``srinagar_areas.csv``).

    :returns: [{"name": str, "alt_names": [str]}], in file order, duplicates dropped.
    :raises InvalidValue: no such file, no ``name`` column, or no areas in it.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or "name" not in reader.fieldnames:
                raise InvalidValue(f"{path} has no 'name' column; areas CSV needs one.")
            areas, seen = [], set()
            for row in reader:
                name = " ".join((row.get("name") or "").split())
                if not name or name.casefold() in seen:
                    continue
                seen.add(name.casefold())
                alts = [" ".join(a.split()) for a in (row.get("alt_names") or "").split(";") if a.strip()]
                areas.append({"name": name, "alt_names": alts})
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidValue(f"cannot read areas file {path}: {e}") from None
    if not areas:
        raise InvalidValue(f"{path} lists no areas.")
    return areas


def init_district(data_dir, *, code, name, timezone=DEFAULT_TIMEZONE, areas_csv=None, force=False):
    """Create (or with ``force`` rewrite) a district's config in ``data_dir``.

    Tickets and officers already stored are kept: ``--force`` rewrites the config only (the old
    one is kept as ``config.toml.bak``) and never changes the code of a district that has tickets.
    The ticket counter is set at or above the highest archived serial, so an ID is never reissued.

    :returns: the loaded ``Config``.
    :raises ConfigError: a district exists already and ``force`` is False.
    :raises InvalidValue: bad code, time zone or areas file.
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    code = validate_district_code(code)
    name = " ".join(str(name or "").split())
    if not name:
        raise InvalidValue("district name cannot be empty.")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidValue(f"unknown time zone '{timezone}'; use an IANA name such as Asia/Kolkata.") from None
    data_dir = Path(data_dir)
    store = Store(data_dir, allow_new=True)
    store.ensure_dir()
    os.chmod(data_dir, 0o700)  # callers' numbers live here, even in a folder that existed before
    areas = read_areas_csv(areas_csv or resource_dir("data") / "areas.csv")
    with store.lock():
        path = data_dir / CONFIG_NAME
        if path.exists():
            old_code = _existing_code(path)
            if not force:
                raise ConfigError(f"{data_dir} already holds district {old_code or '(unreadable config)'}; "
                                  f"use --force to rewrite its config.toml from the defaults.")
            if old_code and old_code != code and _has_tickets(store):
                raise ConfigError(f"{data_dir} holds tickets of district {old_code}; its code cannot change to {code}.")
            shutil.copyfile(path, data_dir / (CONFIG_NAME + ".bak"))
        write_config_text(data_dir, render_config(code, name, timezone, DEFAULT_CATEGORIES, areas))
    with store.transaction() as db:
        meta = db.table("meta")
        highest = _highest_archived_serial(store)
        current = meta.get(doc_id=1)
        if not current or current["serial"] < highest:  # a counter never restarts below an issued ID
            meta.upsert(Document({"serial": max(999, highest)}, doc_id=1))
    return load_config(data_dir)


def _existing_code(path):
    import tomllib

    try:
        with open(path, "rb") as f:
            return tomllib.load(f).get("district", {}).get("code")
    except (OSError, tomllib.TOMLDecodeError):
        return None


def _has_tickets(store):
    return bool(store.archived_blocks()) or bool(read_json(store.path).get("tickets"))


def _highest_archived_serial(store):
    blocks = store.archived_blocks()
    if not blocks:
        return 0
    return max((t["serial"] for t in store.read_block(blocks[-1]).values()), default=0)
