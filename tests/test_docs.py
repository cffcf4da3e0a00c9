"""Docs checked against the CLI: every command has help with an example and is in the README."""

from pathlib import Path

import click

from conftest import file_bytes
from helpline import cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def readme_output(command):
    """:returns: the lines the README shows as the output of ``    $ COMMAND`` (without the indent),
    up to the next command or the end of the block."""
    lines = README.splitlines()
    shown = []
    for line in lines[lines.index(f"    $ {command}") + 1:]:
        if not line.startswith("    ") or line.startswith("    $ "):
            break
        shown.append(line[4:])
    return shown


def all_commands(group, prefix=()):
    for name, command in group.commands.items():
        path = prefix + (name,)
        yield path, command
        if isinstance(command, click.Group):
            yield from all_commands(command, path)


def test_every_command_has_help_with_an_example_and_is_in_the_readme():
    paths = list(all_commands(cli))
    assert len(paths) > 15
    for path, command in paths:
        assert command.help and "Example:" in command.help, path
        if isinstance(command, click.Group):
            assert f"helpline {' '.join(path)} " in README, path
        else:
            assert f"helpline {' '.join(path)}" in README or f"/{path[-1]}" in README, path


def test_readme_two_commands_match_ci():
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    test_command = [line for line in ci.splitlines() if "pytest" in line][0].strip()
    assert f"    {test_command}\n" in README


def test_readme_command_table_is_one_table():
    """A blank line inside a markdown table ends it: the rows after it render as loose text."""
    lines = README.splitlines()
    start = lines.index("| command | what it does |")
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    table = lines[start:end]
    assert table[1] == "| --- | --- |" and len(table) > 30
    after = next(line for line in lines[end:] if line.strip())
    assert not after.startswith("|"), f"the command table is broken by a blank line before: {after}"
    command_rows = [n for n, line in enumerate(lines) if line.startswith("| `helpline ")]
    assert all(start < n < end for n in command_rows), "a command row outside the command table"


def test_readme_settings_go_under_the_tables_init_wrote(tmp_path):
    """The README says to uncomment ``backup_dir`` under the ``[store]`` that init wrote (a second
    ``[store]`` makes config.toml unreadable), and to set the gateway under its ``[sms]``."""
    from helpline_core.config import load_config
    from helpline_core.district import init_district

    data_dir = tmp_path / "helpline-srinagar"
    init_district(data_dir, code="SXR", name="Srinagar")
    path = data_dir / "config.toml"
    text = path.read_text(encoding="utf-8")
    assert text.count("\n[store]\n") == 1 and text.count("\n[sms]\n") == 1 and 'gateway = "file"' in text
    assert "under\n`[store]`, commented out; remove its `#`" in README
    commented = [line for line in text.splitlines() if line.startswith("# backup_dir = ")]
    assert len(commented) == 1
    path.write_text(text.replace(commented[0], 'backup_dir = "helpline-backups"'), encoding="utf-8")
    assert load_config(data_dir).backup_dir == tmp_path / "helpline-backups"


def test_a_table_pasted_twice_into_config_says_how_to_fix_it(run_cli, data_dir):
    """A new user who pastes the README's ``[store]`` snippet at the end of config.toml gets one line
    that names the table and says what to do, and nothing is changed."""
    run_cli(["init", "--district-code", "SXR", "--district-name", "Srinagar"])
    path = data_dir / "config.toml"
    path.write_text(path.read_text(encoding="utf-8") + '\n[store]\nbackup_dir = "/media/usb/helpline-backups"\n',
                    encoding="utf-8")
    before = file_bytes(data_dir)
    err = run_cli(["db", "backup"], expect=1).stderr
    assert err.startswith(f"Error: {path} is not valid TOML (Cannot declare ('store',) twice") and err.count("\n") == 1
    assert err.endswith("; [store] is there twice: move the settings under the second [store] to the first one "
                        "and delete the second [store] line.\n")
    assert file_bytes(data_dir) == before
