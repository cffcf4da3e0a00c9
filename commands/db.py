"""``helpline db ...``: checking, backing up and archiving the store."""

import click

from .common import pass_app


@click.group("db")
def db_group():
    """Look after the database files.

    \b
    Example:
      helpline db check
      helpline db backup --to /media/usb
    """


@db_group.command("check")
@pass_app
def check_cmd(app):
    """Read every database and archive file and report; exit 1 on a problem. Writes nothing.

    \b
    Example:
      helpline db check
    """
    from helpline_core.dbtools import check_store
    from helpline_core.errors import HelplineError
    from helpline_core.store import Store

    store = Store(app.data_dir)  # works without a readable config, so a damaged setup can be checked
    problems, facts = check_store(store)
    for line in facts:
        click.echo(line)
    for line in problems:
        click.echo(f"PROBLEM: {line}")
    if problems:
        raise HelplineError(f"{len(problems)} problem(s) found in {app.data_dir}.")
    click.echo("OK")


@db_group.command("backup")
@click.option("--to", "to_dir", type=click.Path(file_okay=False), help="Folder for the backup (default: DATA_DIR/backups).")
@pass_app
def backup_cmd(app, to_dir):
    """Make a consistent, dated copy of the config, database and archives.

    \b
    Example:
      helpline db backup --to /media/usb/helpline-backups
    """
    from helpline_core.dbtools import backup_store

    target = backup_store(app.store, to_dir, now=app.now())
    click.echo(f"Backup written to {target}")


@db_group.command("archive")
@click.option("--as-of", help="ISO 8601 time to use as now (local time when no offset).")
@pass_app
def archive_cmd(app, as_of):
    """Move closed and rejected tickets that have been final for archive_after_days to archive files.

    \b
    Example:
      helpline db archive
    """
    from helpline_core.archive import archive_final_tickets
    from helpline_core.clock import parse_as_of

    if as_of:
        try:
            now = parse_as_of(as_of, app.config.tz)
        except ValueError:
            raise click.BadParameter(f"'{as_of}' is not an ISO 8601 time.", param_hint="'--as-of'")
    else:
        now = app.now()
    moved = archive_final_tickets(app.store, app.config, now)
    click.echo(f"Archived {moved} final tickets.")
