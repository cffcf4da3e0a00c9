"""``helpline purge``: retiring callers' personal data from tickets final for long enough."""

import click

from .common import days_type, json_option, pass_app, print_json
from .sms import as_of_option, run_clock


@click.command("purge")
@click.option("--older-than", "days", required=True, type=days_type(), metavar="DAYS",
              help="Purge tickets closed or rejected more than this many days ago.")
@click.option("--dry-run", is_flag=True, help="Count what would be purged; change nothing.")
@click.option("--backup-to", type=click.Path(file_okay=False),
              help="Folder for the backup taken first, outside the data directory (default: [store] backup_dir).")
@as_of_option
@json_option
@pass_app
def purge_cmd(app, days, dry_run, backup_to, as_of, as_json):
    """Retire personal data: tickets final for more than DAYS days keep their figures, not their callers.

    Each such ticket's phone number becomes a salted hash (one caller's tickets still share
    it), and its caller's name, description and notes go; its history keeps the events. Texts
    about it lose their bodies and numbers; verification lists older than DAYS are deleted.
    Reports give the same figures as before. A backup of everything is taken first and named
    below: it still holds the personal data, so keep it safe and delete it when no longer
    needed. One transaction: on an error nothing is changed.

    \b
    Example:
      helpline purge --older-than 180 --dry-run
      helpline purge --older-than 180 --backup-to /media/usb/helpline-backups
    """
    from helpline_core.retention import purge

    now = run_clock(app, as_of)
    result = purge(app.store, app.config, older_than_days=days, now=now, dry_run=dry_run, backup_dir=backup_to)
    if as_json:
        print_json(result.as_dict())
        return
    before = result.cutoff.astimezone(app.config.tz).strftime("%Y-%m-%d %H:%M")
    from helpline_core.words import plural

    counts = (f"{plural(result.tickets, 'ticket')} final before {before} ({result.archived:,} archived, "
              f"{result.live:,} live)")
    if dry_run:
        click.echo(f"Dry run: would purge {counts}. Nothing was changed.")
        if result.refused:
            click.echo(f"  the purge itself would be refused: {result.refused}")
        return
    if not result.tickets and not result.finished:
        click.echo(f"Nothing to purge: no ticket final before {before} keeps personal data.")
        return
    click.echo(f"Purged {counts}: numbers hashed; names, descriptions and notes removed.")
    if result.finished:
        click.echo(f"  finished a purge a crash had cut short ({plural(result.finished, 'ticket')})")
    click.echo(f"  texts cleaned: {result.texts:,} (in {plural(result.day_files, 'day file')}); "
               f"verification lists deleted: {result.verification_files:,}")
    click.echo(f"  backup taken before the purge: {result.backup}  (it holds everything: keep it safe, "
               f"delete it when no longer needed)")
