"""Rendering SMS texts from ``templates/sms/<event>.<lang>.txt`` (jinja2, imported only here).

A district may put its own wording in ``templates/sms/`` inside its data directory (DLT makes the
wording a district's decision): a file there takes precedence over the shipped one of the same name.

The environment is strict (``StrictUndefined``: a missing value is an error, never a blank)
with ``trim_blocks`` and ``lstrip_blocks``; caller-supplied text only ever arrives as a value.
After rendering, one written rule tidies the text: ``tidy``.
"""

import re
from functools import lru_cache
from pathlib import Path

from .errors import HelplineError
from .resources import resource_dir
from .segments import count_segments, non_gsm_characters, to_gsm

CALLER_TEMPLATES = ("logged", "followup", "assigned", "resolved", "reopened", "closed")
OFFICER_TEMPLATES = ("officer_assigned", "officer_digest", "escalation")
DEFAULT_BUDGETS = {"caller_en": 1, "caller_hi": 2, "caller_ur": 2, "officer": 3}


class TemplateError(HelplineError):
    """A template is missing, broken, or needs a value the snapshot does not have."""


def tidy(text):
    """The one tidying rule: strip the ends, collapse runs of spaces/tabs to one space and runs of
    blank lines to one blank line, and drop spaces at line ends."""
    text = re.sub(r"[ \t]+", " ", text.strip())
    text = re.sub(r" *\n *", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text)


def override_dir(data_dir):
    """:returns: the Path of a district's own templates, ``<data_dir>/templates/sms`` (may not exist)."""
    return Path(data_dir) / "templates" / "sms"


def environment(data_dir=None):
    """:param data_dir: the district's data directory, whose ``templates/sms/`` files override the
        shipped ones; None for the shipped templates alone.
    :returns: the jinja2 Environment, kept per data directory and set of override files (jinja2
        reloads a file whose time stamp changed; a file added or removed makes a new one)."""
    names = ()
    if data_dir is not None:
        try:
            names = tuple(sorted(p.name for p in override_dir(data_dir).iterdir()))
        except OSError:  # no templates/sms/ in the data directory: the usual case
            names = ()
    return _environment(data_dir, names)


def _clear_cache():
    _environment.cache_clear()


environment.cache_clear = _clear_cache  # the tests' hook, as when this was one lru_cache


@lru_cache(maxsize=8)
def _environment(data_dir, names):
    import jinja2

    folders = [str(override_dir(data_dir))] if data_dir is not None else []
    folders.append(str(resource_dir("templates") / "sms"))
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folders),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, autoescape=False,
        keep_trailing_newline=False)


def render(template, lang, context, data_dir=None):
    """Render ``<template>.<lang>.txt`` with ``context``; the district's own file in
    ``<data_dir>/templates/sms/`` when there is one, else the shipped one.

    :returns: ``(body, encoding, segments)``; encoding ``GSM-7`` or ``UCS-2``.
    :raises TemplateError: no such template, a syntax error, or a value missing from ``context``.
    """
    import jinja2

    name = f"{template}.{lang}.txt"
    try:
        body = tidy(environment(data_dir).get_template(name).render(**context))
    except jinja2.TemplateNotFound:
        raise TemplateError(f"no SMS template {name} in templates/sms/.") from None
    except jinja2.UndefinedError as error:
        raise TemplateError(f"template {name}: {error.message}") from None
    except jinja2.TemplateError as error:
        raise TemplateError(f"template {name} is broken: {error}") from None
    count = count_segments(body)
    return body, count.encoding, count.segments


GSM_LANGUAGES = ("en",)  # texts meant to go as GSM-7: their values are made GSM-7 before rendering


def gsm_context(lang, context):
    """Make the values of a text in ``lang`` sendable as GSM-7 (issue 8): in an English text a pasted
    curly quote or emoji would switch the whole text to UCS-2 at double the cost. Look-alikes become
    their GSM forms and other characters are dropped (``segments.to_gsm``); texts in other
    languages are UCS-2 anyway and keep their values.

    :param context: the values (strings, numbers, lists and dicts of them).
    :returns: ``(context, dropped)``: a copy with every string made GSM-7 (runs of spaces left where
        something was dropped collapsed), and the distinct characters dropped ("" when none).
    """
    if lang not in GSM_LANGUAGES:
        return context, ""
    found = {}

    def walk(value):
        if isinstance(value, str):
            text, dropped = to_gsm(value)
            if text != value:
                found.update(dict.fromkeys(dropped))
                text = re.sub(r" {2,}", " ", text).strip()
            return text
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(context), "".join(found)


def template_names(data_dir=None):
    """:returns: sorted [(event, lang)] of every shipped template and every one of the district's own
        in ``<data_dir>/templates/sms/``."""
    folders = [resource_dir("templates") / "sms"]
    if data_dir is not None:
        folders.append(override_dir(data_dir))
    found = set()
    for folder in folders:
        for path in folder.glob("*.*.txt"):
            event, lang, _ = path.name.rsplit(".", 2)
            found.add((event, lang))
    return sorted(found)


def template_source(event, lang, data_dir=None):
    """:returns: ``"district"`` when the district's own file is used, else ``"shipped"``."""
    if data_dir is not None and (override_dir(data_dir) / f"{event}.{lang}.txt").is_file():
        return "district"
    return "shipped"


def longest_contexts(config):
    """Snapshots with the longest realistic values, for ``templates check``: a 13-character ticket ID,
    40-character names, the longest area name, a 160-character description cut as the text cuts it.

    :returns: {event: context}.
    """
    from .notify import cut

    name40 = "Mohammad Abdul Rashid Bhat Qazi Naqshban"[:40]
    area = max((a["name"] for a in config.areas), key=len, default="Chanapora/Natipora")
    category = max(config.categories, key=len, default="counselling")  # a district with no categories yet
    district = config.district_name
    ticket_id = "SXRAB-1234567"[: len(config.district_code) + 9]
    description = cut("Family of eight stranded without ration since last week; father is diabetic and needs insulin, "
                      "mother is bedridden; neighbours cannot help any more; please send help")
    caller = {"district": district, "ticket_id": ticket_id, "helpline_phone": "+911942450000",
              "officer_name": name40, "officer_phone": "+919419012345", "category": category, "area": area}
    officer = {"district": district, "ticket_id": ticket_id, "category": category, "area": area,
               "caller_name": name40, "caller_phone": "+919876543210", "description": description,
               "due_local": "31 Dec 23:59"}
    oldest = [{"id": ticket_id, "category": category, "area": area, "age": "12d"} for _ in range(2)]  # the digest job fits as many as the budget allows
    digest = {"district": district, "date": "2026-12-31", "open_count": 999, "overdue_count": 999,
              "oldest": oldest, "new_count": 99, "unreached_count": 99}
    escalation = {"district": district, "ticket_id": ticket_id, "category": category, "area": area,
                  "level": 2, "overdue_hours": 999, "officer_name": name40}
    contexts = {event: caller for event in CALLER_TEMPLATES}
    contexts.update(officer_assigned=officer, officer_digest=digest, escalation=escalation,
                    test={"district": district})
    return contexts


def budget_for(config, event, lang):
    """:returns: the segment budget for a template (config ``[sms.budgets]``, defaults above)."""
    budgets = dict(DEFAULT_BUDGETS, **config.raw.get("sms", {}).get("budgets", {}))
    name = f"caller_{lang}" if event in CALLER_TEMPLATES else "officer"
    value = budgets.get(name, budgets["caller_hi"])
    if not isinstance(value, int) or value < 1:
        from .errors import ConfigError

        raise ConfigError(f"{config.path}: sms.budgets.{name} = {value!r} is not a whole number of segments.")
    return value


def check_templates(config, data_dir=None):
    """Render every template in the district's languages (shipped, and the district's own in
    ``<data_dir>/templates/sms/``) with the longest values, compare with its budget and, unless ``[sms] dlt`` is ``off``, match it against
    the district's DLT registration (``dlt.check_registry``; values cut to 30 characters
    under ``enforce``, as ``sms send`` cuts them).

    :returns: rows {template, lang, source, encoding, characters, segments, budget,
        dlt_template_id, problem}; a row's ``problem`` is None when it is within budget, an English
        text stays GSM-7 and its DLT registration (if checked) matches; ``dlt.registry_status`` tells
        about the registry as a whole.
    :raises ConfigError: a bad ``[sms] dlt`` or an unreadable ``dlt.toml``.
    """
    from . import dlt

    contexts = longest_contexts(config)
    if dlt.dlt_mode(config) == "enforce":
        contexts = {event: dlt.fit_values(context) for event, context in contexts.items()}
    rows = []
    for event, lang in template_names(data_dir):
        if lang not in config.languages:  # never sent: no caller or officer of the district can have it
            continue
        row = {"template": event, "lang": lang, "source": template_source(event, lang, data_dir), "encoding": "-",
               "characters": 0, "segments": 0, "budget": budget_for(config, event, lang), "dlt_template_id": None,
               "problem": None}
        try:
            body, encoding, segments = render(event, lang, contexts.get(event, {}), data_dir=data_dir)
        except TemplateError as error:
            row["problem"] = str(error)
            rows.append(row)
            continue
        row.update(encoding=encoding, characters=len(body), segments=segments)
        if lang == "en" and encoding != "GSM-7":
            row["problem"] = "English text falls into UCS-2 because of " + " ".join(non_gsm_characters(body))
        elif segments > row["budget"]:
            row["problem"] = f"{segments} segments, over the budget of {row['budget']}"
        rows.append(row)
    dlt_rows = {} if data_dir is None else dlt.check_registry(config, data_dir, contexts)
    for row in rows:
        found = dlt_rows.get((row["template"], row["lang"]))
        if found:
            row["dlt_template_id"] = found["dlt_template_id"]
            if found["problem"]:
                row["problem"] = "; ".join(p for p in (row["problem"], "DLT: " + found["problem"]) if p)
    return rows
