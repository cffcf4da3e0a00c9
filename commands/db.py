"""``helpline db ...``: checking, backing up and archiving the store."""

import click

from .common import pass_app


@click.group("db")
def db_group():
    """Look after the database files.

    \b
    Example:
      helpline db check
      helpline db backup --to /media/usb/helpline-backups
      helpline db restore /media/usb/helpline-backups/backup-2026-12-02T12-13-45+0530
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
        from helpline_core.words import plural

        raise HelplineError(f"{plural(len(problems), 'problem')} found in {app.data_dir}.")
    click.echo("OK")


@db_group.command("backup")
@click.option("--to", "to_dir", type=click.Path(file_okay=False),
              help="Folder for the backup, outside the data directory (default: [store] backup_dir in config.toml).")
@pass_app
def backup_cmd(app, to_dir):
    """Make a consistent, dated copy of the config, database, archives and texts.

    The copy is a folder named by the district's local time with its offset
    (backup-2026-12-02T12-13-45+0530), with a manifest that 'db restore' checks.
    Give --to, or set backup_dir under [store] in config.toml; a folder inside the
    data directory is refused (a backup there is lost with it).

    \b
    Example:
      helpline db backup --to /media/usb/helpline-backups
    """
    from helpline_core.dbtools import backup_store

    target = backup_store(app.store, app.config, to_dir, now=app.now())
    click.echo(f"Backup written to {target}")


@db_group.command("restore")
@click.argument("backup", type=click.Path(file_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask (needed with no terminal).")
@pass_app
def restore_cmd(app, backup, yes):
    """Put a backup made by 'db backup' in place of the current data.

    The backup is checked first (as 'db check' does, and against its manifest): a damaged
    or incomplete one is refused and nothing is changed. The current data is then copied
    to backup-<time>-before-restore (in [store] backup_dir, else beside BACKUP), and the
    backup's config, database, archives and texts replace it, under the store lock. At a
    terminal it asks first; with no terminal give --yes.

    \b
    Example:
      helpline db restore /media/usb/helpline-backups/backup-2026-12-02T12-13-45+0530
    """
    from helpline_core.clock import local_iso
    from helpline_core.dbtools import check_backup, data_present, restore_backup, restore_folder
    from helpline_core.words import plural
    from helpline_core.store import Store

    from .common import terminal

    store = Store(app.data_dir)  # works without a readable config: a lost config is a reason to restore
    info = check_backup(backup)
    if not yes:
        if not terminal():
            raise click.UsageError(f"no terminal to confirm on: add --yes to restore {backup}.")
        present = data_present(store)
        here = ", ".join(present["found"]) or "no tickets or texts"
        made = f", made {local_iso(info['made_at'], info['config'].tz)}" if info["made_at"] else ""
        click.echo(f"Now in {app.data_dir}: {here}.")
        click.echo(f"Backup {backup}: district {info['config'].district_code}, {plural(info['live'], 'live ticket')}, "
                   f"{plural(info['archives'], 'archive file')}{made}.")
        click.echo(f"The current data is first copied to {restore_folder(store, backup)}.")
        if not click.confirm("Replace the current data with the backup?", default=False):
            click.echo("Nothing was changed.")
            return
    result = restore_backup(store, backup, app.now())
    if result["finished"]:
        click.echo("Finished a restore that a crash had cut short.")
    if result["kept"]:
        click.echo(f"Current data kept in {result['kept']}")
    click.echo(f"Restored district {result['code']} from {backup}: {plural(result['live'], 'live ticket')}, "
               f"{plural(result['archives'], 'archive file')}.")
    if result["texts"]:
        click.echo(f"{plural(result['texts'], 'text')} the backup had waiting were sent (or tried) after it was made: "
                   f"kept as they are now, not sent again.")
    lost = result["lost"]
    if lost:
        listed = ", ".join(lost[:10]) + (f" and {len(lost) - 10:,} more" if len(lost) > 10 else "")
        click.echo(f"WARNING: {plural(len(lost), 'ticket')} opened after the backup {'is' if len(lost) == 1 else 'are'} "
                   f"not in it: {listed}. Their callers hold IDs that 'show' no longer finds; see them with "
                   f"'helpline --data-dir {result['kept']} show ID' and log them again. Their IDs are never issued again.")


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
    from helpline_core.words import plural

    click.echo(f"Archived {plural(moved, 'final ticket')}.")
