"""Restarting what crashed: :class:`RestartPolicy` and the bookkeeping behind it.

A :class:`RestartPolicy` is the user's value (how many restarts within which window, and the
backoff before each).  A :class:`RestartIntensity` applies it to one crashing thing (an
actor's task here; any supervised child): ``delay = intensity.record_crash(now)`` answers
how long to wait before the restart, or ``None`` once the limit is reached.  The delays come
from :class:`trio_orch.Backoff`, the one backoff schedule of trio_orch.
"""

from __future__ import annotations

import collections
import itertools
from typing import TYPE_CHECKING, final

import attrs

from trio_orch._validate import instance_validator, int_validator, number_validator
from trio_orch.primitives import Backoff, Jitter, RetryPolicy

if TYPE_CHECKING:
    import random


def _default_backoff() -> Backoff:
    return Backoff(initial_delay=0.1, max_delay=5.0, multiplier=2.0, jitter=Jitter.NONE)


def _as_backoff(value: object) -> object:
    """Accept a :class:`RetryPolicy` too (as before ``Backoff`` existed): its schedule."""
    return value.backoff if isinstance(value, RetryPolicy) else value


@final
@attrs.frozen(kw_only=True)
class RestartPolicy:
    """Restart a crashed actor, at most ``max_restarts`` times within ``window`` seconds.

    The ``n``-th restart inside the window waits ``backoff.delay(n)`` seconds (see
    :class:`trio_orch.Backoff`).  The crash that would be restart number
    ``max_restarts + 1`` within the window propagates instead.  Only ``Exception``
    subclasses crash an actor into a restart; ``trio.Cancelled`` and other
    ``BaseException`` always propagate.

    Args:
        max_restarts: restarts allowed within ``window`` (>= 0; 0 never restarts).
        window: the sliding window, in seconds (> 0; ``math.inf``: for ever).
        backoff: the delay schedule (default: 0.1 s doubling up to 5 s, no jitter).  A
            :class:`trio_orch.RetryPolicy` is accepted too and stands for its ``backoff``.

    Raises:
        TypeError, ValueError: an argument is of the wrong type or out of range.
    """

    max_restarts: int = attrs.field(default=3, validator=int_validator(minimum=0))
    window: float = attrs.field(
        default=60.0, validator=number_validator(strict=True, allow_inf=True)
    )
    backoff: Backoff = attrs.field(
        factory=_default_backoff,
        converter=_as_backoff,
        validator=instance_validator(Backoff, "a Backoff or a RetryPolicy"),
    )

    def delays(self, rng: random.Random | None = None) -> list[float]:
        """The ``max_restarts`` backoff delays, in seconds, of restarts within one window."""
        return list(itertools.islice(self.backoff.delays(rng), self.max_restarts))


@final
@attrs.define(eq=False)
class RestartIntensity:
    """Counts the restarts of one crashing thing within a sliding window; gives the delays.

    The bookkeeping behind :class:`RestartPolicy`, shared by everything that restarts what
    crashed (an actor's task, a :class:`trio_orch.Supervisor`'s children): build one per
    supervised thing and call :meth:`record_crash` at each crash::

        intensity = RestartIntensity(policy)
        delay = intensity.record_crash(trio.current_time())
        if delay is None:
            raise  # the limit is reached: give up
        await trio.sleep(delay)

    The ``n``-th restart within the window waits ``policy.backoff.delay(n)``.  Time is
    whatever clock the caller passes (trio's, so tests run on virtual time).

    Args:
        policy: the limits and the backoff.
        rng: the jitter's source of randomness (``None``: the ``random`` module's).

    Raises:
        TypeError: ``policy`` is not a RestartPolicy.
    """

    policy: RestartPolicy = attrs.field(
        validator=instance_validator(RestartPolicy, "a RestartPolicy")
    )
    rng: random.Random | None = attrs.field(default=None, kw_only=True)
    #: Restarts granted so far, in all windows.
    total: int = attrs.field(default=0, init=False)
    # When each restart granted within the window happened, oldest first.
    _recent: collections.deque[float] = attrs.field(factory=collections.deque, init=False)
    _previous_delay: float | None = attrs.field(default=None, init=False)

    @property
    def in_window(self) -> int:
        """Restarts granted within the window, as of the last crash recorded."""
        return len(self._recent)

    def record_crash(self, now: float) -> float | None:
        """Record a crash at ``now`` (trio time).

        Returns:
            The seconds to wait before restarting, or ``None``: ``max_restarts`` restarts
            already happened within the window, so give up.
        """
        policy = self.policy
        recent = self._recent
        while recent and recent[0] <= now - policy.window:
            recent.popleft()
        if len(recent) >= policy.max_restarts:
            return None
        recent.append(now)
        self.total += 1
        delay = policy.backoff.delay(len(recent), previous=self._previous_delay, rng=self.rng)
        self._previous_delay = delay
        return delay

    def give_up_note(self, name: str) -> str:
        """The note added to the error that exhausted the restarts of ``name``."""
        policy = self.policy
        return f"{name} gave up after {policy.max_restarts} restarts within {policy.window} s"
