"""Importing CSV exports: mapping, every row accounted for, rebuilt history, re-import, dry run,
and the store left as it was after a failure or a crash."""

import csv
import json
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import file_bytes
from test_docs import readme_output
from helpline_core import import_mapping, importer
from helpline_core.config import DEFAULT_CATEGORIES, load_config, render_config
from helpline_core.district import init_district
from helpline_core.errors import InvalidValue
from helpline_core.store import Store

REPO = Path(__file__).resolve().parents[1]
MAPPING = REPO / "data" / "mappings" / "boston311.toml"
SAMPLE = REPO / "data" / "samples" / "boston311_sample.csv"
AREAS = REPO / "data" / "samples" / "boston_areas.csv"
EDGE = Path(__file__).resolve().parent / "fixtures" / "boston_edge_cases.csv"
NOW = datetime(2026, 11, 30, 6, 0, tzinfo=timezone.utc)

# row number in boston_edge_cases.csv (header = 1; line 15 is blank) -> reject kind, or None: imported,
# with the shipped mapping less its catch-all area (STRICT); with it, row 7 (Atlantis) goes to Unknown
EDGE_OUTCOME = {
    2: None, 3: None, 4: "unparseable time", 5: "closed before opened", 6: "unknown status", 7: "unknown area",
    8: "no external ID", 9: "repeated external ID", 10: "status does not match times",
    11: "time that does not exist", 12: "wrong number of cells", 13: "bad coordinates", 14: None, 16: None,
    17: None, 18: None, 19: "status does not match times", 20: "time in the future", 21: None,
}


@pytest.fixture
def boston(data_dir):
    """A Boston district (America/New_York, the shipped neighbourhoods); returns (config, store)."""
    init_district(data_dir, code="BOS", name="Boston", timezone="America/New_York", areas_csv=AREAS)
    return load_config(data_dir), Store(data_dir)


@pytest.fixture
def boston_cli(run_cli):
    run_cli(["init", "--district-code", "BOS", "--district-name", "Boston", "--timezone", "America/New_York",
             "--areas", str(AREAS)])
    return run_cli


def do_import(boston, path=EDGE, mapping=MAPPING, **kwargs):
    config, store = boston
    return importer.import_csv(store, load_config(store.data_dir), path, import_mapping.load_mapping(mapping),
                               actor="op", now=NOW, **kwargs)


def all_tickets(store):
    from helpline_core.tickets import iter_tickets

    return list(iter_tickets(store.snapshot(), store, include_archived=True))


def write_mapping(tmp_path, text, name="mapping.toml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def strict_mapping(tmp_path):
    """The shipped mapping without ``otherwise`` for the area: unknown neighbourhoods are rejected."""
    text = MAPPING.read_text(encoding="utf-8")
    kept = "\n".join(line for line in text.split("\n") if not line.startswith('otherwise = "Unknown"'))
    assert kept != text and "Unknown" in kept
    return write_mapping(tmp_path, kept, "strict.toml")


# The mapping file ----------------------------------------------------------------------------


def test_shipped_mapping_loads_and_names_the_boston_columns():
    mapping = import_mapping.load_mapping(MAPPING)
    assert mapping.source == "boston311" and mapping.timezone_name == "America/New_York"
    assert mapping.fields["category"].mapping["highway maintenance"] == "roads"
    assert mapping.fields["status"].mapping == {"open": "open", "closed": "closed"}
    header = SAMPLE.read_text(encoding="utf-8").split("\n", 1)[0].split(",")
    assert set(mapping.columns()) <= set(header)


@pytest.mark.parametrize("text, message", [
    ('[source]\nname = "x"\n[fields]\nexternal_id = "id"\n', "[fields] must name opened_at, area, category"),
    ('[source]\nname = "x"\n[fields]\nwhen = "x"\n', "unknown field 'when'"),
    ('[source]\nname = "x"\ntimezone = "Mars/Base"\n', "unknown time zone 'Mars/Base'"),
    ('[fields]\nexternal_id = "id"\n', "[source] needs name"),
    ('[source]\nname = "x"\n[fields.status]\ncolumn = "s"\nmap = { open = ["A"], closed = ["A"] }\n',
     "sends 'A' to both"),
    ('[source]\nname = "x"\n[fields.area]\ncolumn = "a"\ncreate = true\n', "applies to the officer field only"),
    ("not toml = = 1", "not valid TOML"),
    ('[source]\nname = "x"\n[categories]\nroads = 1e11\n', "[categories] 'roads' needs a name and a positive number"),
    ('[source]\nname = "x"\n[categories]\nroads = inf\n', "at most 8,760 (a year)"),
    ('[source]\nname = "x"\n[categories]\nroads = nan\n', "[categories] 'roads' needs a name and a positive number"),
])
def test_mapping_mistakes_are_named(tmp_path, text, message):
    with pytest.raises(InvalidValue) as error:
        import_mapping.load_mapping(write_mapping(tmp_path, text))
    assert message in str(error.value)


def test_fast_time_parser_agrees_with_strptime():
    fmt = "%m/%d/%Y %I:%M:%S %p"
    parse = import_mapping.fast_strptime(fmt)
    moment = datetime(2015, 1, 1)
    for _ in range(3000):
        moment += timedelta(minutes=247, seconds=13)
        text = moment.strftime(fmt)
        assert parse(text) == datetime.strptime(text, fmt) == moment
    for text in ("3/1/2015 12:00:00 am", "03/01/2015  12:00:00 PM"):
        assert parse(text) == datetime.strptime(text, fmt)
    for bad in ("13/01/2015 01:00:00 AM", "02/30/2015 01:00:00 AM", "03/01/2015 13:00:00 PM", "yesterday"):
        with pytest.raises(ValueError):
            parse(bad)
    assert import_mapping.fast_strptime("%Y-%m-%d %H:%M")("2015-03-08 02:30") == datetime(2015, 3, 8, 2, 30)
    assert import_mapping.fast_strptime("%d %B %Y") is None  # month names: strptime does it


def test_categories_are_added_to_the_config_table_keeping_the_rest():
    text = render_config("BOS", "Boston", "America/New_York", DEFAULT_CATEGORIES, [{"name": "A"}])
    new = importer.add_categories_text(text, {"roads": 72, "two words": 1.5})
    import tomllib

    parsed = tomllib.loads(new)
    assert list(parsed["categories"]) == [*DEFAULT_CATEGORIES, "roads", "two words"]
    assert parsed["quiet_hours"] == {"start": "21:00", "end": "08:00"} and parsed["areas"] == [{"name": "A"}]
    assert new.replace('"roads" = 72\n"two words" = 1.5\n', "") == text
    bare = importer.add_categories_text('[district]\ncode = "X"\n', {"roads": 72})
    assert tomllib.loads(bare)["categories"] == {**DEFAULT_CATEGORIES, "roads": 72}


# Every row accounted for ---------------------------------------------------------------------


def test_every_row_is_imported_or_rejected_with_its_row_number_and_reason(boston, tmp_path):
    config, store = boston
    strict = strict_mapping(tmp_path)
    result = do_import(boston, mapping=strict)
    outcome = {row: kind for row, kind in EDGE_OUTCOME.items()}
    rejected = {number: reason for number, reason, _ in result.rejects}
    assert result.rows == len(EDGE_OUTCOME) == result.imported + len(result.rejects)
    assert sorted(rejected) == sorted(r for r, kind in outcome.items() if kind)
    assert result.imported == sum(1 for kind in outcome.values() if kind is None)
    assert sum(result.reject_kinds.values()) == len(result.rejects)
    assert rejected[4] == "unparseable opened time '13/45/2015 99:00:00 AM' (expected %m/%d/%Y %I:%M:%S %p)"
    assert rejected[5].startswith("closed before opened (2015-02-01T10:00:00-05:00 < 2015-03-01T00:54:30-05:00)")
    assert rejected[6] == "unknown status 'Pending' (map it in [fields.status.map])"
    assert rejected[9] == "external ID 101001320322 appears again (first at row 2)"
    assert "does not exist in America/New_York" in rejected[11]
    assert rejected[12] == "row has 5 cells, the header has 21"

    path = importer.write_rejects(tmp_path / "rejects.csv", result)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    source = list(csv.reader(open(EDGE, newline="", encoding="utf-8")))
    assert rows[0] == ["rejected_row", "rejected_reason", *source[0]]
    assert [int(r[0]) for r in rows[1:]] == sorted(rejected)
    by_number = {int(r[0]): r for r in rows[1:]}
    assert by_number[7][2:] == source[6]  # the source's cells, verbatim (file line 7 = row 7)
    assert by_number[13][2:] == source[12] and by_number[20][2:] == source[19]  # after the blank line
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    fixed = tmp_path / "fixed.csv"  # the rejects file, one row fixed, imports again with the same mapping
    fixed.write_text(path.read_text(encoding="utf-8").replace(",Atlantis,", ",Dorchester,"), encoding="utf-8")
    again = do_import(boston, path=fixed, mapping=strict)
    assert again.imported == 1 and again.reject_kinds["already imported"] == 1  # row 9: the repeated ID
    assert importer.write_rejects(tmp_path / "again.csv", again).read_text(encoding="utf-8").startswith(
        "rejected_row,rejected_reason,CASE_ENQUIRY_ID,")


def test_history_is_rebuilt_from_the_source_times_and_nothing_is_texted(boston):
    config, store = boston
    do_import(boston)
    found = {t["external_id"]: t for t in all_tickets(store)}
    closed = found["101001320322"]
    assert closed["status"] == "closed" and closed["source"] == "boston311"
    assert closed["opened_at"] == "2015-03-01T05:54:30+00:00" and closed["due_at"] == "2015-03-04T13:30:00+00:00"
    assert closed["resolved_at"] == closed["closed_at"] == closed["final_at"] == "2015-03-02T11:03:22+00:00"
    assert [(e["type"], e["at"], e["actor"]) for e in closed["history"]] == [
        ("opened", "2015-03-01T05:54:30+00:00", "op"), ("assign", "2015-03-01T05:54:30+00:00", "op"),
        ("resolve", "2015-03-02T11:03:22+00:00", "op"), ("close", "2015-03-02T11:03:22+00:00", "op")]
    assert "imported from boston311" in closed["history"][0]["note"] and "row 2" in closed["history"][0]["note"]
    assert closed["history"][2]["note"] == "Case Closed Case Resolved ASSIGNED TO CIU"
    assert closed["officer"] == closed["resolved_by"] == "pwdx-utility-call-in"
    assert closed["phone"] is None and closed["calls"] == 1 and closed["category"] == "roads"
    assert (closed["lat"], closed["long"]) == (42.2936, -71.0516)

    still_open = found["101001320326"]
    assert still_open["status"] == "assigned" and still_open["due_at"] is None  # no TARGET_DT
    assert [e["type"] for e in still_open["history"]] == ["opened", "assign"]
    assert found["900000000014"]["area"] == "Unknown"
    assert (found["900000000015"]["lat"], found["900000000015"]["long"]) == (None, None)  # City Hall point
    assert found["900000000016"]["category"] == "other"
    dst = found["900000000020"]  # 01:30 EST to 03:30 EDT on the night the clocks went forward: one hour
    assert dst["opened_at"] == "2015-03-08T06:30:00+00:00" and dst["resolved_at"] == "2015-03-08T07:30:00+00:00"

    live = store.snapshot()
    assert live.table("outbox").all() == []
    assert {t["status"] for t in live.table("tickets").all()} == {"assigned"}  # closed ones went to the archive
    officers = {o["officer_id"]: o for o in live.table("officers").all()}
    assert officers["pwdx-utility-call-in"]["active"] is False and officers["pwdx-utility-call-in"]["phone"] is None
    assert officers["pwdx-utility-call-in"]["name"] == "PWDx_Utility Call-In"
    assert "roads" in load_config(store.data_dir).categories
    assert found["900000000007"]["area"] == "Unknown"  # Atlantis: no area of Boston, the mapping's otherwise
    assert [r["imported"] for r in live.table("imports").all()] == [8]


def test_officers_map_to_existing_ones_or_are_refused_without_create(boston, tmp_path):
    config, store = boston
    from helpline_core.officers import add_officer

    categories = tmp_path / "categories.csv"  # a Boston district starts with no categories
    categories.write_text("name,sla_hours\nother,72\n", encoding="utf-8")
    config = init_district(store.data_dir, code="BOS", name="Boston", timezone="America/New_York", areas_csv=AREAS,
                           categories_csv=categories, force=True)
    with store.transaction() as db:
        add_officer(db, config, "dpw", name="Public Works desk", phone="+16175550100", areas=["Dorchester"],
                    categories=["other"], actor="setup", now=NOW)
    text = MAPPING.read_text(encoding="utf-8").replace(
        'create = true                               # each queue becomes an (inactive, phoneless) officer',
        'map = { dpw = ["PWDx_Utility Call-In"] }')
    assert "create = true" not in text
    result = do_import(boston, mapping=write_mapping(tmp_path, text))
    tickets = {t["external_id"]: t for t in all_tickets(store)}
    assert tickets["101001320322"]["officer"] == "dpw"
    assert result.reject_kinds["unknown officer"] == 5  # the rows of the INFO01 queue
    assert not result.officers_created


# CLI: the sample, re-import, dry run -----------------------------------------------------------


def test_sample_imports_once_and_a_second_import_adds_nothing(boston_cli, data_dir):
    run_cli = boston_cli
    out = run_cli(["import", str(SAMPLE), "--mapping", str(MAPPING)])
    lines = out.stdout.splitlines()
    assert lines[0] == "Imported 1,000 rows, rejected 0, of 1,000 in boston311_sample.csv."
    assert "874 closed or rejected went to the archive, 126 are live" in lines[1]
    assert "import: 1,000 of 1,000 rows checked" in out.stderr  # no terminal: plain progress lines
    # the README's report and stats of the sample, as a new user sees them
    report = run_cli(["report", "--from", "2015-03-01", "--to", "2015-04-30"]).stdout
    assert report.splitlines() == readme_output("helpline report --from 2015-03-01 --to 2015-04-30")
    assert run_cli(["stats"]).stdout.splitlines() == readme_output("helpline stats")
    before = file_bytes(data_dir)
    again = run_cli(["import", str(SAMPLE), "--mapping", str(MAPPING), "--rejects", str(data_dir.parent / "r.csv"),
                     "--json"], as_json=True)
    assert (again["imported"], again["rejected"], again["reject_reasons"]) == (0, 1000, {"already imported": 1000})
    after = file_bytes(data_dir)
    changed = {k for k in after if before.get(k) != after[k]}
    assert changed <= {"stats-cache.json"}  # the store itself is untouched
    rows = list(csv.reader(open(data_dir.parent / "r.csv", newline="", encoding="utf-8")))
    assert len(rows) == 1001 and rows[1][1].startswith("already imported as BOS-")
    listed = run_cli(["list", "--status", "all", "--json"], as_json=True)
    assert len(listed) == 1000 and len({t["id"] for t in listed}) == 1000
    assert run_cli(["db", "check"]).stdout.endswith("OK\n")


def test_dry_run_changes_nothing_and_can_still_list_the_rejects(boston_cli, data_dir, tmp_path):
    run_cli = boston_cli
    before = file_bytes(data_dir)
    out = run_cli(["import", str(EDGE), "--mapping", str(MAPPING), "--dry-run", "--rejects", str(tmp_path / "r.csv")])
    assert out.stdout.startswith("Dry run: would import 8 rows, reject 11, of 19 in boston_edge_cases.csv. "
                                 "Nothing was changed.\n")
    assert "would add 3 categories to config.toml (SLA hours from the mapping): roads, graffiti, other\n" in out.stdout
    assert file_bytes(data_dir) == before
    assert len(list(csv.reader(open(tmp_path / "r.csv", newline="", encoding="utf-8")))) == 12
    real = run_cli(["import", str(EDGE), "--mapping", str(MAPPING), "--json"], as_json=True)
    assert (real["imported"], real["rejected"]) == (8, 11)
    assert Path(real["rejects_file"]).parent == data_dir / "imports"


@pytest.mark.parametrize("args, code, message", [
    (["--mapping", "missing.toml"], 1, "Error: no mapping file missing.toml"),
    ([], 2, "Error: Missing option '--mapping'"),
])
def test_import_mistakes_are_one_line_errors(boston_cli, data_dir, args, code, message):
    before = file_bytes(data_dir)
    err = boston_cli(["import", str(EDGE), *args], expect=code).stderr
    assert err.startswith(message) and err.count("\n") == 1
    assert file_bytes(data_dir) == before


def test_a_file_without_a_mapped_column_is_refused(boston, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("CASE_ENQUIRY_ID,OPEN_DT\n1,03/01/2015 12:54:30 AM\n", encoding="utf-8")
    with pytest.raises(InvalidValue) as error:
        do_import(boston, path=bad)
    assert "has no column 'TARGET_DT'" in str(error.value)


# Failures midway ------------------------------------------------------------------------------


def _start_high(store, serial):
    with store.transaction() as db:
        db.table("meta").update({"serial": serial}, doc_ids=[1])


def test_an_error_midway_leaves_every_file_as_it_was(boston, monkeypatch):
    config, store = boston
    _start_high(store, 1995)  # the edge cases then span archive blocks 1 and 2
    do_import(boston, path=EDGE)
    assert store.archived_blocks() == [1, 2]
    before = file_bytes(store.data_dir)
    real_write = Store.write_block
    calls = []

    def failing(self, block, tickets):
        calls.append(block)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        return real_write(self, block, tickets)

    monkeypatch.setattr(Store, "write_block", failing)
    with pytest.raises(OSError):
        do_import(boston, path=SAMPLE)  # block 2 (existing) is rewritten, then block 3 fails
    assert calls[:2] == [2, 3]
    assert file_bytes(store.data_dir) == before


def test_an_error_in_the_live_write_undoes_the_archives(boston, monkeypatch):
    config, store = boston
    before = file_bytes(store.data_dir)
    from helpline_core import store as store_module

    real = store_module.atomic_write

    def failing(path, payload):
        if Path(path).name == "helpline.json":
            raise OSError(5, "Input/output error")
        return real(path, payload)

    monkeypatch.setattr(store_module, "atomic_write", failing)
    with pytest.raises(OSError):
        do_import(boston, path=SAMPLE)
    monkeypatch.setattr(store_module, "atomic_write", real)
    assert file_bytes(store.data_dir) == before


CRASH_WORKER = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from helpline_core import store as store_module
    data_dir, csv_path, mapping_path, where = sys.argv[1:5]
    real_write, real_unlink = store_module.atomic_write, os.unlink

    def write(path, payload):
        if where == "before-commit" and Path(path).name == "helpline.json":
            os._exit(9)  # a power cut: archives written, the live file not
        return real_write(path, payload)

    def unlink(path, *args, **kwargs):
        if where == "after-commit" and str(path).endswith(".journal.json"):
            os._exit(9)  # the live file written, the journal not yet removed
        return real_unlink(path, *args, **kwargs)

    store_module.atomic_write = write
    os.unlink = unlink
    from datetime import datetime, timezone
    from helpline_core.config import load_config
    from helpline_core.import_mapping import load_mapping
    from helpline_core.importer import import_csv
    from helpline_core.store import Store
    import_csv(Store(data_dir), load_config(data_dir), csv_path, load_mapping(mapping_path), actor="op",
               now=datetime(2026, 11, 30, 6, 0, tzinfo=timezone.utc))
""")


@pytest.mark.parametrize("where", ["before-commit", "after-commit"])
def test_a_crash_midway_is_undone_or_finished_by_the_next_import(boston_cli, data_dir, where):
    run_cli = boston_cli
    worker = subprocess.run([sys.executable, "-c", CRASH_WORKER, str(data_dir), str(SAMPLE), str(MAPPING), where],
                            capture_output=True, text=True, timeout=60)
    assert worker.returncode == 9, worker.stderr
    assert len(list(data_dir.glob("import-*.journal.json"))) == 1
    live = json.loads((data_dir / "helpline.json").read_text(encoding="utf-8"))
    if where == "before-commit":
        assert not live.get("tickets") and (data_dir / "archive" / "tickets-0001.json").exists()  # orphans
    out = run_cli(["import", str(SAMPLE), "--mapping", str(MAPPING), "--json"], as_json=True)
    if where == "before-commit":
        assert out["imported"] == 1000 and len(out["recovered_batches"]) == 1
    else:
        assert out["imported"] == 0 and out["rejected"] == 1000 and out["recovered_batches"] == []
    assert not list(data_dir.glob("import-*.journal.json"))
    tickets = run_cli(["list", "--status", "all", "--json"], as_json=True)
    assert len(tickets) == 1000
    archived = json.loads((data_dir / "archive" / "tickets-0001.json").read_text(encoding="utf-8"))["tickets"]
    batches = {t["import_batch"] for t in archived.values()}
    assert len(batches) == 1 and len(archived) == 874  # the crashed batch's orphans are gone
    assert run_cli(["db", "check"]).stdout.endswith("OK\n")



# Catch-all area, an import that imports nothing, progress -------------------------------------

EVERY50 = Path(__file__).resolve().parent / "fixtures" / "boston311_every50.csv"


def with_neighbourhoods(tmp_path, names):
    """The committed Boston rows, the first few moved to ``names`` (neighbourhoods outside the
    sample's list, as the full export has). :returns: (path, {external ID: neighbourhood})."""
    with open(EVERY50, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    column = rows[0].index("neighborhood")
    moved = {}
    for row, name in zip(rows[1:], names):
        row[column] = name
        moved[row[0]] = name
    path = tmp_path / "boston_more_neighbourhoods.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows)
    return path, moved


def test_the_boston_mapping_sends_a_neighbourhood_outside_the_list_to_unknown(boston, tmp_path):
    config, store = boston
    path, moved = with_neighbourhoods(tmp_path, ["Chinatown", "Harbor Islands", "Bay Village"])
    strict = do_import(boston, path=path, mapping=strict_mapping(tmp_path), dry_run=True)
    assert strict.reject_kinds == {"unknown area": 3}  # without otherwise they were refused
    assert "unknown area 'Chinatown'" in strict.rejects[0][1]
    result = do_import(boston, path=path)
    assert result.rejects == [] and result.imported == result.rows == 416
    found = {t["external_id"]: t for t in all_tickets(store)}
    assert {found[i]["area"] for i in moved} == {"Unknown"}
    kept = [t for i, t in found.items() if i not in moved and t["area"] != "Unknown"]
    assert kept and all(t["area"] in {a["name"] for a in config.areas} for t in kept)


def test_a_catch_all_area_the_district_lacks_is_refused_when_the_mapping_loads(boston_cli, data_dir, tmp_path):
    config, store = boston = load_config(data_dir), Store(data_dir)
    text = MAPPING.read_text(encoding="utf-8").replace('otherwise = "Unknown"', 'otherwise = "Elsewhere"')
    path = write_mapping(tmp_path, text, "elsewhere.toml")
    import_mapping.load_mapping(path)  # on its own the file is fine
    with pytest.raises(InvalidValue) as error:
        import_mapping.load_mapping(path, config)
    assert str(error.value) == (f"mapping {path}: [fields.area] otherwise = 'Elsewhere' is not an area of district "
                                f"BOS; add it to the district's areas (an area named 'Elsewhere') or change otherwise.")
    with pytest.raises(InvalidValue):
        do_import(boston, mapping=path)  # the function checks it too
    two = {"name": "Unknown", "alt_names": ["Elsewhere"]}, {"name": "Elsewhere", "alt_names": []}
    config.areas.extend(two)
    config.__dict__.pop("area_spellings", None)
    with pytest.raises(InvalidValue) as error:
        import_mapping.load_mapping(path, config)
    assert "otherwise = 'Elsewhere' names more than one area of district BOS (Elsewhere, Unknown)" in str(error.value)
    before = file_bytes(data_dir)
    err = boston_cli(["import", str(EDGE), "--mapping", str(path)], expect=1).stderr
    assert err.startswith(f"Error: mapping {path}: [fields.area] otherwise = 'Elsewhere'") and err.count("\n") == 1
    assert file_bytes(data_dir) == before


def test_an_import_that_rejects_every_row_exits_1_with_its_rejects_file(boston_cli, data_dir, tmp_path):
    run_cli = boston_cli
    path, _ = with_neighbourhoods(tmp_path, ["Atlantis"] * 416)
    strict = strict_mapping(tmp_path)
    result = run_cli(["import", str(path), "--mapping", str(strict)], expect=1)
    assert result.stdout.startswith("Imported 0 rows, rejected 416, of 416 in boston_more_neighbourhoods.csv.\n")
    rejects = next((data_dir / "imports").glob("boston_more_neighbourhoods-*-rejects.csv"))
    assert result.stderr.endswith(f"Error: no row of boston_more_neighbourhoods.csv was imported: all 416 were "
                                  f"rejected; see {rejects}.\n")
    assert len(list(csv.reader(open(rejects, newline="", encoding="utf-8")))) == 417
    assert run_cli(["list", "--status", "all", "--json"], as_json=True) == []
    dry = run_cli(["import", str(path), "--mapping", str(strict), "--dry-run", "--json"], expect=1)
    assert json.loads(dry.stdout)["rejected"] == 416 and "would be imported" in dry.stderr
    # a file imported before imports nothing again, and that is no failure
    run_cli(["import", str(EVERY50), "--mapping", str(MAPPING)])
    again = run_cli(["import", str(EVERY50), "--mapping", str(MAPPING), "--json"], as_json=True)
    assert again["imported"] == 0 and again["reject_reasons"] == {"already imported": 416}


def test_a_file_with_a_header_and_no_rows_exits_1(boston_cli, data_dir, tmp_path):
    header = EVERY50.read_text(encoding="utf-8").splitlines()[0]
    empty = tmp_path / "cut_off.csv"
    empty.write_text(header + "\n", encoding="utf-8")
    result = boston_cli(["import", str(empty), "--mapping", str(MAPPING)], expect=1)
    assert result.stderr == "Error: cut_off.csv has no rows under its header: nothing to import.\n"
    assert boston_cli(["list", "--status", "all", "--json"], as_json=True) == []


def test_without_a_terminal_the_progress_line_comes_every_5000_rows(run_cli, tmp_path):
    run_cli(["init", "--district-code", "SXR", "--district-name", "Srinagar"])
    mapping = write_mapping(tmp_path, """\
        [source]
        name = "generated"
        timezone = "Asia/Kolkata"
        [fields]
        external_id = "id"
        opened_at = "opened"
        area = "area"
        category = "category"
        """)
    rows = 12_345
    path = tmp_path / "generated.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "opened", "area", "category"])
        for n in range(rows):
            writer.writerow([f"G{n}", f"2026-11-{1 + n % 28:02d}T{n % 24:02d}:00:00", "Khanyar", "ration"])
    out = run_cli(["import", str(path), "--mapping", str(mapping), "--dry-run"])
    assert out.stdout.startswith(f"Dry run: would import {rows:,} rows, reject 0, of {rows:,} in generated.csv.")
    assert out.stderr.splitlines() == ["import: 5,000 of 12,345 rows checked", "import: 10,000 of 12,345 rows checked",
                                       "import: 12,345 of 12,345 rows checked"]


def test_a_value_naming_two_areas_of_an_older_config_is_rejected_not_guessed(boston, tmp_path):
    from helpline_core.config import write_config_text
    from helpline_core.district import read_areas_csv

    config, store = boston
    areas = read_areas_csv(AREAS) + [{"name": "Chinatown", "alt_names": ["China Town"]},
                                     {"name": "Leather District", "alt_names": ["China Town"]}]
    write_config_text(store.data_dir, render_config("BOS", "Boston", "America/New_York", DEFAULT_CATEGORIES, areas))
    path, moved = with_neighbourhoods(tmp_path, ["china  town", "Chinatown"])
    result = do_import(boston, path=path, dry_run=True)
    assert result.reject_kinds == {"ambiguous area": 1}
    assert result.rejects[0][1] == ("area 'china  town' names Chinatown and Leather District "
                                    "(map it in [fields.area.map])")
    assert result.imported == 415
