"""Scheduled work: which job is due for which slot, claiming it, running it, recording it.

A *slot* is one job for one stretch of the district's local time: a local date for daily jobs
(``2026-11-30``), a local start time for interval jobs (``2026-11-30T08:35``). Rules:

- a slot runs at most once: the run claims it in the store under the lock before doing anything;
  a second process finds the job claimed (or the slot done) and does nothing;
- a claim left by a run that died may be claimed again at once when its process is gone from
  this machine, otherwise after ``stale_after_minutes`` (wall-clock);
- ``run_due`` catches up: every daily slot of the last ``catch_up_days`` whose time has come and
  that has not succeeded runs once, labelled with its own date; interval jobs run once for the
  current slot (one send covers every missed five minutes). Digests catch up only the latest
  slot, and only while it is less than ``digest_late_hours`` late: older ones are recorded as
  skipped with the reason (an officer wants today's work, not three copies of past days);
- the first ``run_due`` of an install records the slots of that day whose time has already
  passed as skipped (``catch_up_first_day`` runs them instead);
- a job that raises is recorded as failed with its error; the other jobs still run. It is tried
  again after a back-off (``BACKOFF_MINUTES``: 5, 15, 60 minutes); a daily slot that failed
  ``len(BACKOFF_MINUTES) + 1`` times is given up and the job waits for its next slot; an interval
  job keeps retrying every 60 minutes. The same error repeated is written to ``jobs.log`` once,
  then only counted: a daily slot given up on gets one line with the count (``FAILED x4 since
  ...``); the run that recovers says how many failed runs it ended;
- a run that stops at its time budget (``send``) is recorded ``partial`` and runs on at the next
  check, after the other due jobs.

The ``jobs`` table holds one document per job::

    {"job": "digest", "first_run_at": UTC ISO, "running": {"slot", "claimed_at", "as_of", "pid", "host"} | null,
     "slots": {slot: {"state": "succeeded|failed|partial|skipped", "as_of", "started_at", "finished_at",
                      "counts", "error", "attempts", "gave_up", "reason"}},
     "last_success": {"slot", "finished_at", "as_of"} | null,
     "last_failure": {"slot", "finished_at", "as_of", "error"} | null,
     "failing": {"error", "count", "since", "slot", "retry_at" | null} | null}

``as_of`` is the run's own clock (``--as-of``; the real time otherwise), ``started_at`` and
``finished_at`` the wall clock. Each run also appends one line to ``jobs.log`` in the data
directory, its times in the district's zone with their offset.
"""

import json
import os
import re
from datetime import date, datetime, time, timedelta

from tinydb import Query

from .clock import UTC, from_iso, local_iso, to_iso, utcnow
from .errors import InvalidValue, JobBusy, RunFailed

# the order of a check: the time-critical daily jobs first, then hourly escalations, then the send
# (bounded by its budget) and the rest, so that slow sending never pushes the list past midnight
JOB_ORDER = ("verification-list", "digest", "escalate", "send", "sync", "archive", "purge")
BACKOFF_MINUTES = (5, 15, 60)
LATEST_ONLY = ("digest",)  # catch-up runs only the newest missed slot of these
DEFAULT_SCHEDULE = {"send": "every 5 minutes", "sync": "hourly", "escalate": "hourly", "digest": "daily 08:30",
                    "verification-list": "daily 22:00", "archive": "daily 03:00",
                    "purge": "daily 03:30"}  # acts on the 1st of the month, when [retention] is set
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
        "digest_late_hours": float(raw.get("digest_late_hours", 12)),
        "stale_after_minutes": float(raw.get("stale_after_minutes", 60)),
        "escalation_level2_after_hours": float(raw.get("escalation_level2_after_hours", 24)),
        "unassigned_escalation_after_hours": float(raw.get("unassigned_escalation_after_hours", 2)),
    }


def job_on(config, job):
    """:returns: False for the ``purge`` job unless config.toml sets ``[retention]
    purge_after_days`` (it is off by default, see ``retention``); True for every other job."""
    return job != "purge" or bool(config.raw.get("retention", {}).get("purge_after_days"))


def _job_doc(db, job):
    table = db.table("jobs")
    doc = table.get(Query().job == job)
    if doc is None:
        table.insert({"job": job, "first_run_at": None, "running": None, "slots": {}, "last_success": None,
                      "last_failure": None, "failing": None})
        doc = table.get(Query().job == job)
    return doc


def _finished(entry):
    """:returns: True when a slot needs no more runs: it succeeded, was skipped, or was given up."""
    return entry["state"] in ("succeeded", "skipped") or bool(entry.get("gave_up"))


def plan(db, config, now, settings=None):
    """What a check at ``now`` (aware UTC) should do.

    :returns: ``(due, skips)``: ``due`` is [(job, slot, day_or_None)] in ``JOB_ORDER``, oldest slot
        first; ``skips`` is [(job, slot, reason)]: missed digests that a newer one replaces or that
        are too late to be of use (``digest_late_hours``).

    The ``purge`` job is never due unless config.toml sets ``[retention] purge_after_days``.
    Daily slots are caught up for ``catch_up_days``, but never from before the local date of the
    job's first run (a new install does not replay days it never had). A job that failed is not
    due before its back-off ends (``failing.retry_at``).
    """
    settings = settings or job_settings(config)
    due, skips = [], []
    for job in JOB_ORDER:
        if not job_on(config, job):
            continue
        schedule = settings["schedules"][job]
        doc = db.table("jobs").get(Query().job == job) or {"slots": {}, "first_run_at": None}
        failing = doc.get("failing") or {}
        if failing.get("retry_at") and now < from_iso(failing["retry_at"]):
            continue  # backing off after a failure
        done = {s for s, r in doc["slots"].items() if _finished(r)}
        if schedule.daily_at:
            today = now.astimezone(config.tz).date()
            first = from_iso(doc.get("first_run_at"))
            first_day = first.astimezone(config.tz).date() if first else today
            day = max(today - timedelta(days=settings["catch_up_days"]), min(first_day, today))
            mine = []
            while day <= today:
                slot, due_at = schedule.daily_slot(day, config.tz)
                if due_at <= now and slot not in done:
                    mine.append((job, slot, day, due_at))
                day += timedelta(days=1)
            if job in LATEST_ONLY and mine:
                newest = mine[-1]
                late_hours = (now - newest[3]).total_seconds() / 3600
                too_late = late_hours >= settings["digest_late_hours"]
                for _, slot, _, _ in mine[:-1]:
                    skips.append((job, slot, f"missed; only the newest {job} ({newest[1]}) is sent" if not too_late
                                  else f"missed; a newer {job} replaces it"))
                if too_late:
                    skips.append((job, newest[1], f"missed by {late_hours:.0f} h (more than "
                                                  f"{settings['digest_late_hours']:g} h); the next one is due at "
                                                  f"its time"))
                    mine = []
                else:
                    mine = [newest]
            due.extend((job, slot, day) for job, slot, day, _ in mine)
        else:
            slot, _ = schedule.slot_at(now, config.tz)
            if slot not in done:
                due.append((job, slot, None))
    return due, skips


def due_slots(db, config, now, settings=None):
    """:returns: [(job, slot, day_or_None)] due at ``now`` (aware UTC), in ``JOB_ORDER``, oldest slot
    first (see ``plan``; slots that it would skip are left out)."""
    return plan(db, config, now, settings)[0]


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
        fields = {"running": {"slot": slot, "claimed_at": to_iso(wall), "as_of": to_iso(now), "pid": os.getpid(),
                              "host": _host()}}
        if not doc.get("first_run_at"):
            fields["first_run_at"] = to_iso(now)
        db.table("jobs").update(fields, doc_ids=[doc.doc_id])
    return None


def _backoff(job_doc, slot, daily):
    """:returns: ``(attempts, retry_at_delta_or_None)`` after one more failure of ``slot``.

    A daily slot is retried after 5, 15 and 60 minutes, then given up (None: its next slot). An
    interval job's slots pass by themselves: it counts the job's failures in a row instead, and
    keeps retrying every 60 minutes after the third.
    """
    previous = job_doc["slots"].get(slot, {})
    attempts = (previous.get("attempts", 1) + 1) if previous.get("state") == "failed" else 1
    if daily:
        if attempts > len(BACKOFF_MINUTES):
            return attempts, None
        return attempts, timedelta(minutes=BACKOFF_MINUTES[attempts - 1])
    in_a_row = ((job_doc.get("failing") or {}).get("count", 0)) + 1
    return attempts, timedelta(minutes=BACKOFF_MINUTES[min(in_a_row, len(BACKOFF_MINUTES)) - 1])


def record(store, config, job, slot, started_at, now, *, counts=None, error=None, partial=False, retry=True):
    """Record the end of a claimed run and release the claim. ``error`` (one line) means it failed.

    :param started_at: wall-clock start (aware UTC). :param now: the run's own clock (``--as-of``).
    :param partial: the run stopped at its time budget with work left: it runs again at the next check.
    :param retry: False for a run that finished but failed on some of its items: not run again
        before its next slot (no back-off).
    :returns: the stored slot entry (``attempts``, ``gave_up``, ``retry_at`` set for a failure).
    """
    finished = utcnow()
    state = "failed" if error else "partial" if partial else "succeeded"
    entry = {"state": state, "as_of": to_iso(now), "started_at": to_iso(started_at),
             "finished_at": to_iso(finished), "counts": counts or {}, "error": error}
    daily = bool(job_settings(config)["schedules"][job].daily_at)
    with store.transaction() as db:
        doc = _job_doc(db, job)
        failing = doc.get("failing")
        slots = dict(doc["slots"])
        fields = {"running": None}
        repeat = False
        if error:
            attempts, delay = _backoff(doc, slot, daily) if retry else (1, None)
            entry["attempts"] = attempts
            entry["gave_up"] = delay is None
            retry_at = entry["retry_at"] = to_iso(now + delay) if delay else None
            repeat = bool(failing and failing.get("error") == error)
            fields["failing"] = {"error": error, "slot": slot, "retry_at": retry_at,
                                 "count": failing["count"] + 1 if repeat else 1,
                                 "since": failing["since"] if repeat else to_iso(now)}
            fields["last_failure"] = {"slot": slot, "finished_at": entry["finished_at"], "as_of": entry["as_of"],
                                      "error": error}
        else:
            if failing:
                entry["counts"] = dict(entry["counts"], after_failed_runs=failing["count"])
            fields["failing"] = None
            fields["last_success"] = {"slot": slot, "finished_at": entry["finished_at"], "as_of": entry["as_of"]}
        slots[slot] = entry
        for old in sorted(slots)[:-KEEP_SLOTS]:
            del slots[old]
        fields["slots"] = slots
        db.table("jobs").update(fields, doc_ids=[doc.doc_id])
    if not repeat:
        _log_line(store, config, job, slot, entry)
    elif entry["gave_up"] and retry:  # the same failure again is only counted, until a slot is given up on
        streak = fields["failing"]
        _log_line(store, config, job, slot, entry, outcome=(
            f"FAILED x{streak['count']} since {local_iso(streak['since'], config.tz)} (the same error as logged "
            f"then); given up until its next slot"))
    return entry


def skip(store, config, job, slots, now):
    """Record ``slots`` ([(slot, reason)]) of ``job`` as skipped: they will not run.

    :param now: the run's clock (aware UTC). Each gets a ``skipped`` line in ``jobs.log``.
    """
    if not slots:
        return
    stamp = to_iso(now)
    entries = {slot: {"state": "skipped", "as_of": stamp, "started_at": stamp, "finished_at": stamp, "counts": {},
                      "error": None, "reason": reason} for slot, reason in slots}
    with store.transaction() as db:
        doc = _job_doc(db, job)
        merged = dict(doc["slots"], **entries)
        for old in sorted(merged)[:-KEEP_SLOTS]:
            del merged[old]
        db.table("jobs").update({"slots": merged}, doc_ids=[doc.doc_id])
    for slot, entry in entries.items():
        _log_line(store, config, job, slot, entry)


def _log_line(store, config, job, slot, entry, outcome=None):
    counts = " ".join(f"{k}={v}" for k, v in (entry["counts"] or {}).items())
    outcome = outcome or {"succeeded": "ok", "partial": "partial", "skipped": f"skipped {entry.get('reason')}"}.get(
        entry["state"], f"FAILED {entry['error']}")
    tz = config.tz
    line = (f"{local_iso(entry['started_at'], tz)} {local_iso(entry['finished_at'], tz)} "
            f"as-of={local_iso(entry['as_of'], tz)} {job} {slot} {outcome}{' ' + counts if counts else ''}\n")
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
    :returns: ``(outcome, detail)``: outcome ``ok``, ``partial`` (stopped at its time budget, runs on
        at the next check), ``failed`` or ``skipped``; detail the counts, the error (what is wrong and
        what to do, see ``failures.explain``) or the reason it was skipped (``busy: ...`` when another
        process held the work's own lock, e.g. a manual ``sms send``: the slot stays due). A task
        that raises ``RunFailed`` did its work but some of it failed for good (a text given up on):
        FAILED with its counts, and not retried with back-off (that would only hold back other texts).
    """
    from . import job_tasks
    from .failures import explain

    settings = job_settings(config)
    why_not = claim(store, job, slot, now, force=force, stale_after_minutes=settings["stale_after_minutes"])
    if why_not:
        return "skipped", why_not
    started = utcnow()
    try:
        counts = job_tasks.TASKS[job](store, config, now=now, day=day, settings=settings,
                                      gateway_factory=gateway_factory, **options)
    except JobBusy as error:  # another process runs the same work (a manual 'sms send'): not a failure
        release(store, job)
        return "skipped", str(error)
    except RunFailed as error:  # it ran, and some of its work failed for good: FAILED, with its counts
        message = " ".join(f"{error}{_counts_note(error.counts)}".split())[:500]
        record(store, config, job, slot, started, now, counts=error.counts, error=message, retry=False)
        return "failed", message
    except Exception as error:  # a failing job is recorded and never stops the others
        message = " ".join(explain(error, store.data_dir).split())[:500]
        entry = record(store, config, job, slot, started, now, error=message)
        return "failed", message + _retry_note(entry, now, config.tz)
    partial = bool(counts.pop("partial", False))
    record(store, config, job, slot, started, now, counts=counts, partial=partial)
    return ("partial" if partial else "ok"), counts


def _counts_note(counts):
    text = ", ".join(f"{k} {v}" for k, v in counts.items())
    return f" ({text})" if text else ""


def release(store, job):
    """Drop the job's claim without recording a run (it did nothing: another process had the work)."""
    with store.transaction() as db:
        doc = _job_doc(db, job)
        db.table("jobs").update({"running": None}, doc_ids=[doc.doc_id])


def _retry_note(entry, now, tz):
    if entry.get("gave_up"):
        from .words import plural

        return f" (failed {plural(entry['attempts'], 'time')}: given up until its next slot)"
    return f" (next try at {from_iso(entry['retry_at']).astimezone(tz).strftime('%H:%M %z')})"


def _mark_started(store, config, now, settings, catch_up_first_day=False):
    """Give every job a ``first_run_at`` on the first ``run_due``: catch-up starts from there.

    Daily slots of that first day whose time has passed are recorded as skipped (an install started
    at 15:00 does not send the 08:30 digest at once), unless ``catch_up_first_day``.
    """
    snapshot = store.snapshot().table("jobs")
    if all((snapshot.get(Query().job == job) or {}).get("first_run_at") for job in JOB_ORDER):
        return
    today = now.astimezone(config.tz).date()
    skipped = []
    with store.transaction() as db:
        for job in JOB_ORDER:
            doc = _job_doc(db, job)
            if doc.get("first_run_at"):
                continue
            fields = {"first_run_at": to_iso(now)}
            schedule = settings["schedules"][job]
            if schedule.daily_at and not catch_up_first_day and job_on(config, job):
                slot, due_at = schedule.daily_slot(today, config.tz)
                if due_at <= now and slot not in doc["slots"]:
                    reason = (f"first run at {now.astimezone(config.tz):%H:%M}, after this slot's "
                              f"{schedule.daily_at:%H:%M}; 'run-due --catch-up-first-day' runs it")
                    stamp = to_iso(now)
                    fields["slots"] = dict(doc["slots"], **{slot: {
                        "state": "skipped", "as_of": stamp, "started_at": stamp, "finished_at": stamp,
                        "counts": {}, "error": None, "reason": reason}})
                    skipped.append((job, slot, fields["slots"][slot]))
            db.table("jobs").update(fields, doc_ids=[doc.doc_id])
    for job, slot, entry in skipped:
        _log_line(store, config, job, slot, entry)
    return [(job, slot, "skipped", entry["reason"]) for job, slot, entry in skipped]


def run_due(store, config, now, gateway_factory=None, *, catch_up_first_day=False):
    """Run every due slot (see ``plan``) once, in order; record the slots ``plan`` skips.

    :param catch_up_first_day: on an install's first run, run the day's slots whose time has
        passed instead of recording them as skipped.
    :returns: [(job, slot, outcome, detail)]; outcome ``ok``, ``partial``, ``failed`` or ``skipped``.
    """
    settings = job_settings(config)
    results = _mark_started(store, config, now, settings, catch_up_first_day) or []
    due, skips = plan(store.snapshot(), config, now, settings)
    for job in JOB_ORDER:
        mine = [(slot, reason) for j, slot, reason in skips if j == job]
        skip(store, config, job, mine, now)
        results.extend((job, slot, "skipped", reason) for slot, reason in mine)
    for job, slot, day in due:
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
    """:returns: one dict per job: job, schedule, on (False: the job is off, see ``job_on``), running,
    last_run (skipped slots are no run),
    last_success, last_failure, failed (bool: the last run failed), failing (the failure streak:
    error, count, since, retry_at; or None), next_due (UTC ISO: the retry time while backing off;
    None for a job that is off).

    Runs are ordered and shown by their own clock (``as_of``), so a status ``--as-of`` a simulated
    time agrees with the runs made ``--as-of`` that clock."""
    settings = job_settings(config)
    db = store.snapshot()
    due_now = {(job, slot) for job, slot, _ in due_slots(db, config, now, settings)}
    rows = []
    for job in JOB_ORDER:
        schedule = settings["schedules"][job]
        doc = db.table("jobs").get(Query().job == job) or {"slots": {}, "running": None, "last_success": None,
                                                             "last_failure": None}
        runs = sorted(((slot, run) for slot, run in doc["slots"].items() if run["state"] != "skipped"),
                      key=lambda item: item[1].get("as_of") or item[1]["finished_at"])
        last_slot, last = runs[-1] if runs else (None, None)
        failing = doc.get("failing")
        if not job_on(config, job):
            next_due = None  # purge with no [retention] purge_after_days: it never runs
        elif failing and failing.get("retry_at") and from_iso(failing["retry_at"]) > now:
            next_due = failing["retry_at"]
        elif any(j == job for j, _ in due_now):
            next_due = to_iso(now)
        elif schedule.daily_at:
            today = now.astimezone(config.tz).date()
            slot, due_at = schedule.daily_slot(today, config.tz)
            next_due = to_iso(due_at if due_at > now else schedule.daily_slot(today + timedelta(days=1), config.tz)[1])
        else:
            _, start = schedule.slot_at(now, config.tz)
            next_due = to_iso(start + timedelta(minutes=schedule.minutes))
        rows.append({
            "job": job, "schedule": schedule.text, "on": job_on(config, job), "running": doc.get("running"),
            "last_run": dict(last, slot=last_slot) if last else None,
            "last_success": doc.get("last_success"), "last_failure": doc.get("last_failure"),
            "failed": bool(last and last["state"] == "failed"), "failing": failing, "next_due": next_due,
        })
    return rows
