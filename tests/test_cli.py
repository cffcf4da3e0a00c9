"""End to end: the installed ``helpline`` as a subprocess, with its own data directory."""

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import file_bytes, on_terminal

TICKET_FIELDS = {"id", "status", "phone", "phone_type", "caller_name", "area", "category", "description", "language",
                 "officer", "opened_at", "due_at", "resolved_at", "closed_at", "overdue", "calls", "history"}


@pytest.fixture
def ready(run_cli):
    run_cli(["init", "--district-code", "SXR", "--district-name", "Srinagar"])
    run_cli(["officer", "add", "rafiq", "--name", "Rafiq Ahmad", "--phone", "09419000101", "--area", "Khanyar",
             "--area", "Eidgah", "--category", "ration", "--category", "medicine", "--lang", "ur"])
    run_cli(["officer", "add", "nusrat", "--name", "Nusrat Jan", "--phone", "9419000201", "--area", "Khanyar",
             "--category", "ration", "--role", "verifier"])
    return run_cli


def log(run_cli, *extra, phone="09876543210", area="Khanyar", category="ration"):
    return run_cli(["log", "--phone", phone, "--area", area, "--category", category, "--json", *extra], as_json=True)


def test_scenario_log_resolve_verify_in_three_languages(ready):
    run_cli = ready
    en = log(run_cli, "--name", "Mohammad Yousuf", "--description", "Father has fever")
    hi = log(run_cli, "--phone", "+91 98765 00002", "--lang", "hi", "--description", "दवा खत्म हो गई", category="medicine")
    ur = log(run_cli, "--phone", "0091 98765 00003", "--lang", "ur", "--name", "غلام نبی", "--description", "راشن ختم")
    assert TICKET_FIELDS <= set(en) and en["followup"] is False
    assert (en["id"], en["status"], en["officer"], en["phone"]) == ("SXR-10003", "assigned", "rafiq", "+919876543210")
    assert en["opened_at"].endswith("+05:30") and en["closed_at"] is None and en["calls"] == 1
    assert hi["description"] == "दवा खत्म हो गई" and hi["language"] == "hi"
    assert ur["caller_name"] == "غلام نبی"

    again = log(run_cli, "--phone", "98765 43210")
    assert again["followup"] is True and again["id"] == en["id"] and again["calls"] == 2

    out = run_cli(["resolve", "sxr 10003", "--note", "doctor visited"]).stdout
    assert out == "SXR-10003 resolved by rafiq; awaiting verification.\n"
    err = run_cli(["--as", "rafiq", "verify", "SXR10003", "--confirmed"], expect=1).stderr
    assert err == "Error: SXR-10003 was resolved by rafiq; someone else must verify it.\n"
    closed = run_cli(["--as", "nusrat", "verify", "10003", "--confirmed", "--json"], as_json=True)
    assert closed["status"] == "closed" and [e["type"] for e in closed["history"]] == \
        ["opened", "assign", "call", "resolve", "verify"]
    assert closed["history"][-1]["actor"] == "nusrat"

    shown = run_cli(["show", en["id"]]).stdout
    assert "SXR-10003  CLOSED" in shown and "verify      nusrat" in shown
    found = run_cli(["find", "9876543210", "--json"], as_json=True)
    assert [t["id"] for t in found] == ["SXR-10003"]
    listed = run_cli(["list", "--json"], as_json=True)
    assert {t["id"] for t in listed} == {hi["id"], ur["id"]}
    assert [t["id"] for t in run_cli(["list", "--status", "closed", "--json"], as_json=True)] == ["SXR-10003"]


def test_reopen_reject_note_unassign_assign(ready):
    run_cli = ready
    a = log(run_cli)
    b = log(run_cli, "--phone", "9876500002")
    run_cli(["resolve", a["id"], "--note", "done"])
    reopened = run_cli(["reopen", a["id"], "--note", "caller says no", "--json"], as_json=True)
    assert reopened["status"] == "assigned" and reopened["officer"] == "rafiq"
    run_cli(["note", a["id"], "son will collect"])
    run_cli(["unassign", a["id"]])
    assert run_cli(["assign", a["id"], "--json"], as_json=True)["officer"] == "rafiq"
    rejected = run_cli(["reject", b["id"], "--reason", "duplicate", "--duplicate-of", a["id"], "--json"], as_json=True)
    assert rejected["status"] == "rejected" and rejected["duplicate_of"] == a["id"]
    history = run_cli(["show", a["id"], "--json"], as_json=True)["history"]
    assert [e["type"] for e in history] == ["opened", "assign", "resolve", "reopen", "note", "unassign", "assign"]
    assert history[4]["note"] == "son will collect"


def test_list_filters_and_csv(ready):
    run_cli = ready
    a = log(run_cli, "--name", "=HYPERLINK(\"http://x\")")
    b = log(run_cli, "--phone", "9876500002", area="Eidgah", category="medicine")
    c = log(run_cli, "--phone", "9876500003", area="Hazratbal", category="doctor")  # nobody covers it
    ids = lambda *args: [t["id"] for t in run_cli(["list", "--json", *args], as_json=True)]
    assert ids() == [c["id"], b["id"], a["id"]]
    assert ids("--status", "open") == [c["id"]]
    assert ids("--area", "eidgah") == [b["id"]]
    assert ids("--category", "ration") == [a["id"]]
    assert ids("--officer", "rafiq") == [b["id"], a["id"]]
    assert ids("--phone", "09876500002") == [b["id"]]
    assert ids("--limit", "1") == [c["id"]]
    assert ids("--overdue") == []
    assert ids("--since", "2000-01-01", "--until", "2000-01-02") == []
    rows = list(csv.DictReader(io.StringIO(run_cli(["list", "--csv"]).stdout)))
    assert [r["id"] for r in rows] == [c["id"], b["id"], a["id"]]
    assert rows[2]["caller_name"] == "'=HYPERLINK(\"http://x\")" and rows[2]["phone"] == "'+919876543210"
    assert "history" not in rows[0]


def test_officers(ready):
    run_cli = ready
    listed = run_cli(["officer", "list", "--json"], as_json=True)
    assert [(o["officer_id"], o["role"], o["phone"]) for o in listed] == [
        ("nusrat", "verifier", "+919419000201"), ("rafiq", "officer", "+919419000101")]
    edited = run_cli(["officer", "edit", "rafiq", "--area", "Khanyar", "--lang", "hi", "--json"], as_json=True)
    assert edited["areas"] == ["Khanyar"] and edited["lang"] == "hi"
    t = log(run_cli)
    out = run_cli(["officer", "deactivate", "rafiq", "--reason", "transferred"]).stdout
    assert f"1 ticket is open again and needs an officer: {t['id']}" in out
    assert run_cli(["show", t["id"], "--json"], as_json=True)["status"] == "open"
    assert "deactivated" in run_cli(["officer", "show", "rafiq"]).stdout


BAD_INPUTS = [
    (["log", "--phone", "9876543210", "--area", "Khaniyar", "--category", "ration"], 1,
     "Error: unknown area 'Khaniyar'; did you mean 'Khanyar'?\n"),
    (["log", "--phone", "9876543210", "--area", "Khanyar", "--category", "food"], 1, "Error: unknown category 'food'"),
    (["log", "--phone", "98765", "--area", "Khanyar", "--category", "ration"], 2, "Error: Invalid value for '--phone'"),
    (["log", "--area", "Khanyar", "--category", "ration"], 2, "Error: Missing option '--phone'"),
    (["assign", "SXR-10003", "nobody"], 1, "Error: unknown officer 'nobody'"),
    (["show", "SXR-10504"], 1, "Error: no ticket SXR-10504.\n"),
    (["show", "SXR-10004"], 2, "Error: Invalid value for 'TICKET': 'SXR-10004' has a wrong check digit"),
    (["resolve", "SXR-10003"], 2, "Error: Missing option '--note'"),
    (["verify", "SXR-10003", "--confirmed"], 1, "Error: SXR-10003 is assigned; cannot verify it. Allowed now:"),
    (["reopen", "SXR-10003", "--note", "x"], 1, "Error: SXR-10003 is assigned; cannot reopen it."),
    (["init", "--district-code", "SXR", "--district-name", "Srinagar"], 1, "Error: "),
    (["officer", "add", "rafiq", "--name", "R", "--phone", "9419000101", "--area", "Khanyar", "--category", "ration"], 1,
     "Error: officer rafiq exists already"),
    (["list", "--status", "lost"], 2, "Error: Invalid value for '--status'"),
]


@pytest.mark.parametrize("args, code, message", BAD_INPUTS, ids=[" ".join(a[:2]) for a, _, _ in BAD_INPUTS])
def test_bad_input_is_one_line_and_changes_nothing(ready, data_dir, args, code, message):
    log(ready)
    before = file_bytes(data_dir)
    result = ready(args, expect=code)
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr
    assert file_bytes(data_dir) == before


def test_damaged_database_is_reported_and_left_alone(ready, data_dir):
    log(ready)
    db = data_dir / "helpline.json"
    damaged = db.read_bytes()[:-40]
    db.write_bytes(damaged)
    before = file_bytes(data_dir)
    for args in (["list"], ["show", "SXR-10003"], ["log", "--phone", "9876500009", "--area", "Khanyar", "--category", "ration"]):
        err = ready(args, expect=1).stderr
        assert err.startswith(f"Error: {db} is damaged") and err.count("\n") == 1
    err = ready(["db", "check"], expect=1)
    assert "PROBLEM" in err.stdout and err.stderr.startswith("Error: 1 problem found")
    assert file_bytes(data_dir) == before


def test_no_terminal_and_lang_c(ready):
    env = {"LANG": "C", "LC_ALL": "C", "PYTHONIOENCODING": ""}
    t = ready(["log", "--phone", "9876500005", "--area", "Khanyar", "--category", "ration", "--lang", "hi",
               "--description", "राशन नहीं मिला", "--json"], env=env, as_json=True)
    assert t["description"] == "राशन नहीं मिला"
    shown = ready(["show", t["id"]], env=env).stdout
    assert "राशन नहीं मिला" in shown


def test_prompts_on_a_terminal(ready, data_dir):
    """With a terminal on stdin, missing fields are asked for, and a bad answer is asked again."""
    code, text = on_terminal(data_dir, ["log", "--category", "ration"],
                             ["123", "9876500011", "Khaniyar", "Khanyar", "", "", "no ration"])  # Enter: en, no name
    assert code == 0, text
    assert "too short" in text and "did you mean 'Khanyar'" in text and "Ticket SXR-" in text


def test_db_check_and_backup(ready, data_dir, tmp_path):
    log(ready)
    assert ready(["db", "check"]).stdout.endswith("OK\n")
    out = ready(["db", "backup", "--to", str(tmp_path / "bk")]).stdout
    folder = Path(out.strip().split(" to ")[-1])
    assert (folder / "helpline.json").read_bytes() == (data_dir / "helpline.json").read_bytes()
    assert (folder / "config.toml").exists() and oct(folder.stat().st_mode & 0o777) == "0o700"


def test_demo_and_info(run_cli, tmp_path):
    out = run_cli(["demo", "--keep-in", str(tmp_path / "demo")]).stdout
    assert "Demo district SXR" in out and str(tmp_path / "demo") in out
    info = run_cli(["info", "--json"], env={"HELPLINE_DATA_DIR": str(tmp_path / "demo")}, as_json=True)
    assert info["district"] == "SXR" and info["officers"] == 8 and sum(info["live_tickets"].values()) == 34
    listed = run_cli(["list", "--status", "all", "--json"], env={"HELPLINE_DATA_DIR": str(tmp_path / "demo")},
                     as_json=True)
    assert {t["language"] for t in listed} == {"en", "hi", "ur"}
    assert {t["status"] for t in listed} == {"assigned", "resolved", "closed", "rejected"}


def test_checkout_entry_point_works():
    root = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, str(root / "helpline.py"), "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "log" in result.stdout


def test_no_district_yet(run_cli):
    err = run_cli(["list"], expect=1).stderr
    assert err.startswith("Error: no district in ") and "helpline init" in err
