"""Defects found by trying to break helpline, each pinned by a test."""

import json
import os
import subprocess
from datetime import timedelta

import pytest

from conftest import NOW, file_bytes, helpline_exe
from helpline_core import jobs, job_tasks, tickets
from helpline_core.archive import archive_final_tickets
from helpline_core.dbtools import backup_store, check_store
from helpline_core.district import init_district
from helpline_core.errors import ConfigError, StoreDamaged, TransitionError
from helpline_core.gateways import FileGateway
from helpline_core.sending import send_outbox


def log(store, config, now=NOW, **fields):
    args = dict(phone="9876543210", area="Khanyar", category="ration", actor="op")
    args.update(fields)
    with store.transaction() as db:
        return tickets.log_call(db, config, store, now=now, **args)[0]


@pytest.mark.parametrize("loss", ["empty", "missing"])
def test_a_lost_live_file_is_damage_and_never_reissues_ids(district, loss):
    config, store = district
    ticket = log(store, config)
    with store.transaction() as db:
        tickets.resolve(db, config, ticket["id"], note="done", actor="op", now=NOW)
        tickets.verify(db, config, ticket["id"], confirmed=True, actor="nusrat", now=NOW)
    archive_final_tickets(store, config, NOW + timedelta(days=2))
    if loss == "empty":
        store.path.write_bytes(b"")
    else:
        store.path.unlink()
    with pytest.raises(StoreDamaged, match=f"is {loss}, but .* holds a district"):
        log(store, config, phone="9876500777")
    problems, _ = check_store(store)
    assert any("missing or empty" in p for p in problems)
    init_district(store.data_dir, code="SXR", name="Srinagar", force=True)  # the way back: a new live file
    again = log(store, config, phone="9876500777")
    assert again["serial"] > ticket["serial"]


def test_init_force_keeps_the_code_of_a_district_with_tickets(district):
    config, store = district
    log(store, config)
    with pytest.raises(ConfigError, match="cannot change to ABC"):
        init_district(store.data_dir, code="ABC", name="Elsewhere", force=True)
    init_district(store.data_dir, code="SXR", name="Srinagar", force=True)
    assert (store.data_dir / "config.toml.bak").exists()


def test_verifier_cannot_hide_behind_spacing_or_case(district):
    config, store = district
    ticket = log(store, config)
    with store.transaction() as db:
        tickets.resolve(db, config, ticket["id"], note="done", actor="op", now=NOW)
    for name in ("MEENA  KUMARI", "meena\tkumari", " Meena Kumari ", "MEENA"):
        with pytest.raises(TransitionError, match="resolved by meena"):
            with store.transaction() as db:
                tickets.verify(db, config, ticket["id"], confirmed=True, actor=name, now=NOW)


def test_control_characters_never_reach_the_store(district):
    config, store = district
    ticket = log(store, config, caller_name="Ghulam\x1b[2J\x07 Nabi", description="line one\nline two\r=1+1")
    assert ticket["caller_name"] == "Ghulam [2J Nabi" and ticket["description"] == "line one line two =1+1"
    with pytest.raises(Exception, match="at most 1000"):
        log(store, config, phone="9876500001", description="x" * 1001)


def test_a_rerun_digest_is_not_sent_twice(district):
    config, store = district
    log(store, config)
    day = NOW.astimezone(config.tz).date()
    assert job_tasks.digest_task(store, config, now=NOW, day=day) == {"digests": 1}
    send_outbox(store, config, FileGateway(store.data_dir), NOW)
    assert job_tasks.digest_task(store, config, now=NOW + timedelta(minutes=5), day=day) == {"digests": 0}
    send_outbox(store, config, FileGateway(store.data_dir), NOW + timedelta(minutes=6))
    lines = (store.data_dir / "outbox.jsonl").read_text().splitlines()
    assert sum(json.loads(l)["key"].startswith("digest:") for l in lines) == 1


def test_a_dead_process_claim_is_taken_again_at_once(district):
    config, store = district
    child = subprocess.Popen(["true"])
    child.wait()
    with store.transaction() as db:
        doc = jobs._job_doc(db, "digest")
        db.table("jobs").update({"running": {"slot": "2026-11-30", "claimed_at": NOW.isoformat(), "pid": child.pid,
                                             "host": os.uname().nodename}}, doc_ids=[doc.doc_id])
    assert jobs.claim(store, "digest", "2026-11-30", NOW) is None


def test_backup_refuses_a_damaged_store_and_keeps_texts(district, tmp_path):
    config, store = district
    log(store, config)
    send_outbox(store, config, FileGateway(store.data_dir), NOW)
    target = backup_store(store, config, tmp_path / "bk", now=NOW)
    assert sorted(p.name for p in (target / "sms").iterdir()) == ["2026-11-30.json"]
    assert oct((tmp_path / "bk").stat().st_mode & 0o777) == "0o700"
    store.path.write_bytes(store.path.read_bytes()[:-5])
    with pytest.raises(StoreDamaged):
        backup_store(store, config, tmp_path / "bk", now=NOW + timedelta(seconds=1))
    assert [p.name for p in (tmp_path / "bk").iterdir()] == [target.name]


CLI_CASES = [
    (["verify", "SXR-10003", "--confirmed", "--not-solved"], 2, "Error: say one of --confirmed, --not-solved or --not-reached."),
    (["show", "SXR-①0003"], 2, "Error: Invalid value for 'TICKET'"),
    (["show", "1" * 5000], 2, "Error: Invalid value for 'TICKET'"),
    (["sms", "list", "--ticket", "10004"], 2, "Error: Invalid value for '--ticket'"),
    (["list", "--as-of"], 2, "Error: No such option '--as-of'"),
]


@pytest.mark.parametrize("args, code, message", CLI_CASES, ids=[" ".join(c[0][:2]) for c in CLI_CASES])
def test_cli_refusals_are_one_line(run_cli, data_dir, args, code, message):
    run_cli(["init", "--district-code", "SXR", "--district-name", "Srinagar"])
    run_cli(["officer", "add", "rafiq", "--name", "Rafiq", "--phone", "9419000101", "--area", "Khanyar",
             "--category", "ration"])
    run_cli(["log", "--phone", "9876543210", "--area", "Khanyar", "--category", "ration"])
    before = file_bytes(data_dir)
    err = run_cli(args, expect=code).stderr
    assert err.startswith(message) and err.count("\n") == 1, err
    assert file_bytes(data_dir) == before


@pytest.mark.parametrize("section, setting, message", [
    ("quiet_hours", 'start = "9pm"', "quiet_hours.start = '9pm' is not a time like 21:00"),
    ("store", 'lock_timeout_seconds = "ten"', "store.lock_timeout_seconds = 'ten' is not a number"),
])
def test_bad_config_values_are_one_line(run_cli, data_dir, section, setting, message):
    run_cli(["init", "--district-code", "SXR", "--district-name", "Srinagar"])
    config = data_dir / "config.toml"
    text = config.read_text()
    key = setting.split(" = ")[0]
    lines = [l for l in text.splitlines() if not l.startswith(key + " =")]
    at = lines.index(f"[{section}]")
    lines.insert(at + 1, setting)
    config.write_text("\n".join(lines) + "\n")
    err = run_cli(["list"], expect=1).stderr
    assert message in err and err.count("\n") == 1, err


def test_closed_stdin_is_a_usage_error_not_a_crash(run_cli, data_dir):
    run_cli(["init", "--district-code", "SXR", "--district-name", "Srinagar"])
    result = subprocess.run([helpline_exe(), "log", "--area", "Khanyar"], stdin=subprocess.DEVNULL, capture_output=True,
                            text=True, env=dict(os.environ, HELPLINE_DATA_DIR=str(data_dir)), timeout=60)
    closed = subprocess.run(f"{helpline_exe()} log --area Khanyar <&-", shell=True, capture_output=True, text=True,
                            env=dict(os.environ, HELPLINE_DATA_DIR=str(data_dir)), timeout=60)
    for r in (result, closed):
        assert r.returncode == 2 and r.stderr.startswith("Error: Missing option '--phone'"), r.stderr


@pytest.mark.parametrize("args, option", [
    (["report", "--from", "0001-01-01", "--to", "0001-01-02"], "'--from': '0001-01-01' is not a date from 1900 to 2999"),
    (["report", "--to", "9999-12-31"], "'--to': '9999-12-31' is not a date from 1900 to 2999"),
    (["report", "--overdue", "--format", "csv", "--from", "0001-01-01"], "'--from'"),
    (["export", "--format", "csv", "--from", "0001-01-01"], "'--from'"),
    (["list", "--since", "0001-01-01"], "'--since'"),
    (["list", "--until", "9999-12-31"], "'--until'"),
    (["jobs", "verification-list", "--date", "0001-01-01"], "'--date'"),
    (["jobs", "run", "digest", "--date", "9999-12-31"], "'--date'"),
    (["purge", "--older-than", "99999999", "--dry-run"], "'--older-than': 99999999 is not in the range 1<=x<=36500"),
    (["sms", "sync", "--days", "99999999"], "'--days'"),
    (["sms", "list", "--days", "99999999"], "'--days'"),
])
def test_a_date_or_a_number_of_days_out_of_range_is_a_usage_error_not_a_crash(district, run_cli, data_dir, args,
                                                                              option):
    """Year 1 or 9999, or a million days, overflowed the date arithmetic ("unexpected OverflowError"),
    and a verification list for year 1 was recorded as a failed job run."""
    config, store = district
    log(store, config)
    before = file_bytes(data_dir)
    err = run_cli(args, expect=2).stderr
    assert err.startswith(f"Error: Invalid value for {option}") and err.count("\n") == 1
    assert file_bytes(data_dir) == before


def test_dates_and_days_at_the_ends_of_the_range_work(district, run_cli):
    config, store = district
    log(store, config)
    assert "1 ticket" in run_cli(["list", "--since", "1900-01-01", "--until", "2999-12-31"]).stdout
    assert run_cli(["report", "--from", "1900-01-01", "--to", "2999-12-31", "--format", "json"], as_json=True)["opened"] == 1
    assert "would purge 0 tickets" in run_cli(["purge", "--older-than", "36500", "--dry-run"]).stdout


def test_an_archive_after_days_too_large_is_one_line_naming_the_setting(district, run_cli, data_dir):
    """1e12 days crashed 'db archive' and failed the archive job with an OverflowError."""
    config, store = district
    log(store, config)
    path = data_dir / "config.toml"
    path.write_text(path.read_text(encoding="utf-8").replace("archive_after_days = 1", "archive_after_days = 1e12"),
                    encoding="utf-8")
    before = file_bytes(data_dir)
    for args in (["db", "archive"], ["jobs", "archive"]):
        err = run_cli(args, expect=1).stderr
        assert err.count("\n") == 1 and "store.archive_after_days = 1000000000000.0 is more than 36,500 days" in err
    assert file_bytes(data_dir) == before
