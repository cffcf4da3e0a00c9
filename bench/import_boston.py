"""Import the full Boston 311 file through the CLI, time it, and check the report against an
independent count made straight from the CSV.

What it does:

1. makes a new data directory (a temporary folder, or ``--workdir``) with
   ``helpline init --district-code BOS --timezone America/New_York --areas data/samples/boston_areas.csv``;
2. runs ``helpline import <file> --mapping data/mappings/boston311.toml`` as a whole process and
   times it (wall clock), then ``helpline report --from 2015-03-01 --to 2015-04-30 --format json``
   (and ``--by day``), ``helpline stats`` and the HTML report, timed too;
3. computes the same figures from the CSV alone, with nothing from helpline (``independent``),
   and prints a markdown table of both and whether they agree (hours to the minute).

Run it with the project's venv::

    python bench/import_boston.py
    python bench/import_boston.py --csv /path/to/boston311_2015_mar_apr.csv --keep
"""

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CSV = REPO.parent / "shared" / "data" / "real" / "boston311_2015_mar_apr.csv"
FORMAT = "%m/%d/%Y %I:%M:%S %p"
FIRST, LAST = date(2015, 3, 1), date(2015, 4, 30)


def independent(csv_path, first, last, tz_name="America/New_York", now=None):
    """The report's figures straight from the Boston CSV (no helpline code): opened, closed,
    open at end, median and p90 hours (nearest rank), on-time share, overdue open, per day."""
    tz = ZoneInfo(tz_name)
    start = datetime.combine(first, datetime.min.time(), tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    now = now or datetime.now(timezone.utc)

    def t(text):  # to UTC: subtracting two times of one ZoneInfo would ignore a DST change between them
        return datetime.strptime(text, FORMAT).replace(tzinfo=tz).astimezone(timezone.utc) if text else None

    opened = closed = open_end = overdue = with_due = on_time = 0
    seconds, per_day_opened, per_day_closed = [], {}, {}
    with open(csv_path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            o, c, d = t(row["OPEN_DT"]), t(row["CLOSED_DT"]), t(row["TARGET_DT"])
            if start <= o < end:
                opened += 1
                day = o.astimezone(tz).date().isoformat()
                per_day_opened[day] = per_day_opened.get(day, 0) + 1
                if c:
                    seconds.append((c - o).total_seconds())
                    if d:
                        with_due += 1
                        on_time += c <= d
            if c and start <= c < end:
                closed += 1
                day = c.astimezone(tz).date().isoformat()
                per_day_closed[day] = per_day_closed.get(day, 0) + 1
            if o < end and (c is None or c >= end):
                open_end += 1
                overdue += d is not None and d < min(end, now)
    seconds.sort()

    def rank(p):
        return round(seconds[-(-p * len(seconds) // 100) - 1] / 3600, 2) if seconds else None

    return {"opened": opened, "closed": closed, "open_at_end": open_end, "median_resolution_hours": rank(50),
            "p90_resolution_hours": rank(90), "resolved": len(seconds), "with_due": with_due,
            "on_time_share": round(on_time / with_due, 4) if with_due else None, "overdue_open": overdue,
            "per_day_opened": per_day_opened, "per_day_closed": per_day_closed}


def run(args, data_dir, capture=True):
    env = dict(os.environ, HELPLINE_DATA_DIR=str(data_dir), HELPLINE_OPERATOR="bench")
    exe = Path(sys.executable).parent / "helpline"
    started = time.perf_counter()
    result = subprocess.run([str(exe), *args], env=env, capture_output=capture, text=True, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    if result.returncode:
        sys.exit(f"helpline {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result, elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--workdir", type=Path, help="data directory to create (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    args = parser.parse_args()
    if not args.csv.exists():
        sys.exit(f"no file {args.csv}")
    base = args.workdir or Path(tempfile.mkdtemp(prefix="helpline-boston-"))
    data_dir = base / "data" if args.workdir is None else base
    if data_dir.exists() and any(data_dir.iterdir()):
        sys.exit(f"{data_dir} is not empty")
    try:
        run(["init", "--district-code", "BOS", "--district-name", "Boston", "--timezone", "America/New_York",
             "--areas", str(REPO / "data" / "samples" / "boston_areas.csv")], data_dir)
        mapping = str(REPO / "data" / "mappings" / "boston311.toml")
        imported, import_s = run(["import", str(args.csv), "--mapping", mapping, "--json"], data_dir)
        summary = json.loads(imported.stdout)
        period = ["--from", FIRST.isoformat(), "--to", LAST.isoformat()]
        report_out, report_s = run(["report", *period, "--format", "json"], data_dir)
        by_day_out, _ = run(["report", *period, "--format", "json", "--by", "day"], data_dir)
        _, stats_cold_s = run(["stats"], data_dir)
        stats_out, stats_s = run(["stats"], data_dir)
        _, html_s = run(["report", *period, "--format", "html", "--out", str(base / "report.html")], data_dir)
        reimport, reimport_s = run(["import", str(args.csv), "--mapping", mapping, "--json"], data_dir)
        live_bytes = (data_dir / "helpline.json").stat().st_size
        archive_bytes = sum(p.stat().st_size for p in (data_dir / "archive").iterdir())
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(base, ignore_errors=True)
    report = json.loads(report_out.stdout)
    days = json.loads(by_day_out.stdout)["groups"]
    check = independent(args.csv, FIRST, LAST)

    print(f"Import of {args.csv.name}: {summary['rows']:,} rows, {summary['imported']:,} imported, "
          f"{summary['rejected']:,} rejected, in {import_s:.1f} s (whole `helpline import` process, "
          f"{os.cpu_count()} CPUs); {summary['archived']:,} to the archive, {summary['live']:,} live.")
    print(f"Re-import of the same file: {reimport_s:.1f} s, imported {json.loads(reimport.stdout)['imported']}, "
          f"rejected {json.loads(reimport.stdout)['rejected']:,} as already imported.")
    print(f"Files: helpline.json {live_bytes / 1e6:.1f} MB, archive {archive_bytes / 1e6:.1f} MB.")
    print(f"report --format json {report_s:.2f} s; report --format html {html_s:.2f} s; "
          f"stats {stats_cold_s:.2f} s first, {stats_s:.2f} s after (cache): {stats_out.stdout.strip()}")
    print()
    print("| figure (2015-03-01 to 2015-04-30, America/New_York) | helpline report "
          "| independent count from the CSV | equal |")
    print("| --- | ---: | ---: | --- |")
    for key in ("opened", "closed", "open_at_end", "median_resolution_hours", "p90_resolution_hours", "resolved",
                "with_due", "on_time_share", "overdue_open"):
        ours, theirs = report[key], check[key]
        if key.endswith("_hours"):
            equal = ours is not None and abs(ours - theirs) <= 1 / 60
        else:
            equal = ours == theirs
        print(f"| {key} | {ours} | {theirs} | {'yes' if equal else 'NO'} |")
    opened_ok = all(d["opened"] == check["per_day_opened"].get(d["key"], 0) for d in days)
    closed_ok = all(d["closed"] == check["per_day_closed"].get(d["key"], 0) for d in days)
    print(f"| opened per day ({len(days)} days) | {sum(d['opened'] for d in days)} in all | "
          f"{sum(check['per_day_opened'].values())} in all | {'yes, every day' if opened_ok else 'NO'} |")
    print(f"| closed per day | {sum(d['closed'] for d in days)} in all | "
          f"{sum(v for k, v in check['per_day_closed'].items() if FIRST.isoformat() <= k <= LAST.isoformat())} in all "
          f"| {'yes, every day' if closed_ok else 'NO'} |")


if __name__ == "__main__":
    main()
