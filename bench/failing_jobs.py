"""How much a broken verification folder costs over two days of scheduler checks.

Simulates ``helpline scheduler``'s check every 30 seconds for two days on a fake clock (run-due
with ``now`` injected, no sleeping), in a district whose ``verification`` is a file, not a
folder, so the nightly list fails every time it runs. Prints how many runs failed, how many
``FAILED`` lines ``jobs.log`` holds, and how many jobs.log lines there are in all.

Run with the project's venv::

    python bench/failing_jobs.py [--hours 48] [--interval 30]
"""

import argparse
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

IST = ZoneInfo("Asia/Kolkata")


class NullGateway:
    """Sends nothing: the outbox stays empty here."""

    name = "null"

    def send(self, record, now):  # pragma: no cover - nothing is queued
        raise AssertionError("nothing should be sent")

    def find_sent(self, record, since):
        return None

    def fetch_status(self, gateway_id):  # pragma: no cover
        raise AssertionError("nothing was sent")


def simulate(data_dir, hours, interval_seconds):
    """:returns: {"checks", "failed_runs", "failed_lines", "log_lines"} for the simulated stretch."""
    from helpline_core import jobs
    from helpline_core.district import init_district
    from helpline_core.store import Store

    config = init_district(data_dir, code="SXR", name="Srinagar")
    store = Store(data_dir)
    (data_dir / "verification").write_text("not a folder\n", encoding="utf-8")
    moment = datetime(2026, 11, 29, 21, 0, tzinfo=IST).astimezone(ZoneInfo("UTC"))
    end = moment + timedelta(hours=hours)
    checks = failed = 0
    while moment < end:
        for _job, _slot, outcome, _detail in jobs.run_due(store, config, moment,
                                                          gateway_factory=lambda c, d: NullGateway()):
            failed += outcome == "failed"
        checks += 1
        moment += timedelta(seconds=interval_seconds)
    lines = (data_dir / "jobs.log").read_text(encoding="utf-8").splitlines()
    return {"checks": checks, "failed_runs": failed, "failed_lines": sum("FAILED" in line for line in lines),
            "log_lines": len(lines)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=48)
    parser.add_argument("--interval", type=int, default=30, help="seconds between checks")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = simulate(Path(tmp) / "data", args.hours, args.interval)
    print(f"{args.hours:g} h of checks every {args.interval} s: {result['checks']} checks, "
          f"{result['failed_runs']} failed runs, {result['failed_lines']} FAILED lines in jobs.log "
          f"({result['log_lines']} lines in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
