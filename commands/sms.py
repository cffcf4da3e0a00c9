"""``helpline sms ...`` and ``helpline templates check``: the outbox and its texts."""

import os

import click

from .common import PHONE, TICKET, days_type, json_option, local_times, pass_app, print_json

STATES = click.Choice(["queued", "held", "sending", "unknown", "sent", "delivered", "undelivered", "failed",
                       "cancelled", "superseded"])


def as_of_option(f):
    return click.option("--as-of", help="ISO 8601 time this run uses as now (local time when no offset).")(f)


def run_clock(app, as_of):
    """:returns: aware UTC from ``--as-of`` (local time when it has no offset), or now."""
    from helpline_core.clock import parse_as_of

    if not as_of:
        return app.now()
    try:
        return parse_as_of(as_of, app.config.tz)
    except ValueError:
        raise click.BadParameter(f"'{as_of}' is not an ISO 8601 time.", param_hint="'--as-of'") from None


def gateway_for(app):
    from helpline_core.gateways import make_gateway

    return make_gateway(app.config, app.data_dir)


@click.group("sms")
def sms_group():
    """The outbox: send, sync delivery status, list, retry and cancel texts.

    \b
    Example:
      helpline sms send
      helpline sms list --state failed
    """


@sms_group.command("send")
@click.option("--limit", type=click.IntRange(min=1), help="Send at most this many.")
@click.option("--dry-run", is_flag=True, help="Show what would be sent; change nothing.")
@as_of_option
@pass_app
def send_cmd(app, limit, dry_run, as_of):
    """Send due messages through the configured gateway (quiet hours hold callers' texts).

    Exit code 1 when any text failed for good (refused, given up after retries, a template that
    would not render); 4 when another 'sms send' is running (this one does nothing).

    \b
    Example:
      helpline sms send --limit 100
    """
    from helpline_core.sending import send_outbox

    now = run_clock(app, as_of)
    report = send_outbox(app.store, app.config, gateway_for(app), now, limit=limit, dry_run=dry_run)
    if dry_run:
        for key, recipient, body, encoding, segments in report.would_send:
            click.echo(f"{key}  to {recipient}  {encoding} {segments} seg\n    {body}")
        from helpline_core.words import plural

        click.echo(f"Dry run: {plural(len(report.would_send), 'text')} would be sent, {len(report.held)} held for quiet hours, "
                   f"{len(report.superseded)} superseded.")
        return
    for key in report.unknown:
        click.echo(f"UNKNOWN: {key} was being sent by a run that stopped; checked with the gateway.")
    for key in report.unanswered:
        click.echo(f"UNANSWERED: {key}: the gateway did not answer in time; it is asked before any resend.")
    click.echo(f"Outbox: {report.summary()}.")
    from helpline_core.errors import RunFailed
    from helpline_core.sending import send_failure

    problem = send_failure(report)
    if problem:
        raise RunFailed(problem)


@sms_group.command("sync")
@click.option("--days", type=days_type(),
              help="Poll texts sent in the last N x 24 hours (default [sms] sync_days, 3: 72 hours).")
@click.option("--limit", type=click.IntRange(min=1),
              help="At most this many gateway calls (default [sms] sync_limit, 400), least recently checked first.")
@as_of_option
@pass_app
def sync_cmd(app, days, limit, as_of):
    """Fetch delivery status (delivered, undelivered, failed) of recently sent messages.

    Each run asks about the texts checked longest ago (never-checked first), so every text gets
    its turn; a text is not asked about after a final state or 72 hours. Exit code 1 when texts
    were found not delivered or the gateway gave no status for some.

    \b
    Example:
      helpline sms sync --days 2
    """
    from helpline_core.sending import sync_outbox

    counts = sync_outbox(app.store, app.config, gateway_for(app), run_clock(app, as_of), days=days, limit=limit)
    click.echo(", ".join(f"{v} {k}" for k, v in counts.items()) + ".")
    from helpline_core.errors import RunFailed
    from helpline_core.sending import sync_failure

    problem = sync_failure(counts)
    if problem:
        raise RunFailed(problem)


def _message_view(record, data_dir=None):
    from helpline_core.gateways import DELIVERY_CODES
    from helpline_core.sms_templates import TemplateError, gsm_context, render

    view = {k: v for k, v in record.items() if k != "_doc_id"}
    if view.get("body") is None and view["state"] in ("queued", "held", "unknown"):
        try:
            values, view["dropped"] = gsm_context(view["lang"], view["context"])  # as sms send will
            view["body"], view["encoding"], view["segments"] = render(view["template"], view["lang"], values,
                                                                      data_dir=data_dir)
            view["dropped"] = view["dropped"] or None
        except TemplateError as error:
            view["render_error"] = str(error)
    if view.get("error_code") in DELIVERY_CODES and not view.get("error"):
        view["error"] = DELIVERY_CODES[view["error_code"]]
    return view


@sms_group.command("list")
@click.option("--state", "states", multiple=True, type=STATES, help="Repeatable.")
@click.option("--ticket", "ticket_id", type=TICKET, help="Only this ticket's messages.")
@click.option("--days", type=days_type(), default=7, show_default=True, help="How far back to look.")
@json_option
@pass_app
def list_cmd(app, states, ticket_id, days, as_json):
    """List messages waiting in the outbox and those of the last few days, newest first, each with
    the local time it was queued.

    \b
    Example:
      helpline sms list --state held --state failed
    """
    from helpline_core.ids import format_id, parse_id
    from helpline_core.outbox import list_messages

    if ticket_id:
        ticket_id = format_id(app.config.district_code, parse_id(ticket_id, app.config.district_code))
    records = [_message_view(r, app.data_dir) for r in list_messages(app.store, app.config, app.now(), states=states,
                                                         ticket_id=ticket_id, days=days)]
    if as_json:
        print_json(local_times(records, app.config.tz))
        return
    if not records:
        click.echo("No messages.")
    from helpline_core.clock import local_text

    for r in records:  # the time it was queued, in the district's time
        cost = f"{r.get('encoding') or '-'} {r.get('segments') or '-'} seg"
        notes = [note for note in _notes(r) if note]
        click.echo(f"{r['state']:<11} {local_text(r['created_at'], app.config.tz)}  {r['key']}  {cost}"
                   f"{''.join('  ' + note for note in notes)}")


def _notes(record):
    """:returns: the short remarks ``sms list`` prints after a message: why it was superseded, its
    cost over budget, characters left out, its error."""
    return [record.get("superseded"),
            f"over budget: {record['segments']} segments > {record['over_budget']}" if record.get("over_budget") else None,
            f"dropped: {record['dropped']}" if record.get("dropped") else None,
            record.get("error")]


@sms_group.command("show")
@click.argument("key")
@json_option
@pass_app
def show_cmd(app, key, as_json):
    """Show one message: its text, state, attempts and errors.

    \b
    Example:
      helpline sms show "SXR-10003:logged:0:+919876543210"
    """
    from helpline_core.outbox import find_message

    from helpline_core.clock import local_text

    record = _message_view(find_message(app.store, key)[0], app.data_dir)
    if as_json:
        print_json(local_times(record, app.config.tz))
        return
    for field in ("key", "state", "recipient", "template", "lang", "encoding", "segments", "attempts", "created_at",
                  "last_attempt_at", "next_attempt_at", "sent_at", "checked_at", "gateway", "gateway_id", "error_code",
                  "error", "superseded", "over_budget", "dropped", "render_error"):
        if record.get(field) not in (None, ""):
            value = local_text(record[field], app.config.tz, offset=True) if field.endswith("_at") else record[field]
            click.echo(f"{field:<16} {value}")
    if record.get("body"):
        click.echo(f"text\n  {record['body']}")


@sms_group.command("retry")
@click.argument("key")
@pass_app
def retry_cmd(app, key):
    """Queue a failed, undelivered, cancelled or unknown message again.

    \b
    Example:
      helpline sms retry "SXR-10003:logged:0:+919876543210"
    """
    from helpline_core.outbox import retry_message

    record = retry_message(app.store, app.config, key, app.now())
    click.echo(f"{record['key']} queued again.")


@sms_group.command("cancel")
@click.argument("key_or_ticket", metavar="KEY|TICKET")
@pass_app
def cancel_cmd(app, key_or_ticket):
    """Cancel a message that has not been sent, or all the waiting messages of a ticket.

    \b
    Example:
      helpline sms cancel "SXR-10003:logged:0:+919876543210"
      helpline sms cancel SXR-10003
    """
    from helpline_core.outbox import cancel_message, cancel_ticket_messages

    if ":" in key_or_ticket:  # message keys always have colons; ticket IDs never
        record = cancel_message(app.store, app.config, key_or_ticket, app.now())
        click.echo(f"{record['key']} cancelled.")
        return
    from helpline_core.ids import format_id, parse_id

    ticket_id = format_id(app.config.district_code, parse_id(key_or_ticket, app.config.district_code))
    records = cancel_ticket_messages(app.store, app.config, ticket_id, app.now())
    for record in records:
        click.echo(f"{record['key']} cancelled.")
    from helpline_core.words import plural

    click.echo(f"{plural(len(records), 'waiting message')} of {ticket_id} cancelled.")


@sms_group.command("opt-in")
@click.argument("phone", type=PHONE)
@click.option("--note", help="Who asked for texts again, and how (required; kept in the number's history).")
@pass_app
def opt_in_cmd(app, phone, note):
    """Lift an opt-out (or a refused number) when the person asks by phone to get texts again.

    Twilio cannot receive replies from Indian numbers, so this is taken by phone. Texts queued
    after this reach the number; tickets and officers with it no longer show it blocked.

    \b
    Example:
      helpline sms opt-in 09876543210 --note "caller asked on 30 Nov to get updates again"
    """
    from helpline_core.numbers import opt_in

    from .common import need

    note = need(note, "--note", "Note")
    with app.store.transaction() as db:
        lifted = opt_in(db, phone, note=note, actor=app.actor, now=app.now())
    click.echo(f"{phone} can receive texts again (was: {lifted}).")


@sms_group.command("test")
@click.argument("phone", type=PHONE)
@click.option("--lang", type=click.Choice(["en", "hi", "ur"]), default="en", show_default=True,
              help="Language of the test text.")
@pass_app
def test_cmd(app, phone, lang):
    """Send one test text now through the configured gateway (quiet hours do not apply).

    \b
    Example:
      helpline sms test 09419000101
    """
    from helpline_core.clock import to_iso
    from helpline_core.outbox import queue_message
    from helpline_core.sending import send_outbox

    now = app.now()
    key = f"test:{to_iso(now)}:{os.getpid()}:{phone}"
    with app.store.transaction() as db:
        queue_message(db, now, key=key, recipient=phone, audience="operator", template="test", lang=lang,
                      context={"district": app.config.district_name})
    from helpline_core.errors import JobBusy
    from helpline_core.outbox import cancel_message

    try:
        report = send_outbox(app.store, app.config, gateway_for(app), now, only_key=key)
    except JobBusy:
        cancel_message(app.store, app.config, key, now, reason="not sent: another sms send was running")
        raise
    if report.sent:
        click.echo(f"Test text sent to {phone} ({key}).")
    else:
        from helpline_core.errors import HelplineError
        from helpline_core.outbox import find_message

        record = find_message(app.store, key)[0]
        raise HelplineError(f"test text to {phone} not sent: {record['state']}: {record.get('error')}")


@click.group("templates")
def templates_group():
    """The SMS templates under templates/sms/ (and the district's own in its data directory).

    \b
    Example:
      helpline templates check
    """


@templates_group.command("check")
@json_option
@pass_app
def templates_check_cmd(app, as_json):
    """Render every template with the longest realistic values; exit 1 if one is over budget,
    or does not match its DLT registration.

    Budgets are segments, from [sms.budgets] in config.toml (defaults: caller texts 1 in English,
    2 in Hindi and Urdu; officer texts 3). An English text that falls into UCS-2 (a curly quote,
    an emoji) is a failure too. The district's own templates in templates/sms/ in the data
    directory are checked instead of the shipped ones they replace.

    Unless [sms] dlt = "off", every template is matched against dlt.toml in the data directory:
    a text that is not registered, does not match its registered wording, has a value over 30
    characters or a link not whitelisted fails.

    \b
    Example:
      helpline templates check
    """
    from helpline_core.dlt import registry_status
    from helpline_core.errors import HelplineError
    from helpline_core.sms_templates import check_templates

    rows = check_templates(app.config, app.data_dir)
    status = registry_status(app.config, app.data_dir)
    if as_json:
        print_json(rows)
    else:
        click.echo(f"{'template':<17} {'lang':<4} {'encoding':<8} {'chars':>5} {'segments':>8} {'budget':>6}  result")
        for r in rows:
            own = " (district's own)" if r["source"] == "district" else ""
            click.echo(f"{r['template']:<17} {r['lang']:<4} {r['encoding']:<8} {r['characters']:>5} {r['segments']:>8} "
                       f"{r['budget']:>6}  {r['problem'] or 'ok'}{own}")
    if status["warning"]:
        click.echo(f"Warning: {status['warning']}", err=True)
    bad = [r for r in rows if r["problem"]]
    if bad or status["problems"]:
        from helpline_core.words import plural

        raise HelplineError(f"{plural(len(bad), 'template')} over budget, broken or not as registered on DLT: "
                            + "; ".join(status["problems"] + [f"{r['template']}.{r['lang']}: {r['problem']}"
                                                              for r in bad]))


@templates_group.command("dlt-export")
@click.option("--out", type=click.Path(dir_okay=False, writable=True),
              help="Write to this file (e.g. dlt.toml in the data directory) instead of printing.")
@pass_app
def templates_dlt_export_cmd(app, out):
    """Print, for each template in the district's languages, the text to register on DLT: the
    template with each value turned into {#var#}, one text per wording it can take.

    The output is a dlt.toml to fill in: the entity ID, the sender header and, for each text, the
    template ID DLT gives it. IDs already in the district's dlt.toml are kept where the text is
    unchanged.

    \b
    Example:
      helpline templates dlt-export --out "$HELPLINE_DATA_DIR/dlt.toml"
    """
    from pathlib import Path

    from helpline_core.dlt import export_registry
    from helpline_core.store import atomic_write

    text = export_registry(app.config, app.data_dir)
    if out:
        try:
            atomic_write(Path(out), text.encode("utf-8"))
        except OSError as error:
            from helpline_core.errors import HelplineError

            raise HelplineError(f"cannot write {out}: {error.strerror}.") from None
        click.echo(f"DLT texts written to {out}: register each, then fill in its id.")
    else:
        click.echo(text, nl=False)
