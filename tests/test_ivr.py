"""The voice menu in process: signed webhooks as Twilio sends them, TwiML checked element by element."""

import json
from datetime import timedelta

import pytest

from conftest import NOW, file_bytes
from helpline_core import tickets
from helpline_core.ivr import render_prompt
from helpline_core.ivr_app import make_app
from helpline_core.ivr_records import figures
from ivr_helpers import (AUDIO_UR, DESK, PUBLIC_URL, TOKEN, call_sid, enable_ivr, form, plays, post, says, spoken,
                         twiml)

LANGS = ["hi", "ur", "en"]  # the menu's order: 1, 2, 3
CALLER = "+919876543210"
STRANGER = "+919812345678"


@pytest.fixture
def ivr(district, data_dir):
    """(app, config, store) of a district with the voice menu on; the clock is ``NOW`` + ``ivr.minutes``."""
    _, store = district
    config = enable_ivr(data_dir)
    clock = {"now": NOW}
    app = make_app(data_dir, config, TOKEN, clock=lambda: clock["now"])
    app.clock = clock
    return app, config, store


def heard(root, data_dir, prompt, lang, **context):
    """True when ``prompt`` in ``lang`` is among what the TwiML says or plays."""
    if lang == "ur":
        wanted = f"{AUDIO_UR}{context.pop('file', prompt)}.mp3"
        found = plays(root)
        if wanted not in found:
            return False
        if "digits" in context:  # the digits follow, one recording each
            at = found.index(wanted)
            digits = [d for d in context["digits"] if d != " "]
            return found[at + 1:at + 1 + len(digits)] == [f"{AUDIO_UR}digit-{d}.mp3" for d in digits]
        return True
    context.pop("file", None)
    context.setdefault("district", "Srinagar")
    return render_prompt(data_dir, prompt, lang, context) in says(root)


def open_ticket(store, config, phone=CALLER, category="ration", lang="ur", area="Khanyar", minutes=0):
    with store.transaction() as db:
        ticket, _ = tickets.log_call(db, config, store, phone=phone, area=area, category=category, actor="op",
                                     now=NOW + timedelta(minutes=minutes), language=lang)
    return ticket


def digits_of(ticket_id):
    return " ".join(ch for ch in ticket_id if ch.isdigit())


def gather_of(root):
    gathers = root.findall("Gather")
    assert len(gathers) == 1, [e.tag for e in root]
    return gathers[0]


def url(step, **query):
    from urllib.parse import urlencode

    return f"{PUBLIC_URL}/{step}" + (f"?{urlencode(sorted(query.items()))}" if query else "")


def day_log(data_dir):
    lines = []
    for path in sorted((data_dir / "ivr").glob("calls-*.jsonl")):
        lines += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return lines


# Safety ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("signature", [None, "", "bm90IHRoZSBzaWduYXR1cmU=", "other-token"])
def test_unsigned_or_wrongly_signed_request_gets_403_is_logged_and_changes_nothing(ivr, data_dir, signature):
    app, config, store = ivr
    ticket = open_ticket(store, config)
    before = file_bytes(data_dir)
    fields = form(call_sid(), CALLER, "3")
    if signature == "other-token":
        from ivr_helpers import sign

        signature = sign(url("callback", lang="ur"), fields, token="f" * 32)
    status, body = post(app, url("callback", lang="ur"), fields, signature=signature)
    assert status == 403 and "<Response" not in body
    after = file_bytes(data_dir)
    problems = after.pop("ivr/problems.jsonl")
    assert after == before
    assert json.loads(problems.splitlines()[-1])["kind"] == "bad-signature"
    assert store.find_ticket_document(ticket["serial"])["history"] == ticket["history"]


def test_a_signature_over_other_fields_or_another_url_is_refused(ivr):
    app, _, _ = ivr
    fields = form(call_sid(), CALLER)
    from ivr_helpers import sign

    assert post(app, url("voice"), dict(fields, Digits="1"), signature=sign(url("voice"), fields))[0] == 403
    assert post(app, url("voice"), fields, signature=sign(url("choice", lang="hi"), fields))[0] == 403
    assert post(app, url("voice"), fields)[0] == 200


def test_only_post_is_answered(ivr):
    app, _, _ = ivr
    seen = {}
    from ivr_helpers import environ_for

    environ = environ_for(url("voice"), {}, None)
    environ["REQUEST_METHOD"] = "GET"
    app(environ, lambda status, headers: seen.setdefault("status", status))
    assert seen["status"].startswith("405")


# The language menu -------------------------------------------------------------------------------


def test_a_new_caller_hears_the_language_menu_each_option_in_its_own_voice(ivr, data_dir):
    app, _, _ = ivr
    status, body = post(app, url("voice"), form(call_sid(), STRANGER))
    assert status == 200
    root = twiml(body)
    gather = gather_of(root)
    assert gather.get("action") == url("language", lang="hi", **{"try": "0"})
    assert gather.get("numDigits") == "1" and gather.get("method") == "POST"
    items = spoken(gather)
    assert items[0] == ("Say", render_prompt(data_dir, "language_option", "hi", {"digits": "1"}), "Polly.Aditi", "hi-IN")
    assert items[1][:2] == ("Play", f"{AUDIO_UR}language_option.mp3")
    assert items[2][:2] == ("Play", f"{AUDIO_UR}digit-2.mp3")
    assert items[3] == ("Say", "For English, press 3.", "Polly.Raveena", "en-IN")


@pytest.mark.parametrize("digit,lang", [("1", "hi"), ("2", "ur"), ("3", "en")])
def test_choosing_a_language_gives_the_menu_in_it(ivr, data_dir, digit, lang):
    app, _, _ = ivr
    root = twiml(post(app, url("language", lang="hi", **{"try": "0"}), form(call_sid(), STRANGER, digit))[1])
    gather = gather_of(root)
    assert gather.get("action") == url("choice", lang=lang, **{"try": "0"})
    assert heard(gather, data_dir, "welcome", lang)
    assert heard(gather, data_dir, "menu", lang)
    if lang != "ur":
        voice = {"hi": "Polly.Aditi", "en": "Polly.Raveena"}[lang]
        assert {(v, l) for tag, _, v, l in spoken(gather)} == {(voice, f"{lang}-IN")}


def test_a_wrong_key_in_the_language_menu_replays_it_then_takes_the_first_language(ivr, data_dir):
    app, _, _ = ivr
    root = twiml(post(app, url("language", lang="hi", **{"try": "0"}), form(call_sid(), STRANGER, "7"))[1])
    assert gather_of(root).get("action") == url("language", lang="hi", **{"try": "1"})
    root = twiml(post(app, url("language", lang="hi", **{"try": "2"}), form(call_sid(), STRANGER, "7"))[1])
    assert gather_of(root).get("action") == url("choice", lang="hi", **{"try": "0"})


# Caller ID ---------------------------------------------------------------------------------------


def test_caller_id_reads_the_newest_three_open_tickets_in_their_language_and_skips_the_language_menu(ivr, data_dir):
    app, config, store = ivr
    first = open_ticket(store, config, category="ration", lang="hi")
    second = open_ticket(store, config, category="medicine", lang="hi", minutes=1)
    third = open_ticket(store, config, category="doctor", lang="hi", minutes=2)
    newest = open_ticket(store, config, category="other", lang="en", minutes=3)
    with store.transaction() as db:
        tickets.resolve(db, config, second["id"], note="delivered", actor="op", now=NOW + timedelta(minutes=5))
    root = twiml(post(app, url("voice"), form(call_sid(), CALLER))[1])
    gather = gather_of(root)
    assert gather.get("action") == url("choice", lang="en", **{"try": "0"})  # the newest ticket's language
    text = says(gather)
    for ticket in (newest, third, second):
        assert f"Your ticket number {digits_of(ticket['id'])}." in text
    assert digits_of(first["id"]) not in text  # at most three
    assert text.index(digits_of(newest["id"])) < text.index(digits_of(third["id"])) < text.index(digits_of(second["id"]))
    assert "It has been marked as solved. A verifier will call you back" in text  # the resolved one
    assert "An officer is working on it." in text or "It is registered and waiting for an officer." in text
    assert text.endswith(render_prompt(data_dir, "menu", "en", {}))
    for ticket in (newest, third, second):
        events = store.find_ticket_document(ticket["serial"])["history"]
        assert events[-1]["type"] == "ivr" and call_sid() in events[-1]["note"]
    assert store.find_ticket_document(first["serial"])["history"][-1]["type"] != "ivr"


def test_final_tickets_are_not_read_and_a_caller_with_only_those_gets_the_language_menu(ivr):
    app, config, store = ivr
    ticket = open_ticket(store, config)
    with store.transaction() as db:
        tickets.reject(db, config, store, ticket["id"], reason="prank", actor="op", now=NOW)
    root = twiml(post(app, url("voice"), form(call_sid(), CALLER))[1])
    assert gather_of(root).get("action").startswith(f"{PUBLIC_URL}/language")


@pytest.mark.parametrize("lang", LANGS)
def test_a_counselling_ticket_is_only_being_handled(ivr, data_dir, lang):
    app, config, store = ivr
    ticket = open_ticket(store, config, category="counselling", lang=lang)
    with store.transaction() as db:
        tickets.add_note(db, config, ticket["id"], "talked about her husband's drinking", actor="op", now=NOW)
    root = twiml(post(app, url("voice"), form(call_sid(), CALLER))[1])
    assert heard(root, data_dir, "your_ticket", lang, digits=digits_of(ticket["id"]))
    assert heard(root, data_dir, "being_handled", lang)
    for prompt in ("status_open", "status_assigned", "status_resolved"):
        assert not heard(root, data_dir, prompt, lang)
    assert "drinking" not in says(root)


@pytest.mark.parametrize("lang", LANGS)
def test_a_number_texts_cannot_reach_hears_so_and_is_offered_the_operator(ivr, data_dir, lang):
    app, config, store = ivr
    ticket = open_ticket(store, config, lang=lang)
    with store.transaction() as db:
        db.table("phones").insert({"phone": CALLER, "blocked": "21614: not a mobile number", "opted_out_at": None})
    root = twiml(post(app, url("voice"), form(call_sid(), CALLER))[1])
    assert heard(root, data_dir, "sms_blocked", lang)
    assert heard(root, data_dir, "your_ticket", lang, digits=digits_of(ticket["id"]))
    other = twiml(post(app, url("voice"), form(call_sid(2), STRANGER))[1])
    assert not heard(other, data_dir, "sms_blocked", lang)


def test_nine_in_the_menu_changes_the_language_and_reads_the_status_again_in_it(ivr, data_dir):
    app, config, store = ivr
    ticket = open_ticket(store, config, lang="en")
    root = twiml(post(app, url("choice", lang="en"), form(call_sid(), CALLER, "9"))[1])
    assert gather_of(root).get("action").startswith(f"{PUBLIC_URL}/language")
    root = twiml(post(app, url("language", lang="en"), form(call_sid(), CALLER, "1"))[1])
    assert heard(root, data_dir, "your_ticket", "hi", digits=digits_of(ticket["id"]))


# 1: the desk -------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_one_dials_the_desk_numbers_in_turn_then_offers_a_callback(ivr, data_dir, lang):
    app, _, _ = ivr
    root = twiml(post(app, url("choice", lang=lang), form(call_sid(), STRANGER, "1"))[1])
    assert heard(root, data_dir, "connecting", lang)
    dial = root.find("Dial")
    assert dial.get("action") == url("dial-done", desk="0", lang=lang)
    assert [n.text for n in dial.findall("Number")] == [DESK[0]]
    root = twiml(post(app, url("dial-done", desk="0", lang=lang),
                      form(call_sid(), STRANGER, DialCallStatus="no-answer"))[1])
    assert [n.text for n in root.find("Dial").findall("Number")] == [DESK[1]]
    assert root.find("Dial").get("action") == url("dial-done", desk="1", lang=lang)
    root = twiml(post(app, url("dial-done", desk="1", lang=lang), form(call_sid(), STRANGER, DialCallStatus="busy"))[1])
    assert root.find("Dial") is None
    assert heard(root, data_dir, "no_operator", lang)
    assert gather_of(root).get("action") == url("callback", lang=lang, **{"try": "0"})
    answered = twiml(post(app, url("dial-done", desk="0", lang=lang),
                          form(call_sid(), STRANGER, DialCallStatus="completed"))[1])
    assert [e.tag for e in answered] == ["Hangup"]


def test_with_a_queue_the_caller_is_enqueued_and_offered_a_callback_when_nobody_answers(district, data_dir):
    config = enable_ivr(data_dir, queue='"desk"', queue_wait_seconds=60)
    app = make_app(data_dir, config, TOKEN, clock=lambda: NOW)
    root = twiml(post(app, url("choice", lang="en"), form(call_sid(), CALLER, "1"))[1])
    enqueue = root.find("Enqueue")
    assert enqueue.text == "desk" and enqueue.get("action") == url("queue-done", lang="en")
    assert enqueue.get("waitUrl") == url("queue-wait", lang="en")
    hold = twiml(post(app, url("queue-wait", lang="en"), form(call_sid(), CALLER, QueueTime="10"))[1])
    assert [e.tag for e in hold] == ["Say", "Pause"]
    leave = twiml(post(app, url("queue-wait", lang="en"), form(call_sid(), CALLER, QueueTime="61"))[1])
    assert [e.tag for e in leave] == ["Leave"]
    root = twiml(post(app, url("queue-done", lang="en"), form(call_sid(), CALLER, QueueResult="leave"))[1])
    assert gather_of(root).get("action") == url("callback", lang="en", **{"try": "0"})
    root = twiml(post(app, url("queue-done", lang="en"), form(call_sid(), CALLER, QueueResult="bridged"))[1])
    assert [e.tag for e in root] == ["Hangup"]


# 2: a typed ticket number ------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_two_asks_for_a_ticket_number_and_reads_the_callers_own_status(ivr, data_dir, lang):
    app, config, store = ivr
    ticket = open_ticket(store, config, lang="en")
    root = twiml(post(app, url("choice", lang=lang), form(call_sid(), CALLER, "2"))[1])
    gather = gather_of(root)
    assert gather.get("action") == url("ticket", lang=lang, **{"try": "0"}) and gather.get("finishOnKey") == "#"
    assert heard(gather, data_dir, "enter_ticket", lang)
    typed = ticket["id"].split("-")[1] + "#"
    root = twiml(post(app, url("ticket", lang=lang, **{"try": "0"}), form(call_sid(), CALLER, typed))[1])
    assert heard(root, data_dir, "your_ticket", lang, digits=digits_of(ticket["id"]))
    assert heard(root, data_dir, f"status_{ticket['status']}", lang)
    assert gather_of(root).get("action") == url("choice", lang=lang, **{"try": "0"})
    assert store.find_ticket_document(ticket["serial"])["history"][-1]["type"] == "ivr"


@pytest.mark.parametrize("lang", LANGS)
def test_a_wrong_check_digit_is_mistyped_three_tries_then_the_menu(ivr, data_dir, lang):
    app, config, store = ivr
    ticket = open_ticket(store, config)
    serial_digits = ticket["id"].split("-")[1]
    wrong = serial_digits[:-1] + str((int(serial_digits[-1]) + 1) % 10)
    before = file_bytes(data_dir)["helpline.json"]
    for tries in (0, 1):
        root = twiml(post(app, url("ticket", lang=lang, **{"try": str(tries)}), form(call_sid(), CALLER, wrong))[1])
        assert heard(root, data_dir, "mistyped", lang)
        assert gather_of(root).get("action") == url("ticket", lang=lang, **{"try": str(tries + 1)})
    root = twiml(post(app, url("ticket", lang=lang, **{"try": "2"}), form(call_sid(), CALLER, wrong))[1])
    assert heard(root, data_dir, "mistyped", lang) and heard(root, data_dir, "back_to_menu", lang)
    assert gather_of(root).get("action") == url("choice", lang=lang, **{"try": "0"})
    assert file_bytes(data_dir)["helpline.json"] == before
    assert [line["outcome"] for line in day_log(data_dir)] == ["mistyped"] * 3


@pytest.mark.parametrize("lang", LANGS)
def test_someone_elses_ticket_reads_only_its_status(ivr, data_dir, lang):
    app, config, store = ivr
    ticket = open_ticket(store, config, phone=STRANGER, lang="hi")
    with store.transaction() as db:
        tickets.resolve(db, config, ticket["id"], note="Ghulam Nabi got his ration kit", actor="op", now=NOW)
    typed = ticket["id"].split("-")[1]
    root = twiml(post(app, url("ticket", lang=lang, **{"try": "0"}), form(call_sid(), CALLER, typed))[1])
    assert heard(root, data_dir, "a_ticket", lang, digits=digits_of(ticket["id"]))
    assert heard(root, data_dir, "status_resolved", lang)
    assert not heard(root, data_dir, "verifier_callback", lang) and not heard(root, data_dir, "your_ticket", lang,
                                                                                 digits=digits_of(ticket["id"]))
    assert "Ghulam" not in says(root) and "Khanyar" not in says(root)
    event = store.find_ticket_document(ticket["serial"])["history"][-1]
    assert event["type"] == "ivr" and "another number" in event["note"]


def test_an_unknown_and_an_archived_ticket_number(ivr, data_dir):
    app, config, store = ivr
    from helpline_core.ids import format_id

    missing = format_id("SXR", 4242).split("-")[1]
    root = twiml(post(app, url("ticket", lang="en", **{"try": "0"}), form(call_sid(), CALLER, missing))[1])
    assert heard(root, data_dir, "not_found", "en")
    ticket = open_ticket(store, config)
    with store.transaction() as db:
        tickets.reject(db, config, store, ticket["id"], reason="duplicate", actor="op", now=NOW - timedelta(days=3))
    from helpline_core.archive import archive_final_tickets

    archive_final_tickets(store, config, NOW)
    root = twiml(post(app, url("ticket", lang="en", **{"try": "0"}), form(call_sid(), CALLER, ticket["id"][4:]))[1])
    assert heard(root, data_dir, "status_rejected", "en")


# 3: a callback -----------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_three_opens_a_callback_ticket_in_the_chosen_category(ivr, data_dir, lang):
    app, config, store = ivr
    root = twiml(post(app, url("choice", lang=lang), form(call_sid(), CALLER, "3"))[1])
    gather = gather_of(root)
    assert gather.get("action") == url("callback", lang=lang, **{"try": "0"})
    assert heard(gather, data_dir, "category_option", lang, file="category-medicine", digits="2",
                 category={"hi": "दवा", "ur": "دوا", "en": "medicine"}[lang])
    root = twiml(post(app, url("callback", lang=lang, **{"try": "0"}), form(call_sid(), CALLER, "2"))[1])
    db = store.snapshot()
    [ticket] = db.table("tickets").all()
    assert ticket["category"] == "medicine" and ticket["phone"] == CALLER and ticket["language"] == lang
    assert ticket["status"] == "assigned" and ticket["officer"] == "rafiq"  # routed like any call
    assert ticket["callback"]["requested_at"] == "2026-11-30T06:00:00+00:00" and ticket["callback"]["returned_at"] is None
    assert [e["type"] for e in ticket["history"]] == ["opened", "assign", "callback"]
    assert heard(root, data_dir, "callback_done", lang, digits=digits_of(ticket["id"]))
    assert root[-1].tag == "Hangup"
    assert [line["outcome"] for line in day_log(data_dir)] == ["category-menu", "callback"]


def test_a_callback_on_an_open_ticket_in_that_category_is_an_event_on_it(ivr, data_dir):
    app, config, store = ivr
    ticket = open_ticket(store, config, category="ration", area="Eidgah")
    post(app, url("callback", lang="ur", **{"try": "0"}), form(call_sid(), CALLER, "1"))
    post(app, url("callback", lang="ur", **{"try": "0"}), form(call_sid(2), CALLER, "2"))
    tickets_now = sorted(store.snapshot().table("tickets").all(), key=lambda t: t["serial"])
    assert len(tickets_now) == 2
    same = tickets_now[0]
    assert same["id"] == ticket["id"] and same["history"][-1]["type"] == "callback"
    assert tickets_now[1]["category"] == "medicine" and tickets_now[1]["area"] == "Eidgah"  # the caller's area


def test_a_withheld_number_cannot_leave_a_callback_and_is_put_through(ivr, data_dir):
    app, _, store = ivr
    root = twiml(post(app, url("choice", lang="en"), form(call_sid(), "anonymous", "3"))[1])
    assert heard(root, data_dir, "callback_no_number", "en") and root.find("Dial") is not None
    root = twiml(post(app, url("callback", lang="en", **{"try": "0"}), form(call_sid(), "anonymous", "1"))[1])
    assert root.find("Dial") is not None
    assert store.snapshot().table("tickets").all() == []


def test_a_wrong_category_key_replays_the_category_menu(ivr, data_dir):
    app, _, store = ivr
    root = twiml(post(app, url("callback", lang="en", **{"try": "0"}), form(call_sid(), CALLER, "8"))[1])
    assert gather_of(root).get("action") == url("callback", lang="en", **{"try": "1"})
    assert store.snapshot().table("tickets").all() == []


def test_menu_categories_choose_the_callback_menu_and_its_keys(district, data_dir):
    _, store = district
    config = enable_ivr(data_dir, menu_categories='["doctor", "ration"]')
    app = make_app(data_dir, config, TOKEN, clock=lambda: NOW)
    gather = gather_of(twiml(post(app, url("choice", lang="en"), form(call_sid(), CALLER, "3"))[1]))
    assert heard(gather, data_dir, "category_option", "en", category="doctor", digits="1")
    assert heard(gather, data_dir, "category_option", "en", category="ration", digits="2")
    assert not heard(gather, data_dir, "category_option", "en", category="medicine", digits="2")
    post(app, url("callback", lang="en", **{"try": "0"}), form(call_sid(), CALLER, "2"))
    assert [t["category"] for t in store.snapshot().table("tickets").all()] == ["ration"]
    root = twiml(post(app, url("callback", lang="en", **{"try": "0"}), form(call_sid(2), CALLER, "3"))[1])
    assert gather_of(root).get("action") == url("callback", lang="en", **{"try": "1"})  # no key 3 now


# Unexpected input --------------------------------------------------------------------------------


@pytest.mark.parametrize("step,query,digits", [
    ("choice", {"lang": "en"}, "5"), ("choice", {"lang": "en"}, "1; DROP"), ("choice", {"lang": "en"}, None),
    ("choice", {"lang": "xx"}, "1"), ("nowhere", {"lang": "en"}, "1"), ("choice", {}, "1"),
])
def test_anything_unexpected_replays_a_menu(ivr, data_dir, step, query, digits):
    app, _, store = ivr
    status, body = post(app, url(step, **query), form(call_sid(), CALLER, digits))
    assert status == 200
    gather = gather_of(twiml(body))
    assert gather.get("action").split("?")[0] in (f"{PUBLIC_URL}/choice", f"{PUBLIC_URL}/language")
    assert store.snapshot().table("tickets").all() == []


def test_a_malformed_call_sid_or_caller_changes_nothing(ivr, data_dir):
    app, _, store = ivr
    status, body = post(app, url("callback", lang="en", **{"try": "0"}), form("CA-not-a-sid", CALLER, "1"))
    assert status == 200 and gather_of(twiml(body)).get("action").startswith(f"{PUBLIC_URL}/language")
    assert store.snapshot().table("tickets").all() == []


def test_silence_in_the_menu_three_times_puts_the_caller_through(ivr):
    app, _, _ = ivr
    root = twiml(post(app, url("choice", lang="en", **{"try": "2"}), form(call_sid(), CALLER))[1])
    assert root.find("Dial") is not None


# The store fails ---------------------------------------------------------------------------------


def _hold_lock(data_dir):
    import fcntl
    import os

    fd = os.open(data_dir / "helpline.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another process holds the store
    return fd


@pytest.mark.parametrize("lang", ["en", "ur"])
def test_a_locked_store_still_answers_a_callback_with_an_apology_and_the_desk(district, data_dir, lang):
    import os

    _, store = district
    config = enable_ivr(data_dir, lock_wait_seconds=0.1)
    open_ticket(store, config)
    app = make_app(data_dir, config, TOKEN, clock=lambda: NOW)
    before = file_bytes(data_dir)["helpline.json"]
    fd = _hold_lock(data_dir)
    try:
        status, body = post(app, url("callback", lang=lang, **{"try": "0"}), form(call_sid(), STRANGER, "1"))
    finally:
        os.close(fd)
    assert status == 200
    root = twiml(body)
    assert heard(root, data_dir, "apology", lang) and root.find("Dial").find("Number").text == DESK[0]
    assert [e.tag for e in root][-1] == "Dial"
    problem = json.loads((data_dir / "ivr" / "problems.jsonl").read_text().splitlines()[-1])
    assert problem["kind"] == "store-locked" and "callback" in problem["detail"]
    assert day_log(data_dir)[-1]["outcome"] == "desk"
    assert file_bytes(data_dir)["helpline.json"] == before


def test_a_locked_store_does_not_stop_a_caller_hearing_their_status(district, data_dir):
    """Status is read without the lock; the ivr events wait in the server's writer until the lock is free."""
    import os

    from helpline_core.ivr_app import HeardWriter, webhook_store

    _, store = district
    config = enable_ivr(data_dir, lock_wait_seconds=0.1)
    ticket = open_ticket(store, config, lang="en")
    writer = HeardWriter(webhook_store(data_dir, config), data_dir, clock=lambda: NOW)  # not started: flushed by hand
    app = make_app(data_dir, config, TOKEN, clock=lambda: NOW, heard_writer=writer)
    fd = _hold_lock(data_dir)
    try:
        root = twiml(post(app, url("voice"), form(call_sid(), CALLER))[1])
        typed = twiml(post(app, url("ticket", lang="en", **{"try": "0"}), form(call_sid(), CALLER, ticket["id"][4:]))[1])
        assert writer.flush() is False and len(writer.pending) == 2
    finally:
        os.close(fd)
    assert f"Your ticket number {digits_of(ticket['id'])}." in says(root)
    assert f"Your ticket number {digits_of(ticket['id'])}." in says(typed)
    assert store.find_ticket_document(ticket["serial"])["history"][-1]["type"] != "ivr"
    assert writer.flush() is True and writer.pending == []
    events = [e for e in store.find_ticket_document(ticket["serial"])["history"] if e["type"] == "ivr"]
    assert len(events) == 2 and all(call_sid() in e["note"] for e in events)


def test_a_damaged_store_still_answers_with_the_desk_and_shows_in_stats_and_jobs_status(ivr, data_dir, run_cli):
    app, config, store = ivr
    open_ticket(store, config)
    (data_dir / "helpline.json").write_bytes(b'{"tickets": {"1": ')
    status, body = post(app, url("voice"), form(call_sid(), CALLER))
    assert status == 200
    root = twiml(body)
    assert heard(root, data_dir, "apology", "hi") and root.find("Dial") is not None
    assert (data_dir / "helpline.json").read_bytes() == b'{"tickets": {"1": '
    problem = json.loads((data_dir / "ivr" / "problems.jsonl").read_text().splitlines()[-1])
    assert problem["kind"] == "store-damaged"
    status_out = run_cli(["jobs", "status"], expect=1)  # the damaged store is an error there too
    assert "damaged" in status_out.stderr


def test_ivr_problems_show_in_jobs_status_and_stats(ivr, data_dir, run_cli):
    app, config, store = ivr
    from helpline_core.clock import utcnow
    from helpline_core.ivr_records import log_problem

    log_problem(data_dir, utcnow(), "store-locked", "voice: the store is busy")
    out = run_cli(["jobs", "status"]).stdout
    assert "IVR PROBLEMS in the last 24 h: store-locked 1" in out
    out = run_cli(["stats"]).stdout
    assert "IVR PROBLEMS in the last 24 h: store-locked 1" in out
    assert run_cli(["stats", "--json"], as_json=True)["ivr_problems"][0]["kind"] == "store-locked"


def test_a_broken_prompt_still_puts_the_caller_through(ivr, data_dir):
    app, _, _ = ivr
    own = data_dir / "templates" / "ivr"
    own.mkdir(parents=True)
    for name in ("menu", "apology"):
        (own / f"{name}.en.txt").write_text("{{ missing_value }}", encoding="utf-8")
    from helpline_core.ivr import _environment

    _environment.cache_clear()
    try:
        status, body = post(make_app(data_dir, enable_ivr_config(data_dir), TOKEN, clock=lambda: NOW),
                            url("choice", lang="en"), form(call_sid(), CALLER, "5"))
    finally:
        _environment.cache_clear()
    assert status == 200
    root = twiml(body)
    assert root.find("Dial").find("Number").text == DESK[0]


def enable_ivr_config(data_dir):
    from helpline_core.config import load_config

    return load_config(data_dir)


def test_a_districts_own_prompt_overrides_the_shipped_one(ivr, data_dir):
    own = data_dir / "templates" / "ivr"
    own.mkdir(parents=True)
    (own / "welcome.en.txt").write_text("Salaam, {{ district }} district helpline.", encoding="utf-8")
    from helpline_core.ivr import _environment

    _environment.cache_clear()
    try:
        app = make_app(data_dir, enable_ivr_config(data_dir), TOKEN, clock=lambda: NOW)
        root = twiml(post(app, url("language", lang="hi"), form(call_sid(), STRANGER, "3"))[1])
    finally:
        _environment.cache_clear()
    assert "Salaam, Srinagar district helpline." in says(root)


# Records -----------------------------------------------------------------------------------------


def test_the_day_log_and_the_report_figures(ivr, data_dir):
    app, config, store = ivr
    open_ticket(store, config, lang="en")
    sid_a, sid_b, sid_c = call_sid(1), call_sid(2), call_sid(3)
    post(app, url("voice"), form(sid_a, CALLER))  # status heard by caller ID
    post(app, url("choice", lang="en"), form(sid_a, CALLER, "1"))  # then the desk
    post(app, url("voice"), form(sid_b, STRANGER))
    post(app, url("language", lang="hi"), form(sid_b, STRANGER, "2"))
    post(app, url("choice", lang="ur"), form(sid_b, STRANGER, "3"))
    post(app, url("callback", lang="ur", **{"try": "0"}), form(sid_b, STRANGER, "1"))
    post(app, url("voice"), form(sid_c, STRANGER))
    lines = day_log(data_dir)
    assert [(line["call_sid"], line["step"], line["outcome"]) for line in lines] == [
        (sid_a, "voice", "status"), (sid_a, "choice", "desk"),
        (sid_b, "voice", "language-menu"), (sid_b, "language", "menu"), (sid_b, "choice", "category-menu"),
        (sid_b, "callback", "callback"), (sid_c, "voice", "status")]
    assert lines[0]["from"] == CALLER and lines[0]["lang"] == "en" and lines[3]["lang"] == "ur"
    day = NOW.astimezone(config.tz).date()
    assert figures(data_dir, config, day, day) == {"calls": 3, "status_checks": 2, "callbacks": 1, "to_desk": 1}


def test_report_gains_ivr_figures_only_where_the_ivr_is_used(ivr, data_dir, run_cli, tmp_path):
    app, config, store = ivr
    from helpline_core.clock import utcnow

    app.clock["now"] = utcnow()
    post(app, url("voice"), form(call_sid(), STRANGER))
    post(app, url("language", lang="hi"), form(call_sid(), STRANGER, "3"))
    post(app, url("choice", lang="en"), form(call_sid(), STRANGER, "1"))
    report = run_cli(["report", "--format", "json"], as_json=True)
    assert report["ivr"] == {"calls": 1, "status_checks": 0, "callbacks": 0, "to_desk": 1}
    text = run_cli(["report"]).stdout
    assert "voice menu (IVR) calls" in text and "put through to the desk" in text
    other = tmp_path / "plain"
    run_cli(["--data-dir", str(other), "init", "--district-code", "ANT", "--district-name", "Anantnag"])
    plain = run_cli(["--data-dir", str(other), "report", "--format", "json"], as_json=True)
    assert "ivr" not in plain
    assert "IVR" not in run_cli(["--data-dir", str(other), "report"]).stdout


def test_a_category_marked_sensitive_in_config_is_only_being_handled_too(district, data_dir):
    _, store = district
    path = data_dir / "config.toml"
    text = path.read_text(encoding="utf-8")
    import re

    path.write_text(re.sub(r'(?m)^"?doctor"? = 12$', 'doctor = { sla_hours = 12, sensitive = true }', text),
                    encoding="utf-8")
    config = enable_ivr(data_dir)
    assert config.is_sensitive("doctor")
    app = make_app(data_dir, config, TOKEN, clock=lambda: NOW)
    ticket = open_ticket(store, config, category="doctor", lang="en")
    root = twiml(post(app, url("voice"), form(call_sid(), CALLER))[1])
    assert f"Your ticket number {digits_of(ticket['id'])}. Your request is being handled." in says(root)
    assert "officer" not in says(root).split("Your request is being handled.")[0]
