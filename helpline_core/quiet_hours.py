"""Quiet hours: no texts between ``start`` and ``end`` local time (default 21:00-08:00).

Twilio and the carriers will deliver a 3 a.m. text, so keeping quiet hours is ours to do; the
window may cross midnight and is always read in the district's zone, whatever the server's.
"""

from datetime import datetime, time, timedelta


def _parse(hhmm):
    hours, minutes = str(hhmm).split(":")
    return time(int(hours), int(minutes))


def quiet_until(now, tz, start="21:00", end="08:00"):
    """:param now: aware UTC. :param tz: the district's zone. :param start, end: ``HH:MM`` local.

    :returns: the aware UTC moment the current quiet period ends, or None when ``now`` is not in
        quiet hours (start == end means no quiet hours).
    """
    start_t, end_t = _parse(start), _parse(end)
    if start_t == end_t:
        return None
    local = now.astimezone(tz)
    clock = local.time().replace(tzinfo=None)
    if start_t < end_t:
        inside = start_t <= clock < end_t
        end_day = local.date()
    else:  # crosses midnight
        inside = clock >= start_t or clock < end_t
        end_day = local.date() + timedelta(days=1) if clock >= start_t else local.date()
    if not inside:
        return None
    return datetime.combine(end_day, end_t, tzinfo=tz).astimezone(now.tzinfo)


def minutes_outside_quiet(start, end, tz, quiet_start="21:00", quiet_end="08:00"):
    """:param start, end: aware UTC. :returns: the minutes between ``start`` and ``end`` that are
    not in quiet hours (a text held overnight has not been waiting for anybody)."""
    start_t = _parse(quiet_start)
    total, moment = 0.0, start
    while moment < end:
        quiet_end_at = quiet_until(moment, tz, quiet_start, quiet_end)
        if quiet_end_at:
            moment = quiet_end_at
            continue
        local = moment.astimezone(tz)
        next_quiet = datetime.combine(local.date(), start_t, tzinfo=tz)
        if next_quiet <= local:
            next_quiet = datetime.combine(local.date() + timedelta(days=1), start_t, tzinfo=tz)
        stop = min(end, next_quiet.astimezone(moment.tzinfo))
        if _parse(quiet_start) == _parse(quiet_end):
            stop = end  # no quiet hours at all
        total += (stop - moment).total_seconds() / 60
        moment = stop
    return total
