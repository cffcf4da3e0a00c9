"""sms sync polls the least recently checked texts first, stops after a final state or 72 hours,
and its default is sized for 7,500 texts a day (core and installed CLI)."""

import os
import subprocess
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from conftest import NOW, helpline_exe
from fake_twilio import SlowTwilio
from helpline_core import outbox, tickets
from helpline_core.gateways import Outcome, Status
from helpline_core.sending import _settings, send_outbox, sync_outbox

IST = ZoneInfo("Asia/Kolkata")
ENV = {"TWILIO_ACCOUNT_SID": "AC" + "0123456789abcdef" * 2, "TWILIO_AUTH_TOKEN": "test-token"}


class Polled:
    """Sends everything; answers ``sent`` (no report yet) for every status except ``lost`` ids."""

    name = "polled"

    def __init__(self):
        self.fetched, self.lost, self.delivered = [], set(), set()

    def send(self, record, now):
        return Outcome("sent", gateway_id=f"SM-{record['recipient'][-4:]}")

    def find_sent(self, record, since):
        return None

    def fetch_status(self, gateway_id):
        self.fetched.append(gateway_id)
        if gateway_id in self.lost:
            return Status("undelivered", 30003, "phone unreachable or switched off")
        return Status("delivered") if gateway_id in self.delivered else Status("sent")


def send_texts(store, config, count, now=NOW):
    gateway = Polled()
    for n in range(count):  # Zadibal: no officer covers it, so one caller text each
        with store.transaction() as db:
            tickets.log_call(db, config, store, phone=f"98765{n:05d}", area="Zadibal", category="ration",
                             actor="op", now=now + timedelta(seconds=n))
        send_outbox(store, config, gateway, now + timedelta(seconds=n))
    return gateway


def test_each_run_polls_the_least_recently_checked_so_a_failure_far_down_is_found(district):
    config, store = district
    gateway = send_texts(store, config, 10)
    gateway.lost.add("SM-0009")  # the last of ten
    found, runs = 0, 0
    while not found and runs < 10:
        runs += 1
        found = sync_outbox(store, config, gateway, NOW + timedelta(hours=runs), limit=3)["undelivered"]
    assert runs == 4  # 3 + 3 + 3 + 1: every text asked about once before any twice
    assert len(set(gateway.fetched[:10])) == 10
    [lost] = outbox.list_messages(store, config, NOW + timedelta(hours=5), states=["undelivered"])
    assert lost["recipient"] == "+919876500009" and lost["error_code"] == 30003


def test_a_final_text_and_one_older_than_72_hours_are_not_polled(district):
    config, store = district
    gateway = send_texts(store, config, 3)
    gateway.delivered.add("SM-0000")
    assert sync_outbox(store, config, gateway, NOW + timedelta(hours=1))["delivered"] == 1
    gateway.fetched.clear()
    sync_outbox(store, config, gateway, NOW + timedelta(hours=71))
    assert sorted(gateway.fetched) == ["SM-0001", "SM-0002"]  # the delivered one is final
    gateway.fetched.clear()
    assert sync_outbox(store, config, gateway, NOW + timedelta(hours=72, minutes=1))["checked"] == 0
    assert gateway.fetched == []


def test_the_default_checks_7500_texts_a_day_within_the_day(district):
    config, store = district
    settings = _settings(config)
    assert settings["sync_limit"] * 24 >= 2500 * 3  # hourly syncs: 400 x 24 = 9,600 checks a day
    assert settings["sync_days"] * 24 == 72


def test_cli_sync_rotates_through_texts_and_fails_when_one_is_undelivered(run_cli, data_dir):
    run_cli(["init", "--district-code", "SXR", "--district-name", "Srinagar"])
    day = (datetime.now(timezone.utc) + timedelta(days=1)).date()
    noon = datetime(day.year, day.month, day.day, 12, 0, tzinfo=IST)
    env = dict(os.environ, HELPLINE_DATA_DIR=str(data_dir), HELPLINE_OPERATOR="op", **ENV)

    def helpline(*args):
        return subprocess.run([helpline_exe(), *args], capture_output=True, text=True, env=env, timeout=60)

    with SlowTwilio(created_at=noon, late=0) as fake:
        path = data_dir / "config.toml"
        path.write_text(path.read_text().replace(
            'gateway = "file"', f'gateway = "twilio"\nfrom = "+15005550006"\napi_base_url = "{fake.base_url}"'))
        for n in range(3):
            run_cli(["log", "--phone", f"98765{n:05d}", "--area", "Zadibal", "--category", "ration"])
        assert helpline("sms", "send", "--as-of", noon.isoformat()).returncode == 0
        fake.statuses[fake.messages[0]["sid"]] = {"status": "undelivered", "error_code": 30003}  # the newest
        results = [helpline("sms", "sync", "--limit", "1", "--as-of", (noon + timedelta(hours=h)).isoformat())
                   for h in (1, 2, 3)]
        assert len(set(fake.fetches)) == 3  # one text per run, never the same one twice
    assert [r.returncode for r in results].count(1) == 1
    failed = next(r for r in results if r.returncode == 1)
    assert "1 undelivered" in failed.stdout and failed.stderr.startswith("Error: 1 text found not delivered")
