"""``helpline demo``: try helpline on a built-in district without touching real data."""

import click


@click.command("demo")
@click.option("--keep-in", "target", type=click.Path(file_okay=False),
              help="Create the demo district in this new folder instead of a temporary one.")
def demo_cmd(target):
    """Set up a demo district in a fresh folder and play two days of calls into it.

    Officers come from data/demo_roster.csv; calls in English, Hindi and Urdu from
    data/demo_calls.csv, logged, routed, resolved and verified by the same code the
    operator's commands use. Your own data directory is never touched.

    \b
    Example:
      helpline demo
      HELPLINE_DATA_DIR=<printed folder> helpline list
    """
    import tempfile
    from pathlib import Path

    from helpline_core.clock import utcnow
    from helpline_core.demo import run_demo
    from helpline_core.errors import InvalidValue

    if target:
        data_dir = Path(target)
        if data_dir.exists() and any(data_dir.iterdir()):
            raise InvalidValue(f"{data_dir} is not empty; the demo needs a new folder.")
    else:
        data_dir = Path(tempfile.mkdtemp(prefix="helpline-demo-"))
    summary = run_demo(data_dir, utcnow())
    from helpline_core.words import plural

    click.echo(f"Demo district SXR (Srinagar) with {plural(summary['calls'], 'call')}: "
               f"{plural(summary['tickets'], 'ticket')}, {plural(summary['followups'], 'follow-up call')}.")
    click.echo("Tickets by status: " + ", ".join(f"{k} {v}" for k, v in sorted(summary["by_status"].items())))
    sms = f"{plural(summary['sms_sent'], 'text')} sent to {data_dir / 'outbox.jsonl'}"
    if summary["sms_held"]:
        sms += f", {summary['sms_held']} held until quiet hours end"
    click.echo(f"SMS (file gateway): {sms}.")
    click.echo(f"Data directory: {data_dir}")
    click.echo(f"Try:  HELPLINE_DATA_DIR={data_dir} helpline list")
