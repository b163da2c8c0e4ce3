"""Jitter: each run time moved later by an offset fixed for its job and occurrence.

A schedule with ``jitter`` J runs each occurrence t (a run time of its sources) at
t + offset(seed, t), the offset a whole number of seconds in [0, J] taken from a BLAKE2 hash of
the job's seed and t. Every daemon, ``upcoming()``, the admin and ``showinfo`` compute the same
moved times, with no state to share. The limits apply to the moved time: an occurrence whose
moved time falls outside them does not run.

Moved times are listed in increasing order. Since a run time moves by at most J, the moved
times at or after an instant come from occurrences at or after the instant minus J, and the
listing is exact once the next occurrence is later than the earliest moved time held back.
Where the limits rule out a long stretch, the search jumps to J before its end rather than
trying each occurrence in it.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from hashlib import blake2b

from akjob.schedule.limits import Allowed
from akjob.schedule.zones import MAX_INSTANT

__all__ = ["offset"]

#: Occurrences a search may look at before it gives up (None): enough for a run time every
#: second under a jitter of more than two hours.
MAX_LOOKS = 10_000


def offset(seed: str, instant: int, jitter: int) -> int:
    """The offset, in [0, ``jitter``] seconds, of the occurrence at ``instant`` of the job
    ``seed``."""
    if jitter <= 0:
        return 0
    digest = blake2b(f"{seed}\x00{instant}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % (jitter + 1)


class JitteredSearch:
    """The moved run times, in increasing order, from ``start`` on.

    ``occurrences`` gives the first occurrence at or after an instant (queries never go back);
    ``allowed`` (or None) the limits' first allowed instant at or after an instant up to a
    horizon, and whether one instant is allowed.
    """

    __slots__ = ("occurrences", "allowed", "seed", "jitter", "horizon", "held", "next_at")

    def __init__(
        self,
        occurrences: Callable[[int], int | None],
        allowed: Allowed | None,
        seed: str,
        jitter: int,
        start: int,
        horizon: int,
    ) -> None:
        self.occurrences = occurrences
        self.allowed = allowed
        self.seed, self.jitter = seed, jitter
        self.horizon = min(horizon, MAX_INSTANT)
        self.held: list[tuple[int, int]] = []  # (moved, occurrence), a heap
        self.next_at = start - jitter  # occurrences before this one are looked at

    def first(self, instant: int) -> int | None:
        """The first moved run time at or after ``instant`` (not before the previous answer)."""
        held, allowed, jitter = self.held, self.allowed, self.jitter
        for _ in range(MAX_LOOKS):
            while held and held[0][0] < instant:
                heapq.heappop(held)
            nominal = None
            if self.next_at <= self.horizon:
                nominal = self.occurrences(self.next_at)
                if nominal is not None and nominal > self.horizon:
                    nominal = None
            if held and (nominal is None or held[0][0] <= nominal):
                return held[0][0]
            if nominal is None:
                return None
            if allowed is not None:
                opening = allowed.first(nominal, self.horizon + jitter)
                if opening is None:
                    self.next_at = self.horizon + 1
                    continue
                if opening - jitter > nominal:  # nothing before can move into the limits
                    self.next_at = opening - jitter
                    continue
            self.next_at = nominal + 1
            moved = nominal + offset(self.seed, nominal, jitter)
            if moved >= instant and (allowed is None or allowed.allows(moved)):
                heapq.heappush(held, (moved, nominal))
        return None
