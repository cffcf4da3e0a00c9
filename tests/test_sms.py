"""The outbox, quiet hours, templates and the send/sync runs (file gateway and a scripted one)."""

import json
import os
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from conftest import NOW
from helpline_core import notify, outbox, tickets
from helpline_core.errors import GatewayAccountError, JobBusy
from helpline_core.gateways import FileGateway, Outcome, Status, classify_twilio_error
from helpline_core.quiet_hours import quiet_until
from helpline_core.sending import run_lock, send_outbox, sync_outbox
from helpline_core.sms_templates import CALLER_TEMPLATES, render, template_names

IST = ZoneInfo("Asia/Kolkata")
DAY = datetime(2026, 11, 30, 6, 0, tzinfo=timezone.utc)  # 11:30 IST


def ist(hour, minute=0, day=30):
    """:returns: UTC of that IST time on 30 Nov 2026 (day=31 is 1 Dec)."""
    moment = datetime(2026, 11, 30, hour, minute, tzinfo=IST) + timedelta(days=day - 30)
    return moment.astimezone(timezone.utc)


class ScriptedGateway:
    """A gateway whose answers the test chooses: ``answers[recipient]`` is a list of Outcomes."""

    name = "scripted"

    def __init__(self, answers=None):
        self.answers = answers or {}
        self.calls = []

    def send(self, record, now):
        self.calls.append(record["key"])
        queue = self.answers.get(record["recipient"])
        outcome = queue.pop(0) if queue else Outcome("sent", gateway_id=f"SM{len(self.calls):032x}")
        return outcome

    def find_sent(self, record, since):
        return None

    def fetch_status(self, gateway_id):
        return Status("undelivered", 30003, "phone unreachable or switched off")


def log(store, config, now=DAY, **fields):
    args = dict(phone="9876543210", area="Khanyar", category="ration", actor="op", caller_name=None)
    args.update(fields)
    with store.transaction() as db:
        return tickets.log_call(db, config, store, now=now, **args)[0]


def live(store):
    return {d["key"]: d for d in store.snapshot().table("outbox").all()}


# quiet hours ---------------------------------------------------------------------------------

@pytest.mark.parametrize("server_tz", ["UTC", "Asia/Kolkata", "America/New_York"])
def test_quiet_hours_cross_midnight_in_district_time_whatever_the_server_zone(monkeypatch, server_tz):
    monkeypatch.setenv("TZ", server_tz)
    time.tzset()
    try:
        assert quiet_until(ist(20, 59), IST) is None
        assert quiet_until(ist(21, 0), IST) == ist(8, 0, day=31)
        assert quiet_until(ist(23, 30), IST) == ist(8, 0, day=31)
        assert quiet_until(ist(0, 30), IST) == ist(8, 0)
        assert quiet_until(ist(7, 59), IST) == ist(8, 0)
        assert quiet_until(ist(8, 0), IST) is None
        assert quiet_until(ist(13, 0), IST, "12:00", "14:00") == ist(14, 0)  # a window inside one day
        assert quiet_until(ist(13, 0), IST, "08:00", "08:00") is None  # start == end: none
    finally:
        monkeypatch.undo()
        time.tzset()


# queueing ------------------------------------------------------------------------------------

def test_events_queue_the_right_texts_once(district):
    config, store = district
    ticket = log(store, config)
    keys = sorted(live(store))
    assert keys == sorted([f"{ticket['id']}:logged:0:+919876543210", f"{ticket['id']}:assigned:1:+919876543210",
                           f"{ticket['id']}:officer_assigned:1:+919419000104"])
    with store.transaction() as db:  # the same event again queues nothing
        same = tickets.get_live(db, config, ticket["id"])
        assert notify.ticket_event(db, config, same, "assign", DAY) == []
    assert sorted(live(store)) == keys
    record = live(store)[f"{ticket['id']}:assigned:1:+919876543210"]
    assert record["state"] == "queued" and record["body"] is None  # rendered later, not by log
    assert record["context"]["officer_name"] == "Meena Kumari"


def test_landline_and_unknown_numbers_get_no_texts(district):
    config, store = district
    log(store, config, phone="0194 245 2052")
    assert [k for k in live(store) if "+91194" in k] == []
    log(store, config, phone=None, category="medicine")
    assert all(r["recipient"] for r in live(store).values())


def test_every_template_renders_without_none_for_bare_tickets(district):
    config, store = district
    bare = log(store, config, area="Zadibal", language="hi")  # no officer covers it, no caller name
    full = log(store, config, phone="9876500001", caller_name="Ghulam Nabi", description="x" * 200, language="ur")
    with store.transaction() as db:
        officer = db.table("officers").all()[0]
    for ticket in (bare, full):
        for lang in ("en", "hi", "ur"):
            t = dict(ticket, language=lang)
            for event in CALLER_TEMPLATES:
                body, _, _ = render(event, lang, notify.caller_context(config, t, None if ticket is bare else officer))
                assert "None" not in body and "{" not in body and body == body.strip()
            body, _, _ = render("officer_assigned", lang, notify.officer_context(config, t, dict(officer, lang=lang)))
            assert "None" not in body and ("x" * 57 + "..." in body or ticket is bare)
    assert {e for e, _ in template_names()} >= set(CALLER_TEMPLATES) | {"officer_assigned", "officer_digest", "escalation"}


# sending -------------------------------------------------------------------------------------

def test_file_gateway_sends_once_and_moves_messages_out_of_the_live_file(district):
    config, store = district
    ticket = log(store, config)
    report = send_outbox(store, config, FileGateway(store.data_dir), DAY)
    assert len(report.sent) == 3 and live(store) == {}
    lines = [json.loads(l) for l in (store.data_dir / "outbox.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [l["key"].split(":")[1] for l in lines] == ["logged", "assigned", "officer_assigned"]
    assert lines[0]["body"].startswith("Srinagar Helpline: your ticket number is " + ticket["id"])
    assert (lines[0]["encoding"], lines[0]["segments"]) == ("GSM-7", 1)
    assert send_outbox(store, config, FileGateway(store.data_dir), DAY + timedelta(minutes=5)).sent == []
    assert len((store.data_dir / "outbox.jsonl").read_text().splitlines()) == 3
    day_file = json.loads((store.data_dir / "sms" / "2026-11-30.json").read_text())["messages"]
    assert {r["state"] for r in day_file.values()} == {"sent"}
    with store.transaction() as db:
        assert set(tickets.get_live(db, config, ticket["id"])["messages"].values()) == {"sent"}
    assert sync_outbox(store, config, FileGateway(store.data_dir), DAY)["delivered"] == 3


def test_quiet_hours_hold_then_send_once_in_order(district):
    config, store = district
    first = log(store, config, now=ist(22, 0))
    second = log(store, config, now=ist(23, 0), phone="9876500001", category="medicine")
    gateway = ScriptedGateway()
    report = send_outbox(store, config, gateway, ist(23, 30))
    assert gateway.calls == [] and len(report.held) == 6
    assert {r["state"] for r in live(store).values()} == {"held"}
    assert send_outbox(store, config, gateway, ist(7, 59, day=31)).sent == []
    report = send_outbox(store, config, gateway, ist(8, 0, day=31))
    assert len(report.sent) == 6 and gateway.calls[0] == f"{first['id']}:logged:0:+919876543210"
    assert gateway.calls[3].startswith(second["id"])
    send_outbox(store, config, gateway, ist(9, 0, day=31))
    assert len(gateway.calls) == 6


def test_permanent_error_fails_and_flags_the_number(district):
    config, store = district
    ticket = log(store, config, area="Zadibal")
    gateway = ScriptedGateway({"+919876543210": [classify_twilio_error(400, 21614, "not a mobile")]})
    report = send_outbox(store, config, gateway, DAY)
    assert len(report.failed) == 1
    with store.transaction() as db:
        flagged = tickets.get_live(db, config, ticket["id"])
    assert flagged["sms_blocked"] == "cannot receive SMS: 21614: not a mobile number"
    later = log(store, config, area="Zadibal", category="medicine")
    assert later["sms_blocked"] == flagged["sms_blocked"]


def test_opt_out_queues_no_later_caller_text(district):
    config, store = district
    ticket = log(store, config, area="Zadibal")
    gateway = ScriptedGateway({"+919876543210": [classify_twilio_error(400, 21610, "unsubscribed")]})
    send_outbox(store, config, gateway, DAY)
    with store.transaction() as db:
        tickets.assign(db, config, ticket["id"], "tariq", actor="op", now=DAY)
    gateway.calls.clear()
    report = send_outbox(store, config, gateway, DAY)
    assert report.cancelled == []  # the opted-out number's text is never queued (it was cancelled at send before)
    assert f"{ticket['id']}:assigned:1:+919876543210" not in live(store)
    assert gateway.calls == [f"{ticket['id']}:officer_assigned:1:+919419000103"]


def test_account_error_stops_the_run_and_keeps_the_rest_queued(district):
    config, store = district
    log(store, config)
    gateway = ScriptedGateway({"+919876543210": [classify_twilio_error(401, 20003, "Authenticate")]})
    with pytest.raises(GatewayAccountError, match="20003: authentication failed"):
        send_outbox(store, config, gateway, DAY)
    assert len(gateway.calls) == 1
    assert {(r["state"], r["attempts"]) for r in live(store).values()} == {("queued", 0)}


def test_temporary_errors_back_off_then_give_up(district):
    config, store = district
    log(store, config, area="Zadibal")  # one caller text only
    busy = [classify_twilio_error(429, 20429, "Too Many Requests") for _ in range(10)]
    gateway = ScriptedGateway({"+919876543210": busy})
    moment = DAY
    due_times = []
    for attempt in range(1, 6):
        report = send_outbox(store, config, gateway, moment)
        record = list(live(store).values())[0] if live(store) else None
        if attempt < 5:
            assert report.retrying and record["attempts"] == attempt
            due = datetime.fromisoformat(record["next_attempt_at"])
            due_times.append((due - moment).total_seconds())
            assert send_outbox(store, config, gateway, due - timedelta(seconds=1)).retrying == []  # not yet due
            moment = due
        else:
            assert report.failed and record is None
    assert due_times == [60, 120, 240, 480] and len(gateway.calls) == 5


def test_message_left_sending_is_unknown_then_reconciled_not_resent(district):
    config, store = district
    log(store, config, area="Zadibal")
    gateway = FileGateway(store.data_dir)
    key = list(live(store))[0]
    with store.transaction() as db:  # a run that died after the gateway call, before recording it
        record = db.table("outbox").all()[0]
        body, encoding, segments = render(record["template"], record["lang"], record["context"])
        db.table("outbox").update({"state": "sending", "body": body, "encoding": encoding, "segments": segments,
                                   "attempts": 1, "last_attempt_at": DAY.isoformat()}, doc_ids=[record.doc_id])
        gateway.send(dict(record, body=body, encoding=encoding, segments=segments), DAY)
    report = send_outbox(store, config, gateway, DAY)
    assert report.unknown == [key] and report.reconciled == [key] and report.sent == []
    assert len((store.data_dir / "outbox.jsonl").read_text().splitlines()) == 1
    # one that never reached the gateway is queued again after the check, and sent once
    log(store, config, area="Zadibal", category="medicine")
    with store.transaction() as db:
        record = db.table("outbox").all()[0]
        db.table("outbox").update({"state": "sending", "attempts": 1, "last_attempt_at": DAY.isoformat()},
                                  doc_ids=[record.doc_id])
    report = send_outbox(store, config, gateway, DAY)
    assert len(report.requeued) == 1 and report.sent == report.requeued


def test_missing_template_value_fails_that_message_only(district):
    config, store = district
    log(store, config, area="Zadibal")
    with store.transaction() as db:
        outbox.queue_message(db, DAY, key="broken:1", recipient="+919876500001", audience="caller",
                             template="assigned", lang="en", context={"district": "x"})
    report = send_outbox(store, config, FileGateway(store.data_dir), DAY)
    assert report.failed == ["broken:1"] and len(report.sent) == 1
    record, _ = outbox.find_message(store, "broken:1")
    assert record["state"] == "failed" and "'ticket_id' is undefined" in record["error"]


def test_retry_and_cancel(district):
    config, store = district
    log(store, config, area="Zadibal")
    key = list(live(store))[0]
    outbox.cancel_message(store, config, key, DAY)
    assert outbox.find_message(store, key)[0]["state"] == "cancelled" and live(store) == {}
    outbox.retry_message(store, config, key, DAY)
    assert live(store)[key]["state"] == "queued"
    assert send_outbox(store, config, FileGateway(store.data_dir), DAY).sent == [key]
    with pytest.raises(Exception, match="only failed, undelivered, cancelled or unknown"):
        outbox.retry_message(store, config, key, DAY)


def test_sync_records_delivery_failures(district):
    config, store = district
    log(store, config, area="Zadibal")
    gateway = ScriptedGateway()
    send_outbox(store, config, gateway, DAY)
    counts = sync_outbox(store, config, gateway, DAY + timedelta(hours=1))
    assert counts["undelivered"] == 1
    record = outbox.list_messages(store, config, DAY)[0]
    assert (record["state"], record["error_code"]) == ("undelivered", 30003)
    assert sync_outbox(store, config, gateway, DAY + timedelta(hours=2))["checked"] == 0


def test_two_send_runs_never_overlap(district):
    config, store = district
    with run_lock(store, "sms-send"):
        with pytest.raises(JobBusy, match="another 'sms send' is running"):
            send_outbox(store, config, FileGateway(store.data_dir), DAY)


def test_templates_check_passes_for_every_shipped_template(run_cli):
    run_cli(["init", "--district-code", "SXR", "--district-name", "Srinagar"])
    rows = run_cli(["templates", "check", "--json"], as_json=True)
    assert {(r["template"], r["lang"]) for r in rows} >= {(e, l) for e in CALLER_TEMPLATES for l in ("en", "hi", "ur")}
    assert all(r["problem"] is None and r["segments"] <= r["budget"] for r in rows)
    assert {r["encoding"] for r in rows if r["lang"] == "en"} == {"GSM-7"}
    assert "logged            en   GSM-7" in run_cli(["templates", "check"]).stdout


def test_templates_check_fails_on_a_curly_quote_or_an_overlong_text(district, tmp_path, monkeypatch):
    from helpline_core import sms_templates

    config, _ = district
    folder = tmp_path / "templates" / "sms"
    folder.mkdir(parents=True)
    (folder / "logged.en.txt").write_text("Your ticket’s number is {{ ticket_id }}.", encoding="utf-8")
    (folder / "assigned.hi.txt").write_text("टिकट {{ ticket_id }} " + "अधिकारी " * 20, encoding="utf-8")
    (folder / "closed.ur.txt").write_text("{{ no_such_value }}", encoding="utf-8")
    monkeypatch.setattr(sms_templates, "resource_dir", lambda name: tmp_path / name)
    sms_templates.environment.cache_clear()
    try:
        problems = {(r["template"], r["lang"]): r["problem"] for r in sms_templates.check_templates(config)}
    finally:
        sms_templates.environment.cache_clear()
    assert problems[("logged", "en")] == "English text falls into UCS-2 because of ’"
    assert problems[("assigned", "hi")] == "3 segments, over the budget of 2"
    assert "'no_such_value' is undefined" in problems[("closed", "ur")]
