"""The nightly verification list: which tickets, who calls whom, the CSV and the printable page."""

import csv
import io
import os
import re
import stat
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest

from conftest import NOW
from helpline_core import outbox, tickets
from helpline_core.errors import InvalidValue
from helpline_core.officers import add_officer, deactivate_officer
from helpline_core.verification import (COLUMNS, CSV_FIELDS, NOWRAP, PAGE_CH, WRAP_MAX_CH, WRITE_IN_CH,
                                        build_verification_list, column_widths, sms_state, text_ch,
                                        write_verification_list)

IST = ZoneInfo("Asia/Kolkata")
UTC = timezone.utc
DAY = date(2026, 11, 30)
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def ist(text):
    """:returns: the aware UTC moment of ``text`` (``YYYY-MM-DD HH:MM``) read as Srinagar time."""
    return datetime.fromisoformat(text).replace(tzinfo=IST).astimezone(UTC)


_phones = iter(range(10_000))


def resolved_ticket(store, config, resolved_at, *, area="Khanyar", category="ration", phone=None,
                    caller_name="Ghulam Nabi", description="ration for five", note="Ration kit delivered",
                    officer=None, by=None, no_phone=False):
    """Log a call two hours before ``resolved_at``, assign it if needed, resolve it then.
    ``no_phone``: logged without a caller number (``log --no-phone``).

    :returns: the resolved ticket."""
    phone = None if no_phone else (phone or f"98765{next(_phones):05d}")
    with store.transaction() as db:
        ticket, _ = tickets.log_call(db, config, store, phone=phone, area=area, category=category, actor="op",
                                     now=resolved_at - timedelta(hours=2), caller_name=caller_name,
                                     description=description, force_new=True)
        if officer or ticket["status"] == "open":
            ticket = tickets.assign(db, config, ticket["id"], officer or "rafiq", actor="op",
                                    now=resolved_at - timedelta(hours=1))
        return tickets.resolve(db, config, ticket["id"], note=note, actor="op", now=resolved_at, by=by)


def add_verifier(store, config, officer_id, name, areas, phone="09419000299"):
    with store.transaction() as db:
        return add_officer(db, config, officer_id, name=name, phone=phone, areas=areas, categories=["ration"],
                           role="verifier", lang="en", actor="setup", now=NOW)


def build(store, config, day=DAY, **options):
    return build_verification_list(store.snapshot(), config, day, **options)


def ids(listing):
    return sorted(row["ticket_id"] for group in listing["groups"] for row in group["rows"])


def by_verifier(listing):
    """:returns: {verifier id or None: [ticket ids]}."""
    return {(g["verifier"]["officer_id"] if g["verifier"] else None): [r["ticket_id"] for r in g["rows"]]
            for g in listing["groups"]}


@pytest.fixture(params=["UTC", "Asia/Kolkata", "America/Los_Angeles"])
def server_tz(request, monkeypatch):
    """Run the test with the server's own zone set to each of these."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


# which tickets ---------------------------------------------------------------------------------

def test_day_boundaries_follow_the_district_zone_whatever_the_server_zone(district, server_tz):
    config, store = district
    older = resolved_ticket(store, config, ist("2026-11-29 23:59"))
    just_after_midnight = resolved_ticket(store, config, ist("2026-11-30 00:30"))  # 29 Nov 19:00 UTC
    late = resolved_ticket(store, config, ist("2026-11-30 23:59"))
    next_day = resolved_ticket(store, config, ist("2026-12-01 00:01"))  # still 30 Nov in UTC
    closed = resolved_ticket(store, config, ist("2026-11-30 10:00"))
    with store.transaction() as db:
        tickets.verify(db, config, closed["id"], confirmed=True, actor="nusrat", now=ist("2026-11-30 12:00"))
        still_assigned, _ = tickets.log_call(db, config, store, phone="9876512345", area="Khanyar",
                                             category="ration", actor="op", now=ist("2026-11-30 09:00"))
    assert still_assigned["status"] == "assigned"

    listing = build(store, config, DAY)
    assert ids(listing) == sorted([older["id"], just_after_midnight["id"], late["id"]])
    assert listing["total"] == 3 and listing["selected"] == 3
    assert listing["waiting_older"] == 1
    rows = {r["ticket_id"]: r for g in listing["groups"] for r in g["rows"]}
    assert rows[just_after_midnight["id"]]["resolved_local"] == "2026-11-30 00:30"
    assert rows[just_after_midnight["id"]]["waiting"] is False
    assert rows[older["id"]]["resolved_local"] == "2026-11-29 23:59"
    assert rows[older["id"]]["waiting"] is True

    day_before = build(store, config, date(2026, 11, 29))
    assert ids(day_before) == [older["id"]] and day_before["waiting_older"] == 0

    day_after = build(store, config, date(2026, 12, 1))
    assert ids(day_after) == sorted([older["id"], just_after_midnight["id"], late["id"], next_day["id"]])
    assert day_after["waiting_older"] == 3


def test_day_must_be_a_date(district):
    config, store = district
    with pytest.raises(TypeError):
        build(store, config, datetime(2026, 11, 30, 0, 0, tzinfo=UTC))


# who calls whom --------------------------------------------------------------------------------

def test_never_assigned_to_the_officer_who_resolved_it(district):
    config, store = district
    add_verifier(store, config, "zara", "Zara Bhat", ["Khanyar", "Eidgah", "Hazratbal"])
    by_rafiq = [resolved_ticket(store, config, ist("2026-11-30 10:00") + timedelta(minutes=i)) for i in range(4)]
    # a verifier given the ticket explicitly resolves it: zara is the resolving officer
    by_zara = resolved_ticket(store, config, ist("2026-11-30 11:00"), officer="zara")
    # rafiq's ticket, but the operator records that nusrat solved it
    by_nusrat = resolved_ticket(store, config, ist("2026-11-30 12:00"), by="nusrat")
    assert by_zara["resolved_by"] == "zara" and by_nusrat["resolved_by"] == "nusrat"

    listing = build(store, config)
    groups = by_verifier(listing)
    assert by_zara["id"] in groups["nusrat"] and by_zara["id"] not in groups["zara"]
    assert by_nusrat["id"] in groups["zara"] and by_nusrat["id"] not in groups["nusrat"]
    assert sorted(groups["nusrat"] + groups["zara"]) == sorted(t["id"] for t in by_rafiq + [by_zara, by_nusrat])
    assert None not in groups
    for group in listing["groups"]:
        for row in group["rows"]:
            assert not row["officer"].startswith(group["verifier"]["officer_id"] + " ")
    rows = {r["ticket_id"]: r for g in listing["groups"] for r in g["rows"]}
    assert rows[by_zara["id"]]["officer"] == "zara (Zara Bhat)"
    names = {"rafiq": "Rafiq Ahmad", "meena": "Meena Kumari"}  # routing shares Khanyar ration between them
    assert rows[by_rafiq[0]["id"]]["officer"] == f"{by_rafiq[0]['resolved_by']} ({names[by_rafiq[0]['resolved_by']]})"


def test_a_ticket_nobody_may_verify_is_listed_unassigned(district):
    config, store = district
    mine = resolved_ticket(store, config, ist("2026-11-30 10:00"), by="nusrat")  # nusrat: the only verifier
    other = resolved_ticket(store, config, ist("2026-11-30 11:00"))
    listing = build(store, config)
    assert by_verifier(listing) == {"nusrat": [other["id"]], None: [mine["id"]]}
    assert listing["groups"][-1]["verifier"] is None

    csv_path, html_path = write_verification_list(store.data_dir, listing)
    table = list(csv.DictReader(io.StringIO(csv_path.read_bytes().decode("utf-8"), newline="")))
    assert {r["ticket_id"]: r["verifier"] for r in table} == {other["id"]: "nusrat", mine["id"]: "(unassigned)"}
    page = parse_page(html_path)
    assert [s["verifier"] for s in page.sections] == ["nusrat", ""]
    assert "Unassigned" in page.sections[1]["heading"]


def test_fair_split_prefers_verifiers_of_the_area(district):
    config, store = district
    add_verifier(store, config, "zara", "Zara Bhat", ["Khanyar"])
    add_verifier(store, config, "omar", "Omar Lone", ["Khanyar", "Hazratbal"], phone="09419000298")
    with store.transaction() as db:
        deactivate_officer(db, config, "omar", actor="setup", now=NOW)
    start = ist("2026-11-30 09:00")
    hazratbal = [resolved_ticket(store, config, start + timedelta(minutes=i), area="Hazratbal") for i in range(2)]
    khanyar = [resolved_ticket(store, config, start + timedelta(minutes=10 + i)) for i in range(6)]
    # nobody verifies Pantha Chowk: it goes to whoever has the fewest
    elsewhere = resolved_ticket(store, config, start + timedelta(minutes=30), area="Pantha Chowk", officer="rafiq")

    listing = build(store, config)
    groups = by_verifier(listing)
    assert set(groups) == {"nusrat", "zara"}  # omar is deactivated; officers never verify
    assert {t["id"] for t in hazratbal} <= set(groups["nusrat"])  # zara does not cover Hazratbal
    assert set(groups["zara"]) <= {t["id"] for t in khanyar} | {elsewhere["id"]}
    assert abs(len(groups["nusrat"]) - len(groups["zara"])) <= 1
    assert len(groups["nusrat"]) + len(groups["zara"]) == 9
    for group in listing["groups"]:
        serials = [r["serial"] for r in group["rows"]]
        assert serials == sorted(serials)
    assert build(store, config) == listing  # deterministic


def test_sample_per_verifier_is_reproducible_with_a_seed(district):
    config, store = district
    add_verifier(store, config, "zara", "Zara Bhat", ["Khanyar"])
    for i in range(10):
        resolved_ticket(store, config, ist("2026-11-30 09:00") + timedelta(minutes=i))
    full = build(store, config)
    first = build(store, config, sample=2, seed=42)
    again = build(store, config, sample=2, seed=42)
    assert first == again
    assert first["total"] == 4 and first["selected"] == 10
    full_groups = by_verifier(full)
    for group in first["groups"]:
        verifier = group["verifier"]["officer_id"]
        kept = [r["ticket_id"] for r in group["rows"]]
        assert len(kept) == 2 and group["selected"] == 5
        assert set(kept) <= set(full_groups[verifier])
        assert [r["serial"] for r in group["rows"]] == sorted(r["serial"] for r in group["rows"])
    samples = {tuple(ids(build(store, config, sample=2, seed=seed))) for seed in range(8)}
    assert len(samples) > 1  # the seed does choose
    assert build(store, config, sample=50, seed=1) == full  # a small day is listed whole
    for bad in (0, -1, True, 1.5):
        with pytest.raises(InvalidValue):
            build(store, config, sample=bad)


# the columns ------------------------------------------------------------------------------------

def test_resolved_sms_state_in_plain_words(district):
    config, store = district
    mobile = resolved_ticket(store, config, ist("2026-11-30 10:00"))
    landline = resolved_ticket(store, config, ist("2026-11-30 10:05"), phone="0194 245 2052")
    no_phone = resolved_ticket(store, config, ist("2026-11-30 10:10"), category="medicine")
    with store.transaction() as db:
        db.table("tickets").update({"phone": None, "phone_type": "unknown", "messages": {}},
                                   doc_ids=[no_phone["serial"]])

    def states():
        return {r["ticket_id"]: r["sms_resolved"] for g in build(store, config)["groups"] for r in g["rows"]}

    assert states() == {mobile["id"]: "not sent yet", landline["id"]: "no text", no_phone["id"]: "no text"}
    stored = store.snapshot().table("tickets").get(doc_id=mobile["serial"])
    key = next(k for k in stored["messages"] if ":resolved:" in k)
    with store.transaction() as db:
        outbox.note_on_ticket(db, {"ticket_id": mobile["id"], "key": key, "state": "undelivered"})
    assert states()[mobile["id"]] == "undelivered: caller not reached"

    # reopened and resolved again: the latest "resolved" text counts, not the first one
    with store.transaction() as db:
        outbox.note_on_ticket(db, {"ticket_id": mobile["id"], "key": key, "state": "delivered"})
        tickets.reopen(db, config, mobile["id"], note="caller says no kit came", actor="op",
                       now=ist("2026-11-30 11:00"))
        tickets.resolve(db, config, mobile["id"], note="Kit delivered again", actor="op",
                        now=ist("2026-11-30 12:00"))
    again = store.snapshot().table("tickets").get(doc_id=mobile["serial"])
    assert sorted(v for k, v in again["messages"].items() if ":resolved:" in k) == ["delivered", "queued"]
    assert states()[mobile["id"]] == "not sent yet"
    row = next(r for g in build(store, config)["groups"] for r in g["rows"] if r["ticket_id"] == mobile["id"])
    assert row["resolution_note"] == "Kit delivered again"

    def state_of(value):
        return sms_state({"messages": {"SXR-10003:logged:0:+919876543210": "delivered",
                                       "SXR-10003:resolved:3:+919876543210": value}})

    assert state_of("delivered") == "delivered" and state_of("sent") == "delivery not confirmed"  # Twilio only accepted it
    assert state_of("failed") == "undelivered: caller not reached"
    assert state_of("held") == "not sent yet"
    assert sms_state({"messages": {"SXR-10003:logged:0:+919876543210": "delivered"}}) == "no text"
    assert sms_state({}) == "no text"


def test_row_columns(district):
    config, store = district
    ticket = resolved_ticket(store, config, ist("2026-11-30 10:00"), phone="98765 43210",
                             caller_name="Ghulam Nabi", description="ration for five", note="Kit delivered")
    row = build(store, config)["groups"][0]["rows"][0]
    assert row == {
        "ticket_id": ticket["id"], "caller_name": "Ghulam Nabi", "phone": "+919876543210", "area": "Khanyar",
        "category": "ration", "asked": "ration for five", "resolution_note": "Kit delivered",
        "officer": {"meena": "meena (Meena Kumari)", "rafiq": "rafiq (Rafiq Ahmad)"}[ticket["resolved_by"]],
        "resolved_local": "2026-11-30 10:00", "sms_resolved": "not sent yet", "not_reached": "", "outcome": "",
        "verifier_note": "", "serial": ticket["serial"], "waiting": False, "in_person": False,
    }


def test_counselling_descriptions_never_reach_the_list(district):
    config, store = district
    secret = "SECRET-could-not-sleep-for-weeks"
    counselling = resolved_ticket(store, config, ist("2026-11-30 10:00"), category="counselling",
                                  description=secret, officer="tariq")
    ration = resolved_ticket(store, config, ist("2026-11-30 10:30"), description="ration for five")
    listing = build(store, config)
    rows = {r["ticket_id"]: r for g in listing["groups"] for r in g["rows"]}
    assert rows[counselling["id"]]["asked"] == "" and rows[counselling["id"]]["category"] == "counselling"
    assert rows[ration["id"]]["asked"] == "ration for five"
    assert secret not in repr(listing)
    csv_path, html_path = write_verification_list(store.data_dir, listing)
    assert secret.encode() not in csv_path.read_bytes()
    assert secret.encode() not in html_path.read_bytes()
    page = parse_page(html_path)
    cells = {r["ticket"]: r["cells"] for s in page.sections for r in s["rows"]}
    assert cells[counselling["id"]]["asked"] == ""
    assert cells[ration["id"]]["asked"] == "ration for five"


# the files ---------------------------------------------------------------------------------------

def test_csv_neutralises_formulas_and_html_escapes_callers_text(district):
    config, store = district
    ticket = resolved_ticket(store, config, ist("2026-11-30 10:00"), caller_name="=cmd|' /C calc'!A0",
                             description="<script>alert(1)</script>", note="@SUM(A1:A9) -2+3")
    # a line break inside a description must not start a new spreadsheet row with a formula in it
    broken = resolved_ticket(store, config, ist("2026-11-30 10:30"), description="ration\r=1+1\n=2+2")
    listing = build(store, config)
    # text that cannot come through the lifecycle (it trims), but must be safe anyway
    listing["groups"][0]["rows"].append(dict(listing["groups"][0]["rows"][0], ticket_id="SXR-99999",
                                             caller_name="\t=1+1", asked="\r=2+2", resolution_note="-3+3",
                                             area="+4"))
    csv_path, html_path = write_verification_list(store.data_dir, listing)

    table = list(csv.reader(io.StringIO(csv_path.read_bytes().decode("utf-8"), newline="")))
    assert table[0] == list(CSV_FIELDS)
    assert len(table) == 4
    for line in table:
        for cell in line:
            assert not cell.startswith(DANGEROUS), cell
    first = dict(zip(table[0], table[1]))
    assert first["caller_name"] == "'=cmd|' /C calc'!A0"
    assert first["phone"].startswith("'+91")
    assert first["resolution_note"] == "'@SUM(A1:A9) -2+3"
    assert first["asked"] == "<script>alert(1)</script>"  # harmless in a CSV
    assert first["verifier"] == "nusrat" and first["ticket_id"] == ticket["id"]
    assert dict(zip(table[0], table[2]))["asked"] == "ration =1+1 =2+2"  # log keeps one line of text
    assert dict(zip(table[0], table[2]))["ticket_id"] == broken["id"]
    second = dict(zip(table[0], table[3]))
    assert (second["caller_name"], second["asked"], second["resolution_note"], second["area"]) == \
        ("'\t=1+1", "'\r=2+2", "'-3+3", "'+4")

    html = html_path.read_text(encoding="utf-8")
    assert "<script>" not in html
    page = parse_page(html_path)
    assert "script" not in page.tags
    cells = {r["ticket"]: r["cells"] for s in page.sections for r in s["rows"]}
    assert cells[ticket["id"]]["asked"] == "<script>alert(1)</script>"
    assert cells[ticket["id"]]["caller_name"] == "=cmd|' /C calc'!A0"  # on paper the name is as given


def test_html_page_renders_one_table_per_verifier(district):
    config, store = district
    add_verifier(store, config, "zara", "Zara Bhat", ["Khanyar"])
    made = [resolved_ticket(store, config, ist("2026-11-30 09:00") + timedelta(minutes=i)) for i in range(3)]
    made.append(resolved_ticket(store, config, ist("2026-11-29 15:00")))
    listing = build(store, config)
    _, html_path = write_verification_list(store.data_dir, listing)
    page = parse_page(html_path)

    assert "Srinagar" in page.title and "2026-11-30" in page.title
    assert [s["verifier"] for s in page.sections] == [g["verifier"]["officer_id"] for g in listing["groups"]]
    assert "page-break-after" in html_path.read_text(encoding="utf-8")
    for section, group in zip(page.sections, listing["groups"]):
        assert section["headings"] == [heading for _, heading in COLUMNS]
        assert [r["ticket"] for r in section["rows"]] == [r["ticket_id"] for r in group["rows"]]
        for html_row, row in zip(section["rows"], group["rows"]):
            for key in ("ticket_id", "caller_name", "phone", "area", "category", "asked", "resolution_note",
                        "officer", "resolved_local", "sms_resolved"):
                assert html_row["cells"][key] == row[key], key
            assert html_row["cells"]["verifier_note"] == ""
            assert "confirmed" in html_row["cells"]["outcome"]
    assert sorted(r["ticket"] for s in page.sections for r in s["rows"]) == sorted(t["id"] for t in made)


def test_files_are_private_atomic_and_repeatable(district):
    config, store = district
    resolved_ticket(store, config, ist("2026-11-30 10:00"))
    listing = build(store, config)
    csv_path, html_path = write_verification_list(store.data_dir, listing)
    folder = store.data_dir / "verification"
    assert (csv_path, html_path) == (folder / "2026-11-30.csv", folder / "2026-11-30.html")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(csv_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(html_path.stat().st_mode) == 0o600
    before = (csv_path.read_bytes(), html_path.read_bytes())
    write_verification_list(store.data_dir, build(store, config))
    assert (csv_path.read_bytes(), html_path.read_bytes()) == before
    assert sorted(os.listdir(folder)) == ["2026-11-30.csv", "2026-11-30.html"]  # no temporary files left


def test_an_empty_day_still_writes_a_page(district):
    config, store = district
    listing = build(store, config)
    assert listing["groups"] == [] and listing["total"] == 0 and listing["waiting_older"] == 0
    csv_path, html_path = write_verification_list(store.data_dir, listing)
    assert csv_path.read_bytes() == (",".join(CSV_FIELDS) + "\r\n").encode()
    page = parse_page(html_path)
    assert page.sections == []
    assert "No resolved tickets" in page.text


def test_importing_the_module_does_not_import_jinja2():
    code = "import sys, helpline_core.verification; print('jinja2' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# printing ----------------------------------------------------------------------------------------

HEADING_WORD = {key: max(text_ch(w) for w in heading.split()) for key, heading in COLUMNS}
TEXT_COLUMNS = [key for key, _ in COLUMNS if key not in NOWRAP and key not in WRITE_IN_CH]


def longest(rows, key):
    """:returns: the widest cell of the column, in ch."""
    return max(text_ch(row[key]) for row in rows)


def test_text_width_estimate():
    assert text_ch("2026-11-30 10:00") == 16 and text_ch("") == 0 and text_ch(None) == 0
    assert text_ch("+919876543210") == 14  # "+" is wider than a "0"
    assert text_ch("SXR-10003") == 10 and text_ch("ration") == 6 and text_ch("مرگی کی") == 7


def test_column_widths_are_the_longest_cell_when_the_page_has_room():
    rows = [{"ticket_id": "SXR-10003", "caller_name": "Ali", "phone": "+919876543210", "area": "Eidgah",
             "category": "ration", "asked": "kit", "resolution_note": "given", "officer": "rafiq",
             "resolved_local": "2026-11-30 10:00", "sms_resolved": "no text", "not_reached": "2"},
            {"ticket_id": "SXR-100042", "caller_name": "Mir", "phone": "+911942452052", "area": "Khanyar",
             "category": "doctor", "asked": "fever", "resolution_note": "seen", "officer": "meena",
             "resolved_local": "2026-11-29 23:59", "sms_resolved": "no text", "not_reached": ""}]
    widths = column_widths(rows)
    assert sum(widths.values()) <= PAGE_CH
    for key, _ in COLUMNS:
        if key in WRITE_IN_CH:
            assert widths[key] == WRITE_IN_CH[key]
        else:
            assert widths[key] == max(longest(rows, key), HEADING_WORD[key]), key
    assert widths["ticket_id"] == 11 and widths["phone"] == 14  # SXR-100042 (3 capitals), +919876543210
    assert widths["area"] == 8 and widths["resolved_local"] == 16  # Khanyar; 2026-11-30 10:00
    assert column_widths([])["phone"] == HEADING_WORD["phone"]


def test_long_text_gives_way_and_never_the_ticket_phone_or_time():
    rows = [{"ticket_id": "SXR-1000001", "caller_name": "Ghulam Nabi Dar", "phone": "+12025550143",
             "area": "Shalimar Bagh Extension", "category": "counselling",
             "asked": "ration for a family of nine, two of them elderly and bedridden, none can walk to the depot",
             "resolution_note": "kit delivered by the ward volunteer with medicines for both",
             "officer": "rafiq (Rafiq Ahmad Sheikh)", "resolved_local": "2026-11-30 10:00",
             "sms_resolved": "undelivered: caller not reached", "not_reached": "12"}]
    widths = column_widths(rows)
    assert sum(widths.values()) == PAGE_CH  # narrowed just enough to fit
    for key in NOWRAP:
        assert widths[key] == max(longest(rows, key), HEADING_WORD[key]), key
    for key in TEXT_COLUMNS:
        assert max(HEADING_WORD[key], 6) <= widths[key] <= min(longest(rows, key), WRAP_MAX_CH), key
    assert widths["asked"] < longest(rows, "asked")
    # the widest give way first: a narrowed column is down to its floor or to one common width
    floor = {k: max(HEADING_WORD[k], 6) for k in TEXT_COLUMNS}
    narrowed = [k for k in TEXT_COLUMNS if widths[k] < min(longest(rows, k), WRAP_MAX_CH)]
    above_floor = [k for k in narrowed if widths[k] > floor[k]]
    level = max(widths[k] for k in above_floor)
    assert len(above_floor) >= 2 and all(widths[k] >= level - 1 for k in above_floor), widths
    assert all(widths[k] <= level for k in TEXT_COLUMNS if k not in narrowed), widths


def test_printed_page_never_breaks_a_phone_number_and_sizes_columns_to_the_rows(district):
    config, store = district
    add_verifier(store, config, "zara", "Zara Bhat", ["Hazratbal"], phone="09419000298")
    made = [resolved_ticket(store, config, ist("2026-11-30 09:00"), phone="0194 245 2052"),
            resolved_ticket(store, config, ist("2026-11-30 09:10"), area="Hazratbal", caller_name="Ali",
                            description="ration for a family of nine, two elderly, none can walk to the depot"),
            resolved_ticket(store, config, ist("2026-11-29 18:00"), phone="+1 202 555 0143")]
    listing = build(store, config)
    _, html_path = write_verification_list(store.data_dir, listing)
    page = parse_page(html_path)

    # the rule that keeps a cell on one line, and the cells that carry it
    rule = re.search(r"\.nowrap\s*\{([^}]*)\}", page.style).group(1)
    assert "white-space: nowrap" in rule and "overflow-wrap: normal" in rule
    assert "table-layout: fixed" in page.style and "overflow-wrap: anywhere" not in page.style
    rows = {r["ticket_id"]: r for g in listing["groups"] for r in g["rows"]}
    seen = 0
    for section in page.sections:
        for table in section["tables"]:
            table_rows = [rows[t] for t in table["rows"]]
            for ticket in table["rows"]:
                classes, phone = table["classes"][ticket], rows[ticket]["phone"]
                for key in NOWRAP:
                    assert "nowrap" in classes[key], (ticket, key)
                # whole, in one unbreakable cell, in a column as wide as the longest number
                assert {r["ticket"]: r["cells"] for r in section["rows"]}[ticket]["phone"] == phone
                assert phone in page.nowrap and table["widths"]["phone"] >= len(phone)
                seen += 1
            for key in NOWRAP:
                assert table["widths"][key] == max(longest(table_rows, key), HEADING_WORD[key]), key
            assert sum(table["widths"].values()) <= PAGE_CH
            assert table["widths"] == column_widths(table_rows)
    assert seen == len(made) == len(rows)
    # the verifier's own number in the heading is unbreakable too
    verifiers = [g["verifier"] for g in listing["groups"]]
    assert [v["officer_id"] for v in verifiers] == ["nusrat", "zara"]
    assert all(v["phone"] in page.nowrap for v in verifiers)
    assert sorted(r["phone"] for r in rows.values()) == ["+12025550143", "+911942452052", rows[made[1]["id"]]["phone"]]


def test_a_ticket_with_no_phone_is_listed_to_verify_in_person(district):
    config, store = district
    called = resolved_ticket(store, config, ist("2026-11-30 09:00"))
    no_phone = resolved_ticket(store, config, ist("2026-11-30 09:30"), no_phone=True, caller_name="Haleema")
    listing = build(store, config)
    assert listing["total"] == 2 and listing["in_person"] == 1
    rows = {r["ticket_id"]: r for g in listing["groups"] for r in g["rows"]}
    assert rows[no_phone["id"]]["phone"] == "no phone" and rows[no_phone["id"]]["in_person"] is True
    assert rows[called["id"]]["in_person"] is False and rows[called["id"]]["phone"].startswith("+91")

    csv_path, html_path = write_verification_list(store.data_dir, listing)
    table = [dict(zip(CSV_FIELDS, line)) for line in csv.reader(io.StringIO(csv_path.read_text(encoding="utf-8")))][1:]
    assert {r["ticket_id"]: r["phone"] for r in table}[no_phone["id"]] == "no phone"  # never an empty cell

    page = parse_page(html_path)
    (section,) = page.sections
    call, in_person = section["tables"]
    assert (call["kind"], call["rows"]) == ("call", [called["id"]])
    assert (in_person["kind"], in_person["rows"]) == ("in_person", [no_phone["id"]])
    assert len(section["h3"]) == 1 and "verify in person" in section["h3"][0]
    assert {r["ticket"]: r["cells"] for r in section["rows"]}[no_phone["id"]]["phone"] == "no phone"
    assert "1 with no phone number (verify in person)" in page.text
    assert "no-phone" in in_person["classes"][no_phone["id"]]["phone"]


# reading the page back -------------------------------------------------------------------------

class Page(HTMLParser):
    """The parts of the printable page the tests look at."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.text = ""
        self.style = ""
        self.tags = set()
        # [{"verifier", "heading", "headings": [th text], "rows": [{"ticket", "cells"}],
        #   "h3": [text], "tables": [{"kind", "widths": {key: ch}, "rows": [ticket], "classes": {ticket: {key: {..}}}}]}]
        self.sections = []
        self.nowrap = []  # the text of every element of class "nowrap", in page order
        self._in = None  # "title" | "style" | "h2" | "h3" | "th" | "td"
        self._cell = None
        self._nowrap_tag = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        self.tags.add(tag)
        if "nowrap" in classes:
            self._nowrap_tag = tag
            self.nowrap.append("")
        if tag in ("title", "style"):
            self._in = tag
        elif tag == "section":
            self.sections.append({"verifier": attrs.get("data-verifier"), "heading": "", "headings": [],
                                  "rows": [], "h3": [], "tables": []})
        elif tag in ("h2", "h3") and self.sections:
            self._in = tag
            if tag == "h3":
                self.sections[-1]["h3"].append("")
        elif tag == "table" and self.sections:
            self.sections[-1]["tables"].append({"kind": attrs.get("class"), "widths": {}, "rows": [], "classes": {}})
        elif tag == "th" and self.sections:
            self._in = "th"
            self.sections[-1]["headings"].append("")
            width = re.fullmatch(r"width: (\d+)ch", attrs["style"]).group(1)
            self.sections[-1]["tables"][-1]["widths"][attrs["class"]] = int(width)
        elif tag == "tr" and attrs.get("data-ticket"):
            self.sections[-1]["rows"].append({"ticket": attrs["data-ticket"], "cells": {}})
            table = self.sections[-1]["tables"][-1]
            table["rows"].append(attrs["data-ticket"])
            table["classes"][attrs["data-ticket"]] = {}
        elif tag == "td":
            self._in = "td"
            self._cell = classes[0]
            self.sections[-1]["rows"][-1]["cells"][self._cell] = ""
            table = self.sections[-1]["tables"][-1]
            table["classes"][table["rows"][-1]][self._cell] = set(classes)

    def handle_endtag(self, tag):
        if tag in ("title", "style", "h2", "h3", "th", "td"):
            self._in = None
        if tag == self._nowrap_tag:
            self._nowrap_tag = None

    def handle_data(self, data):
        if self._in == "style":
            self.style += data
            return
        self.text += data
        if self._nowrap_tag:
            self.nowrap[-1] += data
        if self._in == "title":
            self.title += data
        elif self._in == "h2":
            self.sections[-1]["heading"] += data
        elif self._in == "h3":
            self.sections[-1]["h3"][-1] += data
        elif self._in == "th":
            self.sections[-1]["headings"][-1] += data
        elif self._in == "td":
            cells = self.sections[-1]["rows"][-1]["cells"]
            cells[self._cell] += data


def parse_page(path):
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page
