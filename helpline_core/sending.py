"""The ``sms send`` and ``sms sync`` runs: drain the outbox through a gateway, then learn what
was delivered. Rules (DESIGN.md, "Sending rules"):

- never twice for the same event: a message is marked ``sending`` under the lock before the
  gateway is called; one found ``sending`` when a run starts belongs to a run that died, is
  marked ``unknown`` and reported, and is only sent again after the gateway says it never got
  it (``find_sent``);
- texts to Indian numbers are matched against the district's DLT registration (``dlt``): under
  ``[sms] dlt = "enforce"`` one that does not match fails (``dlt-mismatch``) without reaching the
  gateway;
- quiet hours hold messages (``held``) until they end; they then go out once, oldest first;
- just before a text goes out it is checked against its ticket as it is now (``freshness``): a
  text the ticket has moved past is ``superseded`` (final, not sent), and figures such as an
  escalation's hours past due are computed then;
- an English text's values are made GSM-7 first (``sms_templates.gsm_context``); characters left
  out are recorded in ``dropped``, and a text over its segment budget records it in ``over_budget``;
- permanent errors fail the message and flag the number; 21610 (STOP) opts the number out and
  later messages to it are cancelled without calling the gateway; account errors stop the run;
  temporary errors retry with exponential back-off, at most ``max_attempts`` times.

Each run writes the live file once per chunk of messages, not once per message.
"""

import fcntl
import os
import time
from contextlib import contextmanager
from datetime import timedelta

from . import dlt, outbox
from .clock import from_iso, to_iso
from .errors import GatewayAccountError, JobBusy
from .numbers import flag_phone
from .quiet_hours import quiet_until
from .sms_templates import TemplateError, gsm_context
from .store import put_document
from .words import plural

CHUNK = 50


class SendReport:
    """What a run did: lists of message keys by outcome, and ``stopped`` (a message) if it stopped."""

    def __init__(self):
        self.sent, self.held, self.failed, self.cancelled, self.retrying = [], [], [], [], []
        self.superseded = []
        self.unknown, self.reconciled, self.requeued, self.would_send = [], [], [], []
        self.unanswered = []  # no answer after the request was written: asked about before any resend
        self.stopped = None

    def summary(self):
        parts = [f"{plural(len(self.sent), 'text')} sent"]
        for name in ("held", "superseded", "retrying", "failed", "cancelled", "unknown", "unanswered",
                     "reconciled", "requeued"):
            count = len(getattr(self, name))
            if count:
                parts.append(f"{count} {name}")
        return ", ".join(parts)


def send_failure(report):
    """:returns: one line when the run failed for good on any text (refused by the gateway, given up
    after ``max_attempts``, a template that would not render), else None. A run with such a text
    exits 1 and its job is recorded FAILED: nobody reads 'ok' while callers get nothing."""
    if not report.failed:
        return None
    shown = ", ".join(report.failed[:3]) + (", ..." if len(report.failed) > 3 else "")
    return f"{plural(len(report.failed), 'text')} failed for good: {shown}; see 'helpline sms list --state failed'."


def sync_failure(counts):
    """:returns: one line when a sync found texts not delivered or could not get a status, else None."""
    problems = []
    lost = counts.get("undelivered", 0) + counts.get("failed", 0)
    if lost:
        problems.append(f"{plural(lost, 'text')} found not delivered; see 'helpline sms list --state undelivered "
                        f"--state failed'")
    if counts.get("errors"):
        problems.append(f"the gateway gave no status for {counts['errors']} of {plural(counts['checked'], 'text')} "
                        f"(asked again next time)")
    return "; ".join(problems) + "." if problems else None


@contextmanager
def run_lock(store, name):
    """Hold ``<name>.lock`` in the data directory for the run; a second run fails at once.

    :raises JobBusy: when another process holds it.
    """
    store.ensure_dir()
    fd = os.open(store.data_dir / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise JobBusy(f"busy: another '{name.replace('-', ' ')}' is running on {store.data_dir}; "
                          f"this one did nothing.") from None
        yield
    finally:
        os.close(fd)


def _settings(config):
    sms = config.raw.get("sms", {})
    return {
        "max_attempts": int(sms.get("max_attempts", 5)),
        "retry_base_seconds": float(sms.get("retry_base_seconds", 60)),
        "escalations_ignore_quiet_hours": bool(sms.get("escalations_ignore_quiet_hours", False)),
        "sync_days": int(sms.get("sync_days", 3)),  # 72 hours: a text not final by then is not polled again
        "sync_limit": int(sms.get("sync_limit", 400)),  # 7,500 texts a day / 24 hourly syncs = 313; see sync_outbox
        "send_budget_seconds": float(sms.get("send_budget_seconds", 25)),
    }


def _phones(db):
    return {doc["phone"]: doc for doc in db.table("phones").all()}


def _update(db, record, **fields):
    record.update(fields)
    put_document(db.table("outbox"), record["_doc_id"], {k: v for k, v in record.items() if k != "_doc_id"})
    outbox.note_on_ticket(db, record)


def _live_records(db):
    return [dict(doc, _doc_id=doc.doc_id) for doc in db.table("outbox").all()]


def _finish(store, config, db, records, now):
    final = [{k: v for k, v in r.items() if k != "_doc_id"} for r in records]
    outbox.move_to_day_files(store, config, db, final, now)


def send_outbox(store, config, gateway, now, *, limit=None, dry_run=False, only_key=None, budget_seconds=None,
                monotonic=None):
    """Send every due message (oldest first) through ``gateway``.

    :param now: aware UTC, the clock of the whole run (``--as-of``).
    :param limit: at most this many gateway sends. :param dry_run: render and report, change nothing.
    :param only_key: send just this message, quiet hours or not (``sms test``).
    :param budget_seconds: stop once the run has taken this long (``[sms] send_budget_seconds`` for the
        job); messages not tried stay queued, ``report.out_of_time`` is set. ``monotonic``: the clock
        it is measured on (default ``time.monotonic``).
    :returns: a ``SendReport``.
    :raises JobBusy: another ``sms send`` is running. :raises GatewayAccountError: the gateway refused
        the account; messages not sent stay queued, those sent are recorded.
    """
    settings = _settings(config)
    report = SendReport()
    report.out_of_time = False
    monotonic = monotonic or time.monotonic
    deadline = None if budget_seconds is None else monotonic() + budget_seconds
    out_of_time = (lambda: False) if deadline is None else (lambda: monotonic() >= deadline)
    with run_lock(store, "sms-send"):
        if not dry_run:
            _recover(store, config, gateway, now, report, settings)
        while limit is None or len(report.sent) + len(report.failed) < limit:
            if out_of_time():
                report.out_of_time = True
                break
            room = CHUNK if limit is None else min(CHUNK, limit - len(report.sent) - len(report.failed))
            batch = _claim(store, config, now, room, settings, report, dry_run, only_key)
            if dry_run or not batch:
                break
            stop = _deliver(store, config, gateway, now, batch, settings, report, out_of_time)
            if stop:
                report.stopped = stop
                raise GatewayAccountError(
                    f"the SMS gateway refused the account ({stop}); the run stopped. {len(report.sent)} sent; "
                    f"the rest wait in the outbox. Fix the account, then run 'helpline sms send' again.")
    return report


def _recover(store, config, gateway, now, report, settings):
    """Messages left ``sending`` by a run that died become ``unknown``; then ask the gateway about
    every ``unknown`` one (those a time-out left too): found, it is ``sent``; not found, it is
    queued again (after its back-off), or failed when it had its ``max_attempts``; when the
    gateway cannot be asked, it stays ``unknown`` and is never sent blindly."""
    with store.transaction() as db:
        for record in _live_records(db):
            if record["state"] == outbox.SENDING:
                _update(db, record, state=outbox.UNKNOWN, updated_at=to_iso(now),
                        error="the sending run stopped before recording the result")
                report.unknown.append(record["key"])
    with store.transaction() as db:
        unknown = [r for r in _live_records(db) if r["state"] == outbox.UNKNOWN]
        done = []
        for record in unknown:
            try:
                gateway_id = gateway.find_sent(record, from_iso(record["last_attempt_at"]) or now)
            except Exception as error:  # cannot ask now: leave it unknown for the operator or the next run
                _update(db, record, error=f"could not check with the gateway: {error}"[:300], updated_at=to_iso(now))
                continue
            if gateway_id:
                _update(db, record, state=outbox.SENT, gateway=gateway.name, gateway_id=gateway_id,
                        sent_at=record["last_attempt_at"], updated_at=to_iso(now), error=None)
                done.append(record)
                report.reconciled.append(record["key"])
            elif record["attempts"] >= settings["max_attempts"]:
                _update(db, record, state=outbox.FAILED, updated_at=to_iso(now),
                        error=f"gave up after {plural(record['attempts'], 'attempt')}: {record.get('error') or 'no answer'}")
                done.append(record)
                report.failed.append(record["key"])
            else:  # the gateway never got it: send again, after the back-off a time-out set
                waited = max(now, from_iso(record.get("next_attempt_at")) or now)
                _update(db, record, state=outbox.QUEUED, next_attempt_at=to_iso(waited), updated_at=to_iso(now),
                        error=None)
                report.requeued.append(record["key"])
        _finish(store, config, db, done, now)


def _claim(store, config, now, room, settings, report, dry_run, only_key=None):
    """Pick due messages, hold those in quiet hours, render, and mark up to ``room`` as ``sending``."""
    policy = dlt.SendPolicy(config, store.data_dir)
    with store.transaction() as db:
        phones = _phones(db)
        records = _live_records(db)
        due = sorted((r for r in records
                      if r["state"] in outbox.WAITING and from_iso(r["next_attempt_at"]) <= now
                      and (only_key is None or r["key"] == only_key)),
                     key=lambda r: (r["created_at"], r["_doc_id"]))  # oldest first, in queueing order
        fresh = _Freshness(store, db, records, config, now)
        batch, final = [], []
        quiet_end = None if only_key else quiet_until(now, config.tz, config.quiet_start, config.quiet_end)
        for record in due:
            if len(batch) >= room:
                break
            exempt = record["ignore_quiet_hours"] and settings["escalations_ignore_quiet_hours"]
            if quiet_end and not exempt:
                if not dry_run:
                    _update(db, record, state=outbox.HELD, next_attempt_at=to_iso(quiet_end), updated_at=to_iso(now))
                report.held.append(record["key"])
                continue
            number = phones.get(record["recipient"], {})
            if number.get("blocked"):  # opted out, or refused by the gateway for good: never sent again
                if not dry_run:
                    _update(db, record, state=outbox.CANCELLED, updated_at=to_iso(now),
                            error_code=21610 if number.get("opted_out_at") else None,
                            error=f"not sent: this number {number['blocked']}")
                    final.append(record)
                report.cancelled.append(record["key"])
                continue
            reason, context = fresh.check(record)
            if reason:
                if not dry_run:
                    _update(db, record, state=outbox.SUPERSEDED, superseded=reason, updated_at=to_iso(now))
                    final.append(record)
                report.superseded.append(record["key"])
                continue
            if context is not None and not dry_run:
                _update(db, record, context=context)
            try:
                values, dropped = gsm_context(record["lang"], context or record["context"])
                body, encoding, segments, dlt_fields = policy.render(record, values)
            except (TemplateError, dlt.DltMismatch) as error:
                if not dry_run:
                    _update(db, record, state=outbox.FAILED, error=str(error), updated_at=to_iso(now))
                    final.append(record)
                report.failed.append(record["key"])
                continue
            if dry_run:
                report.would_send.append((record["key"], record["recipient"], body, encoding, segments))
                batch.append(record)
                continue
            budget = _budget(config, record)
            _update(db, record, state=outbox.SENDING, body=body, encoding=encoding, segments=segments, **dlt_fields,
                    dropped=dropped or None, over_budget=budget if budget and segments > budget else None,
                    attempts=record["attempts"] + 1, last_attempt_at=to_iso(now), updated_at=to_iso(now))
            batch.append(record)
        if dry_run:
            db.holder["dirty"] = False  # a dry run writes nothing
            return batch
        _finish(store, config, db, final, now)
    return batch


def _budget(config, record):
    """:returns: the record's segment budget (``[sms.budgets]``), or None when the config's is unusable
    (``templates check`` reports that; a send run never stops for it)."""
    from .errors import ConfigError
    from .sms_templates import budget_for

    try:
        return budget_for(config, record["template"], record["lang"])
    except ConfigError:
        return None


class _Freshness:
    """``freshness.check`` for one claim: tickets, officers and waiting texts read once."""

    def __init__(self, store, db, records, config, now):
        self.store, self.db, self.config, self.now = store, db, config, now
        self.officers = {o["officer_id"]: o for o in db.table("officers").all()}
        self.waiting, self.tickets = {}, {}
        for record in records:
            if record.get("ticket_id") and record["state"] in outbox.WAITING:
                self.waiting.setdefault(record["ticket_id"], []).append(record)

    def _ticket(self, ticket_id):
        if ticket_id not in self.tickets:
            serial = outbox._serial(ticket_id)
            ticket = self.db.table("tickets").get(doc_id=serial)
            if ticket is None:  # final and archived since the text was queued
                ticket = self.store.read_block(self.store.block_of(serial)).get(str(serial))
            self.tickets[ticket_id] = ticket
        return self.tickets[ticket_id]

    def check(self, record):
        """:returns: ``(reason, context)`` as ``freshness.check``; a superseded text stops counting
        as waiting for the other texts of its ticket."""
        from .freshness import check

        ticket_id = record.get("ticket_id")
        ticket = self._ticket(ticket_id) if ticket_id else None
        waiting = self.waiting.get(ticket_id, [])
        reason, context = check(record, ticket, self.officers, waiting, self.now, self.config.tz)
        if reason:
            waiting[:] = [r for r in waiting if r["key"] != record["key"]]
        return reason, context


def _deliver(store, config, gateway, now, batch, settings, report, out_of_time=lambda: False):
    """Call the gateway for each claimed message, then record every result in one write. Messages
    not tried once ``out_of_time()`` (the run's budget) go back to the queue untouched.

    :returns: None, or the account error that stopped the run.
    """
    outcomes, stop = [], None
    for record in batch:
        if stop or out_of_time():
            report.out_of_time = report.out_of_time or not stop
            outcomes.append((record, None))
            continue
        outcome = gateway.send(record, now)
        if outcome.kind == "account":
            stop = outcome.error
        outcomes.append((record, outcome))
    with store.transaction() as db:
        final = []
        for record, outcome in outcomes:
            stamp = to_iso(now)
            if outcome is None or outcome.kind == "account":  # not sent: back in the queue, attempt not counted
                _update(db, record, state=outbox.QUEUED, attempts=record["attempts"] - 1, updated_at=stamp,
                        error=outcome.error if outcome else None, error_code=outcome.error_code if outcome else None)
            elif outcome.kind == "sent":
                _update(db, record, state=outbox.SENT, gateway=gateway.name, gateway_id=outcome.gateway_id,
                        sent_at=stamp, updated_at=stamp, error=None, error_code=None)
                final.append(record)
                report.sent.append(record["key"])
            elif outcome.kind == "unknown":  # it may have been sent: the next run asks before any resend
                _update(db, record, state=outbox.UNKNOWN, gateway=gateway.name, updated_at=stamp, error=outcome.error,
                        error_code=None, next_attempt_at=to_iso(now + timedelta(seconds=_delay(settings, record))))
                report.unanswered.append(record["key"])
            elif outcome.kind in ("permanent", "opted_out"):
                _update(db, record, state=outbox.FAILED, gateway=gateway.name, error=outcome.error,
                        error_code=outcome.error_code, updated_at=stamp)
                flag_phone(db, record["recipient"], now, opted_out=outcome.kind == "opted_out",
                           reason=f"cannot receive SMS: {outcome.error}")
                final.append(record)
                report.failed.append(record["key"])
            elif record["attempts"] >= settings["max_attempts"]:
                _update(db, record, state=outbox.FAILED, gateway=gateway.name, updated_at=stamp,
                        error=f"gave up after {plural(record['attempts'], 'attempt')}: {outcome.error}",
                        error_code=outcome.error_code)
                final.append(record)
                report.failed.append(record["key"])
            else:
                _update(db, record, state=outbox.QUEUED, gateway=gateway.name, updated_at=stamp,
                        next_attempt_at=to_iso(now + timedelta(seconds=_delay(settings, record))), error=outcome.error,
                        error_code=outcome.error_code)
                report.retrying.append(record["key"])
        _finish(store, config, db, final, now)
    return stop


def _delay(settings, record):
    """:returns: seconds to wait before the next attempt: exponential back-off on the attempts made."""
    return settings["retry_base_seconds"] * 2 ** (record["attempts"] - 1)


def sync_outbox(store, config, gateway, now, *, days=None, limit=None):
    """Fetch the delivery status of sent texts not yet final, least recently checked first.

    A text is polled while it is ``sent`` (Twilio accepted it; no delivery report yet) and was sent
    less than ``days`` x 24 hours ago (default ``[sms] sync_days``, 3: 72 hours); after a final
    state (delivered, undelivered, failed) or that age it is not asked about again. Each poll
    stamps ``checked_at`` on the text, so the ``limit`` calls of one run go to the texts checked
    longest ago (never-checked ones first): a failure far down the list is found too, not only
    in the first ``limit`` texts every run.

    Sizing the default ``limit`` (``[sms] sync_limit``, 400): 2,500 calls a day x 3 texts = 7,500
    texts a day; the sync runs hourly, 24 runs a day, so each run must check 7,500 / 24 = 313 for
    every text to be checked within a day. 400 a run is 9,600 checks a day: every new text within
    the day, and 2,100 (28 %) to spare for texts still unconfirmed from earlier checks.

    :param now: aware UTC. :param limit: at most this many gateway calls.
    :returns: {"checked": n, "delivered": n, "undelivered": n, "failed": n, "errors": n}.
    :raises JobBusy: another ``sms sync`` is running.
    """
    from .store import atomic_write, dump_json, read_json

    settings = _settings(config)
    days = settings["sync_days"] if days is None else days
    limit = settings["sync_limit"] if limit is None else limit
    oldest = now - timedelta(days=days)
    counts = {"checked": 0, "delivered": 0, "undelivered": 0, "failed": 0, "errors": 0}
    with run_lock(store, "sms-sync"):
        pending = []
        for _, path in outbox.recent_day_files(store, days + 1, now, config.tz):
            for key, record in read_json(path).get("messages", {}).items():
                sent_at = from_iso(record.get("sent_at"))
                if record["state"] == outbox.SENT and record.get("gateway") == gateway.name and \
                        record.get("gateway_id") and sent_at and oldest <= sent_at:
                    pending.append((path, key, record))
        pending.sort(key=lambda item: (item[2].get("checked_at") or "", item[2]["sent_at"], item[1]))
        results = []
        for path, key, record in pending[:limit]:
            counts["checked"] += 1
            try:
                status = gateway.fetch_status(record["gateway_id"])
            except Exception:  # the gateway could not say now; asked again when its turn comes
                counts["errors"] += 1
                status = None
            results.append((path, key, status))
            if status is not None and status.state != outbox.SENT:
                counts[status.state] = counts.get(status.state, 0) + 1
        if not results:
            return counts
        with store.transaction() as db:
            by_path = {}
            for path, key, status in results:
                by_path.setdefault(path, []).append((key, status))
            for path, changes in by_path.items():
                stored = read_json(path)
                for key, status in changes:
                    record = stored["messages"].get(key)
                    if record is None or record["state"] != outbox.SENT:
                        continue  # changed since it was read (a retry, a purge): leave it
                    record["checked_at"] = to_iso(now)
                    if status is not None and status.state != outbox.SENT:
                        record.update(state=status.state, error_code=status.error_code, error=status.error,
                                      updated_at=to_iso(now))
                        outbox.note_on_ticket(db, record)
                atomic_write(path, dump_json(stored))
    return counts
