"""The store: atomic writes, modes, damaged files, archives."""

import json
import os
import stat
from datetime import timedelta

import pytest

from conftest import NOW
from helpline_core import tickets
from helpline_core.archive import archive_final_tickets
from helpline_core.errors import StoreDamaged, StoreLocked
from helpline_core.store import Store, atomic_write


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_files_are_private_and_text_is_readable(district):
    config, store = district
    with store.transaction() as db:
        tickets.log_call(db, config, store, phone="9876543210", area="Khanyar", category="ration",
                         description="दवा चाहिए", actor="op", now=NOW)
    assert mode(store.data_dir) == 0o700
    assert mode(store.path) == 0o600 and mode(store.data_dir / "config.toml") == 0o600
    text = store.path.read_text(encoding="utf-8")
    assert "दवा चाहिए" in text and "\\u" not in text


def test_missing_or_empty_file_is_a_new_database(tmp_path):
    store = Store(tmp_path / "d")
    assert store.snapshot().table("tickets").all() == []
    store.ensure_dir()
    store.path.write_bytes(b"")
    assert store.snapshot().tables() == set()


@pytest.mark.parametrize("damage", [b"{not json", b'{"tickets": {"1000": {"id": "SXR-10003"}}', b'{"tickets": {}} junk',
                                    b"[1, 2]", b'{"tickets": 5}', b"\xff\xfe"])
def test_damaged_file_stops_everything_and_is_left_as_it_was(district, damage):
    config, store = district
    store.path.write_bytes(damage)
    with pytest.raises(StoreDamaged, match="helpline.json is damaged"):
        store.snapshot()
    with pytest.raises(StoreDamaged):
        with store.transaction() as db:
            tickets.log_call(db, config, store, phone="9876543210", area="Khanyar", category="ration", actor="op", now=NOW)
    assert store.path.read_bytes() == damage


def test_failed_transaction_writes_nothing(district):
    config, store = district
    before = store.path.read_bytes()
    with pytest.raises(RuntimeError):
        with store.transaction() as db:
            tickets.log_call(db, config, store, phone="9876543210", area="Khanyar", category="ration", actor="op", now=NOW)
            raise RuntimeError("power cut")
    assert store.path.read_bytes() == before


def test_atomic_write_leaves_no_temporary_and_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "f.json"
    atomic_write(target, b"old")

    with pytest.raises(TypeError):
        atomic_write(target, 12345)  # not bytes: fails while writing the temporary file
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_lock_times_out_with_store_locked(tmp_path):
    store = Store(tmp_path / "d", lock_timeout_seconds=0.05)
    other = Store(tmp_path / "d", lock_timeout_seconds=0.05)
    with store.lock():
        with pytest.raises(StoreLocked, match="busy"):
            with other.lock():
                pass
    with other.lock():
        pass


def _closed_ticket(store, config, phone, now):
    with store.transaction() as db:
        ticket, _ = tickets.log_call(db, config, store, phone=phone, area="Khanyar", category="ration", actor="op", now=now)
        tickets.resolve(db, config, ticket["id"], note="done", actor="op", now=now)
        return tickets.verify(db, config, ticket["id"], confirmed=True, actor="nusrat", now=now)


def test_archive_moves_final_tickets_and_they_stay_visible(district):
    config, store = district
    old = _closed_ticket(store, config, "9876500001", NOW - timedelta(days=3))
    recent = _closed_ticket(store, config, "9876500002", NOW)
    with store.transaction() as db:
        live, _ = tickets.log_call(db, config, store, phone="9876500003", area="Khanyar", category="ration", actor="op", now=NOW)
    assert archive_final_tickets(store, config, NOW) == 1
    assert archive_final_tickets(store, config, NOW) == 0  # idempotent
    db = store.snapshot()
    assert {t["id"] for t in db.table("tickets").all()} == {recent["id"], live["id"]}
    assert json.loads(store.block_path(1).read_text())["tickets"]["1000"]["id"] == old["id"]
    assert mode(store.block_path(1)) == 0o600
    assert tickets.find_ticket(db, store, config, old["id"])["status"] == "closed"
    assert [t["id"] for t in tickets.tickets_of_phone(db, store, "+919876500001")] == [old["id"]]
    closed = tickets.select(db, store, config, NOW, statuses=["closed"])
    assert [t["id"] for t in closed] == [recent["id"], old["id"]]
    # a new call from the archived caller opens a new ticket linked to the archived one
    with store.transaction() as db:
        again, followup = tickets.log_call(db, config, store, phone="9876500001", area="Khanyar", category="ration",
                                           actor="op", now=NOW)
    assert not followup and again["follows"] == old["id"]


def test_archive_interrupted_before_live_write_loses_and_doubles_nothing(district, monkeypatch):
    config, store = district
    old = _closed_ticket(store, config, "9876500001", NOW - timedelta(days=3))
    before = store.path.read_bytes()

    def power_cut(*args, **kwargs):
        raise OSError("power cut")

    monkeypatch.setattr(store, "write_phone_bucket", power_cut)
    with pytest.raises(OSError):
        archive_final_tickets(store, config, NOW)
    assert store.path.read_bytes() == before  # the block was written, the live file not yet
    db = store.snapshot()
    assert [t["id"] for t in tickets.select(db, store, config, NOW, statuses=["closed"])] == [old["id"]]
    monkeypatch.undo()
    assert archive_final_tickets(store, config, NOW) == 1
    db = store.snapshot()
    assert [t["id"] for t in tickets.select(db, store, config, NOW, statuses=["closed"])] == [old["id"]]
    assert db.table("tickets").all() == []


def test_one_document_a_line_and_reading_one_without_the_rest(district):
    from helpline_core.store import dump_json, read_document, read_json

    config, store = district
    for n in range(3):
        with store.transaction() as db:
            tickets.log_call(db, config, store, phone=f"98765000{n:02d}", area="Khanyar", category="ration",
                             description="दवा\nचाहिए \"}", actor="op", now=NOW)
    lines = store.path.read_bytes().split(b"\n")
    assert lines[0].endswith(b'"meta":{') and b'"tickets":{' in store.path.read_bytes()
    assert read_document(store.path, "tickets", 1001) == (True, read_json(store.path)["tickets"]["1001"])
    assert read_document(store.path, "tickets", 1) == (True, None)
    assert read_document(store.path, "outbox", 1)[1]["template"] == "logged"
    assert store.find_ticket_document(1002)["description"] == "दवा चाहिए \"}"
    good = store.path.read_bytes()
    store.path.write_bytes(good[:-2])  # cut short: a one-line read gives up, the full parse says why
    assert read_document(store.path, "tickets", 1001) == (False, None)
    with pytest.raises(StoreDamaged):
        store.find_ticket_document(1001)
    store.path.write_bytes(good.replace(b'"serial":1000', b'"serial":1000,', 1))  # another line damaged
    with pytest.raises(StoreDamaged):
        store.find_ticket_document(1001)
    store.path.write_bytes(b'{"tickets":{"1001":{"id":"x"}}}')  # another writer's layout: parse it all
    assert read_document(store.path, "tickets", 1001) == (False, None)
    assert store.find_ticket_document(1001) == {"id": "x"}


def _replay(store, config, transaction):
    """The same operations, each in its own transaction of the given kind."""
    steps = [
        lambda db: tickets.log_call(db, config, store, phone="9876500001", area="Khanyar", category="ration",
                                    actor="op", now=NOW),
        lambda db: tickets.log_call(db, config, store, phone="9876500002", area="Khanyar", category="ration",
                                    actor="op", now=NOW),
        lambda db: tickets.log_call(db, config, store, phone="9876500001", area="Khanyar", category="ration",
                                    actor="op", now=NOW, description="again"),  # a follow-up, found by the index
        lambda db: tickets.log_call(db, config, store, phone="9876500003", area="Zadibal", category="ration",
                                    actor="op", now=NOW),
        lambda db: tickets.resolve(db, config, "SXR-10003", note="done", actor="op", now=NOW),
        lambda db: tickets.verify(db, config, "SXR-10003", confirmed=True, actor="nusrat", now=NOW),
        lambda db: tickets.assign(db, config, "SXR-10026", "tariq", actor="op", now=NOW),
        lambda db: tickets.reject(db, config, store, "SXR-10019", reason="dup", duplicate_of="SXR-10003",
                                  actor="op", now=NOW),
        lambda db: tickets.add_note(db, config, "SXR-10026", "called back", actor="op", now=NOW),
        lambda db: tickets.log_call(db, config, store, phone="9876500004", area="Khanyar", category="ration",
                                    actor="op", now=NOW),  # routed by the index's counts
    ]
    for step in steps:
        with getattr(store, transaction)() as db:
            step(db)


def test_one_ticket_transactions_write_what_full_ones_write(tmp_path):
    from conftest import ROSTER
    from helpline_core.district import init_district
    from helpline_core.officers import add_officer
    from helpline_core.store import _live_bytes, _with_index, read_json

    files = {}
    for kind in ("transaction", "ticket_transaction"):
        config = init_district(tmp_path / kind, code="SXR", name="Srinagar")
        store = Store(tmp_path / kind)
        with store.transaction() as db:
            for officer_id, name, phone, areas, categories, role, lang in ROSTER:
                add_officer(db, config, officer_id, name=name, phone=phone, areas=areas, categories=categories,
                            role=role, lang=lang, actor="setup", now=NOW)
        _replay(store, config, kind)
        files[kind] = store.path.read_bytes()
        data = read_json(store.path)
        assert _live_bytes(_with_index(dict(data))) == files[kind]  # the index is exactly the tickets'
    assert files["transaction"] == files["ticket_transaction"]
    data = read_json(store.path)
    assert data["tickets"]["1000"]["calls"] == 2 and data["tickets"]["1003"]["officer"] == "meena"  # meena's first is closed


def test_splice_replaces_appends_and_removes_lines():
    from helpline_core.store import _PartialTickets

    body = b'"1":{"a":1},\n"2":{"a":2},\n"3":{"a":3}'
    for loaded, tickets, expected in [
        ({"2"}, {"2": {"a": 20}}, b'"1":{"a":1},\n"2":{"a":20},\n"3":{"a":3}'),
        (set(), {"4": {"a": 4}}, body + b',\n"4":{"a":4}'),
        ({"1", "3"}, {"1": {"a": 10}, "3": {"a": 30}, "5": {}}, b'"1":{"a":10},\n"2":{"a":2},\n"3":{"a":30},\n"5":{}'),
        ({"2", "3"}, {}, b'"1":{"a":1}'),
        ({"1"}, {}, b'"2":{"a":2},\n"3":{"a":3}'),
        ({"9"}, {"9": {}}, body + b',\n"9":{}'),
    ]:
        partial = _PartialTickets(body, {"tickets": {}})
        partial.loaded = set(loaded)
        assert partial.splice(tickets) == expected
    assert _PartialTickets(b"", {}).splice({"1": {}}) == b'"1":{}'


def test_a_hand_edited_index_is_not_trusted_and_gets_rebuilt(district):
    from helpline_core.store import _with_index, _live_bytes, read_json

    config, store = district
    with store.transaction() as db:
        first, _ = tickets.log_call(db, config, store, phone="9876500001", area="Khanyar", category="ration",
                                    actor="op", now=NOW)
    text = store.path.read_bytes().replace(b'["+919876500001","ration"', b'["+919999999999","ration"')
    store.path.write_bytes(text)  # a stale index row (a hand edit, an old release): the check sum no longer holds
    with store.ticket_transaction() as db:
        again, followup = tickets.log_call(db, config, store, phone="9876500001", area="Khanyar", category="ration",
                                           actor="op", now=NOW)
    assert followup and again["id"] == first["id"]
    data = read_json(store.path)
    assert _live_bytes(_with_index(dict(data))) == store.path.read_bytes()


def test_reject_as_duplicate_of_an_archived_ticket_in_a_one_ticket_write(district):
    config, store = district
    old = _closed_ticket(store, config, "9876500001", NOW - timedelta(days=3))
    archive_final_tickets(store, config, NOW)
    with store.ticket_transaction() as db:
        new, _ = tickets.log_call(db, config, store, phone="9876500001", area="Khanyar", category="ration",
                                  actor="op", now=NOW)
    with store.ticket_transaction() as db:
        rejected = tickets.reject(db, config, store, new["id"], reason="dup", duplicate_of=old["id"], actor="op",
                                  now=NOW)
    assert rejected["duplicate_of"] == old["id"]
    assert store.find_ticket_document(new["serial"])["status"] == "rejected"
