"""Scheduled work: which job is due for which slot, claiming it, running it, recording it.

A *slot* is one job for one stretch of the district's local time: a local date for daily jobs
(``2026-11-30``), a local start time for interval jobs (``2026-11-30T08:35``). Rules:

- a slot runs at most once: the run claims it in the store under the lock before doing anything;
  a second process finds the job claimed (or the slot done) and does nothing;
- a claim left by a run that died may be claimed again at once when its process is gone from
  this machine, otherwise after ``stale_after_minutes`` (wall-clock);
- ``run_due`` catches up: every daily slot of the last ``catch_up_days`` whose time has come and
  that has not succeeded runs once, labelled with its own date; interval jobs run once for the
  current slot (one send covers every missed five minutes);
- a job that raises is recorded as failed with its error; the other jobs still run.

The ``jobs`` table holds one document per job::

    {"job": "digest", "first_run_at": UTC ISO, "running": {"slot", "claimed_at", "pid"} | null,
     "slots": {slot: {"state": "succeeded|failed", "started_at", "finished_at", "counts", "error"}},
     "last_success": {"slot", "finished_at"} | null, "last_failure": {"slot", "finished_at", "error"} | null}

Each run also appends one line to ``jobs.log`` in the data directory.
"""

import json
import os
import re
from datetime import date, datetime, time, timedelta

from tinydb import Query

from .clock import UTC, from_iso, to_iso, utcnow
from .errors import InvalidValue

JOB_ORDER = ("archive", "escalate", "digest", "verification-list", "send", "sync")
DEFAULT_SCHEDULE = {"send": "every 5 minutes", "sync": "hourly", "escalate": "hourly", "digest": "daily 08:30",
                    "verification-list": "daily 22:00", "archive": "daily 03:00"}
KEEP_SLOTS = 60


class Schedule:
    """When one job runs: ``daily HH:MM``, ``hourly`` or ``every N minutes`` (local time)."""

    def __init__(self, job, text):
        self.job, self.text = job, str(text).strip().lower()
        daily = re.fullmatch(r"daily (\d{1,2}):(\d{2})", self.text)
        every = re.fullmatch(r"every (\d+) minutes?", self.text)
        if daily:
            try:
                self.daily_at, self.minutes = time(int(daily.group(1)), int(daily.group(2))), None
            except ValueError:
                raise InvalidValue(f"job {job}: '{text}' is not a time of day.") from None
        elif self.text == "hourly" or every:
            self.daily_at, self.minutes = None, 60 if self.text == "hourly" else int(every.group(1))
            if not 1 <= self.minutes <= 1440:
                raise InvalidValue(f"job {job}: 'every N minutes' needs N from 1 to 1440.")
        else:
            raise InvalidValue(f"job {job}: schedule '{text}' is not 'daily HH:MM', 'hourly' or 'every N minutes'.")

    def slot_at(self, moment, tz):
        """:returns: ``(slot, due_at_utc)`` of the slot that holds ``moment`` (aware UTC)."""
        local = moment.astimezone(tz)
        if self.daily_at:
            return local.date().isoformat(), datetime.combine(local.date(), self.daily_at, tzinfo=tz).astimezone(moment.tzinfo)
        minutes = (local.hour * 60 + local.minute) // self.minutes * self.minutes
        start = datetime.combine(local.date(), time(minutes // 60, minutes % 60), tzinfo=tz)
        return start.strftime("%Y-%m-%dT%H:%M"), start.astimezone(moment.tzinfo)

    def daily_slot(self, day, tz):
        """:returns: ``(slot, due_at_utc)`` for a daily job on local date ``day``."""
        return day.isoformat(), datetime.combine(day, self.daily_at, tzinfo=tz).astimezone(UTC)


def job_settings(config):
    """:returns: the ``[jobs]`` settings with defaults: schedules, catch_up_days, stale_after_minutes, ..."""
    raw = config.raw.get("jobs", {})
    schedule = dict(DEFAULT_SCHEDULE, **raw.get("schedule", {}))
    return {
        "schedules": {job: Schedule(job, schedule[job]) for job in JOB_ORDER},
        "catch_up_days": int(raw.get("catch_up_days", 3)),
        "stale_after_minutes": float(raw.get("stale_after_minutes", 60)),
        "escalation_level2_after_hours": float(raw.get("escalation_level2_after_hours", 24)),
        "unassigned_escalation_after_hours": float(raw.get("unassigned_escalation_after_hours", 2)),
    }


def _job_doc(db, job):
    table = db.table("jobs")
    doc = table.get(Query().job == job)
    if doc is None:
        table.insert({"job": job, "first_run_at": None, "running": None, "slots": {}, "last_success": None,
                      "last_failure": None})
        doc = table.get(Query().job == job)
    return doc


def due_slots(db, config, now, settings=None):
    """:returns: [(job, slot, day_or_None)] due at ``now`` (aware UTC), in ``JOB_ORDER``, oldest slot first.

    Daily slots are caught up for ``catch_up_days``, but never from before the local date of the
    job's first run (a new install does not replay days it never had).
    """
    settings = settings or job_settings(config)
    due = []
    for job in JOB_ORDER:
        schedule = settings["schedules"][job]
        doc = db.table("jobs").get(Query().job == job) or {"slots": {}, "first_run_at": None}
        done = {s for s, r in doc["slots"].items() if r["state"] == "succeeded"}
        if schedule.daily_at:
            today = now.astimezone(config.tz).date()
            first = from_iso(doc.get("first_run_at"))
            first_day = first.astimezone(config.tz).date() if first else today
            day = max(today - timedelta(days=settings["catch_up_days"]), min(first_day, today))
            while day <= today:
                slot, due_at = schedule.daily_slot(day, config.tz)
                if due_at <= now and slot not in done:
                    due.append((job, slot, day))
                day += timedelta(days=1)
        else:
            slot, _ = schedule.slot_at(now, config.tz)
            if slot not in done:
                due.append((job, slot, None))
    return due


def _host():
    return os.uname().nodename


def _dead(running):
    """:returns: True when the claiming process ran on this machine and is gone (killed, rebooted)."""
    if running.get("host") != _host():
        return False  # another machine's process: only the stale time can tell
    try:
        os.kill(int(running["pid"]), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError, TypeError):
        return False
    return False


def claim(store, job, slot, now, *, force=False, stale_after_minutes=60):
    """Claim ``job`` for ``slot`` under the store lock.

    :param force: claim even if the slot succeeded before (``jobs run``: a rerun on purpose).
    :returns: None when claimed, else why not: ``"done"`` or ``"running since ..."``.
    """
    wall = utcnow()
    with store.transaction() as db:
        doc = _job_doc(db, job)
        running = doc.get("running")
        if running and not _dead(running):
            age_minutes = (wall - from_iso(running["claimed_at"])).total_seconds() / 60
            if age_minutes < stale_after_minutes:
                return f"running since {running['claimed_at']} (slot {running['slot']}, pid {running['pid']})"
        if not force and doc["slots"].get(slot, {}).get("state") == "succeeded":
            return "done"
        fields = {"running": {"slot": slot, "claimed_at": to_iso(wall), "pid": os.getpid(), "host": _host()}}
        if not doc.get("first_run_at"):
            fields["first_run_at"] = to_iso(now)
        db.table("jobs").update(fields, doc_ids=[doc.doc_id])
    return None


def record(store, job, slot, started_at, now, *, counts=None, error=None):
    """Record the end of a claimed run and release the claim. ``error`` (one line) means it failed.

    :param started_at: wall-clock start (aware UTC). :param now: the run's own clock (``--as-of``).
    """
    finished = utcnow()
    entry = {"state": "failed" if error else "succeeded", "as_of": to_iso(now), "started_at": to_iso(started_at),
             "finished_at": to_iso(finished), "counts": counts or {}, "error": error}
    with store.transaction() as db:
        doc = _job_doc(db, job)
        slots = dict(doc["slots"])
        slots[slot] = entry
        for old in sorted(slots)[:-KEEP_SLOTS]:
            del slots[old]
        fields = {"running": None, "slots": slots}
        if error:
            fields["last_failure"] = {"slot": slot, "finished_at": entry["finished_at"], "error": error}
        else:
            fields["last_success"] = {"slot": slot, "finished_at": entry["finished_at"]}
        db.table("jobs").update(fields, doc_ids=[doc.doc_id])
    _log_line(store, job, slot, entry)


def _log_line(store, job, slot, entry):
    counts = " ".join(f"{k}={v}" for k, v in (entry["counts"] or {}).items())
    outcome = "ok" if entry["state"] == "succeeded" else f"FAILED {entry['error']}"
    line = (f"{entry['started_at']} {entry['finished_at']} as-of={entry['as_of']} {job} {slot} {outcome}"
            f"{' ' + counts if counts else ''}\n")
    fd = os.open(store.data_dir / "jobs.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)


def run_job(store, config, job, slot, day, now, *, force=False, gateway_factory=None, **options):
    """Claim and run one slot of one job.

    :param day: the local date a daily job covers (None for interval jobs).
    :param now: aware UTC, the clock the run uses (``--as-of``).
    :param gateway_factory: ``f(config, data_dir) -> gateway`` for send/sync (default: config's gateway).
    :param options: passed to the task (``sample``, ``seed`` for the verification list).
    :returns: ``(outcome, detail)``: outcome ``ok``, ``failed`` or ``skipped``; detail the counts, the
        error or the reason it was skipped.
    """
    from . import job_tasks

    settings = job_settings(config)
    why_not = claim(store, job, slot, now, force=force, stale_after_minutes=settings["stale_after_minutes"])
    if why_not:
        return "skipped", why_not
    started = utcnow()
    try:
        counts = job_tasks.TASKS[job](store, config, now=now, day=day, settings=settings,
                                      gateway_factory=gateway_factory, **options)
    except Exception as error:  # a failing job is recorded and never stops the others
        message = " ".join(f"{type(error).__name__}: {error}".split())[:500]
        record(store, job, slot, started, now, error=message)
        return "failed", message
    record(store, job, slot, started, now, counts=counts)
    return "ok", counts


def _mark_started(store, now):
    """Give every job a ``first_run_at`` on the first ``run_due``: catch-up starts from there."""
    snapshot = store.snapshot().table("jobs")
    if all((snapshot.get(Query().job == job) or {}).get("first_run_at") for job in JOB_ORDER):
        return
    with store.transaction() as db:
        for job in JOB_ORDER:
            doc = _job_doc(db, job)
            if not doc.get("first_run_at"):
                db.table("jobs").update({"first_run_at": to_iso(now)}, doc_ids=[doc.doc_id])


def run_due(store, config, now, gateway_factory=None):
    """Run every due slot (see ``due_slots``) once, in order.

    :returns: [(job, slot, outcome, detail)]; outcome ``ok``, ``failed`` or ``skipped``.
    """
    settings = job_settings(config)
    _mark_started(store, now)
    results = []
    for job, slot, day in due_slots(store.snapshot(), config, now, settings):
        outcome, detail = run_job(store, config, job, slot, day, now, gateway_factory=gateway_factory)
        results.append((job, slot, outcome, detail))
    return results


def slot_for(config, job, now, day=None):
    """:returns: ``(slot, day)`` for ``job`` at ``now`` (or on local ``day`` for daily jobs).

    :raises InvalidValue: unknown job, or ``day`` given for an interval job.
    """
    settings = job_settings(config)
    if job not in settings["schedules"]:
        raise InvalidValue(f"unknown job '{job}'; jobs are: {', '.join(JOB_ORDER)}.")
    schedule = settings["schedules"][job]
    if schedule.daily_at:
        day = day or now.astimezone(config.tz).date()
        return schedule.daily_slot(day, config.tz)[0], day
    if day is not None:
        raise InvalidValue(f"job {job} runs {schedule.text}; it takes --as-of, not --date.")
    return schedule.slot_at(now, config.tz)[0], None


def status(store, config, now):
    """:returns: one dict per job: job, schedule, running, last_run, last_success, last_failure,
    failed (bool: the last run failed), next_due (UTC ISO)."""
    settings = job_settings(config)
    db = store.snapshot()
    due_now = {(job, slot) for job, slot, _ in due_slots(db, config, now, settings)}
    rows = []
    for job in JOB_ORDER:
        schedule = settings["schedules"][job]
        doc = db.table("jobs").get(Query().job == job) or {"slots": {}, "running": None, "last_success": None,
                                                             "last_failure": None}
        runs = sorted(doc["slots"].items(), key=lambda item: item[1]["finished_at"])
        last_slot, last = runs[-1] if runs else (None, None)
        if any(j == job for j, _ in due_now):
            next_due = to_iso(now)
        elif schedule.daily_at:
            today = now.astimezone(config.tz).date()
            slot, due_at = schedule.daily_slot(today, config.tz)
            next_due = to_iso(due_at if due_at > now else schedule.daily_slot(today + timedelta(days=1), config.tz)[1])
        else:
            _, start = schedule.slot_at(now, config.tz)
            next_due = to_iso(start + timedelta(minutes=schedule.minutes))
        rows.append({
            "job": job, "schedule": schedule.text, "running": doc.get("running"),
            "last_run": dict(last, slot=last_slot) if last else None,
            "last_success": doc.get("last_success"), "last_failure": doc.get("last_failure"),
            "failed": bool(last and last["state"] == "failed"), "next_due": next_due,
        })
    return rows
