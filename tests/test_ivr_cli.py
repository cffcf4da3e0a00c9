"""The IVR end to end: `helpline ivr serve` as a subprocess on 127.0.0.1, whole calls driven over
HTTP as Twilio drives them; `callbacks`, `log --callback` and the escalation job as commands."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import timedelta
from urllib.error import HTTPError
from urllib.parse import urlencode, urlsplit
from urllib.request import Request, urlopen

import pytest

from conftest import NOW, helpline_exe
from helpline_core import tickets
from helpline_core.clock import utcnow
from ivr_helpers import DESK, PUBLIC_URL, TOKEN, call_sid, enable_ivr, form, sign

CALLER = "+919876543210"


class Server:
    """``helpline ivr serve --port 0`` in a subprocess; ``post(step, fields, **query)`` drives it."""

    def __init__(self, data_dir):
        env = dict(os.environ, HELPLINE_DATA_DIR=str(data_dir), TWILIO_AUTH_TOKEN=TOKEN)
        self.process = subprocess.Popen([helpline_exe(), "ivr", "serve", "--host", "127.0.0.1", "--port", "0"],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        line = self.process.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, line + self.process.stderr.read()
        self.base = line.split("listening on ")[1].split()[0]

    def post(self, step, fields, signed=True, **query):
        public = f"{PUBLIC_URL}/{step}" + (f"?{urlencode(sorted(query.items()))}" if query else "")
        parts = urlsplit(public)
        local = self.base + parts.path[len(urlsplit(PUBLIC_URL).path):] + (f"?{parts.query}" if parts.query else "")
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signed:
            headers["X-Twilio-Signature"] = sign(public, fields)
        request = Request(local, data=urlencode(fields).encode(), headers=headers, method="POST")
        try:
            with urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except HTTPError as error:
            return error.code, error.read().decode()

    def twiml(self, step, fields, **query):
        status, body = self.post(step, fields, **query)
        assert status == 200, body
        return ET.fromstring(body)

    def stop(self):
        """SIGTERM, as systemd stops it: the server writes its pending ivr events and exits 0."""
        if self.process.poll() is None:
            self.process.terminate()
            assert self.process.wait(timeout=20) == 0, self.process.stderr.read()


@pytest.fixture
def server(district, data_dir):
    enable_ivr(data_dir)
    running = Server(data_dir)
    yield running
    running.stop()


def says(root):
    return " ".join((e.text or "") for e in root.iter("Say"))


def test_help_imports_neither_waitress_nor_twilio():
    result = subprocess.run([sys.executable, "-X", "importtime", "-c",
                             "import sys; sys.argv = ['helpline', '--help']; import helpline; helpline.main()"],
                            capture_output=True, text=True, timeout=60)
    assert "Usage:" in result.stdout
    modules = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines() if "|" in line}
    assert "waitress" not in modules and "twilio" not in modules and "jinja2" not in modules
    for command in (["ivr", "--help"], ["callbacks", "--help"], ["ivr", "serve", "--help"]):
        result = subprocess.run([sys.executable, "-X", "importtime", "-c",
                                 f"import sys; sys.argv = ['helpline', *{command!r}]; import helpline; helpline.main()"],
                                capture_output=True, text=True, timeout=60)
        assert "Example:" in result.stdout
        assert "waitress" not in result.stderr and "twilio" not in result.stderr


def test_serve_refuses_while_the_ivr_is_off_or_cannot_reach_the_desk(district, data_dir, run_cli):
    result = run_cli(["ivr", "serve"], expect=1, env={"TWILIO_AUTH_TOKEN": TOKEN})
    assert result.stderr == "Error: the IVR is off: set enabled = true under [ivr] in config.toml (see the README).\n"
    config = data_dir / "config.toml"
    config.write_text(config.read_text() + '\n[ivr]\nenabled = true\npublic_url = "https://h.example.org/ivr"\n'
                      '[ivr.audio]\nur = "https://h.example.org/ur/"\n')
    result = run_cli(["ivr", "serve"], expect=1, env={"TWILIO_AUTH_TOKEN": TOKEN})
    assert "needs desk_numbers" in result.stderr
    config.write_text(config.read_text().replace('enabled = true\n', 'enabled = true\ndesk_numbers = ["+911942450001"]\n'))
    result = run_cli(["ivr", "serve"], expect=1, env={"TWILIO_AUTH_TOKEN": ""})
    assert "auth token" in result.stderr
    config.write_text(config.read_text().replace('ur = "https://h.example.org/ur/"', ''))
    result = run_cli(["ivr", "serve"], expect=1, env={"TWILIO_AUTH_TOKEN": TOKEN})
    assert "ur have neither a voice" in result.stderr


def test_serve_refuses_a_district_with_no_categories_or_a_callback_area_it_lacks(district, data_dir, run_cli):
    from helpline_core.config import load_config
    from helpline_core.errors import ConfigError
    from helpline_core.ivr_records import IvrSettings

    enable_ivr(data_dir)
    path = data_dir / "config.toml"
    text = path.read_text(encoding="utf-8")
    IvrSettings(load_config(data_dir)).check_ready()  # callback_area = "Khanyar": ready
    path.write_text(text.replace('callback_area = "Khanyar"', 'callback_area = "Back Bay"'), encoding="utf-8")
    env = {"TWILIO_AUTH_TOKEN": TOKEN}
    err = run_cli(["ivr", "serve"], expect=1, env=env).stderr
    assert err.startswith("Error: [ivr] callback_area: unknown area 'Back Bay'") and err.count("\n") == 1
    path.write_text(text.split("[categories]")[0] + "[categories]\n\n[quiet_hours]" + text.split("[quiet_hours]")[1],
                    encoding="utf-8")
    err = run_cli(["ivr", "serve"], expect=1, env=env).stderr
    assert err.startswith("Error: [ivr] a callback picks a category, and district SXR has no categories yet: add them")
    with pytest.raises(ConfigError):
        IvrSettings(load_config(data_dir)).check_ready()


def test_serve_refuses_more_than_nine_categories_until_menu_categories_chooses(district, data_dir, run_cli):
    from helpline_core.config import load_config
    from helpline_core.errors import ConfigError
    from helpline_core.ivr_records import IvrSettings

    enable_ivr(data_dir)
    path = data_dir / "config.toml"
    extra = "".join(f"extra{n} = 48\n" for n in range(1, 7))  # 5 shipped + 6 = 11 categories
    text = path.read_text(encoding="utf-8").replace("[categories]\n", "[categories]\n" + extra, 1)
    path.write_text(text, encoding="utf-8")
    err = run_cli(["ivr", "serve"], expect=1, env={"TWILIO_AUTH_TOKEN": TOKEN}).stderr
    assert err.startswith("Error: [ivr] the district has 11 categories and a keypad menu offers 9: ")
    assert "could not be chosen by phone" in err and "menu_categories" in err and err.count("\n") == 1
    chosen = 'menu_categories = ["ration", "medicine", "doctor", "counselling", "other", "extra6"]\n'
    path.write_text(text.replace("[ivr]\n", "[ivr]\n" + chosen, 1), encoding="utf-8")
    settings = IvrSettings(load_config(data_dir))
    settings.check_ready()
    assert settings.menu_categories[-1] == "extra6"
    for bad in ('["ration", "nosuch"]', "[]", '["ration", "ration"]', '"ration"',
                "[" + ", ".join(f'"extra{n}"' for n in range(1, 7)) + ', "ration", "medicine", "doctor", "other"]'):
        path.write_text(text.replace("[ivr]\n", f"[ivr]\nmenu_categories = {bad}\n", 1), encoding="utf-8")
        with pytest.raises(ConfigError, match="menu_categories"):
            IvrSettings(load_config(data_dir))


def test_whole_calls_over_http(server, district, data_dir, run_cli):
    config, store = district
    from helpline_core.config import load_config

    config = load_config(data_dir)
    with store.transaction() as db:
        ticket, _ = tickets.log_call(db, config, store, phone=CALLER, area="Khanyar", category="ration", actor="op",
                                     now=utcnow(), language="en")
    sid = call_sid(1)
    # An unsigned request is refused and changes nothing.
    assert server.post("voice", form(sid, CALLER), signed=False)[0] == 403
    # Caller ID: the status in English (the ticket's language), the ticket ID digit by digit.
    root = server.twiml("voice", form(sid, CALLER))
    digits = " ".join(ch for ch in ticket["id"] if ch.isdigit())
    assert f"Your ticket number {digits}." in says(root)
    # 2, then a wrong check digit, then the right number.
    number = ticket["id"].split("-")[1]
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    root = server.twiml("choice", form(sid, CALLER, "2"), lang="en", **{"try": "0"})
    assert "Type the ticket number" in says(root)
    root = server.twiml("ticket", form(sid, CALLER, wrong + "#"), lang="en", **{"try": "0"})
    assert "That number seems mistyped." in says(root)
    root = server.twiml("ticket", form(sid, CALLER, number + "#"), lang="en", **{"try": "1"})
    assert f"Your ticket number {digits}." in says(root)
    # 1: the desk.
    root = server.twiml("choice", form(sid, CALLER, "1"), lang="en", **{"try": "0"})
    assert root.find("Dial/Number").text == DESK[0]
    # A new caller: the language menu, Urdu (recorded prompts), a callback for medicine.
    other, sid2 = "+919812345678", call_sid(2)
    root = server.twiml("voice", form(sid2, other))
    assert root.find("Gather").get("action").startswith(f"{PUBLIC_URL}/language")
    root = server.twiml("language", form(sid2, other, "2"), lang="hi", **{"try": "0"})
    assert any(p.text.endswith("/ur/menu.mp3") for p in root.iter("Play"))
    root = server.twiml("choice", form(sid2, other, "3"), lang="ur", **{"try": "0"})
    root = server.twiml("callback", form(sid2, other, "2"), lang="ur", **{"try": "0"})
    assert root[-1].tag == "Hangup"

    [callback] = run_cli(["callbacks", "--json"], as_json=True)
    assert callback["phone"] == other and callback["category"] == "medicine" and callback["language"] == "ur"
    new = run_cli(["show", callback["id"], "--json"], as_json=True)
    assert [e["type"] for e in new["history"]][-1] == "callback"
    log = []
    for path in (data_dir / "ivr").glob("calls-*.jsonl"):
        log += [json.loads(line) for line in path.read_text().splitlines()]
    assert [(e["call_sid"], e["step"], e["outcome"]) for e in log] == [
        (sid, "voice", "status"), (sid, "choice", "ticket-prompt"), (sid, "ticket", "mistyped"),
        (sid, "ticket", "status"), (sid, "choice", "desk"),
        (sid2, "voice", "language-menu"), (sid2, "language", "menu"), (sid2, "choice", "category-menu"),
        (sid2, "callback", "callback")]
    assert {e["from"] for e in log if e["call_sid"] == sid2} == {other}
    # The operator returns the call.
    out = run_cli(["log", "--callback", callback["id"], "--description", "called back, sending medicine"]).stdout
    assert out == f"Callback on {callback['id']} recorded as returned.\n"
    assert run_cli(["callbacks", "--json"], as_json=True) == []
    assert run_cli(["callbacks"]).stdout == "No callbacks waiting.\n"
    shown = run_cli(["show", callback["id"], "--json"], as_json=True)
    assert shown["history"][-1]["type"] == "callback" and "called back, sending medicine" in shown["history"][-1]["note"]
    report = run_cli(["report", "--format", "json"], as_json=True)
    assert report["ivr"] == {"calls": 2, "status_checks": 1, "callbacks": 1, "to_desk": 1}
    server.stop()  # the ivr events of tickets read out are written by the server's writer, at the latest now
    shown = run_cli(["show", ticket["id"], "--json"], as_json=True)
    ivr_events = [e for e in shown["history"] if e["type"] == "ivr"]
    assert len(ivr_events) == 2 and all(sid in e["note"] for e in ivr_events)


def test_callbacks_list_oldest_first_with_the_wait(district, data_dir, run_cli):
    config, store = district
    config = enable_ivr(data_dir)
    from helpline_core.callbacks import request_callback
    from helpline_core.ivr_records import IvrSettings

    start = utcnow() - timedelta(minutes=95)
    for minutes, phone, category in ((10, "+919812345678", "doctor"), (0, CALLER, "ration")):
        with store.ticket_transaction() as db:
            request_callback(db, config, store, IvrSettings(config), phone=phone, category=category, language="hi",
                             now=start + timedelta(minutes=minutes), call_sid=call_sid(minutes + 1))
    rows = run_cli(["callbacks", "--json"], as_json=True)
    assert [r["phone"] for r in rows] == [CALLER, "+919812345678"]
    assert rows[0]["waited_minutes"] in (95, 96) and rows[1]["waited_minutes"] in (85, 86)
    out = run_cli(["callbacks"]).stdout.splitlines()
    assert out[0].split() == ["TICKET", "WAITED", "SINCE", "PHONE", "LANG", "CATEGORY", "AREA"]
    assert out[1].split()[1] in ("1h35m", "1h36m")


def test_log_callback_refuses_a_ticket_without_a_waiting_callback_and_other_options(district, data_dir, run_cli):
    config, store = district
    with store.transaction() as db:
        ticket, _ = tickets.log_call(db, config, store, phone=CALLER, area="Khanyar", category="ration", actor="op",
                                     now=NOW)
    before = (data_dir / "helpline.json").read_bytes()
    result = run_cli(["log", "--callback", ticket["id"]], expect=1)
    assert result.stderr == f"Error: {ticket['id']} has no callback waiting; see 'helpline callbacks'.\n"
    result = run_cli(["log", "--callback", ticket["id"], "--phone", CALLER], expect=2)
    assert "--callback records a returned call" in result.stderr
    assert (data_dir / "helpline.json").read_bytes() == before


def _callback_past_sla(district, data_dir):
    """A supervisor for Khanyar and one callback request at NOW. :returns: the ticket."""
    config, store = district
    config = enable_ivr(data_dir)
    from helpline_core.callbacks import request_callback
    from helpline_core.ivr_records import IvrSettings
    from helpline_core.officers import add_officer

    with store.transaction() as db:
        add_officer(db, config, "sofi", name="Sofi Bashir", phone="09419000301", areas=["Khanyar"],
                    categories=["ration"], role="supervisor", lang="en", actor="op", now=NOW)
    with store.ticket_transaction() as db:
        ticket, _ = request_callback(db, config, store, IvrSettings(config), phone=CALLER, category="ration",
                                     language="ur", now=NOW, call_sid=call_sid())
    return ticket


def test_callbacks_waiting_past_the_sla_go_to_the_escalation_job(district, data_dir, run_cli):
    ticket = _callback_past_sla(district, data_dir)
    early = run_cli(["jobs", "escalate", "--as-of", (NOW + timedelta(minutes=29)).isoformat()]).stdout
    assert "callbacks 0" in early
    late = run_cli(["jobs", "escalate", "--as-of", (NOW + timedelta(minutes=31)).isoformat()]).stdout
    assert "callbacks 1" in late
    again = run_cli(["jobs", "escalate", "--as-of", (NOW + timedelta(minutes=95)).isoformat()]).stdout
    assert "callbacks 0" in again  # once per request
    shown = run_cli(["show", ticket["id"], "--json"], as_json=True)
    escalations = [e for e in shown["history"] if e["type"] == "escalate" and "callback" in e["note"]]
    assert len(escalations) == 1 and "sofi" in escalations[0]["note"]
    texts = run_cli(["sms", "list", "--ticket", ticket["id"]]).stdout
    assert "escalation" in texts
    assert [r["escalated"] for r in run_cli(["callbacks", "--json"], as_json=True)] == [True]


def _escalation_bodies(data_dir):
    path = data_dir / "outbox.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    return [r["body"] for r in map(json.loads, lines) if r["body"].startswith("ESCALATION")]


def test_a_callbacks_escalation_text_gives_the_hours_waited_when_it_goes_out(district, data_dir, run_cli):
    ticket = _callback_past_sla(district, data_dir)
    run_cli(["jobs", "escalate", "--as-of", (NOW + timedelta(minutes=31)).isoformat()])
    run_cli(["sms", "send", "--as-of", (NOW + timedelta(hours=2, minutes=40)).isoformat()])
    [body] = _escalation_bodies(data_dir)
    assert body.startswith(f"ESCALATION C: ticket {ticket['id']} ") and " is 2 h past due" in body


def test_a_callbacks_escalation_returned_before_it_goes_out_is_not_sent(district, data_dir, run_cli):
    ticket = _callback_past_sla(district, data_dir)
    run_cli(["jobs", "escalate", "--as-of", (NOW + timedelta(minutes=31)).isoformat()])
    run_cli(["log", "--callback", ticket["id"]])
    run_cli(["sms", "send", "--as-of", (NOW + timedelta(minutes=40)).isoformat()])
    assert _escalation_bodies(data_dir) == []
    texts = run_cli(["sms", "list", "--ticket", ticket["id"], "--state", "superseded"]).stdout
    assert "escalation" in texts


def test_a_district_without_the_ivr_sees_the_escalation_job_unchanged(district, run_cli):
    out = run_cli(["jobs", "escalate", "--as-of", NOW.isoformat()]).stdout
    assert "callbacks" not in out
