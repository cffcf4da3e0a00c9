"""The mapping file of ``helpline import``: which source column feeds each helpline field.

A *mapping* file (TOML) says, for each helpline field, which source column holds it (or a fixed
value), how source values translate into ours, and how the source writes its times. The shipped
``data/mappings/boston311.toml`` is a worked example; the shape::

    [source]
    name = "boston311"                 # kept on every ticket as ``source``
    timestamp_format = "%m/%d/%Y %I:%M:%S %p"   # strptime codes, or "iso"
    timezone = "America/New_York"      # the zone of times written without an offset
    phone_region = "US"                # numbers without a country code
    encoding = "utf-8-sig"             # optional; delimiter = "," optional

    [categories]                       # categories the mapping produces = SLA hours; the import
    roads = 72                         # adds those the district lacks to its config.toml

    [location]
    unknown_points = [[42.3594, -71.0587]]   # a placeholder point that means "no location"

    [fields]
    external_id = "CASE_ENQUIRY_ID"    # a plain string names the column
    language = { value = "en" }        # a fixed value
    description = { columns = ["TYPE", "CASE_TITLE"], join = " - " }   # several, blanks and repeats dropped
    [fields.category]
    column = "REASON"
    default = "other"                  # the cell is blank
    otherwise = "other"                # the value is not in the map
    map = { roads = ["Pothole", "Highway Maintenance"] }   # ours = [theirs, ...]
    [fields.area]
    column = "neighborhood"
    default = "Unknown"                # the cell is blank
    otherwise = "Unknown"              # the value is no area of the district (nor in the map)
    [fields.status]
    column = "CASE_STATUS"
    map = { Open = "open", Closed = "closed" }             # theirs = ours
    [fields.officer]
    column = "QUEUE"
    create = true                      # a queue that is no officer becomes one (inactive, no phone)

A value is translated so: blank -> ``default`` (or nothing); listed in ``map`` (case and spacing
ignored) -> its translation; otherwise -> ``otherwise`` if given, else the value itself. The
result must then be a helpline value: a status, a configured area (or alternative name), a
category of the district or of the mapping's ``[categories]``, an officer ID (or a new officer
with ``create``), a language of the district. The area is the exception: its ``otherwise`` is
the catch-all area for a value that is no area of the district (a known area stays itself), and
its ``default`` and ``otherwise`` must be areas of the district (``check_for_district``).

``load_mapping`` reads and checks such a file; ``read_csv`` reads the export it describes;
``fast_strptime`` parses the export's times (the bulk of an import's work) quickly.
"""

import csv
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .config import MAX_SLA_HOURS
from .errors import InvalidValue

# helpline field -> what it holds (the mapping's [fields] keys)
FIELDS = {
    "external_id": "the source's own ID of the record (required)",
    "opened_at": "when the call or case was opened (required)",
    "area": "the area (required; configured areas and their alternative names)",
    "category": "the category (required)",
    "phone": "the caller's number (optional: records without one are never texted)",
    "caller_name": "the caller's name",
    "description": "what the caller needs",
    "language": "the caller's language (en, hi, ur; default en)",
    "status": "open, assigned, resolved, closed or rejected (default: from the times given)",
    "officer": "the assignee (an officer ID; see create)",
    "due_at": "the due time (none: the ticket has no due time)",
    "assigned_at": "when it was assigned (default: opened time)",
    "resolved_at": "when it was resolved",
    "closed_at": "when it was closed",
    "resolution_note": "what was done",
    "address": "the address as written",
    "lat": "latitude, WGS84 degrees",
    "long": "longitude, WGS84 degrees",
}
REQUIRED = ("external_id", "opened_at", "area", "category")
TIME_FIELDS = ("opened_at", "due_at", "assigned_at", "resolved_at", "closed_at")
_SPEC_KEYS = {"column", "columns", "join", "value", "map", "default", "otherwise", "create"}


def value_key(text):
    """Case and spacing do not matter when matching source values."""
    return " ".join(str(text).split()).casefold()


def squash_spaces(text):
    """:returns: ``text`` on one line with single spaces."""
    return " ".join(str(text).split())


@dataclass
class FieldSpec:
    """How one helpline field is read from a row: columns (joined) or a fixed value, then translated."""

    name: str
    columns: tuple = ()
    join: str = " - "
    value: object = None
    mapping: dict = field(default_factory=dict)  # value_key(source value) -> our value
    default: object = None
    otherwise: object = None
    create: bool = False


@dataclass
class Mapping:
    """A loaded mapping file (see the module docstring)."""

    path: Path
    source: str
    timestamp_format: str
    timezone_name: str
    tz: object
    phone_region: str
    encoding: str
    delimiter: str
    categories: dict  # name -> SLA hours the mapping brings
    unknown_points: list
    fields: dict  # helpline field -> FieldSpec

    def columns(self):
        """:returns: every source column the mapping reads, in a stable order."""
        seen = []
        for spec in self.fields.values():
            for column in spec.columns:
                if column not in seen:
                    seen.append(column)
        return seen


def _mapping_error(path, message):
    return InvalidValue(f"mapping {path}: {message}")


def _parse_spec(path, name, raw):
    if isinstance(raw, str):
        return FieldSpec(name, columns=(raw,))
    if not isinstance(raw, dict):
        raise _mapping_error(path, f"[fields] {name} must be a column name or a table (column = ..., map = ...).")
    unknown = set(raw) - _SPEC_KEYS
    if unknown:
        raise _mapping_error(path, f"[fields.{name}] has unknown key(s) {', '.join(sorted(unknown))}; "
                                   f"allowed: {', '.join(sorted(_SPEC_KEYS))}.")
    spec = FieldSpec(name)
    if "column" in raw and "columns" in raw:
        raise _mapping_error(path, f"[fields.{name}] has both column and columns; keep one.")
    if "column" in raw:
        spec.columns = (str(raw["column"]),)
    elif "columns" in raw:
        if not isinstance(raw["columns"], list) or not raw["columns"]:
            raise _mapping_error(path, f"[fields.{name}] columns must be a list of column names.")
        spec.columns = tuple(str(c) for c in raw["columns"])
    if "value" in raw:
        if spec.columns:
            raise _mapping_error(path, f"[fields.{name}] has a column and a fixed value; keep one.")
        spec.value = raw["value"]
    elif not spec.columns:
        raise _mapping_error(path, f"[fields.{name}] needs column = \"...\" or value = \"...\".")
    spec.join = str(raw.get("join", " - "))
    spec.default = raw.get("default")
    spec.otherwise = raw.get("otherwise")
    spec.create = bool(raw.get("create", False))
    if spec.create and name != "officer":
        raise _mapping_error(path, f"[fields.{name}] create = true applies to the officer field only.")
    table = raw.get("map", {})
    if not isinstance(table, dict):
        raise _mapping_error(path, f"[fields.{name}.map] must be a table.")
    for ours_or_theirs, target in table.items():
        # two forms: theirs = "ours" (one to one), or ours = ["theirs", ...] (many to one)
        pairs = [(ours_or_theirs, target)] if not isinstance(target, list) else [(t, ours_or_theirs) for t in target]
        for theirs, ours in pairs:
            key = value_key(theirs)
            if key in spec.mapping and spec.mapping[key] != ours:
                raise _mapping_error(path, f"[fields.{name}.map] sends '{theirs}' to both "
                                           f"'{spec.mapping[key]}' and '{ours}'.")
            spec.mapping[key] = ours
    return spec


def load_mapping(path, config=None):
    """Read and check a mapping file.

    :param path: the TOML file.
    :param config: the district's ``Config``: the mapping is also checked against it
        (``check_for_district``).
    :returns: a ``Mapping``.
    :raises InvalidValue: the file is missing or not TOML, names an unknown field or time zone,
        lacks a required field, maps one source value two ways, or (with ``config``) sends
        blank or unknown areas to an area the district lacks; the message says what to fix.
    """
    import tomllib
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise InvalidValue(f"no mapping file {path}; see data/mappings/boston311.toml for an example.") from None
    except OSError as e:
        raise InvalidValue(f"cannot read mapping file {path}: {e.strerror or e}.") from None
    except tomllib.TOMLDecodeError as e:
        raise _mapping_error(path, f"not valid TOML ({e}).") from None
    source = raw.get("source", {})
    name = squash_spaces(source.get("name", ""))
    if not name:
        raise _mapping_error(path, "[source] needs name = \"...\" (kept on every ticket; re-imports match on it).")
    tz_name = str(source.get("timezone", "UTC"))
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _mapping_error(path, f"unknown time zone '{tz_name}' in [source]; use an IANA name.") from None
    delimiter = str(source.get("delimiter", ","))
    if len(delimiter) != 1:
        raise _mapping_error(path, "[source] delimiter must be one character.")
    categories = {}
    for cat, hours in raw.get("categories", {}).items():
        cat = squash_spaces(cat)
        if not cat or len(cat) > 40 or not isinstance(hours, (int, float)) or isinstance(hours, bool) \
                or not 0 < hours <= MAX_SLA_HOURS:
            raise _mapping_error(path, f"[categories] '{cat}' needs a name and a positive number of SLA hours, "
                                       f"at most {MAX_SLA_HOURS:,} (a year).")
        categories[cat] = float(hours)
    points = []
    for point in raw.get("location", {}).get("unknown_points", []):
        if not (isinstance(point, list) and len(point) == 2 and all(isinstance(v, (int, float)) for v in point)):
            raise _mapping_error(path, "[location] unknown_points must be [[lat, long], ...].")
        points.append((round(float(point[0]), 4), round(float(point[1]), 4)))
    fields = {}
    for name_, spec in raw.get("fields", {}).items():
        if name_ not in FIELDS:
            raise _mapping_error(path, f"unknown field '{name_}' in [fields]; fields are: {', '.join(FIELDS)}.")
        fields[name_] = _parse_spec(path, name_, spec)
    missing = [f for f in REQUIRED if f not in fields]
    if missing:
        raise _mapping_error(path, f"[fields] must name {', '.join(missing)}.")
    mapping = Mapping(path=path, source=name, timestamp_format=str(source.get("timestamp_format", "iso")),
                      timezone_name=tz_name, tz=tz, phone_region=str(source.get("phone_region", "IN")),
                      encoding=str(source.get("encoding", "utf-8-sig")), delimiter=delimiter,
                      categories=categories, unknown_points=points, fields=fields)
    if config is not None:
        check_for_district(mapping, config)
    return mapping


def check_for_district(mapping, config):
    """Check what a mapping needs of the district: the area its ``[fields.area]`` gives a blank
    cell (``default``) and a value that is no area (``otherwise``) must be one of its areas.

    :param config: the district's ``Config``.
    :raises InvalidValue: naming the key, the value and the district.
    """
    from .errors import AmbiguousName, NotFound

    spec = mapping.fields["area"]
    for key in ("default", "otherwise"):
        value = getattr(spec, key)
        if value is None:
            continue
        try:
            config.area(str(value))
        except AmbiguousName as error:
            raise _mapping_error(mapping.path, f"[fields.area] {key} = '{value}' names more than one area of "
                                               f"district {config.district_code} ({', '.join(error.candidates)}); "
                                               f"give the full name of one.") from None
        except NotFound:
            raise _mapping_error(mapping.path, f"[fields.area] {key} = '{value}' is not an area of district "
                                               f"{config.district_code}; add it to the district's areas (an "
                                               f"area named '{value}') or change {key}.") from None


# Reading ------------------------------------------------------------------------------------


def read_csv(path, mapping):
    """Read a CSV export.

    :returns: ``(header, rows)``: the header cells and ``[(row number, cells)]`` for every
        non-blank record; row numbers count records as a spreadsheet does (the header is row 1).
    :raises InvalidValue: the file is missing or unreadable, not in the mapping's encoding, not
        CSV, or lacks a column the mapping names.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding=mapping.encoding) as f:
            reader = csv.reader(f, delimiter=mapping.delimiter)
            try:
                header = next(reader)
            except StopIteration:
                raise InvalidValue(f"{path} is empty; it needs a header row.") from None
            rows = []
            number = 1
            for cells in reader:
                number += 1
                if not cells or (len(cells) == 1 and not cells[0].strip()):
                    continue
                rows.append((number, cells))
    except FileNotFoundError:
        raise InvalidValue(f"no such file {path}.") from None
    except UnicodeDecodeError as e:
        raise InvalidValue(f"{path} is not {mapping.encoding} text ({e.reason} at byte {e.start}); "
                           f"set encoding in the mapping's [source].") from None
    except csv.Error as e:
        raise InvalidValue(f"{path} is not readable CSV ({e}).") from None
    except OSError as e:
        raise InvalidValue(f"cannot read {path}: {e.strerror or e}.") from None
    header = [h.strip() for h in header]
    missing = [c for c in mapping.columns() if c not in header]
    if missing:
        raise InvalidValue(f"{path} has no column {', '.join(repr(c) for c in missing)} that the mapping "
                           f"{mapping.path.name} names; its columns are: {', '.join(header)}.")
    return header, rows



_DIRECTIVES = {"Y": r"(?P<Y>\d{4})", "y": r"(?P<y>\d{2})", "m": r"(?P<m>\d{1,2})", "d": r"(?P<d>\d{1,2})",
               "H": r"(?P<H>\d{1,2})", "I": r"(?P<I>\d{1,2})", "M": r"(?P<M>\d{1,2})", "S": r"(?P<S>\d{1,2})",
               "f": r"(?P<f>\d{1,6})", "p": r"(?P<p>[ap]m)"}


def fast_strptime(fmt):
    """A quicker ``datetime.strptime(text, fmt)`` for the numeric formats exports use.

    strptime costs about 30 us a call, most of an import's time; a regular expression built once
    does the same work in a tenth of it. Only formats made of ``%Y %y %m %d %H %I %M %S %f %p``
    and literal text are handled (whitespace matches any run of whitespace, letters any case,
    as in strptime).

    :returns: ``parse(text) -> naive datetime`` (raising ValueError as strptime does), or None
        when the format has another directive (then use strptime).
    """
    regex, seen = "", set()
    for part in re.split(r"(%.)", fmt):
        if len(part) == 2 and part[0] == "%":
            if part[1] not in _DIRECTIVES or part[1] in seen:
                return None
            seen.add(part[1])
            regex += _DIRECTIVES[part[1]]
        else:
            regex += r"\s+".join(re.escape(piece) for piece in re.split(r"\s+", part))
    if not (seen & {"Y", "y"} and {"m", "d"} <= seen) or ("I" in seen) != ("p" in seen) or {"H", "I"} <= seen:
        return None
    pattern = re.compile(regex + r"\Z", re.IGNORECASE)

    def parse(text):
        match = pattern.match(text)
        if match is None:
            return datetime.strptime(text, fmt)  # it decides, with its own message
        g = match.groupdict()
        year = int(g["Y"]) if g.get("Y") else (1900 if int(g["y"]) >= 69 else 2000) + int(g["y"])
        if g.get("I"):
            hour = int(g["I"])
            if not 1 <= hour <= 12:
                raise ValueError(f"hour {hour} is not 1-12")
            hour = hour % 12 + (12 if g["p"].lower() == "pm" else 0)
        else:
            hour = int(g.get("H") or 0)
        micro = int((g.get("f") or "0").ljust(6, "0"))
        return datetime(year, int(g["m"]), int(g["d"]), hour, int(g.get("M") or 0), int(g.get("S") or 0), micro)

    return parse

