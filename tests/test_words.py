"""What the operator reads: help on every option, refused option pairs, plurals, history in words,
local times on texts, assigning to a verifier or supervisor."""

import click
import pytest

from conftest import file_bytes
from helpline import cli
from commands.common import refuse_together


def all_commands(group, prefix=()):
    for name, command in group.commands.items():
        yield prefix + (name,), command
        if isinstance(command, click.Group):
            yield from all_commands(command, prefix + (name,))


def test_every_option_has_help_and_every_command_a_docstring():
    missing = [("helpline", option.opts) for option in cli.params
               if isinstance(option, click.Option) and not option.help]
    commands = list(all_commands(cli))
    assert len(commands) > 30
    for path, command in commands:
        if not (command.help or "").strip():
            missing.append((" ".join(path), "no help"))
        for option in command.params:
            if isinstance(option, click.Option) and not (option.help or "").strip():
                missing.append((" ".join(path), option.opts))
    assert missing == []


def test_list_help_describes_its_filters(run_cli):
    out = run_cli(["list", "--help"]).stdout
    assert "Only tickets of this area" in out and "At most this many tickets" in out


def test_refuse_together():
    refuse_together(("--json", True), ("--csv", False))
    refuse_together(("--phone", None), ("--no-phone", True))
    with pytest.raises(click.UsageError, match=r"^give either --json or --csv, not both\.$"):
        refuse_together(("--json", True), ("--csv", True))
    with pytest.raises(click.UsageError, match=r"^give only one of --a, --b and --c\.$"):
        refuse_together(("--a", 1), ("--b", "x"), ("--c", True))


@pytest.mark.parametrize("args, names", [
    (["list", "--json", "--csv"], ("--json", "--csv")),
    (["list", "--csv", "--status", "all", "--json"], ("--json", "--csv")),
    (["find", "09876543210", "--json", "--csv"], ("--json", "--csv")),
    (["officer", "edit", "rafiq", "--active", "--inactive"], ("--active", "--inactive")),
    (["note", "SXR-10003", "first words", "--text", "other words"], ("TEXT", "--text")),
    (["log", "--phone", "09876543210", "--no-phone", "--area", "Khanyar", "--category", "ration"],
     ("--phone", "--no-phone")),
])
def test_options_that_exclude_each_other_are_refused(district, run_cli, data_dir, args, names):
    run_cli(["log", "--phone", "09876543210", "--area", "Khanyar", "--category", "ration"])
    before = file_bytes(data_dir)
    result = run_cli(args, expect=2)
    command = " ".join(a for a in args[:2] if a in ("list", "find", "officer", "edit", "note", "log"))
    assert result.stderr == (f"Error: give either {names[0]} or {names[1]}, not both. "
                             f"(see 'helpline {command} --help')\n")
    assert result.stdout == "" and file_bytes(data_dir) == before


def test_officer_edit_active_and_inactive_alone_still_work(district, run_cli):
    assert run_cli(["officer", "edit", "tariq", "--inactive"]).stdout.startswith("Officer tariq updated and deactivated.")
    assert run_cli(["officer", "edit", "tariq", "--active"]).stdout.startswith("Officer tariq updated and activated.")
    assert run_cli(["officer", "show", "tariq", "--json"], as_json=True)["active"] is True


# --- history in words -------------------------------------------------------------------------

NOT_WORDS = ("[", "]", "{", "None", "True", "False", "final", "_at", "_by", "->", "escalations", "messages")


def history_lines(run_cli, ticket_id):
    out = run_cli(["show", ticket_id]).stdout.splitlines()
    start = out.index("  history") + 1
    end = out.index("  messages") if "  messages" in out else len(out)
    lines = [line[4 + 16 + 2:] for line in out[start:end]]  # after the indent and the local time
    for line in lines:
        assert not any(word in line for word in NOT_WORDS), line
    return lines


def test_history_of_every_event_reads_in_words(district, run_cli, tmp_path):
    def log(phone, area="Khanyar"):
        return run_cli(["log", "--phone", phone, "--area", area, "--category", "ration", "--json"], as_json=True)

    first = log("09876543210")["id"]
    assert log("09876543210", area="Eidgah")["followup"] is True
    run_cli(["assign", first, "tariq"])
    run_cli(["unassign", first, "--note", "on leave"])
    run_cli(["assign", first, "rafiq"])
    run_cli(["note", first, "son will collect"])
    run_cli(["edit", first, "--phone", "09876543211", "--note", "the son gave his number"])
    run_cli(["resolve", first, "--note", "kit delivered"])
    run_cli(["--as", "nusrat", "verify", first, "--not-reached"])
    run_cli(["--as", "nusrat", "verify", first, "--not-solved", "--note", "never came"])
    run_cli(["resolve", first, "--note", "kit delivered again"])
    run_cli(["reopen", first, "--note", "only half the kit"])
    run_cli(["resolve", first, "--note", "rest delivered"])
    run_cli(["--as", "nusrat", "verify", first, "--confirmed"])
    lines = history_lines(run_cli, first)
    assert lines[0] == "opened      op"
    assert lines[1].startswith("assign      op  routed automatically - status assigned (was open); officer ")
    routed = lines[1].split()[-1]  # whoever routing chose
    assert lines[2] == "call        op  caller gave area Eidgah (ticket is for Khanyar) - calls 2 (was 1)"
    assert lines[3] == f"assign      op  officer tariq (was {routed})"  # still assigned: no status change
    assert lines[4:] == [
        "unassign    op  on leave - status open (was assigned); officer none (was tariq)",
        "assign      op  status assigned (was open); officer rafiq",
        "note        op  son will collect",
        "edit        op  the son gave his number - phone +919876543211 (was +919876543210)",
        "resolve     op  kit delivered - status resolved (was assigned); resolved by rafiq",
        "not reached nusrat  caller not reached",
        "verify      nusrat  never came - status assigned (was resolved)",
        "resolve     op  kit delivered again - status resolved (was assigned); resolved by rafiq",
        "reopen      op  only half the kit - status assigned (was resolved)",
        "resolve     op  rest delivered - status resolved (was assigned); resolved by rafiq",
        "verify      nusrat  confirmed by caller - status closed (was resolved)",
    ]

    second = log("09876500002")
    officer = second["officer"]
    run_cli(["officer", "deactivate", officer, "--reason", "transferred"])
    second = second["id"]
    assert history_lines(run_cli, second)[-1] == \
        f"unassign    op  officer {officer} deactivated - status open (was assigned); officer none (was {officer})"
    run_cli(["reject", second, "--reason", "duplicate", "--duplicate-of", first])
    assert history_lines(run_cli, second)[-1] == \
        f"reject      op  duplicate - status rejected (was open); duplicate of {first}"

    third = log("09876500003")["id"]
    run_cli(["--as", "op2", "resolve", third, "--note", "wrong ticket"])
    undone = run_cli(["--as", "op2", "undo", "--yes"]).stdout
    assert undone.startswith(f"Undone: the resolve of {third} at ") and \
        ": status back to assigned; resolved by back to none." in undone
    last = history_lines(run_cli, third)[-1]
    assert last.startswith("undo        op2  undoes resolve of ") and last.endswith(" - status assigned (was resolved)")

    later = "2027-01-15T12:00:00+05:30"
    run_cli(["purge", "--older-than", "30", "--as-of", later, "--backup-to", str(tmp_path / "backups")])
    purged = history_lines(run_cli, first)  # notes and numbers gone; the changes left still in words
    assert purged[4] == "unassign    op  status open (was assigned); officer none (was tariq)"
    assert purged[7] == "edit        op" and not any("+91" in line for line in purged)


def test_officer_history_in_words(district, run_cli):
    run_cli(["officer", "edit", "meena", "--area", "Khanyar", "--area", "Hazratbal", "--role", "supervisor"])
    run_cli(["officer", "deactivate", "meena", "--reason", "transferred"])
    run_cli(["officer", "activate", "meena", "--note", "back"])
    out = run_cli(["officer", "show", "meena"]).stdout
    assert "edited by op  areas Hazratbal, Khanyar (was Khanyar); role supervisor (was officer)" in out  # sorted
    assert "deactivated by op  transferred\n" in out and "activated by op  back\n" in out
    assert not any(word in out for word in ("[", "]", "None", "True", "False", "->"))


# --- plurals -----------------------------------------------------------------------------------

def test_plural():
    from helpline_core.words import plural

    assert [plural(n, "ticket") for n in (0, 1, 2, 1204)] == ["0 tickets", "1 ticket", "2 tickets", "1,204 tickets"]
    assert plural(1, "category", "categories") == "1 category" and plural(3, "category", "categories") == "3 categories"
    assert plural(1, "day file") == "1 day file" and plural(2, "day file") == "2 day files"


def _log(run_cli, *extra):
    return run_cli(["log", "--area", "Khanyar", "--category", "ration", "--json", *extra], as_json=True)


def test_counts_read_right_for_zero_one_and_two(district, run_cli):
    from datetime import date

    tomorrow_noon = date.today().toordinal() + 1  # the commands log at the real time; texts are due after it
    noon = f"{date.fromordinal(tomorrow_noon).isoformat()}T12:00"
    assert run_cli(["list"]).stdout == "No tickets.\n"
    assert run_cli(["sms", "send", "--as-of", noon]).stdout == "Outbox: 0 texts sent.\n"
    assert run_cli(["db", "archive"]).stdout == "Archived 0 final tickets.\n"

    first = _log(run_cli, "--no-phone")  # no caller texts: only the officer's
    assert run_cli(["list"]).stdout.endswith("\n1 ticket\n")
    assert run_cli(["sms", "send", "--as-of", noon]).stdout == "Outbox: 1 text sent.\n"
    second = _log(run_cli, "--no-phone")
    third = _log(run_cli, "--no-phone")
    assert run_cli(["list"]).stdout.endswith("\n3 tickets\n")
    assert run_cli(["sms", "send", "--as-of", noon]).stdout == "Outbox: 2 texts sent.\n"

    officers = {t["officer"] for t in (first, second, third)}
    assert officers == {"rafiq", "meena"}  # routing spreads them: one has one, the other two
    one = [o for o in officers if [t["officer"] for t in (first, second, third)].count(o) == 1][0]
    two = ({"rafiq", "meena"} - {one}).pop()

    def mine(officer):
        return " ".join(t["id"] for t in (first, second, third) if t["officer"] == officer)

    assert run_cli(["officer", "deactivate", "tariq"]).stdout == "Officer tariq deactivated.\n"
    out = run_cli(["officer", "deactivate", one]).stdout
    assert f"\n1 ticket is open again and needs an officer: {mine(one)}\n" in out
    out = run_cli(["officer", "deactivate", two]).stdout
    assert f"\n2 tickets are open again and need an officer: {mine(two)}\n" in out

    for ticket in (first, second):
        run_cli(["reject", ticket["id"], "--reason", "prank"])
    later = f"{date.fromordinal(tomorrow_noon + 60).isoformat()}T12:00"
    assert run_cli(["db", "archive", "--as-of", later]).stdout == "Archived 2 final tickets.\n"
    run_cli(["reject", third["id"], "--reason", "prank"])
    assert run_cli(["db", "archive", "--as-of", later]).stdout == "Archived 1 final ticket.\n"


# --- texts in local time -----------------------------------------------------------------------

def test_sms_show_and_list_give_local_times_with_the_offset(district, run_cli):
    ticket = _log(run_cli, "--phone", "09876543210")
    [record] = [r for r in run_cli(["sms", "list", "--ticket", ticket["id"], "--json"], as_json=True)
                if ":logged:" in r["key"]]
    assert record["created_at"].endswith("+05:30") and record["next_attempt_at"].endswith("+05:30")
    local = record["created_at"][:16].replace("T", " ")  # 2026-12-02 12:21, Srinagar's time
    shown = run_cli(["sms", "show", record["key"]]).stdout
    assert f"created_at       {local} +0530\n" in shown and "+00:00" not in shown
    assert run_cli(["sms", "show", record["key"], "--json"], as_json=True)["created_at"] == record["created_at"]
    assert f"queued      {local}  {record['key']}  GSM-7 1 seg" in run_cli(["sms", "list"]).stdout.splitlines()


def test_local_text_with_offset():
    from zoneinfo import ZoneInfo

    from helpline_core.clock import local_text

    stored = "2026-11-30T06:00:00+00:00"
    assert local_text(stored, ZoneInfo("Asia/Kolkata")) == "2026-11-30 11:30"
    assert local_text(stored, ZoneInfo("Asia/Kolkata"), offset=True) == "2026-11-30 11:30 +0530"
    assert local_text(stored, ZoneInfo("America/New_York"), offset=True) == "2026-11-30 01:00 -0500"
    assert local_text(None, ZoneInfo("Asia/Kolkata"), offset=True) == ""


# --- assigning to a verifier or a supervisor -----------------------------------------------------

def _outbox_file(data_dir):
    import json

    path = data_dir / "outbox.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def test_a_ticket_can_be_assigned_to_a_verifier_or_a_supervisor(district, run_cli, data_dir):
    from datetime import date, timedelta

    tomorrow = date.today() + timedelta(days=1)  # the commands run at the real time; the texts go after it
    run_cli(["officer", "add", "zahoor", "--name", "Zahoor Dar", "--phone", "09419000301", "--area", "Khanyar",
             "--category", "ration", "--role", "supervisor"])
    ticket = _log(run_cli, "--phone", "09876543210")["id"]
    assert run_cli(["assign", ticket, "nusrat"]).stdout == f"{ticket} assigned to nusrat.\n"
    run_cli(["sms", "send", "--as-of", f"{tomorrow}T12:00"])
    sent = {m["to"]: m["body"] for m in _outbox_file(data_dir)}
    assert f"{ticket}: راشن، Khanyar" in sent["+919419000201"]  # the verifier's text, in Urdu
    assert f"is with officer Nusrat Jan, +919419000201, who will contact you" in sent["+919876543210"]

    assert run_cli(["assign", ticket, "zahoor", "--json"], as_json=True)["officer"] == "zahoor"
    run_cli(["sms", "send", "--as-of", f"{tomorrow}T12:05"])
    sent = {m["to"]: m["body"] for m in _outbox_file(data_dir)}
    assert sent["+919419000301"].startswith(f"New ticket {ticket}:")
    assert "Zahoor Dar, +919419000301" in sent["+919876543210"]
    history = run_cli(["show", ticket]).stdout
    assert "officer nusrat (was " in history and "officer zahoor (was nusrat)" in history

    run_cli(["assign", ticket, "nusrat"])  # the verifier's morning digest lists what is assigned to them
    run_cli(["jobs", "digest", "--as-of", f"{tomorrow + timedelta(days=1)}T08:00"])
    digests = [m for m in run_cli(["sms", "list", "--json"], as_json=True) if m["key"].startswith("digest:")]
    assert [m["recipient"] for m in digests if m["officer_id"] == "nusrat"] == ["+919419000201"]


def test_assigning_to_someone_with_no_phone_queues_no_text_to_them_and_says_so(district, run_cli, data_dir):
    from helpline_core.store import Store

    # an imported queue (no phone, inactive) made a verifier: a verifier needs no phone to be active
    with Store(data_dir).transaction() as db:
        db.table("officers").insert({"officer_id": "night-desk", "name": "Night desk", "phone": None,
                                     "phone_type": "unknown", "areas": [], "categories": [], "role": "officer",
                                     "lang": "en", "active": False, "history": []})
    run_cli(["officer", "edit", "night-desk", "--role", "verifier"])
    run_cli(["officer", "activate", "night-desk"])
    ticket = _log(run_cli, "--phone", "09876543210")["id"]
    out = run_cli(["assign", ticket, "night-desk"]).stdout
    assert out == (f"{ticket} assigned to night-desk.\n"
                   f"  no text to night-desk (no phone on the roster): tell them another way\n")
    messages = run_cli(["sms", "list", "--ticket", ticket, "--json"], as_json=True)
    assert not [m for m in messages if m.get("officer_id") == "night-desk" or not m["recipient"]]
    [assigned] = [m for m in messages if m["key"].startswith(f"{ticket}:assigned:") and "Night" in m["body"]]
    assert assigned["body"] == (f"Srinagar Helpline: ticket {ticket} is with officer Night desk, -, "
                                f"who will contact you.")  # no number to give; never 'None'
    run_cli(["jobs", "digest"])
    assert not [m for m in run_cli(["sms", "list", "--json"], as_json=True) if not m["recipient"]]
