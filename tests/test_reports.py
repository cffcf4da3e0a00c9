"""Reports and stats: definitions, an independent count from the Boston CSV, HTML, CSV, SMS figures."""

import csv
import re
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from conftest import NOW
from helpline_core import reports, tickets
from helpline_core.district import init_district
from helpline_core.store import Store

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "boston311_every50.csv"
MAPPING = REPO / "data" / "mappings" / "boston311.toml"
AREAS = REPO / "data" / "samples" / "boston_areas.csv"
UTC = timezone.utc


# The independent count: straight from the CSV, sharing nothing with helpline ------------------


def count_from_csv(path, first, last, tz_name="America/New_York"):
    """Report figures for local dates first..last computed from a Boston 311 CSV alone."""
    tz = ZoneInfo(tz_name)

    def moment(text):  # to UTC, so that a subtraction across a DST change counts real hours
        if not text:
            return None
        return datetime.strptime(text, "%m/%d/%Y %I:%M:%S %p").replace(tzinfo=tz).astimezone(UTC)

    start = datetime(first.year, first.month, first.day, tzinfo=tz).astimezone(UTC)
    after = last + timedelta(days=1)
    end = datetime(after.year, after.month, after.day, tzinfo=tz).astimezone(UTC)
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            rows.append((moment(row["OPEN_DT"]), moment(row["CLOSED_DT"]), moment(row["TARGET_DT"])))
    opened_in = [r for r in rows if start <= r[0] < end]
    hours = sorted((c - o).total_seconds() / 3600 for o, c, _ in opened_in if c)
    due = [(c, d) for o, c, d in opened_in if c and d]
    open_end = [r for r in rows if r[0] < end and (r[1] is None or r[1] >= end)]

    def rank(p):  # nearest rank: the ceil(p/100 * n)-th smallest
        return hours[(p * len(hours) + 99) // 100 - 1] if hours else None

    per_day = {}
    day = first
    while day <= last:
        per_day[day.isoformat()] = [sum(1 for r in rows if r[0].astimezone(tz).date() == day),
                                    sum(1 for r in rows if r[1] and r[1].astimezone(tz).date() == day)]
        day += timedelta(days=1)
    return {
        "opened": len(opened_in), "closed": sum(1 for _, c, _ in rows if c and start <= c < end),
        "open_at_end": len(open_end), "median": rank(50), "p90": rank(90), "resolved": len(hours),
        "with_due": len(due), "on_time": sum(1 for c, d in due if c <= d) / len(due) if due else None,
        "overdue_open": sum(1 for _, _, d in open_end if d and d < end), "per_day": per_day,
    }


@pytest.fixture(scope="module")
def boston_fixture():
    """A few hundred real rows: every 50th row of Boston 311's March and April 2015 cases (committed)."""
    return FIXTURE


@pytest.fixture
def imported(run_cli, boston_fixture):
    run_cli(["init", "--district-code", "BOS", "--district-name", "Boston", "--timezone", "America/New_York",
             "--areas", str(AREAS)])
    result = run_cli(["import", str(boston_fixture), "--mapping", str(MAPPING), "--json"], as_json=True)
    assert result["rejected"] == 0 and result["imported"] == result["rows"] > 300
    return run_cli


@pytest.mark.parametrize("first, last", [(date(2015, 3, 1), date(2015, 4, 30)),
                                         (date(2015, 3, 5), date(2015, 3, 20))])  # DST change on 8 March
def test_report_figures_equal_an_independent_count_from_the_csv(imported, boston_fixture, first, last):
    run_cli = imported
    period = ["--from", first.isoformat(), "--to", last.isoformat()]
    report = run_cli(["report", *period, "--format", "json", "--by", "day"], as_json=True)
    expected = count_from_csv(boston_fixture, first, last)
    for key in ("opened", "closed", "open_at_end", "resolved", "with_due", "overdue_open"):
        assert report[key] == expected[key], key
    assert abs(report["median_resolution_hours"] - expected["median"]) < 1 / 60
    assert abs(report["p90_resolution_hours"] - expected["p90"]) < 1 / 60
    assert abs(report["on_time_share"] - expected["on_time"]) < 0.0001
    assert {g["key"]: [g["opened"], g["closed"]] for g in report["groups"]} == expected["per_day"]
    for group in report["groups"]:  # each day, with that day as the period
        day = date.fromisoformat(group["key"])
        if group["opened"]:
            one = count_from_csv(boston_fixture, day, day)
            assert group["open_at_end"] == one["open_at_end"], group["key"]
            assert abs(group["median_resolution_hours"] - one["median"]) < 1 / 60, group["key"]


def test_report_by_category_adds_up_and_prints_a_table_and_csv(imported):
    run_cli = imported
    period = ["--from", "2015-03-01", "--to", "2015-04-30"]
    total = run_cli(["report", *period, "--format", "json"], as_json=True)
    assert {"opened", "closed", "open_at_end", "median_resolution_hours", "p90_resolution_hours", "on_time_share",
            "overdue_open", "repeat_calls", "sms_sent", "sms_segments"} <= set(total) and "groups" not in total
    by = run_cli(["report", *period, "--format", "json", "--by", "category"], as_json=True)
    assert sum(g["opened"] for g in by["groups"]) == total["opened"]
    assert sum(g["open_at_end"] for g in by["groups"]) == total["open_at_end"]
    assert {g["key"] for g in by["groups"]} <= {"roads", "traffic", "lights", "sanitation", "housing", "graffiti",
                                                "parks", "animals", "water", "information", "other"}
    table = run_cli(["report", *period]).stdout
    assert f"tickets opened                 {total['opened']:,}" in table
    rows = list(csv.reader(run_cli(["report", *period, "--by", "officer", "--format", "csv"]).stdout.splitlines()))
    assert rows[0][:4] == ["key", "opened", "closed", "open_at_end"] and rows[1][0] == "(total)"
    assert sum(int(r[1]) for r in rows[2:]) == total["opened"]


def test_report_usage_errors(imported, data_dir):
    run_cli = imported
    err = run_cli(["report", "--from", "2015-04-30", "--to", "2015-03-01"], expect=2).stderr
    assert err == ("Error: Invalid value for '--from': 2015-04-30 is after --to 2015-03-01. "
                   "(see 'helpline report --help')\n")
    err = run_cli(["report", "--format", "html", "--by", "day"], expect=2).stderr
    assert err.startswith("Error: --by does not apply to --format html")
    assert run_cli(["report", "--from", "2015-02-30"], expect=2).stderr.startswith("Error: Invalid value for '--from'")


def test_html_report_is_one_self_contained_page(imported, data_dir, tmp_path):
    run_cli = imported
    out = tmp_path / "report.html"
    run_cli(["report", "--from", "2015-03-01", "--to", "2015-04-30", "--format", "html", "--out", str(out)])
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 3
    assert "<script" not in page and "<link" not in page and "src=" not in page
    assert re.findall(r"https?://[^\"' ]+", page) == ["http://www.w3.org/2000/svg"] * 3  # namespaces only
    assert "By category" in page and "By area" in page and "Overdue at the end of the period" in page
    assert "Tickets opened and closed per day" in page


# Definitions on hand-made tickets ---------------------------------------------------------------


def test_nearest_rank():
    values = list(range(1, 11))
    assert reports.nearest_rank(values, 50) == 5 and reports.nearest_rank(values, 90) == 9
    assert reports.nearest_rank(list(range(1, 21)), 90) == 18 and reports.nearest_rank([7], 90) == 7
    assert reports.nearest_rank([], 50) is None and reports.nearest_rank([1, 2, 3], 50) == 2


def ticket(serial, opened, resolved=None, due=None, status=None, calls=1, final=None, **extra):
    iso = lambda m: m.astimezone(UTC).isoformat() if m else None  # noqa: E731
    return dict({"id": f"BOS-{serial}0", "serial": serial, "status": status or ("closed" if resolved else "open"),
                 "opened_at": iso(opened), "resolved_at": iso(resolved), "closed_at": iso(resolved),
                 "due_at": iso(due), "final_at": iso(final or resolved), "calls": calls, "category": "roads",
                 "area": "Dorchester", "officer": None, "history": []}, **extra)


def test_definitions_hold_across_a_daylight_saving_change():
    ny = ZoneInfo("America/New_York")
    at = lambda d, h: datetime(2015, 3, d, h, tzinfo=ny)  # noqa: E731
    items = [reports.item(t) for t in [
        ticket(1, at(7, 12), at(9, 12), due=at(9, 13), calls=3),  # 47 real hours (clocks went forward), on time
        ticket(2, at(7, 12), at(10, 12), due=at(8, 12)),          # 71 hours, late
        ticket(3, at(6, 12)),                                     # opened before, still open, no due
        ticket(4, at(7, 13), due=at(7, 20)),                      # open and overdue at the end
        ticket(5, at(7, 14), status="rejected", final=at(7, 15)),  # rejected: not open at the end
        ticket(6, at(1, 9), at(7, 9)),                            # opened before, closed in the period
    ]]
    start, end = datetime(2015, 3, 7, tzinfo=ny).astimezone(UTC), datetime(2015, 3, 8, tzinfo=ny).astimezone(UTC)
    now = datetime(2015, 4, 1, tzinfo=UTC)
    figures = reports.summarise(items, start, end, now)
    assert figures["opened"] == 4 and figures["closed"] == 1
    assert figures["open_at_end"] == 4  # 1, 2 (resolved later), 3, 4
    assert figures["median_resolution_hours"] == 47.0 and figures["p90_resolution_hours"] == 71.0
    assert figures["resolved"] == 2 and figures["with_due"] == 2 and figures["on_time_share"] == 0.5
    assert figures["overdue_open"] == 1  # only 4: the due times of 1 and 2 come after the end
    assert figures["repeat_calls"] == 2


def test_sms_sent_and_segments_come_from_the_day_files(district):
    config, store = district
    from helpline_core.gateways import make_gateway
    from helpline_core.sending import send_outbox

    with store.transaction() as db:
        first, _ = tickets.log_call(db, config, store, phone="9876543210", area="Khanyar", category="ration",
                                    actor="op", now=NOW, language="hi", description="दवा")
        tickets.log_call(db, config, store, phone="9876543210", area="Khanyar", category="ration", actor="op", now=NOW)
    send_outbox(store, config, make_gateway(config, store.data_dir), NOW)
    from helpline_core.outbox import day_path
    from helpline_core.store import read_json

    sent = [m for m in read_json(day_path(store, NOW.astimezone(config.tz).date())).get("messages", {}).values()
            if m.get("sent_at")]
    assert sent
    day = NOW.astimezone(config.tz).date()
    report = reports.build_report(store, config, NOW, day, day, by="category")
    assert report["sms_sent"] == len(sent) and report["sms_segments"] == sum(m["segments"] for m in sent)
    assert report["repeat_calls"] == 1 and report["opened"] == 1
    assert report["groups"][0]["key"] == "ration" and report["groups"][0]["sms_sent"] == len(sent)
    earlier = reports.build_report(store, config, NOW, day - timedelta(days=3), day - timedelta(days=1))
    assert earlier["sms_sent"] == 0 and earlier["opened"] == 0


def test_html_escapes_what_callers_said_and_csv_neutralises_formulas(data_dir, tmp_path):
    areas = tmp_path / "areas.csv"
    areas.write_text('name\nKhanyar\n"=HYPERLINK(""http://x"",""y"")"\n', encoding="utf-8")
    shipped = Path(__file__).resolve().parents[1] / "data" / "categories.csv"
    config = init_district(data_dir, code="SXR", name="Srinagar", areas_csv=areas, categories_csv=shipped)
    store = Store(data_dir)
    opened = NOW - timedelta(days=5)
    with store.transaction() as db:
        tickets.log_call(db, config, store, phone="9876543210", area="Khanyar", category="medicine", actor="op",
                         now=opened, description="<script>alert(1)</script> & more")
        tickets.log_call(db, config, store, phone="9876500002", area='=HYPERLINK("http://x","y")',
                         category="ration", actor="op", now=opened)
    day = NOW.astimezone(config.tz).date()
    page = reports.html_report(store, config, NOW, day - timedelta(days=6), day)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in page
    text = reports.csv_text(reports.build_report(store, config, NOW, day - timedelta(days=6), day, by="area"))
    rows = list(csv.reader(text.splitlines()))
    assert {r[0] for r in rows[2:]} == {"Khanyar", "'=HYPERLINK(\"http://x\",\"y\")"}
    assert not [cell for row in rows for cell in row if cell and cell[0] in "=+-@"]


# the overdue list in print -----------------------------------------------------------------------

MARCH = (date(2020, 3, 1), date(2020, 3, 31))  # long past: the real clock never cuts the period short
LATER = datetime(2020, 6, 1, tzinfo=UTC)


def overdue_tickets(store, config, count):
    """Log ``count`` tickets from 2 March 2020, seven minutes apart, none ever solved.

    :returns: their IDs, oldest first (ration has one SLA, so also oldest due first)."""
    areas = ("Khanyar", "Eidgah", "Hazratbal")
    opened = datetime(2020, 3, 2, 4, 0, tzinfo=UTC)
    with store.transaction() as db:
        return [tickets.log_call(db, config, store, phone=f"98765{n:05d}", area=areas[n % 3], category="ration",
                                 actor="op", now=opened + timedelta(minutes=7 * n),
                                 description="ration for a family of nine" if n % 2 else "x" * 90)[0]["id"]
                for n in range(count)]


def overdue_table(page):
    """:returns: (the overdue heading's count, [ticket IDs of the table's rows], the table's HTML)."""
    count = re.search(r"<h2>Overdue at the end of the period \(([\d,]+)\)</h2>", page).group(1)
    table = re.search(r'<table class="overdue">.*?</table>', page, re.S)
    html = table.group(0) if table else ""
    return int(count.replace(",", "")), re.findall(r'<tr data-ticket="([^"]+)">', html), html


def test_a_long_overdue_list_prints_a_count_and_the_oldest_100(district):
    config, store = district
    made = overdue_tickets(store, config, 130)
    page = reports.html_report(store, config, LATER, *MARCH)
    count, shown, table = overdue_table(page)
    assert count == 130 and len(shown) == reports.OVERDUE_SHOWN == 100
    assert shown == made[:100]  # the longest overdue, in that order
    command = "helpline report --from 2020-03-01 --to 2020-03-31 --overdue --format csv"
    assert (f"130 tickets were overdue; the 100 longest overdue are listed\nbelow. "
            f"The full list, as CSV:<br><code class=\"nowrap\">{command}</code>") in page

    # ID and both times unbreakable on every row; a print stylesheet keeps the table on the page
    assert table.count('<td class="id nowrap">') == 100 and table.count('<td class="date nowrap">') == 200
    for ticket_id in shown:
        assert f'<td class="id nowrap">{ticket_id}</td>' in table
    assert re.search(r"\.nowrap \{ white-space: nowrap; overflow-wrap: normal; \}", page)
    print_css = page[page.index("@media print {"):page.index("</style>")]
    assert "table { width: 100%; max-width: 100%; table-layout: auto; }" in print_css
    assert "table.overdue td.description { overflow-wrap: anywhere; }" in print_css  # a long URL, say

    # exactly 100: all of them, and no pointer to a longer list
    with store.transaction() as db:
        for ticket_id in made[100:]:
            tickets.reject(db, config, store, ticket_id, reason="duplicate", actor="op",
                           now=datetime(2020, 3, 5, tzinfo=UTC))
    page = reports.html_report(store, config, LATER, *MARCH)
    count, shown, _ = overdue_table(page)
    assert count == 100 and shown == made[:100] and "--overdue" not in page


def test_report_overdue_prints_the_full_list_as_csv_and_json(district, run_cli):
    config, store = district
    made = overdue_tickets(store, config, 130)
    period = ["--from", "2020-03-01", "--to", "2020-03-31"]
    out = run_cli(["report", *period, "--overdue", "--format", "csv"]).stdout
    rows = list(csv.reader(out.splitlines()))
    assert rows[0] == list(reports.OVERDUE_FIELDS)
    assert [r[0] for r in rows[1:]] == made  # all 130, longest overdue first: the page's first 100 and more
    first = dict(zip(rows[0], rows[1]))
    assert (first["opened"], first["area"], first["category"]) == ("2020-03-02 09:30", "Khanyar", "ration")
    assert first["officer"] in ("rafiq", "meena")  # routed to a Khanyar ration officer, never solved
    assert first["due"] > first["opened"] and float(first["days_over"]) > 20
    as_json = run_cli(["report", *period, "--overdue", "--format", "json"], as_json=True)
    assert [r["id"] for r in as_json] == made and as_json[0]["days_over"] == float(first["days_over"])

    for fmt in ("table", "html"):
        err = run_cli(["report", *period, "--overdue", "--format", fmt], expect=2).stderr
        assert err.startswith("Error: --overdue prints the list with --format csv or --format json")
    err = run_cli(["report", *period, "--overdue", "--format", "csv", "--by", "area"], expect=2).stderr
    assert "without --by" in err


# stats --------------------------------------------------------------------------------------------


def test_stats_headline_and_its_cache(imported, boston_fixture, data_dir):
    run_cli = imported
    first = run_cli(["stats", "--json"], as_json=True)
    rows = list(csv.DictReader(open(boston_fixture, newline="", encoding="utf-8")))
    tz = ZoneInfo("America/New_York")
    hours = sorted((datetime.strptime(r["CLOSED_DT"], "%m/%d/%Y %I:%M:%S %p").replace(tzinfo=tz).astimezone(UTC)
                    - datetime.strptime(r["OPEN_DT"], "%m/%d/%Y %I:%M:%S %p").replace(tzinfo=tz).astimezone(UTC))
                   .total_seconds() / 3600 for r in rows if r["CLOSED_DT"])
    assert first["tickets"] == first["calls_total"] == len(rows) and first["calls_today"] == 0
    assert first["open"] == sum(1 for r in rows if r["CASE_STATUS"] == "Open")
    assert abs(first["median_resolution_hours"] - hours[(len(hours) + 1) // 2 - 1]) < 1 / 60
    assert (data_dir / "stats-cache.json").exists()
    assert run_cli(["stats", "--json"], as_json=True) == first
    (data_dir / "stats-cache.json").write_text("{damaged", encoding="utf-8")
    assert run_cli(["stats", "--json"], as_json=True) == first
    line = run_cli(["stats"]).stdout
    assert line.startswith(f"Boston (BOS): {len(rows):,} calls, 0 today; {first['open']:,} open, ")
