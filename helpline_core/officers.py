"""Officers: nodal officers who resolve tickets, verifiers who cross-check, supervisors."""

import re

from tinydb import Query

from .clock import to_iso
from .errors import InvalidValue
from .phones import parse_phone
from .names import clean_text
from .routing import get_officer

ROLES = ("officer", "verifier", "supervisor")


def _officer_id(text):
    officer_id = str(text or "").strip().lower()
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]{0,31}", officer_id):
        raise InvalidValue(f"officer ID '{text}' must be 1-32 letters, digits, '.', '_' or '-', e.g. rafiq.")
    return officer_id


def _checked(config, *, name=None, phone=None, areas=None, categories=None, role=None, lang=None):
    fields = {}
    if name is not None:
        name = clean_text(name, 60, "the officer's name")
        if not name:
            raise InvalidValue("officer name cannot be empty.")
        fields["name"] = name
    if phone is not None:
        fields["phone"], fields["phone_type"] = parse_phone(phone)
    if areas is not None:
        fields["areas"] = sorted({config.area(a, canonical=True) for a in areas})
    if categories is not None:
        fields["categories"] = sorted({config.category(c) for c in categories})
    if role is not None:
        if role not in ROLES:
            raise InvalidValue(f"role '{role}' is not one of: {', '.join(ROLES)}.")
        fields["role"] = role
    if lang is not None:
        fields["lang"] = config.language(lang)
    return fields


def add_officer(db, config, officer_id, *, name, phone, areas, categories, role="officer", lang="en",
                actor, now):
    """Add an officer. :returns: the officer document.

    :raises InvalidValue: bad ID, phone, role or language, or the ID exists already.
    :raises NotFound: unknown area or category.
    """
    officer_id = _officer_id(officer_id)
    officers = db.table("officers")
    if officers.contains(Query().officer_id == officer_id):
        raise InvalidValue(f"officer {officer_id} exists already; use 'helpline officer edit {officer_id}'.")
    if not areas or not categories:
        raise InvalidValue("an officer needs at least one --area and one --category.")
    officer = {"officer_id": officer_id, "active": True}
    officer.update(_checked(config, name=name, phone=phone, areas=areas, categories=categories, role=role,
                            lang=lang))
    officer["history"] = [{"type": "added", "at": to_iso(now), "actor": actor, "note": None}]
    officers.insert(officer)
    return officers.get(Query().officer_id == officer_id)


def edit_officer(db, config, officer_id, *, actor, now, **changes):
    """Change some of an officer's fields (None leaves a field as it is).

    :returns: the updated officer. :raises InvalidValue: nothing to change or a bad value.
    """
    officer = get_officer(db, officer_id)
    fields = _checked(config, **{k: v for k, v in changes.items() if v is not None})
    diff = {k: [officer.get(k), v] for k, v in fields.items() if officer.get(k) != v}
    if not diff:
        raise InvalidValue(f"nothing to change for officer {officer['officer_id']}.")
    event = {"type": "edited", "at": to_iso(now), "actor": actor, "note": None, "changes": diff}
    fields["history"] = officer["history"] + [event]
    db.table("officers").update(fields, doc_ids=[officer.doc_id])
    return db.table("officers").get(doc_id=officer.doc_id)


def missing_for_duty(officer):
    """What an officer lacks to be given work: an officer needs a phone (their texts), areas and
    categories (routing); a supervisor a phone (escalations, digests); a verifier nothing more.

    :param officer: an officer document (or the dict it would become).
    :returns: a list of what is missing, in words (``["a phone", "areas"]``), empty when complete.
    """
    missing = []
    if officer.get("role") in ("officer", "supervisor") and not officer.get("phone"):
        missing.append("a phone")
    if officer.get("role") == "officer":
        if not officer.get("areas"):
            missing.append("areas")
        if not officer.get("categories"):
            missing.append("categories")
    return missing


def activate_officer(db, config, officer_id, *, actor, now, note=None, **changes):
    """Bring a deactivated officer (a transferred officer, a queue created by an import) back.

    :param changes: fields to set in the same step (``name``, ``phone``, ``areas``, ``categories``,
        ``role``, ``lang``; None leaves one as it is), e.g. the phone an imported queue lacks.
    :returns: the officer, active; one ``activated`` history event holds every change.
    :raises InvalidValue: already active; a bad value; or the officer would still lack a phone,
        areas or categories (``missing_for_duty``): nothing is changed then.
    :raises NotFound: unknown officer, area or category.
    """
    officer = get_officer(db, officer_id)
    if officer["active"]:
        raise InvalidValue(f"officer {officer['officer_id']} is already active.")
    fields = _checked(config, **{k: v for k, v in changes.items() if v is not None})
    missing = missing_for_duty(dict(officer, **fields))
    if missing:
        options = {"a phone": "--phone NUMBER", "areas": "--area AREA", "categories": "--category CATEGORY"}
        lacks = missing[0] if len(missing) == 1 else ", ".join(missing[:-1]) + " and " + missing[-1]
        raise InvalidValue(
            f"officer {officer['officer_id']} lacks {lacks}; give them with the activation: "
            f"helpline officer activate {officer['officer_id']} {' '.join(options[m] for m in missing)}")
    fields["active"] = True
    diff = {k: [officer.get(k), v] for k, v in fields.items() if officer.get(k) != v}
    event = {"type": "activated", "at": to_iso(now), "actor": actor, "note": note, "changes": diff}
    fields["history"] = officer["history"] + [event]
    db.table("officers").update(fields, doc_ids=[officer.doc_id])
    return db.table("officers").get(doc_id=officer.doc_id)


def update_officer(db, config, officer_id, *, actor, now, active=None, note=None, **changes):
    """``officer edit``: change fields and, with ``active``, switch the officer on or off.

    :param active: True activates (``activate_officer``, the changes in the same event), False
        deactivates after the other changes (``deactivate_officer``: their tickets go back to
        open), None leaves it.
    :returns: ``(officer, [ticket IDs returned to open])``.
    :raises InvalidValue: nothing to change, a bad value, or see ``activate_officer``.
    """
    officer = get_officer(db, officer_id)
    given = {k: v for k, v in changes.items() if v is not None}
    if active and not officer["active"]:
        return activate_officer(db, config, officer_id, actor=actor, now=now, note=note, **given), []
    if active is False and officer["active"]:
        if given:
            edit_officer(db, config, officer_id, actor=actor, now=now, **given)
        return deactivate_officer(db, config, officer_id, actor=actor, now=now, reason=note)
    if active is not None and not given:
        state = "active" if active else "deactivated"
        raise InvalidValue(f"officer {officer['officer_id']} is already {state}.")
    return edit_officer(db, config, officer_id, actor=actor, now=now, **given), []


def deactivate_officer(db, config, officer_id, *, actor, now, reason=None):
    """Deactivate an officer; their assigned tickets go back to ``open`` for reassignment.

    :returns: ``(officer, [ticket ids returned to open])``.
    :raises InvalidValue: the officer is already deactivated.
    """
    from . import tickets as ticket_rules

    officer = get_officer(db, officer_id)
    if not officer["active"]:
        raise InvalidValue(f"officer {officer['officer_id']} is already deactivated.")
    event = {"type": "deactivated", "at": to_iso(now), "actor": actor, "note": reason,
             "changes": {"active": [True, False]}}
    db.table("officers").update({"active": False, "history": officer["history"] + [event]},
                                doc_ids=[officer.doc_id])
    returned = []
    for ticket in db.table("tickets").search((Query().officer == officer["officer_id"]) &
                                             (Query().status == ticket_rules.ASSIGNED)):
        ticket_rules.unassign(db, config, ticket["id"], actor=actor, now=now,
                              note=f"officer {officer['officer_id']} deactivated")
        returned.append(ticket["id"])
    return db.table("officers").get(doc_id=officer.doc_id), returned


def list_officers(db, include_inactive=True):
    """:returns: officer documents sorted by ID."""
    return sorted((o for o in db.table("officers").all() if include_inactive or o["active"]),
                  key=lambda o: o["officer_id"])
