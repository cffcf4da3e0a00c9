"""Loading a night's filled-in verification list (``helpline verify --from-list FILE.csv``).

The list is the CSV that ``verification.write_verification_list`` wrote
(``verification/YYYY-MM-DD.csv``), opened in a spreadsheet, one row per ticket, with the
``outcome`` column filled in by the verifier and saved as CSV again. The columns used (by their
heading, in any order, any case; others are ignored):

- ``ticket_id`` (or ``Ticket``): the ticket, as on the list;
- ``verifier``: the officer ID of the verifier who called; it is the verifier of the row, and as
  for ``verify`` never the officer who resolved the ticket;
- ``outcome``: ``confirmed`` (closes the ticket), ``not solved`` (reopens it to its officer) or
  ``not reached`` (the caller did not answer: the ticket stays on the list, the attempt is
  counted). Case, ``-``/``_`` for spaces and the short forms ``yes``/``y``, ``no``/``n`` and
  ``nr`` are accepted. An empty outcome is a ticket nobody called yet: skipped, not rejected;
- ``verifier_note`` (optional): what the caller said, kept in the history.

A row that cannot be recorded (mistyped or unknown ticket, a ticket no longer resolved, no or an
unknown verifier, the resolver as verifier, an unknown outcome, a row recorded from the same
list before) is rejected with its reason, like ``helpline import`` does: the rejects file holds
``rejected_row`` (the header is row 1), ``rejected_reason`` and the row's cells, and can be
fixed and loaded again. Each recorded event carries ``from_list`` (the list's date, from its file
name, else the file name), so loading the same list twice records nothing twice.

All rows are recorded in one store transaction: on an error (unreadable file, missing column)
nothing is changed. Texts follow as for ``verify`` (the caller's "closed" or "reopened" text).
"""

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from .clock import UTC
from .errors import HelplineError, InvalidValue

CONFIRMED, NOT_SOLVED, NOT_REACHED = "confirmed", "not solved", "not reached"
OUTCOME_WORDS = {
    "confirmed": CONFIRMED, "confirm": CONFIRMED, "yes": CONFIRMED, "y": CONFIRMED, "solved": CONFIRMED,
    "not solved": NOT_SOLVED, "no": NOT_SOLVED, "n": NOT_SOLVED, "unsolved": NOT_SOLVED,
    "not reached": NOT_REACHED, "nr": NOT_REACHED, "unreachable": NOT_REACHED, "no answer": NOT_REACHED,
}
COLUMN_NAMES = {"ticket": "ticket_id", "ticket_id": "ticket_id", "ticket id": "ticket_id", "verifier": "verifier",
                "outcome": "outcome", "verifier_note": "verifier_note", "verifier's note": "verifier_note",
                "note": "verifier_note"}
REQUIRED = ("ticket_id", "verifier", "outcome")
UNASSIGNED = "(unassigned)"


@dataclass
class ListResult:
    """What loading a list did (or, with ``dry_run``, would do).

    ``counts`` holds how many rows were recorded per outcome (``confirmed``, ``not solved``,
    ``not reached``) and ``blank`` the rows with no outcome; ``rejects`` is
    ``[(row number, reason, cells)]``; ``rows == sum(counts) + blank + len(rejects)``.
    """

    file: str
    list_key: str
    header: list
    rows: int = 0
    counts: dict = field(default_factory=lambda: {CONFIRMED: 0, NOT_SOLVED: 0, NOT_REACHED: 0})
    blank: int = 0
    rejects: list = field(default_factory=list)
    dry_run: bool = False

    def as_dict(self):
        """:returns: the JSON shape ``verify --from-list --json`` prints."""
        return {"file": self.file, "list": self.list_key, "rows": self.rows, "confirmed": self.counts[CONFIRMED],
                "not_solved": self.counts[NOT_SOLVED], "not_reached": self.counts[NOT_REACHED],
                "no_outcome": self.blank, "rejected": len(self.rejects), "dry_run": self.dry_run,
                "rejects": [{"row": n, "reason": reason} for n, reason, _ in self.rejects]}


def parse_outcome(text):
    """:returns: ``confirmed``, ``not solved``, ``not reached``, or None for an empty cell.

    :raises InvalidValue: any other word.
    """
    words = " ".join(re.sub(r"[-_]", " ", _cell(text)).casefold().split())
    if not words:
        return None
    try:
        return OUTCOME_WORDS[words]
    except KeyError:
        raise InvalidValue(f"unknown outcome '{_cell(text)}': write confirmed, not solved or not reached") from None


def _cell(text):
    """A cell as the verifier meant it: the ``'`` that the list put before formula-like text is dropped."""
    text = str(text or "").strip()
    if len(text) > 1 and text[0] == "'" and text[1] in "=+-@\t\r":
        return text[1:]
    return text


def list_key(path):
    """:returns: the list's date (``2026-11-30``) when the file name starts with one, else the file name."""
    name = Path(path).name
    match = re.match(r"\d{4}-\d{2}-\d{2}", name)
    return match.group(0) if match else name


def find_list(data_dir, path):
    """Where the list named on the command line is.

    The operator types the name the nightly job gave the list (``2026-11-30.csv``) or its path in
    the data directory (``verification/2026-11-30.csv``), from any folder.

    :param data_dir: the data directory (a Path). :param path: the file as typed.
    :returns: the path as typed when it exists or is absolute (``read_list`` names it if missing),
        else that relative path found in the data directory or in its ``verification/`` folder.
    :raises InvalidValue: a relative path found in none of them.
    """
    from .verification import FOLDER

    given = Path(path)
    if given.exists() or given.is_absolute():
        return given
    for candidate in (Path(data_dir) / given, Path(data_dir) / FOLDER / given):
        if candidate.is_file():
            return candidate
    raise InvalidValue(f"cannot read {path}: no such file here nor in {Path(data_dir) / FOLDER}.")


def read_list(path):
    """Read a filled-in list (UTF-8, with or without a BOM; comma or semicolon separated).

    :returns: ``(header, {column: index}, [(row number, cells)])``; row numbers count the header as 1.
    :raises InvalidValue: unreadable file, or a required column missing (nothing is changed).
    """
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except OSError as e:
        raise InvalidValue(f"cannot read {path}: {e.strerror or e}.") from None
    except UnicodeDecodeError:
        raise InvalidValue(f"{path} is not UTF-8 text; save it from the spreadsheet as 'CSV UTF-8'.") from None
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    if not rows:
        raise InvalidValue(f"{path} is empty: expected the verification list with its header row.")
    header = rows[0]
    columns = {}
    for index, heading in enumerate(header):
        name = COLUMN_NAMES.get(" ".join(heading.strip().casefold().split()))
        if name and name not in columns:
            columns[name] = index
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise InvalidValue(f"{path} has no {', '.join(missing)} column; load the verification list "
                           f"(verification/YYYY-MM-DD.csv) with its outcome column filled in.")
    body = [(number, cells) for number, cells in enumerate(rows[1:], start=2) if any(c.strip() for c in cells)]
    return header, columns, body


def load_results(store, config, path, *, actor, now, dry_run=False):
    """Record every row's outcome (see the module docstring for the rules).

    :param store: the ``Store``. :param config: the district ``Config``.
    :param path: the filled-in CSV (see ``find_list``). :param actor: the operator loading it (kept as ``recorded_by``).
    :param now: aware UTC, the time of every event.
    :param dry_run: check every row against the current tickets; write nothing.
    :returns: a ``ListResult``.
    :raises InvalidValue: unreadable file or missing column. :raises StoreLocked, StoreDamaged.
    """
    path = find_list(store.data_dir, path)
    header, columns, body = read_list(path)
    result = ListResult(file=Path(path).name, list_key=list_key(path), header=header, rows=len(body),
                        dry_run=dry_run)
    if dry_run:
        _record_rows(store.snapshot(), config, columns, body, result, actor, now)  # changes stay in memory
        return result
    with store.transaction() as db:
        _record_rows(db, config, columns, body, result, actor, now)
    return result


def _record_rows(db, config, columns, body, result, actor, now):
    from . import tickets
    from .routing import get_officer

    def cell(cells, name):
        index = columns.get(name)
        return _cell(cells[index]) if index is not None and index < len(cells) else ""

    for number, cells in body:
        try:
            outcome = parse_outcome(cell(cells, "outcome"))
            if outcome is None:
                result.blank += 1
                continue
            verifier = cell(cells, "verifier")
            if not verifier or verifier == UNASSIGNED:
                raise InvalidValue("no verifier on this row: write the officer ID of the verifier who called")
            verifier = get_officer(db, verifier)["officer_id"]
            ticket_text = cell(cells, "ticket_id")
            if not ticket_text:
                raise InvalidValue("no ticket ID on this row")
            ticket = tickets.get_live(db, config, ticket_text)
            if any(e.get("from_list") == result.list_key for e in ticket["history"]):
                raise InvalidValue(f"{ticket['id']} was recorded from the list of {result.list_key} already")
            note = cell(cells, "verifier_note") or None
            extra = {"from_list": result.list_key}
            if outcome == NOT_REACHED:
                tickets.verification_not_reached(db, config, ticket["id"], actor=actor, now=now, note=note,
                                                 by=verifier, extra=extra)
            else:
                tickets.verify(db, config, ticket["id"], confirmed=outcome == CONFIRMED, actor=actor, now=now,
                               note=note, by=verifier, extra=extra)
            result.counts[outcome] += 1
        except HelplineError as error:
            result.rejects.append((number, str(error).rstrip("."), cells))


def default_rejects_path(store, path, now):
    """:returns: ``<data dir>/verification/<file stem>-<UTC time>-rejects.csv``."""
    from .verification import FOLDER

    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return store.data_dir / FOLDER / f"{Path(path).stem}-{stamp}-rejects.csv"
