"""Jobs end to end: the installed CLI, two processes at once, the scheduler, and the crontab line."""

import collections
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import helpline_exe

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def busy_district(run_cli, data_dir):
    run_cli(["init", "--district-code", "SXR", "--district-name", "Srinagar"])
    for officer_id, lang, area in (("ravi", "hi", "Khanyar"), ("rafiq", "ur", "Eidgah"), ("tariq", "en", "Hazratbal")):
        run_cli(["officer", "add", officer_id, "--name", officer_id.title(), "--phone", f"94190001{len(officer_id)}{ord(lang[0]) % 10}",
                 "--area", area, "--category", "ration", "--lang", lang])
    for n, area in enumerate(("Khanyar", "Eidgah", "Hazratbal")):
        run_cli(["log", "--phone", f"98765000{n:02d}", "--area", area, "--category", "ration"])
    return run_cli


def ok_runs(data_dir):
    """:returns: Counter of (job, slot) runs that succeeded, from jobs.log."""
    counts = collections.Counter()
    for line in (data_dir / "jobs.log").read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if parts[5] == "ok":
            counts[(parts[3], parts[4])] += 1
    return counts


def test_two_run_due_processes_never_run_one_slot_twice(busy_district, data_dir):
    env = dict(os.environ, HELPLINE_DATA_DIR=str(data_dir))
    cmd = [helpline_exe(), "jobs", "run-due", "--as-of", "2026-11-30T22:05", "--catch-up-first-day"]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    runs = ok_runs(data_dir)
    assert runs and max(runs.values()) == 1, runs
    # the 08:30 digest is more than digest_late_hours late at 22:05: skipped, not sent
    assert {job for job, _ in runs} == {"archive", "escalate", "verification-list", "send", "sync"}
    assert (data_dir / "verification" / "2026-11-30.csv").exists()
    status = busy_district(["jobs", "status", "--as-of", "2026-11-30T22:06", "--json"], as_json=True)
    assert all(not row["failed"] for row in status)
    text = busy_district(["jobs", "status", "--as-of", "2026-11-30T22:06"]).stdout
    assert "digest" in text and "FAILED" not in text


def test_jobs_status_shows_the_purge_job_off_until_retention_is_set(run_cli, data_dir):
    """The purge is off by default: status said it was due daily at 03:30 on a new district."""
    run_cli(["init", "--district-code", "SXR", "--district-name", "Srinagar"])
    as_of = ["--as-of", "2026-11-30T22:06"]
    row = {r["job"]: r for r in run_cli(["jobs", "status", "--json", *as_of], as_json=True)}["purge"]
    assert (row["on"], row["next_due"]) == (False, None)
    line = [x for x in run_cli(["jobs", "status", *as_of]).stdout.splitlines() if x.startswith("purge ")][0]
    assert line.split() == ["purge", "off", "never", "never", "never", "(set", "[retention]", "purge_after_days)"]
    config = data_dir / "config.toml"
    config.write_text(config.read_text(encoding="utf-8") + "\n[retention]\npurge_after_days = 180\n", encoding="utf-8")
    row = {r["job"]: r for r in run_cli(["jobs", "status", "--json", *as_of], as_json=True)}["purge"]
    assert (row["on"], row["schedule"]) == (True, "daily 03:30") and row["next_due"]


def wait_until_locked(path, proc, seconds=60):
    """Wait (bounded) until ``proc`` holds the flock on ``path``."""
    import fcntl

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        if path.exists():
            with open(path) as f:
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.flock(f, fcntl.LOCK_UN)
                except BlockingIOError:
                    return
        time.sleep(0.05)
    raise AssertionError(f"{proc.args} never took {path}")


def test_run_due_beside_the_scheduler(busy_district, data_dir):
    env = dict(os.environ, HELPLINE_DATA_DIR=str(data_dir))
    scheduler = subprocess.Popen([helpline_exe(), "scheduler", "--interval", "1"], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
    try:
        wait_until_locked(data_dir / "scheduler.lock", scheduler)
        second = subprocess.run([helpline_exe(), "scheduler"], env=env, capture_output=True, text=True, timeout=60)
        assert second.returncode == 4 and "another 'scheduler' is running" in second.stderr
        for _ in range(3):
            result = subprocess.run([helpline_exe(), "jobs", "run-due"], env=env, capture_output=True, text=True,
                                    timeout=120)
            assert result.returncode == 0, result.stderr
    finally:
        scheduler.send_signal(signal.SIGTERM)
        out, err = scheduler.communicate(timeout=60)
    assert scheduler.returncode == 0, err
    assert "helpline scheduler stopped after" in out
    runs = ok_runs(data_dir)
    assert runs and max(runs.values()) == 1, runs


def test_crontab_line_runs_as_cron_would(busy_district, data_dir, tmp_path):
    """``env -i``, a minimal PATH, LANG=C, from /: the crontab's own lines, with the install path replaced."""
    lines = (ROOT / "cron" / "helpline.crontab").read_text().splitlines()
    env_lines = [l for l in lines if l and not l.startswith("#") and "=" in l.split()[0] and not l[0].isdigit()
                 and not l.startswith("*")]
    job_line = [l for l in lines if l.startswith("*/5")][0]
    install = tmp_path / "install"
    install.mkdir()
    (install / ".venv").symlink_to(Path(sys.executable).parent.parent)
    cron_env = {}
    for line in env_lines:
        name, value = line.split("=", 1)
        cron_env[name] = value
    assert cron_env["LANG"] == "C.UTF-8" and cron_env["PYTHONUTF8"] == "1" and "INSTALL_DIR" in cron_env
    cron_env.update(INSTALL_DIR=str(install), HELPLINE_DATA_DIR=str(data_dir), LANG="C")
    # yesterday's digest is due whatever the hour: the jobs first ran three days ago
    start = (datetime.now(timezone.utc) - timedelta(days=3)).replace(microsecond=0).isoformat()
    db_path = data_dir / "helpline.json"
    db = json.loads(db_path.read_text(encoding="utf-8"))
    db["jobs"] = {str(n): {"job": job, "first_run_at": start, "running": None, "slots": {}, "last_success": None,
                           "last_failure": None}
                  for n, job in enumerate(("archive", "escalate", "digest", "verification-list", "send", "sync"), 1)}
    db_path.write_text(json.dumps(db, ensure_ascii=False), encoding="utf-8")
    command = job_line.split(None, 5)[5]
    result = subprocess.run(["env", "-i", *[f"{k}={v}" for k, v in cron_env.items()], "/bin/sh", "-c", command],
                            cwd="/", capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr
    log = (data_dir / "cron.log").read_text(encoding="utf-8")
    assert "digest" in log and "Traceback" not in log and "FAILED" not in log, log
    messages = busy_district(["sms", "list", "--json"], as_json=True)
    digests = {m["lang"]: m["body"] for m in messages if m["template"] == "officer_digest"}
    assert set(digests) == {"en", "hi", "ur"}, messages
    assert "खुले" in digests["hi"] and "کھلے" in digests["ur"]


def test_crontab_line_records_a_missing_data_directory(tmp_path):
    """The redirect into the data directory cannot fail before helpline runs: the cause is written
    to helpline-cron.log in the home folder, as cron/README.md says."""
    lines = (ROOT / "cron" / "helpline.crontab").read_text().splitlines()
    command = [l for l in lines if l.startswith("*/5")][0].split(None, 5)[5]
    home = tmp_path / "home"
    home.mkdir()
    missing = tmp_path / "not-mounted"
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "HELPLINE_DATA_DIR": str(missing),
           "INSTALL_DIR": str(tmp_path / "install")}
    result = subprocess.run(["env", "-i", *[f"{k}={v}" for k, v in env.items()], "/bin/sh", "-c", command],
                            cwd="/", capture_output=True, text=True, timeout=60)
    assert result.stderr == ""
    assert not missing.exists()
    note = (home / "helpline-cron.log").read_text()
    assert f"the data directory {missing} is missing" in note and "no job ran" in note
    assert "helpline-cron.log" in (ROOT / "cron" / "README.md").read_text()


def test_logrotate_file_rotates_both_logs_of_the_crontab_data_directory():
    crontab = (ROOT / "cron" / "helpline.crontab").read_text()
    data_dir = [l.split("=", 1)[1] for l in crontab.splitlines() if l.startswith("HELPLINE_DATA_DIR=")][0]
    rotate = (ROOT / "cron" / "helpline.logrotate").read_text()
    assert f"{data_dir}/cron.log {data_dir}/jobs.log {{" in rotate
    assert "create 0600" in rotate and "missingok" in rotate
