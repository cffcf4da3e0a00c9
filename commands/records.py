"""Records in and figures out: ``import``, ``import-json``, ``report``, ``stats``, ``export``."""

import sys

import click

from .common import DATE, json_option, pass_app, print_json

PROGRESS_LINE_EVERY = 5000


class _Progress:
    """The import's progress on stderr: a bar on a terminal; otherwise a plain line every
    ``PROGRESS_LINE_EVERY`` rows (5,000, 10,000, ...) and one at the end."""

    def __init__(self):
        self.tty = sys.stderr.isatty()
        self.bar = None
        self.last = 0  # rows done at the last call
        self.printed = 0  # rows done at the last line printed

    def __call__(self, done, total):
        if done == self.last:
            return
        if self.tty:
            if self.bar is None:
                self.bar = click.progressbar(length=total, label="Checking rows", file=sys.stderr)
                self.bar.__enter__()
            self.bar.update(done - self.last)
        elif done == total or done // PROGRESS_LINE_EVERY > self.printed // PROGRESS_LINE_EVERY:
            click.echo(f"import: {done:,} of {total:,} rows checked", err=True)
            self.printed = done
        self.last = done

    def close(self):
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _write_or_print(out, text):
    if out:
        from helpline_core.export import write_output

        write_output(out, text)
    else:
        click.echo(text, nl=False)


@click.command("import")
@click.argument("csv_file", metavar="FILE.csv", type=click.Path(dir_okay=False))
@click.option("--mapping", "mapping_file", required=True, type=click.Path(dir_okay=False),
              help="TOML file naming, for each helpline field, the source column (see data/mappings/boston311.toml).")
@click.option("--dry-run", is_flag=True, help="Check every row and report; change nothing in the data directory.")
@click.option("--rejects", "rejects_file", type=click.Path(dir_okay=False),
              help="Where to write the rejected rows "
                   "(default: imports/<file>-<time>-rejects.csv in the data directory).")
@json_option
@pass_app
def import_cmd(app, csv_file, mapping_file, dry_run, rejects_file, as_json):
    """Import another system's CSV export (IVRS, another tracker, a spreadsheet) as tickets.

    Each row becomes a ticket with a new ID that keeps the source's ID (external ID); its
    history is rebuilt from the source's times, with you as the actor. Closed rows go
    straight to the archive. Nothing is texted. A row that cannot be imported is written
    to the rejects file with its row number (the header is row 1) and the reason; rows
    imported before (same source and external ID) are rejected as already imported, so
    importing a file twice adds nothing. Categories the mapping lists are added to
    config.toml; areas must already be configured (a mapping's [fields.area] otherwise sends a
    value that is no area to a catch-all area). The import is one transaction: on an error
    nothing is changed. An import that rejects every row, or of a file with no rows, exits 1
    (a file imported before does not).

    \b
    Example:
      helpline import data/samples/boston311_sample.csv \\
          --mapping data/mappings/boston311.toml --dry-run
      helpline import export.csv --mapping ivrs.toml --rejects rejects.csv
    """
    from helpline_core.import_mapping import load_mapping
    from helpline_core.importer import default_rejects_path, import_csv, write_rejects

    mapping = load_mapping(mapping_file, app.config)
    now = app.now()
    progress = _Progress()
    try:
        result = import_csv(app.store, app.config, csv_file, mapping, actor=app.actor, now=now, dry_run=dry_run,
                            progress=progress)
    finally:
        progress.close()
    written = None
    if result.rejects and (rejects_file or not dry_run):
        written = write_rejects(rejects_file or default_rejects_path(app.store, csv_file, now), result)
    if as_json:
        print_json(dict(result.as_dict(), rejects_file=str(written) if written else None))
        _fail_when_nothing_imported(result, written)
        return
    from helpline_core.words import plural

    counts = f"{plural(result.imported, 'row')}, reject{'' if dry_run else 'ed'} {len(result.rejects):,}, " \
             f"of {result.rows:,} in {result.file}"
    if dry_run:
        click.echo(f"Dry run: would import {counts}. Nothing was changed.")
    else:
        click.echo(f"Imported {counts}.")
    if result.imported:
        click.echo(f"  tickets {result.first_id} to {result.last_id}: {result.archived:,} closed or rejected "
                   f"{'would go' if dry_run else 'went'} to the archive, {result.live:,} "
                   f"{'would be' if dry_run else 'are'} live")
    if result.rejects:
        kinds = ", ".join(f"{kind} {n:,}" for kind, n in sorted(result.reject_kinds.items(), key=lambda kv: -kv[1]))
        click.echo(f"  rejected: {kinds}")
        if written:
            click.echo(f"  rejected rows with their reasons: {written}")
        else:
            click.echo("  (add --rejects FILE to get the rejected rows with their reasons)")
    if result.categories_added:
        click.echo(f"  {'would add' if dry_run else 'added'} {plural(len(result.categories_added), 'category', 'categories')} to config.toml "
                   f"(SLA hours from the mapping): {', '.join(result.categories_added)}")
    if result.officers_created:
        click.echo(f"  {'would create' if dry_run else 'created'} {plural(len(result.officers_created), 'officer')} from "
                   f"{result.source} queues (inactive, no phone; see 'helpline officer list')")
    if result.recovered:
        click.echo(f"  undid an import a crash had cut short (batch {', '.join(result.recovered)})")
    _fail_when_nothing_imported(result, written)


def _fail_when_nothing_imported(result, written):
    """Exit 1 when the file has no rows or every row was rejected, so a script does not take it for
    success; a file imported before (every row "already imported") is no failure."""
    from helpline_core.errors import InvalidValue

    if not result.rows:  # a header and nothing under it is most likely the wrong file or a cut-off export
        raise InvalidValue(f"{result.file} has no rows under its header: nothing to import.")
    already = result.reject_kinds.get("already imported", 0)
    if not result.imported and already < len(result.rejects):
        where = f"; see {written}" if written else ""
        raise InvalidValue(f"no row of {result.file} {'would be' if result.dry_run else 'was'} imported: all "
                           f"{result.rows:,} were rejected{where}.")


@click.command("import-json")
@click.argument("dump_file", metavar="FILE.json", type=click.Path(dir_okay=False))
@pass_app
def import_json_cmd(app, dump_file):
    """Load a dump made by 'helpline export --format json' into a new, empty data directory.

    The data directory gets back the same config, tickets (live and archived), officers,
    outbox and sent texts, file for file.

    \b
    Example:
      helpline export --format json --out srinagar.json
      helpline --data-dir ~/helpline-copy import-json srinagar.json
    """
    from helpline_core.export import load_dump, read_dump
    from helpline_core.store import Store

    counts = load_dump(Store(app.data_dir), read_dump(dump_file))
    from helpline_core.words import plural

    click.echo(f"Loaded {plural(counts['tickets'], 'ticket')} ({counts['archived']:,} archived), "
               f"{plural(counts['officers'], 'officer')} and {plural(counts['messages'], 'text')} into {app.data_dir}.")


REPORT_HELP_DEFINITIONS = """
    A ticket belongs to the period by its opened time's local date (the district's time
    zone). Closed: tickets whose resolved (or closed) time falls in the period. Open at the
    end: opened before the end, neither resolved nor rejected by then. Resolution hours:
    over the tickets opened in the period that have been resolved, whenever that was, from
    opened to resolved, on aware times (daylight-saving changes included); median and 90th
    percentile by the nearest-rank method. On time: among those, the ones with a due time,
    the share resolved at or before it. Overdue: open at the end and past the due time.
    Repeat calls: calls after the first, on tickets opened in the period. SMS: texts sent in
    the period and their segments. --by day gives each day's figures with that day as the
    period; --by category|area|officer splits the tickets (officer: the current one).
"""


@click.command("report", help=f"""Figures for a period of local dates: tickets opened, closed, open at the end,
    resolution hours, share on time, overdue, repeat calls and texts sent.
{REPORT_HELP_DEFINITIONS}
    Without --from/--to: the 30 days up to today. --format json prints an object with
    opened, closed, open_at_end, median_resolution_hours, p90_resolution_hours,
    on_time_share (0-1), overdue_open, ... and with --by a list 'groups' of the same, each
    with its 'key'. --format html writes one self-contained page (charts, breakdowns by
    category and area, the overdue list) to open or print; it lists the 100 longest overdue
    tickets and names the command for all of them. --overdue prints, instead of the figures,
    every ticket overdue at the end of the period (id, opened, due, days_over, area, category,
    officer, description), longest overdue first, as CSV or JSON.

    \b
    Example:
      helpline report --from 2015-03-01 --to 2015-04-30
      helpline report --from 2015-03-01 --to 2015-04-30 --by category --format csv
      helpline report --from 2015-03-01 --to 2015-04-30 --format html --out report.html
      helpline report --from 2015-03-01 --to 2015-04-30 --overdue --format csv --out overdue.csv
    """)
@click.option("--from", "first_day", type=DATE, help="First local date (YYYY-MM-DD); default 29 days before --to.")
@click.option("--to", "last_day", type=DATE, help="Last local date, included (default: today).")
@click.option("--by", type=click.Choice(["day", "category", "area", "officer"]), help="Break the figures down.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "html"]), default="table",
              show_default=True, help="table for the terminal; csv, json; html: one page with charts to open or print.")
@click.option("--overdue", is_flag=True,
              help="The full list of tickets overdue at the end of the period, with --format csv or json.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write to this file (mode 0600) instead of printing.")
@pass_app
def report_cmd(app, first_day, last_day, by, fmt, overdue, out):
    from helpline_core import reports

    cfg = app.config
    now = app.now()
    first_day, last_day = reports.default_period(cfg, now, first_day and first_day.date(), last_day and last_day.date())
    if first_day > last_day:
        raise click.BadParameter(f"{first_day} is after --to {last_day}.", param_hint="'--from'")
    if overdue:
        if fmt not in ("csv", "json") or by:
            raise click.UsageError("--overdue prints the list with --format csv or --format json, "
                                   "and without --by.")
        rows = reports.overdue_rows(cfg, reports.load_items(app.store), now, first_day, last_day)
        if fmt == "json":
            import json
            _write_or_print(out, json.dumps(rows, ensure_ascii=False, indent=2) + "\n")
        else:
            _write_or_print(out, reports.overdue_csv(rows))
        return
    if fmt == "html":
        if by:
            raise click.UsageError("--by does not apply to --format html: the page has the breakdowns by day, "
                                   "category and area.")
        _write_or_print(out, reports.html_report(app.store, cfg, now, first_day, last_day))
        return
    report = reports.build_report(app.store, cfg, now, first_day, last_day, by=by)
    if fmt == "json":
        import json
        text = json.dumps(report, ensure_ascii=False, indent=2) + "\n"
    elif fmt == "csv":
        text = reports.csv_text(report)
    else:
        text = reports.table_text(report)
    _write_or_print(out, text)


@click.command("stats")
@json_option
@pass_app
def stats_cmd(app, as_json):
    """One line for the terminal: calls in all and today, open and overdue tickets, median hours to
    resolve, and texts of the last 24 hours that failed or whose delivery is not confirmed.

    Calls count every call (first and repeat) on every ticket, live and archived; today is
    the district's local date; open means open or assigned; the median is over every
    resolved ticket.

    \b
    Example:
      helpline stats
    """
    from helpline_core.ivr_records import problems_line, recent_problems
    from helpline_core.outbox import recent_trouble
    from helpline_core.reports import headline

    cfg = app.config
    now = app.now()
    figures = headline(app.store, cfg, now)
    trouble = recent_trouble(app.store, cfg, now)
    figures.update(texts_failed_24h=trouble["failed"], texts_unconfirmed_24h=trouble["unconfirmed"])
    problems = recent_problems(app.data_dir, now)
    if as_json:
        if problems:
            figures["ivr_problems"] = problems
        print_json(figures)
        return
    median = "-" if figures["median_resolution_hours"] is None else f"{figures['median_resolution_hours']:,.1f} h"
    from helpline_core.words import plural

    click.echo(f"{cfg.district_name} ({cfg.district_code}): {plural(figures['calls_total'], 'call')}, "
               f"{figures['calls_today']:,} today; {figures['open']:,} open, {figures['overdue']:,} overdue; "
               f"median {median} to resolve; texts in 24 h: {trouble['failed']:,} failed, "
               f"{trouble['unconfirmed']:,} not confirmed")
    if problems:
        click.echo(problems_line(app.data_dir, cfg, now))


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(["json", "csv", "open311"]), required=True,
              help="json: a complete dump (import-json loads it); csv: tickets; open311: GeoReport v2 requests.")
@click.option("--from", "first_day", type=DATE, help="csv/open311: tickets opened on or after this local date.")
@click.option("--to", "last_day", type=DATE, help="csv/open311: tickets opened on or before this local date.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write to this file (mode 0600) instead of printing.")
@pass_app
def export_cmd(app, fmt, first_day, last_day, out):
    """Export: a complete JSON dump, tickets as CSV, or Open311 GeoReport v2 service requests.

    json is everything in the data directory (config, tickets live and archived with their
    history, officers, outbox, sent texts) for 'helpline import-json'; it holds personal data
    and says so. csv has the columns of 'list --csv' (external_id and source among them) plus
    address, lat, long; cells a spreadsheet would run as formulas get a leading '. open311 is a JSON array
    of service requests with times in ISO 8601 with their offset; it never holds the caller's
    phone or name. Neither csv nor open311 holds the description, notes or caller's name of a
    sensitive (counselling) ticket.

    \b
    Example:
      helpline export --format json --out backup.json
      helpline export --format open311 --from 2015-03-01 --to 2015-04-30 --out requests.json
      helpline export --format csv --from 2015-04-01 > april.csv
    """
    from helpline_core import export

    cfg = app.config
    now = app.now()
    if fmt == "json":
        if first_day or last_day:
            raise click.UsageError("--from/--to do not apply to --format json: the dump is always complete.")
        import json
        _write_or_print(out, json.dumps(export.dump_store(app.store, cfg, now), ensure_ascii=False) + "\n")
        click.echo(f"Note: {export.PERSONAL_DATA_NOTICE}", err=True)
        return
    if first_day and last_day and first_day > last_day:
        raise click.BadParameter(f"{first_day.date()} is after --to {last_day.date()}.", param_hint="'--from'")
    tickets = export.tickets_in_period(app.store, cfg, first_day and first_day.date(), last_day and last_day.date())
    if fmt == "csv":
        _write_or_print(out, export.tickets_csv(tickets, cfg, now))
        return
    officers = {o["officer_id"]: o for o in app.store.snapshot().table("officers").all()}
    requests = export.open311_requests(tickets, cfg, officers)
    import json
    _write_or_print(out, json.dumps(requests, ensure_ascii=False, indent=2) + "\n")
