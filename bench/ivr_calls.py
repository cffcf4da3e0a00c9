"""The voice menu under load: 50 simulated calls at once over loopback while two processes log
tickets. A benchmark, not a test: it reports the webhook response times (p50, p95, max) and
checks that nothing was lost (every logged ticket, every callback ticket, every ``ivr`` event,
every day-log line).

Each call is driven as Twilio drives one: ``/voice`` (caller ID), then one of three paths
(status of a typed ticket number with one mistyped try; a callback; the desk), each webhook a
signed form POST to ``helpline ivr serve`` on 127.0.0.1 (8 threads, as the service file runs it).

Run with the project's venv::

    python bench/ivr_calls.py [--calls 50] [--live 3000] [--log-each 150] [--workdir DIR]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit
from urllib.request import Request, urlopen

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from helpline_core.clock import utcnow  # noqa: E402
from helpline_core.district import init_district  # noqa: E402
from helpline_core.officers import add_officer  # noqa: E402
from helpline_core.store import Store  # noqa: E402
from helpline_core import tickets  # noqa: E402
from ivr_helpers import PUBLIC_URL, TOKEN, call_sid, enable_ivr, form, sign  # noqa: E402

HELPLINE = str(Path(sys.executable).parent / "helpline")
LOGGER = """
import sys
from helpline_core.clock import utcnow
from helpline_core.config import load_config
from helpline_core.store import Store
from helpline_core import tickets
data_dir, prefix, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
config, store = load_config(data_dir), Store(data_dir)
ids = []
for n in range(count):
    with store.ticket_transaction() as db:
        ticket, _ = tickets.log_call(db, config, store, phone=f"+917{prefix}{n:08d}", area="Khanyar",
                                     category="ration", actor="logger", now=utcnow())
    ids.append(ticket["id"])
print(" ".join(ids))
"""


def build(data_dir, live):
    config = init_district(data_dir, code="SXR", name="Srinagar")
    store = Store(data_dir)
    now = utcnow()
    with store.transaction() as db:
        add_officer(db, config, "rafiq", name="Rafiq Ahmad", phone="09419000101", areas=["Khanyar"],
                    categories=list(config.categories), role="officer", lang="ur", actor="setup", now=now)
        for n in range(live):
            tickets.log_call(db, config, store, phone=f"+9198{n:08d}", area="Khanyar", category="ration",
                             actor="setup", now=now, language=("hi", "ur", "en")[n % 3])
        db.drop_table("outbox")  # the send job keeps the outbox small; 9,000 unsent texts are not a real day
    return enable_ivr(data_dir), store


class Caller:
    def __init__(self, base, timings, lock):
        self.base, self.timings, self.lock = base, timings, lock
        self.by_step = {}

    def post(self, step, fields, **query):
        public = f"{PUBLIC_URL}/{step}" + (f"?{urlencode(sorted(query.items()))}" if query else "")
        parts = urlsplit(public)
        local = self.base + parts.path[len(urlsplit(PUBLIC_URL).path):] + (f"?{parts.query}" if parts.query else "")
        request = Request(local, data=urlencode(fields).encode(), method="POST",
                          headers={"X-Twilio-Signature": sign(public, fields),
                                   "Content-Type": "application/x-www-form-urlencoded"})
        start = time.perf_counter()
        with urlopen(request, timeout=20) as response:
            body = response.read().decode()
            status = response.status
        with self.lock:
            self.timings.append(time.perf_counter() - start)
            self.by_step.setdefault(step, []).append(time.perf_counter() - start)
        if status != 200 or "<Response" not in body:
            raise RuntimeError(f"{step}: {status} {body[:200]}")
        return body


def one_call(caller, n, known_ids, results):
    sid = call_sid(n + 1)
    path = n % 3
    phone = f"+9198{n:08d}" if path != 1 else f"+9160{n:08d}"  # callbacks come from new numbers
    fields = form(sid, phone)
    body = caller.post("voice", fields)
    steps = 1
    if path == 0:  # typed ticket number: one mistyped, then right
        caller.post("choice", form(sid, phone, "2"), lang="hi", **{"try": "0"})
        number = known_ids[n % len(known_ids)].split("-")[1]
        wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
        caller.post("ticket", form(sid, phone, wrong), lang="hi", **{"try": "0"})
        body = caller.post("ticket", form(sid, phone, number), lang="hi", **{"try": "1"})
        steps += 3
    elif path == 1:  # a new caller's callback
        caller.post("language", form(sid, phone, "3"), lang="hi", **{"try": "0"})
        caller.post("choice", form(sid, phone, "3"), lang="en", **{"try": "0"})
        body = caller.post("callback", form(sid, phone, "2"), lang="en", **{"try": "0"})
        steps += 3
    else:  # the desk
        body = caller.post("choice", form(sid, phone, "1"), lang="hi", **{"try": "0"})
        steps += 1
    results[n] = (path, phone, steps, "<Dial" not in body or path == 2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--live", type=int, default=3000, help="live tickets in the district")
    parser.add_argument("--log-each", type=int, default=150, help="tickets each of the two logging processes logs")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="helpline-ivr-bench-"))
    data_dir = workdir / "district"
    config, store = build(data_dir, args.live)
    known_ids = [t["id"] for t in store.snapshot().table("tickets").all()][:200]
    env = dict(os.environ, HELPLINE_DATA_DIR=str(data_dir), TWILIO_AUTH_TOKEN=TOKEN)
    server = subprocess.Popen([HELPLINE, "ivr", "serve", "--port", "0"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        base = server.stdout.readline().split("listening on ")[1].split()[0]
        loggers = [subprocess.Popen([sys.executable, "-c", LOGGER, str(data_dir), str(k), str(args.log_each)],
                                    stdout=subprocess.PIPE, text=True, env=env, cwd=REPO) for k in (1, 2)]
        timings, lock, results = [], threading.Lock(), {}
        caller = Caller(base, timings, lock)
        threads = [threading.Thread(target=one_call, args=(caller, n, known_ids, results)) for n in range(args.calls)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
        logged = [p.communicate()[0].split() for p in loggers]
    finally:
        server.terminate()
        server.wait()
    # Nothing lost?
    db = store.snapshot()
    live = {t["id"]: t for t in db.table("tickets").all()}
    missing_logged = [i for ids in logged for i in ids if i not in live]
    callbacks = [phone for path, phone, _, _ in results.values() if path == 1]
    callback_tickets = [t for t in live.values() if t.get("phone") in callbacks and t.get("callback")]
    heard = [t for t in live.values() if any(e["type"] == "ivr" for e in t["history"])]
    expected_heard = {p for path, p, _, _ in results.values() if path != 1}
    heard_phones = {t["phone"] for t in heard}
    day_lines = []
    for path in (data_dir / "ivr").glob("calls-*.jsonl"):
        day_lines += [json.loads(line) for line in path.read_text().splitlines()]
    timings.sort()
    print(f"{args.calls} calls at once ({len(timings)} webhooks) over loopback, {args.live} live tickets, "
          f"while 2 processes logged {sum(len(x) for x in logged)} tickets; wall {wall:.2f} s")
    print(f"webhook response: p50 {statistics.median(timings) * 1000:.0f} ms, "
          f"p95 {timings[int(len(timings) * 0.95) - 1] * 1000:.0f} ms, max {timings[-1] * 1000:.0f} ms")
    for step, values in sorted(caller.by_step.items()):
        values.sort()
        print(f"  {step:<9} {len(values):>4} webhooks: p50 {statistics.median(values) * 1000:.0f} ms, "
              f"p95 {values[max(0, int(len(values) * 0.95) - 1)] * 1000:.0f} ms")
    print(f"calls finished: {len(results)}/{args.calls}; answered as asked (no store apology): "
          f"{sum(ok for *_, ok in results.values())}")
    print(f"logged tickets missing: {len(missing_logged)}; callback tickets: {len(callback_tickets)}/{len(callbacks)}; "
          f"callers heard with an ivr event: {len(heard_phones & expected_heard)}/{len(expected_heard)}; "
          f"day-log lines: {len(day_lines)}/{len(timings)}")
    problems = data_dir / "ivr" / "problems.jsonl"
    print(f"IVR problems logged: {len(problems.read_text().splitlines()) if problems.exists() else 0}")


if __name__ == "__main__":
    main()
