"""``helpline init`` and ``helpline info``: setting up and describing the data directory."""

import click

from .common import json_option, pass_app, print_json


@click.command("init")
@click.option("--district-code", required=True, help="2-5 letters; the prefix of every ticket ID, e.g. SXR.")
@click.option("--district-name", required=True, help="e.g. Srinagar.")
@click.option("--timezone", default="Asia/Kolkata", show_default=True, help="IANA zone for all local times.")
@click.option("--areas", "areas_csv", type=click.Path(dir_okay=False),
              help="CSV with a 'name' column and optional ';'-separated 'alt_names' (default: shipped Srinagar areas).")
@click.option("--categories", "categories_csv", type=click.Path(dir_okay=False),
              help="CSV with columns name, sla_hours and optional sensitive (yes/no). Default: the shipped "
                   "Srinagar categories with the shipped areas, none with --areas.")
@click.option("--language", "languages", multiple=True, metavar="LANG",
              help="A language callers may choose and texts are written in (repeat): en, hi, ur. "
                   "Default: all three.")
@click.option("--force", is_flag=True,
              help="Rewrite the config of an existing district (tickets are kept); over tickets, archives or texts "
                   "only with their own district code.")
@pass_app
def init_cmd(app, district_code, district_name, timezone, areas_csv, categories_csv, languages, force):
    """Create the data directory, its config.toml and its database.

    An areas file in which a name or alternative name belongs to two areas is refused (a typed
    name must lead to one area). Without --areas and --categories the district gets Srinagar's
    shipped areas and categories; with its own --areas and no --categories it starts with none.

    A folder that already holds tickets, archives or texts is refused, even when its
    config.toml is missing, unless --force is given with the same district code.

    \b
    Example:
      helpline init --district-code SXR --district-name Srinagar --timezone Asia/Kolkata
      helpline init --district-code BOS --district-name Boston --timezone America/New_York \\
          --areas boston_areas.csv --categories boston_categories.csv --language en
    """
    from helpline_core.district import init_district

    cfg = init_district(app.data_dir, code=district_code, name=district_name, timezone=timezone,
                        areas_csv=areas_csv, categories_csv=categories_csv, languages=languages, force=force)
    click.echo(f"District {cfg.district_code} ({cfg.district_name}) ready in {app.data_dir}")
    from helpline_core.words import plural

    click.echo(f"  config: {cfg.path}  ({plural(len(cfg.areas), 'area')}, categories: "
               f"{', '.join(cfg.categories) or 'none yet'})")
    if not cfg.categories:
        click.echo(f"  add categories under [categories] in {cfg.path} (name = SLA hours); 'helpline import' "
                   f"adds those its mapping lists")
    click.echo("Next: add officers with 'helpline officer add', then log calls with 'helpline log'.")


@click.command("info")
@json_option
@pass_app
def info_cmd(app, as_json):
    """Show where the data lives, the district's settings, and ticket counts.

    \b
    Example:
      helpline info
    """
    from helpline_core.config import CONFIG_NAME

    facts = {"data_dir": str(app.data_dir), "config": str(app.data_dir / CONFIG_NAME), "operator": app.actor}
    try:
        cfg = app.config
    except Exception as error:  # no district yet: info still says where it would be
        from helpline_core.errors import HelplineError

        if not isinstance(error, HelplineError):
            raise
        facts["district"] = None
        if as_json:
            print_json(facts)
        else:
            click.echo(f"data directory: {facts['data_dir']}\n{error}")
        return
    snapshot = app.store.snapshot()
    counts = {}
    for t in snapshot.table("tickets").all():
        counts[t["status"]] = counts.get(t["status"], 0) + 1
    facts.update(district=cfg.district_code, district_name=cfg.district_name, timezone=cfg.timezone_name,
                 categories=cfg.categories, areas=[a["name"] for a in cfg.areas], languages=list(cfg.languages),
                 live_tickets=counts, officers=len(snapshot.table("officers")))
    from helpline_core.outbox import recent_trouble

    trouble = recent_trouble(app.store, cfg, app.now())
    facts.update(texts_failed_24h=trouble["failed"], texts_unconfirmed_24h=trouble["unconfirmed"])
    if as_json:
        print_json(facts)
        return
    click.echo(f"district:       {cfg.district_code} ({cfg.district_name}), time zone {cfg.timezone_name}")
    click.echo(f"data directory: {facts['data_dir']}")
    click.echo(f"config:         {facts['config']}")
    click.echo(f"operator:       {app.actor}")
    click.echo("categories:     " + (", ".join(f"{c} (SLA {h:g} h{', sensitive' if cfg.is_sensitive(c) else ''})"
                                               for c, h in cfg.categories.items()) or "none yet"))
    click.echo("areas:          " + ", ".join(facts["areas"]))
    click.echo(f"officers:       {facts['officers']}")
    click.echo("live tickets:   " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"))
    click.echo(f"texts, 24 h:    {trouble['failed']} failed or undelivered, {trouble['unconfirmed']} delivery not "
               f"confirmed (accepted by the gateway, or outcome unknown)")
