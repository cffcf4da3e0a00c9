"""Two timings for the issue notes, as whole processes of the installed ``helpline``:

1. ``helpline jobs run-due`` at 22:05 local (archive, escalate, digest, verification-list, send
   and sync all due) in a district with 10,000 open tickets and 100,000 closed ones, then a second
   run-due five minutes later (only ``send`` due);
2. ``helpline sms send`` of 1,000 queued texts through the real ``twilio`` library to Stoplight
   Prism serving Twilio's official spec (needs ``npm ci --ignore-scripts --no-audit --no-fund``).

Run with the project's venv (non-editable install for honest start-up times)::

    python bench/jobs_sms.py [--workdir DIR]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "bench"), str(REPO / "tests")]

from bench import Layout, build_district  # noqa: E402  (bench/bench.py: the same generator)

HELPLINE = str(Path(sys.executable).parent / "helpline")
IST = ZoneInfo("Asia/Kolkata")


def timed(args, env):
    start = time.perf_counter()
    result = subprocess.run([HELPLINE, *args], env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"helpline {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed, result.stdout


def run_due(workdir):
    now = int(time.time())
    layout = Layout(110_000, now)
    layout.live = 10_000
    layout.first_live = layout.last_serial - layout.live + 1
    layout.first_opened = layout.archive_end - (layout.total - layout.live) * layout.archive_step
    data_dir = workdir / "run-due"
    started = time.perf_counter()
    build_district(data_dir, layout)
    print(f"built 10,000 open + 100,000 closed tickets in {time.perf_counter() - started:.1f} s")
    env = dict(os.environ, HELPLINE_DATA_DIR=str(data_dir))
    today = datetime.now(IST).date().isoformat()
    first, out = timed(["jobs", "run-due", "--as-of", f"{today}T22:05"], env)
    print(f"run-due at 22:05, every job due: {first:.2f} s\n{out}")
    second, out = timed(["jobs", "run-due", "--as-of", f"{today}T22:10"], env)
    print(f"run-due at 22:10, only send due: {second:.2f} s\n{out}")
    size = (data_dir / "helpline.json").stat().st_size
    print(f"live file after the runs: {size / 1e6:.1f} MB")
    return first, second


def sms_send(workdir):
    from prism import ACCOUNT_SID, AUTH_TOKEN, PrismServer, derived_spec

    from helpline_core.district import init_district
    from helpline_core.outbox import queue_message
    from helpline_core.store import Store

    data_dir = workdir / "sms"
    with PrismServer(derived_spec(workdir), workdir / "prism.log") as prism:
        config = init_district(data_dir, code="SXR", name="Srinagar")
        text = (data_dir / "config.toml").read_text().replace(
            'gateway = "file"', f'gateway = "twilio"\nfrom = "+15005550006"\napi_base_url = "{prism.base_url}"')
        (data_dir / "config.toml").write_text(text)
        store = Store(data_dir)
        now = datetime.now(timezone.utc)
        with store.transaction() as db:
            for n in range(1000):
                lang = ("en", "hi", "ur")[n % 3]
                queue_message(db, now, key=f"bench:{n}", recipient=f"+9198765{n:05d}", audience="caller",
                              template="logged", lang=lang, context={"district": "Srinagar",
                              "ticket_id": f"SXR-{n:05d}", "helpline_phone": ""})
        env = dict(os.environ, HELPLINE_DATA_DIR=str(data_dir), TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                   TWILIO_AUTH_TOKEN=AUTH_TOKEN)
        tomorrow = (datetime.now(IST) + timedelta(days=1)).date().isoformat()
        elapsed, out = timed(["sms", "send", "--as-of", f"{tomorrow}T12:00"], env)
    print(f"sms send of 1,000 texts through twilio to Prism: {elapsed:.1f} s, {elapsed:.3f} s total "
          f"= {elapsed / 1000 * 1000:.1f} ms a message\n{out}")
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="helpline-jobs-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    sms_send(workdir)
    run_due(workdir)


if __name__ == "__main__":
    main()
