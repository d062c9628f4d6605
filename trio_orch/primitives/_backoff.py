"""The one backoff schedule of trio_orch: :class:`Backoff` and :class:`Jitter`.

Everything that waits longer after each failure (:class:`trio_orch.RetryPolicy`, the
WebSocket client's reconnects, an actor's restarts) asks a :class:`Backoff` for its delays,
so the formula, its jitter and its overflow guards exist once.

The delay before retry ``n`` (n = 1, 2, ...) is
``base = min(max_delay, initial_delay * multiplier ** (n - 1))``, randomised by the jitter.
The formula clamps: every delay is at most ``max_delay``, whatever ``initial_delay`` is, so
``Backoff(initial_delay=100)`` (with the default ``max_delay=30``) waits 30 s each time
rather than being refused.
"""

from __future__ import annotations

import enum
import math
import random
from typing import TYPE_CHECKING, final

import attrs

from trio_orch._validate import (
    check_int,
    check_number,
    instance_validator,
    number_validator,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["Backoff", "Jitter"]


class Jitter(enum.Enum):
    """How the delay before a retry is randomised around the exponential ``base``.

    ``NONE``: exactly ``base``.  ``FULL``: uniform(0, base).  ``EQUAL``: base/2 +
    uniform(0, base/2).  ``DECORRELATED``: min(max_delay, uniform(initial_delay,
    3 * previous delay)), starting from ``initial_delay`` (AWS's "decorrelated jitter"; it
    ignores ``multiplier``).
    """

    NONE = "none"
    FULL = "full"
    EQUAL = "equal"
    DECORRELATED = "decorrelated"


def _cap_exponent(initial: float, cap: float, multiplier: float) -> float:
    """The exponent past which ``initial * multiplier ** exponent >= cap`` for sure.

    One step of margin covers rounding; ``inf`` means "never compare, compute the power"
    (the power's own ``OverflowError`` guard then answers for huge exponents).
    """
    if initial == 0.0 or multiplier == 1.0:
        return math.inf  # the base never grows: _base() answers without a power
    if cap <= initial:
        return -1.0  # every base is the cap
    ratio = cap / initial
    if math.isinf(ratio):
        return math.inf  # a subnormal initial_delay: the OverflowError guard handles it
    return math.log(ratio) / math.log(multiplier) + 1.0


@final
@attrs.frozen(kw_only=True)
class Backoff:
    """An exponential backoff schedule with jitter: the delay to wait before each retry.

    The delay before retry ``n`` (``n = 1`` is the first retry) is
    ``base = min(max_delay, initial_delay * multiplier ** (n - 1))`` randomised by
    ``jitter`` (see :class:`Jitter`).  The formula clamps and never overflows: past the cap
    (or for any ``n``, however large) the base is ``max_delay``; with ``initial_delay=0`` it
    is always 0.  ``max_delay`` below ``initial_delay`` is allowed and means every delay is
    ``max_delay``.

    A ``Backoff`` is an immutable value: it holds no position.  :meth:`delays` yields a
    fresh infinite schedule each time it is called; :meth:`delay` answers for one ``n``.

    Args:
        initial_delay: seconds of the first base delay (finite, >= 0).
        max_delay: the cap of every delay, in seconds (finite, >= 0).
        multiplier: growth of the base delay per retry (>= 1; ``1`` keeps it constant).
        jitter: how delays are randomised.

    Raises:
        TypeError: an argument has the wrong type (the message names it and its value).
        ValueError: a delay that is negative, infinite or NaN; ``multiplier < 1`` or
            infinite.
    """

    initial_delay: float = attrs.field(default=1.0, validator=number_validator())
    max_delay: float = attrs.field(default=30.0, validator=number_validator())
    multiplier: float = attrs.field(default=2.0, validator=number_validator(minimum=1))
    jitter: Jitter = attrs.field(
        default=Jitter.FULL, validator=instance_validator(Jitter, "a Jitter")
    )

    # Computed once per schedule, so that a delay pays nothing for them.
    _initial: float = attrs.field(init=False, repr=False, eq=False, hash=False)
    _cap: float = attrs.field(init=False, repr=False, eq=False, hash=False)
    _multiplier: float = attrs.field(init=False, repr=False, eq=False, hash=False)
    _cap_exponent: float = attrs.field(init=False, repr=False, eq=False, hash=False)

    def __attrs_post_init__(self) -> None:
        initial = float(self.initial_delay)
        cap = float(self.max_delay)
        multiplier = float(self.multiplier)
        object.__setattr__(self, "_initial", initial)
        object.__setattr__(self, "_cap", cap)
        object.__setattr__(self, "_multiplier", multiplier)
        object.__setattr__(self, "_cap_exponent", _cap_exponent(initial, cap, multiplier))

    def base_delay(self, n: int) -> float:
        """The un-jittered delay before retry ``n`` (``n >= 1``).

        ``min(max_delay, initial_delay * multiplier ** (n - 1))``, computed without overflow
        for any ``n``.

        Raises:
            TypeError: ``n`` is not an int.
            ValueError: ``n < 1``.
        """
        check_int("n", n, minimum=1)
        return self._base(n)

    def _base(self, n: int) -> float:
        initial = self._initial
        if initial == 0.0 or self._multiplier == 1.0:
            return min(self._cap, initial)  # never grows: no power (1.0 ** 10**400 overflows)
        exponent = n - 1
        if exponent > self._cap_exponent:
            return self._cap
        try:
            base = initial * self._multiplier**exponent
        except OverflowError:
            return self._cap
        return min(self._cap, base)

    def delay(
        self, n: int, *, previous: float | None = None, rng: random.Random | None = None
    ) -> float:
        """The delay, in seconds, before retry ``n`` (``n = 1`` is the first retry).

        Args:
            n: the number of the retry about to wait (>= 1).
            previous: the delay waited before retry ``n - 1``; only ``Jitter.DECORRELATED``
                uses it (``None``: ``initial_delay``, as for the first retry).
            rng: the source of randomness; a seeded ``random.Random`` makes the delay
                reproducible.  ``None`` uses the ``random`` module's generator.

        Returns:
            A delay in ``[0, max_delay]``.

        Raises:
            TypeError: ``n`` is not an int, or ``previous`` is not a number.
            ValueError: ``n < 1``, or ``previous`` is negative, infinite or NaN.
        """
        check_int("n", n, minimum=1)
        if previous is not None:
            check_number("previous", previous)
        uniform = random.uniform if rng is None else rng.uniform
        if self.jitter is Jitter.DECORRELATED:
            return self._decorrelated(uniform, self._initial if previous is None else previous)
        return self._jittered(uniform, self._base(n))

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """Yield the delays before retry 1, 2, 3, ... without end.

        Take what you need (``itertools.islice(backoff.delays(), 5)``).  Every delay is in
        ``[0, max_delay]``.

        Args:
            rng: the source of randomness; a seeded ``random.Random`` makes the schedule
                reproducible.  ``None`` uses the ``random`` module's generator.
        """
        uniform = random.uniform if rng is None else rng.uniform
        if self.jitter is Jitter.DECORRELATED:
            previous = self._initial
            while True:
                previous = self._decorrelated(uniform, previous)
                yield previous
        n = 1
        while True:
            yield self._jittered(uniform, self._base(n))
            n += 1

    def _jittered(self, uniform: Callable[[float, float], float], base: float) -> float:
        jitter = self.jitter
        if jitter is Jitter.NONE:
            return base
        if jitter is Jitter.FULL:
            return uniform(0.0, base)
        half = base / 2.0
        return half + uniform(0.0, half)

    def _decorrelated(self, uniform: Callable[[float, float], float], previous: float) -> float:
        high = previous * 3.0
        if math.isinf(high):
            return self._cap
        return min(self._cap, uniform(self._initial, high))
