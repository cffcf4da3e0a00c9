"""Every text true when it goes out: texts checked against the ticket at send time (superseded,
collapsed, figures of the moment), cancel by ticket, and a follow-up call on a resolved ticket."""

import json
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from helpline_core import job_tasks, jobs, outbox, reports, tickets
from helpline_core.errors import NotFound
from helpline_core.gateways import FileGateway
from helpline_core.officers import deactivate_officer
from helpline_core.sending import send_outbox

IST = ZoneInfo("Asia/Kolkata")
CALLER = "+919876543210"
MEENA = "+919419000104"  # covers Khanyar / ration: the log below routes to her
RAFIQ = "+919419000101"


def ist(hour, minute=0, day=30):
    """:returns: UTC of that IST time on 30 Nov 2026 (day=31 is 1 Dec)."""
    return (datetime(2026, 11, 30, hour, minute, tzinfo=IST) + timedelta(days=day - 30)).astimezone(timezone.utc)


def log(store, config, now, **fields):
    args = dict(phone="9876543210", area="Khanyar", category="ration", actor="op")
    args.update(fields)
    with store.transaction() as db:
        return tickets.log_call(db, config, store, now=now, **args)[0]


def change(store, fn, *args, **kwargs):
    with store.transaction() as db:
        return fn(db, *args, **kwargs)


def sent_lines(store):
    path = store.data_dir / "outbox.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def night(store, config):
    """Send at 23:30 (everything held), then at 08:00 the next morning. :returns: the morning's report."""
    gateway = FileGateway(store.data_dir)
    held = send_outbox(store, config, gateway, ist(23, 30))
    assert held.sent == [] and held.held
    return send_outbox(store, config, gateway, ist(8, 0, day=31))


def states(store, config):
    return {r["key"]: r["state"] for r in outbox.list_messages(store, config, ist(8, 0, day=31))}


# the ticket moved on overnight ----------------------------------------------------------------

def test_rejected_overnight_texts_are_superseded_not_sent(district):
    config, store = district
    ticket = log(store, config, ist(23, 0))
    change(store, tickets.reject, config, store, ticket["id"], reason="prank call", actor="op", now=ist(23, 20))
    report = night(store, config)
    assert report.sent == [] and sent_lines(store) == []
    assert sorted(report.superseded) == sorted(states(store, config))
    assert set(states(store, config).values()) == {"superseded"}
    record, where = outbox.find_message(store, f"{ticket['id']}:assigned:1:{CALLER}")
    assert where != "live" and record["superseded"].startswith("the ticket was rejected at 2026-11-30 23:20")
    with store.transaction() as db:  # show's summary says so too
        assert set(db.table("tickets").get(doc_id=ticket["serial"])["messages"].values()) == {"superseded"}
    morning = ist(8, 0, day=31).astimezone(IST).date()
    report = reports.build_report(store, config, ist(9, 0, day=31), morning, morning)
    assert (report["sms_superseded"], report["sms_sent"]) == (3, 0)
    assert "SMS superseded (not sent)      3" in reports.table_text(report)
    evening = reports.build_report(store, config, ist(9, 0, day=31), morning - timedelta(days=1), morning - timedelta(days=1))
    assert evening["sms_superseded"] == 0


def test_deactivated_officer_gets_no_new_ticket_text(district):
    config, store = district
    ticket = log(store, config, ist(23, 0))
    change(store, deactivate_officer, config, "meena", actor="op", now=ist(23, 10))
    report = night(store, config)
    assert f"{ticket['id']}:officer_assigned:1:{MEENA}" in report.superseded
    assert all(line["to"] != MEENA for line in sent_lines(store))


def test_officer_deactivated_after_queueing_gets_no_digest(district):
    config, store = district
    log(store, config, ist(7, 0))
    job_tasks.digest_task(store, config, now=ist(7, 30), day=ist(7, 30).astimezone(IST).date())
    change(store, deactivate_officer, config, "meena", actor="op", now=ist(7, 40))
    report = send_outbox(store, config, FileGateway(store.data_dir), ist(8, 0))
    digest = [k for k in report.superseded if k.startswith("digest:")]
    assert digest and "officer meena is no longer active" in outbox.find_message(store, digest[0])[0]["superseded"]


def test_a_nights_many_changes_collapse_to_the_latest_state_text(district):
    config, store = district
    ticket = log(store, config, ist(23, 0))
    tid, minute = ticket["id"], 1
    for _ in range(2):
        change(store, tickets.resolve, config, tid, note="delivered", actor="op", now=ist(23, minute))
        change(store, tickets.reopen, config, tid, note="not received", actor="op", now=ist(23, minute + 1))
        minute += 2
    change(store, tickets.resolve, config, tid, note="delivered", actor="op", now=ist(23, 10))
    change(store, tickets.verify, config, tid, confirmed=True, actor="nusrat", now=ist(23, 20))
    caller_texts = [k for k in states(store, config) if k.endswith(CALLER)]
    assert len(caller_texts) == 8  # logged, assigned, resolved, reopened, resolved, reopened, resolved, closed
    night(store, config)
    to_caller = [line for line in sent_lines(store) if line["to"] == CALLER]
    assert [line["key"].split(":")[1] for line in to_caller] == ["closed"]
    assert [s for k, s in states(store, config).items() if k.endswith(CALLER)].count("superseded") == 7


def test_unassign_and_reassign_texts_the_officer_once(district):
    config, store = district
    ticket = log(store, config, ist(23, 0))
    change(store, tickets.unassign, config, ticket["id"], actor="op", now=ist(23, 5))
    change(store, tickets.assign, config, ticket["id"], "meena", actor="op", now=ist(23, 6))
    night(store, config)
    to_meena = [line["key"] for line in sent_lines(store) if line["to"] == MEENA]
    assert to_meena == [f"{ticket['id']}:officer_assigned:3:{MEENA}"]
    to_caller = [line["key"].split(":")[1] for line in sent_lines(store) if line["to"] == CALLER]
    assert to_caller == ["assigned"]  # the newest assignment only; 'logged' was overtaken too


def test_reassigned_ticket_texts_only_the_new_officer_and_names_them(district):
    config, store = district
    ticket = log(store, config, ist(23, 0))
    change(store, tickets.assign, config, ticket["id"], "rafiq", actor="op", now=ist(23, 30))
    night(store, config)
    lines = sent_lines(store)
    assert [line["to"] for line in lines if "officer_assigned" in line["key"]] == [RAFIQ]
    caller = [line for line in lines if line["to"] == CALLER]
    assert len(caller) == 1 and "Rafiq Ahmad" in caller[0]["body"]


def test_followups_collapse_into_the_state_text_or_the_newest_followup(district):
    config, store = district
    ticket = log(store, config, ist(23, 0))
    log(store, config, ist(23, 30), description="still waiting")
    log(store, config, ist(23, 45), description="still waiting again")
    night(store, config)
    assert [line["key"].split(":")[1] for line in sent_lines(store) if line["to"] == CALLER] == ["logged", "assigned"]
    # in the day: a follow-up alone goes out; two waiting at once collapse to the newest
    log(store, config, ist(10, 0, day=31))
    log(store, config, ist(10, 1, day=31))
    report = send_outbox(store, config, FileGateway(store.data_dir), ist(10, 5, day=31))
    assert report.sent == [f"{ticket['id']}:followup:5:{CALLER}"]
    assert report.superseded == [f"{ticket['id']}:followup:4:{CALLER}"]


def test_daytime_texts_still_all_go_out(district):
    config, store = district
    ticket = log(store, config, ist(10, 0))
    report = send_outbox(store, config, FileGateway(store.data_dir), ist(10, 5))
    assert [k.split(":")[1] for k in report.sent] == ["logged", "assigned", "officer_assigned"]
    assert report.superseded == []
    change(store, tickets.resolve, config, ticket["id"], note="delivered", actor="op", now=ist(11, 0))
    assert send_outbox(store, config, FileGateway(store.data_dir), ist(11, 5)).sent == \
        [f"{ticket['id']}:resolved:2:{CALLER}"]


def test_escalation_hours_are_counted_when_sent_and_resolved_tickets_not_escalated(district):
    config, store = district
    config.raw.setdefault("sms", {})["escalations_ignore_quiet_hours"] = False
    first = log(store, config, ist(21, 0, day=29), category="medicine")  # SLA 24 h: due at 21:00 on the 30th
    second = log(store, config, ist(21, 0, day=29), phone="9876500001", category="medicine")
    job_tasks.escalate_task(store, config, now=ist(22, 0), settings=jobs.job_settings(config))
    send_outbox(store, config, FileGateway(store.data_dir), ist(22, 1))  # quiet hours: held
    change(store, tickets.resolve, config, second["id"], note="delivered", actor="op", now=ist(23, 0))
    report = send_outbox(store, config, FileGateway(store.data_dir), ist(8, 0, day=31))
    escalations = [line for line in sent_lines(store) if "escalation" in line["key"]]
    assert [line["key"].split(":")[0] for line in escalations] == [first["id"]]
    record = outbox.find_message(store, escalations[0]["key"])[0]  # 21:00 to 08:00: not 1 h, as queued at 22:00
    assert record["context"]["overdue_hours"] == 11 and " 11 " in escalations[0]["body"]
    assert any(k.startswith(second["id"] + ":escalation") for k in report.superseded)


# cancel by ticket -------------------------------------------------------------------------------

def test_cancel_all_waiting_texts_of_a_ticket(district):
    config, store = district
    ticket = log(store, config, ist(23, 0))
    other = log(store, config, ist(23, 0), phone="9876500001")
    cancelled = outbox.cancel_ticket_messages(store, config, ticket["id"], ist(23, 5))
    assert sorted(r["key"].split(":")[1] for r in cancelled) == ["assigned", "logged", "officer_assigned"]
    assert {r["ticket_id"] for r in outbox.list_messages(store, config, ist(23, 5), states=["queued"])} == {other["id"]}
    with pytest.raises(NotFound, match=f"ticket {ticket['id']} has no waiting messages"):
        outbox.cancel_ticket_messages(store, config, ticket["id"], ist(23, 6))


# a follow-up call on a resolved ticket ----------------------------------------------------------

def test_call_on_a_resolved_ticket_reopens_it_and_tells_the_caller(district):
    config, store = district
    ticket = log(store, config, ist(10, 0))
    change(store, tickets.resolve, config, ticket["id"], note="delivered", actor="op", now=ist(11, 0))
    with store.transaction() as db:
        again, followup = tickets.log_call(db, config, store, phone="9876543210", area="Khanyar", category="ration",
                                           actor="op", now=ist(12, 0), description="nothing came")
    assert followup and again["id"] == ticket["id"] and again["calls"] == 2
    assert (again["status"], again["officer"], again["resolved_at"]) == ("assigned", "meena", None)
    assert [e["type"] for e in again["history"]][-2:] == ["call", "reopen"]
    assert again["history"][-1]["note"] == "the caller called again: not solved"
    report = send_outbox(store, config, FileGateway(store.data_dir), ist(12, 5))
    texts = {line["key"].split(":")[1]: line["body"] for line in sent_lines(store) if line["to"] == CALLER}
    assert "followup" not in texts and report.sent[-1] == f"{ticket['id']}:reopened:4:{CALLER}"
    assert "open again" in texts["reopened"] and "still being worked on" not in texts["reopened"]


# end to end: the installed CLI, the file gateway, a night --------------------------------------

@pytest.fixture
def ready(run_cli):
    run_cli(["init", "--district-code", "SXR", "--district-name", "Srinagar"])
    run_cli(["officer", "add", "rafiq", "--name", "Rafiq Ahmad", "--phone", "09419000101", "--area", "Khanyar",
             "--category", "ration", "--lang", "en"])
    run_cli(["officer", "add", "meena", "--name", "Meena Kumari", "--phone", "09419000104", "--area", "Khanyar",
             "--category", "ration", "--lang", "en"])
    return run_cli


def _evening():
    """:returns: a local date in the future (operator commands run at the real time, before it)."""
    return (datetime.now(IST) + timedelta(days=2)).date()


def test_cli_night_queue_at_23_change_the_tickets_send_at_08(ready, data_dir):
    run_cli, day = ready, _evening()
    log = ["log", "--area", "Khanyar", "--category", "ration", "--json"]
    rejected = run_cli(log + ["--phone", "09876543210"], as_json=True)["id"]
    moved = run_cli(log + ["--phone", "09876500001"], as_json=True)
    kept = run_cli(log + ["--phone", "09876500002"], as_json=True)
    assert moved["officer"] == "rafiq" and kept["officer"] == "meena"  # routing takes turns
    assert run_cli(["sms", "send", "--as-of", f"{day}T23:00"]).stdout == "Outbox: 0 texts sent, 9 held.\n"
    run_cli(["reject", rejected, "--reason", "prank call"])
    run_cli(["assign", moved["id"], "meena"])
    assert run_cli(["sms", "send", "--as-of", f"{day + timedelta(days=1)}T07:59"]).stdout == \
        "Outbox: 0 texts sent, 2 held.\n"  # the reassignment's two texts join the night's queue
    out = run_cli(["sms", "send", "--as-of", f"{day + timedelta(days=1)}T08:00"]).stdout
    assert out == "Outbox: 5 texts sent, 6 superseded.\n"
    went = [json.loads(line) for line in (data_dir / "outbox.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [line["key"] for line in went] == [
        f"{kept['id']}:logged:0:+919876500002", f"{kept['id']}:assigned:1:+919876500002",
        f"{kept['id']}:officer_assigned:1:{MEENA}",
        f"{moved['id']}:assigned:2:+919876500001", f"{moved['id']}:officer_assigned:2:{MEENA}"]
    assert "is with officer Meena Kumari" in went[3]["body"]
    superseded = run_cli(["sms", "list", "--state", "superseded", "--json"], as_json=True)
    assert sorted(r["key"].rsplit(":", 1)[0] for r in superseded) == sorted(
        [f"{rejected}:logged:0", f"{rejected}:assigned:1", f"{rejected}:officer_assigned:1",
         f"{moved['id']}:logged:0", f"{moved['id']}:assigned:1", f"{moved['id']}:officer_assigned:1"])
    assert all(r["body"] is None and r["sent_at"] is None for r in superseded)
    listing = run_cli(["sms", "list", "--ticket", rejected]).stdout
    assert listing.count("superseded ") == 3 and "the ticket was rejected at " in listing
    shown = run_cli(["show", rejected, "--json"], as_json=True)
    assert {m["state"] for m in shown["messages"]} == {"superseded"}
    assert run_cli(["sms", "send", "--as-of", f"{day + timedelta(days=1)}T09:00"]).stdout == "Outbox: 0 texts sent.\n"


def test_cli_cancel_by_ticket_id(ready, data_dir):
    run_cli = ready
    ticket = run_cli(["log", "--phone", "09876543210", "--area", "Khanyar", "--category", "ration", "--json"],
                     as_json=True)["id"]
    out = run_cli(["sms", "cancel", ticket.lower().replace("-", " ")]).stdout
    assert out.endswith(f"3 waiting messages of {ticket} cancelled.\n") and out.count(" cancelled.\n") == 4
    assert {r["state"] for r in run_cli(["sms", "list", "--json"], as_json=True)} == {"cancelled"}
    err = run_cli(["sms", "cancel", ticket], expect=1).stderr
    assert err == f"Error: ticket {ticket} has no waiting messages; see 'helpline sms list --ticket {ticket}'.\n"
    before = (data_dir / "helpline.json").read_bytes()
    assert run_cli(["sms", "cancel", "SXR-99999"], expect=1).stderr.startswith("Error: ")
    assert (data_dir / "helpline.json").read_bytes() == before


def test_cli_call_on_a_resolved_ticket_reopens_it(ready):
    run_cli = ready
    args = ["log", "--phone", "09876543210", "--area", "Khanyar", "--category", "ration"]
    ticket = run_cli(args + ["--json"], as_json=True)
    run_cli(["resolve", ticket["id"], "--note", "delivered"])
    out = run_cli(args + ["--description", "nothing came"]).stdout
    assert out.startswith(f"Follow-up call on resolved ticket {ticket['id']}: reopened (assigned, call 2). "
                          f"Tell the caller it is back with the officer.\n")
    shown = run_cli(["show", ticket["id"], "--json"], as_json=True)
    assert shown["status"] == "assigned" and [e["type"] for e in shown["history"]][-2:] == ["call", "reopen"]
    keys = [m["key"].split(":")[1] for m in shown["messages"]]
    assert "reopened" in keys and "followup" not in keys


# what the texts say: dates, empty values, GSM-7 ------------------------------------------------

DANGLING = re.compile(r"(^|\s)[.,:;।۔،]|[,:،] ?[.,।۔،]|\bDue\b\s*$")


def test_officer_text_writes_the_due_time_day_first_with_the_month_in_letters(district):
    config, store = district
    ticket = log(store, config, ist(15, 53, day=33), area="Hazratbal", phone="9876500003")  # ration: 48 h
    send_outbox(store, config, FileGateway(store.data_dir), ist(16, 0, day=33))
    body = next(line["body"] for line in sent_lines(store) if "officer_assigned" in line["key"])
    assert body.endswith(" Due 05 Dec 15:53.") and "12-05" not in body
    assert ticket["due_at"] == "2026-12-05T10:23:00+00:00"


@pytest.mark.parametrize("lang", ["en", "hi", "ur"])
def test_an_empty_value_leaves_out_its_clause_never_a_dangling_label(district, lang):
    from helpline_core.sms_templates import longest_contexts, render

    config, _ = district
    contexts = longest_contexts(config)
    cases = [("officer_assigned", name) for name in ("caller_name", "description", "due_local")]
    cases += [("escalation", "officer_name"), ("logged", "helpline_phone"),
              ("officer_assigned", ("caller_name", "description", "due_local"))]
    for template, names in cases:
        names = (names,) if isinstance(names, str) else names
        body = render(template, lang, dict(contexts[template], **{name: "" for name in names}))[0]
        assert not DANGLING.search(body), (template, names, body)
    bare = dict(contexts["officer_assigned"], caller_name="", description="", due_local="")
    body = render("officer_assigned", lang, bare)[0]
    assert body.endswith(bare["caller_phone"] + {"en": ".", "hi": "।", "ur": "۔"}[lang])  # no due-time label


def test_ticket_with_no_due_time_texts_the_officer_no_due_label(district):
    config, store = district
    ticket = log(store, config, ist(10, 0), area="Zadibal")  # nobody covers it: not assigned yet
    with store.transaction() as db:
        db.table("tickets").update({"due_at": None}, doc_ids=[ticket["serial"]])  # as an imported ticket may be
        tickets.assign(db, config, ticket["id"], "tariq", actor="op", now=ist(10, 1))
    send_outbox(store, config, FileGateway(store.data_dir), ist(10, 5))
    body = next(line["body"] for line in sent_lines(store) if ":officer_assigned:" in line["key"])
    assert body.endswith("Caller +919876543210.") and "Due" not in body and not DANGLING.search(body)


def test_to_gsm_maps_look_alikes_and_drops_what_gsm_cannot_carry():
    from helpline_core.segments import encoding_of, to_gsm

    assert to_gsm("Ghulām ‘Rasool’ “Bhat” – 3\u00a0days… 🙏") == ('Ghulam \'Rasool\' "Bhat" - 3 days... ', "🙏")
    assert to_gsm("राम Ram") == (" Ram", "राम")
    assert to_gsm("plain (é, ü, €) text") == ("plain (é, ü, €) text", "")
    assert encoding_of(to_gsm("zero\u200bwidth — 😀😀")[0]) == "GSM-7"


def test_english_text_stays_gsm_7_whatever_the_values_and_records_what_it_dropped(district):
    config, store = district
    ticket = log(store, config, ist(10, 0), area="Hazratbal", caller_name="Ghulām ‘Rasool’",
                 description="No food — 3\u00a0days 🙏")
    hindi = log(store, config, ist(10, 0), phone="9876500004", language="hi", caller_name="राम “Lal”")
    send_outbox(store, config, FileGateway(store.data_dir), ist(10, 5))
    key = f"{ticket['id']}:officer_assigned:1:+919419000103"
    line = next(line for line in sent_lines(store) if line["key"] == key)
    assert "Caller Ghulam 'Rasool', +919876543210." in line["body"] and '"No food - 3 days"' in line["body"]
    assert (line["encoding"], line["segments"]) == ("GSM-7", 1)
    record = outbox.find_message(store, key)[0]
    assert record["dropped"] == "🙏" and record["over_budget"] is None
    to_meena = next(line for line in sent_lines(store) if line["key"].startswith(f"{hindi['id']}:officer_assigned"))
    assert "राम “Lal”" in to_meena["body"]  # a Hindi text is UCS-2 anyway: nothing dropped
    assert outbox.find_message(store, to_meena["key"])[0]["dropped"] is None


def test_cli_text_over_its_budget_is_recorded_and_listed(ready, data_dir):
    run_cli = ready
    with open(data_dir / "config.toml", "a", encoding="utf-8") as f:
        f.write("\n[sms.budgets]\nofficer = 1\n")
    ticket = run_cli(["log", "--phone", "09876543210", "--area", "Khanyar", "--category", "ration", "--name",
                      "Ghulām ‘Rasool’ Bhat Naqshbandi Qazi", "--description",
                      "Family of eight without ration since last week 🙏 father is diabetic and needs insulin",
                      "--json"], as_json=True)
    run_cli(["sms", "send", "--as-of", f"{_evening()}T12:00"])
    listing = run_cli(["sms", "list", "--ticket", ticket["id"]]).stdout
    line = next(l for l in listing.splitlines() if ":officer_assigned:" in l)
    assert line.startswith("sent ") and "GSM-7 2 seg  over budget: 2 segments > 1  dropped: 🙏" in line
    shown = [r for r in run_cli(["sms", "list", "--json"], as_json=True) if ":officer_assigned:" in r["key"]][0]
    assert (shown["segments"], shown["over_budget"], shown["dropped"], shown["encoding"]) == (2, 1, "🙏", "GSM-7")
    assert "Ghulam 'Rasool' Bhat" in shown["body"]
