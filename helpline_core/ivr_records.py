"""The voice menu's settings and its records: the day log of calls, the problems log, the figures.

Nothing here imports twilio or waitress: ``report``, ``stats``, ``jobs status`` and the
escalation job read these records without paying for the web server.

Config (``[ivr]`` in ``config.toml``; the IVR is off unless ``enabled = true``)::

    [ivr]
    enabled = true
    public_url = "https://helpline.example.org/ivr"   # what Twilio requests; the signature is over it
    languages = ["hi", "ur", "en"]                    # the language menu: 1, 2, 3 (default: the
                                                      # district's languages in this order)
    desk_numbers = ["+911942450001", "+911942450002"] # dialled in turn ...
    queue = ""                                        # ... or, when set, callers <Enqueue> here
    dial_timeout_seconds = 20
    queue_wait_seconds = 120                          # then a queued caller is offered a callback
    callback_sla_minutes = 30                         # waiting longer goes to the escalation job
    callback_area = ""                                # area of a new caller's callback ticket
    menu_categories = []                              # a callback's category menu: 1-9 (default:
                                                      # the district's categories, 9 at most)
    lock_wait_seconds = 2                             # a webhook waits this long for the store lock
    [ivr.voices]                                      # <Say> voice per language
    hi = "Polly.Aditi"
    en = "Polly.Raveena"
    [ivr.audio]                                       # or recorded prompts (<Play>) per language
    ur = "https://helpline.example.org/ivr-audio/ur/"

Files in the data directory::

    ivr/calls-YYYY-MM-DD.jsonl   one line per webhook, by the call's local date:
                                 {"at", "call_sid", "from", "lang", "step", "outcome"}
    ivr/problems.jsonl           {"at", "kind", "detail"}: store locked or damaged, a refused
                                 (unsigned) request, an unexpected error
"""

import json
import os
import re
from datetime import timedelta
from pathlib import Path

from .clock import from_iso, to_iso
from .errors import ConfigError

IVR_DIR = "ivr"
PROBLEMS_NAME = "problems.jsonl"
LOCALES = {"hi": "hi-IN", "ur": "ur-IN", "en": "en-IN"}
DEFAULT_VOICES = {"hi": "Polly.Aditi", "en": "Polly.Raveena"}  # Amazon Polly: no Urdu voice
# Outcomes that count in the figures (a call may have several):
STATUS_HEARD, CALLBACK, TO_DESK = "status", "callback", "desk"


def is_sensitive(config, category):
    """:returns: True when ``category``'s tickets are never read out in detail (only "your
    request is being handled"): the district's own rule, ``Config.is_sensitive`` (``sensitive =
    true`` per category in config.toml; counselling by default)."""
    return config.is_sensitive(category)


class IvrSettings:
    """``[ivr]`` of a district's config, checked. Attributes as in the module docstring;
    ``voices`` and ``audio`` are {lang: str}."""

    def __init__(self, config):
        self.config = config
        raw = config.raw.get("ivr", {})
        if not isinstance(raw, dict):
            raise ConfigError(f"{config.path}: [ivr] must be a table.")
        self.enabled = raw.get("enabled", False) is True
        self.public_url = str(raw.get("public_url", "")).rstrip("/")
        self.languages = tuple(raw.get("languages", [lang for lang in ("hi", "ur", "en") if lang in config.languages]))
        self.queue = str(raw.get("queue", "") or "")
        self.voices = dict(DEFAULT_VOICES, **raw.get("voices", {}))
        self.audio = {lang: str(url).rstrip("/") + "/" for lang, url in raw.get("audio", {}).items() if url}
        self.dial_timeout_seconds = int(config.number(raw.get("dial_timeout_seconds", 20), "ivr.dial_timeout_seconds"))
        self.queue_wait_seconds = config.number(raw.get("queue_wait_seconds", 120), "ivr.queue_wait_seconds")
        self.callback_sla_minutes = config.number(raw.get("callback_sla_minutes", 30), "ivr.callback_sla_minutes")
        self.lock_wait_seconds = config.number(raw.get("lock_wait_seconds", 2), "ivr.lock_wait_seconds")
        from .phones import parse_phone
        from .errors import InvalidValue

        self.desk_numbers = []
        for number in raw.get("desk_numbers", []):
            try:
                self.desk_numbers.append(parse_phone(str(number))[0])
            except InvalidValue:
                raise ConfigError(f"{config.path}: ivr.desk_numbers has '{number}', which is not a phone number.") from None
        self.menu_categories = self._menu_categories(config, raw.get("menu_categories"))
        area = raw.get("callback_area") or (config.areas[0]["name"] if config.areas else "")
        self.callback_area = area
        for lang in self.languages:
            if lang not in config.languages:
                raise ConfigError(f"{config.path}: ivr.languages has '{lang}', which the district does not offer "
                                  f"(district.languages).")
        if not 1 <= len(self.languages) <= 8:
            raise ConfigError(f"{config.path}: ivr.languages needs 1 to 8 languages (one keypad digit each).")

    @staticmethod
    def _menu_categories(config, chosen):
        """:returns: the categories a callback's keypad menu offers, in key order (1-9): ``chosen``
            (``[ivr] menu_categories``) when set, else the district's first nine.
        :raises ConfigError: ``chosen`` is not a list of 1 to 9 distinct configured categories."""
        if chosen is None:
            return list(config.categories)[:9]
        if not isinstance(chosen, list) or not 1 <= len(chosen) <= 9:
            raise ConfigError(f"{config.path}: ivr.menu_categories needs 1 to 9 categories (one keypad digit each).")
        unknown = [str(c) for c in chosen if c not in config.categories]
        if unknown:
            raise ConfigError(f"{config.path}: ivr.menu_categories has {', '.join(unknown)}, not a category of the "
                              f"district (see [categories]).")
        if len(set(chosen)) != len(chosen):
            raise ConfigError(f"{config.path}: ivr.menu_categories names a category twice.")
        return list(chosen)

    def speaks(self, lang):
        """:returns: ``("play", base_url)`` when ``lang`` uses recorded prompts, ``("say", voice)``
        when a <Say> voice is configured for it, or None when it has neither."""
        if lang in self.audio:
            return "play", self.audio[lang]
        if self.voices.get(lang):
            return "say", self.voices[lang]
        return None

    def check_ready(self):
        """For ``ivr serve``: :raises ConfigError: when the IVR is off or cannot answer a call (no
        public URL, no desk, a language with no voice, no categories for a callback, more than nine
        categories and no ``menu_categories`` to choose among them, a ``callback_area`` that is not
        one of the district's areas)."""
        if not self.enabled:
            raise ConfigError("the IVR is off: set enabled = true under [ivr] in config.toml (see the README).")
        if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", self.public_url):
            raise ConfigError("[ivr] public_url must be the https:// address Twilio requests, "
                              "e.g. https://helpline.example.org/ivr.")
        if not self.desk_numbers and not self.queue:
            raise ConfigError("[ivr] needs desk_numbers (dialled in turn) or a queue name: callers must "
                              "always be able to reach the desk.")
        if not self.config.categories:  # the callback menu would offer nothing to press
            raise ConfigError(f"[ivr] a callback picks a category, and {self.config.no_categories_message()}")
        left_out = [c for c in self.config.categories if c not in self.menu_categories]
        if left_out and "menu_categories" not in self.config.raw.get("ivr", {}):
            raise ConfigError(f"[ivr] the district has {len(self.config.categories)} categories and a keypad menu "
                              f"offers 9: {', '.join(left_out)} could not be chosen by phone; list the ones "
                              f"callers choose from under [ivr] as menu_categories = [...].")
        from .errors import NotFound

        try:  # a new caller's callback ticket is logged in this area: a wrong one fails every such call
            self.config.area(self.callback_area)
        except NotFound as error:
            raise ConfigError(f"[ivr] callback_area: {error}") from None
        silent = [lang for lang in self.languages if self.speaks(lang) is None]
        if silent:
            raise ConfigError(f"[ivr] language(s) {', '.join(silent)} have neither a voice ([ivr.voices]) nor "
                              f"recorded prompts ([ivr.audio]); Twilio has no Urdu text-to-speech voice, see the README.")


def ivr_dir(data_dir):
    return Path(data_dir) / IVR_DIR


def _append(path, record):
    """Append one JSON line (O_APPEND: lines from several threads and processes never interleave)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)


def day_log_path(data_dir, config, moment):
    """:returns: the day log that a webhook at ``moment`` (aware) goes to (local date)."""
    return ivr_dir(data_dir) / f"calls-{moment.astimezone(config.tz).date().isoformat()}.jsonl"


def log_step(data_dir, config, now, *, call_sid, caller, lang, step, outcome):
    """Record one webhook of a call in the day log. :param caller: E.164 or None (withheld)."""
    _append(day_log_path(data_dir, config, now), {"at": to_iso(now), "call_sid": call_sid, "from": caller,
                                                  "lang": lang, "step": step, "outcome": outcome})


def log_problem(data_dir, now, kind, detail):
    """Record a problem the caller did not hear as an error (``jobs status`` and ``stats`` show it).

    :param kind: ``store-locked``, ``store-damaged``, ``bad-signature``, ``error``.
    """
    _append(ivr_dir(data_dir) / PROBLEMS_NAME, {"at": to_iso(now), "kind": kind, "detail": str(detail)[:300]})


def _read_lines(path):
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
    except FileNotFoundError:
        return []
    found = []
    for line in lines:
        try:
            found.append(json.loads(line))
        except ValueError:
            continue  # a line cut by a power failure: the others still count
    return found


def recent_problems(data_dir, now, hours=24):
    """:returns: the problems logged in the ``hours`` before ``now``, oldest first."""
    since = now - timedelta(hours=hours)
    return [p for p in _read_lines(ivr_dir(data_dir) / PROBLEMS_NAME)
            if isinstance(p, dict) and p.get("at") and from_iso(p["at"]) >= since]


def problems_line(data_dir, config, now):
    """:returns: one line for ``jobs status`` and ``stats`` about the last day's IVR problems, or
    None when there were none."""
    from .clock import local_text

    problems = recent_problems(data_dir, now)
    if not problems:
        return None
    last = problems[-1]
    kinds = {}
    for p in problems:
        kinds[p.get("kind")] = kinds.get(p.get("kind"), 0) + 1
    counts = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    return (f"IVR PROBLEMS in the last 24 h: {counts}; last at {local_text(last['at'], config.tz)}: "
            f"{last.get('kind')}: {last.get('detail')}")


def calls(data_dir, config, first_day, last_day):
    """The calls of the local dates ``first_day``..``last_day`` from the day logs.

    :returns: [{"call_sid", "from", "lang", "path": [step, ...], "outcomes": [..], "first_at"}],
        in the order the calls began.
    """
    found = {}
    day = first_day
    while day <= last_day:
        for line in _read_lines(ivr_dir(data_dir) / f"calls-{day.isoformat()}.jsonl"):
            sid = line.get("call_sid") if isinstance(line, dict) else None
            if not sid:
                continue
            call = found.setdefault(sid, {"call_sid": sid, "from": line.get("from"), "lang": None, "path": [],
                                          "outcomes": [], "first_at": line.get("at")})
            call["lang"] = line.get("lang") or call["lang"]
            call["path"].append(line.get("step"))
            if line.get("outcome") not in call["outcomes"]:
                call["outcomes"].append(line.get("outcome"))
        day += timedelta(days=1)
    return list(found.values())


def has_day_logs(data_dir, first_day, last_day):
    """:returns: True when any day log of the period exists (the IVR was in use then)."""
    day = first_day
    while day <= last_day:
        if (ivr_dir(data_dir) / f"calls-{day.isoformat()}.jsonl").exists():
            return True
        day += timedelta(days=1)
    return False


def figures(data_dir, config, first_day, last_day):
    """The IVR figures of ``report`` for local dates ``first_day``..``last_day``.

    :returns: ``{"calls", "status_checks", "callbacks", "to_desk"}``: calls (distinct CallSids);
        of them, those that heard a ticket's status (self-served), that left a callback request,
        and that were put through to the desk (dialled or queued, also after a store problem).
    """
    found = calls(data_dir, config, first_day, last_day)
    return {"calls": len(found),
            "status_checks": sum(STATUS_HEARD in c["outcomes"] for c in found),
            "callbacks": sum(CALLBACK in c["outcomes"] for c in found),
            "to_desk": sum(TO_DESK in c["outcomes"] for c in found)}


def report_figures(data_dir, config, first_day, last_day):
    """:returns: ``figures`` when the IVR is on or was used in the period, else None (a district
    without the IVR sees its report unchanged)."""
    if not IvrSettings(config).enabled and not has_day_logs(data_dir, first_day, last_day):
        return None
    return figures(data_dir, config, first_day, last_day)
