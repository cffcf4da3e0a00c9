"""``helpline officer ...``: the roster of nodal officers, verifiers and supervisors."""

import click

from .common import PHONE, json_option, pass_app, print_json, refuse_together

ROLE = click.Choice(["officer", "verifier", "supervisor"])
LANG = click.Choice(["en", "hi", "ur"])


@click.group("officer")
def officer_group():
    """Add, change and list officers.

    \b
    Example:
      helpline officer add rafiq --name "Rafiq Ahmad" --phone 09419012345 \\
          --area Khanyar --area Eidgah --category ration --category medicine
    """


def _areas(app, typed):
    """The typed --area values as area names, asking at a terminal about one that names two areas
    (before the store is locked)."""
    from .common import choose_area

    return tuple(choose_area(app.config, a) for a in typed)


def _print_officer(officer):
    state = "" if officer["active"] else "  (deactivated)"
    click.echo(f"{officer['officer_id']:<12} {officer['name']:<22} {officer['role']:<10} {officer['lang']}  "
               f"{officer['phone'] or '-'}{state}")
    if officer.get("sms_blocked"):
        click.echo(f"{'':<12} SMS: {officer['sms_blocked']}")
    click.echo(f"{'':<12} areas: {', '.join(officer['areas'])}")
    click.echo(f"{'':<12} categories: {', '.join(officer['categories'])}")


@officer_group.command("add")
@click.argument("officer_id")
@click.option("--name", required=True, help="Full name, as texts and reports show it.")
@click.option("--phone", required=True, type=PHONE, help="Their mobile number (digests and assignments are texted).")
@click.option("--area", "areas", multiple=True, required=True, help="Repeatable.")
@click.option("--category", "categories", multiple=True, required=True, help="Repeatable.")
@click.option("--role", type=ROLE, default="officer", show_default=True,
              help="officer: resolves tickets; verifier: cross-checks with callers; supervisor: gets escalations.")
@click.option("--lang", type=LANG, default="en", show_default=True, help="Language of their texts.")
@json_option
@pass_app
def add_cmd(app, officer_id, name, phone, areas, categories, role, lang, as_json):
    """Add an officer to the roster.

    \b
    Example:
      helpline officer add rafiq --name "Rafiq Ahmad" --phone 09419012345 --area Khanyar --category ration
    """
    from helpline_core import officers
    from helpline_core.records import officer_record

    areas = _areas(app, areas)
    with app.store.transaction() as db:
        officer = officers.add_officer(db, app.config, officer_id, name=name, phone=phone, areas=areas,
                                       categories=categories, role=role, lang=lang, actor=app.actor, now=app.now())
    if as_json:
        print_json(officer_record(officer))
    else:
        click.echo(f"Officer {officer['officer_id']} added.")


@officer_group.command("list")
@click.option("--active", "only_active", is_flag=True, help="Only active officers.")
@json_option
@pass_app
def list_cmd(app, only_active, as_json):
    """List officers.

    \b
    Example:
      helpline officer list --json
    """
    from helpline_core import officers
    from helpline_core.records import officer_record
    from helpline_core.routing import open_counts

    db = app.store.snapshot()
    found = officers.list_officers(db, include_inactive=not only_active)
    counts = open_counts(db)
    if as_json:
        print_json([dict(officer_record(o), open_tickets=counts.get(o["officer_id"], 0)) for o in found])
        return
    if not found:
        click.echo("No officers yet: add one with 'helpline officer add'.")
    for officer in found:
        _print_officer(officer)
        click.echo(f"{'':<12} open tickets: {counts.get(officer['officer_id'], 0)}")


@officer_group.command("show")
@click.argument("officer_id")
@json_option
@pass_app
def show_cmd(app, officer_id, as_json):
    """Show one officer and their history.

    \b
    Example:
      helpline officer show rafiq
    """
    from helpline_core.clock import local_text
    from helpline_core.records import officer_record
    from helpline_core.routing import get_officer, open_counts

    db = app.store.snapshot()
    officer = get_officer(db, officer_id)
    if as_json:
        print_json(dict(officer_record(officer), open_tickets=open_counts(db).get(officer["officer_id"], 0)))
        return
    from helpline_core.words import OFFICER_CHANGE_LABELS, changes_text

    _print_officer(officer)
    for event in officer["history"]:
        changes = changes_text(event.get("changes"), app.config.tz, OFFICER_CHANGE_LABELS)
        click.echo(f"{'':<12} {local_text(event['at'], app.config.tz)}  {event['type']} by {event['actor']}"
                   f"{'  ' + changes if changes else ''}{'  ' + event['note'] if event.get('note') else ''}")


def _print_returned(returned):
    if returned:
        from helpline_core.words import plural

        verb = "is open again and needs" if len(returned) == 1 else "are open again and need"
        click.echo(f"{plural(len(returned), 'ticket')} {verb} an officer: {' '.join(returned)}")
        click.echo("Reassign each with: helpline assign TICKET [OFFICER]")


@officer_group.command("edit")
@click.argument("officer_id")
@click.option("--name", help="New full name.")
@click.option("--phone", type=PHONE, help="New mobile number.")
@click.option("--area", "areas", multiple=True, help="Repeatable; replaces the officer's areas.")
@click.option("--category", "categories", multiple=True, help="Repeatable; replaces the officer's categories.")
@click.option("--role", type=ROLE, help="New role: officer, verifier or supervisor.")
@click.option("--lang", type=LANG, help="New language of their texts.")
@click.option("--active", is_flag=True, help="Activate (as 'officer activate').")
@click.option("--inactive", is_flag=True, help="Deactivate (as 'officer deactivate').")
@click.option("--note", help="Why (kept in the history).")
@json_option
@pass_app
def edit_cmd(app, officer_id, name, phone, areas, categories, role, lang, active, inactive, note, as_json):
    """Change an officer's details; options not given stay as they are.

    \b
    Example:
      helpline officer edit rafiq --phone 09419054321 --area Khanyar --area Zadibal
      helpline officer edit rafiq --inactive --note "on leave"
    """
    from helpline_core import officers
    from helpline_core.records import officer_record

    refuse_together(("--active", active), ("--inactive", inactive))
    active = True if active else False if inactive else None
    areas = _areas(app, areas)
    with app.store.transaction() as db:
        officer, returned = officers.update_officer(
            db, app.config, officer_id, name=name, phone=phone, areas=areas or None, categories=categories or None,
            role=role, lang=lang, active=active, note=note, actor=app.actor, now=app.now())
    if as_json:
        print_json(dict(officer_record(officer), returned_tickets=returned))
        return
    state = {True: " and activated", False: " and deactivated", None: ""}[active]
    click.echo(f"Officer {officer['officer_id']} updated{state}.")
    _print_returned(returned)


@officer_group.command("activate")
@click.argument("officer_id")
@click.option("--phone", type=PHONE, help="Their number, if they have none yet (an imported queue).")
@click.option("--area", "areas", multiple=True, help="Repeatable; replaces the officer's areas.")
@click.option("--category", "categories", multiple=True, help="Repeatable; replaces the officer's categories.")
@click.option("--note", help="Why (kept in the history).")
@json_option
@pass_app
def activate_cmd(app, officer_id, phone, areas, categories, note, as_json):
    """Bring a deactivated officer back: new tickets are routed to them again.

    An officer needs a phone, areas and categories to be given work (a supervisor a phone);
    give what is missing here, in the same step. Tickets returned to open when they were
    deactivated stay where they are: assign them again by hand.

    \b
    Example:
      helpline officer activate rafiq --note "back from transfer"
      helpline officer activate bos-pwd --phone 09419000111 --area Khanyar --category roads
    """
    from helpline_core import officers
    from helpline_core.records import officer_record

    areas = _areas(app, areas)
    with app.store.transaction() as db:
        officer = officers.activate_officer(db, app.config, officer_id, phone=phone, areas=areas or None,
                                            categories=categories or None, note=note, actor=app.actor,
                                            now=app.now())
    if as_json:
        print_json(officer_record(officer))
    else:
        click.echo(f"Officer {officer['officer_id']} is active again.")


@officer_group.command("deactivate")
@click.argument("officer_id")
@click.option("--reason", help="Why (kept in the history).")
@pass_app
def deactivate_cmd(app, officer_id, reason):
    """Deactivate an officer; their assigned tickets go back to open and are listed.

    \b
    Example:
      helpline officer deactivate rafiq --reason "transferred"
    """
    from helpline_core import officers

    with app.store.transaction() as db:
        officer, returned = officers.deactivate_officer(db, app.config, officer_id, actor=app.actor,
                                                        now=app.now(), reason=reason)
    click.echo(f"Officer {officer['officer_id']} deactivated.")
    _print_returned(returned)
