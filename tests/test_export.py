"""Exports: the JSON dump round trip, Open311 GeoReport v2, ticket CSV."""

import csv
import io
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import file_bytes
from helpline_core import tickets
from helpline_core.archive import archive_final_tickets
from helpline_core.config import load_config
from helpline_core.gateways import make_gateway
from helpline_core.officers import add_officer
from helpline_core.sending import send_outbox
from helpline_core.store import Store

REPO = Path(__file__).resolve().parents[1]
MAPPING = REPO / "data" / "mappings" / "boston311.toml"
SAMPLE = REPO / "data" / "samples" / "boston311_sample.csv"
AREAS = REPO / "data" / "samples" / "boston_areas.csv"
T0 = datetime(2026, 11, 26, 15, 0, tzinfo=timezone.utc)  # 10:00 in Boston
SEND = datetime(2026, 11, 30, 15, 0, tzinfo=timezone.utc)
NOT_DUMPED = ("stats-cache.json", "imports/", "outbox.jsonl")
OFFSET_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


@pytest.fixture
def busy(run_cli, data_dir):
    """A Boston district with the sample imported, a native ticket closed and archived, one live
    with its texts sent (an SMS day file), officers, an outbox: every kind of stored data."""
    run_cli(["init", "--district-code", "BOS", "--district-name", "Boston", "--timezone", "America/New_York",
             "--areas", str(AREAS)])
    run_cli(["import", str(SAMPLE), "--mapping", str(MAPPING)])
    config, store = load_config(data_dir), Store(data_dir)
    with store.transaction() as db:
        add_officer(db, config, "maria", name="Maria Lopez", phone="09419000101", areas=["Dorchester"],
                    categories=["roads"], actor="setup", now=T0)
        first, _ = tickets.log_call(db, config, store, phone="9876543210", area="Dorchester", category="roads",
                                    caller_name="Ghulam Nabi", description='=HYPERLINK("http://x","y")',
                                    actor="op", now=T0)
        tickets.resolve(db, config, first["id"], note="patched", actor="op", now=T0 + timedelta(hours=1))
        tickets.verify(db, config, first["id"], confirmed=True, actor="nusrat", now=T0 + timedelta(hours=2))
    archive_final_tickets(store, config, T0 + timedelta(days=2))
    with store.transaction() as db:
        tickets.log_call(db, config, store, phone="9876500002", area="Dorchester", category="roads",
                         caller_name="Asha", actor="op", now=SEND)
    send_outbox(store, config, make_gateway(config, data_dir), SEND)
    with store.transaction() as db:  # one more, still waiting in the outbox
        tickets.log_call(db, config, store, phone="9876500003", area="Dorchester", category="roads", actor="op",
                         now=SEND)
    assert list((data_dir / "sms").glob("*.json")) and store.snapshot().table("outbox").all()
    return run_cli


def stored_files(folder):
    return {k: v for k, v in file_bytes(folder).items() if not k.startswith(NOT_DUMPED) and not k.endswith(".lock")}


def test_json_dump_round_trips_into_an_empty_data_directory(busy, data_dir, tmp_path):
    run_cli = busy
    dump_path = tmp_path / "dump.json"
    run_cli(["export", "--format", "json", "--out", str(dump_path)])
    dump = json.loads(dump_path.read_text(encoding="utf-8"))
    assert dump["format"] == "helpline-dump" and dump["district"]["code"] == "BOS"
    assert len(dump["live"]["tickets"]) == 128 and sum(len(b) for b in dump["archive"]["tickets"].values()) == 875
    copy = tmp_path / "copy"
    out = run_cli(["--data-dir", str(copy), "import-json", str(dump_path)]).stdout
    assert out.startswith("Loaded 1,003 tickets (875 archived), 88 officers and ")
    again = tmp_path / "again.json"
    run_cli(["--data-dir", str(copy), "export", "--format", "json", "--out", str(again)])
    second = json.loads(again.read_text(encoding="utf-8"))
    second.pop("exported_at")
    assert second == {k: v for k, v in dump.items() if k != "exported_at"}
    assert stored_files(copy) == stored_files(data_dir)  # the same files, byte for byte
    some_id = next(iter(dump["live"]["tickets"].values()))["id"]
    shown = run_cli(["--data-dir", str(copy), "show", some_id, "--json"], as_json=True)
    assert shown["history"][0]["type"] == "opened"


def test_import_json_refuses_a_data_directory_in_use_and_other_files(busy, data_dir, tmp_path):
    run_cli = busy
    dump_path = tmp_path / "dump.json"
    run_cli(["export", "--format", "json", "--out", str(dump_path)])
    before = file_bytes(data_dir)
    err = run_cli(["import-json", str(dump_path)], expect=1).stderr
    assert err.startswith(f"Error: {data_dir} is not empty; import-json loads a dump into a new data directory")
    assert file_bytes(data_dir) == before
    other = tmp_path / "other.json"
    other.write_text('{"tickets": []}', encoding="utf-8")
    err = run_cli(["--data-dir", str(tmp_path / "new"), "import-json", str(other)], expect=1).stderr
    assert err == f"Error: {other} is not a helpline dump; make one with 'helpline export --format json'.\n"
    assert not (tmp_path / "new" / "config.toml").exists()
    assert run_cli(["export", "--format", "json", "--from", "2015-03-01"], expect=2).stderr.startswith(
        "Error: --from/--to do not apply to --format json")


def test_open311_service_requests(busy, tmp_path):
    run_cli = busy
    out = tmp_path / "requests.json"
    run_cli(["export", "--format", "open311", "--from", "2015-03-01", "--to", "2015-03-02", "--out", str(out)])
    requests = json.loads(out.read_text(encoding="utf-8"))
    fields = {"service_request_id", "status", "status_notes", "service_name", "service_code", "description",
              "agency_responsible", "requested_datetime", "updated_datetime", "expected_datetime", "address",
              "lat", "long"}
    assert requests and all(fields <= set(r) for r in requests)
    first = requests[0]
    assert first == {**first, "service_request_id": "BOS-10003", "status": "closed",
                     "status_notes": "Case Closed Case Resolved ASSIGNED TO CIU", "service_code": "roads",
                     "requested_datetime": "2015-03-01T00:54:30-05:00", "updated_datetime": "2015-03-02T06:03:22-05:00",
                     "expected_datetime": "2015-03-04T08:30:00-05:00", "lat": 42.2936, "long": -71.0516,
                     "address": "145 Neponset Ave Dorchester MA 02122", "agency_responsible": "PWDx_Utility Call-In"}
    assert {r["status"] for r in requests} == {"open", "closed"}
    for r in requests:
        for key in ("requested_datetime", "updated_datetime"):
            assert OFFSET_TIME.match(r[key]), r
        assert r["expected_datetime"] is None or OFFSET_TIME.match(r["expected_datetime"])
    everything = run_cli(["export", "--format", "open311"]).stdout
    assert "+91" not in everything and "Ghulam" not in everything and "Asha" not in everything  # public: no caller
    native = [r for r in json.loads(everything) if r["requested_datetime"].startswith("2026")]
    assert len(native) == 3 and native[0]["requested_datetime"] == "2026-11-26T10:00:00-05:00"
    assert native[0]["address"] == "Dorchester" and native[0]["lat"] is None  # no address: the area
    assert native[0]["status"] == "closed" and native[0]["status_notes"] == "patched"
    assert native[0]["agency_responsible"] == "Maria Lopez"


def test_ticket_csv_neutralises_formulas_and_keeps_numbers(busy):
    run_cli = busy
    rows = list(csv.DictReader(run_cli(["export", "--format", "csv"]).stdout.splitlines()))
    assert len(rows) == 1003
    native = [r for r in rows if r["caller_name"] == "Ghulam Nabi"][0]
    assert native["description"] == "'=HYPERLINK(\"http://x\",\"y\")" and native["phone"] == "'+919876543210"
    boston = [r for r in rows if r["external_id"] == "101001320322"][0]
    assert (boston["lat"], boston["long"], boston["source"]) == ("42.2936", "-71.0516", "boston311")
    header, *cells = list(csv.reader(io.StringIO(run_cli(["export", "--format", "csv"]).stdout)))
    assert len(header) == len(set(header)), header  # each column once
    assert {"external_id", "source", "address", "lat", "long"} <= set(header)
    assert all(len(row) == len(header) for row in cells)
    row = [r for r in cells if "101001320322" in r][0]  # each value under its own header
    assert (row[header.index("external_id")], row[header.index("source")], row[header.index("lat")],
            row[header.index("id")][:4]) == ("101001320322", "boston311", "42.2936", "BOS-")
    april = list(csv.DictReader(run_cli(["export", "--format", "csv", "--from", "2015-04-01", "--to", "2015-04-30"])
                                .stdout.splitlines()))
    assert april and all(r["opened_at"].startswith("2015-04") for r in april)
