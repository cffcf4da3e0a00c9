"""The operator's everyday verbs: log, assign, unassign, resolve, verify, reopen, reject, note,
show, find, list."""

import sys

import click

from .common import (DATE, PHONE, TICKET, json_option, local_times, need, pass_app, print_json, refuse_together,
                     ticket_argument)


def _record(app, ticket, now, with_history=True):
    from helpline_core.records import ticket_record

    return ticket_record(ticket, app.config.tz, now, with_history)


def _done(app, ticket, now, as_json, message):
    if as_json:
        print_json(_record(app, ticket, now))
    else:
        click.echo(message)


def _need_words(answer):
    """:returns: the answer stripped. :raises InvalidValue: an empty answer (asked again)."""
    from helpline_core.errors import InvalidValue

    if not answer.strip():
        raise InvalidValue("say in a few words what the caller needs.")
    return answer.strip()


def _ask_phone():
    """The caller's number at a terminal; ``-`` for a caller with no number (withheld)."""
    def proc(answer):
        answer = answer.strip()
        return None if answer in ("-", "none", "withheld") else PHONE.convert(answer, None, None)

    return click.prompt("Caller's phone (- if withheld)", value_proc=proc)


@click.command("log")
@click.option("--phone", type=PHONE, help="Caller's number, any usual form (0987..., +91 ..., 0091 ...).")
@click.option("--no-phone", is_flag=True,
              help="The caller's number is withheld or unknown: the ticket is never texted or matched as a follow-up.")
@click.option("--area", help="Caller's area (alternative spellings are accepted).")
@click.option("--category", help="ration, medicine, doctor, counselling, other (as configured).")
@click.option("--name", "caller_name", help="Caller's name.")
@click.option("--lang", "language", help="Language of the caller's texts: en, hi, ur (asked at a terminal; default en).")
@click.option("--description", help="What the caller needs, in their words.")
@click.option("--new", "force_new", is_flag=True, help="Open a new ticket even if the caller has one open in this category.")
@click.option("--callback", "callback_ticket", type=TICKET,
              help="Record that a callback the caller asked for on the voice menu was returned (see 'helpline callbacks').")
@json_option
@pass_app
def log_cmd(app, phone, no_phone, area, category, caller_name, language, description, force_new, callback_ticket,
            as_json):
    """Log a call: open a ticket and read its ID to the caller.

    A second call from the same number in the same category while a ticket is still open
    is added to that ticket (the caller keeps one ID), unless --new is given; on a resolved
    ticket it reopens it to its officer (the caller says it is not solved). The ticket is
    routed to the active officer for the area and category with the fewest open tickets.

    At a terminal, missing fields are asked for, the language too (the district's languages
    are listed; Enter takes en), and a follow-up call that gives another area than the open
    ticket's asks whether to add the call to that ticket or open a new one. With no terminal
    nothing is asked: the language is en, and such a call is added to the open ticket (which
    keeps its area), with a line saying so and the call's area kept in the history.

    \b
    Example:
      helpline log --phone 09876543210 --area Khanyar --category ration \\
          --name "Ghulam Nabi" --lang ur --description "No ration for 5 people"
      helpline log --no-phone --area Khanyar --category doctor --description "fever, no phone"
      helpline log --callback SXR-10429 --description "called back"
    """
    from helpline_core import tickets
    from helpline_core.errors import NotFound

    from .common import area_check, ask, choose_area, terminal

    cfg = app.config
    if callback_ticket:
        if phone or no_phone or area or category or caller_name or force_new:
            raise click.UsageError("--callback records a returned call on an existing ticket; it takes only "
                                   "--description (and --json).")
        return _callback_returned(app, callback_ticket, description, as_json)
    refuse_together(("--phone", phone), ("--no-phone", no_phone))
    if not cfg.categories:  # a district set up with its own areas and no --categories: say so before asking
        raise NotFound(cfg.no_categories_message())
    if not no_phone and phone is None:
        if not terminal():
            raise click.UsageError("Missing option '--phone' (no terminal to ask on; "
                                   "--no-phone for a caller with no number).")
        phone = _ask_phone()
    area = choose_area(cfg, need(area, "--area", "Area", check=area_check(cfg)))
    category = need(category, "--category", f"Category ({', '.join(cfg.categories)})", check=cfg.category)
    category = cfg.category(category)
    target = None
    if phone and not force_new and terminal():  # a short read under the lock; the questions come after it
        with app.store.ticket_transaction() as db:
            target = tickets.followup_target(db, cfg, phone, category)
        if target and target["area"] != area and not click.confirm(
                f"{target['id']} is open for this caller in {target['area']}, this call says {area}. "
                f"Add the call to {target['id']}? (no: open a new ticket)", default=True):
            force_new, target = True, None
    if language is None:
        default = "en" if "en" in cfg.languages else cfg.languages[0]
        language = default if target else ask(f"Language ({', '.join(cfg.languages)})", default, check=cfg.language)
    if terminal():  # what the officer needs to act on; a script gives --name/--description or goes without
        if target:
            if description is None:
                description = click.prompt("What the caller says now (Enter: nothing new)", default="",
                                           show_default=False).strip() or None
        else:
            if caller_name is None:
                caller_name = click.prompt("Caller's name (Enter: not given)", default="",
                                           show_default=False).strip() or None
            if description is None:
                description = ask("What the caller needs", None, check=_need_words)
    now = app.now()
    with app.store.ticket_transaction() as db:
        ticket, followup = tickets.log_call(
            db, cfg, app.store, phone=phone, area=area, category=category, actor=app.actor, now=now,
            caller_name=caller_name, language=language, description=description, force_new=force_new)
    if as_json:
        record = _record(app, ticket, now)
        record["followup"] = followup
        print_json(record)
        return
    spoken = " ".join(ticket["id"].replace("-", ""))
    if followup and ticket["history"][-1]["type"] == "reopen":  # a call on a resolved ticket
        click.echo(f"Follow-up call on resolved ticket {ticket['id']}: reopened ({ticket['status']}, "
                   f"call {ticket['calls']}). Tell the caller it is back with the officer.")
    elif followup:
        click.echo(f"Follow-up call added to ticket {ticket['id']} ({ticket['status']}, call {ticket['calls']}).")
    else:
        click.echo(f"Ticket {ticket['id']}   (read out: {spoken})")
        if ticket.get("follows"):
            click.echo(f"  follows the caller's earlier ticket {ticket['follows']} (final)")
    if followup and ticket["area"] != area:
        click.echo(f"  note: the caller gave area {area}; {ticket['id']} stays in {ticket['area']} "
                   f"(for a separate ticket, log the call again with --new)")
    if ticket["officer"]:
        click.echo(f"  assigned to {ticket['officer']}")
    elif followup:
        click.echo(f"  not assigned yet: helpline assign {ticket['id']}")
    else:
        click.echo(f"  not assigned: no active officer covers {ticket['area']} / {ticket['category']}")
    from helpline_core.numbers import no_texts_reason

    no_texts = no_texts_reason(ticket)
    if no_texts:
        click.echo(f"  {no_texts}")
    if not ticket["phone"]:
        click.echo("  read the ticket ID out twice: the caller gets it by no SMS")


def _callback_returned(app, ticket_id, description, as_json):
    from helpline_core.callbacks import mark_returned

    now = app.now()
    with app.store.ticket_transaction() as db:
        ticket = mark_returned(db, app.config, ticket_id, actor=app.actor, now=now, note=description)
    _done(app, ticket, now, as_json, f"Callback on {ticket['id']} recorded as returned.")


@click.command("assign")
@ticket_argument(extra="officer")
@json_option
@pass_app
def assign_cmd(app, ticket_id, officer, as_json):
    """Assign a ticket to OFFICER, or route it automatically when no officer is named.

    OFFICER may be of any role: a verifier or supervisor can be given a ticket by name
    (automatic routing picks only officers). Whoever has no phone on the roster gets no text,
    and the command says so; the caller's text then gives the helpline's number.

    \b
    Example:
      helpline assign SXR-10429 rafiq
    """
    from helpline_core import tickets
    from helpline_core.notify import officer_no_text_reason
    from helpline_core.routing import get_officer

    now = app.now()
    with app.store.ticket_transaction() as db:
        ticket = tickets.assign(db, app.config, ticket_id, officer, actor=app.actor, now=now)
        no_text = officer_no_text_reason(db, get_officer(db, ticket["officer"]))
    message = f"{ticket['id']} assigned to {ticket['officer']}."
    if no_text:
        message += f"\n  no text to {ticket['officer']} ({no_text}): tell them another way"
    _done(app, ticket, now, as_json, message)


@click.command("unassign")
@ticket_argument()
@click.option("--note", help="Why.")
@json_option
@pass_app
def unassign_cmd(app, ticket_id, note, as_json):
    """Take a ticket back from its officer (it becomes open).

    \b
    Example:
      helpline unassign SXR-10429 --note "officer on leave"
    """
    from helpline_core import tickets

    now = app.now()
    with app.store.ticket_transaction() as db:
        ticket = tickets.unassign(db, app.config, ticket_id, actor=app.actor, now=now, note=note)
    _done(app, ticket, now, as_json, f"{ticket['id']} is open again (unassigned).")


@click.command("resolve")
@ticket_argument()
@click.option("--note", help="What was done (required).")
@click.option("--by", help="Officer who resolved it (default: the assigned officer).")
@json_option
@pass_app
def resolve_cmd(app, ticket_id, note, by, as_json):
    """Record that the officer solved the ticket; it then waits for verification.

    \b
    Example:
      helpline resolve SXR-10429 --note "Ration kit delivered"
    """
    from helpline_core import tickets

    note = need(note, "--note", "Resolution note")
    now = app.now()
    with app.store.ticket_transaction() as db:
        ticket = tickets.resolve(db, app.config, ticket_id, note=note, by=by, actor=app.actor, now=now)
    _done(app, ticket, now, as_json, f"{ticket['id']} resolved by {ticket['resolved_by']}; awaiting verification.")


@click.command("verify")
@ticket_argument(required=False)
@click.option("--confirmed", is_flag=True, help="The caller confirms it is solved: close it.")
@click.option("--not-solved", is_flag=True, help="The caller says it is not solved: reopen it.")
@click.option("--not-reached", is_flag=True,
              help="The caller did not answer: it stays on the list; after [verification] max_attempts "
                   "(default 3) the supervisor's digest lists it.")
@click.option("--note", help="What the caller said.")
@click.option("--by", help="The verifier (default: --as); never the officer who resolved it.")
@click.option("--from-list", "from_list", type=click.Path(dir_okay=False),
              help="Load a night's filled-in verification list (CSV) instead of one ticket.")
@click.option("--dry-run", is_flag=True, help="With --from-list: check every row, change nothing.")
@click.option("--rejects", "rejects_file", type=click.Path(dir_okay=False),
              help="With --from-list: where to write the rejected rows "
                   "(default: verification/<file>-<time>-rejects.csv in the data directory).")
@json_option
@pass_app
def verify_cmd(app, ticket_id, confirmed, not_solved, not_reached, note, by, from_list, dry_run, rejects_file,
               as_json):
    """Record the cross-check with the caller of a resolved ticket, or load a whole list.

    With --from-list, each row of the nightly list (verification/YYYY-MM-DD.csv, filled in
    in a spreadsheet and saved as CSV) is recorded: its outcome column says confirmed, not
    solved or not reached (an empty one is skipped), its verifier column who called. Rows
    that cannot be recorded go to a rejects file with the reason, to fix and load again;
    loading the same list twice records nothing twice.

    \b
    Example:
      helpline --as nusrat verify SXR-10429 --confirmed
      helpline verify SXR-10429 --not-solved --note "kit never arrived"
      helpline verify SXR-10429 --not-reached --note "phone switched off"
      helpline verify --from-list verification/2026-11-30.csv --dry-run
    """
    if from_list:
        if ticket_id or confirmed or not_solved or not_reached or note or by:
            raise click.UsageError("--from-list takes the outcomes from the file: give no TICKET, outcome, "
                                   "--note or --by with it.")
        _verify_list(app, from_list, dry_run, rejects_file, as_json)
        return
    from helpline_core import tickets

    if dry_run or rejects_file:
        raise click.UsageError("--dry-run and --rejects go with --from-list.")
    if ticket_id is None:
        raise click.UsageError("Missing argument 'TICKET' (or --from-list FILE.csv).")
    if confirmed + not_solved + not_reached != 1:
        raise click.UsageError("say one of --confirmed, --not-solved or --not-reached.")
    now = app.now()
    with app.store.ticket_transaction() as db:
        if not_reached:
            ticket = tickets.verification_not_reached(db, app.config, ticket_id, note=note, by=by, actor=app.actor,
                                                      now=now)
        else:
            ticket = tickets.verify(db, app.config, ticket_id, confirmed=confirmed, note=note, by=by,
                                    actor=app.actor, now=now)
    if not_reached:
        from helpline_core.verification import max_attempts

        count, limit = tickets.not_reached_count(ticket), max_attempts(app.config)
        message = f"{ticket['id']} stays on the verification list (caller not reached {count} of {limit} times)."
        if count >= limit:
            message += "\n  the supervisor's morning digest lists it from now on"
    elif ticket["status"] == "closed":
        message = f"{ticket['id']} closed (confirmed by caller)."
    else:
        message = f"{ticket['id']} reopened ({ticket['status']}{', ' + ticket['officer'] if ticket['officer'] else ''})."
    _done(app, ticket, now, as_json, message)


def _verify_list(app, path, dry_run, rejects_file, as_json):
    from helpline_core.importer import write_rejects
    from helpline_core.verification_results import default_rejects_path, load_results

    now = app.now()
    result = load_results(app.store, app.config, path, actor=app.actor, now=now, dry_run=dry_run)
    written = None
    if result.rejects and (rejects_file or not dry_run):
        written = write_rejects(rejects_file or default_rejects_path(app.store, path, now), result)
    if as_json:
        print_json(dict(result.as_dict(), rejects_file=str(written) if written else None))
        return
    from helpline_core.words import plural

    counts = result.as_dict()
    line = (f"confirmed {counts['confirmed']} (closed), not solved {counts['not_solved']} (reopened), "
            f"not reached {counts['not_reached']}, no outcome {counts['no_outcome']}, "
            f"rejected {counts['rejected']}, of {plural(result.rows, 'row')} in {result.file}")
    if dry_run:
        click.echo(f"Dry run: would record {line}. Nothing was changed.")
    else:
        click.echo(f"Recorded {line}.")
    for number, reason, _ in result.rejects[:10]:
        click.echo(f"  row {number}: {reason}")
    if len(result.rejects) > 10:
        click.echo(f"  ... and {len(result.rejects) - 10} more")
    if written:
        click.echo(f"  rejected rows with their reasons: {written}")
    elif result.rejects:
        click.echo("  (add --rejects FILE to get the rejected rows with their reasons)")


@click.command("reopen")
@ticket_argument()
@click.option("--note", help="Why it is reopened (required).")
@json_option
@pass_app
def reopen_cmd(app, ticket_id, note, as_json):
    """Send a resolved ticket back to its officer; the SLA starts again.

    \b
    Example:
      helpline reopen SXR-10429 --note "caller called back: medicine was wrong"
    """
    from helpline_core import tickets

    note = need(note, "--note", "Why reopen")
    now = app.now()
    with app.store.ticket_transaction() as db:
        ticket = tickets.reopen(db, app.config, ticket_id, note=note, actor=app.actor, now=now)
    _done(app, ticket, now, as_json, f"{ticket['id']} reopened ({ticket['status']}).")


@click.command("reject")
@ticket_argument()
@click.option("--reason", help="Duplicate, out of scope, prank... (required).")
@click.option("--duplicate-of", type=TICKET, help="The ticket this one repeats.")
@json_option
@pass_app
def reject_cmd(app, ticket_id, reason, duplicate_of, as_json):
    """Reject an open or assigned ticket (final).

    \b
    Example:
      helpline reject SXR-10434 --reason duplicate --duplicate-of SXR-10429
    """
    from helpline_core import tickets

    reason = need(reason, "--reason", "Reason")
    now = app.now()
    with app.store.ticket_transaction() as db:
        ticket = tickets.reject(db, app.config, app.store, ticket_id, reason=reason, duplicate_of=duplicate_of,
                                actor=app.actor, now=now)
    _done(app, ticket, now, as_json, f"{ticket['id']} rejected.")


@click.command("note")
@ticket_argument(extra="text")
@click.option("--text", "text_option", help="The note, as an option instead of after the ID.")
@json_option
@pass_app
def note_cmd(app, ticket_id, text, text_option, as_json):
    """Add a note to a ticket's history.

    \b
    Example:
      helpline note SXR-10429 "caller's son will collect"
    """
    from helpline_core import tickets

    refuse_together(("TEXT", text), ("--text", text_option))
    text = need(text or text_option, "TEXT", "Note")
    now = app.now()
    with app.store.ticket_transaction() as db:
        ticket = tickets.add_note(db, app.config, ticket_id, text, actor=app.actor, now=now)
    _done(app, ticket, now, as_json, f"Note added to {ticket['id']}.")


@click.command("edit")
@ticket_argument()
@click.option("--phone", type=PHONE, required=True, help="The caller's correct number, any usual form.")
@click.option("--note", help="Why (kept in the history).")
@json_option
@pass_app
def edit_cmd(app, ticket_id, phone, note, as_json):
    """Correct a ticket's phone number; says at once if the new number will get no texts.

    Caller texts still waiting for the old number are cancelled; later ones go to the new number.

    \b
    Example:
      helpline edit SXR-10429 --phone 09876543211 --note "caller gave his son's number"
    """
    from helpline_core import tickets
    from helpline_core.numbers import no_texts_reason

    now = app.now()
    with app.store.ticket_transaction() as db:
        ticket = tickets.edit_phone(db, app.config, app.store, ticket_id, phone, actor=app.actor, now=now, note=note)
    if as_json:
        print_json(_record(app, ticket, now))
        return
    click.echo(f"{ticket['id']}: phone is now {ticket['phone']}.")
    no_texts = no_texts_reason(ticket)
    if no_texts:
        click.echo(f"  {no_texts}")


@click.command("show")
@ticket_argument()
@json_option
@pass_app
def show_cmd(app, ticket_id, as_json):
    """Show one ticket, live or archived, with its history in local time.

    \b
    Example:
      helpline show sxr10429
    """
    from helpline_core import tickets

    now = app.now()
    ticket = tickets.find_ticket(None, app.store, app.config, ticket_id)
    record = _record(app, ticket, now)
    if as_json:
        print_json(record)
        return
    from helpline_core.clock import local_text

    tz = app.config.tz
    click.echo(f"{record['id']}  {record['status'].upper()}{'  OVERDUE' if record['overdue'] else ''}")
    phone = ticket["phone"] or "no number: never texted"
    from helpline_core.phones import textable

    if ticket["phone"] and not textable(ticket["phone_type"]):
        phone += f" ({ticket['phone_type']}: cannot receive SMS)"
    rows = [
        ("caller", f"{ticket['caller_name'] or '-'}, {phone}, language {ticket['language']}"),
        ("area", ticket["area"]), ("category", ticket["category"]),
        ("officer", ticket["officer"] or "-"),
        ("opened", local_text(ticket["opened_at"], tz)), ("due", local_text(ticket["due_at"], tz)),
        ("resolved", local_text(ticket["resolved_at"], tz)), ("closed", local_text(ticket["closed_at"], tz)),
        ("calls", str(ticket["calls"])), ("follows", ticket.get("follows") or ""),
        ("duplicate of", ticket.get("duplicate_of") or ""), ("description", ticket["description"] or ""),
    ]
    if ticket.get("sms_blocked"):
        rows.insert(1, ("SMS", ticket["sms_blocked"]))
    for label, value in rows:
        if value:
            click.echo(f"  {label:<12} {value}")
    click.echo("  history")
    from helpline_core.words import changes_text, event_label

    for event in ticket["history"]:
        extra = " - ".join(x for x in (event.get("note"), changes_text(event.get("changes"), tz)) if x)
        click.echo(f"    {local_text(event['at'], tz)}  {event_label(event['type']):<11} {event['actor']}"
                   f"{'  ' + extra if extra else ''}")
    if ticket.get("messages"):
        click.echo("  messages")
        for key, state in ticket["messages"].items():
            click.echo(f"    {state:<11} {key}")


SHOW_SENSITIVE_HELP = "Include the caller's name, description and notes of sensitive (counselling) tickets."


def _print_table(app, found, now):
    from helpline_core.clock import local_text
    from helpline_core.tickets import is_overdue

    from helpline_core.words import plural

    if not found:
        click.echo("No tickets.")
        return
    click.echo(f"{'ID':<11} {'STATUS':<9} {'OPENED':<16} {'AREA':<18} {'CATEGORY':<11} {'OFFICER':<10} PHONE")
    for t in found:
        flag = "!" if is_overdue(t, now) else " "
        click.echo(f"{t['id']:<11} {t['status']:<9} {local_text(t['opened_at'], app.config.tz):<16} "
                   f"{t['area'][:18]:<18} {t['category'][:11]:<11} {(t['officer'] or '-')[:10]:<10} "
                   f"{t['phone'] or '-'}{'  overdue' if flag == '!' else ''}")
    overdue = sum(1 for t in found if is_overdue(t, now))
    click.echo(plural(len(found), "ticket") + (f", {overdue:,} overdue" if overdue else ""))


def _emit(app, found, now, as_json, as_csv, show_sensitive=False):
    if not show_sensitive:
        from helpline_core.privacy import shareable

        found = [shareable(app.config, t) for t in found]
    if as_json:
        print_json([_record(app, t, now) for t in found])
    elif as_csv:
        from helpline_core.records import CSV_FIELDS, write_csv

        write_csv(sys.stdout, [_record(app, t, now, with_history=False) for t in found], CSV_FIELDS)
    else:
        _print_table(app, found, now)


@click.command("find")
@click.argument("phone", type=PHONE)
@json_option
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@click.option("--show-sensitive", is_flag=True, help=SHOW_SENSITIVE_HELP)
@pass_app
def find_cmd(app, phone, as_json, as_csv, show_sensitive):
    """All of a caller's tickets (live and archived), newest first.

    Tickets of a sensitive category (counselling) come without the caller's name,
    description and notes unless --show-sensitive is given; 'show' always has them.

    \b
    Example:
      helpline find 09876543210
    """
    from helpline_core import tickets

    refuse_together(("--json", as_json), ("--csv", as_csv))
    found = tickets.tickets_of_phone(app.store.snapshot(), app.store, phone)
    _emit(app, found, app.now(), as_json, as_csv, show_sensitive)


@click.command("list")
@click.option("--status", "statuses", multiple=True,
              type=click.Choice(["open", "assigned", "resolved", "closed", "rejected", "all"]),
              help="Repeatable; default: open, assigned and resolved.")
@click.option("--area", help="Only tickets of this area (alternative spellings are accepted).")
@click.option("--category", help="Only tickets of this category.")
@click.option("--officer", help="Only tickets assigned to this officer (their ID).")
@click.option("--overdue", is_flag=True, help="Only open or assigned tickets past their due time.")
@click.option("--since", type=DATE, help="Opened on or after this local date.")
@click.option("--until", type=DATE, help="Opened on or before this local date.")
@click.option("--phone", type=PHONE, help="Only this caller's tickets (any usual form of the number).")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many tickets (the newest).")
@json_option
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (formula-safe).")
@click.option("--show-sensitive", is_flag=True, help=SHOW_SENSITIVE_HELP)
@pass_app
def list_cmd(app, statuses, area, category, officer, overdue, since, until, phone, limit, as_json, as_csv,
             show_sensitive):
    """List tickets, newest first.

    Tickets of a sensitive category (counselling) come without the caller's name,
    description and notes unless --show-sensitive is given; 'show' always has them.

    \b
    Example:
      helpline list --status open --area Khanyar --overdue
      helpline list --status closed --since 2026-11-01 --csv > closed.csv
      helpline list --category counselling --json --show-sensitive
    """
    from helpline_core import tickets
    from helpline_core.routing import get_officer

    from .common import choose_area

    refuse_together(("--json", as_json), ("--csv", as_csv))
    cfg = app.config
    if "all" in statuses:
        statuses = tickets.STATUSES
    db = app.store.snapshot()
    found = tickets.select(
        db, app.store, cfg, app.now(), statuses=statuses or None,
        area=choose_area(cfg, area) if area else None, category=cfg.category(category) if category else None,
        officer=get_officer(db, officer)["officer_id"] if officer else None, overdue=overdue,
        since=since.date() if since else None, until=until.date() if until else None, phone=phone, limit=limit)
    _emit(app, found, app.now(), as_json, as_csv, show_sensitive)


@click.command("undo")
@ticket_argument(required=False)
@click.option("--yes", is_flag=True, help="Do not ask (needed with no terminal).")
@json_option
@pass_app
def undo_cmd(app, ticket_id, yes, as_json):
    """Undo your own last change to a ticket (assign, unassign, resolve, reopen, reject,
    verify, note), from its history.

    Refused when someone changed the ticket since, and for a logged call (reject the ticket
    instead). The undo is itself a history event. At a terminal it shows the change and
    asks; with no terminal give --yes. With TICKET, only that ticket is looked at.

    \b
    Example:
      helpline undo
      helpline --as nusrat undo SXR-10429 --yes
    """
    from helpline_core.undo import describe, last_change, undo_last

    from .common import terminal

    cfg = app.config
    ticket, index, event = last_change(app.store.snapshot(), cfg, app.actor, ticket_id)
    what = describe(ticket, event, cfg.tz)
    if not yes:
        if not terminal():
            raise click.UsageError(f"no terminal to confirm on: add --yes to undo the {what}.")
        if not click.confirm(f"Undo the {what}?", default=False):
            click.echo("Nothing was changed.")
            return
    now = app.now()
    with app.store.transaction() as db:
        ticket, event, sent = undo_last(db, cfg, app.actor, now, ticket_id=ticket_id, expect=(ticket["id"], index))
    if as_json:
        record = _record(app, ticket, now)
        record["undone"] = {"type": event["type"], "index": index, "texts_sent": sent}
        print_json(record)
        return
    click.echo(f"Undone: the {what}. {ticket['id']} is {ticket['status']}"
               f"{' (' + ticket['officer'] + ')' if ticket['officer'] else ''}.")
    if sent:
        click.echo(f"  already texted, cannot be taken back: {', '.join(sent)}")


@click.command("handover")
@click.option("--since", "since_text", metavar="TIME",
              help="Start here (local time, e.g. 2026-11-30T20:00) instead of the last handover; not recorded.")
@json_option
@pass_app
def handover_cmd(app, since_text, as_json):
    """The shift summary for the next operator: new tickets, escalations, tickets awaiting
    verification, texts failed or held, jobs failed.

    It covers the time since the last handover (each one without --since is recorded and is
    where the next starts; with none yet, the last 12 hours) or since --since.

    \b
    Example:
      helpline handover
      helpline handover --since 2026-11-30T20:00 --json
    """
    from helpline_core.clock import local_text, parse_as_of
    from helpline_core.handover import build_handover, record_handover

    cfg = app.config
    since = None
    if since_text:
        try:
            since = parse_as_of(since_text, cfg.tz)
        except ValueError:
            raise click.BadParameter(f"'{since_text}' is not a time like 2026-11-30T20:00.",
                                     param_hint="'--since'") from None
    now = app.now()
    summary = build_handover(app.store, cfg, now, since)
    if since is None:
        with app.store.transaction() as db:
            record_handover(db, app.actor, now, parse_as_of(summary["since"], cfg.tz))
    if as_json:
        print_json(local_times(dict(summary, recorded=since is None), cfg.tz))
        return
    tz = cfg.tz
    source = {"given": "", "default": " (no handover recorded yet: the last 12 hours)",
              "last handover": f" (last handover, by {(summary['last_handover'] or {}).get('actor')})"}
    click.echo(f"Handover: {cfg.district_name} ({cfg.district_code}), since {local_text(summary['since'], tz)}"
               f"{source[summary['since_source']]} to {local_text(summary['now'], tz)}")
    click.echo(f"  new tickets: {len(summary['new'])}")
    for t in summary["new"]:
        click.echo(f"    {t['id']:<11} {t['status']:<9} {t['area'][:18]:<18} {t['category'][:11]:<11} {t['officer'] or '-'}")
    click.echo(f"  escalations: {len(summary['escalations'])}")
    for e in summary["escalations"]:
        click.echo(f"    {e['id']:<11} {local_text(e['at'], tz)}  {e['note'] or ''}")
    click.echo(f"  awaiting verification: {len(summary['awaiting_verification'])}")
    for t in summary["awaiting_verification"]:
        tries = f"  caller not reached {t['not_reached']}x" if t["not_reached"] else ""
        click.echo(f"    {t['id']:<11} resolved {local_text(t['resolved_at'], tz)}  {t['area']}{tries}")
    click.echo(f"  texts failed: {len(summary['texts_failed'])}")
    for m in summary["texts_failed"]:
        click.echo(f"    {m['state']:<11} {m['key']}  {m['error'] or ''}".rstrip())
    click.echo(f"  texts held: {len(summary['texts_held'])}" + (" (quiet hours or waiting for a retry)"
                                                                   if summary["texts_held"] else ""))
    click.echo(f"  jobs failed: {len(summary['jobs_failed'])}")
    for j in summary["jobs_failed"]:
        click.echo(f"    {j['job']} {j['slot']}: {j['error']}")
    if since is None:
        click.echo("Recorded: the next handover starts from here.")
