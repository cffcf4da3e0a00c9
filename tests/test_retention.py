"""Retention: `helpline purge` and the monthly purge job retire callers' personal data (issue 9)."""

import json
import os
import stat
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from conftest import NOW, file_bytes
from helpline_core import reports, retention, tickets
from helpline_core.archive import archive_final_tickets
from helpline_core.config import load_config
from helpline_core.dbtools import check_store
from helpline_core.gateways import make_gateway
from helpline_core.jobs import due_slots, run_job
from helpline_core.sending import send_outbox
from helpline_core.verification import build_verification_list, write_verification_list

OLD = NOW - timedelta(days=60)
OLD_CALLER = "+919876511111"  # two old tickets, both purged
OLD_ALONE = "+919876522222"  # an old rejected ticket
LIVE_OLD = "+919876533333"  # closed long ago but never archived
RECENT = "+919876544444"  # a recent ticket: kept as it is
OLD_WORDS = ("Qwertyname", "qwertydesc", "qwertynote", "qwertyresolve", "qwertycall", "qwertyreject")


def _day(now):
    return now.astimezone(ZoneInfo("Asia/Kolkata")).date()


def _send(store, config, now):
    send_outbox(store, config, make_gateway(config, store.data_dir), now)


def _closed(store, config, phone, at, *, category="ration", words=True):
    with store.transaction() as db:
        ticket, _ = tickets.log_call(db, config, store, phone=phone, area="Khanyar", category=category, actor="op",
                                     now=at, caller_name="Qwertyname" if words else "Kept Name",
                                     description="qwertydesc five" if words else "kept words", force_new=True)
        tickets.log_call(db, config, store, phone=phone, area="Khanyar", category=category, actor="op",
                         now=at + timedelta(minutes=10), description="qwertycall again" if words else "kept call")
        tickets.add_note(db, config, ticket["id"], "qwertynote" if words else "kept note", actor="op",
                         now=at + timedelta(minutes=20))
        tickets.resolve(db, config, ticket["id"], note="qwertyresolve" if words else "kept resolve", actor="op",
                        now=at + timedelta(hours=1))
    _send(store, config, at + timedelta(hours=1))
    with store.transaction() as db:
        tickets.verify(db, config, ticket["id"], confirmed=True, by="nusrat", actor="op", now=at + timedelta(hours=2))
    _send(store, config, at + timedelta(hours=2))
    return ticket["id"]


@pytest.fixture
def district(district, data_dir):
    """conftest's district, with ``[store] backup_dir = "backups"``: a folder beside the data
    directory (a purge takes a backup first, and backups live outside the data directory)."""
    path = data_dir / "config.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("lock_timeout_seconds = 10\n", 'lock_timeout_seconds = 10\nbackup_dir = "backups"\n'),
                    encoding="utf-8")
    return load_config(data_dir), district[1]


@pytest.fixture
def aged(district):
    """Old final tickets (archived and one still live), an old verification list, sent texts in
    day files and outbox.jsonl, and a recent ticket. :returns: (config, store, ids)."""
    config, store = district
    ids = {"old1": _closed(store, config, OLD_CALLER, OLD), "old2": _closed(store, config, OLD_CALLER, OLD + timedelta(days=1))}
    with store.transaction() as db:
        ticket, _ = tickets.log_call(db, config, store, phone=OLD_ALONE, area="Hazratbal", category="other",
                                     actor="op", now=OLD, caller_name="Qwertyname", description="qwertydesc")
        tickets.reject(db, config, store, ticket["id"], reason="qwertyreject", actor="op", now=OLD + timedelta(hours=1))
    ids["rejected"] = ticket["id"]
    _send(store, config, OLD + timedelta(hours=1))
    listing = build_verification_list(store.snapshot(), config, _day(OLD))
    write_verification_list(store.data_dir, listing)
    assert archive_final_tickets(store, config, OLD + timedelta(days=5)) == 3
    ids["live_old"] = _closed(store, config, LIVE_OLD, OLD + timedelta(days=2))  # final long ago, still live
    ids["recent"] = _closed(store, config, RECENT, NOW - timedelta(days=3), words=False)
    with store.transaction() as db:
        ids["open"] = tickets.log_call(db, config, store, phone="9876555555", area="Khanyar", category="ration",
                                       actor="op", now=NOW - timedelta(days=2), caller_name="Open Caller")[0]["id"]
    _send(store, config, NOW - timedelta(days=2))
    return config, store, ids


def _ticket(store, ticket_id):
    return store.find_ticket_document(int(ticket_id[4:-1]))


def _reports(store, config, first, last):
    out = {}
    for by in (None, "day", "category", "area", "officer"):
        report = reports.build_report(store, config, NOW, first, last, by=by)
        out[by or "total"] = (report, reports.csv_text(report))
    out["html"] = reports.html_report(store, config, NOW, first, last)
    out["stats"] = reports.headline(store, config, NOW)
    return out


def _all_text(data_dir):
    """Every file of the data directory but backups, as one text."""
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in sorted(Path(data_dir).rglob("*"))
                     if p.is_file() and "backups" not in p.relative_to(data_dir).parts)


def test_purge_retires_personal_data_and_keeps_every_figure(aged, data_dir):
    config, store, ids = aged
    first, last = _day(OLD) - timedelta(days=1), _day(NOW)
    before = _reports(store, config, first, last)
    assert before["total"][0]["sms_sent"] > 5 and before["total"][0]["opened"] == 6
    assert any(OLD_CALLER in p.read_text(encoding="utf-8") for p in (data_dir / "sms").glob("*.json"))
    assert OLD_CALLER in (data_dir / "outbox.jsonl").read_text(encoding="utf-8")

    original = _ticket(store, ids["old1"])
    result = retention.purge(store, config, older_than_days=30, now=NOW)

    assert (result.live, result.archived, result.tickets) == (1, 3, 4)
    assert sorted(result.ticket_ids) == sorted([ids["old1"], ids["old2"], ids["rejected"], ids["live_old"]])
    assert result.texts > 0 and result.verification_files == 2
    assert result.backup.is_dir() and result.backup.parent == data_dir.parent / "backups"
    assert OLD_CALLER in (result.backup / "archive" / "phones-11.json").read_text(encoding="utf-8")
    assert _reports(store, config, first, last) == before  # every figure as before, HTML page included

    text = _all_text(data_dir)
    for word in OLD_WORDS + (OLD_CALLER, OLD_ALONE, LIVE_OLD, OLD_CALLER[3:], LIVE_OLD[3:]):
        assert word not in text, word
    assert RECENT in text and "kept resolve" in text and "Open Caller" in text  # the recent work is untouched

    old1, old2, rejected, live_old = (_ticket(store, ids[k]) for k in ("old1", "old2", "rejected", "live_old"))
    assert old1["phone"].startswith("purged:") and old1["phone"] == old2["phone"] != rejected["phone"]
    assert old1["caller_name"] is None and old1["description"] is None and old1["purged_at"]
    assert [(e["type"], e["at"], e["actor"]) for e in old1["history"]] == \
        [(e["type"], e["at"], e["actor"]) for e in original["history"]]
    assert [e["type"] for e in old1["history"]][:4] == ["opened", "assign", "call", "note"]
    assert all(e["note"] is None for e in old1["history"]) and any(e["note"] for e in original["history"])
    assert live_old["phone"].startswith("purged:") and live_old["id"] in {t["id"] for t in store.snapshot().table("tickets").all()}
    assert tickets.tickets_of_phone(store.snapshot(), store, OLD_CALLER) == []
    salt = data_dir / "phone-salt"
    assert stat.S_IMODE(salt.stat().st_mode) == 0o600
    assert old1["phone"] == retention.hash_phone(OLD_CALLER, retention.district_salt(store))
    assert not (data_dir / retention.JOURNAL_NAME).exists()
    assert check_store(store)[0] == []

    salt_bytes = salt.read_bytes()
    again = retention.purge(store, config, older_than_days=30, now=NOW)
    assert again.tickets == 0 and again.backup is None and salt.read_bytes() == salt_bytes


def test_repeat_callers_still_count_after_a_purge(aged):
    config, store, ids = aged
    with store.transaction() as db:  # the same caller, again: follows the earlier ticket before the purge
        ticket, _ = tickets.log_call(db, config, store, phone=OLD_CALLER, area="Khanyar", category="ration", actor="op",
                                     now=NOW - timedelta(days=1))
    assert ticket["follows"] == ids["old2"]
    retention.purge(store, config, older_than_days=30, now=NOW)
    purged = [t for t in tickets.iter_tickets(store.snapshot(), store, True) if t.get("purged_at")]
    by_phone = {}
    for t in purged:
        by_phone.setdefault(t["phone"], []).append(t["id"])
    assert sorted(len(v) for v in by_phone.values()) == [1, 1, 2]  # old1 and old2 still one caller


def test_purge_dry_run_changes_nothing(aged, data_dir):
    config, store, ids = aged
    files = file_bytes(data_dir)
    result = retention.purge(store, config, older_than_days=30, now=NOW, dry_run=True)
    assert result.tickets == 4 and result.backup is None
    assert file_bytes(data_dir) == files and not (data_dir / "phone-salt").exists()


@pytest.mark.parametrize("fail_on", ["phones-11.json", "outbox.jsonl", "helpline.json"])
def test_a_failed_purge_leaves_everything_as_it_was(aged, data_dir, monkeypatch, fail_on):
    from helpline_core import store as store_module

    config, store, ids = aged
    files = file_bytes(data_dir)
    real = store_module.atomic_write

    def failing(path, payload):
        if Path(path).name == fail_on:
            raise OSError(28, "No space left on device", str(path))
        return real(path, payload)

    monkeypatch.setattr(store_module, "atomic_write", failing)
    monkeypatch.setattr(retention, "atomic_write", failing)
    with pytest.raises(OSError):
        retention.purge(store, config, older_than_days=30, now=NOW)
    assert file_bytes(data_dir) == files
    assert not (data_dir.parent / "backups").exists() or not any((data_dir.parent / "backups").iterdir())


def test_an_interrupted_purge_is_finished_by_the_next(aged, data_dir):
    config, store, ids = aged
    serial = int(ids["recent"][4:-1])
    (data_dir / retention.JOURNAL_NAME).write_text(json.dumps({"serials": [serial]}), encoding="utf-8")
    assert any("purge was cut short" in p for p in check_store(store)[0])
    result = retention.purge(store, config, older_than_days=30, now=NOW)
    assert result.finished == 1 and ids["recent"] in result.ticket_ids
    assert _ticket(store, ids["recent"])["phone"].startswith("purged:")
    assert not (data_dir / retention.JOURNAL_NAME).exists()


def test_purge_job_is_off_by_default_and_monthly_when_set(aged, data_dir):
    config, store, ids = aged
    assert "purge" not in {job for job, _, _ in due_slots(store.snapshot(), config, NOW)}
    first = date(2026, 12, 1)
    at = NOW + timedelta(days=1)
    assert run_job(store, config, "purge", first.isoformat(), first, at) == \
        ("ok", {"purge": "off ([retention] purge_after_days is not set)"})
    assert not _ticket(store, ids["old1"]).get("purged_at")
    path = data_dir / "config.toml"
    path.write_text(path.read_text(encoding="utf-8") + "\n[retention]\npurge_after_days = 30\n", encoding="utf-8")
    from helpline_core.config import load_config

    config = load_config(data_dir)
    assert "purge" in {job for job, _, _ in due_slots(store.snapshot(), config, NOW)}
    outcome, counts = run_job(store, config, "purge", "2026-11-30", date(2026, 11, 30), NOW, force=True)
    assert outcome == "ok" and counts == {"purge": "not due (it runs on the 1st of the month)"}
    outcome, counts = run_job(store, config, "purge", first.isoformat(), first, at, force=True)
    assert outcome == "ok" and counts["tickets"] == 4 and "backups" in counts["backup"]
    assert _ticket(store, ids["old1"])["purged_at"]


def test_purge_dry_run_says_the_purge_needs_a_backup_folder(aged, data_dir, run_cli, tmp_path):
    """A dry run counted what would be purged, then the purge was refused for want of a backup folder."""
    config, store, _ = aged
    path = data_dir / "config.toml"
    path.write_text(path.read_text(encoding="utf-8").replace('backup_dir = "backups"\n', ""), encoding="utf-8")
    refused = (f"no backup folder: give --backup-to DIR (outside {data_dir}), or set backup_dir under [store] in "
               f"{path} (e.g. backup_dir = \"/media/usb/helpline-backups\").")
    dry = retention.purge(store, load_config(data_dir), older_than_days=30, now=NOW, dry_run=True, option="--backup-to")
    assert dry.tickets == 4 and dry.refused == refused
    as_of = ["--as-of", NOW.isoformat()]
    before = file_bytes(data_dir)
    out = run_cli(["purge", "--older-than", "30", "--dry-run", *as_of]).stdout
    assert out.splitlines()[1:] == [f"  the purge itself would be refused: {refused}"]
    assert run_cli(["purge", "--older-than", "30", "--dry-run", "--json", *as_of], as_json=True)["refused"] == refused
    out = run_cli(["purge", "--older-than", "30", "--dry-run", "--backup-to", str(tmp_path / "b"), *as_of]).stdout
    assert len(out.splitlines()) == 1
    err = run_cli(["purge", "--older-than", "30", *as_of], expect=1).stderr
    assert err == f"Error: {refused} Nothing was changed.\n"
    assert file_bytes(data_dir) == before


def test_purge_cli(aged, data_dir, run_cli):
    config, store, ids = aged
    as_of = ["--as-of", NOW.isoformat()]
    period = ["--from", (_day(OLD) - timedelta(days=1)).isoformat(), "--to", "2026-11-30"]
    report = run_cli(["report", *period, "--format", "json", "--by", "category"], as_json=True)
    dry = run_cli(["purge", "--older-than", "30", "--dry-run", *as_of]).stdout
    assert dry.startswith("Dry run: would purge 4 tickets") and "Nothing was changed." in dry
    out = run_cli(["purge", "--older-than", "30", *as_of]).stdout
    assert out.startswith("Purged 4 tickets") and "backup taken before the purge: " in out
    backup = Path(out.split("backup taken before the purge: ")[1].split()[0])
    assert backup.is_dir() and (backup / "helpline.json").exists()
    after = run_cli(["report", *period, "--format", "json", "--by", "category"], as_json=True)
    assert {k: v for k, v in after.items() if k != "generated_at"} == {k: v for k, v in report.items()
                                                                       if k != "generated_at"}
    assert run_cli(["find", OLD_CALLER]).stdout == "No tickets.\n"
    shown = run_cli(["show", ids["old1"]]).stdout
    assert "purged:" in shown and "qwerty" not in shown.lower()
    assert run_cli(["purge", "--older-than", "30", *as_of, "--json"], as_json=True)["tickets"] == 0
    for bad in (["--older-than", "0"], ["--older-than", "soon"], []):
        assert run_cli(["purge", *bad], expect=2).stderr.startswith("Error:")


def test_a_corrected_number_goes_too(district, data_dir):
    config, store = district
    with store.transaction() as db:
        ticket, _ = tickets.log_call(db, config, store, phone="9876566666", area="Khanyar", category="ration",
                                     actor="op", now=OLD, caller_name="Qwertyname")
    _send(store, config, OLD)
    with store.transaction() as db:
        tickets.edit_phone(db, config, store, ticket["id"], "9876577777", actor="op", now=OLD + timedelta(minutes=5))
        tickets.resolve(db, config, ticket["id"], note="qwertyresolve", actor="op", now=OLD + timedelta(hours=1))
    _send(store, config, OLD + timedelta(hours=1))
    with store.transaction() as db:
        tickets.verify(db, config, ticket["id"], confirmed=True, by="nusrat", actor="op", now=OLD + timedelta(hours=2))
    archive_final_tickets(store, config, OLD + timedelta(days=5))
    assert "9876566666" in _all_text(data_dir) and "9876577777" in _all_text(data_dir)
    assert retention.purge(store, config, older_than_days=30, now=NOW).tickets == 1
    text = _all_text(data_dir)
    assert "9876566666" not in text and "9876577777" not in text and "qwerty" not in text.lower()


def test_jobs_purge_cli_is_off_until_configured(aged, data_dir, run_cli):
    config, store, ids = aged
    out = run_cli(["jobs", "purge", "--date", "2026-12-01", "--as-of", "2026-12-01T03:30"]).stdout
    assert "off ([retention] purge_after_days is not set)" in out
    assert "purge" not in run_cli(["jobs", "run-due", "--as-of", "2026-12-01T03:45"]).stdout
    path = data_dir / "config.toml"
    path.write_text(path.read_text(encoding="utf-8") + "\n[retention]\npurge_after_days = 30\n", encoding="utf-8")
    out = run_cli(["jobs", "purge", "--date", "2026-12-01", "--as-of", "2026-12-01T03:30"]).stdout
    assert "purge 2026-12-01: ok (tickets 4," in out
    assert _ticket(store, ids["old1"])["purged_at"]
