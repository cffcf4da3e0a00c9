"""Set-up that cannot hurt data: init over existing data, db check without a config, backups
outside the data directory, dated by local time, and db restore."""

import os
import re
import stat
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from conftest import NOW, file_bytes
from helpline_core import dbtools, outbox, retention, tickets
from helpline_core.archive import archive_final_tickets
from helpline_core.clock import from_iso
from helpline_core.config import load_config
from helpline_core.dbtools import (backup_folder, backup_stamp, backup_store, check_backup, check_store,
                                   restore_backup)
from helpline_core.district import init_district
from helpline_core.errors import ConfigError, InvalidValue, StoreDamaged
from helpline_core.gateways import FileGateway
from helpline_core.sending import send_outbox
from helpline_core.store import RESTORE_JOURNAL, Store, read_json
from conftest import on_terminal

STAMP = r"backup-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\+0530"


def log(store, config, phone="9876543210", now=NOW):
    with store.transaction() as db:
        return tickets.log_call(db, config, store, phone=phone, area="Khanyar", category="ration", actor="op",
                                now=now)[0]


def close(store, config, ticket_id, now=NOW):
    with store.transaction() as db:
        tickets.resolve(db, config, ticket_id, note="done", actor="op", now=now)
        tickets.verify(db, config, ticket_id, confirmed=True, actor="nusrat", now=now)


def live_ids(store):
    return sorted(t["id"] for t in store.snapshot().table("tickets").all())


def counter(path):
    """:returns: the ticket counter of a live file."""
    return read_json(path)["meta"]["1"]["serial"]


def same_but_counter(path, other):
    """:returns: True when two live files hold the same tables, the ticket counter aside."""
    def without_counter(p):
        data = read_json(p)
        data.pop("meta")
        return data
    return without_counter(path) == without_counter(other)


def set_backup_dir(data_dir, value):
    path = data_dir / "config.toml"
    text = re.sub(r"(?m)^backup_dir = .*\n", "", path.read_text(encoding="utf-8"))
    path.write_text(text.replace("[store]\n", f'[store]\nbackup_dir = "{value}"\n'), encoding="utf-8")
    return load_config(data_dir)


# 1. init never sets up over data ---------------------------------------------------------------


def _with_tickets(district):
    config, store = district
    log(store, config)
    return config, store


def _with_archive_only(district):
    config, store = district
    ticket = log(store, config)
    close(store, config, ticket["id"])
    archive_final_tickets(store, config, NOW + timedelta(days=2))
    assert live_ids(store) == [] and store.archived_blocks()
    return config, store


def _with_texts_only(district):
    config, store = district
    log(store, config)
    send_outbox(store, config, FileGateway(store.data_dir), NOW)
    with store.transaction() as db:  # the ticket gone, its texts still there
        db.table("tickets").truncate()
    return config, store


@pytest.mark.parametrize("make, found", [(_with_tickets, "1 live ticket"), (_with_archive_only, "1 archive file"),
                                         (_with_texts_only, "SMS day file")])
def test_init_refuses_a_folder_with_data_even_without_its_config(district, data_dir, make, found):
    make(district)
    (data_dir / "config.toml").unlink()
    before, mode = file_bytes(data_dir), stat.S_IMODE(data_dir.stat().st_mode)
    with pytest.raises(ConfigError) as refused:
        init_district(data_dir, code="XYZ", name="Elsewhere")
    message = str(refused.value)
    assert found in message and str(data_dir) in message and "\n" not in message
    assert file_bytes(data_dir) == before and stat.S_IMODE(data_dir.stat().st_mode) == mode


def test_init_force_needs_the_code_of_the_tickets_there(district, data_dir):
    config, store = district
    first = log(store, config)
    (data_dir / "config.toml").unlink()
    before = file_bytes(data_dir)
    with pytest.raises(ConfigError, match="district SXR .*cannot change to XYZ.*--district-code SXR"):
        init_district(data_dir, code="XYZ", name="Elsewhere", force=True)
    assert file_bytes(data_dir) == before
    config = init_district(data_dir, code="sxr", name="Srinagar", force=True)
    assert config.district_code == "SXR"
    second = log(Store(data_dir), config, phone="9876500002")
    assert second["id"].startswith("SXR-") and second["serial"] == first["serial"] + 1


def test_init_force_over_texts_whose_district_cannot_be_told_is_refused(district, data_dir):
    _with_texts_only(district)
    (data_dir / "config.toml").unlink()
    before = file_bytes(data_dir)
    with pytest.raises(ConfigError, match="neither a config.toml nor a ticket ID says which district"):
        init_district(data_dir, code="SXR", name="Srinagar", force=True)
    assert file_bytes(data_dir) == before


def test_init_with_its_config_keeps_refusing_another_code(district, data_dir):
    config, store = district
    log(store, config)
    with pytest.raises(ConfigError, match="To rewrite its config.toml give --force --district-code SXR"):
        init_district(data_dir, code="SXR", name="Srinagar")
    with pytest.raises(ConfigError, match="cannot change to ABC"):
        init_district(data_dir, code="ABC", name="Elsewhere", force=True)
    assert init_district(data_dir, code="SXR", name="Srinagar City", force=True).district_name == "Srinagar City"


def test_cli_init_over_an_sxr_database_without_config(district, data_dir, run_cli):
    config, store = district
    log(store, config)
    (data_dir / "config.toml").unlink()
    before = file_bytes(data_dir)
    for args in (["init", "--district-code", "XYZ", "--district-name", "X"],
                 ["init", "--district-code", "XYZ", "--district-name", "X", "--force"],
                 ["init", "--district-code", "SXR", "--district-name", "Srinagar"]):
        err = run_cli(args, expect=1).stderr
        assert err.startswith(f"Error: {data_dir} ") and err.count("\n") == 1 and "district SXR" in err
    assert file_bytes(data_dir) == before
    run_cli(["init", "--district-code", "SXR", "--district-name", "Srinagar", "--force"])
    out = run_cli(["log", "--phone", "9876500002", "--area", "Khanyar", "--category", "ration", "--json"], as_json=True)
    assert out["id"].startswith("SXR-")


# 2. db check without a config -------------------------------------------------------------------


def test_db_check_fails_without_config(district, data_dir, run_cli):
    config, store = district
    log(store, config)
    assert check_store(store)[0] == []
    (data_dir / "config.toml").unlink()
    problems, _ = check_store(store)
    assert len(problems) == 1 and problems[0].startswith(f"no config.toml in {data_dir}")
    result = run_cli(["db", "check"], expect=1)
    assert "PROBLEM: no config.toml" in result.stdout and "OK" not in result.stdout
    assert result.stderr == f"Error: 1 problem found in {data_dir}.\n"


# 4. and 5. backups outside the data directory, named by local time -----------------------------


def test_backup_stamp_is_local_time_with_its_offset():
    assert backup_stamp(NOW, ZoneInfo("Asia/Kolkata")) == "2026-11-30T11-30-00+0530"
    assert backup_stamp(NOW, ZoneInfo("America/New_York")) == "2026-11-30T01-00-00-0500"
    assert backup_stamp(NOW + timedelta(days=200), ZoneInfo("America/New_York")) == "2027-06-18T02-00-00-0400"


def test_backup_folder_is_given_or_configured_and_never_inside(district, data_dir, tmp_path):
    config, store = district
    with pytest.raises(ConfigError, match=r"no backup folder: give --to DIR .*backup_dir under \[store\]"):
        backup_folder(data_dir, config)
    with pytest.raises(ConfigError, match="give --backup-to DIR"):
        backup_folder(data_dir, config, option="--backup-to")
    for inside in (data_dir, data_dir / "backups", data_dir / "sub" / ".." / "x"):
        with pytest.raises(InvalidValue, match="inside the data directory"):
            backup_folder(data_dir, config, inside)
    (tmp_path / "link").symlink_to(data_dir)
    with pytest.raises(InvalidValue, match="inside the data directory"):
        backup_folder(data_dir, config, tmp_path / "link" / "bk")
    assert backup_folder(data_dir, config, tmp_path / "usb") == tmp_path / "usb"
    assert set_backup_dir(data_dir, "helpline-backups").backup_dir == tmp_path / "helpline-backups"
    assert backup_folder(data_dir, load_config(data_dir)) == tmp_path / "helpline-backups"
    assert set_backup_dir(data_dir, str(tmp_path / "abs")).backup_dir == tmp_path / "abs"


def test_config_refuses_a_backup_dir_that_is_not_a_path(district, data_dir):
    path = data_dir / "config.toml"
    path.write_text(path.read_text(encoding="utf-8").replace("[store]\n", "[store]\nbackup_dir = 5\n"),
                    encoding="utf-8")
    with pytest.raises(ConfigError, match="store.backup_dir = 5 is not a folder name"):
        load_config(data_dir)


def test_backup_goes_to_the_configured_folder_with_a_manifest(district, data_dir, tmp_path):
    config, store = district
    log(store, config)
    config = set_backup_dir(data_dir, "backups")
    target = backup_store(store, config, now=NOW)
    assert target == tmp_path / "backups" / "backup-2026-11-30T11-30-00+0530"
    assert (target / "helpline.json").read_bytes() == store.path.read_bytes()
    assert check_backup(target)["live"] == 1 and check_backup(target)["made_at"] == "2026-11-30T06:00:00+00:00"
    assert not (data_dir / "backups").exists()


def test_purge_without_a_backup_folder_is_refused(district, data_dir):
    config, store = district
    ticket = log(store, config, now=NOW - timedelta(days=60))
    close(store, config, ticket["id"], now=NOW - timedelta(days=60))
    before = file_bytes(data_dir)
    assert retention.purge(store, config, older_than_days=30, now=NOW, dry_run=True).tickets == 1
    with pytest.raises(ConfigError, match="give --backup-to DIR"):
        retention.purge(store, config, older_than_days=30, now=NOW)
    with pytest.raises(InvalidValue, match="inside the data directory"):
        retention.purge(store, config, older_than_days=30, now=NOW, backup_dir=data_dir / "backups")
    assert file_bytes(data_dir) == before


def test_cli_backup_needs_a_folder_outside(district, data_dir, tmp_path, run_cli):
    config, store = district
    log(store, config)
    before = file_bytes(data_dir)
    err = run_cli(["db", "backup"], expect=1).stderr
    assert err.startswith("Error: no backup folder: give --to DIR") and "backup_dir" in err and err.count("\n") == 1
    err = run_cli(["db", "backup", "--to", str(data_dir / "backups")], expect=1).stderr
    assert "is inside the data directory" in err and err.count("\n") == 1
    assert file_bytes(data_dir) == before
    out = run_cli(["db", "backup", "--to", str(tmp_path / "usb")]).stdout
    assert re.fullmatch(f"Backup written to {re.escape(str(tmp_path / 'usb'))}/{STAMP}\n", out)
    set_backup_dir(data_dir, str(tmp_path / "configured"))
    out = run_cli(["db", "backup"]).stdout
    assert re.fullmatch(f"Backup written to {re.escape(str(tmp_path / 'configured'))}/{STAMP}\n", out)


# 3. db restore ---------------------------------------------------------------------------------


@pytest.fixture
def backed_up(district, data_dir, tmp_path):
    """A district with an archived ticket, a live one and sent texts, backed up to
    ``tmp_path/usb``, then changed (a new ticket, the live one closed). :returns: (config, store,
    backup, the backup's live ids)."""
    config, store = district
    old = log(store, config, phone="9876500001")
    close(store, config, old["id"])
    archive_final_tickets(store, config, NOW + timedelta(days=2))
    log(store, config)
    send_outbox(store, config, FileGateway(store.data_dir), NOW)
    ids = live_ids(store)
    backup = backup_store(store, config, tmp_path / "usb", now=NOW)
    later = NOW + timedelta(hours=3)
    log(store, config, phone="9876500003", now=later)
    close(store, config, ids[0], now=later)
    return config, store, backup, ids


def test_restore_brings_the_tickets_back_and_keeps_the_current_data(backed_up, data_dir, tmp_path):
    config, store, backup, ids = backed_up
    current = file_bytes(data_dir)
    assert live_ids(store) != ids
    issued = counter(store.path)
    result = restore_backup(store, backup, NOW + timedelta(hours=4))
    assert live_ids(store) == ids and result["code"] == "SXR" and result["live"] == 1
    assert same_but_counter(store.path, backup / "helpline.json") and counter(store.path) == issued
    assert {k: v for k, v in file_bytes(data_dir).items() if not k.endswith(".lock") and k != "helpline.json"} == \
        {k: v for k, v in file_bytes(backup).items() if k not in ("manifest.json", "helpline.json")}
    kept = result["kept"]
    assert kept == tmp_path / "usb" / "backup-2026-11-30T15-30-00+0530-before-restore"
    assert {k: v for k, v in file_bytes(kept).items() if k != "manifest.json"} == \
        {k: v for k, v in current.items() if not k.endswith(".lock")}
    assert check_store(store)[0] == []
    restored = store.find_ticket_document(store.snapshot().table("tickets").all()[0]["serial"])
    assert restored["status"] == "assigned"  # closed after the backup: back as it was
    assert not any(p.name.startswith(".restore") for p in data_dir.iterdir())


@pytest.mark.parametrize("damage", ["truncated", "archive missing", "changed", "no manifest, damaged", "no config"])
def test_a_damaged_or_incomplete_backup_is_refused_and_nothing_changes(backed_up, data_dir, tmp_path, damage):
    config, store, backup, ids = backed_up
    live = backup / "helpline.json"
    if damage == "truncated":
        live.write_bytes(live.read_bytes()[:-20])
    elif damage == "archive missing":
        next((backup / "archive").glob("tickets-*.json")).unlink()
    elif damage == "changed":
        live.write_bytes(live.read_bytes().replace(b'"Khanyar"', b'"Eidgah!"'))
    elif damage == "no manifest, damaged":
        (backup / "manifest.json").unlink()
        live.write_bytes(b"{not json")
    else:
        (backup / "config.toml").unlink()
    before, usb = file_bytes(data_dir), sorted((tmp_path / "usb").iterdir())
    with pytest.raises(StoreDamaged, match=f"^{re.escape(str(backup))} cannot be restored: "):
        restore_backup(store, backup, NOW)
    assert file_bytes(data_dir) == before and sorted((tmp_path / "usb").iterdir()) == usb


def test_restore_refuses_another_district_and_a_backup_inside(backed_up, data_dir, tmp_path):
    config, store, backup, ids = backed_up
    other = tmp_path / "other"
    init_district(other, code="ANT", name="Anantnag")
    before = file_bytes(other)
    with pytest.raises(InvalidValue, match="holds district ANT; the backup is of district SXR"):
        restore_backup(Store(other), backup, NOW)
    assert file_bytes(other) == before
    inside = data_dir / "old-backup"
    os.rename(backup, inside)
    with pytest.raises(InvalidValue, match="inside the data directory"):
        restore_backup(store, inside, NOW)


def test_restore_into_a_folder_whose_config_was_lost(backed_up, data_dir):
    config, store, backup, ids = backed_up
    (data_dir / "config.toml").unlink()
    store.path.unlink()
    result = restore_backup(store, backup, NOW + timedelta(hours=4))
    assert live_ids(store) == ids and load_config(data_dir).district_code == "SXR"
    assert not (result["kept"] / "config.toml").exists() and (result["kept"] / "archive").is_dir()


def test_a_restore_cut_short_is_refused_then_finished(backed_up, data_dir, monkeypatch):
    config, store, backup, ids = backed_up
    issued = counter(store.path)
    real_rename, calls = os.rename, []

    def crash(src, dst):
        calls.append(src)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the power goes midway through the moves
        return real_rename(src, dst)

    monkeypatch.setattr(dbtools.os, "rename", crash)
    with pytest.raises(KeyboardInterrupt):
        restore_backup(store, backup, NOW + timedelta(hours=4))
    monkeypatch.setattr(dbtools.os, "rename", real_rename)
    assert (data_dir / RESTORE_JOURNAL).exists()
    with pytest.raises(StoreDamaged, match="a restore of .* was cut short"):
        store.snapshot()
    with pytest.raises(StoreDamaged, match="cut short"):
        log(store, config, phone="9876500009")
    assert any("restore was cut short" in p for p in check_store(store)[0])
    result = restore_backup(store, backup, NOW + timedelta(hours=5))
    assert result["finished"] and live_ids(store) == ids
    assert same_but_counter(store.path, backup / "helpline.json") and counter(store.path) == issued
    assert check_store(store)[0] == [] and not (data_dir / RESTORE_JOURNAL).exists()


def test_cli_restore_asks_and_needs_yes_without_a_terminal(backed_up, data_dir, run_cli, tmp_path):
    config, store, backup, ids = backed_up
    before = file_bytes(data_dir)
    err = run_cli(["db", "restore", str(backup)], expect=2).stderr
    assert "no terminal to confirm on: add --yes" in err
    code, text = on_terminal(data_dir, ["db", "restore", str(backup)], ["n"])
    assert code == 0 and "Nothing was changed." in text and "district SXR, 1 live ticket, 1 archive file, made 2026-11-30T11:30:00+05:30" in text
    assert file_bytes(data_dir) == before
    code, text = on_terminal(data_dir, ["db", "restore", str(backup)], ["y"])
    assert code == 0 and "Restored district SXR" in text, text
    assert live_ids(Store(data_dir)) == ids


def test_cli_restore_refuses_a_damaged_backup(backed_up, data_dir, run_cli):
    config, store, backup, ids = backed_up
    (backup / "helpline.json").write_bytes(b"")
    before = file_bytes(data_dir)
    err = run_cli(["db", "restore", str(backup), "--yes"], expect=1).stderr
    assert err.startswith(f"Error: {backup} cannot be restored: ") and err.count("\n") == 1
    assert file_bytes(data_dir) == before


def test_cli_backup_then_restore_round_trip(district, data_dir, run_cli, tmp_path):
    config, store = district
    log(store, config)
    out = run_cli(["db", "backup", "--to", str(tmp_path / "usb")]).stdout
    backup = out.split(" to ")[-1].strip()
    saved = run_cli(["list", "--status", "all", "--json"], as_json=True)
    run_cli(["log", "--phone", "9876500002", "--area", "Khanyar", "--category", "ration"])
    out = run_cli(["db", "restore", backup, "--yes"]).stdout
    assert f"Restored district SXR from {backup}: 1 live ticket, 0 archive files." in out
    assert re.search(f"Current data kept in .*/{STAMP}-before-restore\n", out)
    assert run_cli(["list", "--status", "all", "--json"], as_json=True) == saved
    assert run_cli(["db", "check"]).stdout.endswith("OK\n")


def test_a_backup_from_before_manifests_restores(backed_up, data_dir):
    config, store, backup, ids = backed_up
    (backup / "manifest.json").unlink()
    assert check_backup(backup)["made_at"] is None
    restore_backup(store, backup, NOW + timedelta(hours=4))
    assert live_ids(store) == ids


def test_cli_restore_onto_a_new_machine(backed_up, run_cli, tmp_path):
    config, store, backup, ids = backed_up
    fresh = tmp_path / "new-machine" / "data"
    out = run_cli(["db", "restore", str(backup), "--yes"], env={"HELPLINE_DATA_DIR": str(fresh)}).stdout
    assert "Current data kept" not in out and "Restored district SXR" in out
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in fresh.rglob("*") if p.is_file())
    assert live_ids(Store(fresh)) == ids
    assert run_cli(["db", "check"], env={"HELPLINE_DATA_DIR": str(fresh)}).stdout.endswith("OK\n")


def test_restore_never_issues_an_id_given_after_the_backup_again(backed_up, data_dir):
    config, store, backup, ids = backed_up
    given_later = [t for t in live_ids(store) if t not in ids]  # the fixture logs one after the backup
    assert len(given_later) == 1 and counter(backup / "helpline.json") < counter(store.path)
    result = restore_backup(store, backup, NOW + timedelta(hours=4))
    assert result["lost"] == given_later and given_later[0] not in live_ids(store)
    again = log(store, config, phone="9876500044", now=NOW + timedelta(hours=5))
    assert again["id"] not in given_later and again["serial"] > int(given_later[0][4:-1])
    undo = restore_backup(store, result["kept"], NOW + timedelta(hours=6))  # back to before the restore
    assert given_later[0] in live_ids(store) and undo["lost"] == [again["id"]]
    assert log(store, config, phone="9876500055", now=NOW + timedelta(hours=7))["serial"] > again["serial"]
    assert check_store(store)[0] == []


def test_cli_restore_names_the_tickets_it_drops(backed_up, data_dir, run_cli):
    config, store, backup, ids = backed_up
    given_later = [t for t in live_ids(store) if t not in ids]
    out = run_cli(["db", "restore", str(backup), "--yes"]).stdout
    assert f"WARNING: 1 ticket opened after the backup is not in it: {given_later[0]}." in out
    kept = re.search(r"Current data kept in (.*)\n", out).group(1)
    shown = run_cli(["show", given_later[0]], env={"HELPLINE_DATA_DIR": kept}).stdout
    assert shown.startswith(given_later[0])
    opened = run_cli(["log", "--phone", "9876500066", "--area", "Khanyar", "--category", "ration", "--json"],
                     as_json=True)
    assert opened["id"] not in given_later + ids


def test_restore_does_not_send_again_the_texts_sent_since_the_backup(district, data_dir, tmp_path):
    config, store = district
    ticket = log(store, config)
    waiting = sorted(m["key"] for m in store.snapshot().table("outbox").all())
    assert waiting  # the caller's and the officer's texts, queued when the backup is made
    backup = backup_store(store, config, tmp_path / "usb", now=NOW)
    gateway = FileGateway(store.data_dir)
    assert sorted(send_outbox(store, config, gateway, NOW + timedelta(minutes=5)).sent) == waiting
    result = restore_backup(store, backup, NOW + timedelta(hours=1))
    assert result["texts"] == len(waiting) and store.snapshot().table("outbox").all() == []
    assert send_outbox(store, config, gateway, NOW + timedelta(hours=1, minutes=5)).sent == []
    restored = store.find_ticket_document(ticket["serial"])
    assert sorted(restored["messages"]) == waiting and set(restored["messages"].values()) == {"sent"}
    assert check_store(store)[0] == []
    restore_backup(store, backup, NOW + timedelta(hours=2))  # again: the sent copies are kept again
    assert send_outbox(store, config, gateway, NOW + timedelta(hours=2, minutes=5)).sent == []


def test_cli_restore_keeps_texts_sent_since_and_sends_those_never_sent(district, data_dir, tmp_path, run_cli):
    config, store = district
    log(store, config)
    waiting = sorted(m["key"] for m in store.snapshot().table("outbox").all())
    backup = backup_store(store, config, tmp_path / "usb", now=NOW)
    out = run_cli(["db", "restore", str(backup), "--yes"]).stdout  # nothing sent since: all still to send
    assert "not sent again" not in out
    assert sorted(send_outbox(store, config, FileGateway(data_dir), NOW + timedelta(minutes=5)).sent) == waiting
    out = run_cli(["db", "restore", str(backup), "--yes"]).stdout
    assert f"{len(waiting)} texts the backup had waiting were sent (or tried) after it was made: kept as they " \
           f"are now, not sent again." in out
    assert run_cli(["sms", "send", "--as-of", "2026-12-01T12:00"]).stdout.startswith("Outbox: 0 texts sent.")


def test_two_backups_in_one_second_are_both_kept(district, data_dir, tmp_path, run_cli):
    config, store = district
    log(store, config)
    first = backup_store(store, config, tmp_path / "usb", now=NOW)
    second = backup_store(store, config, tmp_path / "usb", now=NOW)
    assert second == first.parent / f"{first.name}-2" and check_backup(second)["live"] == 1
    third = backup_store(store, config, tmp_path / "usb", now=NOW)
    assert third.name == f"{first.name}-3" and not list((tmp_path / "usb").glob(".*"))
    kept = [restore_backup(store, first, NOW)["kept"] for _ in range(2)]  # a restore done twice at once
    assert kept[1] == kept[0].parent / f"{kept[0].name}-2" and live_ids(store) == live_ids(Store(first))


def test_restore_waits_for_no_sending_run(backed_up, data_dir):
    from helpline_core.errors import JobBusy
    from helpline_core.sending import run_lock

    config, store, backup, ids = backed_up
    def stored():
        return {k: v for k, v in file_bytes(data_dir).items() if not k.endswith(".lock")}

    before, usb = stored(), sorted(backup.parent.iterdir())
    for name in ("sms-send", "sms-sync"):
        with run_lock(store, name):  # a run between its gateway calls and recording their results
            with pytest.raises(JobBusy, match=f"^'{name.replace('-', ' ')}' is running on .*Nothing was changed"):
                restore_backup(store, backup, NOW + timedelta(hours=4))
        assert stored() == before and sorted(backup.parent.iterdir()) == usb
    restore_backup(store, backup, NOW + timedelta(hours=4))
    assert live_ids(store) == ids


def test_half_copies_of_a_killed_backup_are_removed(district, data_dir, tmp_path):
    import subprocess
    import sys

    config, store = district
    log(store, config)
    usb = tmp_path / "usb"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = usb / f".backup-2026-11-30T11-29-00+0530.{int(gone.stdout)}.partial"
    running = usb / f".backup-2026-11-30T11-29-30+0530.{os.getpid()}.partial"  # another district's, under way
    for half in (dead, running):
        (half / "archive").mkdir(parents=True)
        (half / "helpline.json").write_text("{")
    backup = backup_store(store, config, usb, now=NOW)
    assert not dead.exists() and running.exists() and check_backup(backup)["live"] == 1
    assert sorted(p.name for p in usb.iterdir()) == sorted([backup.name, running.name])


def test_the_purge_job_without_a_backup_folder_says_how_to_set_one(district, data_dir):
    config, store = district
    config.raw.setdefault("retention", {})["purge_after_days"] = 30
    with pytest.raises(ConfigError) as refused:
        retention.purge_task(store, config, now=NOW, day=NOW.date().replace(day=1))
    assert str(refused.value).startswith("no backup folder: set backup_dir under [store] in ")
    assert "--backup-to" not in str(refused.value)


def test_restore_over_a_damaged_live_file_still_never_reissues_its_ids(backed_up, data_dir):
    config, store, backup, ids = backed_up
    issued = counter(store.path)
    store.path.write_bytes(store.path.read_bytes()[:300])  # the disk trouble that calls for a restore
    with pytest.raises(StoreDamaged):
        store.snapshot()
    restore_backup(store, backup, NOW + timedelta(hours=4))
    assert counter(store.path) == issued > counter(backup / "helpline.json")
    assert log(store, config, phone="9876500077", now=NOW + timedelta(hours=5))["serial"] == issued + 1


def test_cli_backup_dir_that_is_a_file_says_so(district, data_dir, tmp_path, run_cli):
    (tmp_path / "notes.txt").write_text("not a folder")
    set_backup_dir(data_dir, str(tmp_path / "notes.txt"))
    err = run_cli(["db", "backup"], expect=1).stderr
    assert err == f"Error: {tmp_path / 'notes.txt'} is a file, not a folder for backups; choose a folder. " \
                  f"Nothing was changed.\n"


def test_a_digest_sent_after_the_backup_is_not_sent_again_after_a_restore(district, data_dir, tmp_path):
    from helpline_core.job_tasks import digest_task

    config, store = district
    log(store, config)  # an assigned ticket: its officer gets a morning digest
    gateway = FileGateway(store.data_dir)
    send_outbox(store, config, gateway, NOW)
    backup = backup_store(store, config, tmp_path / "usb", now=NOW)
    day = NOW.astimezone(config.tz).date()
    digest_task(store, config, now=NOW + timedelta(hours=1), day=day)
    digests = send_outbox(store, config, gateway, NOW + timedelta(hours=1)).sent
    assert digests and all("digest" in key for key in digests)
    restore_backup(store, backup, NOW + timedelta(hours=2))
    assert set(digests) <= {m["key"] for m in outbox.list_messages(store, config, NOW + timedelta(hours=2))}
    digest_task(store, config, now=NOW + timedelta(hours=3), day=day)  # the job runs the day's slot again
    assert send_outbox(store, config, gateway, NOW + timedelta(hours=3)).sent == []


def test_an_escalation_sent_after_the_backup_is_not_sent_again_after_a_restore(district, data_dir, tmp_path):
    from helpline_core.job_tasks import escalate_task
    from helpline_core.jobs import job_settings

    config, store = district
    ticket = log(store, config)
    gateway = FileGateway(store.data_dir)
    send_outbox(store, config, gateway, NOW)
    backup = backup_store(store, config, tmp_path / "usb", now=NOW)
    late = from_iso(ticket["due_at"]) + timedelta(hours=1)
    assert escalate_task(store, config, now=late, settings=job_settings(config))["level1"] == 1
    sent = send_outbox(store, config, gateway, late).sent
    assert sent and all(":escalation:" in key for key in sent)
    restore_backup(store, backup, late + timedelta(minutes=10))
    assert set(sent) <= set(store.find_ticket_document(ticket["serial"])["messages"])
    escalate_task(store, config, now=late + timedelta(minutes=20), settings=job_settings(config))  # run again
    assert send_outbox(store, config, gateway, late + timedelta(minutes=20)).sent == []


def test_a_backup_is_read_never_changed(backed_up, data_dir, run_cli):
    config, store, backup, ids = backed_up
    before = file_bytes(backup)
    in_backup = {"HELPLINE_DATA_DIR": str(backup)}
    assert run_cli(["show", ids[0]], env=in_backup).stdout.startswith(ids[0])
    for args in (["log", "--phone", "9876500088", "--area", "Khanyar", "--category", "ration"],
                 ["jobs", "run-due"], ["resolve", ids[0], "--note", "done"]):
        err = run_cli(args, env=in_backup, expect=1).stderr
        assert err.startswith(f"Error: {backup} is a backup made by 'helpline db backup': it can be read") \
            and err.count("\n") == 1
    assert file_bytes(backup) == before
    restore_backup(store, backup, NOW + timedelta(hours=4))  # still whole
    assert live_ids(store) == ids
