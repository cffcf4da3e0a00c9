"""The nightly verification list: resolved tickets for the verifiers to call back.

``build_verification_list`` picks the tickets and shares them among the active verifiers;
``write_verification_list`` writes ``verification/YYYY-MM-DD.csv`` and ``.html`` (a printable
page) in the data directory. Plain functions, no click: ``helpline jobs verification-list``
calls them.

Which tickets: every live ticket with status ``resolved`` whose ``resolved_at`` falls on the
local ``day`` (the district's zone, whatever the server's), plus older resolved tickets still
waiting for their cross-check. Tickets resolved after the day are left for a later list.

Who calls whom: each ticket goes to an active verifier (role ``verifier``) who is not the
officer who resolved it, preferring verifiers whose areas include the ticket's area, and among
those the one with the fewest tickets so far (ties: the smaller officer ID). Tickets go out in
serial order, so the split is deterministic and balanced. A ticket nobody may verify is still
listed, in an "unassigned" group.

A ticket logged with no caller number (``log --no-phone``) cannot be called back, yet it is never
closed without a cross-check: it is listed like the others, its phone cell says ``no phone``
(``NO_PHONE``) and the printed page puts it in a separate table under its verifier, "Cannot be
called: verify in person" (a visit, or the caller's next call).

Printing: the page sizes each table's columns to the widest cell of that table
(``column_widths``), in ``ch`` (the width of a "0" in the table's font); the ticket ID, the phone
number, the resolved time and the count are never broken across lines, longer text wraps at
spaces, and the widest text columns give way first when the table would not fit an A4 landscape
page.

Privacy: for a ticket of a sensitive category (counselling unless config.toml says otherwise;
see ``privacy``) the caller's name, the description ("what was asked") and the resolution note
are never put on the list: the verifier has the number to call and the ticket ID for ``show``.

jinja2 is imported only by ``write_verification_list`` (0.05 s): importing this module is cheap.
"""

import math
from datetime import date, datetime

from .clock import from_iso, local_day_bounds, local_text

FOLDER = "verification"
TEMPLATE = "verification.html"
UNASSIGNED = "(unassigned)"  # the CSV's verifier cell for tickets no verifier may take

# (row key, column heading): the order of the CSV columns after ``verifier`` and of the HTML table
COLUMNS = (
    ("ticket_id", "Ticket"),
    ("caller_name", "Caller"),
    ("phone", "Phone"),
    ("area", "Area"),
    ("category", "Category"),
    ("asked", "What was asked"),
    ("resolution_note", "Resolution note"),
    ("officer", "Officer"),
    ("resolved_local", "Resolved (local)"),
    ("sms_resolved", "Text to caller"),  # the caller's "resolved" text
    ("not_reached", "Not reached before"),
    ("outcome", "Outcome"),
    ("verifier_note", "Verifier's note"),
)
CSV_FIELDS = ("verifier",) + tuple(key for key, _ in COLUMNS)

# outbox state of the caller's "resolved" text -> the words on the list
SMS_WORDS = {
    "delivered": "delivered",
    "sent": "delivery not confirmed",  # Twilio only accepted it (queued/sent): no delivery report yet
    "undelivered": "undelivered: caller not reached",
    "failed": "undelivered: caller not reached",
    "queued": "not sent yet",
    "held": "not sent yet",
    "sending": "sending: outcome not known yet",
    "unknown": "sending: outcome not known yet",
    "cancelled": "cancelled: not sent",
}
NO_TEXT = "no text"
NO_PHONE = "no phone"  # the phone cell of a ticket logged without a number (log --no-phone)

# Printed widths, in ch. A4 landscape less 10 mm margins is 277 mm; 13 cells' padding and borders
# take 30 mm; at the table's 8 pt a "0" is 1.61 mm wide in Noto Sans, 1.57 in Arial and 1.84 in
# DejaVu Sans (the usual fallback on Linux; measured with WeasyPrint): 132 ch fit in all three.
PAGE_CH = 132
NOWRAP = frozenset({"ticket_id", "phone", "resolved_local", "not_reached"})  # never broken across lines
WRITE_IN_CH = {"outcome": 13, "verifier_note": 14}  # blank cells for the verifier's pen: room to tick and write
WRAP_MAX_CH = 32  # longer text wraps at spaces
WRAP_MIN_CH = 6  # a text column narrowed to fit the page keeps at least this (or its heading's longest word)
WORD_MAX_CH = 12  # narrowing stops at a column's longest word first, if it is not longer than this


def max_attempts(config):
    """:returns: ``[verification] max_attempts`` from config.toml (default 3): after this many
    verification calls that did not reach the caller, the ticket goes to the supervisor's digest.

    :raises ConfigError: not a whole number of at least 1.
    """
    from .errors import ConfigError

    value = config.raw.get("verification", {}).get("max_attempts", 3)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{config.path}: verification.max_attempts = {value!r} is not a whole number of at least 1.")
    return value


def build_verification_list(db, config, day, *, sample=None, seed=None):
    """Select the tickets to cross-check for local date ``day`` and share them among the verifiers.

    :param db: a TinyDB over the live data (``Store.snapshot()``, or inside ``Store.transaction``);
        only read, never changed.
    :param config: the district ``Config``; ``config.tz`` decides the day's boundaries.
    :param day: a ``datetime.date`` in the district's zone (a ``datetime`` is refused).
    :param sample: at most this many tickets per verifier (an int >= 1), or None for all of them.
        Which ones is chosen with ``random.Random(seed)``; a group keeps its serial order.
    :param seed: the seed for ``sample`` (any value ``random.Random`` takes); the same data, day,
        sample and seed always give the same list. None: a different sample each run.
    :returns: a dict::

            {"day": date,
             "generated_for": {"district_code": "SXR", "district_name": "Srinagar",
                               "timezone": "Asia/Kolkata"},
             "groups": [{"verifier": officer dict without history | None,
                         "rows": [row, ...],       # by serial
                         "selected": int}, ...],   # tickets given to this group before sampling
             "total": int,           # rows on the list (after sampling)
             "waiting_older": int,   # of those, resolved before ``day`` and still waiting
             "in_person": int,       # of those, logged without a number: to verify in person
             "selected": int}        # tickets that matched, before sampling

        Groups: verifiers with at least one ticket, by officer ID, then the unassigned group
        (``verifier`` None) when some ticket has no eligible verifier. ``row`` is::

            {"ticket_id", "caller_name" ("" for a sensitive category),
             "phone" (E.164, or NO_PHONE "no phone" for a ticket logged without a number),
             "area", "category", "asked" (the description; "" for a sensitive category),
             "resolution_note" (note of the last "resolve" event; "" for a sensitive category), "officer" ("rafiq (Rafiq Ahmad)", the resolving officer),
             "resolved_local" ("YYYY-MM-DD HH:MM" in the district's zone),
             "sms_resolved" (see ``sms_state``), "not_reached" (verification calls that did not
             reach the caller so far, "" for none), "outcome": "", "verifier_note": "",
             "serial": int, "waiting": bool (resolved before ``day``),
             "in_person": bool (no number to call: verify in person)}

    :raises TypeError: ``day`` is not a date.
    :raises InvalidValue: ``sample`` is not a whole number >= 1.
    """
    import random

    if not isinstance(day, date) or isinstance(day, datetime):
        raise TypeError(f"day must be a datetime.date, not {type(day).__name__}")
    if sample is not None:
        from .errors import InvalidValue

        if isinstance(sample, bool) or not isinstance(sample, int) or sample < 1:
            raise InvalidValue(f"--sample must be a whole number of at least 1, not {sample!r}.")

    start, end = local_day_bounds(day, config.tz)  # aware UTC: [start, end) is the local day
    picked = []
    for ticket in db.table("tickets").all():
        if ticket.get("status") != "resolved" or not ticket.get("resolved_at"):
            continue
        resolved_at = from_iso(ticket["resolved_at"])
        if resolved_at >= end:
            continue  # resolved after the day: a later list has it
        picked.append((ticket, resolved_at < start))
    picked.sort(key=lambda pair: pair[0]["serial"])

    all_officers = {o["officer_id"]: o for o in db.table("officers").all()}
    verifiers = sorted((o for o in all_officers.values() if o.get("active") and o.get("role") == "verifier"),
                       key=lambda o: o["officer_id"])
    loads = {v["officer_id"]: 0 for v in verifiers}
    grouped = {}  # officer id or None -> rows
    for ticket, waiting in picked:
        verifier = _choose_verifier(ticket, verifiers, loads)
        key = verifier["officer_id"] if verifier else None
        if verifier:
            loads[key] += 1
        grouped.setdefault(key, []).append(_row(ticket, config, all_officers, waiting))

    rng = random.Random(seed)
    groups = []
    order = sorted(k for k in grouped if k is not None) + ([None] if None in grouped else [])
    for key in order:
        rows = grouped[key]
        selected = len(rows)
        if sample is not None and len(rows) > sample:
            keep = sorted(rng.sample(range(len(rows)), sample))
            rows = [rows[i] for i in keep]
        officer = _public_officer(all_officers[key]) if key is not None else None
        groups.append({"verifier": officer, "rows": rows, "selected": selected})

    return {
        "day": day,
        "generated_for": {"district_code": config.district_code, "district_name": config.district_name,
                          "timezone": config.timezone_name},
        "groups": groups,
        "total": sum(len(g["rows"]) for g in groups),
        "waiting_older": sum(1 for g in groups for r in g["rows"] if r["waiting"]),
        "in_person": sum(1 for g in groups for r in g["rows"] if r["in_person"]),
        "selected": len(picked),
    }


def _choose_verifier(ticket, verifiers, loads):
    """The least-loaded eligible verifier (area match preferred), or None when nobody may verify."""
    resolver = str(ticket.get("resolved_by") or "").casefold()
    eligible = [v for v in verifiers if v["officer_id"].casefold() != resolver]
    if not eligible:
        return None
    local = [v for v in eligible if ticket.get("area") in (v.get("areas") or ())]
    pool = local or eligible
    return min(pool, key=lambda v: (loads[v["officer_id"]], v["officer_id"]))


def _public_officer(officer):
    return {k: v for k, v in officer.items() if k != "history"}


def _row(ticket, config, officers, waiting):
    from .tickets import not_reached_count

    resolver = ticket.get("resolved_by")
    if resolver and resolver in officers and officers[resolver].get("name"):
        officer = f"{resolver} ({officers[resolver]['name']})"
    else:
        officer = resolver or ""
    notes = [e.get("note") for e in ticket.get("history", []) if e.get("type") == "resolve"]
    private = config.is_sensitive(ticket.get("category"))
    return {
        "ticket_id": ticket["id"],
        "caller_name": "" if private else (ticket.get("caller_name") or ""),
        "phone": ticket.get("phone") or NO_PHONE,
        "area": ticket.get("area") or "",
        "category": ticket.get("category") or "",
        "asked": "" if private else (ticket.get("description") or ""),
        "resolution_note": "" if private else ((notes[-1] or "") if notes else ""),
        "officer": officer,
        "resolved_local": local_text(ticket.get("resolved_at"), config.tz),
        "sms_resolved": sms_state(ticket),
        "not_reached": str(not_reached_count(ticket) or ""),
        "outcome": "",
        "verifier_note": "",
        "serial": ticket["serial"],
        "waiting": waiting,
        "in_person": not ticket.get("phone"),
    }


def sms_state(ticket):
    """:returns: in plain words, the state of the ticket's latest caller text for the ``resolved``
    event (the ``ticket["messages"]`` summary, keys ``ID:resolved:SEQUENCE:PHONE``): ``delivered``,
    ``delivery not confirmed`` (sent: the gateway only accepted it), ``undelivered: caller not
    reached`` (undelivered or failed), ``not sent yet`` (queued or held), ``sending: outcome not known yet``, ``cancelled: not sent``; ``no text`` when none
    was queued (landline, no number, opted out before)."""
    latest, latest_sequence = None, None
    for key, state in (ticket.get("messages") or {}).items():
        parts = key.split(":", 3)
        if len(parts) < 3 or parts[1] != "resolved":
            continue
        try:
            sequence = int(parts[2])
        except ValueError:
            sequence = -1
        if latest_sequence is None or sequence >= latest_sequence:
            latest, latest_sequence = state, sequence
    if latest is None:
        return NO_TEXT
    return SMS_WORDS.get(latest, str(latest))


def write_verification_list(data_dir, listing):
    """Write the list as ``verification/YYYY-MM-DD.csv`` and ``.html`` in ``data_dir``.

    Both files are replaced atomically (``store.atomic_write``), mode 0600: they hold callers'
    numbers; the folder is created 0700. Writing the same listing again gives the same bytes.

    CSV (UTF-8, RFC 4180, CRLF line ends): a header row, then one row per ticket: ``verifier`` (officer ID, or
    ``(unassigned)``) and the columns of ``COLUMNS``; every cell goes through ``records.csv_safe``
    (a cell starting with ``= + - @``, tab or carriage return gets a leading ``'``).

    HTML: ``templates/verification.html`` rendered by jinja2 with autoescaping, a printable page
    with a table of tickets to call per verifier, then (when there are any) a table of tickets to
    verify in person (no number), and a page break between verifiers; see ``render_html``.

    :param data_dir: the district's data directory.
    :param listing: what ``build_verification_list`` returned.
    :returns: ``(csv_path, html_path)`` as Paths.
    :raises FileNotFoundError: the template folder is missing (a broken install).
    :raises OSError: the files cannot be written (the old files, if any, are left as they were).
    """
    import csv
    import io
    from pathlib import Path

    from .records import csv_safe
    from .store import atomic_write

    day = listing["day"].isoformat()
    html = render_html(listing)

    out = io.StringIO()
    # CRLF (RFC 4180): with "\n" alone the csv module leaves a bare "\r" inside a cell unquoted,
    # and a spreadsheet would start a new row there, with a cell that csv_safe never saw first
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    for group in listing["groups"]:
        verifier = group["verifier"]["officer_id"] if group["verifier"] else UNASSIGNED
        for row in group["rows"]:
            writer.writerow([csv_safe(verifier)] + [csv_safe(row.get(key)) for key in CSV_FIELDS[1:]])

    folder = Path(data_dir) / FOLDER
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    csv_path = folder / f"{day}.csv"
    html_path = folder / f"{day}.html"
    atomic_write(csv_path, out.getvalue().encode("utf-8"))
    atomic_write(html_path, html.encode("utf-8"))
    return csv_path, html_path


def text_ch(text):
    """:returns: the width of ``text`` on one line, in ch (whole, rounded up): an estimate.

    A "0" is 1 ch; capitals, ``+``, ``@``, ``%``, ``m`` and ``w`` are wider, 1.3 ch. Any other
    letter (a Hindi or Urdu one too) counts as 1 ch.
    """
    text = str(text or "")
    units = len(text) + 0.3 * sum(1 for c in text if ("A" <= c <= "Z") or c in "+@%mw")
    return math.ceil(round(units, 6))


def column_widths(rows, page_ch=PAGE_CH):
    """Size one printed table's columns to its content.

    :param rows: the rows of one table (``build_verification_list``'s row dicts).
    :param page_ch: the width the table's cells may take together, in ch (their padding aside).
    :returns: ``{column key: width in ch}`` for every key of ``COLUMNS``, from each cell's ``text_ch``:

        * ``NOWRAP`` columns (ticket ID, phone, resolved time, count): the widest cell, or the
          heading's longest word when that is wider; never narrowed, so never broken;
        * the outcome and note columns: fixed room to write in (``WRITE_IN_CH``);
        * text columns: the widest cell (at most ``WRAP_MAX_CH``), at least the heading's longest
          word. While the sum is over ``page_ch``, the widest text column is narrowed by one ch,
          first down to its cells' longest word (up to ``WORD_MAX_CH``), so that text wraps at
          spaces; if that is not enough, down to ``WRAP_MIN_CH`` or the heading's longest word.
    """
    widths, floors = {}, {}
    for key, heading in COLUMNS:
        if key in WRITE_IN_CH:
            widths[key] = WRITE_IN_CH[key]
            continue
        word = max(text_ch(w) for w in heading.split())
        widest = max((text_ch(row.get(key)) for row in rows), default=0)
        if key in NOWRAP:
            widths[key] = max(widest, word)
        else:
            widths[key] = max(min(widest, WRAP_MAX_CH), word)
            hard = max(word, WRAP_MIN_CH)
            longest_word = max((text_ch(w) for row in rows for w in str(row.get(key) or "").split()), default=0)
            floors[key] = (max(hard, min(longest_word, WORD_MAX_CH)), hard)
    for stage in (0, 1):  # first down to whole words; only when that is not enough, below them
        while sum(widths.values()) > page_ch:
            narrower = [key for key in floors if widths[key] > floors[key][stage]]
            if not narrower:
                break
            widest = max(narrower, key=lambda key: widths[key])  # first of equals: COLUMNS order
            widths[widest] -= 1
    return widths  # still over page_ch: only unbreakable content left, the page has to take it


def print_tables(group):
    """:returns: the printed tables of one verifier's group, those with rows only::

        [{"kind": "call" | "in_person", "rows": [row, ...], "widths": column_widths(rows)}, ...]

    ``call`` first (tickets with a number), then ``in_person`` (no number), each in serial order.
    """
    tables = []
    for kind, in_person in (("call", False), ("in_person", True)):
        rows = [row for row in group["rows"] if bool(row.get("in_person")) is in_person]
        if rows:
            tables.append({"kind": kind, "rows": rows, "widths": column_widths(rows)})
    return tables


def render_html(listing):
    """:returns: the printable HTML page (str) of ``listing``, rendered from ``templates/verification.html``
    with autoescaping on (callers' words are text, never markup). Each verifier's tickets come as
    ``print_tables``: columns sized by ``column_widths``, the ``NOWRAP`` cells unbreakable.

    :raises FileNotFoundError: the template (or its folder) is missing: a broken install.
    """
    import jinja2

    from .resources import resource_dir

    folder = resource_dir("templates")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(folder)), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    try:
        template = env.get_template(TEMPLATE)
    except jinja2.TemplateNotFound:
        raise FileNotFoundError(f"helpline's template {TEMPLATE} is missing from {folder}; "
                                f"reinstall with 'pip install .'") from None
    return template.render(listing=listing, columns=COLUMNS, nowrap=NOWRAP, print_tables=print_tables)
