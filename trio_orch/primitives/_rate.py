"""A start-rate limit: a token bucket kept as one "theoretical arrival time" (GCRA).

The bucket holds at most ``burst`` tokens and refills at ``rate`` tokens per second.  Instead of
counting tokens on a timer, it keeps one number — the time at which the bucket would next be
full-minus-one (the *theoretical arrival time* of the generic cell rate algorithm).  A request
reserves the earliest start time that keeps the rate, in request order, so waiters are served
first come, first served and no timer task is needed.  Times are Trio times: the bucket is fed
``trio.current_time()`` by its caller and so works the same under ``MockClock``.

This module is private: :class:`trio_orch.ConcurrencyLimiter` uses it for ``max_per_second``.
"""

from __future__ import annotations

import math

import attrs


@attrs.frozen
class Reservation:
    """One reserved start: ``start`` is when the caller may begin.

    ``before`` and ``after`` are the bucket's arrival time around the reservation, so that a
    caller who gives up can hand its token back while nobody reserved after it.
    """

    start: float
    before: float
    after: float


@attrs.define(eq=False)
class TokenBucket:
    """Reserve start times at most ``rate`` per second, with bursts of up to ``burst``.

    A fresh bucket is full: the first ``burst`` reservations start at once, the next ones
    ``1 / rate`` seconds apart.  An idle bucket refills, up to ``burst`` tokens.
    """

    rate: float
    burst: int
    _interval: float = attrs.field(init=False)
    _slack: float = attrs.field(init=False)
    _tat: float = attrs.field(init=False, default=-math.inf)

    def __attrs_post_init__(self) -> None:
        self._interval = 1.0 / self.rate
        self._slack = (self.burst - 1) * self._interval

    def reserve(self, now: float) -> Reservation:
        """Reserve the earliest start time at or after ``now`` that keeps the rate."""
        before = self._tat
        start = max(now, before - self._slack)
        self._tat = max(before, start) + self._interval
        return Reservation(start, before, self._tat)

    def refund(self, reservation: Reservation) -> bool:
        """Hand an unused token back; possible only while nobody reserved after it.

        Returns:
            Whether the token went back.  A token reserved before others is not returned:
            the later reservations keep their start times (the rate is still respected, the
            token is simply lost).
        """
        if self._tat != reservation.after:
            return False
        self._tat = reservation.before
        return True
