"""``helpline jobs ...`` and ``helpline scheduler``: the unattended work."""

import click

from .common import json_option, pass_app, print_json
from .sms import as_of_option, run_clock


@click.group("jobs")
def jobs_group():
    """Scheduled jobs: digests, escalations, the verification list, sending, sync, archiving.

    Cron calls 'helpline jobs run-due' every 5 minutes (see cron/README.md).

    \b
    Example:
      helpline jobs run-due
      helpline jobs status
    """


def _date_option(f):
    return click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]),
                        help="The local date the run covers (default: today).")(f)


def _print_result(job, slot, outcome, detail):
    if outcome == "ok":
        counts = ", ".join(f"{k} {v}" for k, v in detail.items())
        click.echo(f"{job} {slot}: ok{' (' + counts + ')' if counts else ''}")
    elif outcome == "skipped":
        click.echo(f"{job} {slot}: skipped, {detail}")
    else:
        click.echo(f"{job} {slot}: FAILED {detail}")


def _run_one(app, job, day, as_of, **options):
    from helpline_core.errors import HelplineError
    from helpline_core.jobs import run_job, slot_for

    now = run_clock(app, as_of)
    slot, day = slot_for(app.config, job, now, day.date() if day else None)
    outcome, detail = run_job(app.store, app.config, job, slot, day, now, force=True, **options)
    _print_result(job, slot, outcome, detail)
    if outcome == "failed":
        raise HelplineError(f"job {job} failed for {slot}; see 'helpline jobs status'.")


def _job_command(job, summary, example, daily):
    def command(app, day=None, as_of=None):
        _run_one(app, job, day, as_of)

    command.__doc__ = f"{summary}\n\n    \b\n    Example:\n      {example}\n    "
    command = pass_app(command)
    command = as_of_option(command)
    if daily:
        command = _date_option(command)
    return click.command(job)(command)


digest_cmd = _job_command("digest", "Queue the morning SMS digest for each officer with open work.",
                          "helpline jobs digest --date 2026-11-30", True)
escalate_cmd = _job_command("escalate", "Escalate tickets past their SLA (officer, then supervisor).",
                            "helpline jobs escalate", False)
send_cmd = _job_command("send", "Send the outbox (as 'helpline sms send').", "helpline jobs send", False)
sync_cmd = _job_command("sync", "Fetch delivery status (as 'helpline sms sync').", "helpline jobs sync", False)
archive_cmd = _job_command("archive", "Move tickets final for a day out of the live file.",
                           "helpline jobs archive", True)
for _command in (digest_cmd, escalate_cmd, send_cmd, sync_cmd, archive_cmd):
    jobs_group.add_command(_command)


@jobs_group.command("verification-list")
@_date_option
@click.option("--sample", type=click.IntRange(min=1), help="At most N tickets per verifier (large days).")
@click.option("--seed", type=int, help="Seed for --sample, so a list can be drawn again the same.")
@as_of_option
@pass_app
def verification_list_cmd(app, day, sample, seed, as_of):
    """Write the nightly verification list: verification/DATE.csv and .html in the data directory.

    \b
    Example:
      helpline jobs verification-list --date 2026-11-30 --sample 20 --seed 7
    """
    _run_one(app, "verification-list", day, as_of, sample=sample, seed=seed)


@jobs_group.command("run-due")
@as_of_option
@pass_app
def run_due_cmd(app, as_of):
    """Run every job whose slot has come and has not run yet (what cron calls).

    Exit code 1 when any job failed; the others still ran.

    \b
    Example:
      helpline jobs run-due
    """
    from helpline_core.errors import HelplineError
    from helpline_core.jobs import run_due

    results = run_due(app.store, app.config, run_clock(app, as_of))
    for result in results:
        _print_result(*result)
    if not results:
        click.echo("Nothing due.")
    failed = [job for job, _, outcome, _ in results if outcome == "failed"]
    if failed:
        raise HelplineError(f"{len(failed)} job(s) failed: {', '.join(failed)}; see 'helpline jobs status'.")


@jobs_group.command("run")
@click.argument("job")
@_date_option
@as_of_option
@pass_app
def run_cmd(app, job, day, as_of):
    """Rerun one slot of one job on purpose (even if it ran already).

    \b
    Example:
      helpline jobs run digest --date 2026-11-29
    """
    _run_one(app, job, day, as_of)


@jobs_group.command("status")
@as_of_option
@json_option
@pass_app
def status_cmd(app, as_of, as_json):
    """For each job: schedule, last run, last success, next due, and FAILED when the last run failed.

    \b
    Example:
      helpline jobs status
    """
    from helpline_core.clock import local_text
    from helpline_core.jobs import status

    rows = status(app.store, app.config, run_clock(app, as_of))
    if as_json:
        print_json(rows)
        return
    tz = app.config.tz
    click.echo(f"{'JOB':<18} {'SCHEDULE':<16} {'LAST RUN':<30} {'LAST SUCCESS':<17} NEXT DUE")
    for r in rows:
        last = r["last_run"]
        last_text = f"{last['slot']} {'FAILED' if r['failed'] else 'ok'}" if last else "never"
        success = local_text(r["last_success"]["finished_at"], tz) if r["last_success"] else "never"
        click.echo(f"{r['job']:<18} {r['schedule']:<16} {last_text:<30} {success:<17} {local_text(r['next_due'], tz)}")
        if r["failed"]:
            click.echo(f"  FAILED: {last['error']}")
        if r["running"]:
            click.echo(f"  running since {local_text(r['running']['claimed_at'], tz)} (pid {r['running']['pid']})")


@click.command("scheduler")
@click.option("--interval", type=click.IntRange(min=1), default=30, show_default=True,
              help="Seconds between checks for due jobs.")
@pass_app
def scheduler_cmd(app, interval):
    """Run the jobs in the foreground (an alternative to cron); stop with Ctrl-C or SIGTERM.

    Uses the same slot claims as 'jobs run-due', so it never runs a slot that cron ran.

    \b
    Example:
      helpline scheduler
    """
    from helpline_core.scheduler import run_scheduler

    def on_tick(results):
        if isinstance(results, Exception):
            click.echo(f"scheduler: tick failed: {results}", err=True)
            return
        for result in results:
            _print_result(*result)

    def on_start():
        click.echo(f"helpline scheduler: checking every {interval} s for {app.data_dir}; Ctrl-C stops.")

    ticks = run_scheduler(app.store, app.config, interval_seconds=interval, on_tick=on_tick, on_start=on_start)
    click.echo(f"helpline scheduler stopped after {ticks} checks.")
