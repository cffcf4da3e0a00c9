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
