"""Scheduled jobs: slots, claims, catch-up, failures, digests and escalations, with a fake clock."""

import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from helpline_core import job_tasks, jobs, outbox, tickets
from helpline_core.gateways import Outcome
from helpline_core.quiet_hours import quiet_until

IST = ZoneInfo("Asia/Kolkata")


def at(day, hour, minute=0):
    """:returns: aware UTC of an IST wall time on 2026-11-``day`` (day 31 = 1 Dec)."""
    return (datetime(2026, 11, 1, hour, minute, tzinfo=IST) + timedelta(days=day - 1)).astimezone(timezone.utc)


class RecordingGateway:
    name = "recording"

    def __init__(self):
        self.sent = []  # (key, audience, now)

    def send(self, record, now):
        self.sent.append((record["key"], record["audience"], now))
        return Outcome("sent", gateway_id=f"SM{len(self.sent):032x}")

    def find_sent(self, record, since):
        return None

    def fetch_status(self, gateway_id):
        from helpline_core.gateways import Status

        return Status("delivered")


def log(store, config, now, **fields):
    args = dict(phone="9876543210", area="Khanyar", category="ration", actor="op")
    args.update(fields)
    with store.transaction() as db:
        return tickets.log_call(db, config, store, now=now, **args)[0]


def runs_of(store, job):
    doc = store.snapshot().table("jobs").get(doc_id=[d.doc_id for d in store.snapshot().table("jobs").all()
                                                      if d["job"] == job][0])
    return doc["slots"]


@pytest.mark.parametrize("server_tz", ["UTC", "Asia/Kolkata"])
def test_three_days_of_a_fake_clock(district, monkeypatch, server_tz):
    monkeypatch.setenv("TZ", server_tz)
    time.tzset()
    config, store = district
    gateway = RecordingGateway()
    factory = lambda config, data_dir: gateway
    try:
        moment, end = at(10, 0, 10), at(13, 0, 5)
        n = 0
        while moment < end:
            if n % 7 == 0:  # calls at odd hours, day and night
                log(store, config, moment, phone=f"98765{n:05d}")
            for job, slot, outcome, detail in jobs.run_due(store, config, moment, gateway_factory=factory):
                assert outcome == "ok", (job, slot, detail)
            moment += timedelta(minutes=15)
            n += 1
    finally:
        monkeypatch.undo()
        time.tzset()
    for job, hhmm in (("digest", "08:30"), ("verification-list", "22:00"), ("archive", "03:00")):
        slots = runs_of(store, job)
        expected = {f"2026-11-{d:02d}" for d in (10, 11, 12)}
        if job == "verification-list" or job == "digest":
            pass
        assert set(slots) == expected, (job, sorted(slots))
        for slot, run in slots.items():
            day = int(slot[-2:])
            due = at(day, int(hhmm[:2]), int(hhmm[3:]))
            assert due <= datetime.fromisoformat(run["as_of"]) < due + timedelta(minutes=15), (job, slot, run["as_of"])
    log_lines = (store.data_dir / "jobs.log").read_text(encoding="utf-8").splitlines()
    digests = [l for l in log_lines if " digest " in l]
    assert len(digests) == 3
    for key, audience, sent_at in gateway.sent:
        if audience == "caller":
            assert quiet_until(sent_at, IST) is None, (key, sent_at)
    assert any(a == "caller" for _, a, _ in gateway.sent)


def test_catch_up_after_a_night_off_runs_the_missed_list_once(district):
    config, store = district
    gateway = RecordingGateway()
    factory = lambda config, data_dir: gateway
    jobs.run_due(store, config, at(10, 20, 0), gateway_factory=factory)  # machine on in the evening
    results = jobs.run_due(store, config, at(11, 9, 0), gateway_factory=factory)  # back on in the morning
    ran = [(job, slot) for job, slot, outcome, _ in results if outcome == "ok"]
    assert ("verification-list", "2026-11-10") in ran and ("archive", "2026-11-11") in ran
    assert ("digest", "2026-11-11") in ran
    again = jobs.run_due(store, config, at(11, 9, 5), gateway_factory=factory)
    assert [j for j, _, o, _ in again if j in ("verification-list", "archive", "digest")] == []
    assert (store.data_dir / "verification" / "2026-11-10.csv").exists()


def test_first_run_does_not_replay_days_before_install(district):
    config, store = district
    results = jobs.run_due(store, config, at(10, 23, 0), gateway_factory=lambda c, d: RecordingGateway(),
                           catch_up_first_day=True)
    daily = sorted((job, slot) for job, slot, _, _ in results if job in ("digest", "verification-list", "archive"))
    assert daily == [("archive", "2026-11-10"), ("digest", "2026-11-10"), ("verification-list", "2026-11-10")]


def test_a_failing_job_is_recorded_and_the_others_run(district, monkeypatch):
    config, store = district

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setitem(job_tasks.TASKS, "escalate", broken)
    results = jobs.run_due(store, config, at(10, 12, 0), gateway_factory=lambda c, d: RecordingGateway(),
                           catch_up_first_day=True)
    outcomes = {job: outcome for job, _, outcome, _ in results}
    assert outcomes["escalate"] == "failed" and outcomes["send"] == "ok" and outcomes["digest"] == "ok"
    rows = {r["job"]: r for r in jobs.status(store, config, at(10, 12, 1))}
    assert rows["escalate"]["failed"] and "disk on fire" in rows["escalate"]["last_failure"]["error"]
    assert not rows["send"]["failed"]
    assert "FAILED RuntimeError: disk on fire" in (store.data_dir / "jobs.log").read_text()


def test_a_claimed_job_is_skipped_until_stale(district):
    config, store = district
    assert jobs.claim(store, "digest", "2026-11-10", at(10, 9)) is None
    assert jobs.claim(store, "digest", "2026-11-10", at(10, 9)).startswith("running since")
    assert jobs.claim(store, "digest", "2026-11-10", at(10, 9), stale_after_minutes=0) is None  # a dead run's claim


def test_digest_and_escalations(district):
    config, store = district
    opened = at(10, 10)
    t1 = log(store, config, opened, category="medicine")  # SLA 24 h, rafiq
    t2 = log(store, config, opened, phone="9876500001", area="Zadibal")  # nobody covers Zadibal
    with store.transaction() as db:
        from helpline_core.officers import add_officer

        add_officer(db, config, "bashir", name="Bashir Wani", phone="9419000301", areas=["Zadibal", "Khanyar"],
                    categories=["ration"], role="supervisor", lang="ur", actor="op", now=opened)
    counts = job_tasks.escalate_task(store, config, now=at(11, 9), settings=jobs.job_settings(config))
    assert counts == {"level1": 0, "level2": 0, "unassigned": 1}
    counts = job_tasks.escalate_task(store, config, now=at(11, 11), settings=jobs.job_settings(config))
    assert counts == {"level1": 1, "level2": 0, "unassigned": 0}
    again = job_tasks.escalate_task(store, config, now=at(11, 12), settings=jobs.job_settings(config))
    assert again == {"level1": 0, "level2": 0, "unassigned": 0}
    counts = job_tasks.escalate_task(store, config, now=at(12, 11), settings=jobs.job_settings(config))
    assert counts == {"level1": 1, "level2": 1, "unassigned": 0}  # t1 a day late; t2 (48 h SLA) just late
    messages = {r["key"]: r for r in store.snapshot().table("outbox").all()}
    escalations = sorted((r["recipient"], r["context"]["level"]) for r in messages.values() if r["template"] == "escalation")
    assert escalations == [("+919419000101", "1"), ("+919419000301", "1"), ("+919419000301", "2"),
                           ("+919419000301", "U")]
    with store.transaction() as db:
        history = tickets.get_live(db, config, t1["id"])["history"]
    assert [e["note"] for e in history if e["type"] == "escalate"] == ["level 1: to rafiq", "level 2: to bashir"]

    counts = job_tasks.digest_task(store, config, now=at(12, 8, 30), day=at(12, 8, 30).astimezone(IST).date())
    assert counts == {"digests": 2}  # rafiq (open work), bashir (overdue in his areas)
    digests = [r for r in store.snapshot().table("outbox").all() if r["template"] == "officer_digest"]
    rafiq = [d for d in digests if d["officer_id"] == "rafiq"][0]
    assert rafiq["context"]["open_count"] == 1 and rafiq["context"]["overdue_count"] == 1
    assert rafiq["context"]["oldest"][0]["id"] == t1["id"] and rafiq["lang"] == "ur"
    assert job_tasks.digest_task(store, config, now=at(12, 9), day=at(12, 8, 30).astimezone(IST).date()) == {"digests": 0}


def test_slot_for_and_bad_job(district):
    config, _ = district
    assert jobs.slot_for(config, "send", at(10, 8, 37)) == ("2026-11-10T08:35", None)
    assert jobs.slot_for(config, "sync", at(10, 8, 37)) == ("2026-11-10T08:00", None)
    with pytest.raises(Exception, match="unknown job 'digets'"):
        jobs.slot_for(config, "digets", at(10, 8))
