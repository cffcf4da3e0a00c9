"""The voice menu (IVR) as plain functions: one webhook request in, TwiML out.

What a caller meets (each step is a webhook path under ``[ivr] public_url``; the call's state
travels in the query string of the URLs we hand Twilio, so the server keeps none)::

    /voice        caller ID has live tickets -> their status (newest 3) and the menu, in the
                  newest ticket's language; otherwise the language menu (1, 2, 3 ...)
    /language     Digits = the language -> status (if any) and the menu
    /choice       1 the desk, 2 type a ticket number, 3 a callback, 9 the language menu
    /ticket       Digits = serial and check digit (district code implied); 3 tries
    /callback     Digits = the category -> a callback ticket or event
    /dial-done    the desk did not answer -> the next desk number, then a callback offer
    /queue-done   the caller left the queue unanswered -> a callback offer
    /queue-wait   hold prompt while queued; after ``queue_wait_seconds`` leave the queue

Every answer is TwiML. ``answer`` never raises: a locked or damaged store (or any defect) is
an apology and the desk, logged as a problem. Every step is a line in the day log
(``ivr_records``); tickets heard or changed get an ``ivr`` (or ``callback``) history event.
Prompts are jinja2 templates ``templates/ivr/<prompt>.<lang>.txt`` (a district's own copies in
``<data dir>/templates/ivr/`` win), spoken with ``<Say>``; a language configured with recorded
audio plays ``<base>/<prompt>.mp3`` and ``<base>/digit-N.mp3`` instead.
"""

import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlencode

from twilio.twiml.voice_response import VoiceResponse

from . import ivr_records
from .errors import StoreDamaged, StoreLocked
from .ids import is_valid_number
from .ivr_records import CALLBACK, LOCALES, STATUS_HEARD, TO_DESK, is_sensitive

STEPS = ("voice", "language", "choice", "ticket", "callback", "dial-done", "queue-done", "queue-wait")
CALL_SID = re.compile(r"CA[0-9a-fA-F]{32}")
CALLER = re.compile(r"\+[1-9][0-9]{6,14}")
DIGITS = re.compile(r"[0-9*#]{1,24}")
MAX_TRIES = 3  # a mistyped ticket number, a wrong key in a menu, silence
MAX_TICKETS_READ = 3
GATHER_TIMEOUT_SECONDS = 6
ACTOR = "ivr"


class Call:
    """One webhook's checked inputs.

    :ivar call_sid: Twilio's ``CallSid`` (``CA`` + 32 hex), or None when it was malformed.
    :ivar caller: ``From`` as E.164, or None (withheld, a SIP or client address, malformed).
    :ivar digits: ``Digits`` (keys pressed) or None (none, or something that is not keys).
    :ivar lang: the language in the URL when it is one of the menu's, else None.
    :ivar tries: ``try`` in the URL (0-3). :ivar desk: ``desk`` in the URL: which number was dialled.
    :ivar form: the whole form (``DialCallStatus``, ``QueueResult``, ``QueueTime``).
    """

    def __init__(self, form, query, settings):
        sid = form.get("CallSid", "")
        self.call_sid = sid if CALL_SID.fullmatch(sid) else None
        caller = form.get("From", "")
        self.caller = caller if CALLER.fullmatch(caller) else None
        digits = form.get("Digits", "")
        self.digits = digits if DIGITS.fullmatch(digits) else None
        self.lang = query.get("lang") if query.get("lang") in settings.languages else None
        self.tries = _small_int(query.get("try"), MAX_TRIES)
        self.desk = _small_int(query.get("desk"), 99)
        self.form = form


def _small_int(text, top):
    return int(text) if text and text.isdigit() and len(text) <= 3 and int(text) <= top else 0


@lru_cache(maxsize=8)
def _environment(data_dir):
    import jinja2

    from .resources import resource_dir

    folders = [str(resource_dir("templates") / "ivr")]
    own = Path(data_dir) / "templates" / "ivr"
    if own.is_dir():
        folders.insert(0, str(own))
    return jinja2.Environment(loader=jinja2.FileSystemLoader(folders), undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True, autoescape=False)


def render_prompt(data_dir, prompt, lang, context):
    """:returns: the text of ``<prompt>.<lang>.txt`` rendered with ``context``, on one line.

    :raises TemplateError: no such prompt, a broken one, or a value missing from ``context``.
    """
    import jinja2

    from .sms_templates import TemplateError

    name = f"{prompt}.{lang}.txt"
    try:
        text = _environment(str(data_dir)).get_template(name).render(**context)
    except jinja2.TemplateNotFound:
        raise TemplateError(f"no voice prompt {name} in templates/ivr/.") from None
    except jinja2.TemplateError as error:
        raise TemplateError(f"voice prompt {name}: {error}") from None
    return " ".join(text.split())


def spoken_digits(ticket_id):
    """:returns: the digits of a ticket ID one by one, as a caller types them (``SXR-10429`` -> ``1 0 4 2 9``)."""
    return " ".join(ch for ch in ticket_id if ch.isdigit())


class Flow:
    """The answer to one webhook: the store, config and clock, and the TwiML being built."""

    def __init__(self, store, config, settings, now, call):
        self.store, self.config, self.settings, self.now, self.call = store, config, settings, now, call
        self.outcome = None
        self.lang = call.lang or settings.languages[0]
        self.heard = []  # [(serial, note)]: tickets read out, for their ivr history events

    # Speaking -------------------------------------------------------------------------------

    def url(self, step, **query):
        query = {k: v for k, v in dict(lang=self.lang, **query).items() if v is not None}
        return f"{self.settings.public_url}/{step}?{urlencode(sorted(query.items()))}"

    def speak(self, parent, prompt, lang=None, file=None, **context):
        """Add ``prompt`` in ``lang`` to ``parent`` (a response or a ``<Gather>``): ``<Say>`` the
        rendered template, or ``<Play>`` the recording (then each of ``context["digits"]``)."""
        lang = lang or self.lang
        how, where = self.settings.speaks(lang)
        if how == "play":
            parent.play(f"{where}{file or prompt}.mp3")
            for digit in str(context.get("digits", "")).replace(" ", ""):
                parent.play(f"{where}digit-{digit}.mp3")
            return
        context.setdefault("district", self.config.district_name)
        parent.say(render_prompt(self.store.data_dir, prompt, lang, context), voice=where,
                   language=LOCALES.get(lang, lang))

    def gather(self, response, step, num_digits=1, tries=0):
        return response.gather(num_digits=num_digits, action=self.url(step, **{"try": str(tries)}), method="POST",
                               timeout=GATHER_TIMEOUT_SECONDS, finish_on_key="#", action_on_empty_result=True)

    # Menus ---------------------------------------------------------------------------------

    def language_menu(self, tries=0):
        response = VoiceResponse()
        gather = self.gather(response, "language", tries=tries)
        for number, lang in enumerate(self.settings.languages, 1):
            self.speak(gather, "language_option", lang=lang, digits=str(number))
        self.outcome = self.outcome or "language-menu"
        return response

    def main_menu(self, tickets=(), blocked=False, tries=0, welcome=True):
        response = VoiceResponse()
        gather = self.gather(response, "choice", tries=tries)
        if welcome:
            self.speak(gather, "welcome")
        for ticket in tickets:
            self.read_status(gather, ticket, mine=True)
        if blocked:
            self.speak(gather, "sms_blocked")
        self.speak(gather, "menu")
        self.outcome = self.outcome or "menu"
        return response

    def read_status(self, parent, ticket, mine):
        """Read one ticket: its ID digit by digit and its status in plain words; a verifier's call
        for the caller's own resolved ticket; only "being handled" for a sensitive category."""
        digits = spoken_digits(ticket["id"])
        self.speak(parent, "your_ticket" if mine else "a_ticket", digits=digits)
        if is_sensitive(self.config, ticket["category"]):
            self.speak(parent, "being_handled")
        else:
            self.speak(parent, f"status_{ticket['status']}")
            if mine and ticket["status"] == "resolved":
                self.speak(parent, "verifier_callback")
        self.outcome = STATUS_HEARD

    def category_menu(self, response=None, tries=0):
        response = response or VoiceResponse()
        gather = self.gather(response, "callback", tries=tries)
        self.speak(gather, "callback_intro")
        from .notify import category_word

        for number, category in enumerate(self.settings.menu_categories, 1):
            word = category_word(category, self.lang)
            self.speak(gather, "category_option", file=f"category-{category}", category=word, digits=str(number))
        self.outcome = self.outcome or "category-menu"
        return response

    def desk(self, response=None, index=0):
        """Put the caller through: ``<Enqueue>`` into ``[ivr] queue``, or ``<Dial>`` desk number
        ``index`` (the next ones follow from ``/dial-done``)."""
        response = response or VoiceResponse()
        self.speak(response, "connecting")
        if self.settings.queue:
            response.enqueue(self.settings.queue, action=self.url("queue-done"), method="POST",
                             wait_url=self.url("queue-wait"), wait_url_method="POST")
        else:
            dial = response.dial(action=self.url("dial-done", desk=index), method="POST",
                                 timeout=self.settings.dial_timeout_seconds)
            dial.number(self.settings.desk_numbers[index])
        self.outcome = TO_DESK
        return response

    def no_operator(self):
        response = VoiceResponse()
        self.speak(response, "no_operator")
        if self.call.caller:
            return self.category_menu(response)
        self.speak(response, "callback_no_number")
        self.speak(response, "goodbye")
        response.hangup()
        self.outcome = "no-operator"
        return response

    # The store -----------------------------------------------------------------------------

    def caller_tickets(self, note):
        """The caller's live tickets that are not final, newest first (at most 3), and whether
        texts cannot reach the number; read without the lock (``read_live``). Each ticket read
        out gets an ``ivr`` history event (``self.heard``, written after the answer).

        :returns: ``(tickets, blocked)``. :raises StoreDamaged.
        """
        if not self.call.caller:
            return [], False
        found, blocked = read_live(self.store, phone=self.call.caller)
        found = found[:MAX_TICKETS_READ]
        self.heard += [(t["serial"], note) for t in found]
        return found, bool(found) and (blocked or any(t.get("sms_blocked") for t in found))

    def find_ticket(self, serial):
        """:returns: ticket ``serial``, live (given an ``ivr`` event) or archived, or None."""
        found, _ = read_live(self.store, serial=serial)
        if found:
            ticket = found[0]
            whose = "caller's number" if self.call.caller and ticket.get("phone") == self.call.caller \
                else "another number"
            self.heard.append((serial, f"status heard on the voice menu from {whose} (call {self.call.call_sid})"))
            return ticket
        return self.store.read_block(self.store.block_of(serial)).get(str(serial))

    # Steps ---------------------------------------------------------------------------------

    def step_voice(self):
        tickets, blocked = self.caller_tickets(f"status heard on the voice menu (call {self.call.call_sid})")
        if tickets and not self.call.lang:
            lang = tickets[0].get("language")
            self.lang = lang if lang in self.settings.languages else self.settings.languages[0]
            return self.main_menu(tickets, blocked)
        return self.language_menu()

    def step_language(self):
        digits = self.call.digits
        if digits is None:  # silence: the first language
            self.lang = self.settings.languages[0]
        elif digits.isdigit() and 1 <= int(digits) <= len(self.settings.languages):
            self.lang = self.settings.languages[int(digits) - 1]
        elif self.call.tries + 1 < MAX_TRIES:
            self.outcome = "replay"
            return self.language_menu(self.call.tries + 1)
        else:
            self.lang = self.settings.languages[0]
        tickets, blocked = self.caller_tickets(
            f"status heard on the voice menu in {self.lang} (call {self.call.call_sid})")
        return self.main_menu(tickets, blocked)

    def step_choice(self):
        digits = self.call.digits
        if digits == "1":
            return self.desk()
        if digits == "2":
            return self.ask_ticket(VoiceResponse(), 0)
        if digits == "3":
            if not self.call.caller:
                response = VoiceResponse()
                self.speak(response, "callback_no_number")
                return self.desk(response)
            return self.category_menu()
        if digits == "9":
            return self.language_menu()
        if self.call.tries + 1 >= MAX_TRIES:  # silence or wrong keys three times: a person helps
            return self.desk()
        self.outcome = "replay"
        return self.main_menu(tries=self.call.tries + 1, welcome=False)

    def ask_ticket(self, response, tries):
        gather = self.gather(response, "ticket", num_digits=13, tries=tries)
        self.speak(gather, "enter_ticket")
        self.outcome = self.outcome or "ticket-prompt"
        return response

    def step_ticket(self):
        digits = (self.call.digits or "").strip("#*")
        response = VoiceResponse()
        if re.fullmatch(r"[0-9]{2,12}", digits) and is_valid_number(digits):
            ticket = self.find_ticket(int(digits[:-1]))
            if ticket is not None:
                gather = self.gather(response, "choice")
                self.read_status(gather, ticket, mine=bool(self.call.caller) and ticket.get("phone") == self.call.caller)
                self.speak(gather, "menu")
                return response
            self.speak(response, "not_found")
            self.outcome = "not-found"
        else:
            self.speak(response, "mistyped")
            self.outcome = "mistyped"
        if self.call.tries + 1 >= MAX_TRIES:
            self.speak(response, "back_to_menu")
            gather = self.gather(response, "choice")
            self.speak(gather, "menu")
            return response
        return self.ask_ticket(response, self.call.tries + 1)

    def step_callback(self):
        digits = self.call.digits
        categories = self.settings.menu_categories
        if not self.call.caller:
            response = VoiceResponse()
            self.speak(response, "callback_no_number")
            return self.desk(response)
        if not (digits and digits.isdigit() and 1 <= int(digits) <= len(categories)):
            if self.call.tries + 1 >= MAX_TRIES:
                return self.main_menu(tries=0, welcome=False)
            self.outcome = "replay"
            return self.category_menu(tries=self.call.tries + 1)
        from .callbacks import request_callback

        with self.store.ticket_transaction() as db:
            ticket, _ = request_callback(db, self.config, self.store, self.settings, phone=self.call.caller,
                                         category=categories[int(digits) - 1], language=self.lang, now=self.now,
                                         call_sid=self.call.call_sid)
        response = VoiceResponse()
        self.speak(response, "callback_done", digits=spoken_digits(ticket["id"]))
        self.speak(response, "goodbye")
        response.hangup()
        self.outcome = CALLBACK
        return response

    def step_dial_done(self):
        status = self.call.form.get("DialCallStatus", "")
        if status in ("completed", "answered"):
            response = VoiceResponse()
            response.hangup()
            self.outcome = "desk-answered"
            return response
        following = self.call.desk + 1
        if following < len(self.settings.desk_numbers):
            return self.desk(index=following)
        return self.no_operator()

    def step_queue_done(self):
        if self.call.form.get("QueueResult", "") in ("bridged", "hangup"):
            response = VoiceResponse()
            response.hangup()
            self.outcome = "desk-answered"
            return response
        return self.no_operator()

    def step_queue_wait(self):
        response = VoiceResponse()
        waited = self.call.form.get("QueueTime", "0")
        if waited.isdigit() and int(waited) >= self.settings.queue_wait_seconds:
            response.leave()
        else:
            self.speak(response, "hold")
            response.pause(length=10)
        return response


def _table_body(payload, name, start=0):
    """:returns: ``(body_start, body_end)`` of table ``name`` in a file ``dump_json`` wrote, or None."""
    header = b'"' + name + b'":{\n'
    if payload.startswith(b"{" + header):
        at = 1 + len(header)
    else:
        found = payload.find(b"}," + header, start)
        if found < 0:
            return None
        at = found + 2 + len(header)
    end = payload.find(b"\n},", at - 1)
    if end < 0:
        end = payload.rfind(b"\n}")
    return (at, max(at, end)) if end >= 0 else None


class _LiveView:
    """One version of the live file, parsed as far as the voice menu needs: the ``index`` table
    (serial -> phone, category, status, officer), the numbers in ``phones``, and where the
    tickets' lines are. :raises ValueError: the file has another layout (or is damaged)."""

    def __init__(self, payload):
        import orjson

        self.payload = payload
        self.tickets = _table_body(payload, b"tickets")
        index = _table_body(payload, b"index", self.tickets[1] if self.tickets else 0)
        if not payload.endswith(b"}\n") or self.tickets is None or index is None:
            raise ValueError("another layout")
        self.index = orjson.loads(b"{" + payload[index[0]:index[1]] + b"}")
        phones = _table_body(payload, b"phones")
        self.blocked = {doc.get("phone") for doc in orjson.loads(b"{" + payload[phones[0]:phones[1]] + b"}").values()} \
            if phones else set()

    def ticket(self, serial):
        """:returns: the ticket's document parsed from its own line, or None."""
        import orjson

        key = b'\n"' + str(serial).encode() + b'":'
        at = self.payload.find(key, self.tickets[0] - 1, self.tickets[1])
        if at < 0:
            return None
        line_end = self.payload.find(b"\n", at + 1)
        end = line_end if 0 <= line_end < self.tickets[1] else self.tickets[1]
        return orjson.loads(self.payload[at + len(key):end].rstrip(b","))


_views = {}  # live file path -> (its identity, _LiveView): the webhooks of one file version share one parse
_views_lock = __import__("threading").Lock()


def _live_view(path):
    """:returns: the ``_LiveView`` of the live file as it is now, parsed once per version (a
    version is its inode, time, size and last bytes, which hold the check sum of its tickets).
    :raises FileNotFoundError, ValueError."""
    import os

    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        f.seek(max(0, st.st_size - 64))
        identity = (st.st_ino, st.st_mtime_ns, st.st_size, f.read())
        with _views_lock:
            cached = _views.get(str(path))
            if cached and cached[0] == identity:
                return cached[1]
            f.seek(0)
            view = _LiveView(f.read())
            _views[str(path)] = (identity, view)
            return view


def read_live(store, phone=None, serial=None):
    """Read a caller's tickets (or one ticket) from the live file without the store's lock.

    A rename is atomic, so the file read is the old one or the new one, never half. Only the
    ``index`` table and the wanted tickets' own lines are parsed, once per version of the file
    for all webhooks: a webhook must answer in well under Twilio's 15 s however busy the store.
    A file of another layout is parsed whole.

    :param phone: E.164: that caller's tickets that are not final, newest first.
    :param serial: one ticket, whatever its status.
    :returns: ``(tickets, blocked)``: ``blocked`` is True when the ``phones`` table says texts
        cannot reach ``phone``. :raises StoreDamaged: the file cannot be read.
    """
    from .tickets import FINAL

    try:
        view = _live_view(store.path)
        if serial is not None:
            serials = [serial] if str(serial) in view.index else []
        else:
            serials = sorted((int(key) for key, row in view.index.items() if row[0] == phone and row[2] not in FINAL),
                             reverse=True)
        found = [t for t in (view.ticket(s) for s in serials) if t is not None]
        blocked = phone in view.blocked
    except (FileNotFoundError, ValueError, TypeError, IndexError, KeyError, AttributeError):
        from tinydb import Query

        db = store.snapshot()  # another layout: parse it all (raises StoreDamaged for a damaged file)
        table = db.table("tickets")
        if serial is not None:
            ticket = table.get(doc_id=serial)
            return ([dict(ticket)] if ticket else []), False
        found = sorted((dict(t) for t in table.search(Query().phone == phone) if t["status"] not in FINAL),
                       key=lambda t: t["serial"], reverse=True)
        blocked = bool(db.table("phones").get(Query().phone == phone))
    return found, blocked


def write_heard(store, now, heard):
    """Append an ``ivr`` history event to each ticket read out, in one store transaction.

    :param heard: ``[(serial, note, at)]`` (``at`` aware UTC); tickets no longer live are skipped.
    :raises StoreLocked, StoreDamaged: nothing is written then.
    """
    from .tickets import _apply, _event, _load

    with store.ticket_transaction() as db:
        table = db.table("tickets")
        for serial, note, at in heard:
            _load(db, serial)
            ticket = table.get(doc_id=serial)
            if ticket is not None:
                _apply(table, ticket, _event("ivr", ACTOR, at, note))


def apology(store, config, settings, now, call, problem):
    """The answer when the store cannot be used: an apology and the desk (no store involved)."""
    flow = Flow(store, config, settings, now, call)
    response = VoiceResponse()
    flow.speak(response, "apology")
    return flow.desk(response)


def answer(store, config, settings, now, step, form, query, on_problem=None, heard_sink=None):
    """Answer one webhook (its signature already checked).

    :param store: a ``Store`` with a short lock wait (``[ivr] lock_wait_seconds``).
    :param settings: ``IvrSettings``. :param now: aware UTC.
    :param step: the path's last part (``voice``, ``choice``, ...); an unknown one replays the menu.
    :param form: the POSTed fields (``CallSid``, ``From``, ``To``, ``Digits``, ...), str -> str.
    :param query: the URL's query (``lang``, ``try``, ``desk``), str -> str.
    :param on_problem: ``f(kind, detail)`` called for a store problem or a defect (besides the log).
    :param heard_sink: ``f([(serial, note, at)])`` that writes the ``ivr`` events of the tickets
        read out (the server's background writer); by default they are written before returning,
        and a store that cannot take them is logged as a problem (the answer stands).
    :returns: TwiML text. Never raises for the store's sake: a locked or damaged store (or any
        error of ours) gives an apology and the desk, logged in ``ivr/problems.jsonl``.
    """
    call = Call(form, query, settings)
    flow = Flow(store, config, settings, now, call)
    unexpected = call.call_sid is None or step not in STEPS or (step not in ("voice", "language") and not call.lang)
    try:
        if unexpected:
            flow.outcome = "replay"
            response = flow.language_menu()
        else:
            response = getattr(flow, "step_" + step.replace("-", "_"))()
    except (StoreLocked, StoreDamaged, Exception) as error:  # the caller hears no error page
        kind = "store-locked" if isinstance(error, StoreLocked) else \
            "store-damaged" if isinstance(error, StoreDamaged) else "error"
        detail = f"{type(error).__name__}: {error}" if kind == "error" else str(error)
        ivr_records.log_problem(store.data_dir, now, kind, f"{step}: {detail}")
        if on_problem:
            on_problem(kind, detail)
        response = apology(store, config, settings, now, call, kind)
        flow.outcome = TO_DESK
        step = f"{step}:{kind}"
    heard = [(serial, note, now) for serial, note in flow.heard]
    if heard and heard_sink is not None:
        heard_sink(heard)
    elif heard:
        try:
            write_heard(store, now, heard)
        except (StoreLocked, StoreDamaged) as error:
            ivr_records.log_problem(store.data_dir, now, "store-locked" if isinstance(error, StoreLocked)
                                    else "store-damaged", f"ivr events not written: {error}")
    if flow.outcome:
        ivr_records.log_step(store.data_dir, config, now, call_sid=call.call_sid or "-", caller=call.caller,
                             lang=flow.lang, step=step, outcome=flow.outcome)
    return str(response)
