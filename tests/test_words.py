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
    assert "edited by op  areas Hazratbal, Khanyar (was Khanyar); role supervisor (was officer)" in out \
        or "edited by op  areas Khanyar, Hazratbal (was Khanyar); role supervisor (was officer)" in out
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
