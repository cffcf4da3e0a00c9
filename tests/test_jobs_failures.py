"""Scheduled work under failure, slow sending and catch-up, on a fake clock under two server zones."""

import errno
import os
import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from helpline_core import dbtools, jobs, outbox, sending, store as store_module
from helpline_core.errors import DiskFull
from helpline_core.failures import explain
from helpline_core.gateways import Outcome

IST = ZoneInfo("Asia/Kolkata")


def at(day, hour, minute=0, second=0):
    """:returns: aware UTC of an IST wall time on 2026-11-``day`` (day 31 = 1 Dec)."""
    return (datetime(2026, 11, 1, hour, minute, second, tzinfo=IST) + timedelta(days=day - 1)).astimezone(timezone.utc)


@pytest.fixture(params=["UTC", "Asia/Kolkata"])
def server_tz(request, monkeypatch):
    """Run the test with the server's own zone set to UTC, then to IST."""
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    yield request.param
    monkeypatch.undo()
    time.tzset()


class CountingGateway:
    """Sends everything; each send takes ``seconds`` on the fake monotonic clock ``ticks``."""

    name = "counting"

    def __init__(self, ticks=None, seconds=0):
        self.sent, self.ticks, self.seconds = [], ticks, seconds

    def send(self, record, now):
        if self.ticks is not None:
            self.ticks[0] += self.seconds
        self.sent.append((record["key"], record["template"], now))
        return Outcome("sent", gateway_id=f"SM{len(self.sent):032x}")

    def find_sent(self, record, since):
        return None

    def fetch_status(self, gateway_id):
        from helpline_core.gateways import Status

        return Status("delivered")


def checks(store, config, start, end, every, gateway=None):
    """Run ``run_due`` every ``every`` from ``start`` to ``end`` (aware UTC); :returns: all results."""
    gateway = gateway or CountingGateway()
    results, moment = [], start
    while moment < end:
        results += jobs.run_due(store, config, moment, gateway_factory=lambda c, d: gateway)
        moment += every
    return results


def log_lines(store):
    path = store.data_dir / "jobs.log"
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def test_a_broken_folder_for_two_days_backs_off_and_is_logged_once(district, server_tz):
    """Before: every check retried the list (8,400 FAILED lines in 48 h of 30-second checks, see
    bench/failing_jobs.py). Now: 5, 15 and 60 minutes of back-off, then the next night's slot."""
    config, store = district
    (store.data_dir / "verification").write_text("not a folder", encoding="utf-8")
    results = checks(store, config, at(9, 21, 0), at(11, 21, 0), timedelta(minutes=5))
    failed = [(slot, detail) for job, slot, outcome, detail in results if outcome == "failed"]
    times = [r for r in results if r[2] == "failed"]
    assert len(failed) == 8, failed  # 22:00, 22:05, 22:20, 23:20 on each of the two nights
    assert {slot for slot, _ in failed} == {"2026-11-09", "2026-11-10"}
    assert "given up until its next slot" in failed[3][1] and "next try at 22:05 +0530" in failed[0][1]
    assert all(r[0] == "verification-list" for r in times)
    failed_lines = [line for line in log_lines(store) if "FAILED" in line]
    assert len(failed_lines) == 3, failed_lines  # the error once, then one count a night it gave up
    assert "verification/ is a file, not a folder: move it away" in failed_lines[0]
    assert failed_lines[1].endswith("verification-list 2026-11-09 FAILED x4 since 2026-11-09T22:00:00+05:30 "
                                    "(the same error as logged then); given up until its next slot")
    assert " verification-list 2026-11-10 FAILED x8 since 2026-11-09T22:00:00+05:30 " in failed_lines[2]
    row = {r["job"]: r for r in jobs.status(store, config, at(11, 21, 0))}["verification-list"]
    assert row["failed"] and row["failing"]["count"] == 8
    assert row["failing"]["since"] == at(9, 22, 0).isoformat()

    (store.data_dir / "verification").unlink()  # the administrator moves the file away
    done = checks(store, config, at(11, 22, 0), at(11, 22, 1), timedelta(minutes=1))
    assert ("verification-list", "2026-11-11", "ok") in [r[:3] for r in done]
    recovered = [line for line in log_lines(store) if " verification-list 2026-11-11 ok" in line]
    assert recovered and "after_failed_runs=8" in recovered[0]
    row = {r["job"]: r for r in jobs.status(store, config, at(11, 22, 1))}["verification-list"]
    assert row["failing"] is None and not row["failed"]


def test_an_interval_job_that_keeps_failing_backs_off_to_hourly(district, monkeypatch):
    config, store = district
    from helpline_core import job_tasks

    def broken(*args, **kwargs):
        raise RuntimeError("gateway down")

    monkeypatch.setitem(job_tasks.TASKS, "sync", broken)
    results = checks(store, config, at(10, 10, 0), at(10, 16, 0), timedelta(minutes=1))
    tries = [slot for job, slot, outcome, _ in results if job == "sync" and outcome == "failed"]
    # hourly: 10:00, +5 (still the 10:00 slot), +15, +60, then every 60 minutes
    assert tries == ["2026-11-10T10:00", "2026-11-10T10:00", "2026-11-10T10:00", "2026-11-10T11:00",
                     "2026-11-10T12:00", "2026-11-10T13:00", "2026-11-10T14:00", "2026-11-10T15:00"], tries
    assert sum("FAILED" in line for line in log_lines(store)) == 1


def test_a_failing_jobs_message_says_what_to_do(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "verification").write_text("x")
    try:
        (data / "verification").mkdir()
    except FileExistsError as error:
        message = explain(error, data)
    assert message.startswith("verification/ is a file, not a folder: move it away")
    denied = PermissionError(errno.EACCES, "Permission denied", str(data / "jobs.log"))
    assert "cannot write jobs.log: permission denied" in explain(denied, data)
    assert explain(RuntimeError("boom"), data) == "RuntimeError: boom"


def test_a_full_disk_names_the_file_the_folder_and_the_space_needed(district, monkeypatch):
    """ENOSPC is simulated: ``os.write`` inside the store's atomic write raises it."""
    config, store = district
    real_write = os.write

    def full(fd, data):
        target = os.readlink(f"/proc/self/fd/{fd}")
        if target.endswith(".tmp") and "helpline.json" not in target:  # the store itself still has room
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(store_module.os, "write", full)
    size = len(store_module.dump_json({"tickets": {}}))
    with pytest.raises(DiskFull) as caught:
        store_module.atomic_write(store.data_dir / "x.json", store_module.dump_json({"tickets": {}}))
    text = str(caught.value)
    assert "x.json" in text and str(store.data_dir) in text and f"needed {size} bytes free" in text
    assert "a whole temporary copy of the file" in text
    assert not list(store.data_dir.glob(".x.json.*"))
    outcome, detail = jobs.run_job(store, config, "verification-list", "2026-11-10", at(10, 22).date(), at(10, 22))
    assert outcome == "failed" and "no space left on the disk to write 2026-11-10.csv" in detail


def test_db_check_warns_below_twice_the_live_file(district, monkeypatch):
    config, store = district
    size = store.path.stat().st_size
    monkeypatch.setattr(dbtools.shutil, "disk_usage", lambda path: SimpleNamespace(free=size + 10))
    problems, facts = dbtools.check_store(store)
    assert any("needs a whole temporary copy of it" in p for p in problems), problems
    monkeypatch.setattr(dbtools.shutil, "disk_usage", lambda path: SimpleNamespace(free=10 ** 12))
    problems, facts = dbtools.check_store(store)
    assert problems == [] and any(f.startswith("free space on the disk") for f in facts)


def queue_texts(store, count, now):
    with store.transaction() as db:
        for n in range(count):
            outbox.queue_message(db, now, key=f"test:{n}", recipient=f"+9198765{n:05d}", audience="officer",
                                 template="officer_digest", lang="en", ignore_quiet_hours=True,
                                 context={"district": "Srinagar", "date": "2026-11-10", "open_count": 1,
                                          "overdue_count": 0, "new_count": 0, "oldest": []})


def test_a_long_send_stops_at_its_budget_and_never_pushes_the_list_past_midnight(district, monkeypatch, server_tz):
    """300 texts at 10 s each: 50 minutes of sending. The list (23:30) and the hourly
    escalation still run at their check; the list keeps its date."""
    config, store = district
    config.raw.setdefault("jobs", {}).setdefault("schedule", {})["verification-list"] = "daily 23:30"
    config.raw.setdefault("sms", {})["escalations_ignore_quiet_hours"] = True  # these texts ignore quiet hours
    ticks = [0.0]
    monkeypatch.setattr(sending, "time", SimpleNamespace(monotonic=lambda: ticks[0]))
    gateway = CountingGateway(ticks, seconds=10)
    jobs.run_due(store, config, at(10, 23, 0), gateway_factory=lambda c, d: gateway)
    queue_texts(store, 300, at(10, 23, 20))
    moment, ran = at(10, 23, 25), []
    while moment < at(11, 1, 0):  # the scheduler's check every 30 s of the fake clock
        for job, slot, outcome, detail in jobs.run_due(store, config, moment, gateway_factory=lambda c, d: gateway):
            ran.append((moment, job, slot, outcome))
        moment += timedelta(seconds=30)
    sends = [r for r in ran if r[1] == "send"]
    assert sends[0][3] == "partial"
    assert max(len([s for s in gateway.sent if s[2] == m]) for m, *_ in sends) <= 3  # 25 s budget at 10 s a text
    listing = [r for r in ran if r[1] == "verification-list"]
    assert [(r[0], r[2], r[3]) for r in listing] == [(at(10, 23, 30), "2026-11-10", "ok")]
    escalations = [r for r in ran if r[1] == "escalate"]
    assert [(r[0], r[2]) for r in escalations] == [(at(11, 0, 0), "2026-11-11T00:00")]
    assert len(gateway.sent) == 300 and len({s[0] for s in gateway.sent}) == 300  # each text once
    in_one_check = [r[1] for r in ran if r[0] == at(10, 23, 30)]
    assert in_one_check.index("verification-list") < in_one_check.index("send")


def test_a_daily_job_started_late_keeps_the_date_of_its_slot(district, server_tz):
    config, store = district
    config.raw.setdefault("jobs", {}).setdefault("schedule", {})["verification-list"] = "daily 23:30"
    jobs.run_due(store, config, at(10, 20, 0), gateway_factory=lambda c, d: CountingGateway())
    results = jobs.run_due(store, config, at(11, 0, 15), gateway_factory=lambda c, d: CountingGateway())
    assert ("verification-list", "2026-11-10", "ok") in [r[:3] for r in results]
    assert (store.data_dir / "verification" / "2026-11-10.csv").exists()
    assert not (store.data_dir / "verification" / "2026-11-11.csv").exists()


def test_two_days_off_sends_one_digest_and_every_missed_list(district, server_tz):
    config, store = district
    from helpline_core import tickets

    with store.transaction() as db:
        tickets.log_call(db, config, store, now=at(9, 10), phone="9876543210", area="Khanyar", category="ration",
                         actor="op")
    gateway = CountingGateway()
    jobs.run_due(store, config, at(10, 7, 0), gateway_factory=lambda c, d: gateway)  # first run, then off
    results = checks(store, config, at(13, 8, 0), at(13, 8, 35), timedelta(minutes=5), gateway)
    digests = [(slot, outcome, detail) for job, slot, outcome, detail in results if job == "digest"]
    assert [(slot, outcome) for slot, outcome, _ in digests] == [
        ("2026-11-10", "skipped"), ("2026-11-11", "skipped"), ("2026-11-12", "skipped"), ("2026-11-13", "ok")]
    assert "a newer digest replaces it" in digests[0][2] and "missed by 24 h" in digests[2][2]
    texted = [s for s in gateway.sent if s[1] == "officer_digest"]
    assert len(texted) == 1 and texted[0][2] == at(13, 8, 30)  # one digest, today's, at its time
    lists = sorted(slot for job, slot, outcome, _ in results if job == "verification-list" and outcome == "ok")
    assert lists == ["2026-11-10", "2026-11-11", "2026-11-12"]
    skipped_lines = [line for line in log_lines(store) if " digest " in line and " skipped " in line]
    assert len(skipped_lines) == 3
    assert all(r["state"] == "skipped" for s, r in
               store.snapshot().table("jobs").get(doc_id=[d.doc_id for d in store.snapshot().table("jobs").all()
                                                          if d["job"] == "digest"][0])["slots"].items()
               if s != "2026-11-13")


def test_a_first_run_at_three_skips_the_days_passed_slots(district, server_tz):
    config, store = district
    gateway = CountingGateway()
    results = jobs.run_due(store, config, at(10, 15, 0), gateway_factory=lambda c, d: gateway)
    daily = {(job, outcome) for job, slot, outcome, _ in results if job in ("digest", "archive", "verification-list")}
    assert daily == {("digest", "skipped"), ("archive", "skipped")}
    assert not [s for s in gateway.sent if s[1] == "officer_digest"]
    later = checks(store, config, at(10, 15, 5), at(10, 22, 10), timedelta(minutes=30), gateway)
    assert [r[:3] for r in later if r[0] in ("digest", "archive", "verification-list")] == [
        ("verification-list", "2026-11-10", "ok")]


def test_the_first_run_can_catch_up_its_day_on_request(district):
    config, store = district
    results = jobs.run_due(store, config, at(10, 15, 0), gateway_factory=lambda c, d: CountingGateway(),
                           catch_up_first_day=True)
    assert {(job, outcome) for job, _, outcome, _ in results if job in ("digest", "archive")} == {
        ("digest", "ok"), ("archive", "ok")}


def test_jobs_log_uses_the_district_clock_with_its_offset(district, server_tz):
    config, store = district
    jobs.run_due(store, config, at(10, 15, 0), gateway_factory=lambda c, d: CountingGateway())
    for line in log_lines(store):
        started, finished, as_of = line.split()[:3]
        assert started.endswith("+05:30") and finished.endswith("+05:30"), line
        assert as_of == "as-of=2026-11-10T15:00:00+05:30", line


@pytest.mark.parametrize("server_zone", ["UTC", "Asia/Kolkata"])
def test_run_due_prints_one_line_or_nothing_and_status_keeps_the_as_of_clock(run_cli, data_dir, server_zone):
    import re

    cli = run_cli

    def run_cli(args, expect=0):
        return cli(args, expect=expect, env={"TZ": server_zone})

    run_cli(["init", "--district-code", "SXR", "--district-name", "Srinagar"])
    first = run_cli(["jobs", "run-due", "--as-of", "2026-11-30T15:00"]).stdout.splitlines()
    assert first[0].startswith("2026-11-30 15:00 +0530 ok: escalate 2026-11-30T15:00; send 2026-11-30T15:00")
    assert sorted(first[1:]) == [
        "archive 2026-11-30: skipped, first run at 15:00, after this slot's 03:00; "
        "'run-due --catch-up-first-day' runs it",
        "digest 2026-11-30: skipped, first run at 15:00, after this slot's 08:30; "
        "'run-due --catch-up-first-day' runs it"]
    assert run_cli(["jobs", "run-due", "--as-of", "2026-11-30T15:05"]).stdout.count("\n") == 1
    assert run_cli(["jobs", "run-due", "--as-of", "2026-11-30T15:10", "--quiet"]).stdout == ""
    assert run_cli(["jobs", "run-due", "--as-of", "2026-11-30T15:10"]).stdout == "2026-11-30 15:10 +0530 nothing due.\n"
    (data_dir / "verification").write_text("not a folder", encoding="utf-8")
    failed = run_cli(["jobs", "run-due", "--as-of", "2026-11-30T22:00", "--quiet"], expect=1)
    assert failed.stdout.startswith("verification-list 2026-11-30: FAILED verification/ is a file, not a folder")
    assert failed.stderr == "Error: 1 job failed: verification-list; see 'helpline jobs status'.\n"
    assert run_cli(["jobs", "run-due", "--as-of", "2026-11-30T22:03", "--quiet"]).stdout == ""  # backing off
    status = run_cli(["jobs", "status", "--as-of", "2026-11-30T22:03"], expect=1).stdout  # a job failed: exit 1
    assert "FAILED (1 time in a row since 2026-11-30 22:00; next try 2026-11-30 22:05)" in status
    shown_dates = set(re.findall(r"\d{4}-\d{2}-\d{2}", status))
    assert shown_dates <= {"2026-11-30", "2026-12-01"}, status  # no real-clock time among the simulated ones


def test_run_due_catches_up_the_first_day_on_request(run_cli):
    run_cli(["init", "--district-code", "SXR", "--district-name", "Srinagar"])
    out = run_cli(["jobs", "run-due", "--as-of", "2026-11-30T15:00", "--catch-up-first-day"]).stdout
    assert "digest 2026-11-30" in out.splitlines()[0] and "skipped" not in out


def test_the_scheduler_says_a_failing_check_once(monkeypatch, district, data_dir):
    """A check that fails at every tick (the store's disk full) prints once, then once when it recovers."""
    from click.testing import CliRunner

    from helpline import cli
    from helpline_core import scheduler

    def fake_scheduler(store, config, *, on_tick, on_start, **_):
        on_start()
        for _ in range(100):
            on_tick(DiskFull("no space left on the disk to write helpline.json"), at(10, 9))
        on_tick([], at(10, 9))
        return 101

    monkeypatch.setattr(scheduler, "run_scheduler", fake_scheduler)
    result = CliRunner().invoke(cli, ["--data-dir", str(data_dir), "scheduler"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        "scheduler: the check failed: no space left on the disk to write helpline.json",
        "scheduler: checks work again after 100 failed"]


def test_a_night_off_sends_the_mornings_digest_late_and_skips_yesterdays(district, server_tz):
    config, store = district
    jobs.run_due(store, config, at(10, 7, 0), gateway_factory=lambda c, d: CountingGateway())
    results = jobs.run_due(store, config, at(11, 10, 0), gateway_factory=lambda c, d: CountingGateway())
    digests = [(slot, outcome, detail) for job, slot, outcome, detail in results if job == "digest"]
    assert digests[0][:2] == ("2026-11-10", "skipped") and "only the newest digest (2026-11-11)" in digests[0][2]
    assert digests[1][:2] == ("2026-11-11", "ok")
