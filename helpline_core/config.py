"""The district's config file (``config.toml`` in the data directory): read with tomllib.

Shape::

    [district]
    code = "SXR"                # ticket ID prefix
    name = "Srinagar"
    timezone = "Asia/Kolkata"   # every "today", day boundary and shown time uses it
    languages = ["en", "hi", "ur"]

    [categories]                # name = SLA in hours, or an inline table with sensitive = true
    ration = 48
    counselling = { sla_hours = 4, sensitive = true }

    [quiet_hours]               # no texts to callers between these local times
    start = "21:00"
    end = "08:00"

    [store]
    archive_after_days = 1      # final tickets leave the live database after this long
    lock_timeout_seconds = 10
    backup_dir = "/media/usb/helpline-backups"   # optional: where backups go (see ``backup_dir``)

    [sms]
    gateway = "file"

    [[areas]]
    name = "Khanyar"
    alt_names = ["Khanyaar"]
"""

import os
import re
from functools import cached_property
from pathlib import Path

from .errors import ConfigError, InvalidValue, NotFound

CONFIG_NAME = "config.toml"
DEFAULT_CATEGORIES = {"ration": 48, "medicine": 24, "doctor": 12, "counselling": 4, "other": 72}
LANGUAGES = ("en", "hi", "ur")
DEFAULT_TIMEZONE = "Asia/Kolkata"
# Categories whose callers' words stay private (see ``Config.is_sensitive``) when config.toml
# does not say: a district set up before the ``sensitive`` key existed keeps counselling private.
DEFAULT_SENSITIVE = ("counselling",)
# The longest SLA a category may have: a year. Beyond it a due time is meaningless, and a huge
# number (1e11, inf) would overflow the date arithmetic of every ticket logged in that category.
MAX_SLA_HOURS = 8760


class Config:
    """A loaded district config; attributes are plain values, ``tz`` a ZoneInfo."""

    def __init__(self, raw, path):
        self.raw = raw
        self.path = path
        district = raw.get("district", {})
        try:
            self.district_code = district["code"]
            self.district_name = district["name"]
        except KeyError as missing:
            raise ConfigError(f"{path} has no district {missing.args[0]}; add it by hand.") from None
        self.timezone_name = district.get("timezone", DEFAULT_TIMEZONE)
        self.languages = tuple(district.get("languages", LANGUAGES))
        self.categories, self.sensitive_categories = {}, set()
        for name, value in raw.get("categories", DEFAULT_CATEGORIES).items():
            name = str(name)
            sensitive = name.casefold() in DEFAULT_SENSITIVE
            if isinstance(value, dict):
                sensitive = value.get("sensitive", sensitive)
                if not isinstance(sensitive, bool):
                    raise ConfigError(f"{path}: categories.{name}.sensitive = {sensitive!r} is not true or false.")
                value = value.get("sla_hours")
            self.categories[name] = self.number(value, f"categories.{name}")
            if self.categories[name] > MAX_SLA_HOURS:
                raise ConfigError(f"{path}: categories.{name} = {value!r} is more than {MAX_SLA_HOURS:,} hours "
                                  f"(a year); give an SLA of at most that.")
            if sensitive:
                self.sensitive_categories.add(name)
        try:
            self.areas = [dict(name=a["name"], alt_names=list(a.get("alt_names", []))) for a in raw.get("areas", [])]
        except (KeyError, TypeError, AttributeError):
            raise ConfigError(f"{path}: every [[areas]] entry needs a name.") from None
        store = raw.get("store", {})
        self.archive_after_days = self.number(store.get("archive_after_days", 1), "store.archive_after_days")
        from .clock import MAX_DAYS

        if self.archive_after_days > MAX_DAYS:  # a larger one overflowed the archive's date arithmetic
            raise ConfigError(f"{path}: store.archive_after_days = {store['archive_after_days']!r} is more than "
                              f"{MAX_DAYS:,} days; give at most that.")
        self.lock_timeout_seconds = self.number(store.get("lock_timeout_seconds", 10), "store.lock_timeout_seconds")
        self.backup_dir = self._backup_dir(store.get("backup_dir"))
        quiet = raw.get("quiet_hours", {})
        self.quiet_start = self.clock_time(quiet.get("start", "21:00"), "quiet_hours.start")
        self.quiet_end = self.clock_time(quiet.get("end", "08:00"), "quiet_hours.end")

    def _backup_dir(self, value):
        """:returns: ``[store] backup_dir`` as an absolute Path, or None when it is not set.

        ``~`` is the user's home; a relative path is read from the folder that holds the data
        directory (``backup_dir = "helpline-backups"`` beside ``/home/op/helpline-srinagar`` is
        ``/home/op/helpline-backups``), never from wherever a command happens to be run.
        Whether it lies outside the data directory is checked when a backup is made.
        """
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{self.path}: store.backup_dir = {value!r} is not a folder name; "
                              f"write it as a quoted path, e.g. backup_dir = \"/media/usb/helpline-backups\".")
        folder = Path(value.strip()).expanduser()
        return folder if folder.is_absolute() else Path(self.path).absolute().parent.parent / folder

    def number(self, value, name):
        """:returns: ``value`` as a float >= 0. :raises ConfigError: naming the setting otherwise."""
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = -1
        if not number >= 0 or isinstance(value, bool):
            raise ConfigError(f"{self.path}: {name} = {value!r} is not a number of 0 or more.")
        return number

    def clock_time(self, value, name):
        """:returns: ``value`` if it is a local ``HH:MM``. :raises ConfigError: otherwise."""
        if not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", str(value)):
            raise ConfigError(f"{self.path}: {name} = {value!r} is not a time like 21:00.")
        return str(value)

    @cached_property
    def tz(self):
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            return ZoneInfo(self.timezone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"{self.path}: unknown time zone '{self.timezone_name}'.") from None

    def sla_hours(self, category):
        """:returns: the SLA of ``category`` in hours (float).

        :raises ConfigError: the category was removed from config.toml while tickets still use it.
        """
        try:
            return self.categories[category]
        except KeyError:
            raise ConfigError(f"category '{category}' is used by tickets but missing from [categories] in "
                              f"{self.path}; add it back with its SLA hours.") from None

    def is_sensitive(self, category):
        """:returns: True when tickets of ``category`` hold words that must stay private.

        Set per category in config.toml (``counselling = { sla_hours = 4, sensitive = true }``);
        a category written as a bare number is sensitive only when it is counselling, so a
        district set up before the setting existed keeps its counselling tickets private.
        The rule for what stays private is in ``privacy.py``.
        """
        return category in self.sensitive_categories

    @cached_property
    def area_spellings(self):
        """:returns: {casefolded spelling: [area names]} of every name and alternative name (see
        ``names.spellings``); a spelling with two names is ambiguous."""
        from .names import spellings

        return spellings(self.areas)

    def area(self, text, *, canonical=False):
        """:returns: the canonical area name for ``text`` (case-insensitive, alternative names too).

        :param canonical: take ``text`` as is when it is exactly an area's name (for a name a
            command has resolved already, asking the operator when it was ambiguous).
        :raises AmbiguousName: ``text`` is the name or alternative name of two areas (a config
            written before ``init`` refused that); ``candidates`` lists them.
        :raises NotFound: with a "did you mean" suggestion for a near miss.
        """
        from .names import match_name

        if canonical and any(area["name"] == text for area in self.areas):
            return text
        return match_name(text, self.area_spellings, "area", "helpline info")

    def category(self, text):
        """:returns: the canonical category.

        :raises NotFound: with a suggestion for a near miss, or saying how to add categories when
            the district has none yet.
        """
        from .names import match_name

        if not self.categories:
            raise NotFound(self.no_categories_message())
        return match_name(text, {c.casefold(): c for c in self.categories}, "category", "helpline info")

    def no_categories_message(self):
        """:returns: the one line saying the district has no categories and how to add them."""
        return (f"district {self.district_code} has no categories yet: add them under [categories] in "
                f"{self.path}, one a line: name = SLA hours (e.g. water = 24).")

    def language(self, text):
        """:returns: a language code this district offers. :raises InvalidValue: otherwise."""
        code = (text or "").strip().lower()
        if code not in self.languages:
            raise InvalidValue(f"language '{text}' is not offered; use one of: {', '.join(self.languages)}.")
        return code


def load_config(data_dir):
    """Read ``config.toml`` from ``data_dir``.

    :returns: a ``Config``.
    :raises ConfigError: when there is no district there yet, or the file is not valid TOML.
    """
    import tomllib

    path = Path(data_dir) / CONFIG_NAME
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"no district in {data_dir}: run 'helpline init --district-code CODE --district-name NAME' first.") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML ({e}); {_toml_fix(e)}.") from None
    return Config(raw, path)


def _toml_fix(error):
    """:returns: what to do about a TOML error; a table added a second time (a ``[store]`` pasted
    at the end when init already wrote one) is the usual hand edit that breaks the file."""
    twice = re.search(r"Cannot declare \((.*?)\) twice", str(error))
    if not twice:
        return "fix it by hand"
    table = ".".join(p.strip().strip("'\"") for p in twice.group(1).split(",") if p.strip())
    return (f"[{table}] is there twice: move the settings under the second [{table}] to the first one "
            f"and delete the second [{table}] line")


def _toml_string(value):
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_config(code, name, timezone, categories, areas, languages=LANGUAGES, sensitive=DEFAULT_SENSITIVE):
    """:returns: the text of a new ``config.toml`` (commented, meant to be read and edited).

    :param sensitive: the categories written with ``sensitive = true`` (their callers' words stay
        private: only ``show`` and the officer's own assignment text carry them).
    """
    lines = [
        "# helpline district configuration. Times are local to the time zone below.",
        "",
        "[district]",
        f"code = {_toml_string(code)}",
        f"name = {_toml_string(name)}",
        f"timezone = {_toml_string(timezone)}",
        "languages = [" + ", ".join(_toml_string(l) for l in languages) + "]",
        "",
        "# category = SLA in hours (target time from the first call to resolution);",
        "# sensitive = true keeps a category's descriptions, notes and callers' names out of",
        "# exports, reports, lists and digests (counselling is sensitive unless it says false)",
        "[categories]",
    ]
    lines += [f"{_toml_string(cat)} = {{ sla_hours = {hours:g}, sensitive = true }}"
              if cat in sensitive else f"{_toml_string(cat)} = {hours:g}" for cat, hours in categories.items()]
    lines += [
        "",
        "# no texts to callers between these local times; they wait in the outbox",
        "[quiet_hours]",
        'start = "21:00"',
        'end = "08:00"',
        "",
        "[store]",
        "# closed and rejected tickets move to archive files after this many days",
        "archive_after_days = 1",
        "lock_timeout_seconds = 10",
        "# backups go here (outside the data directory; relative: beside the data directory)",
        '# backup_dir = "/media/usb/helpline-backups"',
        "",
        "[sms]",
        '# "file" appends texts to outbox.jsonl in the data directory; "twilio" sends them',
        'gateway = "file"',
        "",
    ]
    for area in areas:
        lines += ["[[areas]]", f"name = {_toml_string(area['name'])}"]
        if area.get("alt_names"):
            lines.append("alt_names = [" + ", ".join(_toml_string(a) for a in area["alt_names"]) + "]")
        lines.append("")
    return "\n".join(lines)


def validate_district_code(code):
    """:returns: the code upper-cased. :raises InvalidValue: unless it is 2 to 5 letters."""
    code = (code or "").strip().upper()
    if not re.fullmatch(r"[A-Z]{2,5}", code):
        raise InvalidValue(f"district code '{code}' must be 2 to 5 letters, e.g. SXR.")
    return code


def write_config_text(data_dir, text):
    """Write ``config.toml`` atomically, mode 0600."""
    from .store import atomic_write

    atomic_write(Path(data_dir) / CONFIG_NAME, text.encode("utf-8"))
    return Path(data_dir) / CONFIG_NAME


def default_data_dir():
    """:returns: ``$HELPLINE_DATA_DIR`` or the per-user data directory (platformdirs)."""
    env = os.environ.get("HELPLINE_DATA_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("helpline", appauthor=False))
