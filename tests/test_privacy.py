"""Sensitive categories: a counselling caller's words reach `show`, the officer's own text and the
full dump, and no other output (issue 9). Each test looks for marker words, planted in English,
Hindi and Urdu in names, descriptions, follow-up calls, notes and resolution notes."""

import csv
import io
import json
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from conftest import NOW
from helpline_core import job_tasks, notify, reports, tickets
from helpline_core.archive import archive_final_tickets
from helpline_core.config import load_config
from helpline_core.export import open311_requests, tickets_csv, tickets_in_period
from helpline_core.jobs import job_settings
from helpline_core.officers import add_officer
from helpline_core.verification import build_verification_list, write_verification_list

DAY = NOW.astimezone(ZoneInfo("Asia/Kolkata")).date()
PERIOD = ["--from", (DAY - timedelta(days=20)).isoformat(), "--to", DAY.isoformat()]

# (language, name, description, follow-up call, note, resolution note): every word a marker
CALLERS = [
    ("en", "Zorblatt Quinceworth", "zorbdesc lonely since the lockdown", "zorbcall cannot sleep",
     "zorbnote son abroad", "zorbresolve talked for an hour"),
    ("hi", "गुलबदनमार्कर", "अकेलापनमार्कर नशा", "नींदमार्कर", "बेटामार्कर", "बातचीतमार्कर"),
    ("ur", "گلنارنشان", "تنہائینشان خوف", "نیندنشان", "بیٹانشان", "گفتگونشان"),
]
MARKERS = [word for row in CALLERS for field in row[1:] for word in field.split() if "marker" in word.lower()
           or "نشان" in word or "मार्कर" in word or word.startswith(("zorb", "Zorb"))]


def assert_private(text, where):
    found = [m for m in MARKERS if m in text]
    assert not found, f"{where} holds sensitive words: {found}"


def assert_all_there(text, where):
    missing = [m for m in MARKERS if m not in text]
    assert not missing, f"{where} lacks {missing}"


@pytest.fixture
def counselling(district):
    """Counselling tickets in en/hi/ur: one closed and archived, one resolved (for the verification
    list), one still assigned and overdue (for the report's overdue list and the digest), per language;
    plus an ordinary ration ticket whose words are not private. :returns: (config, store, ids)."""
    config, store = district
    with store.transaction() as db:
        add_officer(db, config, "zainab", name="Zainab Bano", phone="09419000105", areas=["Khanyar"],
                    categories=["counselling"], role="officer", lang="hi", actor="setup", now=NOW - timedelta(days=20))
    ids = {}
    for n, (lang, name, description, call, note, resolution) in enumerate(CALLERS):
        for state, opened in (("closed", NOW - timedelta(days=10)), ("resolved", NOW - timedelta(hours=20)),
                              ("assigned", NOW - timedelta(hours=30))):
            phone = f"98765{n}{len(ids):04d}"
            with store.transaction() as db:
                ticket, _ = tickets.log_call(db, config, store, phone=phone, area="Khanyar", category="counselling",
                                             actor="op", now=opened, caller_name=name, language=lang,
                                             description=description)
                tickets.log_call(db, config, store, phone=phone, area="Khanyar", category="counselling", actor="op",
                                 now=opened + timedelta(minutes=30), description=call)
                tickets.add_note(db, config, ticket["id"], note, actor="op", now=opened + timedelta(hours=1))
                if state != "assigned":
                    tickets.resolve(db, config, ticket["id"], note=resolution, actor="op",
                                    now=opened + timedelta(hours=2))
                if state == "closed":
                    tickets.verify(db, config, ticket["id"], confirmed=True, note=resolution, by="nusrat",
                                   actor="op", now=opened + timedelta(hours=3))
            ids[(lang, state)] = ticket["id"]
    with store.transaction() as db:
        ration, _ = tickets.log_call(db, config, store, phone="9876599999", area="Khanyar", category="ration",
                                     actor="op", now=NOW - timedelta(hours=5), caller_name="Ordinary Name",
                                     description="ordinaryration for five")
    ids["ration"] = ration["id"]
    assert archive_final_tickets(store, config, NOW) == 3
    return config, store, ids


# config -------------------------------------------------------------------------------------------


def test_new_config_marks_counselling_sensitive_and_old_configs_still_do(district, data_dir):
    config, _ = district
    text = (data_dir / "config.toml").read_text(encoding="utf-8")
    assert '"counselling" = { sla_hours = 4, sensitive = true }' in text
    assert config.is_sensitive("counselling") and not config.is_sensitive("ration")
    assert config.sla_hours("counselling") == 4
    old = text.replace('"counselling" = { sla_hours = 4, sensitive = true }', '"counselling" = 4')
    (data_dir / "config.toml").write_text(old.replace('"ration" = 48', '"ration" = { sla_hours = 48, sensitive = true }'),
                                          encoding="utf-8")
    config = load_config(data_dir)
    assert config.is_sensitive("counselling") and config.is_sensitive("ration")  # the safe default, and opt-in
    assert config.categories["ration"] == 48
    (data_dir / "config.toml").write_text(old.replace('"counselling" = 4', '"counselling" = { sla_hours = 4, '
                                                                             'sensitive = false }'), encoding="utf-8")
    assert not load_config(data_dir).is_sensitive("counselling")  # a district may say so, explicitly


def test_a_bad_sensitive_value_is_a_one_line_error(district, data_dir, run_cli):
    path = data_dir / "config.toml"
    path.write_text(path.read_text(encoding="utf-8").replace("sensitive = true", 'sensitive = "yes"'),
                    encoding="utf-8")
    result = run_cli(["list"], expect=1)
    assert "categories.counselling.sensitive = 'yes' is not true or false" in result.stderr


# each output --------------------------------------------------------------------------------------


def test_show_and_the_json_dump_keep_everything(counselling, run_cli):
    config, store, ids = counselling
    shown = "".join(run_cli(["show", ids[(lang, state)]]).stdout for lang, _, *_ in CALLERS
                    for state in ("closed", "resolved", "assigned"))
    assert_all_there(shown, "show")
    result = run_cli(["export", "--format", "json"])
    dump = json.loads(result.stdout)
    assert "personal data" in dump["personal_data"] and "personal data" in result.stderr
    assert_all_there(result.stdout, "the JSON dump")


def test_open311_export_has_no_sensitive_words(counselling, run_cli):
    config, store, ids = counselling
    text = run_cli(["export", "--format", "open311"]).stdout
    assert_private(text, "Open311")
    requests = {r["service_request_id"]: r for r in json.loads(text)}
    assert len(requests) == 10
    closed = requests[ids[("hi", "closed")]]
    assert closed["description"] is None and closed["status_notes"] is None and closed["status"] == "closed"
    assert requests[ids["ration"]]["description"] == "ordinaryration for five"  # other categories keep theirs
    core = json.dumps(open311_requests(tickets_in_period(store, config), config, {}), ensure_ascii=False)
    assert_private(core, "open311_requests")


def test_csv_export_has_no_sensitive_words(counselling, run_cli, tmp_path):
    config, store, ids = counselling
    out = tmp_path / "all.csv"
    run_cli(["export", "--format", "csv", "--out", str(out)])
    text = out.read_text(encoding="utf-8")
    assert_private(text, "export --format csv")
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(text))}
    assert rows[ids[("ur", "closed")]]["caller_name"] == "" and rows[ids[("ur", "closed")]]["phone"]
    assert rows[ids["ration"]]["caller_name"] == "Ordinary Name"
    assert_private(tickets_csv(tickets_in_period(store, config), config, NOW), "tickets_csv")


@pytest.mark.parametrize("fmt", ["html", "csv", "json", "table"])
def test_reports_have_no_sensitive_words(counselling, run_cli, tmp_path, fmt):
    config, store, ids = counselling
    out = tmp_path / f"report.{fmt}"
    args = ["report", *PERIOD, "--format", fmt, "--out", str(out)]
    run_cli(args)
    text = out.read_text(encoding="utf-8")
    assert_private(text, f"report --format {fmt}")
    if fmt == "html":  # the overdue list still names the tickets, only without their words
        assert ids[("en", "assigned")] in text and ids[("ur", "assigned")] in text
    for by in ("category", "area", "officer", "day"):
        if fmt != "html":
            assert_private(run_cli(["report", *PERIOD, "--format", fmt, "--by", by]).stdout, f"report --by {by}")


def test_html_report_overdue_list_keeps_ordinary_descriptions(counselling):
    config, store, ids = counselling
    with store.transaction() as db:
        tickets.log_call(db, config, store, phone="9876598888", area="Khanyar", category="ration", actor="op",
                         now=NOW - timedelta(days=3), description="ordinaryoverdue words")
    page = reports.html_report(store, config, NOW, DAY - timedelta(days=20), DAY)
    assert "ordinaryoverdue words" in page
    assert_private(page, "html_report")


def test_digests_and_escalations_have_no_sensitive_words(counselling):
    config, store, ids = counselling
    assert job_tasks.digest_task(store, config, now=NOW, day=DAY)["digests"] >= 1
    job_tasks.escalate_task(store, config, now=NOW, settings=job_settings(config))
    messages = [m for m in store.snapshot().table("outbox").all()
                if m["template"] in ("officer_digest", "escalation")]
    assert {m["template"] for m in messages} == {"officer_digest", "escalation"}
    from helpline_core.sms_templates import render

    for m in messages:
        assert_private(json.dumps(m, ensure_ascii=False) + render(m["template"], m["lang"], m["context"])[0],
                       m["template"])


def test_verification_list_has_no_sensitive_words(counselling, data_dir):
    config, store, ids = counselling
    listing = build_verification_list(store.snapshot(), config, DAY)
    rows = {r["ticket_id"]: r for g in listing["groups"] for r in g["rows"]}
    assert {ids[(lang, "resolved")] for lang, *_ in CALLERS} <= set(rows)
    assert rows[ids[("en", "resolved")]]["phone"]  # the verifier still has the number to call
    csv_path, html_path = write_verification_list(data_dir, listing)
    assert_private(csv_path.read_text(encoding="utf-8"), "verification CSV")
    assert_private(html_path.read_text(encoding="utf-8"), "verification HTML")


@pytest.mark.parametrize("fmt", [[], ["--json"], ["--csv"]])
def test_list_and_find_hide_sensitive_words_unless_asked(counselling, run_cli, fmt):
    config, store, ids = counselling
    listed = run_cli(["list", "--status", "all", *fmt]).stdout
    assert_private(listed, f"list {fmt}")
    assert ids[("hi", "closed")] in listed and ids[("ur", "assigned")] in listed
    phone = store.find_ticket_document(int(ids[("en", "closed")][4:-1]))["phone"]
    found = run_cli(["find", phone, *fmt]).stdout
    assert ids[("en", "closed")] in found
    assert_private(found, f"find {fmt}")
    if fmt:
        shown = run_cli(["list", "--status", "all", "--show-sensitive", *fmt]).stdout
        if fmt == ["--json"]:
            assert_all_there(shown, "list --json --show-sensitive")
        else:  # CSV has no history: names and descriptions
            assert all(row[1] in shown and row[2] in shown for row in CALLERS)
        assert "zorbdesc" in run_cli(["find", phone, "--show-sensitive", *fmt]).stdout
        assert "ordinaryration" in listed  # other categories are listed as before


def test_officer_assignment_text_has_the_name_but_not_the_description_unless_configured(counselling, data_dir):
    config, store, ids = counselling
    texts = [m for m in store.snapshot().table("outbox").all()
             if m["template"] == "officer_assigned" and m["ticket_id"] == ids[("hi", "assigned")]]
    assert len(texts) == 1 and texts[0]["recipient"] == "+919419000105"
    assert texts[0]["context"]["caller_name"] == "गुलबदनमार्कर" and texts[0]["context"]["description"] == ""
    ticket = store.find_ticket_document(int(ids[("hi", "assigned")][4:-1]))
    officer = {"name": "Zainab Bano", "lang": "hi"}
    path = data_dir / "config.toml"
    path.write_text(path.read_text(encoding="utf-8").replace('[sms]\n', '[sms]\nsensitive_details_to_officer = true\n'),
                    encoding="utf-8")
    context = notify.officer_context(load_config(data_dir), ticket, officer)
    assert context["description"] == "अकेलापनमार्कर नशा"
