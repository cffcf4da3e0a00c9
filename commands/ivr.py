"""``helpline ivr serve`` (the voice menu's web server) and ``helpline callbacks``."""

import click

from .common import json_option, pass_app, print_json


@click.group("ivr")
def ivr_group():
    """The voice menu (IVR): callers hear their ticket's status, type a ticket number, reach the
    desk or ask for a callback. Off unless [ivr] enabled = true in config.toml.

    \b
    Example:
      helpline ivr serve --port 8080
    """


@ivr_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (keep it behind the HTTPS proxy).")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port to listen on (0: any free port, printed).")
@click.option("--threads", type=click.IntRange(1, 64), default=8, show_default=True, help="Requests answered at once.")
@pass_app
def serve_cmd(app, host, port, threads):
    """Answer Twilio's voice webhooks (TwiML) until stopped; meant to sit behind the district's
    HTTPS reverse proxy at [ivr] public_url. Every request's X-Twilio-Signature is checked
    (TWILIO_AUTH_TOKEN, or [sms] credentials_file).

    \b
    Example:
      TWILIO_AUTH_TOKEN=... helpline ivr serve --host 127.0.0.1 --port 8080
    """
    import logging

    from helpline_core.ivr_app import auth_token, serve
    from helpline_core.ivr_records import IvrSettings

    cfg = app.config
    IvrSettings(cfg).check_ready()
    token = auth_token(cfg)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    public_url = cfg.raw["ivr"]["public_url"].rstrip("/")

    def ready(bound_host, bound_port):
        click.echo(f"helpline IVR listening on http://{bound_host}:{bound_port} for {public_url}/voice; "
                   f"Ctrl-C stops.", err=False)
        import sys

        sys.stdout.flush()

    serve(app.data_dir, cfg, token, host, port, threads=threads, on_ready=ready)


@click.command("callbacks")
@json_option
@pass_app
def callbacks_cmd(app, as_json):
    """Callback requests from the voice menu, oldest first, with how long each has waited.

    Return the call, then record it: helpline log --callback TICKET.

    \b
    Example:
      helpline callbacks
      helpline log --callback SXR-10429 --description "called back, needs ration"
    """
    from helpline_core.callbacks import waiting_callbacks
    from helpline_core.clock import local_text

    now = app.now()
    rows = waiting_callbacks(app.store.snapshot().table("tickets").all(), now)
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("No callbacks waiting.")
        return
    click.echo(f"{'TICKET':<14} {'WAITED':>7} {'SINCE':<17} {'PHONE':<14} {'LANG':<4} {'CATEGORY':<12} AREA")
    for r in rows:
        waited = f"{r['waited_minutes'] // 60}h{r['waited_minutes'] % 60:02d}m"
        click.echo(f"{r['id']:<14} {waited:>7} {local_text(r['requested_at'], app.config.tz):<17} "
                   f"{r['phone'] or '-':<14} {r['language'] or '-':<4} {r['category']:<12} {r['area']}"
                   f"{'  ESCALATED' if r['escalated'] else ''}")
