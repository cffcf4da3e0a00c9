"""The store's lock taken from a worker thread (the IVR's web server): it waits in the kernel's
queue like a process does, instead of polling and losing every race to blocked processes."""

import subprocess
import sys
import threading

from helpline_core.errors import StoreLocked
from helpline_core.store import Store

HOLDER = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.readline()
"""


def holder(data_dir):
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(data_dir / "helpline.lock")],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "held\n"
    return process


def in_thread(function):
    outcome = {}

    def run():
        try:
            outcome["value"] = function()
        except Exception as error:  # noqa: BLE001  (handed back to the test)
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_a_thread_times_out_on_a_held_lock_and_leaves_it_free_afterwards(data_dir):
    store = Store(data_dir, lock_timeout_seconds=0.2)
    process = holder(data_dir)
    try:
        thread, outcome = in_thread(lambda: store.lock().__enter__())
        thread.join(timeout=10)
        assert isinstance(outcome.get("error"), StoreLocked)
    finally:
        process.stdin.write("\n")
        process.stdin.flush()
        process.wait(timeout=10)

    def take_and_release():
        with Store(data_dir, lock_timeout_seconds=5).lock():
            return "taken"

    thread, outcome = in_thread(take_and_release)
    thread.join(timeout=10)
    assert outcome == {"value": "taken"}  # the abandoned wait did not keep the lock


def test_a_thread_gets_the_lock_as_soon_as_the_holder_lets_go(data_dir):
    store = Store(data_dir, lock_timeout_seconds=20)
    process = holder(data_dir)
    got = threading.Event()

    def take():
        with store.lock():
            got.set()
            return "taken"

    thread, outcome = in_thread(take)
    assert not got.wait(0.2)  # still held
    process.stdin.write("\n")
    process.stdin.flush()
    process.wait(timeout=10)
    thread.join(timeout=10)
    assert outcome == {"value": "taken"}


def test_threads_writing_at_once_lose_nothing(data_dir):
    writers = 4
    from helpline_core.district import init_district

    init_district(data_dir, code="SXR", name="Srinagar")
    store = Store(data_dir, lock_timeout_seconds=20)

    def bump(n):
        for _ in range(n):
            with store.transaction() as db:
                meta = db.table("meta")
                current = meta.get(doc_id=1)
                from tinydb.table import Document

                meta.upsert(Document({"serial": (current["serial"] if current else 999) + 1}, doc_id=1))

    threads = [threading.Thread(target=bump, args=(25,)) for _ in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert store.snapshot().table("meta").get(doc_id=1)["serial"] == 999 + 25 * writers
