"""The run times several sources share in a span, counted without listing them.

:func:`~akjob.schedule.count.count_between` counts the union of a schedule's sources by
inclusion–exclusion (|A ∪ B| = |A| + |B| − |A ∩ B|, and so on for more sources), so it needs the
number of instants that every source of a group has in common. :func:`shared` answers that:

* intervals alone: the instants on every grid form one grid, or none (the Chinese remainder
  theorem), counted by division;
* cron, monthly and weekly sources, alone or with intervals: piece by piece between the offset
  changes of their zones. Inside a piece each source's run times are its matching wall-clock
  readings shifted by a constant, so two sources share the times of day that match in both
  (after the shift between their offsets) on days both allow, and an interval grid picks those
  of one phase. What a day holds depends only on which of the sources' days are allowed and on
  the grid's phase that day; it is worked out once per combination and then looked up. The
  fixed-time rule of docs/schedule.md bends this at a change: the second pass of a repeated hour
  has no runs of its own, and the readings a gap skips run together at its end, an instant
  tested on its own;
* a dates source: its own times in the span, each tested against the other sources;
* any other source: the run times of the sparsest source, listed and tested.

The work grows with the days and offset changes in the span, never with the run times (dates
excepted: their times are the user's own list).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from itertools import compress, repeat
from math import gcd

from akjob.schedule.cron import Cron
from akjob.schedule.days import DayFilter
from akjob.schedule.limits import Allowed, Window
from akjob.schedule.months import MonthTable, month_length
from akjob.schedule.sources import Dates, FixedTime, Interval, Never, Runner
from akjob.schedule.zones import DAY, Zone, day_of, local_at

__all__ = ["shared"]

#: Tables of shared times of day kept between calls (keyed by the identity of the times).
MAX_TABLES = 1024
_TABLES: dict[tuple[object, ...], tuple[object, ...]] = {}
_DAILIES: dict[int, tuple[Runner, Daily]] = {}
#: Days whose "allowed?" a Daily keeps, and how far past a span it reads its zone's changes.
MAX_DAYS = 4096
MAX_FLAGS = 64
AHEAD = 62 * DAY
MAX_OFFSET = 1 << 40


def shared(runners: Sequence[Runner], begin: int, end: int) -> int:
    """How many instants in [begin, end] are run times of every one of ``runners``."""
    return Group(runners, None).count(begin, end)


class Group:
    """Several runners, read once for counting the run times they all share where the limits
    (``allowed``; None: no limits) allow them."""

    __slots__ = ("runners", "allowed", "empty", "dates", "grid", "dailies", "listed", "limits")

    def __init__(self, runners: Sequence[Runner], allowed: Allowed | None) -> None:
        self.runners = tuple(runners)
        self.allowed = allowed
        self.empty = any(isinstance(runner, Never) for runner in runners)
        self.dates = [runner for runner in runners if isinstance(runner, Dates)]
        self.listed = not all(isinstance(r, Interval | Cron | FixedTime | Dates) for r in runners)
        self.grid: Grid | None = None
        self.dailies: list[Daily] = []
        self.limits = None if allowed is None else Daily.limits(allowed)
        if self.empty or self.dates or self.listed:
            return
        for runner in runners:
            if isinstance(runner, Interval):
                mine = Grid.of(runner)
                grid = mine if self.grid is None else self.grid.meet(mine)
                if grid is None:
                    self.empty = True
                    return
                self.grid = grid
            else:
                self.dailies.append(Daily.of(runner))  # type: ignore[arg-type]
        self.dailies.sort(key=lambda daily: len(daily.times))
        if self.dailies and self.limits is not None:
            # The limits read like a source on the real clock, whose times are the window's.
            self.dailies.append(self.limits)

    def count(self, begin: int, end: int) -> int:
        """How many instants in [begin, end] are run times of every runner and allowed."""
        if end < begin or self.empty:
            return 0
        if self.dates or self.listed:
            if self.dates:
                base = min(self.dates, key=lambda runner: runner.count(begin, end))
                found = base.times[bisect_left(base.times, begin) : bisect_right(base.times, end)]
            else:
                base = min(self.runners, key=lambda runner: runner.count(begin, end))
                found = _listed(base, begin, end)
            if self.allowed is not None:
                found = [t for t in found if self.allowed.allows(t)]
            return _tested(found, self.runners)
        grid = self.grid
        if not self.dailies:
            if grid is None:
                return 0
            if self.limits is None:
                return grid.count(begin, end)
            return _gridded(grid, self.limits, begin, end)
        if grid is not None:
            begin = max(begin, grid.low)
            if end < begin:
                return 0
        return _regular(self.runners, self.dailies, grid, begin, end)


def _listed(runner: Runner, begin: int, end: int) -> list[int]:
    found, instant = [], begin
    while (run := runner.first(instant, end)) is not None and run <= end:
        found.append(run)
        instant = run + 1
    return found


def _tested(instants: Iterable[int], runners: Sequence[Runner]) -> int:
    """How many of ``instants`` are run times of every runner."""
    return sum(all(r.first(t, t) == t for r in runners) for t in instants)


# -- grids ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Grid:
    """The instants t >= low with t ≡ phase (mod every)."""

    phase: int
    every: int
    low: int

    @classmethod
    def of(cls, interval: Interval) -> Grid:
        # An interval's first run is one step after its anchor.
        return cls(
            interval.anchor % interval.every, interval.every, interval.anchor + interval.every
        )

    def meet(self, other: Grid) -> Grid | None:
        """The instants on both grids (None: there are none)."""
        step = gcd(self.every, other.every)
        apart = other.phase - self.phase
        if apart % step:
            return None
        every = self.every // step * other.every
        factor = pow(self.every // step, -1, other.every // step) if other.every > step else 0
        phase = (self.phase + self.every * (apart // step * factor)) % every
        return Grid(phase, every, max(self.low, other.low))

    def count(self, begin: int, end: int) -> int:
        begin = max(begin, self.low)
        if end < begin:
            return 0
        return (end - self.phase) // self.every - (begin - 1 - self.phase) // self.every


# -- sources read on a wall clock -----------------------------------------------------------------


class Daily:
    """A cron, monthly or weekly source as days, times of day and a zone.

    ``fixed``: its readings follow the fixed-time rule (docs/schedule.md); else an instant is a
    run time when its own reading matches.
    """

    __slots__ = (
        "zone",
        "days",
        "times",
        "fixed",
        "_allowed",
        "_states",
        "_table",
        "_flags",
    )

    def __init__(self, zone: Zone, days: object, times: tuple[int, ...], fixed: bool) -> None:
        self.zone = zone
        self.days = days  # a MonthTable or a DayFilter: allows(day), next(day, last)
        self.times = times
        self.fixed = fixed
        self._allowed: dict[int, bool] = {}
        self._flags: dict[tuple[int, int], list[bool]] = {}
        # The days as month masks: a MonthTable's own, or a DayFilter's rule without its range.
        self._table = days if isinstance(days, MonthTable) else None
        if isinstance(days, DayFilter) and (
            days.weekdays is not None
            or days.monthdays is not None
            or days.months is not None
            or days.picks
        ):
            self._table = days.table()
        # (low, high, states): the states read from low to high, kept as one value so that
        # threads sharing this Daily never see one part new and the other old.
        self._states: tuple[int, int, list[tuple[int, int, bool, bool]]] = (0, -1, [])

    @classmethod
    def of(cls, runner: Cron | FixedTime) -> Daily:
        """The runner's Daily, kept while the runner lives in the compiled schedules' cache."""
        found = _DAILIES.get(id(runner))
        if found is not None and found[0] is runner:
            return found[1]
        if isinstance(runner, Cron):
            daily = cls(runner.zone, runner.days, runner.times, runner.spec.wall_clock)
        else:
            daily = cls(runner.zone, runner.days, _single(runner.at), True)
        if len(_DAILIES) >= MAX_TABLES:
            _DAILIES.clear()
        _DAILIES[id(runner)] = (runner, daily)
        return daily

    @classmethod
    def limits(cls, allowed: Allowed) -> Daily:
        """The limits as a Daily: their days, and the window's seconds as its times."""
        found = _DAILIES.get(id(allowed))
        if found is not None and found[0] is allowed:
            return found[1]
        times = WindowTimes(allowed.window)
        daily = cls(allowed.zone, allowed.days, times, False)  # type: ignore[arg-type]
        if len(_DAILIES) >= MAX_TABLES:
            _DAILIES.clear()
        _DAILIES[id(allowed)] = (allowed, daily)  # type: ignore[assignment]
        return daily

    def allows(self, day: int) -> bool:
        """Whether the source runs on calendar day ``day`` (kept: asked again and again)."""
        found = self._allowed.get(day)
        if found is None:
            if len(self._allowed) >= MAX_DAYS:
                self._allowed.clear()
            days = self.days
            if isinstance(days, MonthTable):  # the whole month at once, from its mask
                _, first, length, bits = self._month(day)
                for number in range(1, length + 1):
                    self._allowed[first + number - 1] = bool(bits >> number & 1)
                return bool(bits >> (day - first + 1) & 1)
            found = self._allowed[day] = days.allows(day)  # type: ignore[attr-defined]
        return found

    def flags(self, first: int, last: int) -> list[bool]:
        """Whether the source runs on each calendar day from ``first`` to ``last``, a month
        at a time (kept: every group of a count asks for the same days)."""
        found = self._flags.get((first, last))
        if found is None:
            if len(self._flags) >= MAX_FLAGS:
                self._flags.clear()
            found = self._flags[first, last] = self._read_flags(first, last)
        return found

    def _read_flags(self, first: int, last: int) -> list[bool]:
        table, days = self._table, self.days
        if table is None:  # a DayFilter of a date range and excluded days at most
            return [days.allows(day) for day in range(first, last + 1)]  # type: ignore[attr-defined]
        found: list[bool] = []
        day = first
        while day <= last:
            start, month_first, length, bits = self._month(day)
            stop = min(last, month_first + length - 1)
            found += [bool(bits >> number & 1) for number in range(start, stop - month_first + 2)]
            day = stop + 1
        if isinstance(days, DayFilter):  # the date range and the excluded days
            if days.first is not None or days.last is not None:
                low = first if days.first is None else days.first
                high = last if days.last is None else days.last
                found = [ok and low <= first + i <= high for i, ok in enumerate(found)]
            excluded = days.excluded
            for day in excluded[bisect_left(excluded, first) : bisect_right(excluded, last)]:
                found[day - first] = False
        return found

    def _month(self, day: int) -> tuple[int, int, int, int]:
        """Day ``day``'s day of the month, its month's first day and length, and the month's
        mask (bit d: day d is picked) from the month table."""
        table = self._table
        assert table is not None
        value = date.fromordinal(day)
        first = day - value.day + 1
        length = month_length(value.year, value.month)
        bits = 0
        if table.months is None or value.month in table.months:
            bits = table.mask(value.month, length, first % 7)
        return value.day, first, length, bits

    def any_reading(self, low: int, high: int) -> bool:
        """Whether a matching reading lies in [low, high] (a short span: a gap)."""
        day = day_of(low)
        while (start := local_at(day, 0)) <= high:
            if self.allows(day):
                first = bisect_left(self.times, max(0, low - start))
                if first < len(self.times) and self.times[first] <= high - start:
                    return True
            day += 1
        return False

    def states(self, begin: int, end: int) -> list[tuple[int, int, bool, bool]]:
        """(start, offset, active, lone) from ``begin`` to ``end``, each until the next start.

        ``active`` False: no run time at all (the second pass of a repeated hour, fixed times).
        ``lone``: the start is the end of a gap whose readings run then (fixed times); the run
        times that follow it are the readings shifted by the offset.
        """
        zone = self.zone
        if zone.fixed is not None:
            return [(begin, zone.fixed, True, False)]
        low, high, states = self._states
        if not (low + DAY <= begin and end <= high):
            low, high = begin - DAY, end + AHEAD
            states = self._read(low, high)
            self._states = (low, high, states)
        first = bisect_right(states, (begin, MAX_OFFSET)) - 1
        last = bisect_right(states, (end, MAX_OFFSET))
        start, offset, active, lone = states[first]
        return [(begin, offset, active, lone and start == begin), *states[first + 1 : last]]

    def _read(self, low: int, high: int) -> list[tuple[int, int, bool, bool]]:
        zone, instant = self.zone, low
        offset = zone.offset(instant)
        states = [(instant, offset, True, False)]
        while (change := zone.next_change(instant, high)) is not None:
            after = zone.offset(change)
            if self.fixed and after < offset:
                states.append((change, after, False, False))
                states.append((change + offset - after, after, True, False))
            elif self.fixed and after > offset:
                lone = self.any_reading(change + offset, change + after)
                states.append((change, after, True, lone))
            else:
                states.append((change, after, True, False))
            instant, offset = change, after
        return states


class WindowTimes:
    """The seconds of the day a window allows (None: all), as a set that is never listed."""

    __slots__ = ("window",)

    def __init__(self, window: Window | None) -> None:
        self.window = window

    def __contains__(self, seconds: object) -> bool:
        return self.window is None or self.window.allows(seconds)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return DAY


_SINGLES: dict[int, tuple[int]] = {}


def _single(at: int) -> tuple[int]:
    """One time of day as a tuple that stays the same object (tables are keyed by identity)."""
    found = _SINGLES.get(at)
    if found is None:
        found = _SINGLES[at] = (at,)
    return found


def _gridded(grid: Grid, limits: Daily, begin: int, end: int) -> int:
    """The grid's instants in [begin, end] that the limits allow: day by day, one division per
    part of the window."""
    begin = max(begin, grid.low)
    if end < begin:
        return 0
    window = limits.times.window  # type: ignore[attr-defined]
    if window is None:
        parts = ((0, DAY - 1),)
    elif window.wraps:
        parts = ((0, window.end), (window.begin, DAY - 1))
    else:
        parts = ((window.begin, window.end),)
    states = limits.states(begin, end)
    every = grid.every
    found = 0
    for index, (start, offset, _, _) in enumerate(states):
        stop = states[index + 1][0] - 1 if index + 1 < len(states) else end
        first, last = day_of(start + offset), day_of(stop + offset)
        midnight = local_at(first, 0) - offset  # the instant of the first day's midnight
        ok = limits.flags(first, last)
        # Each day's midnight against the grid; whole days count alike when that is alike.
        phases = _progression(midnight - grid.phase, DAY, every, len(ok))
        cut = [i for i in {0, len(ok) - 1} if ok[i]]
        whole = list(ok)
        for i in cut:
            whole[i] = False
        for phase, days in Counter(compress(phases, whole)).items():
            found += days * sum(
                (phase + high) // every - (phase + low - 1) // every for low, high in parts
            )
        for i in cut:
            day_start = midnight + i * DAY
            for low, high in parts:
                found += grid.count(max(start, day_start + low), min(stop, day_start + high))
    return found


def _progression(first: int, step: int, every: int, count: int) -> list[int]:
    """(first + i * step) % every for i in range(count): a cycle, worked out once per turn."""
    turn = min(count, every // gcd(every, step % every or every))
    values = [(first + i * step) % every for i in range(turn)]
    return (values * (count // turn + 1))[:count] if turn else []


def _regular(
    runners: tuple[Runner, ...], dailies: list[Daily], grid: Grid | None, begin: int, end: int
) -> int:
    all_states = [daily.states(begin, end) for daily in dailies]
    starts = sorted({state[0] for states in all_states for state in states})
    found = 0
    at = [0] * len(dailies)
    for index, start in enumerate(starts):
        stop = starts[index + 1] - 1 if index + 1 < len(starts) else end
        offsets, active, lone = [], True, False
        for number, states in enumerate(all_states):
            while at[number] + 1 < len(states) and states[at[number] + 1][0] <= start:
                at[number] += 1
            state = states[at[number]]
            offsets.append(state[1])
            active = active and state[2]
            lone = lone or (state[3] and state[0] == start)
        if not active:
            continue
        if lone:
            found += _tested((start,), runners)
            start += 1
        if start <= stop:
            found += _piece(dailies, offsets, grid, start, stop)
    return found


def _piece(
    dailies: list[Daily], offsets: list[int], grid: Grid | None, begin: int, end: int
) -> int:
    """Shared run times in [begin, end], where every zone keeps its offset."""
    base, shift = dailies[0], offsets[0]
    first, last = day_of(begin + shift), day_of(end + shift)
    others, flags = [], []
    for daily, offset in zip(dailies[1:], offsets[1:], strict=True):
        ahead, rest = divmod(offset - shift, DAY)
        others.append((daily, ahead, rest, daily.times))
        # The other source's days, lined up with the base's: today's and tomorrow's.
        theirs = daily.flags(first + ahead, last + ahead + 1)
        flags.append((theirs, theirs[1:] if rest else repeat(False)))
    key = (id(base.times), tuple((id(t), r) for _, _, r, t in others))
    start = local_at(first, 0) - shift  # the instant whose reading is the first day's midnight
    # Each day's signature: for every other source, whether it runs that day and the next,
    # and the grid's phase. (The flag lists run a day past the base's; zip stops with it.)
    ok = base.flags(first, last)
    count = len(ok)
    signatures = list(
        zip(*(zip(today, tomorrow, strict=False) for today, tomorrow in flags), strict=False)
        if flags
        else repeat((), count)
    )
    phases: list[int | None] = [None] * count
    if grid is not None:
        phases = _progression(grid.phase - start, -DAY, grid.every, count)  # type: ignore[assignment]
    days = list(zip(signatures, phases, strict=False))
    # Days cut by the piece's ends are counted on their own; whole days by signature.
    cut = [index for index in {0, count - 1} if ok[index]]
    whole = list(ok)
    for index in cut:
        whole[index] = False
    found = 0
    for (bits, phase), many in Counter(compress(days, whole)).items():
        found += many * len(_times(base.times, others, key, bits, grid, phase))
    for index in cut:
        bits, phase = days[index]
        times = _times(base.times, others, key, bits, grid, phase)
        midnight = start + index * DAY
        found += bisect_right(times, end - midnight) - bisect_left(times, begin - midnight)
    return found


def _times(
    mine: tuple[int, ...],
    others: list[tuple[object, int, int, tuple[int, ...]]],
    key: tuple[object, ...],
    bits: tuple[tuple[bool, bool], ...],
    grid: Grid | None,
    phase: int | None,
) -> tuple[int, ...]:
    """The base's times of day that every other source shares on a day like this one, and that
    the grid (if any) picks at ``phase``."""
    full = (key, bits, None if grid is None else grid.every)
    table = _TABLES.get(full)
    if table is None:
        times = _shared_times(mine, others, bits)
        by_phase: dict[int, tuple[int, ...]] = {}
        if grid is not None:
            lists: dict[int, list[int]] = {}
            for time in times:
                lists.setdefault(time % grid.every, []).append(time)
            by_phase = {k: tuple(v) for k, v in lists.items()}
        if len(_TABLES) >= MAX_TABLES:
            _TABLES.clear()
        # The times tuples are kept with the table, so the identities in the key stay theirs.
        table = _TABLES[full] = (times, by_phase, mine, [t for *_, t in others])
    if phase is None:
        return table[0]  # type: ignore[return-value]
    return table[1].get(phase, ())  # type: ignore[union-attr]


def _shared_times(
    mine: tuple[int, ...],
    others: list[tuple[object, int, int, tuple[int, ...]]],
    bits: tuple[tuple[bool, bool], ...],
) -> tuple[int, ...]:
    found = mine
    for (_, _, rest, theirs), (today, tomorrow) in zip(others, bits, strict=True):
        allowed = theirs if isinstance(theirs, WindowTimes) else set(theirs)
        found = tuple(
            time
            for time in found
            if (today if time + rest < DAY else tomorrow) and (time + rest) % DAY in allowed
        )
        if not found:
            break
    return found
