"""Rendering SMS texts from ``templates/sms/<event>.<lang>.txt`` (jinja2, imported only here).

The environment is strict (``StrictUndefined``: a missing value is an error, never a blank)
with ``trim_blocks`` and ``lstrip_blocks``; caller-supplied text only ever arrives as a value.
After rendering, one written rule tidies the text: ``tidy``.
"""

import re
from functools import lru_cache

from .errors import HelplineError
from .resources import resource_dir
from .segments import count_segments, non_gsm_characters

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


@lru_cache(maxsize=1)
def environment():
    """:returns: the shared jinja2 Environment over the shipped templates."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resource_dir("templates") / "sms")),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, autoescape=False,
        keep_trailing_newline=False)


def render(template, lang, context):
    """Render ``<template>.<lang>.txt`` with ``context``.

    :returns: ``(body, encoding, segments)``; encoding ``GSM-7`` or ``UCS-2``.
    :raises TemplateError: no such template, a syntax error, or a value missing from ``context``.
    """
    import jinja2

    name = f"{template}.{lang}.txt"
    try:
        body = tidy(environment().get_template(name).render(**context))
    except jinja2.TemplateNotFound:
        raise TemplateError(f"no SMS template {name} in templates/sms/.") from None
    except jinja2.UndefinedError as error:
        raise TemplateError(f"template {name}: {error.message}") from None
    except jinja2.TemplateError as error:
        raise TemplateError(f"template {name} is broken: {error}") from None
    count = count_segments(body)
    return body, count.encoding, count.segments


def template_names():
    """:returns: sorted [(event, lang)] of every shipped template."""
    folder = resource_dir("templates") / "sms"
    found = []
    for path in folder.glob("*.*.txt"):
        event, lang, _ = path.name.rsplit(".", 2)
        found.append((event, lang))
    return sorted(found)


def longest_contexts(config):
    """Snapshots with the longest realistic values, for ``templates check``: a 13-character ticket ID,
    40-character names, the longest area name, a 160-character description cut as the text cuts it.

    :returns: {event: context}.
    """
    from .notify import cut

    name40 = "Mohammad Abdul Rashid Bhat Qazi Naqshban"[:40]
    area = max((a["name"] for a in config.areas), key=len, default="Chanapora/Natipora")
    category = max(config.categories, key=len)
    district = config.district_name
    ticket_id = "SXRAB-1234567"[: len(config.district_code) + 9]
    description = cut("Family of eight stranded without ration since last week; father is diabetic and needs insulin, "
                      "mother is bedridden; neighbours cannot help any more; please send help")
    caller = {"district": district, "ticket_id": ticket_id, "helpline_phone": "+911942450000",
              "officer_name": name40, "officer_phone": "+919419012345", "category": category, "area": area}
    officer = {"district": district, "ticket_id": ticket_id, "category": category, "area": area,
               "caller_name": name40, "caller_phone": "+919876543210", "description": description,
               "due_local": "12-31 23:59"}
    oldest = [{"id": ticket_id, "category": category, "area": area, "age": "12d"} for _ in range(2)]  # the digest job fits as many as the budget allows
    digest = {"district": district, "date": "2026-12-31", "open_count": 999, "overdue_count": 999,
              "oldest": oldest, "new_count": 99}
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


def check_templates(config):
    """Render every shipped template with the longest values and compare with its budget.

    :returns: list of rows {template, lang, encoding, characters, segments, budget, problem}; a row's
        ``problem`` is None when it is within budget and an English text stays GSM-7.
    """
    contexts = longest_contexts(config)
    rows = []
    for event, lang in template_names():
        row = {"template": event, "lang": lang, "encoding": "-", "characters": 0, "segments": 0,
               "budget": budget_for(config, event, lang), "problem": None}
        try:
            body, encoding, segments = render(event, lang, contexts.get(event, {}))
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
    return rows
