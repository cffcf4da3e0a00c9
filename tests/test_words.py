"""What the operator reads: help on every option, refused option pairs, plurals, history in words,
local times on texts, assigning to a verifier or supervisor."""

import click
import pytest

from conftest import NOW, file_bytes
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
