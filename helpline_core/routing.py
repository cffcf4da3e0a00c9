"""Routing: which nodal officer gets a ticket."""

from tinydb import Query

from .errors import NotFound


def get_officer(db, officer_id):
    """:returns: the officer document. :raises NotFound: with a suggestion for a near miss."""
    from .names import match_name

    officers = db.table("officers")
    found = officers.get(Query().officer_id == str(officer_id).strip().lower())
    if found:
        return found
    lookup = {o["officer_id"]: o["officer_id"] for o in officers.all()}
    match_name(officer_id, lookup, "officer", "helpline officer list")  # raises with "did you mean"
    raise NotFound(f"unknown officer '{officer_id}'.")


def open_counts(db):
    """:returns: {officer id: number of tickets assigned to them and not yet resolved}."""
    from .store import live_rows

    counts = {}
    for _, (_, _, status, officer) in live_rows(db):
        if status == "assigned" and officer:
            counts[officer] = counts.get(officer, 0) + 1
    return counts


def pick_officer(db, area, category, exclude=None):
    """Choose the officer for a ticket in ``area`` and ``category``.

    Among active officers with role ``officer`` whose areas and categories include these, the
    one with the fewest open tickets; ties go to the smallest officer ID, so the choice is
    deterministic.

    :param exclude: an officer ID not to choose (the current one, when rerouting).
    :returns: the officer document, or None when nobody covers them.
    """
    candidates = [
        o for o in db.table("officers").all()
        if o["active"] and o["role"] == "officer" and area in o["areas"] and category in o["categories"]
        and o["officer_id"] != exclude
    ]
    if not candidates:
        return None
    counts = open_counts(db)
    return min(candidates, key=lambda o: (counts.get(o["officer_id"], 0), o["officer_id"]))
