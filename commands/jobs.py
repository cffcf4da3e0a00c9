"""``helpline jobs ...`` and ``helpline scheduler``: the unattended work."""

import click

from .common import DATE, json_option, pass_app, print_json
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
    return click.option("--date", "day", type=DATE,
                        help="The local date the run covers (default: today).")(f)


def _counts_text(detail):
    counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in detail.items())
    return f" ({counts})" if counts else ""


def _print_result(job, slot, outcome, detail):
    if outcome in ("ok", "partial"):
        more = ", stopped at its time budget; goes on at the next check" if outcome == "partial" else ""
        click.echo(f"{job} {slot}: ok{_counts_text(detail)}{more}")
    elif outcome == "skipped":
        click.echo(f"{job} {slot}: skipped, {detail}")
    else:
        click.echo(f"{job} {slot}: FAILED {detail}")


def print_results(results, now, tz, quiet=False):
    """Print a check's results for a log read by people: the runs that went well on one line
    (none with ``quiet``), each skipped or failed slot on a line of its own.

    :param results: [(job, slot, outcome, detail)] from ``run_due``. :param now: the check's clock.
    """
    good = [(job, slot, outcome, detail) for job, slot, outcome, detail in results if outcome in ("ok", "partial")]
    if good and not quiet:
        parts = [f"{job} {slot}{_counts_text({k: v for k, v in detail.items() if v})}"
                 f"{' (stopped at its time budget)' if outcome == 'partial' else ''}"
                 for job, slot, outcome, detail in good]
        click.echo(f"{now.astimezone(tz):%Y-%m-%d %H:%M %z} ok: " + "; ".join(parts))
    for result in results:
        if result[2] not in ("ok", "partial"):
            _print_result(*result)
    if not results and not quiet:
        click.echo(f"{now.astimezone(tz):%Y-%m-%d %H:%M %z} nothing due.")


def _run_one(app, job, day, as_of, **options):
    from helpline_core.errors import HelplineError
    from helpline_core.jobs import run_job, slot_for

    now = run_clock(app, as_of)
    slot, day = slot_for(app.config, job, now, day.date() if day else None)
    outcome, detail = run_job(app.store, app.config, job, slot, day, now, force=True, **options)
    _print_result(job, slot, outcome, detail)
    if outcome == "failed":
        raise HelplineError(f"job {job} failed for {slot}; see 'helpline jobs status'.")
    if outcome == "skipped" and detail != "done":  # another process is running it: exit 4
        from helpline_core.errors import JobBusy

        raise JobBusy(f"job {job} did not run: {detail}")


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
purge_cmd = _job_command("purge", "Purge personal data monthly when [retention] purge_after_days is set.",
                         "helpline jobs purge --date 2026-12-01", True)
for _command in (digest_cmd, escalate_cmd, send_cmd, sync_cmd, archive_cmd, purge_cmd):
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


def _catch_up_option(f):
    return click.option("--catch-up-first-day", is_flag=True,
                        help="On the first run of an install, run today's slots whose time has passed "
                             "(default: record them as skipped).")(f)


def _quiet_option(f):
    return click.option("--quiet", "-q", is_flag=True,
                        help="Print nothing when every job went well (failures and skips still print).")(f)


@jobs_group.command("run-due")
@as_of_option
@_catch_up_option
@_quiet_option
@pass_app
def run_due_cmd(app, as_of, catch_up_first_day, quiet):
    """Run every job whose slot has come and has not run yet (what cron calls).

    Prints one line for the runs that went well (nothing with --quiet) and one line for each
    failed or skipped slot. A failed job is tried again after 5, 15 and 60 minutes. Exit code 1
    when any job failed; the others still ran.

    \b
    Example:
      helpline jobs run-due --quiet
    """
    from helpline_core.errors import HelplineError
    from helpline_core.jobs import run_due

    now = run_clock(app, as_of)
    results = run_due(app.store, app.config, now, catch_up_first_day=catch_up_first_day)
    print_results(results, now, app.config.tz, quiet)
    failed = [job for job, _, outcome, _ in results if outcome == "failed"]
    if failed:
        from helpline_core.words import plural

        raise HelplineError(f"{plural(len(failed), 'job')} failed: {', '.join(failed)}; see 'helpline jobs status'.")


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

    Exit code 1 when any job's last run failed, or when texts have waited in the outbox more than
    [sms] alert_after_minutes (default 60; quiet hours not counted).

    \b
    Example:
      helpline jobs status
    """
    from helpline_core.clock import local_text
    from helpline_core.jobs import status

    from helpline_core.errors import HelplineError
    from helpline_core.outbox import alert_after_minutes, waiting_too_long

    now = run_clock(app, as_of)
    rows = status(app.store, app.config, now)
    waiting = waiting_too_long(app.store, app.config, now)
    failed = [r["job"] for r in rows if r["failed"]]
    from helpline_core.words import plural

    problems = []
    if failed:
        problems.append(f"{plural(len(failed), 'job')} failed on their last run: {', '.join(failed)}")
    if waiting:
        problems.append(f"{plural(len(waiting), 'text')} waiting more than {alert_after_minutes(app.config):g} minutes "
                        f"outside quiet hours (oldest {waiting[0]['key']}, {waiting[0]['state']}, "
                        f"{plural(waiting[0]['waited_minutes'], 'minute')}); see 'helpline sms list'")
    if as_json:
        print_json(rows)
        if problems:
            raise HelplineError("; ".join(problems) + ".")
        return
    tz = app.config.tz

    def shown(entry, wall_key):  # the run's own clock (--as-of), as every other time here
        return local_text(entry.get("as_of") or entry[wall_key], tz)

    click.echo(f"{'JOB':<18} {'SCHEDULE':<16} {'LAST RUN':<30} {'LAST SUCCESS':<17} NEXT DUE")
    for r in rows:
        last = r["last_run"]
        last_text = f"{last['slot']} {'FAILED' if r['failed'] else 'ok'}" if last else "never"
        success = shown(r["last_success"], "finished_at") if r["last_success"] else "never"
        if r["on"]:
            schedule, next_due = r["schedule"], local_text(r["next_due"], tz)
        else:  # the purge job, until [retention] purge_after_days is set
            schedule, next_due = "off", "never (set [retention] purge_after_days)"
        click.echo(f"{r['job']:<18} {schedule:<16} {last_text:<30} {success:<17} {next_due}")
        failing = r.get("failing")
        if r["failed"] and failing:
            times = f"{plural(failing['count'], 'time')} in a row since " \
                    f"{local_text(failing['since'], tz)}"
            retry = (f"next try {local_text(failing['retry_at'], tz)}" if failing.get("retry_at")
                     else "given up until its next slot")
            click.echo(f"  FAILED ({times}; {retry}): {failing['error']}")
        elif r["failed"]:
            click.echo(f"  FAILED: {last['error']}")
        if r["running"]:
            click.echo(f"  running since {shown(r['running'], 'claimed_at')} (pid {r['running']['pid']})")
    if waiting:
        click.echo(f"TEXTS WAITING: {len(waiting)} for more than {alert_after_minutes(app.config):g} minutes "
                   f"(quiet hours not counted)")
        for r in waiting[:5]:
            click.echo(f"  {r['state']:<8} {r['key']}  {r['waited_minutes']} min{'  ' + r['error'] if r.get('error') else ''}")
    from helpline_core.ivr_records import problems_line

    ivr_problems = problems_line(app.data_dir, app.config, run_clock(app, as_of))
    if ivr_problems:
        click.echo(ivr_problems)
    if problems:
        raise HelplineError("; ".join(problems) + ".")


@click.command("scheduler")
@click.option("--interval", type=click.IntRange(min=1), default=30, show_default=True,
              help="Seconds between checks for due jobs.")
@_catch_up_option
@_quiet_option
@pass_app
def scheduler_cmd(app, interval, catch_up_first_day, quiet):
    """Run the jobs in the foreground (an alternative to cron); stop with Ctrl-C or SIGTERM.

    Uses the same slot claims as 'jobs run-due', so it never runs a slot that cron ran.

    \b
    Example:
      helpline scheduler
    """
    from helpline_core.scheduler import run_scheduler

    failing = []  # the check's own error (say, a full disk under the store): said once, then counted

    def on_tick(results, now):
        if isinstance(results, Exception):
            if not failing or str(results) != failing[0]:
                click.echo(f"scheduler: the check failed: {results}", err=True)
                failing[:] = [str(results), 0]
            failing[1] += 1
            return
        if failing:
            click.echo(f"scheduler: checks work again after {failing[1]} failed", err=True)
            failing.clear()
        if results:  # a check with nothing due prints nothing: one every 30 seconds
            print_results(results, now, app.config.tz, quiet)

    def on_start():
        click.echo(f"helpline scheduler: checking every {interval} s for {app.data_dir}; Ctrl-C stops.")

    ticks = run_scheduler(app.store, app.config, interval_seconds=interval, on_tick=on_tick, on_start=on_start,
                          catch_up_first_day=catch_up_first_day)
    from helpline_core.words import plural

    click.echo(f"helpline scheduler stopped after {plural(ticks, 'check')}.")
