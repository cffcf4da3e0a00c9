"""Setting up a district: the data directory, its config and its reference data."""

import csv
from pathlib import Path

from .config import (CONFIG_NAME, DEFAULT_CATEGORIES, DEFAULT_TIMEZONE, load_config, render_config,
                     validate_district_code, write_config_text)
from .errors import ConfigError, InvalidValue
from .resources import resource_dir
from .store import Store


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

    Tickets and officers already stored are kept: ``--force`` rewrites the config only.

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
    store = Store(data_dir)
    areas = read_areas_csv(areas_csv or resource_dir("data") / "areas.csv")
    with store.lock():
        path = data_dir / CONFIG_NAME
        if path.exists() and not force:
            existing = load_config(data_dir)
            raise ConfigError(f"{data_dir} already holds district {existing.district_code} "
                              f"({existing.district_name}); use --force to rewrite its config.")
        write_config_text(data_dir, render_config(code, name, timezone, DEFAULT_CATEGORIES, areas))
    with store.transaction() as db:
        db.table("meta")  # touch: creates the database file on first init
        if not db.table("meta").get(doc_id=1):
            db.table("meta").insert({"serial": 999})
    return load_config(data_dir)
