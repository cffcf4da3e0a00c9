"""DLT: the registration of every text sent to Indian numbers (TRAI's Telecom Commercial
Communications Customer Preference Regulations, 2018; the operators' Distributed Ledger platform).

An Indian operator delivers a text only when it matches a template registered on DLT: the
sender (a *Principal Entity*, its ID), a registered header (the sender name), and per text a
template ID with the registered wording, ``{#var#}`` where a value goes. Operators match the text
against the wording exactly, each ``{#var#}`` standing for at most 30 characters of any kind
(counted as characters, spaces included: ``len`` of the value). A link must also be on the
entity's URL whitelist.

The district's registry is ``dlt.toml`` in the data directory::

    entity_id = "1101234567890123456"     # the Principal Entity ID
    sender = "SXRHLP"                     # the registered header
    urls = ["https://srinagar.nic.in"]    # whitelisted links (a text may carry no others)

    [[templates."logged.en"]]             # one per registered text of templates/sms/logged.en.txt
    id = "1107123456789012345"            # its DLT template ID
    text = "{#var#} Helpline: your ticket number is {#var#}. ..."

A template whose wording changes with its values (``{% if %}``, ``{% for %}``) is several texts on
DLT, one entry each (``helpline templates dlt-export`` writes them all).

``[sms] dlt`` in ``config.toml`` decides what helpline does with it:

- ``off`` (the default outside India): nothing; today's behaviour.
- ``check`` (the default for a district in ``Asia/Kolkata``): ``templates check`` matches every
  template against ``dlt.toml`` when there is one and fails on a problem (with no ``dlt.toml`` it
  only warns; a value over 30 characters fails it, naming the value); ``sms send`` sends every
  text as before and records the template ID of one that matches.
- ``enforce``: ``templates check`` fails without ``dlt.toml``; ``sms send`` cuts every value to
  30 characters before rendering a text to an Indian number and fails (``dlt-mismatch``), without
  calling the gateway, a text that matches no registered wording or carries a link not whitelisted.
"""

import json
import re
from itertools import combinations, product
from pathlib import Path

from .errors import ConfigError, HelplineError

REGISTRY_NAME = "dlt.toml"
VAR = "{#var#}"
VALUE_CHARS = 30
MODES = ("off", "check", "enforce")
INDIAN_ZONES = ("Asia/Kolkata", "Asia/Calcutta")
INDIAN_PREFIX = "+91"
MISMATCH = "dlt-mismatch"

_MARK = re.compile(r"\x01(\d+)\x1f(.*?)\x02", re.S)
_URL = re.compile(r"(?i)\b(?:https?://|www\.)[^\s\"'<>]+|\b(?:[a-z0-9-]+\.)+(?:ly|com|in|org|net|gov|co|io|me|"
                  r"link|info|app|xyz|gl|to|cc)\b(?:/[^\s\"'<>]*)?")


class DltMismatch(HelplineError):
    """A rendered text does not match its registered DLT wording (or carries a link not whitelisted)."""


def dlt_mode(config):
    """:returns: ``off``, ``check`` or ``enforce`` from ``[sms] dlt``; by default ``check`` for a
        district whose time zone is India's, else ``off``.
    :raises ConfigError: any other value."""
    sms = config.raw.get("sms", {})
    default = "check" if config.timezone_name in INDIAN_ZONES else "off"
    value = sms.get("dlt", default)
    if value not in MODES:
        raise ConfigError(f'{config.path}: sms.dlt = {value!r} is not one of "off", "check", "enforce".')
    return value


class Entry:
    """One registered text: ``template_id`` (str, '' until the district fills it) and ``text``."""

    def __init__(self, template_id, text):
        self.template_id = template_id
        self.text = text
        self.loose = pattern_regex(text, None)
        self.strict = pattern_regex(text, VALUE_CHARS)


class Registry:
    """A loaded ``dlt.toml``: ``entity_id``, ``sender``, ``urls`` and ``entries`` {"event.lang": [Entry]}."""

    def __init__(self, path, entity_id, sender, urls, entries):
        self.path, self.entity_id, self.sender, self.urls, self.entries = path, entity_id, sender, urls, entries

    def match(self, name, body, limit=True):
        """:param name: ``event.lang``. :param limit: hold each value to 30 characters, as operators do.
        :returns: the first registered ``Entry`` with an ID whose wording ``body`` matches, else None."""
        for entry in self.entries.get(name, []):
            if entry.template_id and (entry.strict if limit else entry.loose).fullmatch(body):
                return entry
        return None

    def unlisted_urls(self, body):
        """:returns: the links in ``body`` that are not on the whitelist (``urls``), in order."""
        allowed = [_bare(u) for u in self.urls]
        return [u for u in _URL.findall(body) if not any(_bare(u).startswith(a) for a in allowed if a)]


def _bare(url):
    return re.sub(r"(?i)^(https?://)?(www\.)?", "", url.strip()).lower()


def pattern_regex(text, limit=VALUE_CHARS):
    """:param text: registered wording with ``{#var#}`` placeholders.
    :param limit: most characters per value, or None for any number.
    :returns: a compiled regex a whole text must ``fullmatch``; literal text is matched exactly."""
    value = "(.{0,%d}?)" % limit if limit is not None else "(.*?)"
    return re.compile(value.join(re.escape(part) for part in text.split(VAR)), re.S)


def registry_path(data_dir):
    """:returns: the Path of the district's ``dlt.toml``."""
    return Path(data_dir) / REGISTRY_NAME


def load_registry(data_dir):
    """Read ``dlt.toml`` from the data directory.

    :returns: a ``Registry``, or None when there is no such file.
    :raises ConfigError: not valid TOML, or an entry without text, or an ID that is not digits.
    """
    import tomllib

    path = registry_path(data_dir)
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        return None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML ({error}); fix it by hand.") from None
    entity_id = str(raw.get("entity_id", "")).strip()
    if entity_id and not entity_id.isdigit():
        raise ConfigError(f"{path}: entity_id = {entity_id!r} is not the digits of a DLT entity ID.")
    urls = raw.get("urls", [])
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise ConfigError(f'{path}: urls must be a list of links, e.g. ["https://srinagar.nic.in"].')
    entries = {}
    templates = raw.get("templates", {})
    if not isinstance(templates, dict):
        raise ConfigError(f'{path}: templates must be tables like [[templates."logged.en"]].')
    for name, value in templates.items():
        for item in value if isinstance(value, list) else [value]:
            if not isinstance(item, dict) or not isinstance(item.get("text"), str) or not item["text"].strip():
                raise ConfigError(f'{path}: templates."{name}" needs text = "..." (the registered wording).')
            template_id = str(item.get("id", "")).strip()
            if template_id and not template_id.isdigit():
                raise ConfigError(f'{path}: templates."{name}" id = {template_id!r} is not the digits of a '
                                  f"DLT template ID.")
            entries.setdefault(name, []).append(Entry(template_id, item["text"]))
    return Registry(path, entity_id, str(raw.get("sender", "")).strip(), urls, entries)


def fit_values(context, limit=VALUE_CHARS):
    """:returns: a copy of ``context`` with every text value (in lists and dicts too) cut to
        ``limit`` characters, ``...`` marking a cut (``notify.cut``); numbers stay as they are."""
    from .notify import cut

    if isinstance(context, dict):
        return {k: fit_values(v, limit) for k, v in context.items()}
    if isinstance(context, list):
        return [fit_values(v, limit) for v in context]
    if isinstance(context, str) and len(context) > limit:
        return cut(context, limit)
    return context


def _marked(context, names, path=""):
    """Wrap every non-empty value in ``\\x01N\\x1f...\\x02`` and remember its name at index N."""
    if isinstance(context, dict):
        return {k: _marked(v, names, f"{path}.{k}" if path else k) for k, v in context.items()}
    if isinstance(context, list):
        return [_marked(v, names, f"{path}[{i}]") for i, v in enumerate(context)]
    if context in ("", None, 0) or isinstance(context, bool):
        return context
    names.append(path)
    return f"\x01{len(names) - 1}\x1f{context}\x02"


def pattern_of(event, lang, context, data_dir=None):
    """Render a template with its values marked and turn each value into ``{#var#}``.

    :returns: ``(text, values)``: the wording to register, and [(value name, value as sent)] in the
        order they appear. :raises TemplateError: as ``sms_templates.render``.
    """
    from .sms_templates import render

    names = []
    body = render(event, lang, _marked(context, names), data_dir=data_dir)[0]
    values = [(names[int(i)], value) for i, value in _MARK.findall(body)]
    return _MARK.sub(VAR, body), values


def _choices(event, lang, context, data_dir):
    """The values a template tests (``{% if name %}``) and the lists it loops over (``{% for %}``)."""
    from jinja2 import nodes

    from .sms_templates import environment

    env = environment(data_dir)
    tree = env.parse(env.loader.get_source(env, f"{event}.{lang}.txt")[0])
    tested = {n.name for node in tree.find_all((nodes.If, nodes.CondExpr))
              for n in [node.test, *node.test.find_all(nodes.Name)] if isinstance(n, nodes.Name)}
    loops = {node.iter.name for node in tree.find_all(nodes.For) if isinstance(node.iter, nodes.Name)}
    return (sorted(n for n in tested if n in context),
            sorted(n for n in loops if isinstance(context.get(n), list) and context[n]))


def variants(event, lang, context, data_dir=None):
    """Every wording a template can take: with each tested value present or empty, each loop over
    1 to as many items as ``context`` has.

    :param context: the longest values (``sms_templates.longest_contexts``).
    :returns: [(note, context)] for distinct wordings, the one with every value first; ``note``
        says which values are empty and how many items a loop has ('' for the first).
    :raises TemplateError: as ``sms_templates.render``.
    """
    tested, loops = _choices(event, lang, context, data_dir)
    seen, found = set(), []
    for size in range(len(tested) + 1):
        for empty in combinations(tested, size):
            trial = dict(context)
            for name in empty:
                value = context[name]
                trial[name] = [] if isinstance(value, list) else 0 if isinstance(value, int) else ""
            looped = [n for n in loops if n not in empty]
            for counts in product(*[range(len(context[n]), 0, -1) for n in looped]):
                ctx = dict(trial, **{n: context[n][:c] for n, c in zip(looped, counts)})
                text = pattern_of(event, lang, ctx, data_dir)[0]
                if text in seen:
                    continue
                seen.add(text)
                notes = [f"without {n}" for n in empty]
                notes += [f"{c} {n}" for n, c in zip(looped, counts) if c != len(context[n])]
                found.append((", ".join(notes), ctx))
    return found


def _toml(value):
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def export_registry(config, data_dir):
    """The text of a ``dlt.toml`` listing, for each template in the district's languages, every
    wording to register with ``{#var#}`` where a value goes. IDs, entity, sender and URLs already in
    the district's ``dlt.toml`` are kept where the wording is unchanged; new wordings get ``id = ""``.

    :returns: str (TOML). :raises TemplateError: a template that cannot be rendered.
    :raises ConfigError: an existing ``dlt.toml`` that cannot be read.
    """
    from .sms_templates import longest_contexts, template_names, template_source

    old = load_registry(data_dir)
    known = {(name, e.text): e.template_id for name, entries in (old.entries.items() if old else [])
             for e in entries}
    contexts = longest_contexts(config)
    lines = [f"# DLT registration of {config.district_name}'s SMS texts: register each text below on the DLT",
             "# platform (content type: service implicit), then fill in its template ID.",
             "# Each {#var#} holds one value of at most 30 characters.", "",
             f"entity_id = {_toml(old.entity_id if old else '')}   # the Principal Entity ID",
             f"sender = {_toml(old.sender if old else '')}   # the registered header, e.g. \"SXRHLP\"",
             f"urls = {_toml(old.urls if old else [])}   # whitelisted links", ""]
    for event, lang in template_names(data_dir):
        if lang not in config.languages:
            continue
        name = f"{event}.{lang}"
        for note, ctx in variants(event, lang, contexts.get(event, {}), data_dir):
            text = pattern_of(event, lang, ctx, data_dir)[0]
            lines.append(f"[[templates.{_toml(name)}]]"
                         + (f"   # {note}" if note else "")
                         + ("   # the district's own wording" if template_source(event, lang, data_dir) == "district"
                            else ""))
            lines.append(f"id = {_toml(known.get((name, text), ''))}")
            lines.append(f"text = {_toml(text)}")
            lines.append("")
    return "\n".join(lines)


def registry_status(config, data_dir):
    """The DLT registry as a whole, for ``templates check``.

    :returns: {"problems": [...], "warning": str|None}: problems (no ``dlt.toml`` under ``enforce``, no
        entity ID or sender in it) fail the check; the warning (no ``dlt.toml`` under ``check``) does not.
        Both empty under ``off``.
    :raises ConfigError: ``dlt.toml`` cannot be read, or a bad ``[sms] dlt``.
    """
    mode = dlt_mode(config)
    if mode == "off":
        return {"problems": [], "warning": None}
    registry = load_registry(data_dir)
    if registry is None:
        message = (f"no {REGISTRY_NAME} in the data directory: texts are not checked against their DLT "
                   f"registration (see 'helpline templates dlt-export')")
        if mode == "enforce":
            return {"problems": [message], "warning": None}
        return {"problems": [], "warning": message + "."}
    problems = [f"{registry.path} has no {field}" for field in ("entity_id", "sender")
                if not getattr(registry, field)]
    return {"problems": problems, "warning": None}


def check_registry(config, data_dir, contexts):
    """Match every template in the district's languages, at its longest values, against ``dlt.toml``.

    :param contexts: {event: context} as ``sms_templates.check_templates`` renders them (values
        already cut to 30 characters under ``enforce``, as ``sms send`` cuts them).
    :returns: {(event, lang): {"dlt_template_id": str|None, "problem": str|None}}; empty under ``off``
        or without a ``dlt.toml`` (``registry_status`` says so). Problems: not registered, a text that
        does not match, values over 30 characters (named), a wording (variant) not registered, a link
        not whitelisted.
    :raises ConfigError: ``dlt.toml`` cannot be read, or a bad ``[sms] dlt``.
    """
    from .sms_templates import TemplateError, render, template_names

    registry = load_registry(data_dir) if dlt_mode(config) != "off" else None
    if registry is None:
        return {}
    rows = {}
    for event, lang in template_names(data_dir):
        if lang not in config.languages:
            continue
        name = f"{event}.{lang}"
        context = contexts.get(event, {})
        try:
            body = render(event, lang, context, data_dir=data_dir)[0]
            _, values = pattern_of(event, lang, context, data_dir)
            shapes = variants(event, lang, context, data_dir)
        except TemplateError:
            continue  # the budget check reports a template that does not render
        entry, problems = registry.match(name, body), []
        if not any(e.template_id for e in registry.entries.get(name, [])):
            problems.append(f"not registered in {REGISTRY_NAME}")
        elif entry is None and registry.match(name, body, limit=False) is None:
            problems.append("does not match its registered DLT text")
        elif entry is None:
            long = [f"{n} ({len(v)} characters)" for n, v in values if len(v) > VALUE_CHARS] or [
                f"'{v[:20]}...' ({len(v)} characters)" for v in
                registry.match(name, body, limit=False).loose.fullmatch(body).groups() if len(v) > VALUE_CHARS]
            problems.append(f"values over DLT's {VALUE_CHARS} characters: {', '.join(long)} "
                            f'(with [sms] dlt = "enforce" they are cut to fit)')
        if not problems:
            for note, ctx in shapes[1:]:
                if registry.match(name, render(event, lang, ctx, data_dir=data_dir)[0], limit=False) is None:
                    problems.append(f"the text {note} is not registered")
        links = registry.unlisted_urls(body)
        if links:
            problems.append(f"link {', '.join(links)} is not in urls of {REGISTRY_NAME}")
        rows[(event, lang)] = {"dlt_template_id": entry.template_id if entry else None,
                               "problem": "; ".join(problems) or None}
    return rows


class SendPolicy:
    """What ``sms send`` does about DLT in one run: ``mode``, the ``registry`` (or None) and whether
    values are cut to 30 characters (``cuts``)."""

    def __init__(self, config, data_dir):
        self.mode = dlt_mode(config)
        self.registry = load_registry(data_dir) if self.mode != "off" else None
        self.data_dir = data_dir
        self.cuts = self.mode == "enforce"

    def render(self, record, context=None):
        """Render an outbox record as it will be sent, from ``context`` (default: the record's own).

        :returns: ``(body, encoding, segments, fields)``; ``fields`` {dlt_template_id, dlt_entity_id,
            sender} for a text to an Indian number that matches a registered wording, else {}.
        :raises DltMismatch: under ``enforce``, a text to an Indian number that matches no registered
            wording, or carries a link not whitelisted; the message starts ``dlt-mismatch:``.
        :raises TemplateError: as ``sms_templates.render``.
        """
        from .sms_templates import render

        indian = str(record["recipient"]).startswith(INDIAN_PREFIX)
        enforce = self.mode == "enforce" and indian
        context = record["context"] if context is None else context
        context = fit_values(context) if indian and self.cuts else context
        body, encoding, segments = render(record["template"], record["lang"], context, data_dir=self.data_dir)
        if self.mode == "off" or not indian:
            return body, encoding, segments, {}
        name = f"{record['template']}.{record['lang']}"
        entry = self.registry.match(name, body) if self.registry else None
        links = self.registry.unlisted_urls(body) if self.registry else []
        if enforce and (entry is None or links):
            why = (f"no {REGISTRY_NAME} in the data directory" if self.registry is None
                   else f"link {', '.join(links)} is not whitelisted" if links
                   else f"the text of {name} matches none of its registered DLT texts")
            raise DltMismatch(f"{MISMATCH}: {why}; not sent")
        if entry is None:
            return body, encoding, segments, {}
        return body, encoding, segments, {"dlt_template_id": entry.template_id,
                                          "dlt_entity_id": self.registry.entity_id,
                                          "sender": self.registry.sender or None}

    def accepts(self, template, lang, context):
        """:returns: False only when a registry exists and the text rendered from ``context`` (cut as
        ``enforce`` cuts) matches none of the registered wordings of ``template.lang``: the digest job
        uses it to list only as many tickets as a registered wording has room for."""
        from .sms_templates import render

        if self.registry is None or not self.registry.entries.get(f"{template}.{lang}"):
            return True
        if self.cuts:
            context = fit_values(context)
        body = render(template, lang, context, data_dir=self.data_dir)[0]
        return self.registry.match(f"{template}.{lang}", body) is not None
