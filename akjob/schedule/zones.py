"""Instants as whole seconds, and wall clocks read in a time zone.

The engine counts in integers: an instant is POSIX seconds (UTC), a wall-clock reading is the same
count shifted by the zone's offset ("local seconds"), and a calendar day is a proleptic Gregorian
ordinal (``date.toordinal()``). Integer arithmetic keeps the search exact and fast.

This module is where docs/schedule.md's daylight saving time rule for fixed wall-clock times lives:

* a wall-clock time skipped by a spring-forward maps to the first instant after the gap, that is
  the transition itself (02:30 on 2027-03-14 in America/Denver → 03:00 MDT = 09:00 UTC);
* a wall-clock time that happens twice maps to its first occurrence, ``fold=0``
  (01:30 on 2027-11-07 in America/Denver → 01:30 MDT = 07:30 UTC, not 01:30 MST).
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

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


#: The offset changes of a zone are worked out per block of this many seconds (about 48 days)
#: and kept; a zone keeps at most MAX_BLOCKS of them.
BLOCK_BITS = 22
MAX_BLOCKS = 4096


class Timeline:
    """One zone's offsets by the instant, from a table of its changes built block by block.

    ``datetime.fromtimestamp`` answers one offset in about a microsecond; the table answers in a
    ``bisect``. A block lists the changes c with start <= c < end and the offsets in effect
    before, between and after them (the first is the one just before the block).
    """

    __slots__ = ("tz", "blocks")

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self.blocks: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {}

    def slow_offset(self, instant: int) -> int:
        return datetime.fromtimestamp(instant, self.tz).utcoffset() // SECOND

    def block(self, number: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        found = self.blocks.get(number)
        if found is None:
            if len(self.blocks) >= MAX_BLOCKS:
                self.blocks.clear()
            found = self.blocks[number] = self._build(number)
        return found

    def _build(self, number: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        start = number << BLOCK_BITS
        end = start + (1 << BLOCK_BITS)
        low = start - 1
        offset = self.slow_offset(low)
        changes, offsets = [], [offset]
        while low < end - 1:
            high = min(low + PROBE, end - 1)
            if self.slow_offset(high) == offset:
                low = high
                continue
            while high - low > 1:  # the first instant in (low, high] on another offset
                middle = (low + high) // 2
                if self.slow_offset(middle) == offset:
                    low = middle
                else:
                    high = middle
            offset = self.slow_offset(high)
            changes.append(high)
            offsets.append(offset)
            low = high
        return tuple(changes), tuple(offsets)

    def offset(self, instant: int) -> int:
        changes, offsets = self.block(instant >> BLOCK_BITS)
        return offsets[bisect_right(changes, instant)] if changes else offsets[0]

    def instant(self, local: int) -> int:
        """The instant of a wall-clock reading: its first pass, or the end of its gap.

        Offsets stay within a day of UTC, so every instant whose reading can be ``local`` lies
        within a day of it; the offsets in effect there are the candidates.
        """
        low = local - DAY
        offset = self.offset(low)
        found = None
        while True:
            instant = local - offset
            if found is None and self.offset(instant) == offset:
                found = instant  # the earliest: offsets come in time order, and so do passes
            change = self.next_change(low, local + DAY)
            if change is None:
                break
            before, offset, low = offset, self.offset(change), change
            if found is None and change + before <= local < change + offset:
                return change  # in the gap this change opens
            if found is not None and local - offset >= found:
                break
        if found is None:  # pragma: no cover - tzdata has no reading that is neither
            raise ValueError(f"no instant reads {local} in {self.tz}")
        return found

    def next_change(self, instant: int, until: int) -> int | None:
        """The first change in (instant, until], or None."""
        number = instant >> BLOCK_BITS
        while (number << BLOCK_BITS) <= until:
            changes, _ = self.block(number)
            index = bisect_right(changes, instant)
            if index < len(changes):
                return changes[index] if changes[index] <= until else None
            number += 1
        return None


_TIMELINES: dict[tzinfo, Timeline] = {}


def timeline(tz: tzinfo) -> Timeline | None:
    """The shared :class:`Timeline` of an IANA zone; None for other tzinfos, which may not be
    hashable or may not answer the same for every caller."""
    if not isinstance(tz, ZoneInfo):
        return None
    found = _TIMELINES.get(tz)
    if found is None:
        found = _TIMELINES[tz] = Timeline(tz)
    return found


class Zone:
    """A ``tzinfo`` answering in integer seconds.

    ``fixed`` is the offset of a fixed-offset zone (``datetime.timezone``), else None.
    """

    __slots__ = ("tz", "fixed", "wall_epoch", "timeline")

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        # Adding a timedelta to an aware datetime moves its wall clock: wall_epoch + local
        # seconds is that reading in this zone (fold=0).
        self.wall_epoch = EPOCH.replace(tzinfo=tz)
        self.fixed: int | None = None
        if isinstance(tz, timezone):
            self.fixed = tz.utcoffset(None) // SECOND
        self.timeline = None if self.fixed is not None else timeline(tz)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Zone) and self.tz == other.tz

    def __hash__(self) -> int:
        return hash(self.tz)

    def offset(self, instant: int) -> int:
        """The zone's UTC offset at ``instant``, in seconds."""
        if self.fixed is not None:
            return self.fixed
        if self.timeline is not None:
            return self.timeline.offset(instant)
        return datetime.fromtimestamp(instant, self.tz).utcoffset() // SECOND

    def local(self, instant: int) -> int:
        """The wall-clock reading at ``instant``, as local seconds."""
        return instant + self.offset(instant)

    def instant(self, local: int) -> int:
        """The instant of a wall-clock reading, by the DST rule of this module's docstring."""
        if self.fixed is not None:
            return local - self.fixed
        if self.timeline is not None:
            return self.timeline.instant(local)
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
        if self.timeline is not None:
            return self.timeline.next_change(instant, until)
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
