"""``helpline demo``: a small district's last two days, played through the operator's own code."""

import csv
from datetime import timedelta

from . import officers, tickets
from .district import init_district
from .resources import resource_dir
from .store import Store


def _rows(name):
    with open(resource_dir("data") / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def run_demo(data_dir, now, actor="demo-operator"):
    """Create a demo district in ``data_dir`` (which must hold no district) and play calls into it.

    Reads ``data/areas.csv``, ``data/demo_roster.csv`` and ``data/demo_calls.csv``; logs each call
    an hour and a bit apart over the two days before ``now`` (aware UTC), then resolves, verifies,
    reopens and rejects some tickets, each in its own transaction as the CLI would; then sends the
    outbox through the file gateway (``outbox.jsonl``), as ``helpline sms send`` would at ``now``.

    :returns: a dict of counts: ``calls``, ``tickets``, ``followups``, ``by_status`` {status: n},
        ``sms_sent``, ``sms_held`` (held when ``now`` is in quiet hours).
    """
    config = init_district(data_dir, code="SXR", name="Srinagar (demo)", timezone="Asia/Kolkata")
    store = Store(data_dir, config.lock_timeout_seconds)
    with store.transaction() as db:
        for row in _rows("demo_roster.csv"):
            officers.add_officer(db, config, row["officer_id"], name=row["name"], phone=row["phone"],
                                 areas=row["areas"].split(";"), categories=row["categories"].split(";"),
                                 role=row["role"], lang=row["lang"], actor=actor, now=now - timedelta(days=3))
    calls = _rows("demo_calls.csv")
    start = now - timedelta(hours=len(calls) * 1.25 + 2)
    logged, followups = [], 0
    for n, row in enumerate(calls):
        moment = start + timedelta(hours=n * 1.25)
        with store.transaction() as db:
            ticket, followup = tickets.log_call(
                db, config, store, phone=row["phone"], area=row["area"], category=row["category"],
                caller_name=row["name"], language=row["lang"], description=row["description"],
                actor=actor, now=moment)
        followups += followup
        if not followup:
            logged.append((ticket["id"], moment))
    # An afternoon's field work: officers phone in; verifiers call callers back.
    verifiers = {"rafiq": "nusrat", "shabnam": "nusrat", "tariq": "nusrat", "meena": "vikram", "irfan": "vikram"}
    for n, (ticket_id, moment) in enumerate(logged):
        later = moment + timedelta(hours=1)
        with store.transaction() as db:
            ticket = tickets.get_live(db, config, ticket_id)
            if n == 5:
                tickets.reject(db, config, store, ticket_id, reason="prank call", actor=actor, now=later)
                continue
            if ticket["status"] != tickets.ASSIGNED or n % 3 == 2:
                continue
            tickets.resolve(db, config, ticket_id, note="Delivered / attended in the field", actor=actor, now=later)
            if n % 3 == 0:
                verifier = verifiers.get(ticket["officer"], "nusrat")
                confirmed = n % 9 != 3
                tickets.verify(db, config, ticket_id, confirmed=confirmed, by=verifier, actor=actor,
                               now=later + timedelta(minutes=30),
                               note=None if confirmed else "caller says nothing arrived")
    from .gateways import FileGateway
    from .sending import send_outbox

    report = send_outbox(store, config, FileGateway(data_dir), now)
    by_status = {}
    for ticket in store.snapshot().table("tickets").all():
        by_status[ticket["status"]] = by_status.get(ticket["status"], 0) + 1
    return {"calls": len(calls), "tickets": len(logged), "followups": followups, "by_status": by_status,
            "sms_sent": len(report.sent), "sms_held": len(report.held)}
