"""What every command shares: the context object, parameter types, output helpers."""

import os
import sys
from functools import cached_property

import click


class App:
    """Global options, parsed once in the root callback (click's ``ctx.obj``).

    ``config`` and ``store`` are opened on first use, so ``--help`` and ``init`` need neither.
    """

    def __init__(self, data_dir, actor):
        from helpline_core.names import clean_text

        self.data_dir = data_dir
        self.actor = clean_text(actor) or "operator"

    @cached_property
    def config(self):
        from helpline_core.config import load_config

        return load_config(self.data_dir)

    @cached_property
    def store(self):
        from helpline_core.store import Store

        return Store(self.data_dir, self.config.lock_timeout_seconds)

    def now(self):
        from helpline_core.clock import utcnow

        return utcnow()


pass_app = click.make_pass_decorator(App)


def default_actor():
    """:returns: ``$HELPLINE_OPERATOR`` or the OS user name (``operator`` when there is none)."""
    import getpass  # imported here: --help need not pay for it

    try:
        return os.environ.get("HELPLINE_OPERATOR") or getpass.getuser()
    except (KeyError, OSError):
        return "operator"


class TicketIdType(click.ParamType):
    """A ticket ID as a caller reads it; shape and check digit are checked here (exit 2)."""

    name = "TICKET"

    def convert(self, value, param, ctx):
        import re

        from helpline_core.ids import is_valid_number

        compact = re.sub(r"[\s\-_./]", "", str(value)).upper()
        digits = compact.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        if not re.fullmatch(r"[0-9]{2,12}", digits):
            self.fail(f"'{value}' is not a ticket ID (like SXR-10429).", param, ctx)
        if not is_valid_number(digits):
            self.fail(f"'{value}' has a wrong check digit: the ID was probably mistyped.", param, ctx)
        return compact


class PhoneType(click.ParamType):
    """A phone number in any usual Indian form, converted to E.164 (exit 2 when invalid)."""

    name = "PHONE"

    def convert(self, value, param, ctx):
        from helpline_core.errors import InvalidValue
        from helpline_core.phones import parse_phone

        try:
            return parse_phone(value)[0]
        except InvalidValue as e:
            self.fail(str(e), param, ctx)


class LocalDateType(click.DateTime):
    """A local date ``YYYY-MM-DD`` (``--from``, ``--to``, ``--date``, ``--since``, ``--until``) in
    the years ``clock.FIRST_YEAR`` to ``clock.LAST_YEAR``; :returns: a naive datetime at midnight."""

    def __init__(self):
        super().__init__(["%Y-%m-%d"])

    def convert(self, value, param, ctx):
        from helpline_core.clock import FIRST_YEAR, LAST_YEAR

        day = super().convert(value, param, ctx)
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            self.fail(f"'{value}' is not a date from {FIRST_YEAR} to {LAST_YEAR}.", param, ctx)
        return day


def days_type():
    """:returns: the type of a number of days typed (``--days``, ``--older-than``): 1 to
    ``clock.MAX_DAYS``."""
    from helpline_core.clock import MAX_DAYS

    return click.IntRange(1, MAX_DAYS)


TICKET = TicketIdType()
PHONE = PhoneType()
DATE = LocalDateType()


def _terminal():
    return sys.stdin is not None and not sys.stdin.closed and sys.stdin.isatty()


def need(value, option, prompt, check=None, param_type=None):
    """Return ``value``, or prompt for it on a terminal; with no terminal fail as a usage error.

    :param check: a function that raises ``HelplineError`` for a bad answer; the prompt asks again.
    :param param_type: a click type the answer is converted with (asks again when it fails).
    """
    if param_type is not None and value in (None, ""):
        if not _terminal():
            raise click.UsageError(f"Missing option '{option}' (no terminal to ask on).")
        return click.prompt(prompt, type=param_type)
    if value not in (None, ""):
        return value
    if not _terminal():
        raise click.UsageError(f"Missing option '{option}' (no terminal to ask on).")

    def proc(answer):
        from helpline_core.errors import HelplineError

        from .encoding import check_arguments

        refused = check_arguments([answer], getattr(sys.stdin, "encoding", None))
        if refused:  # typed text the terminal's locale garbled: ask again rather than store mojibake
            raise click.UsageError(refused)
        if check is None:
            return answer
        try:
            check(answer)
        except HelplineError as e:
            raise click.UsageError(str(e))
        return answer

    return click.prompt(prompt, value_proc=proc)


def terminal():
    """:returns: True when standard input is a terminal an operator can answer on."""
    return _terminal()


def choose_area(cfg, text):
    """The canonical area for typed ``text`` (``Config.area``); when it is the name of two or more
    areas (a config written before ``init`` refused that), ask which one at a terminal.

    :raises AmbiguousName: with no terminal: one line listing the areas it could mean.
    :raises NotFound: an unknown area, with a suggestion.
    """
    from helpline_core.errors import AmbiguousName

    try:
        return cfg.area(text)
    except AmbiguousName as error:
        if not _terminal():
            raise
        choices = error.candidates
    click.echo(f"'{text}' is the name of {len(choices)} areas:")
    for number, name in enumerate(choices, 1):
        click.echo(f"  {number}  {name}")
    picked = click.prompt(f"Which one (1-{len(choices)})", type=click.IntRange(1, len(choices)))
    return choices[picked - 1]


def area_check(cfg):
    """:returns: a ``need`` check that refuses an unknown area but lets an ambiguous one through
    (``choose_area`` asks about it next)."""
    from helpline_core.errors import AmbiguousName

    def check(text):
        try:
            cfg.area(text)
        except AmbiguousName:
            pass

    return check


def ask(prompt, default, check=None):
    """On a terminal, ask with ``default`` offered (Enter takes it); with no terminal return
    ``default`` at once, never waiting.

    :param check: a function that returns the value to use or raises ``HelplineError`` for a bad
        answer; the prompt then asks again.
    """
    if not _terminal():
        return default

    def proc(answer):
        from helpline_core.errors import HelplineError

        if check is None:
            return answer
        try:
            return check(answer)
        except HelplineError as e:
            raise click.UsageError(str(e))

    return click.prompt(prompt, default=default, value_proc=proc)


def refuse_together(*options):
    """Refuse options that exclude each other, rather than silently follow one of them.

    :param options: ``(name as typed, value)`` pairs, e.g. ``("--json", as_json), ("--csv", as_csv)``;
        an option counts as given when its value is neither None, False nor empty.
    :raises click.UsageError: (exit 2, one line) when more than one was given.
    """
    given = [name for name, value in options if value not in (None, False, "", ())]
    if len(given) == 2:
        raise click.UsageError(f"give either {given[0]} or {given[1]}, not both.")
    if len(given) > 2:
        raise click.UsageError(f"give only one of {', '.join(given[:-1])} and {given[-1]}.")


def local_times(value, tz, key=None):
    """Stored UTC times (keys ``since``, ``now``, ``at`` and ``*_at``) in the district's zone, as
    every other ``--json`` prints them."""
    from helpline_core.clock import local_iso

    if isinstance(value, dict):
        return {k: local_times(v, tz, k) for k, v in value.items()}
    if isinstance(value, list):
        return [local_times(v, tz) for v in value]
    if isinstance(value, str) and key and (key in ("since", "now", "at") or key.endswith("_at")):
        try:
            return local_iso(value, tz)
        except ValueError:  # not a stored time after all: shown as it is
            return value
    return value


def print_json(data):
    import json

    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def json_option(f):
    return click.option("--json", "as_json", is_flag=True, help="Print records as JSON.")(f)


def ticket_argument(extra=None, required=True):
    """Positional ticket ID that forgives a space after the prefix (``helpline show sxr 10427``).

    :param extra: the name of one optional positional that may follow (e.g. ``officer``).
    :param required: False lets the ID be left out; the command then gets ``ticket_id=None``.
    The command receives ``ticket_id`` (checked by ``TICKET``) and, with ``extra``, that name.
    """
    import functools

    metavar = "TICKET" + (f" [{extra.upper()}]" if extra else "")
    def decorate(f):
        @click.argument("ticket_words", nargs=-1, required=required, metavar=metavar if required else f"[{metavar}]")
        @functools.wraps(f)
        def wrapper(*args, ticket_words, **kwargs):
            words = list(ticket_words)
            if not words:
                kwargs["ticket_id"] = None
                if extra:
                    kwargs[extra] = None
                return f(*args, **kwargs)
            if len(words) > 1 and words[0].isalpha() and words[1][:1].isdigit():
                words[:2] = [words[0] + words[1]]
            allowed = 2 if extra else 1
            if len(words) > allowed:
                raise click.UsageError(f"unexpected extra argument: {' '.join(words[allowed:])}")
            try:
                kwargs["ticket_id"] = TICKET.convert(words[0], None, click.get_current_context())
            except click.BadParameter as error:
                error.param_hint = "'TICKET'"
                raise
            if extra:
                kwargs[extra] = words[1] if len(words) > 1 else None
            return f(*args, **kwargs)

        return wrapper

    return decorate
