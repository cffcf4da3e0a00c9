"""The built-in scheduler: ``helpline scheduler`` runs in the foreground and, every 30 seconds,
runs whatever ``run_due`` finds due.

It wraps the ``schedule`` library (pinned to 1.2.2 in setup.cfg: its ``every().seconds.do()`` and
``run_pending()`` API is what this uses, and ``run_pending`` skips missed runs by design, so
schedule only triggers; which slots are due, catch-up and claims all come from ``jobs``, the same
code cron calls, so cron and the scheduler can never run one slot twice). A failing job is
recorded by ``run_due``; an error of the tick itself is logged and the scheduler goes on.
"""

import signal
import time

from .clock import utcnow
from .sending import run_lock


def run_scheduler(store, config, *, interval_seconds=30, on_tick=None, on_start=None, clock=utcnow,
                  sleep=time.sleep, max_ticks=None, catch_up_first_day=False):
    """Run ``run_due`` every ``interval_seconds`` until SIGTERM or SIGINT (Ctrl-C).

    :param on_tick: ``f(results_or_exception, now)`` called after each tick (the command prints).
    :param catch_up_first_day: passed to ``run_due``.
    :param on_start: ``f()`` called once the scheduler holds its lock.
    :param clock: returns aware UTC now; ``sleep``: waits (both injectable for tests).
    :param max_ticks: stop after this many ticks (None: run until stopped).
    :raises JobBusy: another scheduler holds this data directory.
    :returns: the number of ticks run.
    """
    import schedule

    from .jobs import run_due

    stopping = []

    def stop(signum, frame):
        stopping.append(signum)

    ticks = []

    def tick():
        now = clock()
        try:
            results = run_due(store, config, now, catch_up_first_day=catch_up_first_day)
        except Exception as error:  # the scheduler outlives any one bad tick
            results = error
        ticks.append(1)
        if on_tick:
            on_tick(results, now)

    with run_lock(store, "scheduler"):
        if on_start:
            on_start()
        previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        scheduler = schedule.Scheduler()
        scheduler.every(interval_seconds).seconds.do(tick)
        try:
            tick()
            while not stopping and (max_ticks is None or len(ticks) < max_ticks):
                scheduler.run_pending()
                sleep(1)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return len(ticks)
