"""Moving final tickets out of the live database.

TinyDB rewrites its whole file on every write, so the live file must stay the size of the
live work, not of a year of history. A ticket that has been ``closed`` or ``rejected`` for
``archive_after_days`` moves to ``archive/tickets-NNNN.json`` (1,000 consecutive serials a file,
so ``show`` finds it from the ID alone) and its phone goes into ``archive/phones-NN.json``
(so ``find`` and the follow-up link of ``log`` need not read every archive).

Order of writes, all under the one store lock: archive blocks, phone buckets, then the live
file. A crash in between leaves a ticket in both places; readers prefer the live copy and the
next run writes the same archive content again, so nothing is lost or doubled.
"""

from datetime import timedelta

from .clock import from_iso
from .tickets import FINAL


def archive_final_tickets(store, config, now):
    """Archive every final ticket whose ``final_at`` is at least ``archive_after_days`` before ``now``.

    :param now: aware UTC. :returns: the number of tickets moved.
    :raises StoreLocked, StoreDamaged: as the store does; on any error the live file is unchanged.
    """
    cutoff = now - timedelta(days=config.archive_after_days)
    with store.transaction() as db:
        table = db.table("tickets")
        due = [t for t in table.all()
               if t["status"] in FINAL and t.get("final_at") and from_iso(t["final_at"]) <= cutoff]
        if not due:
            return 0
        by_block, by_bucket = {}, {}
        for ticket in due:
            by_block.setdefault(store.block_of(ticket["serial"]), []).append(ticket)
            if ticket.get("phone") and not ticket.get("purged_at"):  # a purged number is no number
                by_bucket.setdefault(store.phones_path(ticket["phone"]), []).append(ticket)
        for block, moving in sorted(by_block.items()):
            stored = store.read_block(block)
            for ticket in moving:
                stored[str(ticket["serial"])] = dict(ticket)
            store.write_block(block, stored)
        for path, moving in sorted(by_bucket.items()):
            phones = store.read_phone_bucket(path)
            for ticket in moving:
                rows = phones.setdefault(ticket["phone"], [])
                if all(row[0] != ticket["serial"] for row in rows):
                    rows.append([ticket["serial"], ticket["category"], ticket["final_at"]])
            store.write_phone_bucket(path, phones)
        table.remove(doc_ids=[t.doc_id for t in due])
        return len(due)
