"""Installing the jobs as cron/README.md says: the crontab added to the user's own, the systemd
units passing ``systemd-analyze verify`` once the documented paths are edited, all files agreeing
on the paths; and the nightly list of a ticket with no number, end to end."""

import csv
import io
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

ROOT = Path(__file__).resolve().parents[1]
CRON = ROOT / "cron"
README = (CRON / "README.md").read_text(encoding="utf-8")
INSTALL_DIR, DATA_DIR, ACCOUNT = "/opt/helpline", "/var/lib/helpline", "helpline"
UNITS = [CRON / "helpline-jobs.service", CRON / "helpline-jobs.timer", ROOT / "deploy" / "helpline-ivr.service"]


def readme_line(start):
    """:returns: the one command line of cron/README.md that starts with ``start`` (indented code)."""
    found = [line.strip() for line in README.splitlines() if line.strip().startswith(start)]
    assert len(found) == 1, (start, found)
    return found[0]


# the crontab, added to the user's own ------------------------------------------------------------

FAKE_CRONTAB = """#!/bin/sh
# crontab -l / crontab - over one file, as the real one does for the current user: the new
# crontab is read to its end first, then installed
case "$1" in
  -l) [ -f "$FAKE_CRONTAB_FILE" ] || { echo "no crontab for $USER" >&2; exit 1; }; cat "$FAKE_CRONTAB_FILE" ;;
  -) cat > "$FAKE_CRONTAB_FILE.new" && mv "$FAKE_CRONTAB_FILE.new" "$FAKE_CRONTAB_FILE" ;;
  *) echo "crontab: this test does not expect $*" >&2; exit 2 ;;
esac
"""


@pytest.fixture
def install_crontab(tmp_path):
    """Run the README's install command in a copy of cron/, against a fake ``crontab``.

    :returns: ``(install, user_crontab_path, cron_folder_copy)``; ``install()`` runs the command."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "crontab").write_text(FAKE_CRONTAB)
    (bin_dir / "crontab").chmod(0o755)
    folder = tmp_path / "cron"
    shutil.copytree(CRON, folder)
    stored = tmp_path / "user.crontab"
    command = readme_line("(crontab -l")

    def install():
        env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", FAKE_CRONTAB_FILE=str(stored))
        result = subprocess.run(["/bin/sh", "-c", command], cwd=folder, env=env, capture_output=True, text=True,
                                timeout=30)
        assert result.returncode == 0 and result.stderr == "", result.stderr

    return install, stored, folder


def test_the_crontab_is_added_to_the_users_own_and_never_twice(install_crontab):
    install, stored, folder = install_crontab
    block = (folder / "helpline.crontab").read_text()
    assert block.startswith("# BEGIN helpline") and block.endswith("# END helpline\n")
    assert "crontab helpline.crontab" not in README.replace("`crontab helpline.crontab` alone", "")

    install()  # no crontab yet: `crontab -l` fails, the block alone is installed
    assert stored.read_text() == block

    own = "MAILTO=ops@example.org\n0 2 * * * /usr/local/bin/backup-photos\n"
    stored.write_text(own)
    install()
    assert stored.read_text() == own + block
    install()  # again: still once
    assert stored.read_text() == own + block
    assert stored.read_text().count("jobs run-due") == 1

    # edited and installed again: helpline's block is replaced, the user's lines stay
    (folder / "helpline.crontab").write_text(block.replace("INSTALL_DIR=/opt/helpline", "INSTALL_DIR=/srv/app"))
    install()
    text = stored.read_text()
    assert text.startswith(own) and len(re.findall(r"^# BEGIN helpline", text, re.M)) == 1 and text.count("jobs run-due") == 1
    assert "INSTALL_DIR=/srv/app" in text and "INSTALL_DIR=/opt/helpline" not in text


# the paths, the account and systemd -----------------------------------------------------------------

def test_every_file_agrees_on_the_documented_paths_and_account():
    crontab = (CRON / "helpline.crontab").read_text()
    assert f"INSTALL_DIR={INSTALL_DIR}\n" in crontab and f"HELPLINE_DATA_DIR={DATA_DIR}\n" in crontab
    rotate = (CRON / "helpline.logrotate").read_text()
    assert f"{DATA_DIR}/cron.log {DATA_DIR}/jobs.log {{" in rotate
    assert f"su {ACCOUNT} {ACCOUNT}" in rotate and f"create 0600 {ACCOUNT} {ACCOUNT}" in rotate
    for unit in UNITS[0], UNITS[2]:
        text = unit.read_text()
        assert f"User={ACCOUNT}\n" in text and f"Environment=HELPLINE_DATA_DIR={DATA_DIR}\n" in text, unit
        assert f"ExecStart={INSTALL_DIR}/.venv/bin/helpline " in text, unit
    assert "Unit=" not in UNITS[1].read_text()  # the timer starts the service of its own name
    # the README makes that account and that directory, owner only, and the district in it as that account
    useradd = readme_line("sudo useradd")
    assert "--system" in useradd and "--user-group" in useradd and useradd.endswith(f" {ACCOUNT}")
    assert readme_line("sudo install -d") == f"sudo install -d -o {ACCOUNT} -g {ACCOUNT} -m 0700 {DATA_DIR}"
    assert readme_line(f"sudo -u {ACCOUNT}").startswith(
        f"sudo -u {ACCOUNT} {INSTALL_DIR}/.venv/bin/helpline --data-dir {DATA_DIR} init ")
    for name in ("helpline.crontab", "helpline.logrotate", "helpline-jobs.service", "helpline-jobs.timer",
                 "helpline-ivr.service"):
        assert name in readme_line("sed -i"), name


def edited_units(tmp_path):
    """Copy the unit files to ``tmp_path`` and edit their paths with the README's own ``sed`` line,
    the install folder being this test's Python environment and the data directory a new folder.

    :returns: ``(paths of the edited units, install folder, data directory)``."""
    folder = tmp_path / "units"
    (folder / "cron").mkdir(parents=True)
    (folder / "deploy").mkdir()
    for unit in UNITS:
        shutil.copy(unit, folder / unit.parent.name / unit.name)
    for name in ("helpline.crontab", "helpline.logrotate"):
        shutil.copy(CRON / name, folder / "cron" / name)
    install = tmp_path / "app"
    install.mkdir()
    (install / ".venv").symlink_to(Path(sys.executable).parent.parent)
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    # the README's example paths, replaced by this test's (longest first: neither is a prefix)
    sed = readme_line("sed -i").replace("/srv/helpline/app", str(install)).replace("/data/helpline", str(data))
    subprocess.run(["/bin/sh", "-c", sed], cwd=folder / "cron", check=True, timeout=30)
    return [folder / u.parent.name / u.name for u in UNITS], install, data


def test_the_readme_sed_line_edits_every_path(tmp_path):
    units, install, data = edited_units(tmp_path)
    folder = units[0].parent
    for path in [*units, folder / "helpline.crontab", folder / "helpline.logrotate"]:
        text = path.read_text()
        assert INSTALL_DIR not in text and DATA_DIR not in text, path
    assert f"ExecStart={install}/.venv/bin/helpline jobs run-due" in units[0].read_text()
    assert f"INSTALL_DIR={install}\n" in (folder / "helpline.crontab").read_text()
    assert f"{data}/cron.log {data}/jobs.log {{" in (folder / "helpline.logrotate").read_text()


def systemd_analyze():
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed here (it comes with systemd): the units are not verified")
    return tool


def verify(tool, units):
    return subprocess.run([tool, "verify", "--man=no", *map(str, units)], capture_output=True, text=True,
                          timeout=120)


def test_systemd_analyze_verify_passes_once_the_paths_are_edited(tmp_path):
    tool = systemd_analyze()
    units, _, _ = edited_units(tmp_path)
    for group in (units[:2], units[2:]):  # the jobs' service and timer together; the voice menu's service
        result = verify(tool, group)
        assert result.returncode == 0 and "helpline" not in result.stdout + result.stderr, \
            (group, result.stdout, result.stderr)


def test_systemd_analyze_names_an_unedited_install_path(tmp_path):
    tool = systemd_analyze()
    if Path(INSTALL_DIR, ".venv", "bin", "helpline").exists():
        pytest.skip(f"helpline is installed in {INSTALL_DIR} on this machine: the shipped paths are right here")
    copy = tmp_path / "helpline-jobs.service"
    shutil.copy(UNITS[0], copy)
    result = verify(tool, [copy])
    assert result.returncode != 0
    assert f"{INSTALL_DIR}/.venv/bin/helpline is not executable" in result.stdout + result.stderr


# the nightly list of a ticket with no number, end to end ------------------------------------------

def test_a_no_phone_ticket_reaches_the_list_to_verify_in_person_and_is_recorded_from_it(run_cli, data_dir):
    run_cli(["init", "--district-code", "SXR", "--district-name", "Srinagar"])
    run_cli(["officer", "add", "rafiq", "--name", "Rafiq Ahmad", "--phone", "09419000101", "--area", "Khanyar",
             "--category", "ration", "--lang", "ur"])
    run_cli(["officer", "add", "nusrat", "--name", "Nusrat Jan", "--phone", "09419000201", "--area", "Khanyar",
             "--category", "ration", "--lang", "ur", "--role", "verifier"])
    ids = []
    for phone in (["--phone", "9876543210"], ["--no-phone"]):
        ticket = run_cli(["log", *phone, "--area", "Khanyar", "--category", "ration", "--description", "ration",
                          "--json"], as_json=True)
        run_cli(["resolve", ticket["id"], "--note", "kit delivered", "--by", "rafiq"])
        ids.append(ticket["id"])
    resolved_at = datetime.fromisoformat(run_cli(["show", ids[1], "--json"], as_json=True)["resolved_at"])
    day = resolved_at.astimezone(ZoneInfo("Asia/Kolkata")).date().isoformat()  # the district's date
    run_cli(["jobs", "verification-list", "--date", day])

    listed = data_dir / "verification" / f"{day}.csv"
    rows = list(csv.DictReader(io.StringIO(listed.read_text(encoding="utf-8"))))
    phones = {r["ticket_id"]: r["phone"] for r in rows}
    assert phones == {ids[0]: "'+919876543210", ids[1]: "no phone"}  # a leading + is made formula-safe
    page = (data_dir / "verification" / f"{day}.html").read_text(encoding="utf-8")
    in_person = page[page.index('<table class="in_person">'):]
    assert "verify in person" in page[:page.index('<table class="in_person">')]
    assert f'data-ticket="{ids[1]}"' in in_person and f'data-ticket="{ids[0]}"' not in in_person
    assert re.search(r'<td class="phone nowrap no-phone" dir="ltr">no phone</td>', in_person)

    # the verifier visited: the filled-in list records it like any other row
    for r in rows:
        r["outcome"] = "confirmed" if r["ticket_id"] == ids[1] else ""
    filled = data_dir / "filled.csv"
    with filled.open("w", encoding="utf-8", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    result = run_cli(["verify", "--from-list", str(filled), "--json"], as_json=True)
    assert (result["confirmed"], result["no_outcome"], result["rejected"]) == (1, 1, 0)
    assert run_cli(["show", ids[1], "--json"], as_json=True)["status"] == "closed"
