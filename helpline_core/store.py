"""The one place that touches the database files: locking, atomic writes, archives.

Files in the data directory (created 0700; every file 0600, it holds callers' numbers)::

    helpline.json            live database (TinyDB layout: {table: {doc_id: document}})
    helpline.lock            the lock every read-modify-write holds (fcntl.flock, exclusive)
    archive/tickets-NNNN.json   final tickets, 1,000 consecutive serials a file (block NNNN)
    archive/phones-NN.json      phone -> archived tickets, by the number's last two digits
    sms/YYYY-MM-DD.json         texts that left the outbox that local day (see outbox.py)
    verification/DATE.csv|html  the nightly verification lists
    imports/, import-*.journal.json, stats-cache.json   see importer.py and reports.py
    phone-salt, purge.journal.json   the district's salt for purged numbers; see retention.py
    restore.journal.json, .restore-new/, .restore-old/   a restore under way; see dbtools.py

Live tables and their documents::

    meta      {1: {"serial": 1042}}              the ticket counter: only ever goes up
    tickets   {serial: ticket}                   doc_id is the ticket's serial
    officers  {n: officer}
    outbox    {n: message}                       texts not yet sent (outbox.py)
    phones    {n: {"phone", "blocked", "opted_out_at", "history"}}   numbers that cannot get texts (numbers.py)
    jobs      {n: job}                           slots claimed and run (jobs.py)
    imports   {n: batch}                         finished imports (importer.py)

    ticket = {"id": "SXR-10429", "serial": 1042, "status": "assigned",
              "phone": "+919876543210" | null, "phone_type": "mobile|mobile_or_landline|landline|unknown",
              "caller_name": str|null, "area": str, "category": str, "description": str|null,
              "language": "en|hi|ur", "officer": officer id|null,
              "opened_at", "due_at", "resolved_at", "closed_at", "final_at": UTC ISO 8601|null,
              "resolved_by": officer id|null, "follows": ticket id|null, "calls": int,
              "messages": {outbox key: state}, "sms_blocked": str (absent when texts reach it),
              "escalations": {level: due_at}, "duplicate_of": ticket id (rejected duplicates),
              "external_id", "source", "import_batch", "address", "lat", "long" (imported tickets),
              "purged_at": UTC ISO (personal data retired: phone "purged:<hash>", see retention.py),
              "history": [{"type", "at", "actor", "note", "changes": {field: [old, new]}}]}
    history types: opened, call, assign, unassign, resolve, verify, reopen, reject, note,
              escalate, edit (the phone corrected), close (an imported closure: nobody cross-checked it here)
    officer = {"officer_id", "name", "phone", "phone_type", "areas": [...], "categories": [...],
               "role": "officer|verifier|supervisor", "lang", "active": bool, "history": [...]}

Why not TinyDB's own ``JSONStorage``: it writes the file in place (a power cut leaves half a
file) and parses it again on every operation. ``_MemoryStorage`` below hands TinyDB one parsed
copy for the length of a transaction; the transaction writes it back once, atomically (temporary
file in the same folder, fsync, ``os.replace``, fsync of the folder), while holding the lock.
A reader needs no lock: a rename is atomic, so it sees the old file or the new one, never half.
"""

import errno
import fcntl
import gc
import os
import signal
import threading
import zlib
from contextlib import contextmanager
from pathlib import Path

import orjson
from tinydb import TinyDB
from tinydb.storages import Storage

from .errors import DiskFull, InvalidValue, StoreDamaged, StoreLocked

DB_NAME = "helpline.json"
LOCK_NAME = "helpline.lock"
MANIFEST_NAME = "manifest.json"  # marks a backup folder (see dbtools): read, never written to
RESTORE_JOURNAL = "restore.journal.json"  # a restore cut short (see dbtools): the store is refused until finished
ARCHIVE_DIR = "archive"
ARCHIVE_BLOCK = 1000
_TMP_SUFFIX = ".tmp"


def size_text(count):
    """:returns: a byte count for people: ``512 bytes``, ``3.4 MB``."""
    if count < 1000:
        return f"{count} bytes"
    for unit in ("kB", "MB", "GB", "TB"):
        count /= 1000
        if count < 1000 or unit == "TB":
            return f"{count:.1f} {unit}"


def keep_original(saved, path):
    """Remember ``path``'s bytes in ``saved`` ({Path: bytes | None}) before a multi-file change
    touches it; None records that the file did not exist. A path already kept is left as first seen."""
    if path not in saved:
        try:
            saved[path] = path.read_bytes()
        except FileNotFoundError:
            saved[path] = None


def put_back(saved):
    """Undo a multi-file change: every file in ``saved`` (from :func:`keep_original`) gets its
    original bytes again, and a file that did not exist is removed. Each file is rewritten with
    :func:`atomic_write`. :raises DiskFull: as :func:`atomic_write`."""
    for path, original in saved.items():
        if original is None:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        else:
            atomic_write(path, original)


def atomic_write(path, payload):
    """Replace ``path`` with ``payload`` (bytes) so that a crash leaves the old or the new file.

    Writes ``.<name>.<pid>.tmp`` in the same folder (mode 0600), flushes and fsyncs it, renames
    it over ``path`` and fsyncs the folder. On an error the temporary file is removed and
    ``path`` is untouched.

    :raises DiskFull: the disk has no room for the temporary copy (names the file, the folder and
        the bytes the write needed).
    """
    path = Path(path)
    tmp = path.parent / f".{path.name}.{os.getpid()}{_TMP_SUFFIX}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException as error:
        os.close(fd)
        os.unlink(tmp)
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            raise DiskFull(
                f"no space left on the disk to write {path.name} in {path.parent}: the write needed "
                f"{size_text(len(payload))} free (a whole temporary copy of the file, written beside it "
                f"before it replaces the old one). {path.name} is unchanged; free space on that disk "
                f"('helpline db check' shows how much is needed) and try again.") from None
        raise
    os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


CHECK_TABLE = "check"  # {"1": {"crc32": n}}: of the tickets and index rows, as written


def _rows(table):
    return b",\n".join(orjson.dumps(str(key)) + b":" + orjson.dumps(doc) for key, doc in table.items())


def _table_bytes(name, rows):
    return orjson.dumps(str(name)) + b":{\n" + rows + b"\n}"


def _crc(tickets_rows, index_rows):
    return zlib.crc32(index_rows, zlib.crc32(tickets_rows + b"\0"))


def dump_json(data):
    """:returns: UTF-8 JSON bytes of ``data``; Hindi and Urdu stay readable (no ``\\u`` escapes).

    A file of tables (``{table: {id: document}}``, TinyDB's layout) is written one document a
    line, under a ``"table":{`` line of its own, so ``read_document`` can find one document
    without parsing the rest (JSON strings never hold a raw newline, so a line start is always a
    document or a table edge). orjson, not the standard library's json: it writes a live file of
    3,000 tickets in a tenth of the time (0.01 s against 0.1 s).
    """
    if not isinstance(data, dict) or not all(isinstance(t, dict) for t in data.values()):
        return orjson.dumps(data)
    return b"{" + b",".join(_table_bytes(name, _rows(table)) for name, table in data.items()) + b"}\n"


def _live_bytes(data, tickets_rows=None):
    """The live file's bytes: ``dump_json``'s layout, with a last ``check`` table holding the
    CRC-32 of the tickets and index rows, so a one-line read or a one-ticket write can trust the
    lines it does not parse (a hand edit or a damaged byte sends it to a full parse instead).

    :param tickets_rows: the tickets table's rows when the caller already has them (a splice).
    """
    data.pop(CHECK_TABLE, None)
    parts, rows_of = [], {}
    for name, table in data.items():
        rows = tickets_rows if name == "tickets" and tickets_rows is not None else _rows(table)
        rows_of[name] = rows
        parts.append(_table_bytes(name, rows))
    if "tickets" in rows_of:
        data[CHECK_TABLE] = {"1": {"crc32": _crc(rows_of["tickets"], rows_of.get(INDEX_TABLE, b""))}}
        parts.append(_table_bytes(CHECK_TABLE, _rows(data[CHECK_TABLE])))
    return b"{" + b",".join(parts) + b"}\n"


def _trusted(bodies):
    """:returns: True when the file's ``check`` table matches its tickets and index rows."""
    try:
        expected = orjson.loads(b"{" + bodies[CHECK_TABLE] + b"}")["1"]["crc32"]
    except (KeyError, TypeError, orjson.JSONDecodeError):
        return False
    return expected == _crc(bodies.get("tickets", b""), bodies.get(INDEX_TABLE, b""))


def read_document(path, table, doc_id):
    """Read one document of a file that ``dump_json`` wrote, without parsing the others.

    :returns: ``(True, document or None)`` when the file has this layout and, for the live file,
        its check sum holds (None: no such document); ``(False, None)`` otherwise: the caller
        parses the whole file, which says whether it is damaged or only laid out otherwise.
    """
    try:
        with open(path, "rb") as f:
            payload = f.read()
    except FileNotFoundError:
        return True, None
    if not payload.strip():
        return True, None
    tables = _split_tables(payload)
    if tables is None:
        return False, None
    bodies = dict(tables)
    if len(bodies) != len(tables) or (CHECK_TABLE in bodies and not _trusted(bodies)):
        return False, None
    if CHECK_TABLE not in bodies and INDEX_TABLE in bodies:
        return False, None  # a live file from before the check sum
    body = b"\n" + bodies.get(table, b"")
    at = body.find(b"\n" + orjson.dumps(str(doc_id)) + b":")
    if at < 0:
        return True, None
    line_end = body.find(b"\n", at + 1)
    line = body[at + 1:line_end if line_end >= 0 else len(body)].rstrip(b",")
    try:
        return True, orjson.loads(line[line.index(b":") + 1:])
    except (ValueError, orjson.JSONDecodeError):
        return False, None


def read_json(path):
    """Read a database or archive file.

    :returns: the parsed dict; ``{}`` when the file is missing or empty (a new database).
    :raises StoreDamaged: when the file is not a JSON object of tables; the file is not touched.
    """
    try:
        with open(path, "rb") as f:
            payload = f.read()
    except FileNotFoundError:
        return {}
    if not payload.strip():
        return {}
    gc.disable()  # half of parsing a large file is the cyclic collector looking at new dicts
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as e:
        raise StoreDamaged(f"{path} is damaged ({e}); it was left as it is. Run 'helpline db check', "
                           f"then restore it from a backup.") from None
    finally:
        gc.enable()
    if not isinstance(data, dict) or not all(isinstance(t, dict) for t in data.values()):
        raise StoreDamaged(f"{path} is damaged (not a table of documents); it was left as it is. "
                           f"Restore it from a backup.")
    return data


class _MemoryStorage(Storage):
    """TinyDB storage over a dict held by a transaction (see the module docstring)."""

    def __init__(self, holder):
        self._holder = holder

    def read(self):
        return self._holder["data"]

    def write(self, data):
        self._holder["data"] = data
        self._holder["dirty"] = True


def raw_documents(db, table_name):
    """:returns: the stored dicts of a table, without building a TinyDB ``Document`` for each.

    For scans on the operator's hot path (routing counts, follow-up search, outbox keys): reading
    3,000 tickets through ``Table.all()`` costs more than the rest of the scan. Read-only: change
    documents only through the Table API, so the transaction knows to write.
    """
    return db.table(table_name)._read_table().values()


def put_document(table, doc_id, document):
    """Replace one whole document in a transaction, in O(1).

    TinyDB's ``Table.update`` rebuilds the whole table (two dict copies of every document) for
    each call: fine for one change, ruinous for a job that changes thousands of tickets (an
    escalation run over 10,000 open tickets took a minute). The transaction's own storage holds
    the data, so the document is set there and the transaction marked to be written.
    """
    storage = table.storage
    if not isinstance(storage, _MemoryStorage):
        return table.update(dict(document), doc_ids=[doc_id])
    storage._holder["data"].setdefault(table.name, {})[str(doc_id)] = dict(document)
    storage._holder["dirty"] = True
    table.clear_cache()


def live_rows(db):
    """Yield ``(serial, [phone, category, status, officer])`` for every live ticket: from the
    tickets themselves in a full transaction, from the ``index`` table (with the lines loaded so
    far taking precedence) in a one-ticket transaction."""
    tickets = db.table("tickets")._read_table()
    if getattr(db, "partial", None) is None:
        for key, ticket in tickets.items():
            yield int(key), index_entry(ticket)
        return
    index = db.table(INDEX_TABLE)._read_table()
    for key, row in index.items():
        if key in tickets:
            yield int(key), index_entry(tickets[key])
        elif key not in db.partial.loaded:
            yield int(key), row
    for key, ticket in tickets.items():
        if key not in index:
            yield int(key), index_entry(ticket)


INDEX_TABLE = "index"  # derived: serial -> [phone, category, status, officer] of every live ticket


def index_entry(ticket):
    """:returns: a live ticket's row in the ``index`` table (what routing and follow-ups scan)."""
    return [ticket.get("phone"), ticket.get("category"), ticket.get("status"), ticket.get("officer")]


def _with_index(data):
    """:returns: ``data`` with its ``index`` table rebuilt from its tickets (a full write)."""
    if "tickets" in data:
        data[INDEX_TABLE] = {key: index_entry(t) for key, t in data["tickets"].items()}
    return data


def _split_tables(payload):
    """:returns: [(name, body)] of a file ``dump_json`` wrote (body: the document lines, as bytes),
    or None when the file has another layout."""
    if not payload.startswith(b"{") or not payload.endswith(b"}\n"):
        return None
    tables, pos = [], 1
    while True:
        header_end = payload.find(b":{\n", pos)
        if header_end < 0:
            return None
        try:
            name = orjson.loads(payload[pos:header_end])
        except orjson.JSONDecodeError:
            return None
        body_start = header_end + 3
        body_end = payload.find(b"\n}", body_start - 1)
        if body_end < 0 or not isinstance(name, str):
            return None
        tables.append((name, payload[body_start:max(body_start, body_end)]))
        after = body_end + 2
        if payload[after:after + 1] == b",":
            pos = after + 1
        elif payload[after:] == b"}\n":
            return tables
        else:
            return None


class _PartialTickets:
    """The tickets of a one-ticket transaction: only the lines a command asks for are parsed."""

    def __init__(self, body, data):
        self.body, self.data, self.loaded = body, data, set()
        self.padded = b"\n" + body  # so that the first line starts after a newline too

    def load(self, serial):
        """Parse ticket ``serial``'s line into the transaction's tickets table (if it is live)."""
        key = str(serial)
        if key in self.loaded or key in self.data["tickets"]:
            return
        self.loaded.add(key)
        span = self._span(key)
        if span is None:
            return
        start, end = span
        line = self.body[start:end]
        self.data["tickets"][key] = orjson.loads(line[line.index(b":") + 1:])  # the check sum vouched for it

    def _span(self, key):
        """:returns: ``(start, end)`` of ticket ``key``'s line in the body (no separator), or None."""
        at = self.padded.find(b"\n" + orjson.dumps(key) + b":")
        if at < 0:
            return None
        end = self.body.find(b",\n", at)
        return at, end if end >= 0 else len(self.body)

    def splice(self, tickets):
        """:returns: the tickets table's new body: lines not touched stay byte for byte, touched
        ones become what ``tickets`` now holds, new ones are appended. Only the touched lines are
        found and written, so the cost does not grow with the number of live tickets."""
        touched = self.loaded | set(tickets)
        if any(key not in tickets and self._span(key) for key in touched):
            return self._rebuild(tickets, touched)  # a ticket left: the rare, simple way
        edits, new = [], []
        for key in touched:
            if key not in tickets:
                continue  # loaded to look at (an archived ticket), never live here
            span = self._span(key)
            line = orjson.dumps(key) + b":" + orjson.dumps(tickets[key])
            if span:
                edits.append((span, line))
            else:
                new.append(line)
        pieces, pos = [], 0
        for (start, end), line in sorted(edits):
            pieces += [self.body[pos:start], line]
            pos = end
        pieces.append(self.body[pos:])
        body = b"".join(pieces)
        if new:
            body = body + (b",\n" if body else b"") + b",\n".join(new)
        return body

    def _rebuild(self, tickets, touched):
        lines = []
        for line in self.body.split(b",\n") if self.body else []:
            key = line[1:line.index(b'"', 1)].decode()
            if key not in touched:
                lines.append(line)
        lines += [orjson.dumps(k) + b":" + orjson.dumps(t) for k, t in tickets.items()]
        return b",\n".join(lines)


def _open_tinydb(data):
    holder = {"data": data, "dirty": False}
    db = TinyDB(storage=_MemoryStorage, holder=holder)
    db.holder = holder
    return db


class Store:
    """A data directory's database, its lock and its archives.

    :param data_dir: the data directory (created 0700 on the first write).
    :param lock_timeout_seconds: how long a write waits for another process's lock.
    :param allow_new: a missing or empty database is a new one even though the folder holds a
        district's config (only ``init`` and ``import-json`` create databases). Otherwise that is
        damage: a lost live file must never restart the ticket counter and reissue IDs.
    """

    mid_restore_ok = False  # set by ``dbtools.restore_backup`` only: it finishes a cut-short restore

    def __init__(self, data_dir, lock_timeout_seconds=10.0, allow_new=False):
        self.allow_new = allow_new
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DB_NAME
        self.lock_path = self.data_dir / LOCK_NAME
        self.archive_dir = self.data_dir / ARCHIVE_DIR
        self.lock_timeout_seconds = lock_timeout_seconds

    def ensure_dir(self):
        """Create the data directory (0700) if needed."""
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)

    @contextmanager
    def lock(self):
        """Hold the exclusive store lock for the ``with`` block.

        :raises StoreLocked: when another process keeps it past ``lock_timeout_seconds``.
        :raises InvalidValue: the folder is a backup (it has a manifest): a change would spoil it.
        """
        if (self.data_dir / MANIFEST_NAME).exists():
            raise InvalidValue(f"{self.data_dir} is a backup made by 'helpline db backup': it can be read (show, "
                               f"list, find), never changed, or its manifest no longer matches. Work in the data "
                               f"directory, or put the backup there with 'helpline db restore'. Nothing was changed.")
        self.ensure_dir()
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._wait_for_lock(fd)
            self._refuse_mid_restore()
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def _wait_for_lock(self, fd):
        """Block in ``flock`` (the kernel wakes a waiter as soon as the lock is free, so a busy
        writer cannot starve an operator's command) with a SIGALRM time-out; off the main thread,
        where signals cannot be used, a helper thread blocks in ``flock`` instead (see
        ``_wait_off_main_thread``)."""
        busy = StoreLocked(f"the store in {self.data_dir} is busy: another helpline process held its lock for "
                           f"more than {self.lock_timeout_seconds:g} s. Nothing was changed; try again.")
        if threading.current_thread() is not threading.main_thread():
            return self._wait_off_main_thread(fd, busy)

        def expired(signum, frame):
            raise busy

        previous = signal.signal(signal.SIGALRM, expired)
        signal.setitimer(signal.ITIMER_REAL, max(self.lock_timeout_seconds, 0.001))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)

    def _wait_off_main_thread(self, fd, busy):
        """Wait for the lock in a thread (a web server's worker): polling would lose every race to
        processes blocked in ``flock``, so a helper thread blocks in ``flock`` on a duplicate of
        ``fd`` (the same open file, so the lock it takes is ``fd``'s) while this thread waits for
        it with the time-out. On a time-out the helper is left to finish: it closes its duplicate,
        and once ``fd`` is closed too a lock it took late is released.

        :raises StoreLocked: ``busy``, after ``lock_timeout_seconds``.
        """
        duplicate = os.dup(fd)
        taken = threading.Event()
        outcome = {}

        def take():
            try:
                fcntl.flock(duplicate, fcntl.LOCK_EX)
                outcome["ok"] = True
            except OSError as error:
                outcome["error"] = error
            finally:
                os.close(duplicate)  # fd still refers to the open file: the lock stays
                taken.set()

        threading.Thread(target=take, name="store-lock", daemon=True).start()
        if not taken.wait(self.lock_timeout_seconds) or not outcome.get("ok"):
            if "error" in outcome:
                raise outcome["error"]
            raise busy

    @contextmanager
    def transaction(self):
        """Read-modify-write under the lock: yields a TinyDB over the live data.

        Changes are written once, atomically, when the block ends without an exception; on an
        exception nothing is written and the file stays as it was.

        :raises StoreLocked: see ``lock``. :raises StoreDamaged: see ``read_json``.
        """
        with self.lock(), self._whole_file() as db:
            yield db

    @contextmanager
    def _whole_file(self):
        """The body of ``transaction``, the lock already held."""
        db = _open_tinydb(self._read_live())
        db.partial = None
        yield db
        if db.holder["dirty"]:
            self._remove_stale_temporaries()
            atomic_write(self.path, _live_bytes(_with_index(db.holder["data"])))

    def snapshot(self):
        """:returns: a read-only view (TinyDB) of the live data as it is now, without the lock."""
        return _open_tinydb(self._read_live())

    @contextmanager
    def ticket_transaction(self):
        """Like ``transaction``, for a command that changes one ticket (or opens one): only the
        small tables are parsed; ``db.partial.load(serial)`` parses one ticket's line, and the
        ``index`` table stands in for scans of all live tickets (``routing``, follow-ups). The
        write splices the changed lines into the file's bytes; the file is the same one
        ``transaction`` would write, atomically as ever. Falls back to ``transaction`` for a file
        of another layout.
        """
        with self.lock():
            try:
                with open(self.path, "rb") as f:
                    payload = f.read()
            except FileNotFoundError:
                payload = b""
            tables = _split_tables(payload) if payload.strip() else None
            if tables is None or len(dict(tables)) != len(tables) or not _trusted(dict(tables)):
                with self._whole_file() as db:  # another layout, a hand edit or damage: parse it all
                    yield db
                return
            data, order, body = {}, [], b""
            for name, table_body in tables:
                order.append(name)
                if name == "tickets":
                    body = table_body
                    data["tickets"] = {}
                    continue
                try:
                    data[name] = orjson.loads(b"{" + table_body + b"}")
                except orjson.JSONDecodeError as e:
                    raise StoreDamaged(f"{self.path} is damaged ({e}); it was left as it is. Run 'helpline db "
                                       f"check', then restore it from a backup.") from None
            db = _open_tinydb(data)
            db.partial = _PartialTickets(body, data)
            yield db
            if not db.holder["dirty"]:
                return
            data = db.holder["data"]
            tickets = data.get("tickets", {})
            index = data.setdefault(INDEX_TABLE, {})
            for key in db.partial.loaded | set(tickets):
                if key in tickets:
                    index[key] = index_entry(tickets[key])
                else:
                    index.pop(key, None)
            ordered = {name: data[name] for name in order + [n for n in data if n not in order] if name in data}
            rows = db.partial.splice(tickets)
            self._remove_stale_temporaries()
            atomic_write(self.path, _live_bytes(ordered, tickets_rows=rows))

    def _refuse_mid_restore(self):
        """:raises StoreDamaged: a restore was cut short (its journal is there): the files may be
        half old, half restored, so nothing may read or write them until it is finished."""
        if not self.mid_restore_ok and (self.data_dir / RESTORE_JOURNAL).exists():
            raise StoreDamaged(f"a restore of {self.data_dir} was cut short: run the same 'helpline db restore "
                               f"BACKUP' again to finish it; nothing was changed.")

    def _read_live(self):
        self._refuse_mid_restore()
        data = read_json(self.path)
        if not data and not self.allow_new and (self.data_dir / "config.toml").exists():
            state = "empty" if self.path.exists() else "missing"
            raise StoreDamaged(f"{self.path} is {state}, but {self.data_dir} holds a district: restore the file from a "
                               f"backup (see 'helpline db backup'); nothing was changed.")
        return data

    def _remove_stale_temporaries(self):
        # Under the lock only we write, so any temporary file left is from a process that died.
        for folder in (self.data_dir, self.archive_dir):
            try:
                names = os.listdir(folder)
            except FileNotFoundError:
                continue
            for name in names:
                if name.startswith(".") and name.endswith(_TMP_SUFFIX):
                    try:
                        os.unlink(folder / name)
                    except FileNotFoundError:
                        pass

    # Archives -----------------------------------------------------------------------------

    def block_of(self, serial):
        """:returns: the archive block number that holds ``serial``."""
        return serial // ARCHIVE_BLOCK

    def block_path(self, block):
        return self.archive_dir / f"tickets-{block:04d}.json"

    def phones_path(self, phone):
        digits = "".join(ch for ch in phone if ch.isdigit())
        return self.archive_dir / f"phones-{digits[-2:]:0>2}.json"

    def find_ticket_document(self, serial):
        """:returns: the ticket with ``serial``, live or archived, or None; reads one line of each
        file where it can (``read_document``), the whole file where it must."""
        for path in (self.path, self.block_path(self.block_of(serial))):
            found, ticket = read_document(path, "tickets", serial)
            if not found:
                table = self._read_live() if path == self.path else read_json(path)
                ticket = table.get("tickets", {}).get(str(serial))
            if path == self.path and ticket is None and not self.path.exists() and not self.allow_new:
                self._read_live()  # a lost live file is damage, not an empty store
            if ticket is not None:
                return ticket
        return None

    def read_block(self, block):
        """:returns: {str(serial): ticket} archived in ``block`` ({} when none)."""
        return read_json(self.block_path(block)).get("tickets", {})

    def write_block(self, block, tickets):
        """Atomically replace archive ``block`` with ``tickets`` ({str(serial): ticket}); lock held."""
        self.archive_dir.mkdir(mode=0o700, exist_ok=True)
        atomic_write(self.block_path(block), dump_json({"tickets": tickets}))

    def archived_blocks(self):
        """:returns: the sorted block numbers that have an archive file."""
        try:
            names = os.listdir(self.archive_dir)
        except FileNotFoundError:
            return []
        return sorted(int(n[8:-5]) for n in names if n.startswith("tickets-") and n.endswith(".json"))

    def read_phone_index(self, phone):
        """:returns: [[serial, category, final_at], ...] of archived tickets of ``phone``."""
        if not phone:
            return []
        return read_json(self.phones_path(phone)).get("phones", {}).get(phone, [])

    def read_phone_bucket(self, path):
        return read_json(path).get("phones", {})

    def write_phone_bucket(self, path, phones):
        """Atomically replace one phone-index bucket; lock held."""
        self.archive_dir.mkdir(mode=0o700, exist_ok=True)
        atomic_write(path, dump_json({"phones": phones}))

    def data_files(self):
        """:returns: every database and archive file path that exists."""
        files = [self.path] if self.path.exists() else []
        if self.archive_dir.exists():
            files += sorted(p for p in self.archive_dir.iterdir() if p.suffix == ".json")
        return files
