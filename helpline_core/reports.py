"""Figures for a period (``helpline report``) and the headline line (``helpline stats``).

Definitions (the report's ``--help`` and the README say the same):

* The period is a range of local dates, ``from`` to ``to`` inclusive, in the district's time
  zone: from local midnight starting ``from`` to local midnight ending ``to`` (days with a
  daylight-saving change have 23 or 25 hours).
* A ticket's *resolved time* is its ``resolved_at``, or its ``closed_at`` when it has none.
* ``opened``: tickets whose opened time falls in the period (a ticket belongs to the period by
  its opened time's local date).
* ``closed``: tickets whose resolved time falls in the period, whenever they were opened.
* ``open_at_end``: tickets opened before the period's end that, at that moment, had no resolved
  time yet and had not been rejected.
* ``median_resolution_hours``, ``p90_resolution_hours``: over the tickets opened in the period
  that have a resolved time (whenever that was), the hours from opened to resolved, computed on
  aware times (a daylight-saving change does not add or lose an hour); percentiles by the
  nearest-rank method (the ceil(p/100 * n)-th smallest value). ``resolved`` is how many there are.
* ``on_time_share`` (0 to 1): among those, the ones that had a due time (``with_due``), the share
  whose resolved time is at or before it; None when none had one.
* ``overdue_open``: tickets open at the end whose due time had passed by then (by now, for a
  period that ends in the future).
* ``repeat_calls``: over the tickets opened in the period, the calls after the first.
* ``sms_sent``, ``sms_segments``: texts whose sent time falls in the period, from the outbox's
  day files (``sms/YYYY-MM-DD.json``) and the live outbox.
* ``sms_superseded`` (the whole period only, not per group): texts not sent because their ticket
  had moved on when they were due (``freshness``), by the time that was found.

``--by day`` gives each day's figures with that day as the period; ``--by category|area|officer``
the period's figures for the tickets of each value (officer: the ticket's current officer).
"""

import csv
import io
import os
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime, timedelta

from .clock import local_day_bounds
from .store import atomic_write, dump_json, read_json
from .words import plural

FIGURES = ("opened", "closed", "open_at_end", "median_resolution_hours", "p90_resolution_hours", "resolved",
           "with_due", "on_time_share", "overdue_open", "repeat_calls", "sms_sent", "sms_segments")
GROUPINGS = ("day", "category", "area", "officer")
NO_OFFICER = "(none)"
OVERDUE_SHOWN = 100  # rows of the HTML page's overdue table; the full list is the CSV's
OVERDUE_FIELDS = ("id", "opened", "due", "days_over", "area", "category", "officer", "description")
STATS_CACHE = "stats-cache.json"


def _time(text):
    return datetime.fromisoformat(text) if text else None


@dataclass(slots=True)
class Item:
    """One ticket reduced to what the figures need (aware UTC datetimes)."""

    ticket: dict
    opened: datetime
    resolved: datetime | None  # resolved_at, else closed_at
    gone: datetime | None  # when it stopped being open: resolved, or rejected (final_at)
    due: datetime | None
    calls: int


def item(ticket):
    """:param ticket: a stored ticket. :returns: its ``Item``."""
    resolved = _time(ticket.get("resolved_at") or ticket.get("closed_at"))
    gone = resolved
    if gone is None and ticket.get("status") == "rejected":
        gone = _time(ticket.get("final_at"))
    return Item(ticket, _time(ticket["opened_at"]), resolved, gone, _time(ticket.get("due_at")),
                int(ticket.get("calls") or 1))


def nearest_rank(sorted_values, percent):
    """:param sorted_values: ascending numbers. :param percent: an int 1-100.

    :returns: the nearest-rank percentile: the ceil(percent/100 * n)-th smallest value (integer
        arithmetic, so 90% of 10 values is the 9th); None for no values.
    """
    n = len(sorted_values)
    if not n:
        return None
    rank = -(-percent * n // 100)
    return sorted_values[max(rank, 1) - 1]


def _hours(seconds):
    return None if seconds is None else round(seconds / 3600, 2)


def summarise(items, start, end, now, messages=()):
    """The figures of the module docstring for ``items`` over ``[start, end)``.

    :param items: ``Item`` list (any superset of the relevant tickets is fine).
    :param start, end: aware UTC bounds of the period. :param now: aware UTC.
    :param messages: ``[(sent_at, segments)]`` of texts already chosen for this group.
    :returns: a dict with the keys of ``FIGURES`` (hours rounded to 0.01, share to 0.0001).
    """
    opened = [i for i in items if start <= i.opened < end]
    closed = sum(1 for i in items if i.resolved is not None and start <= i.resolved < end)
    at_end = [i for i in items if i.opened < end and (i.gone is None or i.gone >= end)]
    cutoff = min(end, now)
    seconds = sorted(int((i.resolved - i.opened).total_seconds()) for i in opened if i.resolved is not None)
    with_due = [i for i in opened if i.resolved is not None and i.due is not None]
    on_time = sum(1 for i in with_due if i.resolved <= i.due)
    sent = [(at, segments) for at, segments in messages if start <= at < end]
    return {
        "opened": len(opened), "closed": closed, "open_at_end": len(at_end),
        "median_resolution_hours": _hours(nearest_rank(seconds, 50)),
        "p90_resolution_hours": _hours(nearest_rank(seconds, 90)), "resolved": len(seconds),
        "with_due": len(with_due), "on_time_share": round(on_time / len(with_due), 4) if with_due else None,
        "overdue_open": sum(1 for i in at_end if i.due is not None and i.due < cutoff),
        "repeat_calls": sum(i.calls - 1 for i in opened),
        "sms_sent": len(sent), "sms_segments": sum(s for _, s in sent),
    }


def overdue_at(items, end, now):
    """:returns: the ``Item``s open at ``end`` whose due time had passed by then (or by ``now``), oldest due first."""
    cutoff = min(end, now)
    found = [i for i in items if i.opened < end and (i.gone is None or i.gone >= end)
             and i.due is not None and i.due < cutoff]
    return sorted(found, key=lambda i: (i.due, i.ticket["serial"]))


def load_items(store):
    """:returns: an ``Item`` for every ticket, live and archived (the live copy when both)."""
    from .tickets import iter_tickets

    return [item(t) for t in iter_tickets(store.snapshot(), store, include_archived=True)]


def load_messages(store, config, first_day, last_day):
    """:returns: ``[(sent_at aware UTC, segments, ticket_id, officer_id)]`` of texts sent between
    the two local dates (a day either side is read, since a day file is named by its run's date)."""
    found = []
    for record in _message_records(store, first_day, last_day):
        if record.get("sent_at"):
            found.append((_time(record["sent_at"]), int(record.get("segments") or 0),
                          record.get("ticket_id"), record.get("officer_id")))
    return found


def _message_records(store, first_day, last_day):
    """:returns: the message records of the day files from a day before ``first_day`` to a day after
    ``last_day``, and of the live outbox (the day file's copy when both)."""
    from .outbox import day_path

    records = {}
    day = first_day - timedelta(days=1)
    while day <= last_day + timedelta(days=1):
        for key, record in read_json(day_path(store, day)).get("messages", {}).items():
            records[key] = record
        day += timedelta(days=1)
    for doc in store.snapshot().table("outbox").all():
        records.setdefault(doc["key"], dict(doc))
    return list(records.values())


def load_superseded(store, first_day, last_day):
    """:returns: the times (aware UTC) at which texts near the period were found superseded."""
    from .outbox import SUPERSEDED

    return [_time(r["updated_at"]) for r in _message_records(store, first_day, last_day)
            if r.get("state") == SUPERSEDED and r.get("updated_at")]


def _serial_of(ticket_id):
    try:
        return int(str(ticket_id).split("-")[-1][:-1])
    except ValueError:
        return None


def _key_of(by, ticket):
    if by == "officer":
        return ticket.get("officer") or NO_OFFICER
    return ticket.get(by) or ""


def _relevant(items, start, end):
    return [i for i in items if i.opened < end and (i.gone is None or i.gone >= start)]


def day_groups(items, messages, config, first_day, last_day, now):
    """Each local day's figures, that day being the period.

    :returns: ``[{"key": "YYYY-MM-DD", **figures}]`` for every day, quiet ones included.
    """
    days, starts, ends = [], [], []
    day = first_day
    while day <= last_day:
        start, end = local_day_bounds(day, config.tz)
        days.append(day)
        starts.append(start)
        ends.append(end)
        day += timedelta(days=1)
    lists = [[] for _ in days]
    for i in items:  # a ticket matters on the days from its opening to its leaving the open work
        first = bisect_right(ends, i.opened)
        last = len(days) - 1 if i.gone is None else bisect_right(starts, i.gone) - 1
        for k in range(first, min(last, len(days) - 1) + 1):
            lists[k].append(i)
    sent = [[] for _ in days]
    for at, segments, _, _ in messages:
        k = bisect_right(ends, at)
        if k < len(days) and at >= starts[k]:
            sent[k].append((at, segments))
    return [dict(key=d.isoformat(), **summarise(lists[k], starts[k], ends[k], now, sent[k]))
            for k, d in enumerate(days)]


def build_report(store, config, now, first_day, last_day, by=None, items=None, messages=None):
    """The figures for the local dates ``first_day``..``last_day`` (inclusive), optionally broken down.

    :param by: None or one of ``GROUPINGS``.
    :param items, messages: already loaded ``load_items``/``load_messages`` results (optional).
    :returns: ``{"district", "district_name", "timezone", "from", "to", "generated_at", **figures}``
        plus ``"by"`` and ``"groups"`` (``[{"key", **figures}]``) when ``by`` is given; category,
        area and officer groups are sorted by tickets opened (most first), then key.
    :raises InvalidValue: ``first_day`` after ``last_day``, or an unknown ``by``.
    """
    from .errors import InvalidValue

    if first_day > last_day:
        raise InvalidValue(f"--from {first_day} is after --to {last_day}.")
    if by is not None and by not in GROUPINGS:
        raise InvalidValue(f"--by must be one of {', '.join(GROUPINGS)}.")
    start, end = local_day_bounds(first_day, config.tz)[0], local_day_bounds(last_day, config.tz)[1]
    items = load_items(store) if items is None else items
    messages = load_messages(store, config, first_day, last_day) if messages is None else messages
    relevant = _relevant(items, start, end)
    report = {"district": config.district_code, "district_name": config.district_name,
              "timezone": config.timezone_name, "from": first_day.isoformat(), "to": last_day.isoformat(),
              "generated_at": now.astimezone(config.tz).replace(microsecond=0).isoformat()}
    report.update(summarise(relevant, start, end, now, [(at, s) for at, s, _, _ in messages]))
    report["sms_superseded"] = sum(1 for at in load_superseded(store, first_day, last_day) if start <= at < end)
    from .ivr_records import report_figures

    ivr = report_figures(store.data_dir, config, first_day, last_day)
    if ivr is not None:
        report["ivr"] = ivr
    if by == "day":
        report["by"], report["groups"] = by, day_groups(relevant, messages, config, first_day, last_day, now)
    elif by:
        report["by"], report["groups"] = by, key_groups(relevant, messages, by, start, end, now)
    return report


def key_groups(items, messages, by, start, end, now):
    """:returns: ``[{"key", **figures}]``, one per value of ``by`` (category, area or officer)."""
    groups, by_serial = {}, {}
    for i in items:
        groups.setdefault(_key_of(by, i.ticket), []).append(i)
        by_serial[i.ticket["serial"]] = i.ticket
    sent = {}
    for at, segments, ticket_id, officer_id in messages:
        ticket = by_serial.get(_serial_of(ticket_id)) if ticket_id else None
        key = _key_of(by, ticket) if ticket else (officer_id if by == "officer" and officer_id else None)
        if key is not None:
            sent.setdefault(key, []).append((at, segments))
    rows = [dict(key=key, **summarise(members, start, end, now, sent.get(key, ())))
            for key, members in groups.items()]
    rows = [r for r in rows if r["opened"] or r["closed"] or r["open_at_end"] or r["sms_sent"]]
    return sorted(rows, key=lambda r: (-r["opened"], r["key"]))


# Output ----------------------------------------------------------------------------------------


def _share(value):
    return "-" if value is None else f"{value * 100:.1f}%"


def _num(value, suffix=""):
    if value is None:
        return "-"
    return f"{value:,.2f}{suffix}" if isinstance(value, float) else f"{value:,}{suffix}"


def table_text(report):
    """:returns: the report as aligned text for a terminal."""
    lines = [f"{report['district_name']} ({report['district']}), {report['from']} to {report['to']} "
             f"({report['timezone']})"]
    rows = [
        ("tickets opened", _num(report["opened"])),
        ("closed (resolved) in period", _num(report["closed"])),
        ("still open at the end", _num(report["open_at_end"])),
        ("  of them overdue", _num(report["overdue_open"])),
        ("median hours to resolve", _num(report["median_resolution_hours"]) +
         f"  (of {report['resolved']:,} resolved)"),
        ("90th percentile hours", _num(report["p90_resolution_hours"])),
        ("resolved within due time",
         _share(report["on_time_share"]) + f"  (of {report['with_due']:,} with a due time)"),
        ("repeat calls", _num(report["repeat_calls"])),
        ("SMS sent", f"{report['sms_sent']:,}  ({plural(report['sms_segments'], 'segment')})"),
        ("SMS superseded (not sent)", _num(report.get("sms_superseded", 0))),
    ]
    if report.get("ivr") is not None:
        ivr = report["ivr"]
        rows += [("voice menu (IVR) calls", _num(ivr["calls"])),
                 ("  heard a status themselves", _num(ivr["status_checks"])),
                 ("  asked for a callback", _num(ivr["callbacks"])),
                 ("  put through to the desk", _num(ivr["to_desk"]))]
    lines += [f"  {label:<30} {value}" for label, value in rows]
    if report.get("groups") is not None:
        width = max([len(str(g["key"])) for g in report["groups"]] + [len(report["by"]), 3])
        width = min(width, 40)
        lines.append("")
        lines.append(f"  {report['by'].upper():<{width}} {'OPENED':>7} {'CLOSED':>7} {'OPEN@END':>8} {'OVERDUE':>7} "
                     f"{'MEDIAN_H':>9} {'P90_H':>8} {'ON_TIME':>7} {'REPEAT':>6} {'SMS':>5}")
        for g in report["groups"]:
            lines.append(f"  {str(g['key'])[:width]:<{width}} {g['opened']:>7,} {g['closed']:>7,} "
                         f"{g['open_at_end']:>8,} "
                         f"{g['overdue_open']:>7,} {_num(g['median_resolution_hours']):>9} "
                         f"{_num(g['p90_resolution_hours']):>8} {_share(g['on_time_share']):>7} "
                         f"{g['repeat_calls']:>6,} {g['sms_sent']:>5,}")
    return "\n".join(lines) + "\n"


def csv_text(report):
    """:returns: CSV: a header, a ``(total)`` row, then one row per group; cells formula-safe."""
    from .records import csv_safe

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")  # RFC 4180, as list --csv: a bare CR in a cell gets quoted too
    columns = ("key",) + FIGURES
    writer.writerow(columns)
    writer.writerow([csv_safe(v) for v in ["(total)"] + [report[f] for f in FIGURES]])
    for group in report.get("groups") or ():
        writer.writerow([csv_safe(group[c]) for c in columns])
    return buffer.getvalue()


def overdue_rows(config, items, now, first_day, last_day):
    """The tickets overdue at the end of the period, as the report prints them.

    :param items: ``load_items(store)``.
    :param now: aware UTC; a period that ends later counts overdue by ``now``.
    :param first_day, last_day: the period's local dates (inclusive).
    :returns: ``[{"id", "opened", "due" ("YYYY-MM-DD HH:MM" local), "days_over" (float, 1 decimal),
        "area", "category", "officer" ("" for none), "description" ("" for a sensitive category,
        ``privacy.shareable``)}]``, longest overdue (oldest due time) first.
    """
    from .clock import local_text
    from .privacy import shareable

    start, end = local_day_bounds(first_day, config.tz)[0], local_day_bounds(last_day, config.tz)[1]
    return [{"id": i.ticket["id"], "opened": local_text(i.ticket["opened_at"], config.tz),
             "due": local_text(i.ticket["due_at"], config.tz), "area": i.ticket["area"],
             "category": i.ticket["category"], "officer": i.ticket.get("officer") or "",
             "days_over": round((min(end, now) - i.due).total_seconds() / 86400, 1),
             "description": shareable(config, i.ticket).get("description") or ""}
            for i in overdue_at(_relevant(items, start, end), end, now)]


def overdue_csv(rows):
    """:returns: CSV of ``overdue_rows``: a header (``OVERDUE_FIELDS``), then one row per ticket;
    RFC 4180 line ends, every cell formula-safe (``records.csv_safe``)."""
    from .records import csv_safe

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(OVERDUE_FIELDS)
    for row in rows:
        writer.writerow([csv_safe(row[f]) for f in OVERDUE_FIELDS])
    return buffer.getvalue()


def overdue_command(first_day, last_day):
    """:returns: the command that prints the period's full overdue list as CSV (the page names it)."""
    return f"helpline report --from {first_day.isoformat()} --to {last_day.isoformat()} --overdue --format csv"


def html_report(store, config, now, first_day, last_day):
    """A single self-contained HTML page: the summary, a chart of tickets opened and closed per
    day, breakdowns by category and by area (table and chart) and the overdue list (a sensitive
    ticket's description left out, ``privacy.shareable``). Inline SVG and
    CSS only: no script, no network. Rendered from ``templates/report.html`` (autoescaped).

    The overdue table holds the ``OVERDUE_SHOWN`` longest overdue tickets; when there are more,
    the page gives the count and the command for the full list (``overdue_command``). Printed,
    ticket IDs and times are never broken across lines and the table keeps to the page's width.

    :returns: the page as text. :raises InvalidValue: as ``build_report``.
    """
    import jinja2

    from . import charts
    from .resources import resource_dir

    items = load_items(store)
    messages = load_messages(store, config, first_day, last_day)
    report = build_report(store, config, now, first_day, last_day, by="day", items=items, messages=messages)
    days = report["groups"]
    categories = build_report(store, config, now, first_day, last_day, by="category", items=items,
                              messages=messages)["groups"]
    areas = build_report(store, config, now, first_day, last_day, by="area", items=items,
                         messages=messages)["groups"]
    overdue = overdue_rows(config, items, now, first_day, last_day)
    day_chart = charts.bar_chart([d["key"][5:] for d in days],
                                 [("opened", [d["opened"] for d in days]), ("closed", [d["closed"] for d in days])])
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(resource_dir("templates"))), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report.html").render(
        report=report, days=days, categories=categories, areas=areas, overdue=overdue[:OVERDUE_SHOWN],
        overdue_total=len(overdue), overdue_command=overdue_command(first_day, last_day), day_chart=day_chart,
        category_chart=charts.hbar_chart([(g["key"], g["opened"]) for g in categories]),
        area_chart=charts.hbar_chart([(g["key"], g["opened"]) for g in areas]),
        share=_share, num=_num)


# The headline ----------------------------------------------------------------------------------


def _block_summary(tickets, tz):
    calls, by_day, seconds = 0, {}, []
    for t in tickets:
        calls += int(t.get("calls") or 1)
        for e in t.get("history", ()):
            if e.get("type") in ("opened", "call"):
                day = datetime.fromisoformat(e["at"]).astimezone(tz).date().isoformat()
                by_day[day] = by_day.get(day, 0) + 1
        i = item(t)
        if i.resolved is not None:
            seconds.append(int((i.resolved - i.opened).total_seconds()))
    return {"tickets": len(tickets), "calls": calls, "calls_by_day": by_day, "seconds": seconds}


def headline(store, config, now):
    """The figures of ``helpline stats``, quick at any size.

    Archived tickets are summarised once per archive file into ``stats-cache.json`` in the data
    directory (derived data, safe to delete), refreshed when a file changes (inode, time, size).

    :returns: ``{"tickets", "calls_total", "calls_today", "open", "overdue",
        "median_resolution_hours"}``: all tickets live and archived; calls = calls logged (the
        first and every repeat); today = the district's local date; open = open or assigned;
        overdue = open or assigned past the due time; median over every ticket with a resolved
        time (nearest rank).
    """
    from .tickets import is_overdue

    tz = config.tz
    today = now.astimezone(tz).date().isoformat()
    live = store.snapshot().table("tickets").all()
    summary = _block_summary(live, tz)
    totals = {"tickets": summary["tickets"], "calls": summary["calls"],
              "today": summary["calls_by_day"].get(today, 0)}
    seconds = list(summary["seconds"])
    cache_path = store.data_dir / STATS_CACHE
    try:
        cache = read_json(cache_path)
    except Exception:  # a damaged cache is rebuilt
        cache = {}
    if cache.get("meta") != {"version": 1, "timezone": config.timezone_name}:
        cache = {}
    blocks = cache.get("blocks", {})
    fresh, changed = {}, False
    for block in store.archived_blocks():
        try:
            st = os.stat(store.block_path(block))
        except FileNotFoundError:
            continue
        stamp = [st.st_ino, st.st_mtime_ns, st.st_size]
        entry = blocks.get(str(block))
        if entry is None or entry.get("stamp") != stamp:
            entry = dict(_block_summary(list(store.read_block(block).values()), tz), stamp=stamp)
            changed = True
        fresh[str(block)] = entry
        totals["tickets"] += entry["tickets"]
        totals["calls"] += entry["calls"]
        totals["today"] += entry["calls_by_day"].get(today, 0)
        seconds.extend(entry["seconds"])
    if changed or set(fresh) != set(blocks):
        try:
            atomic_write(cache_path, dump_json({"meta": {"version": 1, "timezone": config.timezone_name},
                                                "blocks": fresh}))
        except OSError:  # a cache that cannot be written is only slower next time
            pass
    seconds.sort()
    return {"tickets": totals["tickets"], "calls_total": totals["calls"], "calls_today": totals["today"],
            "open": sum(1 for t in live if t["status"] in ("open", "assigned")),
            "overdue": sum(1 for t in live if is_overdue(t, now)),
            "median_resolution_hours": _hours(nearest_rank(seconds, 50))}


def default_period(config, now, first_day=None, last_day=None):
    """:returns: ``(first_day, last_day)``: ``last_day`` defaults to today (local), ``first_day``
    to 29 days before it (30 days in all)."""
    last_day = last_day or now.astimezone(config.tz).date()
    return first_day or last_day - timedelta(days=29), last_day

