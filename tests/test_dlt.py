"""DLT registration: dlt-export, the registry (dlt.toml), templates check against it, sending under
``[sms] dlt = "enforce"``, the district's own templates, and the gateways' DLT fields."""

import json
import re
import tomllib
from datetime import datetime, timedelta, timezone

import pytest

from helpline_core import dlt, outbox, tickets
from helpline_core.errors import ConfigError
from helpline_core.gateways import FileGateway, make_gateway
from helpline_core.job_tasks import digest_task
from helpline_core.sending import send_outbox
from helpline_core.sms_templates import check_templates, render
from prism import ACCOUNT_SID, AUTH_TOKEN, MAGIC_TO, PrismHttpClient

DAY = datetime(2026, 11, 30, 6, 0, tzinfo=timezone.utc)  # 11:30 IST: outside quiet hours
ENTITY = "1101161234567890123"
LONG_NAME = "Mohammad Abdul Rashid Bhat Qazi Naqshbandi"  # 42 characters


def fill(path, *, sender="SXRHLP", urls=None):
    """Do what a district does after registering on DLT: write the entity, header and template IDs."""
    text = path.read_text(encoding="utf-8")
    serial = iter(range(1, 10_000))
    text = re.sub(r'^id = ""', lambda m: f'id = "{1107161200000000000 + next(serial)}"', text, flags=re.M)
    text = text.replace('entity_id = ""', f'entity_id = "{ENTITY}"').replace('sender = ""', f'sender = "{sender}"')
    if urls is not None:
        text = re.sub(r"^urls = \[\]", "urls = " + json.dumps(urls), text, flags=re.M)
    path.write_text(text, encoding="utf-8")


def register(config, data_dir, **kwargs):
    path = dlt.registry_path(data_dir)
    path.write_text(dlt.export_registry(config, data_dir), encoding="utf-8")
    fill(path, **kwargs)
    return path


def override(data_dir, name, text):
    folder = data_dir / "templates" / "sms"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")


def problems(config, data_dir):
    return {f"{r['template']}.{r['lang']}": r["problem"] for r in check_templates(config, data_dir) if r["problem"]}


def log(store, config, phone="9876543210", **fields):
    args = dict(area="Zadibal", category="ration", actor="op", language="en")  # Zadibal: no officer
    args.update(fields)
    with store.transaction() as db:
        return tickets.log_call(db, config, store, phone=phone, now=DAY, **args)[0]


def sent_lines(data_dir):
    path = data_dir / "outbox.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


# --- the registry and dlt-export ------------------------------------------------------------------

def test_export_turns_each_value_into_var_and_lists_every_wording(district, data_dir):
    config, _ = district
    exported = tomllib.loads(dlt.export_registry(config, data_dir))
    logged = [e["text"] for e in exported["templates"]["logged.en"]]
    assert logged == ["{#var#} Helpline: your ticket number is {#var#}. Please quote {#var#} whenever you call us "
                      "on {#var#}.",
                      "{#var#} Helpline: your ticket number is {#var#}. Please quote {#var#} whenever you call us."]
    assert all(e["id"] == "" for entries in exported["templates"].values() for e in entries)
    assert {name.split(".")[1] for name in exported["templates"]} == {"en", "hi", "ur"}
    assert len(exported["templates"]["officer_assigned.hi"]) == 8  # with and without caller name, description, due time
    digest = [e["text"] for e in exported["templates"]["officer_digest.en"]]
    # 12: each of the 6 wordings with and without the supervisor's "callers not reached" sentence
    assert len(digest) == 12 and digest[-1] == "{#var#} {#var#}: {#var#} open, {#var#} overdue."
    assert not any("Srinagar" in e["text"] for entries in exported["templates"].values() for e in entries)
    assert (exported["entity_id"], exported["sender"], exported["urls"]) == ("", "", [])


def test_export_again_keeps_the_ids_of_unchanged_texts(district, data_dir):
    config, _ = district
    path = register(config, data_dir, urls=["https://srinagar.nic.in"])
    before = tomllib.loads(path.read_text(encoding="utf-8"))
    override(data_dir, "closed.en.txt", "{{ district }} Helpline: ticket {{ ticket_id }} is closed.")
    after = tomllib.loads(dlt.export_registry(config, data_dir))
    assert (after["entity_id"], after["sender"], after["urls"]) == (ENTITY, "SXRHLP", ["https://srinagar.nic.in"])
    assert after["templates"]["logged.hi"] == before["templates"]["logged.hi"]
    assert after["templates"]["closed.en"] == [{"id": "", "text": "{#var#} Helpline: ticket {#var#} is closed."}]


def test_a_broken_registry_is_a_config_error(district, data_dir):
    config, _ = district
    dlt.registry_path(data_dir).write_text('[[templates."logged.en"]]\nid = "1107-abc"\ntext = "x"\n')
    with pytest.raises(ConfigError, match=r'templates."logged.en" id = \'1107-abc\' is not the digits'):
        check_templates(config, data_dir)
    config.raw["sms"]["dlt"] = "always"
    with pytest.raises(ConfigError, match='sms.dlt = \'always\' is not one of "off", "check", "enforce"'):
        dlt.dlt_mode(config)


def test_dlt_mode_defaults_to_check_in_india_and_off_elsewhere(district):
    config, _ = district
    assert dlt.dlt_mode(config) == "check"
    config.timezone_name = "America/New_York"
    assert dlt.dlt_mode(config) == "off"


# --- templates check ------------------------------------------------------------------------------

def test_check_passes_once_registered_and_records_the_template_id(district, data_dir):
    config, _ = district
    config.raw["sms"]["dlt"] = "enforce"
    register(config, data_dir)
    rows = check_templates(config, data_dir)
    assert [r for r in rows if r["problem"]] == []
    assert all(r["dlt_template_id"] and r["dlt_template_id"].startswith("110716120") for r in rows)


def test_check_without_a_registry_warns_under_check_and_fails_under_enforce(district, data_dir):
    config, _ = district
    assert problems(config, data_dir) == {}
    assert "no dlt.toml" in dlt.registry_status(config, data_dir)["warning"]
    config.raw["sms"]["dlt"] = "enforce"
    assert "no dlt.toml" in dlt.registry_status(config, data_dir)["problems"][0]
    config.raw["sms"]["dlt"] = "off"
    assert dlt.registry_status(config, data_dir) == {"problems": [], "warning": None}


def test_check_names_values_over_30_characters_unless_enforce_cuts_them(district, data_dir):
    config, _ = district
    register(config, data_dir)
    found = problems(config, data_dir)
    assert found["assigned.en"].startswith("DLT: values over DLT's 30 characters: officer_name (40 characters)")
    assert "caller_name (40 characters), description (59 characters)" in found["officer_assigned.ur"]
    assert "logged.en" not in found
    config.raw["sms"]["dlt"] = "enforce"
    assert problems(config, data_dir) == {}


def test_check_fails_on_an_edited_hindi_override_naming_it(district, data_dir):
    config, _ = district
    config.raw["sms"]["dlt"] = "enforce"
    register(config, data_dir)
    override(data_dir, "closed.hi.txt", "{{ district }} हेल्पलाइन: टिकट {{ ticket_id }} बंद हो गया है। धन्यवाद।")
    found = problems(config, data_dir)
    assert found == {"closed.hi": "DLT: does not match its registered DLT text"}
    row = next(r for r in check_templates(config, data_dir) if (r["template"], r["lang"]) == ("closed", "hi"))
    assert row["source"] == "district"


def test_check_fails_on_an_unregistered_template_and_an_unregistered_wording(district, data_dir):
    config, _ = district
    config.raw["sms"]["dlt"] = "enforce"
    path = register(config, data_dir)
    text = path.read_text(encoding="utf-8")
    registry = tomllib.loads(text)
    # drop the registration of closed.ur and the logged.en text without a helpline phone
    text = text.replace(f'id = "{registry["templates"]["closed.ur"][0]["id"]}"', 'id = ""')
    text = text.replace(f'id = "{registry["templates"]["logged.en"][1]["id"]}"', 'id = ""')
    path.write_text(text, encoding="utf-8")
    found = problems(config, data_dir)
    assert found == {"closed.ur": "DLT: not registered in dlt.toml",
                     "logged.en": "DLT: the text without helpline_phone is not registered"}


def test_check_fails_on_a_link_not_whitelisted_even_when_registered(district, data_dir):
    config, _ = district
    config.raw["sms"]["dlt"] = "enforce"
    register(config, data_dir)
    override(data_dir, "closed.en.txt", "{{ district }} Helpline: ticket {{ ticket_id }} is closed. Tell us: bit.ly/3xHlp")
    assert problems(config, data_dir) == {"closed.en": "DLT: does not match its registered DLT text; "
                                                       "link bit.ly/3xHlp is not in urls of dlt.toml"}
    register(config, data_dir)  # registered with the link, but the link is not whitelisted
    assert problems(config, data_dir) == {"closed.en": "DLT: link bit.ly/3xHlp is not in urls of dlt.toml"}
    register(config, data_dir, urls=["https://bit.ly/3xHlp"])
    assert problems(config, data_dir) == {}


def test_district_override_takes_precedence_over_the_shipped_template(district, data_dir):
    config, _ = district
    context = {"district": "Srinagar", "ticket_id": "SXR-10003"}
    assert render("closed", "en", context, data_dir=data_dir)[0].startswith("Srinagar Helpline: ticket SXR-10003 is")
    override(data_dir, "closed.en.txt", "{{ district }}: {{ ticket_id }} closed.")
    assert render("closed", "en", context, data_dir=data_dir)[0] == "Srinagar: SXR-10003 closed."
    assert render("closed", "en", context)[0] != "Srinagar: SXR-10003 closed."  # shipped, without data_dir
    override(data_dir, "closed.en.txt", "{{ district }}: {{ ticket_id }} closed ’")
    assert problems(config, data_dir)["closed.en"] == "English text falls into UCS-2 because of ’"


# --- sending ----------------------------------------------------------------------------------------

def test_enforce_fails_a_mismatching_text_without_calling_the_gateway(district, data_dir):
    config, store = district
    config.raw["sms"]["dlt"] = "enforce"
    register(config, data_dir)
    log(store, config)
    override(data_dir, "logged.en.txt", "{{ district }} Helpline: ticket {{ ticket_id }}. Details: bit.ly/x1")
    report = send_outbox(store, config, FileGateway(data_dir), DAY)
    assert report.sent == [] and len(report.failed) == 1
    record, = outbox.list_messages(store, config, DAY)
    assert record["state"] == "failed"
    assert record["error"] == "dlt-mismatch: link bit.ly/x1 is not whitelisted; not sent"
    assert sent_lines(data_dir) == []


def test_enforce_without_a_registry_fails_texts_to_indian_numbers_only(district, data_dir):
    config, store = district
    config.raw["sms"]["dlt"] = "enforce"
    log(store, config)
    with store.transaction() as db:  # a text to a number abroad: DLT is India's
        outbox.queue_message(db, DAY, key="test:abroad", recipient="+14155552671", audience="operator",
                             template="test", lang="en", context={"district": "Srinagar"})
    report = send_outbox(store, config, FileGateway(data_dir), DAY)
    states = {r["recipient"]: (r["state"], r["error"]) for r in outbox.list_messages(store, config, DAY)}
    assert states["+919876543210"] == ("failed", "dlt-mismatch: no dlt.toml in the data directory; not sent")
    assert states["+14155552671"] == ("sent", None) and len(report.sent) == 1


def test_enforce_cuts_values_to_30_characters_and_records_the_template_id(district, data_dir):
    config, store = district
    config.raw["sms"]["dlt"] = "enforce"
    path = register(config, data_dir)
    ids = {e["text"]: e["id"] for e in tomllib.loads(path.read_text(encoding="utf-8"))["templates"]["assigned.en"]}
    with store.transaction() as db:
        db.table("officers").update({"name": LONG_NAME}, lambda d: d["officer_id"] == "tariq")
    log(store, config, area="Hazratbal")  # routed to tariq: the caller's "assigned" text names him
    report = send_outbox(store, config, FileGateway(data_dir), DAY)
    assert report.failed == []
    assigned, = [line for line in sent_lines(data_dir) if ":assign" in line["key"] and line["to"] == "+919876543210"]
    assert "officer Mohammad Abdul Rashid Bhat..., +919419000103" in assigned["body"]
    assert LONG_NAME not in assigned["body"]
    assert assigned["dlt_template_id"] == next(iter(ids.values()))
    assert (assigned["dlt_entity_id"], assigned["sender"]) == (ENTITY, "SXRHLP")


def test_check_mode_sends_a_mismatching_text_and_off_records_no_dlt_fields(district, data_dir):
    config, store = district
    register(config, data_dir)
    override(data_dir, "logged.en.txt", "{{ district }}: ticket {{ ticket_id }}.")
    log(store, config)
    log(store, config, phone="9876500001", category="medicine")
    send_outbox(store, config, FileGateway(data_dir), DAY)
    lines = sent_lines(data_dir)
    assert [line["body"] for line in lines] == ["Srinagar: ticket SXR-10003.", "Srinagar: ticket SXR-10019."]
    assert not any("dlt_template_id" in line for line in lines)


def test_check_mode_records_the_template_id_of_a_matching_text(district, data_dir):
    config, store = district
    register(config, data_dir)
    log(store, config)
    send_outbox(store, config, FileGateway(data_dir), DAY)
    line, = sent_lines(data_dir)
    assert line["dlt_template_id"].startswith("110716120") and line["sender"] == "SXRHLP"


def test_digest_lists_only_as_many_tickets_as_a_registered_wording_has(district, data_dir):
    config, store = district
    config.raw["sms"]["dlt"] = "enforce"
    path = register(config, data_dir)
    # only the digest's wordings without the oldest tickets are registered
    text = re.sub(r'id = "\d+"\ntext = "[^\n]*Oldest', lambda m: 'id = ""' + m.group(0)[m.group(0).index("\n"):],
                  path.read_text(encoding="utf-8"))
    path.write_text(text, encoding="utf-8")
    for n in range(4):
        log(store, config, phone=f"98765000{n:02d}", area="Hazratbal")  # four tickets for tariq
    digest_task(store, config, now=DAY, day=DAY.date())
    report = send_outbox(store, config, FileGateway(data_dir), DAY)
    assert report.failed == []
    digest, = [line for line in sent_lines(data_dir) if line["key"].startswith("digest:")]
    assert digest["body"] == "Srinagar 2026-11-30: 4 open, 0 overdue. New since last digest: 4."
    assert digest["dlt_template_id"]


# --- Twilio (against Prism) ---------------------------------------------------------------------------

@pytest.mark.parametrize("sender", [{"from": "+15005550006"}, {"messaging_service_sid": "MG" + "fedcba9876543210" * 2}])
def test_twilio_gets_the_registered_sender_and_a_valid_request(district, data_dir, prism_server, sender):
    config, store = district
    config.raw["sms"] = {"gateway": "twilio", "dlt": "enforce", **sender}
    register(config, data_dir)
    log(store, config, language="hi")
    client = PrismHttpClient(prism_server.base_url, prefer=MAGIC_TO)
    gateway = make_gateway(config, data_dir, environ={"TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                                                      "TWILIO_AUTH_TOKEN": AUTH_TOKEN}, http_client=client)
    report = send_outbox(store, config, gateway, DAY)
    assert len(report.sent) == 1
    posted, = [e.data for e in client.exchanges if e.method == "POST"]
    assert posted["From"] == "SXRHLP" and posted["To"] == "+919876543210" and "हेल्पलाइन" in posted["Body"]
    assert set(posted) == {"To", "From", "Body"} | ({"MessagingServiceSid"} if "messaging_service_sid" in sender
                                                    else set())
    client.assert_no_request_violations()
    record, = outbox.list_messages(store, config, DAY)
    assert record["state"] == "sent" and record["dlt_template_id"].startswith("110716120")


# --- the installed CLI ---------------------------------------------------------------------------------

def test_cli_register_check_and_send_under_enforce(run_cli, data_dir):
    """dlt-export, fill in the IDs, check passes; a Hindi override fails the check and, sent anyway,
    fails with dlt-mismatch and never reaches the gateway."""
    run_cli(["init", "--district-code", "SXR", "--district-name", "Srinagar"])
    config_path = data_dir / "config.toml"
    config_path.write_text(config_path.read_text().replace('gateway = "file"', 'gateway = "file"\ndlt = "enforce"'))
    failed = run_cli(["templates", "check"], expect=1)
    assert failed.stderr.startswith("Error: 0 templates over budget, broken or not as registered on DLT: no dlt.toml")

    written = run_cli(["templates", "dlt-export", "--out", str(data_dir / "dlt.toml")])
    assert written.stdout == f"DLT texts written to {data_dir / 'dlt.toml'}: register each, then fill in its id.\n"
    assert run_cli(["templates", "dlt-export"]).stdout == (data_dir / "dlt.toml").read_text(encoding="utf-8")
    run_cli(["templates", "check"], expect=1)  # exported, not yet registered: no IDs
    fill(data_dir / "dlt.toml")
    passed = run_cli(["templates", "check", "--json"], as_json=True)
    assert all(r["problem"] is None and r["dlt_template_id"] for r in passed)

    run_cli(["officer", "add", "meena", "--name", "Meena Kumari", "--phone", "09419000104", "--area", "Khanyar",
             "--category", "ration", "--lang", "hi"])
    override(data_dir, "assigned.hi.txt", "{{ district }} हेल्पलाइन: टिकट {{ ticket_id }} अब {{ officer_name }} के पास है।")
    failed = run_cli(["templates", "check"], expect=1)
    assert "assigned.hi: DLT: does not match its registered DLT text" in failed.stderr
    assert "(district's own)" in failed.stdout

    ticket = run_cli(["log", "--phone", "9876543210", "--area", "Khanyar", "--category", "ration", "--lang", "hi",
                      "--json"], as_json=True)
    as_of = (datetime.now(timezone.utc) + timedelta(days=1)).date().isoformat() + "T12:00"  # noon IST: not quiet
    assert run_cli(["sms", "send", "--as-of", as_of], expect=1).stdout == "Outbox: 2 texts sent, 1 failed.\n"  # loud
    messages = {m["template"]: m for m in run_cli(["sms", "list", "--ticket", ticket["id"], "--json"], as_json=True)}
    assert (messages["assigned"]["state"], messages["assigned"]["error"]) == (
        "failed", "dlt-mismatch: the text of assigned.hi matches none of its registered DLT texts; not sent")
    assert messages["logged"]["state"] == "sent" and messages["officer_assigned"]["state"] == "sent"
    lines = sent_lines(data_dir)
    assert sorted(line["key"].split(":")[1] for line in lines) == ["logged", "officer_assigned"]
    assert all(line["dlt_template_id"] and line["sender"] == "SXRHLP" for line in lines)


def test_cli_check_fails_on_a_short_link_not_registered(run_cli, data_dir):
    run_cli(["init", "--district-code", "SXR", "--district-name", "Srinagar"])
    run_cli(["templates", "dlt-export", "--out", str(data_dir / "dlt.toml")])
    fill(data_dir / "dlt.toml")
    override(data_dir, "logged.en.txt", "{{ district }} Helpline: your ticket is {{ ticket_id }}. More: https://bit.ly/3xHlp")
    failed = run_cli(["templates", "check"], expect=1)
    assert ("logged.en: DLT: does not match its registered DLT text; link https://bit.ly/3xHlp is not in urls of "
            "dlt.toml") in failed.stderr


def test_cli_dlt_export_to_a_missing_folder_is_one_line(run_cli, data_dir, tmp_path):
    run_cli(["init", "--district-code", "SXR", "--district-name", "Srinagar"])
    failed = run_cli(["templates", "dlt-export", "--out", str(tmp_path / "nowhere" / "dlt.toml")], expect=1)
    assert failed.stderr == f"Error: cannot write {tmp_path / 'nowhere' / 'dlt.toml'}: No such file or directory.\n"
