"""Several processes writing one data directory at once: nothing lost, no ID given twice.

Two worker processes log calls into one district at the same time: 200 calls each through the
core API (each call its own ``Store.transaction``: lock, read, change, atomic write), and
``CLI_CALLS_PER_WORKER`` calls each through the installed ``helpline log`` (each call its own
process). The workers start together on a barrier (a line on their stdin), so their writes
interleave for the whole run. The last test holds the lock from the test process and checks that
each kind of writer gives up with exit code 3 and a one-line error, and changes nothing.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import file_bytes, helpline_exe
from helpline_core.config import CONFIG_NAME
from helpline_core.district import init_district
from helpline_core.ids import format_id
from helpline_core.store import DB_NAME, Store

WORKERS = 2
CALLS_PER_WORKER = 200  # core API: every call its own transaction, as a CLI process has
# A CLI call costs about 0.15 s of CPU (interpreter, click, phonenumbers) before it waits on the
# lock, so 2 x 200 of them take a minute or more on a loaded 2-core machine. The CLI run checks
# the same thing end to end with fewer calls; HELPLINE_CLI_CALLS_PER_WORKER=200 runs it in full.
CLI_CALLS_PER_WORKER = int(os.environ.get("HELPLINE_CLI_CALLS_PER_WORKER") or 75)
FIRST_SERIAL = 1000  # init stores the counter at 999

# The core worker: argv = data_dir, worker number, calls. Prints "ready", then for each call waits
# for "go" on stdin, logs one call from the distinct mobile 98765<w><nnnn> and prints the ticket
# ID once the call returned. Any failure prints "FAIL ..." and exits 1.
#
# The test releases both workers for each call together (lock step), so every one of the 200
# rounds has the two processes asking for the lock at the same moment. (Left to run freely, one
# worker in a tight loop takes the lock again before the other's polling wakes up, and the two
# mostly run one after the other.)
CORE_WORKER = textwrap.dedent("""
    import sys
    from helpline_core.clock import utcnow
    from helpline_core.config import load_config
    from helpline_core.store import Store
    from helpline_core.tickets import log_call

    data_dir, worker, calls = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    config = load_config(data_dir)
    store = Store(data_dir, lock_timeout_seconds=120)
    print("ready", flush=True)
    for n in range(calls):
        if sys.stdin.readline() != "go\\n":
            print(f"FAIL no go for call {n}", flush=True)
            sys.exit(1)
        with store.transaction() as db:
            ticket, followup = log_call(db, config, store, phone=f"98765{worker}{n:04d}", area="Khanyar",
                                        category="ration", actor=f"worker{worker}", now=utcnow())
        if followup:
            print(f"FAIL call {n} was taken as a follow-up of {ticket['id']}", flush=True)
            sys.exit(1)
        print(ticket["id"], flush=True)
""")

# The CLI worker: argv = helpline, data_dir, worker number, calls. Prints "ready", waits for one
# "go", then runs ``helpline log`` once per call (each a new process, so the two workers' calls
# interleave by themselves) and prints each ticket ID after the command exited 0.
CLI_WORKER = textwrap.dedent("""
    import json, os, subprocess, sys

    exe, data_dir, worker, calls = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    env = dict(os.environ, HELPLINE_DATA_DIR=data_dir, HELPLINE_OPERATOR=f"worker{worker}")
    print("ready", flush=True)
    if sys.stdin.readline() != "go\\n":
        print("FAIL no go", flush=True)
        sys.exit(1)
    for n in range(calls):
        args = [exe, "log", "--phone", f"98765{worker}{n:04d}", "--area", "Khanyar", "--category", "ration", "--json"]
        result = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env)
        if result.returncode != 0 or "Traceback" in result.stderr:
            print(f"FAIL call {n}: exit {result.returncode}: {result.stderr!r}", flush=True)
            sys.exit(1)
        record = json.loads(result.stdout)
        if record["followup"]:
            print(f"FAIL call {n} was taken as a follow-up of {record['id']}", flush=True)
            sys.exit(1)
        print(record["id"], flush=True)
""")


def _run_workers(commands, lockstep_calls=None):
    """Start every worker, wait until all are ready, release them together, wait for the end.

    :param lockstep_calls: release the workers for each of this many calls together, and wait
        for every worker's ticket before the next round (one "go" for the whole run when None).
    :returns: one list of printed ticket IDs per worker (the test fails on any worker failure).
    """
    procs = [subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for cmd in commands]
    early = [[] for _ in procs]
    try:
        for proc in procs:
            first = proc.stdout.readline()
            assert first == "ready\n", f"worker did not start: {first!r} {proc.stderr.read() if not first else ''}"
        for _ in range(lockstep_calls or 1):
            for proc in procs:  # every worker is waiting on its stdin now
                proc.stdin.write("go\n")
                proc.stdin.flush()
            if lockstep_calls:
                for proc, lines in zip(procs, early):
                    line = proc.stdout.readline()
                    assert line and not line.startswith("FAIL"), f"worker failed: {line!r} {proc.stderr.read()[-3000:]}"
                    lines.append(line.strip())
        outputs = [proc.communicate(timeout=600) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    outputs = [("\n".join(lines + [out]), err) for lines, (out, err) in zip(early, outputs)]
    results = []
    for proc, (out, err) in zip(procs, outputs):
        lines = out.splitlines()
        failures = [line for line in lines if line.startswith("FAIL")]
        assert proc.returncode == 0 and not failures, (
            f"worker exited {proc.returncode}: {failures}\nstderr: {err[-3000:]}")
        assert "Traceback" not in err, err
        results.append(lines)
    return results


def _check_store_after(data_dir, district_code, reported, run_cli, calls):
    """Every reported ticket is stored once; IDs, phones and serials all distinct, no gap."""
    total = WORKERS * calls
    for lines in reported:
        assert len(lines) == calls, f"a worker reported {len(lines)} tickets, not {calls}"
    all_reported = [ticket_id for lines in reported for ticket_id in lines]
    assert len(set(all_reported)) == total, "two calls were given the same ticket ID"

    listed = run_cli(["list", "--status", "all", "--json"], as_json=True)
    ids = [t["id"] for t in listed]
    phones = [t["phone"] for t in listed]
    assert len(listed) == total
    assert len(set(ids)) == total
    assert set(ids) == set(all_reported)
    expected_phones = {f"+9198765{w}{n:04d}" for w in range(WORKERS) for n in range(calls)}
    assert len(set(phones)) == total and set(phones) == expected_phones
    assert all(t["calls"] == 1 and t["status"] in ("open", "assigned") for t in listed)

    # The file itself: the counter equals the highest serial and serials run without a gap.
    raw = json.loads((data_dir / DB_NAME).read_bytes())
    stored = raw["tickets"]
    serials = sorted(t["serial"] for t in stored.values())
    assert serials == list(range(FIRST_SERIAL, FIRST_SERIAL + total))
    assert raw["meta"]["1"]["serial"] == serials[-1]
    assert all(str(t["serial"]) == doc_id and t["id"] == format_id(district_code, t["serial"])
               for doc_id, t in stored.items())
    assert len(Store(data_dir).snapshot().table("tickets")) == total

    # Each worker's own tickets were numbered in the order it logged them.
    by_id = {t["id"]: t["serial"] for t in stored.values()}
    for lines in reported:
        own = [by_id[ticket_id] for ticket_id in lines]
        assert own == sorted(own), "a worker's later call got a smaller serial"

    check = run_cli(["db", "check"])
    assert f"{total} live tickets" in check.stdout and check.stdout.rstrip().endswith("OK")
    assert not list(data_dir.glob(".*.tmp"))


def test_two_processes_logging_through_the_core_api_lose_nothing(data_dir, tmp_path, run_cli):
    # No officers: every ticket stays open and queues only the caller's text, so the live file
    # (rewritten whole by each of the 400 transactions) stays small and the test quick.
    config = init_district(data_dir, code="SXR", name="Srinagar")
    worker = tmp_path / "core_worker.py"
    worker.write_text(CORE_WORKER)
    commands = [[sys.executable, str(worker), str(data_dir), str(w), str(CALLS_PER_WORKER)] for w in range(WORKERS)]
    reported = _run_workers(commands, lockstep_calls=CALLS_PER_WORKER)
    _check_store_after(data_dir, config.district_code, reported, run_cli, CALLS_PER_WORKER)
    # Each round's two tickets came one from each worker: the two really took turns on the lock.
    stored = json.loads((data_dir / DB_NAME).read_bytes())["tickets"]
    for n in range(CALLS_PER_WORKER):
        pair = {stored[str(FIRST_SERIAL + 2 * n + k)]["phone"] for k in (0, 1)}
        assert pair == {f"+9198765{w}{n:04d}" for w in range(WORKERS)}, f"round {n}: {pair}"


def test_two_processes_logging_through_the_cli_lose_nothing(tmp_path, data_dir, run_cli):
    run_cli(["init", "--district-code", "SXR", "--district-name", "Srinagar"])
    run_cli(["officer", "add", "rafiq", "--name", "Rafiq Ahmad", "--phone", "09419000101",
             "--area", "Khanyar", "--category", "ration"])
    worker = tmp_path / "cli_worker.py"
    worker.write_text(CLI_WORKER)
    commands = [[sys.executable, str(worker), helpline_exe(), str(data_dir), str(w), str(CLI_CALLS_PER_WORKER)]
                for w in range(WORKERS)]
    reported = _run_workers(commands)
    _check_store_after(data_dir, "SXR", reported, run_cli, CLI_CALLS_PER_WORKER)
    listed = run_cli(["list", "--status", "all", "--json"], as_json=True)
    assert {t["officer"] for t in listed} == {"rafiq"}


def _set_lock_timeout(data_dir, seconds):
    path = data_dir / CONFIG_NAME
    text = path.read_text(encoding="utf-8")
    assert "lock_timeout_seconds = 10\n" in text
    path.write_text(text.replace("lock_timeout_seconds = 10\n", f"lock_timeout_seconds = {seconds}\n"),
                    encoding="utf-8")


WRITERS = [
    ["log", "--phone", "9876511111", "--area", "Khanyar", "--category", "ration"],
    ["assign", "SXR-10003"],  # reroute to the other officer who covers it
    ["officer", "add", "bilal", "--name", "Bilal Shah", "--phone", "09419000301", "--area", "Eidgah",
     "--category", "medicine"],
    ["db", "backup"],
]


@pytest.mark.parametrize("args", WRITERS, ids=lambda a: " ".join(a[:2]))
def test_a_writer_gives_up_with_exit_3_while_the_lock_is_held_and_changes_nothing(district, data_dir, run_cli, args):
    first = run_cli(["log", "--phone", "9876500001", "--area", "Khanyar", "--category", "ration", "--json"],
                    as_json=True)
    assert first["id"] == "SXR-10003" and first["officer"]
    _set_lock_timeout(data_dir, 0.3)
    config = data_dir / CONFIG_NAME  # backups go beside the data directory: watch both
    config.write_text(config.read_text(encoding="utf-8").replace("[store]\n", '[store]\nbackup_dir = "backups"\n'),
                      encoding="utf-8")
    before = file_bytes(data_dir.parent)

    with Store(data_dir).lock():
        result = run_cli(args, expect=3)
        # Readers take no lock: they still work while a writer holds it.
        assert len(run_cli(["list", "--status", "all", "--json"], as_json=True)) == 1

    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "lock" in lines[0] and "0.3" in lines[0] and str(data_dir) in lines[0]
    assert result.stdout == ""
    assert file_bytes(data_dir.parent) == before

    # Once the lock is free, the very same command goes through.
    run_cli(args)
    assert file_bytes(data_dir.parent) != before
