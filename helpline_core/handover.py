"""``helpline handover``: the shift summary for the next operator.

Since a moment, inclusive to the second (the last recorded handover, or a given time; with
neither, the last 12 hours):

- ``new``: live tickets opened since, newest first;
- ``escalations``: escalation events since (ticket, level, to whom);
- ``awaiting_verification``: every live resolved ticket (whenever resolved), with how often the
  verifiers could not reach the caller;
- ``texts``: texts that failed or came back undelivered since, and the texts held now (quiet
  hours or waiting to be retried);
- ``jobs_failed``: job runs that failed since, with their error.

Each handover given without an explicit time is recorded in the ``handovers`` table
(``{"at": UTC ISO, "actor", "since": UTC ISO}``) and is where the next one starts.
"""

from datetime import timedelta

from .clock import from_iso, to_iso

DEFAULT_HOURS = 12
FAILED_TEXT_STATES = ("failed", "undelivered")


def last_handover(db):
    """:returns: the newest recorded handover ``{"at", "actor", "since"}``, or None."""
    rows = db.table("handovers").all()
    return dict(max(rows, key=lambda r: (r["at"], r.doc_id))) if rows else None  # same second: the later one


def build_handover(store, config, now, since=None):
    """Gather the shift summary (see the module docstring).

    :param store: the ``Store`` (read only). :param now: aware UTC.
    :param since: aware UTC, or None for the last recorded handover (else ``now`` - 12 hours).
    :returns: ``{"since": UTC ISO, "since_source": "given|last handover|default", "last_handover":
        {...} | None, "now": UTC ISO, "new": [ticket rows], "escalations": [{"id", "at", "note"}],
        "awaiting_verification": [ticket rows + "resolved_at", "not_reached"],
        "texts_failed": [{"key", "ticket_id", "state", "error", "at"}], "texts_held": [same],
        "jobs_failed": [{"job", "slot", "finished_at", "error"}]}``; a ticket row is ``{"id",
        "status", "area", "category", "officer", "opened_at"}``; times are UTC ISO.
    """
    from .outbox import HELD, list_messages
    from .tickets import RESOLVED, not_reached_count

    db = store.snapshot()
    previous = last_handover(db)
    if since is not None:
        source = "given"
    elif previous:
        since, source = from_iso(previous["at"]), "last handover"
    else:
        since, source = now - timedelta(hours=DEFAULT_HOURS), "default"

    def row(t):
        return {"id": t["id"], "status": t["status"], "area": t["area"], "category": t["category"],
                "officer": t.get("officer"), "opened_at": t["opened_at"]}

    live = sorted(db.table("tickets").all(), key=lambda t: t["serial"], reverse=True)
    new = [row(t) for t in live if from_iso(t["opened_at"]) >= since]
    escalations = [{"id": t["id"], "at": e["at"], "note": e.get("note")}
                   for t in live for e in t["history"] if e["type"] == "escalate" and from_iso(e["at"]) >= since]
    escalations.sort(key=lambda e: e["at"])
    awaiting = [dict(row(t), resolved_at=t.get("resolved_at"), not_reached=not_reached_count(t))
                for t in reversed(live) if t["status"] == RESOLVED]

    days = max(1, (now.astimezone(config.tz).date() - since.astimezone(config.tz).date()).days + 2)
    texts = list_messages(store, config, now, states=FAILED_TEXT_STATES + (HELD,), days=days)

    def text_row(m):
        return {"key": m["key"], "ticket_id": m.get("ticket_id"), "state": m["state"], "error": m.get("error"),
                "at": m.get("updated_at") or m.get("created_at")}

    failed = [text_row(m) for m in texts if m["state"] in FAILED_TEXT_STATES
              and from_iso(m.get("updated_at") or m["created_at"]) >= since]
    held = [text_row(m) for m in texts if m["state"] == HELD]

    jobs_failed = []
    for doc in db.table("jobs").all():
        for slot, run in (doc.get("slots") or {}).items():
            if run.get("state") == "failed" and from_iso(run["finished_at"]) >= since:
                jobs_failed.append({"job": doc["job"], "slot": slot, "finished_at": run["finished_at"],
                                    "error": run.get("error")})
    jobs_failed.sort(key=lambda j: j["finished_at"])
    return {"since": to_iso(since), "since_source": source, "last_handover": previous, "now": to_iso(now),
            "new": new, "escalations": escalations, "awaiting_verification": awaiting,
            "texts_failed": failed, "texts_held": held, "jobs_failed": jobs_failed}


def record_handover(db, actor, now, since):
    """Record a handover given at ``now`` (aware UTC) covering from ``since``: the next one starts here."""
    db.table("handovers").insert({"at": to_iso(now), "actor": actor, "since": to_iso(since)})
