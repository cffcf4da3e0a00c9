"""What a sensitive ticket keeps to itself.

Counselling callers speak of drugs, loneliness and fear; their words go to the officer and the
verifier who need them and nowhere else. A category is sensitive when config.toml says
``sensitive = true`` for it (counselling is, unless it says ``false``: see
``Config.is_sensitive``). For a ticket of a sensitive category, its *private fields* are:

* ``caller_name`` and ``description``;
* every history event's ``note`` (the resolution note, follow-up calls' words, reopen and
  verify notes, notes added by hand).

They appear in ``helpline show`` (the operator, on the phone with the caller), in the officer's
own assignment text (the caller's name; the description only with
``[sms] sensitive_details_to_officer = true``) and in the full JSON dump, which is marked as
holding personal data. Every other output (``list`` and ``find`` without ``--show-sensitive``,
the CSV and Open311 exports, reports, digests, the verification list) takes the ticket through
``shareable`` first. The phone number is not a private field here: the verifier calls it back.

``strip_words`` is the same removal, used by ``retention`` when a ticket's time is up.
"""

PRIVATE_FIELDS = ("caller_name", "description")
PERSONAL_DATA_NOTICE = ("This file holds personal data: callers' phone numbers, names and words, counselling "
                        "included. Keep it like the data directory (mode 0600, never shared) and delete it "
                        "when it is no longer needed.")


def strip_words(ticket):
    """:param ticket: a stored ticket (not changed).

    :returns: a copy without its private fields: ``caller_name`` and ``description`` None, and
        each history event's ``note`` None (the events themselves, their times, actors and
        changes stay, so figures and the lifecycle can still be read from it).
    """
    copy = dict(ticket)
    for name in PRIVATE_FIELDS:
        if name in copy:
            copy[name] = None
    copy["history"] = [dict(event, note=None) for event in ticket.get("history", ())]
    return copy


def shareable(config, ticket):
    """:param config: the district ``Config``. :param ticket: a stored ticket (not changed).

    :returns: the ticket as an output other than ``show`` may carry it: unchanged for an
        ordinary category, ``strip_words(ticket)`` for a sensitive one.
    """
    if config.is_sensitive(ticket.get("category")):
        return strip_words(ticket)
    return ticket


def description_for_officer(config, ticket):
    """:returns: the caller's description as the officer's assignment text may quote it: the
    ticket's own for an ordinary category; for a sensitive one only when config.toml says
    ``[sms] sensitive_details_to_officer = true`` (else None)."""
    if config.is_sensitive(ticket.get("category")) and \
            config.raw.get("sms", {}).get("sensitive_details_to_officer") is not True:
        return None
    return ticket.get("description")
