"""Time: stored as UTC ISO 8601, shown in the district's zone; 'now' is always passed in."""

from datetime import date, datetime, time, timedelta, timezone

UTC = timezone.utc
# What a date or a span of days typed on the command line may be: further out, the date
# arithmetic of reports, lists and jobs (a day either side, a year of catch-up) overflows.
FIRST_YEAR, LAST_YEAR = 1900, 2999
MAX_DAYS = 36500  # a hundred years


def utcnow():
    """:returns: the current time as an aware UTC datetime (the one place that reads the clock)."""
    return datetime.now(UTC)


def to_iso(moment):
    """:param moment: an aware datetime. :returns: UTC ISO 8601 text, seconds precision, ``+00:00``."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def from_iso(text):
    """:param text: ISO 8601 with an offset (as stored). :returns: an aware datetime, or None for None."""
    if text is None:
        return None
    return datetime.fromisoformat(text)


def parse_as_of(text, tz):
    """Parse a user-given moment such as ``2026-11-30T08:30`` or ``2026-11-30T03:00+00:00``.

    :param text: ISO 8601; without an offset it is read in the district's zone ``tz``.
    :returns: an aware UTC datetime.
    :raises ValueError: when the text is not ISO 8601.
    """
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    try:
        moment = moment.astimezone(UTC)
        moment + timedelta(days=400), moment - timedelta(days=400)  # jobs look a year either way
    except OverflowError:
        raise ValueError(f"{text} is too far from now") from None
    return moment


def local_iso(text, tz):
    """:param text: a stored UTC ISO time or None. :returns: the same moment in ``tz`` with its offset, or None."""
    if text is None:
        return None
    return datetime.fromisoformat(text).astimezone(tz).isoformat()


def local_text(text, tz, offset=False):
    """:returns: a stored UTC time as ``YYYY-MM-DD HH:MM`` in the district's zone ('' for None);
    with ``offset``, the zone's offset after it (``2026-11-30 11:30 +0530``), as ``jobs.log`` has it."""
    if text is None:
        return ""
    return datetime.fromisoformat(text).astimezone(tz).strftime("%Y-%m-%d %H:%M %z" if offset else "%Y-%m-%d %H:%M")


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def local_day_month(text, tz):
    """:returns: a stored UTC time as ``04 Dec 15:53`` in the district's zone ('' for None): day
    before month, the month in letters, so no reader takes it month-first (texts to officers)."""
    if text is None:
        return ""
    moment = datetime.fromisoformat(text).astimezone(tz)
    return f"{moment.day:02d} {MONTHS[moment.month - 1]} {moment:%H:%M}"


def local_day_bounds(day, tz):
    """:param day: a local calendar ``date``. :returns: (start, end) aware UTC datetimes of that local day.

    The end is the next local midnight, so days with a daylight-saving change have 23 or 25 hours.
    """
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def parse_date(text):
    """:param text: ``YYYY-MM-DD``. :returns: a ``date``. :raises ValueError: otherwise."""
    return date.fromisoformat(text.strip())
