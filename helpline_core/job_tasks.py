"""What each scheduled job does. Every task is idempotent: running a slot twice queues nothing
twice (outbox keys are unique), and each writes the store once per run, not once per ticket.

Each task is ``f(store, config, *, now, day, settings, gateway_factory) -> counts`` where ``now``
is the run's clock (aware UTC), ``day`` the local date a daily job covers, and ``counts`` a small
dict for ``jobs.log``.
"""

from datetime import timedelta

from .clock import from_iso, to_iso
from .notify import category_word
from .outbox import queue_message
from .tickets import ASSIGNED, OPEN, is_overdue


def _gateway(config, store, gateway_factory):
    from .gateways import make_gateway

    return (gateway_factory or make_gateway)(config, store.data_dir)


def send_task(store, config, *, now, gateway_factory=None, monotonic=None, **_):
    """Send the outbox for at most ``[sms] send_budget_seconds`` (default 25, under the scheduler's
    30-second check): a long send stops there (``partial``) and goes on at the next check, after
    the other due jobs, so it never pushes the verification list or escalations out.

    :raises RunFailed: (with the counts) when any text failed for good."""
    from .errors import RunFailed
    from .sending import _settings, send_failure, send_outbox

    budget = _settings(config)["send_budget_seconds"]
    report = send_outbox(store, config, _gateway(config, store, gateway_factory), now, budget_seconds=budget,
                         monotonic=monotonic)
    counts = {"sent": len(report.sent), "held": len(report.held), "superseded": len(report.superseded),
              "failed": len(report.failed), "retrying": len(report.retrying),
              "unknown": len(report.unknown) + len(report.unanswered)}
    problem = send_failure(report)
    if problem:
        raise RunFailed(problem, counts)
    if report.out_of_time:
        counts["partial"] = True  # run_job records the slot as partial: it runs on at the next check
    return counts


def sync_task(store, config, *, now, gateway_factory=None, **_):
    """Fetch delivery status. :raises RunFailed: (with the counts) when texts were found not
    delivered or a status could not be fetched."""
    from .errors import RunFailed
    from .sending import sync_failure, sync_outbox

    counts = sync_outbox(store, config, _gateway(config, store, gateway_factory), now)
    problem = sync_failure(counts)
    if problem:
        raise RunFailed(problem, counts)
    return counts


def archive_task(store, config, *, now, **_):
    from .archive import archive_final_tickets

    return {"archived": archive_final_tickets(store, config, now)}


def _age(opened_at, now):
    hours = (now - from_iso(opened_at)).total_seconds() / 3600
    return f"{int(hours // 24)}d" if hours >= 48 else f"{int(hours)}h"


def _fit_digest(context, lang, budget, oldest, policy=None):
    """Put as many of the ``oldest`` tickets in the digest as its segment budget allows and, with a
    DLT registry (``policy``, a ``dlt.SendPolicy``), as one of its registered wordings has room for."""
    from .sms_templates import render

    data_dir = policy.data_dir if policy else None
    for count in range(min(len(oldest), 5), -1, -1):
        trial = dict(context, oldest=oldest[:count])
        if count == 0 or (render("officer_digest", lang, trial, data_dir=data_dir)[2] <= budget
                          and (policy is None or policy.accepts("officer_digest", lang, trial))):
            return trial
    return context


def _supervisors_for(officers, area):
    active = [o for o in officers if o["active"] and o["role"] == "supervisor"]
    return [o for o in active if area in o["areas"]] or active


def queue_escalation(db, config, ticket, recipients, now, *, level, overdue_hours, officer_name):
    """Queue the ``escalation`` text about ``ticket`` (just given its ``escalate`` history event) to
    each recipient (officer records) that can get texts; landlines are skipped.

    :param level: the level the text names: "1", "2", "U" (never assigned) or "C" (callback).
    :param overdue_hours: whole hours past the due time (or waited, for a callback).
    :param officer_name: the assigned officer's name, or "".
    The key holds the escalate event's sequence, so a rerun queues nothing twice.
    """
    sequence = len(ticket["history"]) - 1
    for recipient in recipients:
        if recipient.get("phone_type") == "landline":
            continue
        queue_message(
            db, now, key=f"{ticket['id']}:escalation:{sequence}:{recipient['phone']}",
            recipient=recipient["phone"], audience=recipient["role"], template="escalation",
            lang=recipient["lang"], ticket_id=ticket["id"], officer_id=recipient["officer_id"],
            ignore_quiet_hours=True, ticket_events=len(ticket["history"]),
            context={"district": config.district_name, "ticket_id": ticket["id"],
                     "category": category_word(ticket["category"], recipient["lang"]), "area": ticket["area"],
                     "level": level, "overdue_hours": overdue_hours, "officer_name": officer_name})


def digest_task(store, config, *, now, day, **_):
    """Morning digests: one SMS per active officer with assigned work (a verifier too, when tickets
    were assigned to them by name); supervisors get the overdue tickets of their areas, those
    assigned to them, and the resolved ones whose caller the verifiers could not reach
    ``[verification] max_attempts`` times. Counts, the oldest few (as many as the budget allows)
    and the number of tickets assigned since the officer's previous digest."""
    from .sms_templates import budget_for
    from .tickets import RESOLVED, not_reached_count
    from .verification import max_attempts

    from .outbox import keys_in_day_files

    from .dlt import SendPolicy

    budget = budget_for(config, "officer_digest", "en")
    policy = SendPolicy(config, store.data_dir)
    attempts = max_attempts(config)
    queued = 0
    gone = keys_in_day_files(store, config, now, days=max(2, (now.astimezone(config.tz).date() - day).days + 2))
    with store.transaction() as db:
        all_live = db.table("tickets").all()
        live = [t for t in all_live if t["status"] in (OPEN, ASSIGNED)]
        officers = db.table("officers").all()
        unreachable = {}  # supervisor -> resolved tickets whose caller the verifiers could not reach
        for t in all_live:
            if t["status"] == RESOLVED and not_reached_count(t) >= attempts:
                for supervisor in _supervisors_for(officers, t["area"]):
                    unreachable.setdefault(supervisor["officer_id"], []).append(t["id"])
        for officer in officers:
            if not officer["active"] or not officer.get("phone") or officer.get("phone_type") == "landline":
                continue
            unreached = []
            own = [t for t in live if t["officer"] == officer["officer_id"]]  # assigned by name: any role
            if officer["role"] in ("officer", "verifier"):
                mine = shown = own
            elif officer["role"] == "supervisor":
                mine = [t for t in live if t["area"] in officer["areas"] or t in own]
                shown = [t for t in mine if is_overdue(t, now) or t in own]
                unreached = sorted(unreachable.get(officer["officer_id"], []))
                if not shown and not unreached:
                    continue
            if not mine and not unreached:
                continue
            since = from_iso(officer.get("last_digest_at")) if officer.get("last_digest_at") else None
            new = [t for t in mine if since is None or any(
                e["type"] == "assign" and from_iso(e["at"]) > since for e in t["history"])]
            oldest = [{"id": t["id"], "category": category_word(t["category"], officer["lang"]), "area": t["area"],
                       "age": _age(t["opened_at"], now)} for t in sorted(shown, key=lambda t: t["opened_at"])]
            context = {"district": config.district_name, "date": day.isoformat(), "open_count": len(mine),
                       "overdue_count": sum(is_overdue(t, now) for t in mine), "new_count": len(new),
                       "unreached_count": len(unreached)}
            key = f"digest:{day.isoformat()}:{officer['officer_id']}:{officer['phone']}"
            if key in gone:  # this slot's digest was sent already (a rerun)
                continue
            context = _fit_digest(context, officer["lang"], budget, oldest, policy)
            record = queue_message(db, now, key=key,
                                   recipient=officer["phone"], audience=officer["role"], template="officer_digest",
                                   lang=officer["lang"], context=context, officer_id=officer["officer_id"])
            if record:
                queued += 1
                db.table("officers").update({"last_digest_at": to_iso(now)}, doc_ids=[officer.doc_id])
    return {"digests": queued}


def escalate_task(store, config, *, now, settings, **_):
    """Escalate tickets past their SLA: level 1 texts the assigned officer (the supervisor when
    nobody is assigned), level 2 (``escalation_level2_after_hours`` later) the area's supervisor;
    unassigned tickets older than ``unassigned_escalation_after_hours`` go to the supervisor.
    Each level is a history event and is sent once per SLA period (reopening starts a new one)."""
    from .tickets import _apply, _event

    level2 = timedelta(hours=settings["escalation_level2_after_hours"])
    unassigned_after = timedelta(hours=settings["unassigned_escalation_after_hours"])
    counts = {"level1": 0, "level2": 0, "unassigned": 0}
    with store.transaction() as db:
        tickets = db.table("tickets")
        officers = db.table("officers").all()
        by_id = {o["officer_id"]: o for o in officers}
        for ticket in tickets.all():
            if ticket["status"] not in (OPEN, ASSIGNED) or ticket.get("source"):
                continue  # imported tickets belong to another system's process: never escalated from here
            done = dict(ticket.get("escalations") or {})
            due = from_iso(ticket["due_at"]) if ticket.get("due_at") else None
            steps = []
            if due and now > due and done.get("1") != ticket["due_at"]:
                steps.append(("1", ticket["due_at"]))
            if due and now > due + level2 and done.get("2") != ticket["due_at"] and \
                    (done.get("1") == ticket["due_at"] or steps):
                steps.append(("2", ticket["due_at"]))
            if ticket["status"] == OPEN and now > from_iso(ticket["opened_at"]) + unassigned_after \
                    and done.get("unassigned") != ticket["opened_at"]:
                steps.append(("unassigned", ticket["opened_at"]))
            for level, mark in steps:
                officer = by_id.get(ticket["officer"]) if ticket["officer"] else None
                if level == "1" and officer and officer["active"]:
                    recipients = [officer]
                else:
                    recipients = _supervisors_for(officers, ticket["area"])
                done[level] = mark
                note = f"level {level}: to {', '.join(r['officer_id'] for r in recipients) or 'nobody (no supervisor)'}"
                ticket = _apply(tickets, ticket, _event("escalate", "scheduler", now, note), escalations=done)
                overdue_hours = int((now - due).total_seconds() // 3600) if due and now > due else 0
                queue_escalation(db, config, ticket, recipients, now,
                                 level="U" if level == "unassigned" else level, overdue_hours=overdue_hours,
                                 officer_name=officer["name"] if officer else "")
                counts["level1" if level == "1" else "level2" if level == "2" else "unassigned"] += 1
        ivr = _ivr_settings(config)
        if ivr is not None:
            from .callbacks import escalate_callbacks

            counts["callbacks"] = escalate_callbacks(db, config, now, officers, ivr.callback_sla_minutes)
    return counts


def _ivr_settings(config):
    """:returns: the ``[ivr]`` settings when the district uses the voice menu, else None."""
    if not config.raw.get("ivr"):
        return None
    from .ivr_records import IvrSettings

    settings = IvrSettings(config)
    return settings if settings.enabled else None


def verification_task(store, config, *, now, day, sample=None, seed=None, **_):
    """Write the nightly verification list for local date ``day`` (CSV and HTML)."""
    from .verification import build_verification_list, write_verification_list

    if sample and seed is None:
        seed = day.toordinal()  # a rerun of the same night draws the same sample
    listing = build_verification_list(store.snapshot(), config, day, sample=sample, seed=seed)
    write_verification_list(store.data_dir, listing)
    unassigned = sum(len(g["rows"]) for g in listing["groups"] if g["verifier"] is None)
    return {"tickets": listing["total"], "verifiers": sum(g["verifier"] is not None for g in listing["groups"]),
            "unassigned": unassigned}


def purge_task(store, config, **kwargs):
    """Retire personal data monthly (off unless ``[retention] purge_after_days``): see ``retention``."""
    from .retention import purge_task as task

    return task(store, config, **kwargs)


TASKS = {"send": send_task, "sync": sync_task, "archive": archive_task, "digest": digest_task,
         "escalate": escalate_task, "verification-list": verification_task, "purge": purge_task}
