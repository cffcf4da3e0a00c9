"""A writer killed with SIGKILL at any moment loses nothing it had confirmed and damages nothing.

The live database is first filled with a few thousand tickets, so that every write (parse,
change, dump, temporary file, fsync, rename, fsync of the folder) takes milliseconds and a kill
often lands inside it. Then, round after round, a worker process logs calls and prints each
ticket ID only once the call has returned; the test kills the worker's whole process group with
SIGKILL and inspects the data directory:

* the live file still parses and loads, ``db check`` finds no problem, the file is still 0600;
* every ticket a worker reported is there, and so is every ticket seen in an earlier round;
* at most the one call in flight was stored without being reported;
* serials run without a gap and the counter equals the highest one: it never went backwards,
  and no serial (so no ID) was given twice;
* a temporary file a killed writer left behind is gone after the next successful write.

Three kinds of rounds, chosen by a seeded random generator (the seed is in every failure message;
set HELPLINE_CRASH_SEED to replay a choice of rounds):

* ``core``: a worker calling ``log_call`` in a ``Store.transaction`` in a loop, killed after a
  random number of confirmed calls plus a random delay;
* ``cli``: a worker running the installed ``helpline log`` in a loop, killed (with the running
  ``helpline``) the same way;
* ``pause``: a core worker whose ``os.fsync`` stops (waits on stdin) at a chosen point of one
  of its first three writes, and is killed there: the temporary file written but not yet renamed,
  or the live file renamed but the folder not yet synced. Random kills land in those two short
  windows only now and then; these rounds cover both every time.
"""

import json
import os
import random
import signal
import stat
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone

import pytest
from tinydb.table import Document

from conftest import helpline_exe
from helpline_core.dbtools import check_store
from helpline_core.district import init_district
from helpline_core.ids import format_id
from helpline_core.store import DB_NAME, Store
from helpline_core.tickets import log_call, next_serial

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs Linux /proc (process groups, fds)")

PREFILLED = 2500
ROUNDS = {"core": 20, "pause": 12, "cli": 8}
NOW = datetime(2026, 11, 30, 6, 0, tzinfo=timezone.utc)

# argv: data_dir, round, pause ("-", or "temp:K" / "folder:K": stop at the K-th fsync of the live
# file's temporary file, or of the folder right after it). Phones 9876<round:02d><n:04d>.
CORE_WORKER = textwrap.dedent("""
    import os, stat, sys
    data_dir, round_no, pause = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    if pause != "-":
        pause_kind, pause_at = pause.split(":")[0], int(pause.split(":")[1])
        real_fsync, seen, last = os.fsync, {"temp": 0, "folder": 0}, [None]

        def fsync(fd):
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                kind = "folder" if last[0] == "temp" else None
            else:
                name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
                kind = "temp" if name == f".helpline.json.{os.getpid()}.tmp" else None
            last[0] = kind
            if kind:
                seen[kind] += 1
                if kind == pause_kind and seen[kind] == pause_at:
                    print("PAUSE", flush=True)
                    sys.stdin.readline()  # never answered: the test kills us here
            real_fsync(fd)

        os.fsync = fsync
    from helpline_core.clock import utcnow
    from helpline_core.config import load_config
    from helpline_core.store import Store
    from helpline_core.tickets import log_call

    config = load_config(data_dir)
    store = Store(data_dir, lock_timeout_seconds=60)
    for n in range(10000):
        if pause != "-" and n == 3:
            print(f"FAIL three writes went by without reaching the pause point {pause}", flush=True)
            sys.exit(1)
        with store.transaction() as db:
            ticket, followup = log_call(db, config, store, phone=f"9876{round_no:02d}{n:04d}", area="Khanyar",
                                        category="ration", actor="crash", now=utcnow(), language="ur",
                                        description="گھر میں پانچ افراد، راشن ختم")
        if followup:
            print(f"FAIL call {n} was taken as a follow-up of {ticket['id']}", flush=True)
            sys.exit(1)
        print(ticket["id"], flush=True)
""")

# argv: helpline executable, data_dir, round.
CLI_WORKER = textwrap.dedent("""
    import json, os, subprocess, sys
    exe, data_dir, round_no = sys.argv[1], sys.argv[2], int(sys.argv[3])
    env = dict(os.environ, HELPLINE_DATA_DIR=data_dir, HELPLINE_OPERATOR="crash")
    for n in range(10000):
        args = [exe, "log", "--phone", f"9876{round_no:02d}{n:04d}", "--area", "khanyar", "--category", "ration",
                "--lang", "hi", "--description", "दवाई चाहिए", "--json"]
        result = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env)
        if result.returncode != 0:
            print(f"FAIL call {n}: exit {result.returncode}: {result.stderr!r}", flush=True)
            sys.exit(1)
        print(json.loads(result.stdout)["id"], flush=True)
""")


def _prefill(data_dir, count):
    """A district whose live file holds ``count`` open tickets (about 0.5 kB each)."""
    config = init_district(data_dir, code="SXR", name="Srinagar")
    store = Store(data_dir)
    with store.transaction() as db:
        template, _ = log_call(db, config, store, phone="9797000000", area="Khanyar", category="ration",
                               actor="setup", now=NOW, language="ur", description="راشن کی ضرورت ہے")
        docs = []
        for n in range(1, count):
            serial = next_serial(db)
            docs.append(Document(dict(template, serial=serial, id=format_id(config.district_code, serial),
                                      phone=f"+91979700{n:04d}"), doc_id=serial))
        db.table("tickets").insert_multiple(docs)
    return config


def _inspect(data_dir, why):
    """Load the live file the way a reader does and check its invariants.

    :returns: (counter, {serial: ticket id}).
    """
    path = data_dir / DB_NAME
    raw = json.loads(path.read_bytes().decode("utf-8"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, why
    counter = raw["meta"]["1"]["serial"]
    tickets = raw["tickets"]
    serials = sorted(t["serial"] for t in tickets.values())
    assert serials == list(range(1000, counter + 1)), f"{why}: serials have a gap or the counter is off"
    for doc_id, t in tickets.items():
        assert str(t["serial"]) == doc_id and t["id"] == format_id("SXR", t["serial"]), why
    assert len(Store(data_dir).snapshot().table("tickets")) == len(tickets), why
    problems, _ = check_store(Store(data_dir))
    assert problems == [], f"{why}: db check found {problems}"
    return counter, {t["serial"]: t["id"] for t in tickets.values()}


def _wait_until_group_dead(pgid, why):
    """Wait until no process of group ``pgid`` is still running (zombies do not count).

    ``proc.wait()`` covers the worker only: a ``helpline`` it started may still be finishing the
    system call it was in when SIGKILL came, e.g. a rename, and must not race the inspection.
    """
    deadline = time.monotonic() + 120  # a safety net against hanging forever, not a measurement
    while True:
        running = []
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    line = f.read()
            except OSError:
                continue
            fields = line[line.rindex(b")") + 2:].split()  # state, ppid, pgrp, ...
            if int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
                running.append(entry.name)
        if not running:
            return
        assert time.monotonic() < deadline, f"{why}: processes {running} survived SIGKILL"
        time.sleep(0.005)


def _leftovers(data_dir):
    return {p.name for p in data_dir.glob(".*.tmp")}


def _read_line(proc, why):
    line = proc.stdout.readline()
    assert line, f"{why}: the worker ended early (exit {proc.wait()}): {proc.stderr.read()[-2000:]}"
    assert not line.startswith("FAIL"), f"{why}: {line}"
    return line.strip()


def test_killed_writers_lose_no_confirmed_ticket_and_leave_a_sound_store(tmp_path, data_dir, run_cli):
    seed = int(os.environ.get("HELPLINE_CRASH_SEED") or random.SystemRandom().randrange(2**32))
    rng = random.Random(seed)
    _prefill(data_dir, PREFILLED)
    core = tmp_path / "core_worker.py"
    core.write_text(CORE_WORKER, encoding="utf-8")
    cli = tmp_path / "cli_worker.py"
    cli.write_text(CLI_WORKER, encoding="utf-8")

    kinds = [kind for kind, count in ROUNDS.items() for _ in range(count)]
    rng.shuffle(kinds)
    # the temporary file (written, not renamed) and the folder (renamed, not yet synced) of each of
    # a worker's first three writes
    pause_points = [f"{('temp', 'folder')[n % 2]}:{1 + n // 2 % 3}" for n in range(ROUNDS["pause"])]
    rng.shuffle(pause_points)
    counter, seen = _inspect(data_dir, f"seed {seed}, before the first round")
    assert counter == 999 + PREFILLED
    confirmed = set(seen.values())
    stale = set()
    stats = {"kills": 0, "temp files left": 0, "stored but unconfirmed": 0, "random kills inside a write": 0}

    for round_no, kind in enumerate(kinds):
        why = f"seed {seed}, round {round_no} ({kind})"
        pause = pause_points.pop() if kind == "pause" else "-"
        if kind == "cli":
            command = [sys.executable, str(cli), helpline_exe(), str(data_dir), str(round_no)]
        else:
            command = [sys.executable, str(core), str(data_dir), str(round_no), pause]
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, encoding="utf-8", start_new_session=True)
        reported = []
        try:
            if kind == "pause":
                why += f", paused at fsync of {pause}"
                while (line := _read_line(proc, why)) != "PAUSE":
                    reported.append(line)
            else:
                wait_for = rng.randint(0, 2 if kind == "core" else 1)
                delay = rng.uniform(0, 0.25 if kind == "core" else 0.5)
                why += f", killed {delay:.3f} s after {wait_for} confirmed calls"
                while len(reported) < wait_for:
                    reported.append(_read_line(proc, why))
                time.sleep(delay)  # where the kill lands, not a measurement
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            _wait_until_group_dead(proc.pid, why)
            stats["kills"] += 1
        rest, err = proc.stdout.read(), proc.stderr.read()
        reported += rest.split()
        assert proc.returncode == -signal.SIGKILL, f"{why}: worker ended by itself ({proc.returncode}): {err[-2000:]}"
        assert not any(line.startswith("FAIL") for line in reported), f"{why}: {reported}"
        assert "Traceback" not in err, f"{why}: {err[-2000:]}"

        new_counter, now_seen = _inspect(data_dir, why)
        missing = (set(reported) | confirmed) - set(now_seen.values())
        assert not missing, f"{why}: confirmed tickets lost: {sorted(missing)}"
        assert new_counter >= counter, f"{why}: the counter went back from {counter} to {new_counter}"
        assert all(now_seen[s] == seen[s] for s in seen), f"{why}: an earlier serial changed its ticket"
        stored = new_counter - counter
        assert stored - len(reported) in (0, 1), (
            f"{why}: {stored} tickets stored, {len(reported)} confirmed: only the call in flight may be unconfirmed")
        if kind == "pause":
            # temp:K - the K-th write was killed before its rename: K - 1 tickets stored, all confirmed.
            # folder:K - killed after the rename: K stored, the last one not confirmed.
            pause_kind, pause_at = pause.split(":")[0], int(pause.split(":")[1])
            renamed = pause_kind == "folder"
            assert (stored, len(reported)) == (pause_at - 1 + renamed, pause_at - 1), why
            if not renamed:
                tmp = data_dir / f".{DB_NAME}.{proc.pid}.tmp"
                assert tmp.exists(), f"{why}: the killed write left no temporary file"
                assert stat.S_IMODE(tmp.stat().st_mode) == 0o600, why
        if stored:
            # A write completed in this round, so it removed what earlier kills had left.
            assert not (stale & _leftovers(data_dir)), f"{why}: stale temporary files survived a write"
        stats["stored but unconfirmed"] += stored - len(reported)
        left = _leftovers(data_dir)
        if kind != "pause" and (left - stale or stored > len(reported)):
            stats["random kills inside a write"] += 1
        stats["temp files left"] += len(left - stale)
        stale |= left
        confirmed |= set(reported)
        counter, seen = new_counter, now_seen

    # The pause rounds alone always leave temporary files; one more write removes them all.
    assert stats["temp files left"] >= 1, f"seed {seed}: {stats}"
    record = run_cli(["log", "--phone", "9876999999", "--area", "Khanyar", "--category", "ration", "--json"],
                     as_json=True)
    assert record["id"] == format_id("SXR", counter + 1) and not record["followup"], f"seed {seed}"
    assert not _leftovers(data_dir), f"seed {seed}: temporary files survived the write"
    check = run_cli(["db", "check"])
    assert check.stdout.rstrip().endswith("OK") and "temporary files" not in check.stdout, f"seed {seed}"
    listed = run_cli(["list", "--status", "all", "--json"], as_json=True)
    assert len(listed) == counter + 1 - 999, f"seed {seed}"
    assert confirmed | {record["id"]} <= {t["id"] for t in listed}, f"seed {seed}"
    assert stat.S_IMODE((data_dir / DB_NAME).stat().st_mode) == 0o600
    print(f"seed {seed}: {len(kinds)} rounds, {stats}, {len(confirmed) - PREFILLED} tickets confirmed")
