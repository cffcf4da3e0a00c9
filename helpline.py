"""helpline: run a district's emergency telephone helpline from one machine.

This module is the entry point: the click root group, its global options, the mapping of
``HelplineError`` to ``Error: ...`` and an exit code, and the explicit list of commands.
"""

import os
import sys

import click

from commands import db as db_commands
from commands import demo as demo_commands
from commands import district, jobs, officers, sms, tickets
from commands import ivr as ivr_commands
from commands import records, retention
from commands.common import App, default_actor


class _UserError(click.ClickException):
    def __init__(self, message, exit_code):
        super().__init__(message)
        self.exit_code = exit_code


class HelplineGroup(click.Group):
    """The root group: turns every ``HelplineError`` (and OS errors on the data files) into one
    line ``Error: ...`` on stderr and its exit code (see ``helpline_core.errors``)."""

    def invoke(self, ctx):
        from helpline_core.errors import EXIT_ERROR, HelplineError

        try:
            return super().invoke(ctx)
        except HelplineError as error:
            raise _UserError(str(error), error.exit_code) from None
        except BrokenPipeError:  # the reader (head, less) went away: not an error of ours
            sys.stdout = None
            sys.exit(0)
        except OSError as error:
            raise _UserError(f"{error.strerror or error}: {error.filename or ''}".rstrip(": "), EXIT_ERROR) from None
        except (click.exceptions.ClickException, click.exceptions.Abort, click.exceptions.Exit):
            raise
        except Exception as error:  # a defect of ours: still one line, and the store is as it was
            if os.environ.get("HELPLINE_DEBUG"):
                raise
            raise _UserError(f"unexpected {type(error).__name__}: {error}; nothing was changed. "
                             f"Run again with HELPLINE_DEBUG=1 to see where, and report it.", EXIT_ERROR) from None

    def main(self, args=None, prog_name=None, standalone_mode=True, **extra):
        """Like click's, but a usage error is one line too: ``Error: ... (see 'helpline X --help')``."""
        if not standalone_mode:
            return super().main(args, prog_name, standalone_mode=False, **extra)
        try:
            result = super().main(args, prog_name, standalone_mode=False, **extra)
        except click.UsageError as error:
            hint = f" (see '{error.ctx.command_path} --help')" if error.ctx else ""
            click.echo(f"Error: {error.format_message()}{hint}", err=True)
            sys.exit(error.exit_code)
        except click.ClickException as error:
            error.show()
            sys.exit(error.exit_code)
        except click.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


@click.group(cls=HelplineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data-dir", type=click.Path(file_okay=False), envvar="HELPLINE_DATA_DIR",
              help="Where the district's data lives [env HELPLINE_DATA_DIR; default: per-user data dir].")
@click.option("--as", "actor", envvar="HELPLINE_OPERATOR", help="Who performs the action [env HELPLINE_OPERATOR; default: OS user].")
@click.version_option("0.1.0", prog_name="helpline")
@click.pass_context
def cli(ctx, data_dir, actor):
    """helpline: log calls, route tickets to officers, resolve, verify and look them up.

    \b
    Example:
      helpline init --district-code SXR --district-name Srinagar
      helpline log --phone 09876543210 --area Khanyar --category ration
      helpline show SXR-10429
    """
    from pathlib import Path  # here, not at the top: --help never runs this callback

    if data_dir is None:
        from helpline_core.config import default_data_dir

        data_dir = default_data_dir()
    ctx.obj = App(Path(data_dir), actor or default_actor())


for command in (
    district.init_cmd, district.info_cmd,
    tickets.log_cmd, tickets.assign_cmd, tickets.unassign_cmd, tickets.resolve_cmd, tickets.verify_cmd,
    tickets.reopen_cmd, tickets.reject_cmd, tickets.note_cmd, tickets.edit_cmd, tickets.show_cmd, tickets.find_cmd,
    tickets.list_cmd, tickets.undo_cmd, tickets.handover_cmd,
    officers.officer_group, sms.sms_group, sms.templates_group, jobs.jobs_group, jobs.scheduler_cmd,
    db_commands.db_group, demo_commands.demo_cmd,
    records.import_cmd, records.import_json_cmd, records.report_cmd, records.stats_cmd, records.export_cmd,
    retention.purge_cmd,
    ivr_commands.ivr_group, ivr_commands.callbacks_cmd,
):
    cli.add_command(command)


def main():
    """Console-script entry point.

    Leaves with ``os._exit`` once the output is flushed: the work is done (every file written is
    fsynced and closed), and tearing down the parsed store object by object costs an operator
    command 5-15 ms for nothing.

    Output never fails on the terminal's encoding, and command-line text the locale could not
    have meant is refused with exit 2 (``commands.encoding``).
    """
    from commands.encoding import check_arguments, replacement_note, setup_streams

    setup_streams()
    refused = check_arguments(sys.argv[1:])
    try:
        if refused:
            click.echo(f"Error: {refused}", err=True)
            sys.exit(2)
        cli.main(prog_name="helpline")
        code = 0
    except SystemExit as leaving:
        code = leaving.code if isinstance(leaving.code, int) else (0 if leaving.code is None else 1)
        if isinstance(leaving.code, str):
            print(leaving.code, file=sys.stderr)
    note = replacement_note()
    if note:
        try:
            print(note, file=sys.stderr)
        except (BrokenPipeError, ValueError, AttributeError):
            pass
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (BrokenPipeError, ValueError, AttributeError):
        pass
    os._exit(code)


if __name__ == "__main__":
    main()
