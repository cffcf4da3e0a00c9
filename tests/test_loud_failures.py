"""Failures that used to look like success: texts given up on, templates that do not render, a sync
that fetched nothing, texts stuck in the outbox, a second send at once. Core and installed CLI."""

import os
import socket
import subprocess
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from conftest import NOW, helpline_exe
from fake_twilio import SlowTwilio
from helpline_core import jobs, outbox, tickets
from helpline_core.gateways import Outcome, Status
from helpline_core.outbox import queue_message, recent_trouble, waiting_too_long
from helpline_core.sending import run_lock, send_outbox

IST = ZoneInfo("Asia/Kolkata")
ENV = {"TWILIO_ACCOUNT_SID": "AC" + "0123456789abcdef" * 2, "TWILIO_AUTH_TOKEN": "test-token"}


def ist(hour, minute=0, day=30):
    return (datetime(2026, 11, 30, hour, minute, tzinfo=IST) + timedelta(days=day - 30)).astimezone(timezone.utc)


class DownGateway:
    """Every send a temporary error (HTTP 503); every status fetch a connection error."""

    name = "down"

    def send(self, record, now):
        return Outcome("temporary", error_code=None, error="503: Service Unavailable")

    def find_sent(self, record, since):
        return None

    def fetch_status(self, gateway_id):
        raise ConnectionError("gateway unreachable")


def log(store, config, now=NOW, **fields):
    args = dict(phone="9876543210", area="Zadibal", category="ration", actor="op")  # Zadibal: one caller text
    args.update(fields)
    with store.transaction() as db:
        return tickets.log_call(db, config, store, now=now, **args)[0]


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def use_twilio(data_dir, base_url):
    path = data_dir / "config.toml"
    path.write_text(path.read_text().replace(
        'gateway = "file"', f'gateway = "twilio"\nfrom = "+15005550006"\napi_base_url = "{base_url}"\n'
                            f'timeout_seconds = 2'))


def tomorrow_noon():
    day = (datetime.now(timezone.utc) + timedelta(days=1)).date()
    return datetime(day.year, day.month, day.day, 12, 0, tzinfo=IST)


# the send run -------------------------------------------------------------------------------------


def test_run_due_fails_the_send_job_when_texts_give_up_with_the_gateway_down(district):
    config, store = district
    log(store, config)
    moment, outcomes = NOW, []
    for _ in range(40):  # every 5 minutes until the text is given up (the back-off decides when)
        results = jobs.run_due(store, config, moment, gateway_factory=lambda c, d: DownGateway())
        outcomes += [(outcome, detail) for job, _, outcome, detail in results if job == "send"]
        if outcomes and outcomes[-1][0] == "failed":
            break
        moment += timedelta(minutes=5)
    assert [o for o, _ in outcomes[:-1]] == ["ok"] * (len(outcomes) - 1) and outcomes[-1][0] == "failed"
    assert "1 text failed for good" in outcomes[-1][1] and "failed 1" in outcomes[-1][1]
    [record] = outbox.list_messages(store, config, moment, states=["failed"])
    assert record["error"].startswith("gave up after")
    rows = {r["job"]: r for r in jobs.status(store, config, moment)}
    assert rows["send"]["failed"] and rows["send"]["last_run"]["counts"]["failed"] == 1


def test_a_template_that_does_not_render_fails_the_run(district):
    config, store = district
    with store.transaction() as db:
        queue_message(db, NOW, key="broken:1", recipient="+919876543210", audience="caller", template="no_such",
                      lang="en", context={})
    results = jobs.run_due(store, config, NOW, gateway_factory=lambda c, d: DownGateway())
    [(outcome, detail)] = [(o, d) for job, _, o, d in results if job == "send"]
    assert outcome == "failed" and "broken:1" in detail


def test_a_sync_where_every_fetch_failed_is_failed(district):
    config, store = district
    log(store, config)

    class Sent(DownGateway):
        name = "down"

        def send(self, record, now):
            return Outcome("sent", gateway_id="SM" + "1" * 32)

    send_outbox(store, config, Sent(), NOW)
    results = jobs.run_due(store, config, NOW + timedelta(minutes=1), gateway_factory=lambda c, d: DownGateway())
    [(outcome, detail)] = [(o, d) for job, _, o, d in results if job == "sync"]
    assert outcome == "failed" and "the gateway gave no status for 1 of 1" in detail and "errors 1" in detail


def test_a_busy_send_is_skipped_not_failed_and_runs_next_time(district):
    config, store = district
    log(store, config)
    with run_lock(store, "sms-send"):  # a manual 'sms send' is running
        results = jobs.run_due(store, config, NOW, gateway_factory=lambda c, d: DownGateway())
    [(outcome, detail)] = [(o, d) for job, _, o, d in results if job == "send"]
    assert outcome == "skipped" and detail.startswith("busy: another 'sms send' is running")
    rows = {r["job"]: r for r in jobs.status(store, config, NOW)}
    assert not rows["send"]["failed"] and rows["send"]["running"] is None
    again = jobs.run_due(store, config, NOW, gateway_factory=lambda c, d: DownGateway())
    assert [o for job, _, o, _ in again if job == "send"] == ["ok"]


# waiting texts, and the last 24 hours ---------------------------------------------------------------


def test_texts_waiting_past_the_threshold_quiet_hours_not_counted(district):
    config, store = district
    log(store, config, now=ist(20, 50))  # queued 10 minutes before quiet hours
    assert waiting_too_long(store, config, ist(8, 45, day=31)) == []  # 10 + 45 minutes outside quiet hours
    [late] = waiting_too_long(store, config, ist(9, 5, day=31))
    assert late["waited_minutes"] == 75
    config.raw.setdefault("sms", {})["alert_after_minutes"] = 120
    assert waiting_too_long(store, config, ist(9, 5, day=31)) == []


def test_recent_trouble_counts_failed_and_unconfirmed_texts_of_24_hours(district):
    config, store = district
    log(store, config)
    log(store, config, phone="9876500001")
    log(store, config, phone="9876500002")

    class Mixed(DownGateway):
        def send(self, record, now):
            if record["recipient"].endswith("1"):
                return Outcome("permanent", error_code=21211, error="21211: invalid number")
            return Outcome("sent", gateway_id="SM" + record["recipient"][-10:].rjust(32, "0"))

    send_outbox(store, config, Mixed(), NOW)
    assert recent_trouble(store, config, NOW + timedelta(hours=1)) == {"failed": 1, "unconfirmed": 2}
    assert recent_trouble(store, config, NOW + timedelta(hours=25)) == {"failed": 0, "unconfirmed": 0}


# the installed CLI ----------------------------------------------------------------------------------


@pytest.fixture
def cli(run_cli, data_dir):
    run_cli(["init", "--district-code", "SXR", "--district-name", "Srinagar"])
    return run_cli


def run_any(data_dir, args):
    """The installed CLI with the Twilio test credentials; any exit code (the caller checks it)."""
    env = dict(os.environ, HELPLINE_DATA_DIR=str(data_dir), HELPLINE_OPERATOR="op", **ENV)
    result = subprocess.run([helpline_exe(), *args], capture_output=True, text=True, env=env, timeout=60)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_cli_run_due_exits_1_when_texts_give_up_and_status_says_failed(cli, data_dir):
    use_twilio(data_dir, f"http://127.0.0.1:{closed_port()}")  # the gateway is down
    cli(["log", "--phone", "9876543210", "--area", "Zadibal", "--category", "ration"])
    moment = tomorrow_noon()
    for _ in range(12):
        result = run_any(data_dir, ["jobs", "run-due", "--as-of", moment.isoformat()])
        if result.returncode:
            break
        assert "send " in result.stdout and "FAILED" not in result.stdout
        moment += timedelta(minutes=5)
    assert result.returncode == 1, result.stdout + result.stderr
    assert ": FAILED 1 text failed for good" in result.stdout
    assert result.stderr.startswith("Error: 1 job failed: send")
    status = run_any(data_dir, ["jobs", "status", "--as-of", moment.isoformat()])
    assert status.returncode == 1 and "): 1 text failed for good" in status.stdout
    assert status.stderr.startswith("Error: 1 job failed on their last run: send")
    stats = cli(["stats", "--json"], as_json=True)
    assert (stats["texts_failed_24h"], stats["texts_unconfirmed_24h"]) == (0, 0)  # the wall clock: tomorrow's not yet


def test_cli_sms_send_exits_1_when_a_template_does_not_render(district, data_dir):
    config, store = district
    with store.transaction() as db:
        queue_message(db, NOW, key="broken:1", recipient="+919876543210", audience="caller", template="no_such",
                      lang="en", context={})
    result = run_any(data_dir, ["sms", "send", "--as-of", tomorrow_noon().isoformat()])
    assert result.returncode == 1 and "Outbox: 0 texts sent, 1 failed." in result.stdout
    assert result.stderr.startswith("Error: 1 text failed for good: broken:1;")


def test_cli_sms_sync_exits_1_when_every_fetch_failed(cli, data_dir):
    cli(["log", "--phone", "9876543210", "--area", "Zadibal", "--category", "ration"])
    moment = tomorrow_noon()
    with SlowTwilio(created_at=moment, late=0) as fake:  # answers at once: the text is sent
        use_twilio(data_dir, fake.base_url)
        assert run_any(data_dir, ["sms", "send", "--as-of", moment.isoformat()]).returncode == 0
    path = data_dir / "config.toml"
    path.write_text(path.read_text().replace(fake.base_url, f"http://127.0.0.1:{closed_port()}"))
    result = run_any(data_dir, ["sms", "sync", "--as-of", (moment + timedelta(hours=1)).isoformat()])
    assert result.returncode == 1 and "1 checked" in result.stdout and "1 errors" in result.stdout
    assert result.stderr.startswith("Error: the gateway gave no status for 1 of 1 text")


def test_cli_jobs_status_exits_1_when_texts_wait_too_long(cli, data_dir):
    cli(["log", "--phone", "9876543210", "--area", "Zadibal", "--category", "ration"])
    moment = datetime.now(timezone.utc)
    fine = run_any(data_dir, ["jobs", "status", "--as-of", (moment + timedelta(minutes=10)).isoformat()])
    assert fine.returncode == 0 and "TEXTS WAITING" not in fine.stdout
    late = run_any(data_dir, ["jobs", "status", "--as-of", (moment + timedelta(days=2)).isoformat()])
    assert late.returncode == 1 and "TEXTS WAITING: 1 for more than 60 minutes" in late.stdout
    assert late.stderr.startswith("Error: 1 text waiting more than 60 minutes outside quiet hours")
    info = cli(["info", "--json"], as_json=True)
    assert info["texts_failed_24h"] == 0 and info["texts_unconfirmed_24h"] == 0


def test_cli_overlapping_sends_second_is_busy_exit_4_and_run_due_skips(run_cli, district, data_dir):
    config, store = district
    run_cli(["log", "--phone", "9876543210", "--area", "Zadibal", "--category", "ration"])
    moment = tomorrow_noon().isoformat()
    with run_lock(store, "sms-send"):  # the first send is still running
        second = run_any(data_dir, ["sms", "send", "--as-of", moment])
        assert second.returncode == 4 and second.stderr.startswith("Error: busy: another 'sms send' is running")
        due = run_any(data_dir, ["jobs", "run-due", "--as-of", moment])
        assert due.returncode == 0 and ": skipped, busy: another 'sms send'" in due.stdout
        job = run_any(data_dir, ["jobs", "send", "--as-of", moment])
        assert job.returncode == 4 and "busy" in job.stderr
    status = run_any(data_dir, ["jobs", "status", "--as-of", moment])
    assert "FAILED" not in status.stdout and "failed on their last run" not in status.stderr  # (the text waits: exit 1)
    after = run_any(data_dir, ["jobs", "run-due", "--as-of", moment])
    assert after.returncode == 0 and "ok: send " in after.stdout and "(sent 1)" in after.stdout
