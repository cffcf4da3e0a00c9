"""A Twilio call that times out after the request was written is an unknown outcome: the next run
asks Twilio before any resend. Against a loopback fake whose 201 arrives after the time-out."""

import socket
from datetime import datetime, timedelta, timezone

import pytest

from fake_twilio import SlowTwilio
from helpline_core import outbox, tickets
from helpline_core.gateways import make_gateway, request_was_written
from helpline_core.sending import send_outbox

ENV = {"TWILIO_ACCOUNT_SID": "AC" + "0123456789abcdef" * 2, "TWILIO_AUTH_TOKEN": "test-token"}
DAY = datetime(2026, 11, 30, 6, 0, tzinfo=timezone.utc)  # 11:30 IST: outside quiet hours
TIMEOUT = 0.3  # the client's read time-out, seconds: the fake answers only after it


def twilio(config, store, base_url):
    config.raw["sms"] = {"gateway": "twilio", "from": "+15005550006", "api_base_url": base_url,
                         "timeout_seconds": TIMEOUT}
    return make_gateway(config, store.data_dir, environ=ENV)


def log_one(store, config):
    with store.transaction() as db:  # Zadibal: no officer covers it, so one caller text
        return tickets.log_call(db, config, store, phone="9876543210", area="Zadibal", category="ration",
                                actor="op", now=DAY)[0]


def the_text(store, config):
    [record] = outbox.list_messages(store, config, DAY + timedelta(days=1))
    return record


def test_a_201_after_the_time_out_gives_exactly_one_text(district):
    config, store = district
    log_one(store, config)
    with SlowTwilio(created_at=DAY) as fake:
        gateway = twilio(config, store, fake.base_url)
        first = send_outbox(store, config, gateway, DAY)
        assert first.sent == [] and len(first.unanswered) == 1 and first.retrying == []
        record = the_text(store, config)
        assert record["state"] == "unknown" and "no answer from Twilio" in record["error"]
        for minutes in (5, 10, 15):  # later runs: one asks Twilio, finds it; none sends it again
            send_outbox(store, config, gateway, DAY + timedelta(minutes=minutes))
        assert len(fake.posts) == 1
        assert fake.lists and fake.lists[0]["To"] == "+919876543210"
    record = the_text(store, config)
    assert (record["state"], record["gateway_id"]) == ("sent", "SM" + "1".zfill(32))


def test_a_time_out_twilio_never_got_is_sent_again_once(district):
    config, store = district
    log_one(store, config)
    with SlowTwilio(created_at=DAY) as fake:
        gateway = twilio(config, store, fake.base_url)
        send_outbox(store, config, gateway, DAY)
        fake.messages.clear()  # Twilio never kept it: the list comes back empty
        early = send_outbox(store, config, gateway, DAY + timedelta(seconds=30))  # inside the 60 s back-off
        assert len(early.requeued) == 1 and early.sent == [] and len(fake.posts) == 1
        second = send_outbox(store, config, gateway, DAY + timedelta(minutes=5))
        assert len(second.sent) == 1 and len(fake.posts) == 2
        send_outbox(store, config, gateway, DAY + timedelta(minutes=10))
        assert len(fake.posts) == 2


def test_when_twilio_cannot_be_asked_the_text_stays_unknown_and_is_not_sent(district):
    config, store = district
    log_one(store, config)
    with SlowTwilio(created_at=DAY) as fake:
        send_outbox(store, config, twilio(config, store, fake.base_url), DAY)
    report = send_outbox(store, config, twilio(config, store, fake.base_url), DAY + timedelta(minutes=5))
    assert report.sent == [] and report.requeued == []
    record = the_text(store, config)
    assert record["state"] == "unknown" and record["error"].startswith("could not check with the gateway")


def test_no_connection_at_all_is_a_plain_retry(district):
    config, store = district
    log_one(store, config)
    with socket.socket() as closed:  # a port nobody listens on: the request never left
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    report = send_outbox(store, config, twilio(config, store, f"http://127.0.0.1:{port}"), DAY)
    assert len(report.retrying) == 1 and report.unanswered == []


def test_request_was_written_reads_the_requests_errors():
    import requests
    from urllib3.exceptions import NewConnectionError, ProtocolError

    refused = requests.exceptions.ConnectionError(NewConnectionError(None, "refused"))
    assert not request_was_written(refused)
    assert not request_was_written(requests.exceptions.ConnectTimeout("connect"))
    assert request_was_written(requests.exceptions.ReadTimeout("read"))
    reset = requests.exceptions.ConnectionError(ProtocolError("Connection aborted.", ConnectionResetError(104)))
    assert request_was_written(reset)


def test_cli_send_after_a_late_201_texts_once(run_cli, data_dir):
    run_cli(["init", "--district-code", "SXR", "--district-name", "Srinagar"])
    day = (datetime.now(timezone.utc) + timedelta(days=1)).date()
    noon = datetime(day.year, day.month, day.day, 6, 30, tzinfo=timezone.utc)  # noon IST: not quiet
    with SlowTwilio(created_at=noon) as fake:
        path = data_dir / "config.toml"
        path.write_text(path.read_text().replace(
            'gateway = "file"', f'gateway = "twilio"\nfrom = "+15005550006"\napi_base_url = "{fake.base_url}"\n'
                                f'timeout_seconds = {TIMEOUT}'))
        run_cli(["log", "--phone", "9876543210", "--area", "Zadibal", "--category", "ration"])
        first = run_cli(["sms", "send", "--as-of", f"{day}T12:00"], env=ENV).stdout
        assert "0 texts sent, 1 unanswered" in first and "asked before any resend" in first
        second = run_cli(["sms", "send", "--as-of", f"{day}T12:05"], env=ENV).stdout
        assert "1 reconciled" in second
        run_cli(["sms", "send", "--as-of", f"{day}T12:10"], env=ENV)
        assert len(fake.posts) == 1
    [message] = run_cli(["sms", "list", "--json"], as_json=True)
    assert message["state"] == "sent"
