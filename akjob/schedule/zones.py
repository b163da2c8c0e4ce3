"""Instants as whole seconds, and wall clocks read in a time zone.

The engine counts in integers: an instant is POSIX seconds (UTC), a wall-clock reading is the same
count shifted by the zone's offset ("local seconds"), and a calendar day is a proleptic Gregorian
ordinal (``date.toordinal()``). Integer arithmetic keeps the search exact and fast.

This module is where SPEC S3's daylight saving time rule for fixed wall-clock times lives:

* a wall-clock time skipped by a spring-forward maps to the first instant after the gap, that is
  the transition itself (02:30 on 2027-03-14 in America/Denver → 03:00 MDT = 09:00 UTC);
* a wall-clock time that happens twice maps to its first occurrence, ``fold=0``
  (01:30 on 2027-11-07 in America/Denver → 01:30 MDT = 07:30 UTC, not 01:30 MST).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo

SECOND = timedelta(seconds=1)
DAY = 86400
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_DAY = date(1970, 1, 1).toordinal()
#: The last instant the engine reports: late enough for anyone, early enough that local times
#: and zone offsets stay inside ``datetime``'s range.
MAX_INSTANT = (datetime(9998, 12, 31, tzinfo=UTC) - EPOCH) // SECOND
MIN_INSTANT = (datetime(2, 1, 1, tzinfo=UTC) - EPOCH) // SECOND
#: Zone changes are looked for at this spacing; two changes closer than this that return to the
#: same offset would go unseen (tzdata has none since the 1940s).
PROBE = 7 * DAY


def floor_seconds(value: datetime) -> int:
    """The whole second at or before an aware datetime."""
    return (value - EPOCH) // SECOND


def ceil_seconds(value: datetime) -> int:
    """The whole second at or after an aware datetime."""
    return -((EPOCH - value) // SECOND)


def to_datetime(instant: int) -> datetime:
    """An instant as an aware UTC datetime."""
    return EPOCH + timedelta(seconds=instant)


def day_of(local: int) -> int:
    """The calendar day (ordinal) of a local-seconds reading."""
    return local // DAY + EPOCH_DAY


def local_at(day: int, seconds: int) -> int:
    """Local seconds of ``seconds`` past midnight on calendar day ``day``."""
    return (day - EPOCH_DAY) * DAY + seconds


def seconds_of(value: time) -> int:
    """Seconds past midnight of a ``time`` (microseconds dropped)."""
    return value.hour * 3600 + value.minute * 60 + value.second


class Zone:
    """A ``tzinfo`` answering in integer seconds.

    ``fixed`` is the offset of a fixed-offset zone (``datetime.timezone``), else None.
    """

    __slots__ = ("tz", "fixed", "wall_epoch")

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        # Adding a timedelta to an aware datetime moves its wall clock: wall_epoch + local
        # seconds is that reading in this zone (fold=0).
        self.wall_epoch = EPOCH.replace(tzinfo=tz)
        self.fixed: int | None = None
        if isinstance(tz, timezone):
            self.fixed = tz.utcoffset(None) // SECOND

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Zone) and self.tz == other.tz

    def __hash__(self) -> int:
        return hash(self.tz)

    def offset(self, instant: int) -> int:
        """The zone's UTC offset at ``instant``, in seconds."""
        if self.fixed is not None:
            return self.fixed
        return datetime.fromtimestamp(instant, self.tz).utcoffset() // SECOND

    def local(self, instant: int) -> int:
        """The wall-clock reading at ``instant``, as local seconds."""
        return instant + self.offset(instant)

    def instant(self, local: int) -> int:
        """The instant of a wall-clock reading, by the DST rule of this module's docstring."""
        if self.fixed is not None:
            return local - self.fixed
        reading = self.wall_epoch + timedelta(seconds=local)
        first = reading.utcoffset() // SECOND
        instant = local - first
        if self.offset(instant) == first:
            return instant
        # Skipped: find the first instant whose reading is past ``local`` (the transition).
        second = reading.replace(fold=1).utcoffset() // SECOND
        lo = local - max(first, second) - 1
        hi = local - min(first, second)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self.local(mid) >= local:
                hi = mid
            else:
                lo = mid
        return hi

    def next_change(self, instant: int, until: int) -> int | None:
        """The first instant in (instant, until] whose offset differs from ``instant``'s."""
        if self.fixed is not None or until <= instant:
            return None
        offset = self.offset(instant)
        lo = instant
        while lo < until:
            hi = min(lo + PROBE, until)
            if self.offset(hi) != offset:
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    if self.offset(mid) == offset:
                        lo = mid
                    else:
                        hi = mid
                return hi
            lo = hi
        return None

    def name(self) -> str:
        """A short human name: the IANA key, ``UTC`` or ``UTC−07:00``."""
        key = getattr(self.tz, "key", None)
        if key:
            return str(key)
        if self.fixed is None:
            return str(self.tz)
        if self.fixed == 0:
            return "UTC"
        sign = "+" if self.fixed > 0 else "\u2212"
        hours, rest = divmod(abs(self.fixed), 3600)
        minutes, seconds = divmod(rest, 60)
        text = f"UTC{sign}{hours:02d}:{minutes:02d}"
        return f"{text}:{seconds:02d}" if seconds else text
