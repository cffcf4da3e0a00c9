"""Setting up a district: the data directory, its config and its reference data."""

import csv
import os
import shutil
from pathlib import Path

from tinydb.table import Document

from .config import (CONFIG_NAME, DEFAULT_TIMEZONE, MAX_SLA_HOURS, load_config, render_config,
                     validate_district_code, write_config_text)
from .errors import ConfigError, InvalidValue
from .resources import resource_dir
from .store import Store


def read_areas_csv(path):
    """Read areas from a CSV with a ``name`` column and optional ``alt_names`` (``;``-separated).

    Other columns are ignored (``area_type``, ``source`` of the shipped ``data/areas.csv``).
    Rows with the same name are one area (a tehsil and a constituency of one name): their
    alternative names are merged. Control characters in a name become spaces, as in typed text.

    :returns: [{"name": str, "alt_names": [str]}], in file order.
    :raises InvalidValue: no such file, no ``name`` column, no areas in it, a row with alternative
        names but no name (its row number), or a name or alternative name that belongs to two
        areas (the message names it and both areas).
    """
    from .names import clean_text, spellings

    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            if not reader.fieldnames or "name" not in reader.fieldnames:
                raise InvalidValue(f"{path} has no 'name' column; areas CSV needs one.")
            areas, by_name = [], {}
            for row in reader:
                name = clean_text(row.get("name"))  # a control character would make config.toml unreadable
                alt_names = [clean_text(alt) for alt in (row.get("alt_names") or "").split(";")]
                if not name:
                    if any(alt_names):  # dropping it would lose those names without a word
                        raise InvalidValue(f"{path} row {reader.line_num}: alternative names "
                                           f"{'; '.join(a for a in alt_names if a)} have no area name.")
                    continue
                if name.casefold() not in by_name:
                    by_name[name.casefold()] = {"name": name, "alt_names": []}
                    areas.append(by_name[name.casefold()])
                area = by_name[name.casefold()]
                for alt in alt_names:
                    if alt and alt.casefold() not in {a.casefold() for a in [name, *area["alt_names"]]}:
                        area["alt_names"].append(alt)
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidValue(f"cannot read areas file {path}: {e}") from None
    except csv.Error as e:
        raise InvalidValue(f"{path} is not readable CSV ({e}).") from None
    if not areas:
        raise InvalidValue(f"{path} lists no areas.")
    for key, names in spellings(areas).items():
        if len(names) > 1:  # a typed name must lead to one area: routing depends on it
            spelling = next(s for a in areas for s in [a["name"], *a["alt_names"]] if s.casefold() == key)
            raise InvalidValue(f"{path}: '{spelling}' belongs to two areas, {' and '.join(repr(n) for n in names[:2])}; "
                               f"keep it as the name or alternative name of one area only.")
    return areas


def read_categories_csv(path):
    """Read a district's categories from a CSV with columns ``name``, ``sla_hours`` and optional
    ``sensitive`` (yes/no, true/false, 1/0; blank: no). Other columns are ignored. Control
    characters in a name become spaces, as in typed text; ``sla_hours`` is above 0 and at most
    ``MAX_SLA_HOURS`` (a year).

    :returns: ``({name: SLA hours (float)}, [sensitive names])``, in file order.
    :raises InvalidValue: no such file, a missing column, no categories, or a bad row: the message
        names the row (spreadsheet numbering: the header is row 1) and what is wrong.
    """
    from .names import clean_text

    categories, sensitive = {}, []
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            missing = [c for c in ("name", "sla_hours") if c not in (reader.fieldnames or [])]
            if missing:
                raise InvalidValue(f"{path} has no {' or '.join(repr(c) for c in missing)} column; a categories "
                                   f"CSV needs name,sla_hours and optionally sensitive.")
            for row in reader:
                number = reader.line_num
                if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                    continue
                name = clean_text(row.get("name"))  # a control character would make config.toml unreadable
                where = f"{path} row {number}"
                if not name or len(name) > 40:
                    raise InvalidValue(f"{where}: a category needs a name of 1 to 40 characters.")
                if name.casefold() in {c.casefold() for c in categories}:
                    raise InvalidValue(f"{where}: category '{name}' is listed twice.")
                hours_text = (row.get("sla_hours") or "").strip()
                try:
                    hours = float(hours_text)
                except ValueError:
                    hours = -1
                if not 0 < hours < float("inf"):
                    raise InvalidValue(f"{where}: sla_hours '{hours_text}' of '{name}' is not a number of hours above 0.")
                if hours > MAX_SLA_HOURS:
                    raise InvalidValue(f"{where}: sla_hours '{hours_text}' of '{name}' is more than {MAX_SLA_HOURS:,} "
                                       f"hours (a year).")
                flag = (row.get("sensitive") or "").strip().casefold()
                if flag not in ("", "yes", "no", "true", "false", "1", "0"):
                    raise InvalidValue(f"{where}: sensitive '{row.get('sensitive')}' of '{name}' is not yes or no.")
                categories[name] = hours
                if flag in ("yes", "true", "1"):
                    sensitive.append(name)
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidValue(f"cannot read categories file {path}: {e}") from None
    except csv.Error as e:
        raise InvalidValue(f"{path} is not readable CSV ({e}).") from None
    if not categories:
        raise InvalidValue(f"{path} lists no categories.")
    return categories, sensitive


def init_district(data_dir, *, code, name, timezone=DEFAULT_TIMEZONE, areas_csv=None, categories_csv=None,
                  languages=None, force=False):
    """Create (or with ``force`` rewrite) a district's config in ``data_dir``.

    Areas come from ``areas_csv`` or the shipped Srinagar list (``data/areas.csv``). Categories
    come from ``categories_csv``; without one, a district on the shipped Srinagar areas gets the
    shipped Srinagar categories (``data/categories.csv``) and a district with its own areas none
    (a Boston district does not start with ration and counselling): add them to config.toml.
    ``languages`` (codes of the shipped templates, en/hi/ur; default all three) are those callers
    may choose and texts are written in.

    A folder that already holds tickets, archives or texts is refused unless ``force`` is given
    with the code of the district they belong to (from its ``config.toml``, or when that is lost,
    from the IDs of the stored tickets): ``--force`` rewrites the config only (the old one is
    kept as ``config.toml.bak``) and never gives a district's data another code. A config with
    no data behind it is rewritten only with ``force``. Refused: nothing is changed.
    The ticket counter is set at or above the highest archived serial, so an ID is never reissued.

    :returns: the loaded ``Config``.
    :raises ConfigError: a district or its data exists already and ``force`` (with its code) is not given.
    :raises InvalidValue: bad code, time zone, language, areas or categories file (nothing is created).
    :raises StoreDamaged: a restore was cut short there (see ``dbtools``).
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from .dbtools import data_present

    code = validate_district_code(code)
    name = " ".join(str(name or "").split())
    if not name:
        raise InvalidValue("district name cannot be empty.")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidValue(f"unknown time zone '{timezone}'; use an IANA name such as Asia/Kolkata.") from None
    languages = _checked_languages(languages)
    areas = read_areas_csv(areas_csv or resource_dir("data") / "areas.csv")
    if categories_csv:
        categories, sensitive = read_categories_csv(categories_csv)
    elif areas_csv:
        categories, sensitive = {}, []
    else:
        categories, sensitive = read_categories_csv(resource_dir("data") / "categories.csv")
    data_dir = Path(data_dir)
    store = Store(data_dir, allow_new=True)
    store.ensure_dir()
    with store.lock():
        path = data_dir / CONFIG_NAME
        present = data_present(store)
        old_code = present["code"]
        if present["found"]:
            what = f"data of district {old_code or '(unknown)'} ({', '.join(present['found'])})"
            if old_code is None:
                raise ConfigError(f"{data_dir} already holds {what}, and neither a config.toml nor a ticket ID "
                                  f"says which district; nothing was changed. Use another --data-dir, or restore "
                                  f"its config with 'helpline db restore BACKUP'.")
            if not force:
                raise ConfigError(f"{data_dir} already holds {what}; nothing was changed. To rewrite its "
                                  f"config.toml give --force --district-code {old_code}; for a new district use "
                                  f"another --data-dir.")
            if old_code != code:
                raise ConfigError(f"{data_dir} holds {what}; its code cannot change to {code}, nothing was "
                                  f"changed. Give --district-code {old_code}, or another --data-dir for a new district.")
        elif path.exists() and not force:
            raise ConfigError(f"{data_dir} already holds district {old_code or '(unreadable config)'}; "
                              f"use --force to rewrite its config.toml from the defaults.")
        os.chmod(data_dir, 0o700)  # callers' numbers live here, even in a folder that existed before
        if path.exists():
            shutil.copyfile(path, data_dir / (CONFIG_NAME + ".bak"))
        write_config_text(data_dir, render_config(code, name, timezone, categories, areas, languages=languages,
                                                      sensitive=sensitive))
    with store.transaction() as db:
        meta = db.table("meta")
        highest = _highest_archived_serial(store)
        current = meta.get(doc_id=1)
        if not current or current["serial"] < highest:  # a counter never restarts below an issued ID
            meta.upsert(Document({"serial": max(999, highest)}, doc_id=1))
    return load_config(data_dir)


def _checked_languages(languages):
    """:returns: ``languages`` as a tuple without repeats (default: every shipped language).
    :raises InvalidValue: a code the shipped templates do not have."""
    from .config import LANGUAGES

    if not languages:
        return LANGUAGES
    chosen = tuple(dict.fromkeys(str(lang).strip().lower() for lang in languages))
    unknown = [lang for lang in chosen if lang not in LANGUAGES]
    if unknown:
        raise InvalidValue(f"language {', '.join(unknown)} has no templates; choose from: {', '.join(LANGUAGES)}.")
    return chosen


def _highest_archived_serial(store):
    blocks = store.archived_blocks()
    if not blocks:
        return 0
    return max((t["serial"] for t in store.read_block(blocks[-1]).values()), default=0)
