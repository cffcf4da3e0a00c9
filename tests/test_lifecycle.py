"""The ticket lifecycle, routing and follow-ups, through the core functions."""

from datetime import timedelta

import pytest

from conftest import NOW
from helpline_core import officers, tickets
from helpline_core.errors import InvalidValue, NotFound, TransitionError


def log(store, config, now=NOW, **fields):
    args = dict(phone="9876543210", area="Khanyar", category="ration", actor="op")
    args.update(fields)
    with store.transaction() as db:
        return tickets.log_call(db, config, store, now=now, **args)


def act(store, fn, *args, **kwargs):
    with store.transaction() as db:
        return fn(db, *args, **kwargs)


def test_log_opens_a_ticket_with_id_due_time_and_routing(district):
    config, store = district
    ticket, followup = log(store, config, caller_name="Ghulam Nabi", language="ur", description="راشن")
    assert not followup
    assert ticket["id"] == "SXR-10003" and ticket["serial"] == 1000
    assert ticket["phone"] == "+919876543210" and ticket["phone_type"] == "mobile"
    assert ticket["status"] == "assigned"
    # meena and rafiq both cover Khanyar/ration with 0 open tickets: the smaller ID wins
    assert ticket["officer"] == "meena"
    assert ticket["due_at"] == (NOW + timedelta(hours=48)).isoformat()
    assert [e["type"] for e in ticket["history"]] == ["opened", "assign"]
    assert ticket["history"][1]["changes"] == {"status": ["open", "assigned"], "officer": [None, "meena"]}


def test_routing_balances_by_open_tickets(district):
    config, store = district
    officers_seen = [log(store, config, phone=f"98765000{n:02d}")[0]["officer"] for n in range(4)]
    assert officers_seen == ["meena", "rafiq", "meena", "rafiq"]


def test_no_matching_officer_leaves_ticket_open(district):
    config, store = district
    ticket, _ = log(store, config, area="Zadibal")
    assert ticket["status"] == "open" and ticket["officer"] is None


def test_same_phone_and_category_is_a_followup_unless_new(district):
    config, store = district
    first, _ = log(store, config)
    again, followup = log(store, config, phone="+91 98765 43210", now=NOW + timedelta(hours=2), description="still waiting")
    assert followup and again["id"] == first["id"] and again["calls"] == 2
    assert again["history"][-1]["type"] == "call" and again["history"][-1]["note"] == "still waiting"
    other_category, followup = log(store, config, category="medicine")
    assert not followup and other_category["id"] != first["id"]
    forced, followup = log(store, config, force_new=True)
    assert not followup and forced["id"] not in (first["id"], other_category["id"])


def test_full_lifecycle_resolve_verify_close(district):
    config, store = district
    ticket, _ = log(store, config)
    t = act(store, tickets.resolve, config, ticket["id"], note="kit delivered", actor="op", now=NOW)
    assert t["status"] == "resolved" and t["resolved_by"] == "meena" and t["resolved_at"] == NOW.isoformat()
    with pytest.raises(TransitionError, match="resolved by meena"):
        act(store, tickets.verify, config, ticket["id"], confirmed=True, actor="Meena Kumari", now=NOW)
    t = act(store, tickets.verify, config, ticket["id"], confirmed=True, actor="nusrat", now=NOW)
    assert t["status"] == "closed" and t["closed_at"] == NOW.isoformat() and t["final_at"] == NOW.isoformat()
    for fn, kwargs in [(tickets.resolve, {"note": "x"}), (tickets.reopen, {"note": "x"}),
                       (tickets.assign, {}), (tickets.unassign, {})]:
        with pytest.raises(TransitionError, match="is closed"):
            act(store, fn, config, ticket["id"], actor="op", now=NOW, **kwargs)


def test_not_solved_reopens_to_same_officer_and_restarts_sla(district):
    config, store = district
    ticket, _ = log(store, config)
    act(store, tickets.resolve, config, ticket["id"], note="done", actor="op", now=NOW)
    later = NOW + timedelta(hours=30)
    t = act(store, tickets.verify, config, ticket["id"], confirmed=False, actor="nusrat", now=later)
    assert t["status"] == "assigned" and t["officer"] == "meena" and t["resolved_at"] is None
    assert t["due_at"] == (later + timedelta(hours=48)).isoformat()


def test_reopen_needs_a_note_and_a_resolved_ticket(district):
    config, store = district
    ticket, _ = log(store, config)
    with pytest.raises(TransitionError, match="is assigned; cannot reopen it. Allowed now: assign, unassign, resolve, reject, note"):
        act(store, tickets.reopen, config, ticket["id"], note="x", actor="op", now=NOW)
    act(store, tickets.resolve, config, ticket["id"], note="done", actor="op", now=NOW)
    with pytest.raises(InvalidValue, match="note"):
        act(store, tickets.reopen, config, ticket["id"], note="  ", actor="op", now=NOW)
    t = act(store, tickets.reopen, config, ticket["id"], note="caller called back", actor="op", now=NOW)
    assert t["status"] == "assigned"


def test_resolve_requires_note_and_assignment(district):
    config, store = district
    ticket, _ = log(store, config, area="Zadibal")
    with pytest.raises(TransitionError, match="is open; cannot resolve"):
        act(store, tickets.resolve, config, ticket["id"], note="x", actor="op", now=NOW)
    ticket, _ = log(store, config, phone="9876500001")
    with pytest.raises(InvalidValue, match="resolution note"):
        act(store, tickets.resolve, config, ticket["id"], note="", actor="op", now=NOW)


def test_assign_unassign_and_reassign(district):
    config, store = district
    ticket, _ = log(store, config, area="Zadibal")
    with pytest.raises(NotFound, match="no active officer covers Zadibal"):
        act(store, tickets.assign, config, ticket["id"], actor="op", now=NOW)
    t = act(store, tickets.assign, config, ticket["id"], "Tariq", actor="op", now=NOW)
    assert t["officer"] == "tariq"
    with pytest.raises(TransitionError, match="already assigned to tariq"):
        act(store, tickets.assign, config, ticket["id"], "tariq", actor="op", now=NOW)
    with pytest.raises(NotFound, match="did you mean 'tariq'"):
        act(store, tickets.assign, config, ticket["id"], "tarik", actor="op", now=NOW)
    t = act(store, tickets.unassign, config, ticket["id"], actor="op", now=NOW)
    assert t["status"] == "open" and t["officer"] is None
    with pytest.raises(TransitionError, match="is open; cannot unassign"):
        act(store, tickets.unassign, config, ticket["id"], actor="op", now=NOW)


def test_reject_with_duplicate(district):
    config, store = district
    first, _ = log(store, config)
    second, _ = log(store, config, phone="9876500002")
    with pytest.raises(InvalidValue, match="reason"):
        act(store, tickets.reject, config, store, second["id"], reason="", actor="op", now=NOW)
    with pytest.raises(InvalidValue, match="duplicate of itself"):
        act(store, tickets.reject, config, store, second["id"], reason="dup", duplicate_of=second["id"], actor="op", now=NOW)
    t = act(store, tickets.reject, config, store, second["id"], reason="duplicate", duplicate_of=first["id"],
            actor="op", now=NOW)
    assert t["status"] == "rejected" and t["duplicate_of"] == first["id"] and t["final_at"] == NOW.isoformat()
    with pytest.raises(TransitionError, match="is rejected"):
        act(store, tickets.reject, config, store, second["id"], reason="again", actor="op", now=NOW)
    # a rejected ticket is final: the same caller calling again opens a new ticket linked to it
    third, followup = log(store, config, phone="9876500002")
    assert not followup and third["follows"] == second["id"]


def test_deactivating_an_officer_returns_their_tickets_to_open(district):
    config, store = district
    mine = [log(store, config, phone=f"98765000{n:02d}")[0] for n in range(4)]
    meena_tickets = sorted(t["id"] for t in mine if t["officer"] == "meena")
    officer, returned = act(store, officers.deactivate_officer, config, "meena", actor="op", now=NOW, reason="transfer")
    assert not officer["active"] and sorted(returned) == meena_tickets
    with store.transaction() as db:
        for ticket_id in meena_tickets:
            t = tickets.get_live(db, config, ticket_id)
            assert t["status"] == "open" and t["officer"] is None
            assert t["history"][-1]["note"] == "officer meena deactivated"
        assert tickets.log_call(db, config, store, phone="9876500099", area="Khanyar", category="ration",
                                actor="op", now=NOW)[0]["officer"] == "rafiq"


def test_overdue_after_sla(district):
    config, store = district
    ticket, _ = log(store, config, category="medicine")  # SLA 24 h
    assert not tickets.is_overdue(ticket, NOW + timedelta(hours=23, minutes=59))
    assert tickets.is_overdue(ticket, NOW + timedelta(hours=24, seconds=1))


def test_unknown_area_and_category_suggest(district):
    config, store = district
    with pytest.raises(NotFound, match="did you mean 'Khanyar'"):
        log(store, config, area="Khaniyar")
    with pytest.raises(NotFound, match="did you mean 'medicine'"):
        log(store, config, category="medecine")
    assert log(store, config, area="panthachowk")[0]["area"] == "Pantha Chowk"  # an alternative name


def test_serials_only_go_up(district):
    config, store = district
    ids = [log(store, config, phone=f"98765000{n:02d}")[0]["serial"] for n in range(3)]
    assert ids == [1000, 1001, 1002]
