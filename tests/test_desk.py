"""The desk verbs of a shift: officer activate, verify --not-reached and --from-list, log with no
number and its questions at a terminal; core functions first, then the installed CLI."""

import csv
import io
from datetime import date, timedelta

import pytest

from conftest import NOW, file_bytes, on_terminal
from helpline_core import officers, tickets
from helpline_core.errors import ConfigError, InvalidValue, TransitionError
from helpline_core.job_tasks import digest_task
from helpline_core.verification import build_verification_list, max_attempts, write_verification_list
from helpline_core.verification_results import load_results, parse_outcome


def act(store, fn, *args, **kwargs):
    with store.transaction() as db:
        return fn(db, *args, **kwargs)


def log(store, config, now=NOW, **fields):
    args = dict(phone="9876543210", area="Khanyar", category="ration", actor="op")
    args.update(fields)
    with store.transaction() as db:
        return tickets.log_call(db, config, store, now=now, **args)[0]


def resolved(store, config, phone="9876543210", now=NOW, **fields):
    ticket = log(store, config, phone=phone, now=now, **fields)
    return act(store, tickets.resolve, config, ticket["id"], note="kit delivered", actor="op", now=now)


# officer activate ---------------------------------------------------------------------------


def test_activate_brings_a_deactivated_officer_back_with_history(district):
    config, store = district
    act(store, officers.deactivate_officer, config, "tariq", actor="op", now=NOW, reason="transfer")
    officer = act(store, officers.activate_officer, config, "tariq", actor="op", now=NOW, note="back")
    assert officer["active"] is True
    assert officer["history"][-1] == {"type": "activated", "at": NOW.isoformat(), "actor": "op", "note": "back",
                                      "changes": {"active": [False, True]}}
    assert log(store, config, area="Hazratbal", category="other")["officer"] == "tariq"
    with pytest.raises(InvalidValue, match="tariq is already active"):
        act(store, officers.activate_officer, config, "tariq", actor="op", now=NOW)


def test_activating_an_officer_without_phone_or_areas_says_what_is_missing(district):
    config, store = district
    with store.transaction() as db:  # what an import creates for an unknown queue
        db.table("officers").insert({"officer_id": "pwd", "name": "PWD queue", "phone": None, "phone_type": "unknown",
                                     "areas": [], "categories": [], "role": "officer", "lang": "en",
                                     "active": False, "history": []})
    before = file_bytes(store.data_dir)
    with pytest.raises(InvalidValue) as error:
        act(store, officers.activate_officer, config, "pwd", actor="op", now=NOW)
    assert str(error.value) == ("officer pwd lacks a phone, areas and categories; give them with the activation: "
                                "helpline officer activate pwd --phone NUMBER --area AREA --category CATEGORY")
    with pytest.raises(InvalidValue, match="lacks categories;"):
        act(store, officers.activate_officer, config, "pwd", actor="op", now=NOW, phone="9419000500",
            areas=["Khanyar"])
    assert file_bytes(store.data_dir) == before
    officer = act(store, officers.activate_officer, config, "pwd", actor="op", now=NOW, phone="9419000500",
                  areas=["Khanyar"], categories=["other"])
    assert officer["active"] and officer["phone"] == "+919419000500"
    assert officer["history"][-1]["changes"]["areas"] == [[], ["Khanyar"]]


def test_update_officer_active_and_inactive(district):
    config, store = district
    ticket = log(store, config, area="Hazratbal", category="other")
    officer, returned = act(store, officers.update_officer, config, "tariq", active=False, lang="hi", actor="op",
                            now=NOW, note="leave")
    assert not officer["active"] and officer["lang"] == "hi" and returned == [ticket["id"]]
    assert [e["type"] for e in officer["history"]][-2:] == ["edited", "deactivated"]
    officer, returned = act(store, officers.update_officer, config, "tariq", active=True, actor="op", now=NOW)
    assert officer["active"] and returned == []
    with pytest.raises(InvalidValue, match="already active"):
        act(store, officers.update_officer, config, "tariq", active=True, actor="op", now=NOW)


# verify --not-reached -----------------------------------------------------------------------


def test_not_reached_keeps_the_ticket_resolved_and_counts_per_resolution(district):
    config, store = district
    ticket = resolved(store, config)
    for n in (1, 2):
        ticket = act(store, tickets.verification_not_reached, config, ticket["id"], actor="nusrat",
                     now=NOW + timedelta(hours=n), note="switched off")
        assert ticket["status"] == "resolved" and tickets.not_reached_count(ticket) == n
    assert ticket["history"][-1]["type"] == "not_reached" and ticket["history"][-1]["note"] == "switched off"
    with pytest.raises(TransitionError, match="resolved by meena; someone else"):
        act(store, tickets.verification_not_reached, config, ticket["id"], actor="meena", now=NOW)
    # not solved: back to the officer; resolved again, the count starts over
    act(store, tickets.verify, config, ticket["id"], confirmed=False, actor="nusrat", now=NOW)
    again = act(store, tickets.resolve, config, ticket["id"], note="second kit", actor="op", now=NOW)
    assert tickets.not_reached_count(again) == 0
    listing = build_verification_list(store.snapshot(), config, date(2026, 11, 30))
    assert listing["groups"][0]["rows"][0]["not_reached"] == ""


def test_max_attempts_sends_the_ticket_to_the_supervisors_digest(district):
    config, store = district
    with store.transaction() as db:
        officers.add_officer(db, config, "sana", name="Sana Shah", phone="9419000400", areas=["Khanyar"],
                             categories=["ration"], role="supervisor", lang="en", actor="setup", now=NOW)
    ticket = resolved(store, config)
    other = resolved(store, config, phone="9876500002")
    for n in range(3):
        act(store, tickets.verification_not_reached, config, ticket["id"], actor="nusrat", now=NOW)
    act(store, tickets.verification_not_reached, config, other["id"], actor="nusrat", now=NOW)
    assert max_attempts(config) == 3
    listing = build_verification_list(store.snapshot(), config, date(2026, 11, 30))
    rows = {r["ticket_id"]: r for g in listing["groups"] for r in g["rows"]}
    assert rows[ticket["id"]]["not_reached"] == "3" and rows[other["id"]]["not_reached"] == "1"  # kept on the list
    digest_task(store, config, now=NOW + timedelta(days=1), day=date(2026, 12, 1))
    queued = {d["officer_id"]: d for d in store.snapshot().table("outbox").all() if d["template"] == "officer_digest"}
    assert queued["sana"]["context"]["unreached_count"] == 1
    from helpline_core.sms_templates import render

    body = render("officer_digest", "en", queued["sana"]["context"])[0]
    assert body.endswith(" Callers not reached for verification: 1.")
    assert all(d["context"]["unreached_count"] == 0 for officer_id, d in queued.items() if officer_id != "sana")


def test_max_attempts_is_configurable_and_checked(district):
    config, store = district
    config.raw["verification"] = {"max_attempts": 1}
    assert max_attempts(config) == 1
    config.raw["verification"] = {"max_attempts": 0}
    with pytest.raises(ConfigError, match="verification.max_attempts = 0"):
        max_attempts(config)


# verify --from-list -------------------------------------------------------------------------


def night_list(store, config, day=date(2026, 11, 30)):
    """:returns: the rows of the written list (a list of dicts) and its path."""
    csv_path, _ = write_verification_list(store.data_dir, build_verification_list(store.snapshot(), config, day))
    return list(csv.DictReader(io.StringIO(csv_path.read_text(encoding="utf-8")))), csv_path


def write_rows(path, rows, fields=None):
    fields = fields or list(rows[0])
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_parse_outcome_is_forgiving_but_strict():
    assert [parse_outcome(w) for w in ("Confirmed", " yes ", "NOT-SOLVED", "not_reached", "nr", "")] == \
        ["confirmed", "confirmed", "not solved", "not reached", "not reached", None]
    with pytest.raises(InvalidValue, match="unknown outcome 'maybe': write confirmed, not solved or not reached"):
        parse_outcome("maybe")


def test_load_a_filled_in_list(district, tmp_path):
    config, store = district
    made = [resolved(store, config, phone=f"98765000{n:02d}") for n in range(5)]
    rows, _ = night_list(store, config)
    assert [r["ticket_id"] for r in rows] == [t["id"] for t in made] and {r["verifier"] for r in rows} == {"nusrat"}
    outcomes = ["confirmed", "Not solved", "not reached", "", "perhaps"]
    for row, outcome in zip(rows, outcomes):
        row["outcome"] = outcome
    rows[0]["verifier_note"] = "caller thanked"
    path = write_rows(tmp_path / "2026-11-30.csv", rows)

    before = file_bytes(store.data_dir)
    dry = load_results(store, config, path, actor="op", now=NOW, dry_run=True)
    assert file_bytes(store.data_dir) == before
    result = load_results(store, config, path, actor="op", now=NOW)
    for r in (dry, result):
        assert r.counts == {"confirmed": 1, "not solved": 1, "not reached": 1} and r.blank == 1
        assert [(n, reason) for n, reason, _ in r.rejects] == [
            (6, "unknown outcome 'perhaps': write confirmed, not solved or not reached")]
    db = store.snapshot()
    status = {t["id"]: t for t in db.table("tickets").all()}
    closed = status[made[0]["id"]]
    assert closed["status"] == "closed"
    assert closed["history"][-1]["actor"] == "nusrat"
    assert closed["history"][-1]["note"] == "caller thanked" and closed["history"][-1]["from_list"] == "2026-11-30"
    assert closed["history"][-1]["recorded_by"] == "op"
    assert status[made[1]["id"]]["status"] == "assigned"
    assert tickets.not_reached_count(status[made[2]["id"]]) == 1 and status[made[3]["id"]]["status"] == "resolved"

    # loading the same list again records nothing twice
    again = load_results(store, config, path, actor="op", now=NOW)
    assert sum(again.counts.values()) == 0
    reasons = [reason for _, reason, _ in again.rejects]
    assert f"{made[2]['id']} was recorded from the list of 2026-11-30 already" in reasons
    assert tickets.not_reached_count(store.snapshot().table("tickets").get(doc_id=made[2]["serial"])) == 1


def test_list_rows_name_their_verifier_who_must_not_be_the_resolver(district, tmp_path):
    config, store = district
    a = resolved(store, config, phone="9876500001")
    b = resolved(store, config, phone="9876500002")
    c = resolved(store, config, phone="9876500003")
    rows = [{"verifier": "meena", "ticket_id": a["id"], "outcome": "confirmed"},        # meena resolved it
            {"verifier": "(unassigned)", "ticket_id": b["id"], "outcome": "confirmed"},
            {"verifier": "nobody", "ticket_id": c["id"], "outcome": "confirmed"},
            {"verifier": "nusrat", "ticket_id": "SXR-10004", "outcome": "confirmed"},   # wrong check digit
            {"verifier": "tariq", "ticket_id": c["id"].lower(), "outcome": "yes"}]
    path = write_rows(tmp_path / "filled.csv", rows)
    result = load_results(store, config, path, actor="op", now=NOW)
    assert result.counts["confirmed"] == 1 and result.list_key == "filled.csv"
    reasons = [reason for _, reason, _ in result.rejects]
    assert reasons[0] == f"{a['id']} was resolved by meena; someone else must verify it"
    assert reasons[1].startswith("no verifier on this row")
    assert reasons[2].startswith("unknown officer 'nobody'")
    assert "check digit" in reasons[3]
    assert store.snapshot().table("tickets").get(doc_id=c["serial"])["history"][-1]["actor"] == "tariq"


def test_a_list_without_its_columns_is_refused(district, tmp_path):
    config, store = district
    path = tmp_path / "x.csv"
    path.write_text("ticket,who\nSXR-10003,nusrat\n", encoding="utf-8")
    with pytest.raises(InvalidValue, match="has no verifier, outcome column"):
        load_results(store, config, path, actor="op", now=NOW)


# log --no-phone and the follow-up area --------------------------------------------------------


def test_a_call_with_no_number_is_never_texted_or_matched(district):
    config, store = district
    first = log(store, config, phone=None)
    second = log(store, config, phone=None)
    assert first["id"] != second["id"] and second["calls"] == 1
    assert first["phone"] is None and first["history"][0]["note"] == "no caller number: never texted"
    outbox = store.snapshot().table("outbox").all()
    assert {d["audience"] for d in outbox if d["ticket_id"] == first["id"]} == {"officer"}
    with store.transaction() as db:
        assert tickets.followup_target(db, config, None, "ration") is None
    found = tickets.select(store.snapshot(), store, config, NOW)
    assert {t["id"] for t in found} == {first["id"], second["id"]}


def test_a_followup_from_another_area_keeps_the_tickets_area_and_says_so(district):
    config, store = district
    ticket = log(store, config, description="ration for five")
    with store.transaction() as db:
        assert tickets.followup_target(db, config, "09876543210", "ration")["id"] == ticket["id"]
    again = log(store, config, area="Eidgah", description="still nothing")
    assert again["id"] == ticket["id"] and again["area"] == "Khanyar" and again["calls"] == 2
    assert again["history"][-1]["note"] == "caller gave area Eidgah (ticket is for Khanyar); still nothing"


# the installed CLI ------------------------------------------------------------------------------


@pytest.fixture
def ready(run_cli):
    run_cli(["init", "--district-code", "SXR", "--district-name", "Srinagar"])
    run_cli(["officer", "add", "rafiq", "--name", "Rafiq Ahmad", "--phone", "09419000101", "--area", "Khanyar",
             "--area", "Eidgah", "--category", "ration", "--lang", "ur"])
    run_cli(["officer", "add", "nusrat", "--name", "Nusrat Jan", "--phone", "9419000201", "--area", "Khanyar",
             "--category", "ration", "--role", "verifier"])
    return run_cli


def cli_log(run_cli, *extra, phone="09876543210", area="Khanyar"):
    args = ["log", "--phone", phone] if phone else ["log"]
    return run_cli([*args, "--area", area, "--category", "ration", "--json", *extra], as_json=True)


def test_cli_officer_activate_and_edit(ready, data_dir):
    run_cli = ready
    run_cli(["officer", "deactivate", "rafiq", "--reason", "transferred"])
    out = run_cli(["officer", "activate", "rafiq", "--note", "back"]).stdout
    assert out == "Officer rafiq is active again.\n"
    assert run_cli(["officer", "show", "rafiq", "--json"], as_json=True)["active"] is True
    assert "activated by op  back" in run_cli(["officer", "show", "rafiq"]).stdout
    before = file_bytes(data_dir)
    err = run_cli(["officer", "activate", "rafiq"], expect=1).stderr
    assert err == "Error: officer rafiq is already active.\n" and file_bytes(data_dir) == before
    t = cli_log(run_cli)
    out = run_cli(["officer", "edit", "rafiq", "--inactive", "--note", "leave"]).stdout
    assert out == (f"Officer rafiq updated and deactivated.\n1 ticket is open again and needs an officer: {t['id']}\n"
                   "Reassign each with: helpline assign TICKET [OFFICER]\n")
    edited = run_cli(["officer", "edit", "rafiq", "--active", "--json"], as_json=True)
    assert edited["active"] is True and edited["returned_tickets"] == []


def test_cli_verify_not_reached(ready):
    run_cli = ready
    t = cli_log(run_cli)
    run_cli(["resolve", t["id"], "--note", "delivered"])
    out = run_cli(["--as", "nusrat", "verify", t["id"], "--not-reached", "--note", "no answer"]).stdout
    assert out == f"{t['id']} stays on the verification list (caller not reached 1 of 3 times).\n"
    run_cli(["--as", "nusrat", "verify", t["id"], "--not-reached"])
    third = run_cli(["--as", "nusrat", "verify", t["id"], "--not-reached"]).stdout
    assert third.endswith("(caller not reached 3 of 3 times).\n  the supervisor's morning digest lists it from now on\n")
    shown = run_cli(["show", t["id"], "--json"], as_json=True)
    assert shown["status"] == "resolved" and shown["not_reached"] == 3
    err = run_cli(["verify", t["id"], "--confirmed", "--not-reached"], expect=2).stderr
    assert err.startswith("Error: say one of --confirmed, --not-solved or --not-reached.")


def test_cli_verify_from_list(ready, data_dir, tmp_path):
    run_cli = ready
    a = cli_log(run_cli)
    b = cli_log(run_cli, phone="9876500002")
    for t in (a, b):
        run_cli(["resolve", t["id"], "--note", "delivered"])
    run_cli(["jobs", "verification-list"])  # today's list: the tickets were resolved just now
    path = sorted((data_dir / "verification").glob("*.csv"))[-1]
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    assert {r["ticket_id"] for r in rows} == {a["id"], b["id"]}
    for row in rows:
        row["outcome"] = "confirmed" if row["ticket_id"] == a["id"] else "maybe"
    filled = write_rows(tmp_path / path.name, rows)
    before = file_bytes(data_dir)
    out = run_cli(["verify", "--from-list", str(filled), "--dry-run"]).stdout
    assert out.startswith(f"Dry run: would record confirmed 1 (closed), not solved 0 (reopened), not reached 0, "
                          f"no outcome 0, rejected 1, of 2 rows in {path.name}. Nothing was changed.\n")
    assert file_bytes(data_dir) == before
    rejects = tmp_path / "rejects.csv"
    result = run_cli(["verify", "--from-list", str(filled), "--rejects", str(rejects), "--json"], as_json=True)
    assert (result["confirmed"], result["rejected"], result["rejects_file"]) == (1, 1, str(rejects))
    assert run_cli(["show", a["id"], "--json"], as_json=True)["status"] == "closed"
    back = list(csv.DictReader(io.StringIO(rejects.read_text(encoding="utf-8"))))
    assert back[0]["rejected_row"] == "3" and back[0]["rejected_reason"].startswith("unknown outcome 'maybe'")
    assert back[0]["ticket_id"] == b["id"]
    back[0]["outcome"] = "not reached"  # fixed in the spreadsheet and loaded again
    write_rows(rejects, back)
    out = run_cli(["verify", "--from-list", str(rejects)]).stdout
    assert "not reached 1" in out and "rejected 0" in out
    err = run_cli(["verify", a["id"], "--from-list", str(filled)], expect=2).stderr
    assert err.startswith("Error: --from-list takes the outcomes from the file")
    err = run_cli(["verify", "--from-list", str(tmp_path / "none.csv")], expect=1).stderr
    assert err.startswith("Error: cannot read ") and err.count("\n") == 1


def test_cli_verify_from_list_by_its_name(ready, data_dir):
    """As the README shows it, ``verify --from-list 2026-11-30.csv``: the list's own name (or
    ``verification/NAME``) is found in the data directory, whatever the current folder."""
    run_cli = ready
    t = cli_log(run_cli)
    run_cli(["resolve", t["id"], "--note", "delivered"])
    run_cli(["jobs", "verification-list"])
    path = sorted((data_dir / "verification").glob("*.csv"))[-1]
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    rows[0]["outcome"] = "confirmed"
    write_rows(path, rows)  # filled in and saved over the list, as a spreadsheet does
    out = run_cli(["verify", "--from-list", f"verification/{path.name}", "--dry-run"]).stdout
    assert out.startswith("Dry run: would record confirmed 1 (closed),")
    out = run_cli(["verify", "--from-list", path.name]).stdout
    assert out.startswith("Recorded confirmed 1 (closed),") and out.rstrip().endswith(f"in {path.name}.")
    assert run_cli(["show", t["id"], "--json"], as_json=True)["status"] == "closed"
    before = file_bytes(data_dir)
    err = run_cli(["verify", "--from-list", "1999-01-01.csv"], expect=1).stderr
    assert err == f"Error: cannot read 1999-01-01.csv: no such file here nor in {data_dir / 'verification'}.\n"
    assert file_bytes(data_dir) == before


def test_cli_log_no_phone(ready):
    run_cli = ready
    t = cli_log(run_cli, "--no-phone", phone=None)
    assert t["phone"] is None and t["followup"] is False and t["messages"] == [
        {"key": f"{t['id']}:officer_assigned:1:+919419000101", "state": "queued"}]
    out = run_cli(["log", "--no-phone", "--area", "Khanyar", "--category", "ration"]).stdout
    assert "  no phone number: the caller will get no SMS\n  read the ticket ID out twice" in out
    listed = run_cli(["list", "--csv"]).stdout
    assert len(listed.splitlines()) == 3 and ",unknown," in listed
    assert "caller       -, no number: never texted, language en" in run_cli(["show", t["id"]]).stdout
    err = run_cli(["log", "--no-phone", "--phone", "9876543210", "--area", "Khanyar", "--category", "ration"],
                  expect=2).stderr
    assert err.startswith("Error: give either --phone or --no-phone, not both.")
    run_cli(["export", "--format", "csv"])
    run_cli(["report", "--format", "json"])


def test_cli_followup_from_another_area_without_a_terminal_is_a_note(ready):
    run_cli = ready
    t = cli_log(run_cli)
    out = run_cli(["log", "--phone", "09876543210", "--area", "Eidgah", "--category", "ration"]).stdout
    assert out.startswith(f"Follow-up call added to ticket {t['id']} (assigned, call 2).\n"
                          f"  note: the caller gave area Eidgah; {t['id']} stays in Khanyar "
                          f"(for a separate ticket, log the call again with --new)\n")


def test_log_at_a_terminal_asks_the_language_and_about_another_area(ready, data_dir):
    run_cli = ready
    code, text = on_terminal(data_dir, ["log", "--area", "Khanyar", "--category", "ration"],
                             ["09876543210", "fr", "ur", "Ghulam Nabi", "", "no ration for a week"])
    assert code == 0, text
    assert "Language (en, hi, ur) [en]:" in text and "language 'fr' is not offered" in text
    first = run_cli(["list", "--json"], as_json=True)[0]
    assert first["language"] == "ur"
    shown = run_cli(["show", first["id"], "--json"], as_json=True)
    assert shown["caller_name"] == "Ghulam Nabi" and shown["description"] == "no ration for a week"
    assert "Caller's name (Enter: not given):" in text and text.count("What the caller needs:") == 2  # blank: asked again
    # the same caller, another area: asked; "n" opens a new ticket
    code, text = on_terminal(data_dir, ["log", "--phone", "09876543210", "--area", "Eidgah", "--category", "ration"],
                             ["n", "", "", "flour for a neighbour"])
    assert code == 0, text
    assert f"{first['id']} is open for this caller in Khanyar, this call says Eidgah. Add the call to {first['id']}?" \
        in text
    assert "Ticket SXR-" in text
    second = run_cli(["list", "--json"], as_json=True)[0]
    assert second["id"] != first["id"] and second["area"] == "Eidgah" and second["language"] == "en"
    # answered yes: a follow-up, and no language asked (the ticket has one)
    code, text = on_terminal(data_dir, ["log", "--phone", "09876500077", "--area", "Khanyar", "--category", "ration",
                                        "--lang", "hi"], ["", "rice"])
    code, text = on_terminal(data_dir, ["log", "--phone", "09876500077", "--area", "Eidgah", "--category", "ration"],
                             ["y", "still no rice"])
    assert code == 0, text
    assert "Follow-up call added" in text and "Language" not in text
    # a withheld number at the phone prompt
    code, text = on_terminal(data_dir, ["log", "--area", "Khanyar", "--category", "ration", "--lang", "en"],
                             ["-", "", "fever"])
    assert code == 0, text
    assert "no phone number: the caller will get no SMS" in text


# undo -------------------------------------------------------------------------------------------


def test_undo_takes_back_the_operators_last_change_from_its_changes(district):
    from helpline_core.undo import undo_last

    config, store = district
    ticket = log(store, config)
    act(store, tickets.resolve, config, ticket["id"], note="kit delivered", actor="op", now=NOW)
    later = NOW + timedelta(minutes=5)
    undone, event, sent = act(store, undo_last, config, "op", later)
    assert event["type"] == "resolve" and sent == []
    assert (undone["status"], undone["resolved_at"], undone["resolved_by"]) == ("assigned", None, None)
    last = undone["history"][-1]
    assert (last["type"], last["actor"], last["undoes"], last["note"]) == ("undo", "op", 2,
                                                                          "undoes resolve of 2026-11-30 11:30")
    assert last["changes"] == {"status": ["resolved", "assigned"], "resolved_at": [NOW.isoformat(), None],
                               "resolved_by": ["meena", None]}
    with pytest.raises(TransitionError, match="an undo cannot be undone"):
        act(store, undo_last, config, "op", later)


@pytest.mark.parametrize("steps, field, value", [
    (["assign tariq"], "officer", "meena"),
    (["unassign"], "officer", "meena"),
    (["resolve", "reopen"], "status", "resolved"),
    (["reject"], "status", "assigned"),
    (["resolve", "verify"], "status", "resolved"),
    (["resolve", "not_reached"], "not_reached", 0),
    (["note"], "calls", 1),
])
def test_each_undoable_change(district, steps, field, value):
    from helpline_core.undo import undo_last

    config, store = district
    ticket = log(store, config)
    tid = ticket["id"]
    for step in steps:
        do = {"assign tariq": lambda db: tickets.assign(db, config, tid, "tariq", actor="op", now=NOW),
              "unassign": lambda db: tickets.unassign(db, config, tid, actor="op", now=NOW),
              "resolve": lambda db: tickets.resolve(db, config, tid, note="done", actor="op", now=NOW),
              "reopen": lambda db: tickets.reopen(db, config, tid, note="no", actor="op", now=NOW),
              "reject": lambda db: tickets.reject(db, config, store, tid, reason="prank", actor="op", now=NOW),
              "verify": lambda db: tickets.verify(db, config, tid, confirmed=True, actor="op", now=NOW, by="nusrat"),
              "not_reached": lambda db: tickets.verification_not_reached(db, config, tid, actor="op", now=NOW),
              "note": lambda db: tickets.add_note(db, config, tid, "son will come", actor="op", now=NOW)}[step]
        with store.transaction() as db:
            do(db)
    undone, event, _ = act(store, undo_last, config, "op", NOW + timedelta(minutes=1))
    assert event["type"] == steps[-1].split()[0]
    got = tickets.not_reached_count(undone) if field == "not_reached" else undone[field]
    assert got == value


def test_undo_is_refused_when_someone_changed_the_ticket_since_or_for_a_log(district):
    from helpline_core.undo import last_change, undo_last

    config, store = district
    ticket = log(store, config)
    with pytest.raises(TransitionError, match="a logged call cannot be undone"):
        act(store, undo_last, config, "op", NOW)  # the routed assign is part of the log
    act(store, tickets.resolve, config, ticket["id"], note="done", actor="op", now=NOW)
    act(store, tickets.add_note, config, ticket["id"], "checked", actor="asha", now=NOW + timedelta(minutes=1))
    before = file_bytes(store.data_dir)
    with pytest.raises(TransitionError, match=r"asha changed the ticket since \(note at 2026-11-30 11:31\)"):
        act(store, undo_last, config, "op", NOW + timedelta(minutes=2))
    assert file_bytes(store.data_dir) == before
    assert last_change(store.snapshot(), config, "asha")[2]["type"] == "note"
    with pytest.raises(Exception, match="nobody made no change|made no change"):
        last_change(store.snapshot(), config, "nobody")


def test_cli_undo(ready, data_dir):
    run_cli = ready
    t = cli_log(run_cli)
    run_cli(["resolve", t["id"], "--note", "delivered"])
    before = file_bytes(data_dir)
    err = run_cli(["undo"], expect=2).stderr
    assert err.startswith(f"Error: no terminal to confirm on: add --yes to undo the resolve of {t['id']} at ")
    assert file_bytes(data_dir) == before
    out = run_cli(["undo", "--yes"]).stdout
    assert out.startswith(f"Undone: the resolve of {t['id']} at ") and out.endswith(f"{t['id']} is assigned (rafiq).\n")
    shown = run_cli(["show", t["id"], "--json"], as_json=True)
    assert shown["status"] == "assigned" and shown["history"][-1]["type"] == "undo"
    run_cli(["--as", "asha", "note", t["id"], "called the officer"])
    run_cli(["--as", "asha", "undo", t["id"], "--yes", "--json"], as_json=True)
    err = run_cli(["undo", "--yes"], expect=1).stderr
    assert err.startswith(f"Error: your last change is the undo of {t['id']}")


def test_cli_undo_asks_at_a_terminal(ready, data_dir):
    run_cli = ready
    t = cli_log(run_cli)
    run_cli(["resolve", t["id"], "--note", "delivered"])
    code, text = on_terminal(data_dir, ["undo"], ["n"])
    assert code == 0 and f"Undo the resolve of {t['id']}" in text and "Nothing was changed." in text
    assert run_cli(["show", t["id"], "--json"], as_json=True)["status"] == "resolved"
    code, text = on_terminal(data_dir, ["undo"], ["y"])
    assert code == 0 and "Undone: the resolve" in text
    assert run_cli(["show", t["id"], "--json"], as_json=True)["status"] == "assigned"


# handover ---------------------------------------------------------------------------------------


def test_handover_gathers_the_shift_since_the_last_one(district):
    from helpline_core.handover import build_handover, record_handover
    from helpline_core.job_tasks import escalate_task
    from helpline_core.jobs import job_settings
    from helpline_core.outbox import queue_message

    config, store = district
    old = log(store, config, phone="9876500001", now=NOW - timedelta(days=3))  # before the shift, overdue now
    waiting = resolved(store, config, phone="9876500002", now=NOW - timedelta(days=2))
    act(store, tickets.verification_not_reached, config, waiting["id"], actor="nusrat", now=NOW - timedelta(days=1))
    with store.transaction() as db:
        record_handover(db, "asha", NOW - timedelta(hours=8), NOW - timedelta(hours=20))
    new = log(store, config, phone="9876500003", now=NOW - timedelta(hours=1))
    escalate_task(store, config, now=NOW - timedelta(minutes=30), settings=job_settings(config))
    with store.transaction() as db:
        queue_message(db, NOW, key="test:held", recipient="+919876500009", audience="caller", template="test",
                      lang="en", context={"district": "Srinagar"})
        db.table("outbox").update({"state": "held"}, doc_ids=[d.doc_id for d in db.table("outbox").all()
                                                               if d["key"] == "test:held"])
        db.table("jobs").insert({"job": "digest", "slots": {
            "2026-11-30": {"state": "failed", "finished_at": (NOW - timedelta(hours=3)).isoformat(),
                           "error": "OSError: disk full"},
            "2026-11-27": {"state": "failed", "finished_at": (NOW - timedelta(days=3)).isoformat(), "error": "old"}}})
    summary = build_handover(store, config, NOW)
    assert summary["since_source"] == "last handover" and summary["since"] == (NOW - timedelta(hours=8)).isoformat()
    assert [t["id"] for t in summary["new"]] == [new["id"]]
    assert [e["id"] for e in summary["escalations"]] == [old["id"]]
    assert [(t["id"], t["not_reached"]) for t in summary["awaiting_verification"]] == [(waiting["id"], 1)]
    assert [m["key"] for m in summary["texts_held"]] == ["test:held"]
    assert [(j["job"], j["error"]) for j in summary["jobs_failed"]] == [("digest", "OSError: disk full")]
    given = build_handover(store, config, NOW, since=NOW - timedelta(days=4))
    assert given["since_source"] == "given" and {t["id"] for t in given["new"]} == {old["id"], waiting["id"], new["id"]}


def test_cli_handover_records_where_the_next_starts(ready):
    run_cli = ready
    first = run_cli(["handover", "--json"], as_json=True)
    assert first["since_source"] == "default" and first["recorded"] is True and first["new"] == []
    assert first["now"].endswith("+05:30")
    t = cli_log(run_cli)
    second = run_cli(["--as", "asha", "handover"]).stdout
    assert "(last handover, by op)" in second and "  new tickets: 1\n" in second and t["id"] in second
    assert second.endswith("Recorded: the next handover starts from here.\n")
    third = run_cli(["handover", "--json"], as_json=True)
    assert third["last_handover"]["actor"] == "asha"
    # times are kept to the second: a ticket opened in the second of a handover shows in both
    assert all(x["opened_at"] == third["since"] for x in third["new"])
    peek = run_cli(["handover", "--since", "2000-01-01T00:00", "--json"], as_json=True)
    assert peek["recorded"] is False and [x["id"] for x in peek["new"]] == [t["id"]]
    assert run_cli(["handover", "--json"], as_json=True)["last_handover"]["at"] == third["now"]
    err = run_cli(["handover", "--since", "yesterday"], expect=2).stderr
    assert err.startswith("Error: Invalid value for '--since': 'yesterday' is not a time like")
