"""Numbers texts cannot reach: refused by the gateway, opted out, landlines; opt-in and correcting
a ticket's phone (core and the installed CLI)."""

import pytest

from conftest import NOW, file_bytes
from helpline_core import numbers, outbox, tickets
from helpline_core.gateways import Outcome, Status, classify_twilio_error
from helpline_core.sending import send_outbox


class RefusingGateway:
    """Answers each recipient with a scripted outcome (default: sent)."""

    name = "scripted"

    def __init__(self, answers):
        self.answers, self.calls = answers, []

    def send(self, record, now):
        self.calls.append(record["key"])
        return self.answers.get(record["recipient"]) or Outcome("sent", gateway_id=f"SM{len(self.calls):032x}")

    def find_sent(self, record, since):
        return None

    def fetch_status(self, gateway_id):
        return Status("delivered")


def log(store, config, **fields):
    args = dict(phone="9876543210", area="Zadibal", category="ration", actor="op")  # Zadibal: no officer
    args.update(fields)
    with store.transaction() as db:
        return tickets.log_call(db, config, store, now=NOW, **args)


def caller_texts(store, phone="+919876543210"):
    return [r for r in store.snapshot().table("outbox").all() if r["recipient"] == phone]


@pytest.mark.parametrize("code", [21211, 21614, 21612])
def test_a_refused_number_gets_no_text_on_later_tickets_or_follow_ups(district, code):
    config, store = district
    first, _ = log(store, config)
    send_outbox(store, config, RefusingGateway({"+919876543210": classify_twilio_error(400, code, "no")}), NOW)
    later, followup = log(store, config, category="medicine")
    again, followup_again = log(store, config)
    assert not followup and followup_again and again["id"] == first["id"]
    assert caller_texts(store) == []
    assert numbers.no_texts_reason(later).startswith(f"this number cannot receive SMS: {code}: ")
    assert numbers.no_texts_reason(again) == numbers.no_texts_reason(later)


def test_a_text_queued_before_the_number_was_refused_is_cancelled_unsent(district):
    config, store = district
    log(store, config)
    log(store, config, category="medicine")
    with store.transaction() as db:  # refused while the second ticket's text still waits
        numbers.flag_phone(db, "+919876543210", NOW, reason="cannot receive SMS: 21211: invalid number")
    gateway = RefusingGateway({})
    report = send_outbox(store, config, gateway, NOW)
    assert gateway.calls == [] and len(report.cancelled) == 2


def test_fixed_line_or_mobile_series_get_texts(district):
    config, store = district
    ticket, _ = log(store, config, phone="08050123456")
    assert ticket["phone_type"] == "mobile_or_landline" and numbers.no_texts_reason(ticket) is None
    assert [r["template"] for r in caller_texts(store, "+918050123456")] == ["logged"]


def test_opt_in_lifts_an_opt_out_with_history(district):
    config, store = district
    log(store, config)
    send_outbox(store, config, RefusingGateway({"+919876543210": classify_twilio_error(400, 21610, "STOP")}), NOW)
    with store.transaction() as db:
        lifted = numbers.opt_in(db, "+919876543210", note="asked by phone", actor="op", now=NOW)
    assert "21610" in lifted
    doc = store.snapshot().table("phones").all()[0]
    assert [e["type"] for e in doc["history"]] == ["opted-out", "opt-in"] and doc["history"][1]["note"] == "asked by phone"
    ticket, _ = log(store, config, category="medicine")
    assert "sms_blocked" not in ticket or ticket["sms_blocked"] is None
    assert [r["template"] for r in caller_texts(store)] == ["logged"]
    with store.transaction() as db, pytest.raises(Exception, match="not opted out or blocked"):
        numbers.opt_in(db, "+919876543210", note="again", actor="op", now=NOW)


def test_edit_phone_records_history_and_works_out_textability_again(district):
    config, store = district
    ticket, _ = log(store, config, phone="0194 245 2052")  # a landline: no texts
    assert caller_texts(store, "+911942452052") == []
    with store.ticket_transaction() as db:
        edited = tickets.edit_phone(db, config, store, ticket["id"], "98765 43211", actor="op", now=NOW, note="son")
    assert (edited["phone"], edited["phone_type"]) == ("+919876543211", "mobile")
    assert edited["history"][-1]["type"] == "edit"
    assert edited["history"][-1]["changes"]["phone"] == ["+911942452052", "+919876543211"]
    with store.transaction() as db:
        tickets.assign(db, config, ticket["id"], "tariq", actor="op", now=NOW)
    assert [r["template"] for r in caller_texts(store, "+919876543211")] == ["assigned"]
    assert tickets.tickets_of_phone(store.snapshot(), store, "+919876543211")[0]["id"] == ticket["id"]


def test_edit_phone_cancels_texts_waiting_for_the_old_number_and_says_when_blocked(district):
    config, store = district
    with store.transaction() as db:
        numbers.flag_phone(db, "+919876543211", NOW, reason="cannot receive SMS: 21211: invalid number")
    ticket, _ = log(store, config)
    with store.ticket_transaction() as db:
        edited = tickets.edit_phone(db, config, store, ticket["id"], "9876543211", actor="op", now=NOW)
    assert edited["sms_blocked"] == "cannot receive SMS: 21211: invalid number"
    assert caller_texts(store) == []
    cancelled = outbox.list_messages(store, config, NOW, states=["cancelled"])
    assert [r["recipient"] for r in cancelled] == ["+919876543210"]
    assert "corrected" in cancelled[0]["error"]


def refuse(store, reason, opted_out=False):
    """What a send run records when Twilio refuses the number (the CLI runs on the wall clock)."""
    with store.transaction() as db:
        numbers.flag_phone(db, "+919876543210", NOW, reason=reason, opted_out=opted_out)


@pytest.fixture
def ready(run_cli, district):
    return run_cli


def test_cli_log_says_at_once_when_the_caller_will_get_no_texts(ready, district):
    config, store = district
    log_args = ["log", "--area", "Zadibal", "--category", "ration", "--phone"]
    assert "landline: the caller will get no SMS" in ready(log_args + ["0194 245 2052"]).stdout
    assert "no SMS" not in ready(log_args + ["08050 123456"]).stdout
    assert "no SMS" not in ready(log_args + ["09876543210"]).stdout
    refuse(store, "cannot receive SMS: 21211: invalid number")  # as the send run does on 21211
    out = ready(["log", "--area", "Zadibal", "--category", "medicine", "--phone", "9876543210"]).stdout
    assert "  this number cannot receive SMS: 21211: invalid number; the caller will get no SMS\n" in out
    out = ready(["log", "--area", "Zadibal", "--category", "medicine", "--phone", "9876543210"]).stdout
    assert out.startswith("Follow-up") and "this number cannot receive SMS" in out


def test_cli_opt_in_and_edit(ready, district, data_dir):
    config, store = district
    ready(["log", "--area", "Zadibal", "--category", "ration", "--phone", "9876543210"])
    refuse(store, "cannot receive SMS: 21610: the recipient replied STOP (opted out)", opted_out=True)
    before = file_bytes(data_dir)
    err = ready(["sms", "opt-in", "9876543210"], expect=2).stderr
    assert err.startswith("Error: Missing option '--note'")
    assert ready(["sms", "opt-in", "98765O43210", "--note", "x"], expect=2).stderr.count("\n") == 1
    assert ready(["sms", "opt-in", "9876543211", "--note", "x"], expect=1).stderr.startswith(
        "Error: +919876543211 is not opted out or blocked")
    assert file_bytes(data_dir) == before
    out = ready(["sms", "opt-in", "09876543210", "--note", "caller asked on the phone"]).stdout
    assert out.startswith("+919876543210 can receive texts again (was: cannot receive SMS: 21610")
    out = ready(["log", "--area", "Zadibal", "--category", "medicine", "--phone", "9876543210"]).stdout
    assert "no SMS" not in out
    ticket = ready(["show", "SXR-10003", "--json"], as_json=True)
    assert ticket["sms_blocked"] is None
    out = ready(["edit", "SXR-10003", "--phone", "0194 245 2052", "--note", "home number"]).stdout
    assert out == "SXR-10003: phone is now +911942452052.\n  landline: the caller will get no SMS\n"
    shown = ready(["show", "SXR-10003", "--json"], as_json=True)
    assert shown["history"][-1]["type"] == "edit" and shown["history"][-1]["note"] == "home number"
    before = file_bytes(data_dir)
    err = ready(["edit", "SXR-10003", "--phone", "98765 4321"], expect=2).stderr
    assert "a digit is missing" in err and err.count("\n") == 1
    err = ready(["find", "9876543"], expect=2).stderr
    assert "'9876543' is too short for a phone number: 3 digits are missing." in err and err.count("\n") == 1
    assert ready(["edit", "SXR-10003", "--phone", "0194 245 2052"], expect=1).stderr.startswith(
        "Error: SXR-10003 already has the number")
    assert file_bytes(data_dir) == before
