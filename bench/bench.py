"""Benchmark of helpline's everyday commands at 1,000 to 500,000 tickets, beside Taskwarrior.

What it does (details in bench/README.md):

1. Builds one folder per size, cached in ``--workdir`` (never inside the repository): a helpline
   data directory written directly in the store's format with ``helpline_core`` (a district, 20
   officers, a live ``helpline.json`` with the newest few thousand tickets, archive blocks and
   phone buckets with all the others), and a Taskwarrior data folder with as many tasks, loaded
   with ``task import``, pending and completed in the same proportion as live and archived tickets.
2. Resets each folder to its pristine state, then runs every command as a whole process (stdin
   from /dev/null, output to a file) ``--warmup`` untimed times and ``--runs`` timed times,
   commands interleaved round-robin; then ``--rss-runs`` more times to read the peak resident
   memory.
3. Prints a markdown table (median and min per command and size, the slowdown from the smallest
   to the largest size, which of the project's aims are met) and writes it to
   ``bench/out/results.md``.

Run it with the project's venv active (it imports ``helpline_core`` to build data)::

    python bench/bench.py --quick     # 1,000 and 10,000 tickets
    python bench/bench.py             # 1,000 / 10,000 / 100,000 / 500,000 tickets
"""

import argparse
import bisect
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

try:
    from helpline_core.config import load_config
    from helpline_core.district import init_district, read_areas_csv
    from helpline_core.ids import format_id
    from helpline_core.officers import add_officer
    from helpline_core.resources import resource_dir
    from helpline_core.store import ARCHIVE_BLOCK, Store, atomic_write, dump_json, read_json
except ImportError:  # a message, not a traceback
    sys.exit("bench.py needs helpline installed: activate the project's venv (. .venv/bin/activate) first.")

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
OUT_DIR = BENCH_DIR / "out"

SIZES = (1_000, 10_000, 100_000, 500_000)
QUICK_SIZES = (1_000, 10_000)
BUILD_VERSION = 2          # bump when the generated data changes: cached folders are then rebuilt
SEED = 20200401
DISTRICT_CODE = "SXR"
FIRST_SERIAL = 1000        # a new district's counter starts at 999 (helpline_core.district)
MAX_LIVE = 3000            # "all but a few thousand" tickets are closed and archived...
LIVE_SHARE = 0.3           # ...or, in a small district, all but 30 %
CALLS_PER_DAY = 2500       # Srinagar's 2020 call centre
DAY = 86400
LIVE_WINDOW = 1.2 * DAY    # live tickets were opened in the last 1.2 days
ARCHIVE_AFTER = DAY + 600  # archived tickets became final at least a day (archive_after_days) ago
CHUNK_BLOCKS = 20          # archive blocks generated per worker job (each job has its own seed)
N_OFFICERS = 20

# The project's aims (measured and reported, never enforced).
AIM_HELP_S = 0.06
AIM_COMMAND_S = 0.1
AIM_VS_TASK = 2.0
AIM_SLOWDOWN = 1.2
AIM_RSS_MIB = 100

# --- Realistic content: English, Hindi and Urdu ------------------------------------------------

LANGUAGES = (("ur", 0.45), ("hi", 0.2), ("en", 0.35))
NAMES = {
    "en": ["Mohammad Yousuf", "Anjali Sharma", "Bilal Lone", "Farooq Ahmad", "Rajesh Koul", "Parveena Begum",
           "Sunita Devi", "Ghulam Nabi", "Asma Jan", "Tariq Bhat", "Rubina Akhter", "Vinod Raina",
           "Shazia Rashid", "Imtiyaz Mir", "Neha Pandita", "Abdul Rashid Dar"],
    "hi": ["सुनीता देवी", "राजेश कौल", "अंजलि शर्मा", "विनोद रैना", "नेहा पंडिता", "मोहन लाल", "रेखा भट",
           "अशोक कुमार"],
    "ur": ["غلام نبی", "آسیہ بانو", "فاروق احمد", "پروینہ بیگم", "بلال لون", "شازیہ رشید", "عبدالرشید ڈار",
           "امتیاز میر", "روبینہ اختر", "محمد یوسف"],
}
DESCRIPTIONS = {
    "ration": {
        "en": ["No ration left for a family of {n}", "Ration card not issued, {n} members at home",
               "Daily wage worker, needs ration for {n} people"],
        "hi": ["{n} लोगों के परिवार के लिए राशन खत्म हो गया है", "राशन कार्ड नहीं है, घर में {n} सदस्य हैं"],
        "ur": ["گھر میں {n} افراد کے لیے راشن ختم ہو گیا ہے", "راشن کارڈ نہیں ہے، گھر میں {n} افراد ہیں"],
    },
    "medicine": {
        "en": ["Insulin for diabetic mother has run out", "Needs blood pressure tablets for {n} days",
               "Child needs an asthma inhaler"],
        "hi": ["मधुमेह की दवा (इंसुलिन) खत्म हो गई है", "{n} दिन से बीपी की गोलियां नहीं मिलीं"],
        "ur": ["بلڈ پریشر کی گولیاں چاہئیں", "والد کے لیے {n} دن کی دوائی چاہیے"],
    },
    "doctor": {
        "en": ["Father ({n}0) has fever and cough for three days", "Pregnant, needs a check-up, cannot travel"],
        "hi": ["पिताजी ({n}0 वर्ष) को तीन दिन से बुखार है", "गर्भवती महिला को जांच की ज़रूरत है"],
        "ur": ["والدہ ({n}0 سال) کو سانس لینے میں تکلیف ہے", "بچے کو تیز بخار ہے"],
    },
    "counselling": {
        "en": ["Cannot sleep, very anxious about losing the job", "Elderly person alone, needs someone to talk to"],
        "hi": ["नौकरी जाने से बहुत परेशान हूं, नींद नहीं आती"],
        "ur": ["بہت پریشانی ہے، نیند نہیں آتی", "اکیلا ہوں، کسی سے بات کرنی ہے"],
    },
    "other": {
        "en": ["Stranded labourer from Bihar needs to go home", "Needs a curfew pass for a hospital visit"],
        "hi": ["बिहार का मज़दूर फंसा है, घर जाना है"],
        "ur": ["ہسپتال جانے کے لیے کرفیو پاس چاہیے"],
    },
}
CATEGORY_WEIGHTS = {"ration": 0.4, "medicine": 0.25, "doctor": 0.15, "counselling": 0.08, "other": 0.12}
RESOLVE_NOTES = {"en": ["Ration kit delivered", "Medicine delivered at home", "Doctor visited the caller",
                        "Counsellor called back"],
                 "hi": ["राशन किट पहुंचा दी गई", "दवा घर पहुंचा दी गई"],
                 "ur": ["راشن کٹ پہنچا دی گئی", "دوائی گھر پہنچا دی گئی"]}
CALL_NOTES = {"en": "Called again: nothing has arrived yet", "hi": "दोबारा फोन: अभी तक कुछ नहीं पहुंचा",
              "ur": "دوبارہ فون: ابھی تک راشن نہیں آیا"}
NOTES = ["caller's son will collect", "address confirmed on the phone", "पता फ़ोन पर पक्का किया",
         "پتہ فون پر تصدیق کیا"]
REJECT_REASONS = ["duplicate", "prank call", "out of scope: electricity complaint"]
OPERATORS = ["op-shabir", "op-rukhsana", "op-amit"]
# Texts (helpline_core.notify): a ticket keeps a summary {key: state} of the texts its events sent.
CALLER_TEMPLATES = {"opened": "logged", "call": "followup", "assign": "assigned", "resolve": "resolved"}
MESSAGE_STATES = (("delivered", 0.9), ("sent", 0.05), ("undelivered", 0.03), ("failed", 0.02))
LIVE_STATUSES = (("open", 0.12), ("assigned", 0.48), ("resolved", 0.25), ("closed", 0.12), ("rejected", 0.03))
ARCHIVED_STATUSES = (("closed", 0.94), ("rejected", 0.06))


def live_count(total):
    """:returns: how many of ``total`` tickets are live (the others are closed and archived)."""
    return min(MAX_LIVE, int(total * LIVE_SHARE))


class Layout:
    """Which serials a district of ``total`` tickets built at ``now`` has, and when each was opened.

    Archived tickets were opened one every ``DAY / CALLS_PER_DAY`` seconds up to a little more than
    ``LIVE_WINDOW`` ago; the live ones (the newest serials) spread over the last ``LIVE_WINDOW``.
    """

    def __init__(self, total, now):
        self.total, self.now = total, now
        self.live = live_count(total)
        self.last_serial = FIRST_SERIAL + total - 1
        self.first_live = self.last_serial - self.live + 1
        self.archive_step = DAY / CALLS_PER_DAY
        self.archive_end = now - LIVE_WINDOW - 600
        self.first_opened = self.archive_end - (total - self.live) * self.archive_step

    def opened(self, serial, jitter):
        """:param jitter: in [0, 1). :returns: when ``serial`` was opened (UTC timestamp)."""
        if serial >= self.first_live:
            return self.now - LIVE_WINDOW + (serial - self.first_live + jitter) * LIVE_WINDOW / self.live
        return self.archive_end - (self.first_live - serial - jitter) * self.archive_step

    def blocks(self):
        """:returns: the archive block numbers the serials fall in."""
        return range(FIRST_SERIAL // ARCHIVE_BLOCK, self.last_serial // ARCHIVE_BLOCK + 1)

    def serials(self, block):
        """:returns: the serials in archive block ``block``."""
        return range(max(FIRST_SERIAL, block * ARCHIVE_BLOCK), min(self.last_serial + 1, (block + 1) * ARCHIVE_BLOCK))


class _Clock:
    """Formats UTC timestamps as helpline (ISO 8601) and Taskwarrior text, quickly (cached by minute)."""

    def __init__(self):
        self._minutes = {}

    def _minute(self, minute):
        text = self._minutes.get(minute)
        if text is None:
            if len(self._minutes) > 100_000:
                self._minutes.clear()
            text = self._minutes[minute] = datetime.fromtimestamp(minute * 60, timezone.utc).strftime("%Y-%m-%dT%H:%M:")
        return text

    def iso(self, ts):
        """:returns: ``2026-11-28T10:09:41+00:00``, as ``helpline_core.clock.to_iso`` stores times."""
        minute, second = divmod(int(ts), 60)
        return f"{self._minute(minute)}{second:02d}+00:00"

    def task(self, ts):
        """:returns: ``20261128T100941Z``, Taskwarrior's date format."""
        minute, second = divmod(int(ts), 60)
        return f"{self._minute(minute).replace('-', '').replace(':', '')}{second:02d}Z"


# --- Generating tickets ------------------------------------------------------------------------

def _uuid4(rng):
    """:returns: a random (version 4) UUID from ``rng``, as text; deterministic, unlike ``uuid.uuid4``."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}"


class _Weighted:
    """A weighted choice that costs one ``random()`` call."""

    def __init__(self, pairs):
        pairs = list(pairs)
        self.values = [value for value, _ in pairs]
        total, self.cumulative = 0.0, []
        for _, weight in pairs:
            total += weight
            self.cumulative.append(total)

    def pick(self, rng):
        return self.values[bisect.bisect(self.cumulative, rng.random() * self.cumulative[-1])]


class TicketFactory:
    """Makes realistic tickets (documents exactly as ``helpline_core.tickets`` stores them).

    History events and their ``changes`` are recorded the way ``tickets._apply`` records them, so
    a generated ticket looks like one the CLI made. Callers (phone, language, name) come from a
    pool about 0.7 times the number of tickets, so some call more than once; a caller's new ticket
    ``follows`` their earlier final one in the same category (within a chunk of blocks).

    :param config: the district's ``Config``. :param officers: the officer documents.
    :param total: the district's number of tickets (sizes the pool of callers).
    """

    def __init__(self, config, officers, total):
        self.config = config
        self.clock = _Clock()
        self.rng = random.Random(f"{SEED}-{total}-callers")
        self.areas = [a["name"] for a in config.areas]
        self.categories = _Weighted((c, CATEGORY_WEIGHTS.get(c, 0.1)) for c in config.categories)
        self.sla = {c: config.sla_hours(c) * 3600 for c in config.categories}
        self.languages = _Weighted(LANGUAGES)
        self.live_statuses = _Weighted(LIVE_STATUSES)
        self.archived_statuses = _Weighted(ARCHIVED_STATUSES)
        self.verifiers = [o["officer_id"] for o in officers if o["role"] == "verifier"]
        self.officer_phones = {o["officer_id"]: o["phone"] for o in officers}
        self.message_states = _Weighted(MESSAGE_STATES)
        self.covering = {
            (area, category): [o["officer_id"] for o in officers
                               if o["role"] == "officer" and area in o["areas"] and category in o["categories"]]
            or [None]
            for area in self.areas for category in config.categories}
        self.callers = [self._caller() for _ in range(max(200, int(total * 0.7)))]
        self.total = total
        self.last_final = {}

    def start_chunk(self, chunk):
        """Reseed for ``chunk``, so that each chunk of blocks is the same however the build is split."""
        self.rng = random.Random(f"{SEED}-{self.total}-{chunk}")
        self.last_final = {}   # (phone, category) -> the id of that caller's latest final ticket

    def _caller(self):
        """:returns: (phone E.164 or None, phone_type, language, name or None) of one caller."""
        rng = self.rng
        kind = rng.random()
        if kind < 0.03:
            phone, phone_type = None, "unknown"
        elif kind < 0.10:
            phone, phone_type = "+91194" + "".join(rng.choices("0123456789", k=7)), "landline"
        else:
            phone, phone_type = "+91" + rng.choice("6789") + "".join(rng.choices("0123456789", k=9)), "mobile"
        language = self.languages.pick(rng)
        pick = rng.random()
        name = rng.choice(NAMES[language]) if pick < 0.85 else rng.choice(NAMES["en"]) if pick < 0.95 else None
        return phone, phone_type, language, name

    def description(self, category, language):
        """:returns: what a caller in ``language`` might say about ``category`` (sometimes None)."""
        rng = self.rng
        if rng.random() < 0.05:
            return None
        return rng.choice(DESCRIPTIONS.get(category, DESCRIPTIONS["other"])[language]).format(n=rng.randint(2, 9))

    def _steps(self, status):
        """:returns: [(seconds after the previous step, kind)] that take a new ticket to ``status``."""
        rng, uniform = self.rng, self.rng.uniform
        steps = []
        if status == "open":
            if rng.random() < 0.3:
                steps += [(uniform(5, 300), "assign"), (uniform(600, 7200), "unassign")]
        elif status != "rejected" or rng.random() < 0.6:
            steps.append((uniform(5, 300), "assign"))
        if rng.random() < 0.2:
            steps += [(uniform(1800, 6 * 3600), "call")] * rng.randint(1, 2)
        if rng.random() < 0.15:
            steps.append((uniform(300, 3 * 3600), "note"))
        if status in ("resolved", "closed"):
            steps.append((uniform(3600, 40 * 3600), "resolve"))
        if status == "closed":
            if rng.random() < 0.08:
                steps += [(uniform(1800, 6 * 3600), "verify-not-solved"), (uniform(3600, 24 * 3600), "resolve")]
            steps.append((uniform(1800, 6 * 3600), "verify"))
        if status == "rejected":
            steps.append((uniform(300, 3 * 3600), "reject"))
        return steps

    def make(self, serial, opened, status, limit):
        """Make one ticket.

        :param opened: when it was opened (UTC timestamp). :param status: where it ends up.
        :param limit: no event later than this (the steps are squeezed to fit).
        :returns: the ticket document.
        """
        rng, iso = self.rng, self.clock.iso
        phone, phone_type, language, name = self.callers[int(rng.random() * len(self.callers))]
        area = self.areas[int(rng.random() * len(self.areas))]
        category = self.categories.pick(rng)
        sla = self.sla[category]
        follows = self.last_final.get((phone, category)) if phone else None
        ticket = {
            "id": format_id(DISTRICT_CODE, serial), "serial": serial, "status": "open", "phone": phone,
            "phone_type": phone_type, "caller_name": name, "area": area, "category": category,
            "description": self.description(category, language), "language": language, "officer": None,
            "opened_at": iso(opened), "due_at": iso(opened + sla), "resolved_at": None, "resolved_by": None,
            "closed_at": None, "final_at": None, "follows": follows, "calls": 1,
            "history": [{"type": "opened", "at": iso(opened), "actor": rng.choice(OPERATORS),
                         "note": f"follows {follows}" if follows else None}],
        }
        steps = self._steps(status)
        span = sum(delay for delay, _ in steps)
        squeeze = min(1.0, max(0.0, limit - opened) / span) if span else 1.0
        moment = opened
        for delay, kind in steps:
            moment += delay * squeeze
            at, actor, event = iso(moment), rng.choice(OPERATORS), self._event
            if kind == "assign":
                event(ticket, kind, at, actor, "routed automatically", status="assigned",
                      officer=rng.choice(self.covering[area, category]))
            elif kind == "unassign":
                event(ticket, kind, at, actor, "officer on leave", status="open", officer=None)
            elif kind == "call":
                event(ticket, kind, at, actor, CALL_NOTES[language], calls=ticket["calls"] + 1)
            elif kind == "note":
                event(ticket, kind, at, actor, rng.choice(NOTES))
            elif kind == "resolve":
                event(ticket, kind, at, actor, rng.choice(RESOLVE_NOTES[language]), status="resolved",
                      resolved_at=at, resolved_by=ticket["officer"])
            elif kind == "verify-not-solved":
                event(ticket, "verify", at, rng.choice(self.verifiers), "caller says not solved",
                      status="assigned", resolved_at=None, resolved_by=None, due_at=iso(moment + sla))
            elif kind == "verify":
                event(ticket, kind, at, rng.choice(self.verifiers), "confirmed by caller",
                      status="closed", closed_at=at, final_at=at)
            elif kind == "reject":
                reason = rng.choice(REJECT_REASONS)
                extra = {}
                if reason == "duplicate" and serial > FIRST_SERIAL:
                    extra["duplicate_of"] = format_id(DISTRICT_CODE, max(FIRST_SERIAL, serial - rng.randint(1, 40)))
                event(ticket, kind, at, actor, reason, status="rejected", final_at=at, **extra)
        messages = self._messages(ticket)
        if messages:
            ticket["messages"] = messages
        if ticket["final_at"] and phone:
            self.last_final[phone, category] = ticket["id"]
        return ticket

    def _messages(self, ticket):
        """:returns: the ticket's summary of texts ({key: state}) as ``notify`` and ``outbox`` keep it:
        one to the caller (mobile numbers only) for each event that calls for one, one to the
        officer for each assignment; keyed ``ID:template:event index:recipient``."""
        messages = {}
        for sequence, event in enumerate(ticket["history"]):
            kind, changes = event["type"], event.get("changes", {})
            template = CALLER_TEMPLATES.get(kind)
            if kind == "verify":
                template = "closed" if changes["status"][1] == "closed" else "reopened"
            if template and ticket["phone_type"] == "mobile":
                messages[f"{ticket['id']}:{template}:{sequence}:{ticket['phone']}"] = self.message_states.pick(self.rng)
            if kind == "assign" and changes.get("officer", [None, None])[1]:
                phone = self.officer_phones[changes["officer"][1]]
                messages[f"{ticket['id']}:officer_assigned:{sequence}:{phone}"] = self.message_states.pick(self.rng)
        return messages

    @staticmethod
    def _event(ticket, kind, at, actor, note, **fields):
        """Append a history event and set ``fields``, recording changes as ``tickets._apply`` does."""
        event = {"type": kind, "at": at, "actor": actor, "note": note}
        changes = {k: [ticket.get(k), v] for k, v in fields.items() if ticket.get(k) != v}
        if changes:
            event["changes"] = changes
        ticket.update(fields)
        ticket["history"].append(event)


# --- Building the data folders -----------------------------------------------------------------

def officer_roster(config):
    """:returns: ``N_OFFICERS`` officers as keyword arguments of ``add_officer``: 15 nodal officers
    (every area and category covered by two or more), 4 verifiers and a supervisor."""
    areas, categories = [a["name"] for a in config.areas], list(config.categories)
    given = ["Rafiq", "Shabnam", "Tariq", "Meena", "Irfan", "Nusrat", "Vikram", "Bashir", "Saima", "Arif",
             "Heena", "Sanjay", "Mudasir", "Kiran", "Javaid", "Uzma", "Ravi", "Nighat", "Showkat", "Anita"]
    roster = []
    for n, first in enumerate(given[:N_OFFICERS]):
        role = "officer" if n < 15 else "verifier" if n < 19 else "supervisor"
        officer = role == "officer"
        roster.append(dict(
            officer_id=first.lower(), name=f"{first} {['Dar', 'Bhat', 'Mir', 'Kaul', 'Wani'][n % 5]}",
            phone=f"09419000{101 + n}", role=role, lang=["ur", "hi", "en"][n % 3],
            areas=[a for i, a in enumerate(areas) if i % 5 == n % 5] if officer else areas,
            categories=[c for i, c in enumerate(categories) if i != (n + n // 5) % len(categories)] if officer
            else categories))
    return roster


_WORKER = {}


def _start_worker(data_dir, total):
    """Process-pool initializer: load the district and the pool of callers once per worker."""
    config = load_config(data_dir)
    officers = [dict(o) for o in Store(data_dir).snapshot().table("officers").all()]
    _WORKER.update(store=Store(data_dir), factory=TicketFactory(config, officers, total))


def _build_chunk(layout, chunk):
    """Generate the tickets of one chunk of ``CHUNK_BLOCKS`` archive blocks (in a worker).

    Writes the chunk's archive blocks.

    :returns: {"live": {str(serial): ticket}, "buckets": {bucket file name: {phone: rows}},
        "callers": [(phone, category) of recent callers whose latest ticket is final]}.
    """
    store, factory = _WORKER["store"], _WORKER["factory"]
    bucket_names = {}   # the last two digits -> the bucket's file name (Store.phones_path)
    factory.start_chunk(chunk)
    rng = factory.rng
    live, buckets = {}, {}
    blocks = list(layout.blocks())[chunk * CHUNK_BLOCKS:(chunk + 1) * CHUNK_BLOCKS]
    for block in blocks:
        archived = {}
        for serial in layout.serials(block):
            opened = layout.opened(serial, rng.random())
            if serial >= layout.first_live:
                ticket = factory.make(serial, opened, factory.live_statuses.pick(rng), limit=layout.now - 60)
                live[str(serial)] = ticket
            else:
                ticket = factory.make(serial, opened, factory.archived_statuses.pick(rng),
                                      limit=layout.now - ARCHIVE_AFTER)
                archived[str(serial)] = ticket
                phone = ticket["phone"]
                if phone:
                    name = bucket_names.get(phone[-2:]) or bucket_names.setdefault(
                        phone[-2:], store.phones_path(phone).name)
                    buckets.setdefault(name, {}).setdefault(phone, []).append(
                        [serial, ticket["category"], ticket["final_at"]])
        if archived:
            store.write_block(block, archived)
    return {"live": live, "buckets": buckets, "callers": list(factory.last_final)[-600:]}


def build_district(data_dir, layout, jobs=None):
    """Build a helpline data directory ``data_dir`` with the tickets of ``layout``.

    The district and its officers are made with ``init_district`` and ``add_officer``; tickets are
    generated in a process pool, a chunk of archive blocks per job, and written with the store's
    own ``write_block``, ``write_phone_bucket`` and ``atomic_write``.

    :returns: the manifest: what the measurements need to know about the folder.
    """
    config = init_district(data_dir, code=DISTRICT_CODE, name="Srinagar", timezone="Asia/Kolkata")
    store = Store(data_dir, config.lock_timeout_seconds)
    with store.transaction() as db:
        for spec in officer_roster(config):
            add_officer(db, config, spec.pop("officer_id"), **spec, actor=OPERATORS[0],
                        now=datetime.fromtimestamp(layout.first_opened, timezone.utc) - timedelta(days=3))

    chunks = range((len(layout.blocks()) + CHUNK_BLOCKS - 1) // CHUNK_BLOCKS)
    live, buckets, callers = {}, {}, []
    with ProcessPoolExecutor(min(len(chunks), jobs or os.cpu_count() or 1), initializer=_start_worker,
                             initargs=(data_dir, layout.total)) as pool:
        for result in pool.map(_build_chunk, [layout] * len(chunks), chunks):
            live.update(result["live"])
            callers += result["callers"]
            for name, phones in result["buckets"].items():
                bucket = buckets.setdefault(name, {})
                for phone, rows in phones.items():
                    bucket.setdefault(phone, []).extend(rows)
    for name, phones in buckets.items():
        store.write_phone_bucket(store.archive_dir / name, phones)
    with store.lock():
        data = read_json(store.path)
        data["meta"] = {"1": {"serial": layout.last_serial}}
        data["tickets"] = live
        atomic_write(store.path, dump_json(data))
    return _manifest(layout, store, live, callers)


def write_task_import(path, layout):
    """Write a Taskwarrior import file (a JSON array) with one task per ticket of ``layout``:
    a pending task per live ticket, a completed one per archived ticket, with the same dates.

    Generated apart from the tickets (same vocabulary, its own seed), so that the import, the
    slow part, can start before the helpline folder is built.
    """
    rng, clock = random.Random(f"{SEED}-{layout.total}-tasks"), _Clock()
    areas = [a["name"] for a in read_areas_csv(resource_dir("data") / "areas.csv")]
    categories = _Weighted(CATEGORY_WEIGHTS.items())
    languages = _Weighted(LANGUAGES)
    with open(path, "w", encoding="utf-8") as f:
        f.write("[")
        for block in layout.blocks():
            tasks = []
            for serial in layout.serials(block):
                opened = layout.opened(serial, rng.random())
                category, language = categories.pick(rng), languages.pick(rng)
                text = rng.choice(DESCRIPTIONS[category][language]).format(n=rng.randint(2, 9))
                task = {"uuid": _uuid4(rng), "description": f"{format_id(DISTRICT_CODE, serial)} "
                                                            f"{rng.choice(areas)}: {text}",
                        "project": category, "entry": clock.task(opened), "modified": clock.task(opened),
                        "status": "pending"}
                if serial < layout.first_live:
                    end = max(opened, min(opened + rng.uniform(3600, 48 * 3600), layout.now - ARCHIVE_AFTER))
                    task.update(status="completed", end=clock.task(end), modified=clock.task(end))
                tasks.append(task)
            f.write(("," if block > layout.blocks()[0] else "") + json.dumps(tasks, ensure_ascii=False)[1:-1])
        f.write("]\n")


def _is_mobile(phone):
    """:returns: True when libphonenumber (which ``helpline log`` uses) takes ``phone`` for a valid mobile."""
    import phonenumbers

    number = phonenumbers.parse(phone)
    return phonenumbers.is_valid_number(number) and \
        phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE


def _manifest(layout, store, live, callers):
    """:returns: the facts about a built folder that the measurements use."""
    rng = random.Random(f"{SEED}-{layout.total}-manifest")
    assigned = [t["id"] for t in live.values() if t["status"] == "assigned"]
    rng.shuffle(assigned)
    show_live = max((t for t in live.values() if t["status"] == "resolved"),
                    key=lambda t: (len(t["history"]), t["serial"]))["id"]
    middle = (FIRST_SERIAL + layout.first_live) // 2 // ARCHIVE_BLOCK
    show_archived = next(t["id"] for t in store.read_block(middle).values() if t["status"] == "closed")
    # Calls to log: recent callers whose tickets are all archived, so each call opens a new ticket
    # (which "follows" the caller's earlier one), never a follow-up call on a live ticket.
    taken = {t["phone"] for t in live.values()}
    areas = [a["name"] for a in load_config(store.data_dir).areas]
    calls = []
    for phone, category in reversed(callers):
        if len(calls) == 500:
            break
        if phone in taken or not _is_mobile(phone):
            continue
        taken.add(phone)
        language = rng.choice(["en", "hi", "ur"])
        texts = DESCRIPTIONS.get(category, DESCRIPTIONS["other"])[language]
        calls.append({"phone": "0" + phone[3:], "area": rng.choice(areas), "category": category,
                      "name": rng.choice(NAMES[language]), "lang": language,
                      "description": rng.choice(texts).format(n=rng.randint(2, 9))})
    return {"version": BUILD_VERSION, "total": layout.total, "live": layout.live, "built_at": layout.now,
            "last_serial": layout.last_serial, "assigned": assigned, "show_live": show_live,
            "show_archived": show_archived, "log_calls": calls, "files": sorted(os.listdir(store.data_dir))}


class Fixture:
    """A cached benchmark folder for one size, how to build it and how to reset it.

    Layout of ``folder``: ``helpline/`` (the data directory), ``helpline.json.pristine`` and
    ``manifest.json`` (written last: the helpline part is complete); ``task/taskrc``, ``task/data/``,
    ``task/pristine/`` and ``task/ready.json`` (written last: the Taskwarrior part is complete).
    The measured commands change only the live file and Taskwarrior's files (the archives are
    only read), so ``reset`` puts back just those.
    """

    APPEND_ONLY = ("undo.data", "backlog.data")   # Taskwarrior only appends to these

    def __init__(self, workdir, total):
        self.total = total
        self.folder = Path(workdir) / f"v{BUILD_VERSION}-{total}"
        self.data_dir = self.folder / "helpline"
        self.pristine = self.folder / "helpline.json.pristine"
        self.manifest_path = self.folder / "manifest.json"
        self.task_dir = self.folder / "task"
        self.taskrc = self.task_dir / "taskrc"
        self.task_data = self.task_dir / "data"
        self.task_ready = self.task_dir / "ready.json"
        self._import = None

    @property
    def manifest(self):
        return json.loads(self.manifest_path.read_text(encoding="utf-8"))

    def start_task_import(self, log):
        """Unless cached, write the Taskwarrior folder's import file and start ``task import`` in
        the background (it is the slowest part of building; ``finish_task_import`` waits for it)."""
        if self.task_ready.exists():
            log(f"  {self.total:,} tasks: cached in {self.task_dir}")
            return
        shutil.rmtree(self.task_dir, ignore_errors=True)
        self.task_data.mkdir(parents=True)
        self.taskrc.write_text("# benchmark taskrc (see bench/README.md)\n"
                               f"data.location={self.task_data}\nconfirmation=no\nverbose=nothing\nhooks=off\n",
                               encoding="utf-8")
        started = time.perf_counter()
        import_file = self.task_dir / "import.json"
        write_task_import(import_file, Layout(self.total, int(time.time())))
        proc = subprocess.Popen(["task", "import", str(import_file)], env=self.task_env(),
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._import = (proc, started, import_file)

    def finish_task_import(self, log):
        """Wait for a background ``task import``; keep pristine copies of the files it wrote."""
        if not self._import:
            return
        proc, started, import_file = self._import
        self._import = None
        _, errors = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"task import failed ({proc.returncode}): {errors.decode(errors='replace')[-2000:]}")
        import_file.unlink()
        pristine = self.task_dir / "pristine"
        pristine.mkdir()
        sizes = {}
        for path in self.task_data.iterdir():
            sizes[path.name] = path.stat().st_size
            if path.name not in self.APPEND_ONLY:
                shutil.copyfile(path, pristine / path.name)
        self.task_ready.write_text(json.dumps(sizes), encoding="utf-8")
        log(f"  {self.total:,} tasks: imported in {time.perf_counter() - started:.0f} s (in the background)")

    def build_helpline(self, jobs, log):
        """Build the helpline data directory unless it is cached."""
        if self.manifest_path.exists() and self.manifest.get("version") == BUILD_VERSION:
            log(f"  {self.total:,} tickets: cached in {self.data_dir}")
            return
        shutil.rmtree(self.data_dir, ignore_errors=True)
        started = time.perf_counter()
        manifest = build_district(self.data_dir, Layout(self.total, int(time.time())), jobs)
        shutil.copyfile(self.data_dir / "helpline.json", self.pristine)
        self.manifest_path.write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
        log(f"  {self.total:,} tickets: built in {time.perf_counter() - started:.0f} s")

    def task_env(self):
        return dict(os.environ, TASKRC=str(self.taskrc), TASKDATA=str(self.task_data))

    def helpline_env(self):
        return dict(os.environ, HELPLINE_DATA_DIR=str(self.data_dir), HELPLINE_OPERATOR="bench-operator")

    def reset(self):
        """Undo what measuring changed: the live file (and any file the commands added beside it),
        and Taskwarrior's pending list and logs."""
        built = set(self.manifest["files"])
        for name in os.listdir(self.data_dir):
            if name not in built:
                path = self.data_dir / name
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        shutil.copyfile(self.pristine, self.data_dir / "helpline.json")
        if not self.task_ready.exists():
            return
        sizes = json.loads(self.task_ready.read_text(encoding="utf-8"))
        for name in os.listdir(self.task_data):
            if name not in sizes:
                os.unlink(self.task_data / name)
        for name, size in sizes.items():
            path = self.task_data / name
            if name in self.APPEND_ONLY:
                os.truncate(path, size)
            elif name == "pending.data" or not path.exists() or path.stat().st_size != size:
                shutil.copyfile(self.task_dir / "pristine" / name, path)


# --- Measuring ---------------------------------------------------------------------------------

# Peak memory: ru_maxrss of a child also counts the memory of the process it was forked from
# (Linux keeps the high-water mark across exec), so a command is started through GNU time, or
# through this small launcher, never straight from this (large) benchmark process.
_RSS_LAUNCHER = """\
import os, sys
pid = os.posix_spawnp(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
open(sys.argv[1], "w").write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def rss_prefix(report_path):
    """:returns: the argv prefix that runs a command and writes its peak RSS (KiB) to ``report_path``."""
    if os.path.exists("/usr/bin/time"):
        return ["/usr/bin/time", "-f", "%M", "-o", str(report_path)]
    return [sys.executable, "-I", "-S", "-c", _RSS_LAUNCHER, str(report_path)]


def run_once(argv, env, rss=False):
    """Run ``argv`` as a whole process, stdin from /dev/null and output to a temporary file.

    :param rss: measure peak memory (through ``rss_prefix``) instead of time.
    :returns: (wall-clock seconds, peak RSS KiB or None, exit code, stdout, stderr).
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r", suffix=".rss") as rss_file:
        if rss:
            argv = rss_prefix(rss_file.name) + argv
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, _ = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)   # reaped here, not by Popen
        peak = int(rss_file.read().strip().splitlines()[-1]) if rss and proc.returncode == 0 else None
        out.seek(0)
        err.seek(0)
        return (elapsed, peak, proc.returncode,
                out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"))


class Command:
    """One measured command.

    :param name: its name in the tables. :param argv: run number -> the argv of that run.
    :param env: its environment. :param expect: text its stdout must contain (a sanity check).
    """

    def __init__(self, name, argv, env, expect=None):
        self.name, self.argv, self.env, self.expect = name, argv, env, expect
        self.seconds, self.rss_kib = [], []
        self.error = None

    def run(self, n, timed=True, rss=False):
        """Run it once (run number ``n``); after a failure (exit code, or ``expect`` missing from
        stdout) it is not run again, and ``error`` says what happened."""
        if self.error:
            return
        elapsed, peak, code, out, err = run_once(self.argv(n), self.env, rss)
        if code != 0 or (self.expect and self.expect not in out):
            self.error = (f"`{' '.join(self.argv(n))}` exited {code}" +
                          ("" if code else f" without printing {self.expect!r}") +
                          f"; stdout: {out[-300:]!r}; stderr: {err[-1500:]!r}")
        elif rss:
            self.rss_kib.append(peak)
        elif timed:
            self.seconds.append(elapsed)

    def stats(self):
        """:returns: median, min and max seconds and peak RSS MiB; None after a failure."""
        if self.error or not self.seconds or not self.rss_kib:
            return None
        return {"median": statistics.median(self.seconds), "min": min(self.seconds), "max": max(self.seconds),
                "rss_mib": max(self.rss_kib) / 1024}


def commands_for(fixture, helpline, with_task):
    """:returns: the commands measured at one size, in table order."""
    m = fixture.manifest
    env = fixture.helpline_env()
    calls, assigned = m["log_calls"], m["assigned"]

    def log_argv(n):
        c = calls[n]
        return [helpline, "log", "--phone", c["phone"], "--area", c["area"], "--category", c["category"],
                "--name", c["name"], "--lang", c["lang"], "--description", c["description"]]

    commands = [
        Command("--help", lambda n: [helpline, "--help"], env, "Usage:"),
        Command("log", log_argv, env, "Ticket "),   # "Follow-up call added..." would fail the check
        Command("resolve", lambda n: [helpline, "resolve", assigned[n], "--note", "Ration kit delivered"], env,
                "resolved by"),
        Command("show live", lambda n: [helpline, "show", m["show_live"]], env, m["show_live"]),
        Command("show archived", lambda n: [helpline, "show", m["show_archived"]], env, m["show_archived"]),
        Command("list --status open", lambda n: [helpline, "list", "--status", "open"], env),
    ]
    if with_task:
        tenv = fixture.task_env()
        commands += [
            Command("task add", lambda n: ["task", "add", f"Ration for a family of {n % 9 + 2}, Khanyar"], tenv),
            Command("task list", lambda n: ["task", "list"], tenv),
            Command("task 1 info", lambda n: ["task", "1", "info"], tenv),
        ]
    return commands


def measure(fixture, helpline, runs, warmup, rss_runs, with_task):
    """Measure every command at one size, interleaved round-robin.

    :returns: ({name: stats or None}, {name: error} for the commands that failed).
    """
    m = fixture.manifest
    needed = warmup + runs + rss_runs
    if needed > min(len(m["log_calls"]), len(m["assigned"])):
        raise SystemExit(f"--warmup + --runs + --rss-runs = {needed}: the {fixture.total:,}-ticket folder has only "
                         f"{len(m['log_calls'])} calls to log and {len(m['assigned'])} assigned tickets.")
    fixture.reset()
    commands = commands_for(fixture, helpline, with_task)
    for n in range(needed):
        for command in commands:
            command.run(n, timed=n >= warmup, rss=n >= warmup + runs)
    fixture.reset()
    return {c.name: c.stats() for c in commands}, {c.name: c.error for c in commands if c.error}


# --- Reporting ---------------------------------------------------------------------------------

HELPLINE_COLUMNS = ("--help", "log", "resolve", "show live", "show archived", "list --status open")
TASK_COLUMNS = ("task add", "task list")


def _stat(results, size, command, key="median"):
    """:returns: one figure of ``command`` at ``size``, or None when it was not measured or failed."""
    stats = results[size]["stats"].get(command)
    return stats[key] if stats else None


def _cell(results, size, command):
    if command not in results[size]["stats"]:
        return "-"
    stats = results[size]["stats"][command]
    return f"{stats['median']:.3f} ({stats['min']:.3f})" if stats else "failed"


def _ratio(a, b, digits=1):
    """:returns: ``a / b`` as ``1.5x``, or ``-`` when either is missing."""
    return f"{a / b:.{digits}f}x" if a is not None and b else "-"


def report(results, sizes, meta):
    """:returns: the markdown report of ``results``: {size: {"live": n, "stats": {command: stats or
    None}, "errors": {command: text}}}."""
    lines = [
        "# helpline benchmark",
        "",
        f"{meta['date']}; {meta['machine']}; Python {meta['python']}; helpline {meta['revision']}"
        + ("" if meta["revision_before"] == meta["revision"] else
           f" (when measuring began: {meta['revision_before']}; the code changed during the run)")
        + f"; "
        f"{meta['taskwarrior']}. Whole-process wall clock, warm page cache; {meta['runs']} timed runs per "
        f"command after {meta['warmup']} warm-up, commands interleaved; peak RSS from {meta['rss_runs']} "
        f"more runs. Load average (1/5/15 min) {meta['load_before']} before and {meta['load_after']} after "
        f"measuring, on {os.cpu_count()} CPUs.",
        "",
        "Cells: median (min) seconds.",
        "",
        "| tickets (total / live) | `--help` | `log` | `resolve` | `show` (live) | `show` (archived) "
        "| `list --status open` | `task add` | `task list` | log / task add | peak RSS MiB (command) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for size in sizes:
        peaks = [(_stat(results, size, c, "rss_mib"), c) for c in HELPLINE_COLUMNS]
        peaks = [p for p in peaks if p[0] is not None]
        peak = f"{max(peaks)[0]:.1f} (`{max(peaks)[1]}`)" if peaks else "-"
        lines.append(f"| {size:,} / {results[size]['live']:,} | "
                     + " | ".join(_cell(results, size, c) for c in HELPLINE_COLUMNS + TASK_COLUMNS)
                     + f" | {_ratio(_stat(results, size, 'log'), _stat(results, size, 'task add'))} | {peak} |")
    if len(sizes) > 1:
        lines += [""] + _slowdowns(results, sizes)
    lines += ["", "Aims (on medians):", ""] + _aims(results, sizes)
    lines += ["", "All measurements (seconds; peak RSS is the largest of the memory runs):", "",
              "| tickets | command | median | min | max | peak RSS MiB |", "| ---: | --- | ---: | ---: | ---: | ---: |"]
    for size in sizes:
        for c, st in results[size]["stats"].items():
            lines.append(f"| {size:,} | `{c}` | " + (f"{st['median']:.3f} | {st['min']:.3f} | {st['max']:.3f} | "
                                                     f"{st['rss_mib']:.1f} |" if st else "failed | | | |"))
    failures = [(size, c, error) for size in sizes for c, error in results[size]["errors"].items()]
    if failures:
        lines += ["", "Failures (the command was not run again at that size):", ""]
        lines += [f"- {size:,} tickets, `{c}`: {error}" for size, c, error in failures]
    return "\n".join(lines) + "\n"


def _slowdowns(results, sizes):
    """:returns: markdown lines: each command's median at every size and its slowdown from the
    smallest to the largest size; and, when the smallest has fewer live tickets than the largest,
    also from the smallest size with as many live tickets (the archive's growth alone)."""
    small, large = sizes[0], sizes[-1]
    live = {size: results[size]["live"] for size in sizes}
    same_live = next(size for size in sizes if live[size] == live[large])
    columns = [f"{small:,} -> {large:,}"]
    if same_live not in (small, large):
        columns.append(f"{same_live:,} -> {large:,} (live {live[large]:,} in both)")
    lines = [f"Medians at each size, and the slowdown (median over median) from {small:,} to {large:,} "
             f"tickets; helpline's aim: at most {AIM_SLOWDOWN}x:", "",
             "| command | " + " | ".join(f"{size:,}" for size in sizes) + " | " + " | ".join(columns) + " |",
             "| --- |" + " ---: |" * (len(sizes) + len(columns))]
    for c in results[large]["stats"]:
        medians = [_stat(results, size, c) for size in sizes]
        cells = [_ratio(medians[-1], medians[0], 2)]
        if medians[0] and medians[-1] and not c.startswith("task"):
            cells[0] += " ok" if medians[-1] / medians[0] <= AIM_SLOWDOWN else " **over**"
        if len(columns) > 1:
            cells.append(_ratio(medians[-1], _stat(results, same_live, c), 2))
        lines.append(f"| `{c}` | " + " | ".join("-" if m is None else f"{m:.3f}" for m in medians)
                     + " | " + " | ".join(cells) + " |")
    return lines


def _aims(results, sizes):
    """:returns: markdown bullets saying, for each of the project's aims, where it is missed."""

    def check(text, failing):
        return f"- {text}: " + ("met wherever measured" if not failing else "**missed**: " + "; ".join(failing))

    def figures(columns, key="median"):
        """(size, command, figure) for every measured figure of ``columns``."""
        return [(size, c, _stat(results, size, c, key)) for size in sizes for c in columns
                if _stat(results, size, c, key) is not None]

    quick = ("log", "resolve", "show live", "show archived")
    lines = [check(f"`--help` <= {AIM_HELP_S} s",
                   [f"`{c}` {m:.3f} s at {size:,}" for size, c, m in figures(["--help"]) if m > AIM_HELP_S]),
             check(f"`log`, `resolve`, `show` <= {AIM_COMMAND_S} s",
                   [f"`{c}` {m:.3f} s at {size:,}" for size, c, m in figures(quick) if m > AIM_COMMAND_S])]
    if any(_stat(results, size, "task add") for size in sizes):
        lines.append(check(f"`log`, `resolve`, `show` within {AIM_VS_TASK:g}x `task add`", [
            f"`{c}` {m / _stat(results, size, 'task add'):.1f}x at {size:,}" for size, c, m in figures(quick)
            if _stat(results, size, "task add") and m > AIM_VS_TASK * _stat(results, size, "task add")]))
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        slow = [(c, _stat(results, large, c) / _stat(results, small, c)) for c in HELPLINE_COLUMNS
                if _stat(results, large, c) and _stat(results, small, c)]
        lines.append(check(f"at most {AIM_SLOWDOWN}x slower from {small:,} to {large:,} tickets",
                           [f"`{c}` {r:.2f}x" for c, r in slow if r > AIM_SLOWDOWN]))
    lines.append(check(f"peak memory < {AIM_RSS_MIB} MiB", [
        f"`{c}` {m:.0f} MiB at {size:,}" for size, c, m in figures(HELPLINE_COLUMNS, "rss_mib") if m >= AIM_RSS_MIB]))
    return lines


def _revision():
    """:returns: the repository's HEAD (read only), naming files with uncommitted changes."""
    try:
        head = subprocess.run(["git", "-C", str(REPO_DIR), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        changed = subprocess.run(["git", "-C", str(REPO_DIR), "diff", "--name-only", "HEAD"],
                                 capture_output=True, text=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        return "at an unknown revision"
    if not changed:
        return f"at {head}"
    names = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
    return f"at {head} with uncommitted changes ({names})"


def _load():
    try:
        return "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


# --- Command line ------------------------------------------------------------------------------

def _sizes(text):
    try:
        sizes = sorted({int(s.strip().replace("_", "")) for s in text.split(",") if s.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of numbers") from None
    if not sizes or sizes[0] < 100:
        raise argparse.ArgumentTypeError("sizes must be at least 100 tickets")
    return sizes


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=_sizes, default=list(SIZES),
                        help="comma-separated ticket totals (default: 1000,10000,100000,500000)")
    parser.add_argument("--quick", action="store_true", help="only 1,000 and 10,000 tickets")
    parser.add_argument("--runs", type=int, default=15, help="timed runs per command (default: 15)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs before them (default: 1)")
    parser.add_argument("--rss-runs", type=int, default=2, help="runs that read peak memory (default: 2)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "helpline-bench",
                        help="where the built folders are cached (default: $TMPDIR/helpline-bench); "
                             "must be outside the repository")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the folders even when cached")
    parser.add_argument("--jobs", type=int, help="processes that generate tickets (default: CPU count)")
    parser.add_argument("--no-task", action="store_true", help="leave Taskwarrior out")
    parser.add_argument("--helpline", help="the helpline command (default: the one beside this Python)")
    parser.add_argument("--out", type=Path, default=OUT_DIR / "results.md",
                        help="where to write the report (default: bench/out/results.md)")
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = list(QUICK_SIZES)
    if args.runs < 1 or args.warmup < 0 or args.rss_runs < 1:
        parser.error("--runs and --rss-runs must be at least 1, --warmup at least 0")
    args.workdir = args.workdir.resolve()
    if args.workdir == REPO_DIR or REPO_DIR in args.workdir.parents:
        parser.error(f"--workdir {args.workdir} is inside the repository; choose a folder outside it")
    return args


def remove_stale_folders(workdir, log):
    """Delete this script's folders built by another ``BUILD_VERSION`` (``v<N>-<size>``) in ``workdir``."""
    for path in sorted(Path(workdir).glob("v*-*")):
        version, _, size = path.name[1:].partition("-")
        if path.is_dir() and version.isdigit() and size.isdigit() and int(version) != BUILD_VERSION:
            log(f"  removing {path} (built by an older version of this script)")
            shutil.rmtree(path)


def find_helpline(explicit):
    """:returns: ``explicit``, or the ``helpline`` script beside ``sys.executable`` (the venv's), or on PATH."""
    for candidate in (explicit, Path(sys.executable).parent / "helpline", shutil.which("helpline")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise SystemExit("cannot find the helpline command: pip install -e . in the venv, or pass --helpline PATH")


def task_version():
    """:returns: Taskwarrior's version, or None when ``task`` is not installed."""
    if not shutil.which("task"):
        return None
    result = subprocess.run(["task", "--version"], capture_output=True, text=True,
                            env=dict(os.environ, TASKRC=os.devnull))
    return result.stdout.strip() or "unknown version"


def main(argv=None):
    args = parse_args(argv)
    started = time.perf_counter()

    def log(message):
        print(message, file=sys.stderr, flush=True)

    helpline = find_helpline(args.helpline)
    version = None if args.no_task else task_version()
    if not args.no_task and version is None:
        log("Taskwarrior ('task') is not installed: skipping the Taskwarrior columns "
            "(Debian/Ubuntu: apt-get install taskwarrior).")
    with_task = version is not None

    log(f"Data folders in {args.workdir}:")
    remove_stale_folders(args.workdir, log)
    fixtures = [Fixture(args.workdir, size) for size in sorted(args.sizes, reverse=True)]  # the largest first
    for fixture in fixtures:
        if args.rebuild:
            shutil.rmtree(fixture.folder, ignore_errors=True)
        if with_task:
            fixture.start_task_import(log)   # the imports run while the helpline folders are built
    for fixture in fixtures:
        fixture.build_helpline(args.jobs, log)
    for fixture in fixtures:
        fixture.finish_task_import(log)
    fixtures = {fixture.total: fixture for fixture in fixtures}
    build_seconds = time.perf_counter() - started

    load_before, revision_before = _load(), _revision()
    results = {}
    for size in args.sizes:
        log(f"Measuring at {size:,} tickets...")
        t0 = time.perf_counter()
        stats, errors = measure(fixtures[size], helpline, args.runs, args.warmup, args.rss_runs, with_task)
        results[size] = {"live": fixtures[size].manifest["live"], "stats": stats, "errors": errors}
        for name, error in errors.items():
            log(f"  {name} FAILED: {error}")
        log(f"  {time.perf_counter() - t0:.0f} s")

    meta = {"date": datetime.now().strftime("%Y-%m-%d %H:%M"),
            "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
            "python": platform.python_version(), "revision": _revision(),
            "revision_before": revision_before,
            "taskwarrior": f"Taskwarrior {version}" if version else "no Taskwarrior",
            "runs": args.runs, "warmup": args.warmup, "rss_runs": args.rss_runs,
            "load_before": load_before, "load_after": _load()}
    text = report(results, args.sizes, meta)
    text += (f"\nBuilding data (or finding it cached): {build_seconds:.0f} s; "
             f"the whole run: {time.perf_counter() - started:.0f} s.\n")
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    log(f"Written to {args.out}")


if __name__ == "__main__":
    main()
