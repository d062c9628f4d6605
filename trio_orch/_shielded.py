"""One shielded, bounded await for cleanup code: its bookkeeping after it always runs.

Cleanup (a teardown, a requeue, a provider's ``cancel``, a component's ``aclose``) must run
even when the caller is cancelled, and must not hang the caller's exit: it runs in a
shielded cancel scope with a deadline.  The ``try`` that catches its error sits *outside*
that scope: a cleanup cancelled by the deadline may raise a group of ``Cancelled`` and its
own error (a nursery whose child failed in its cleanup); the scope keeps the ``Cancelled``
and lets the rest go on, and that rest must be caught as the cleanup's error too, not end
the caller's bookkeeping early.

This module sits below every layer (like ``_groups``) so that they all share it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Generic, TypeVar, final

import attrs
import trio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

T = TypeVar("T")


@final
@attrs.frozen
class Cleaned(Generic[T]):
    """How one :func:`run_shielded` call ended.

    Attributes:
        value: what the call returned (``None`` if it raised or timed out).
        error: the :class:`Exception` it raised (a group the deadline cut short included).
        timed_out: the deadline cancelled it.
    """

    value: T | None = None
    error: Exception | None = None
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        """It returned in time."""
        return self.error is None and not self.timed_out


async def run_shielded(fn: Callable[[], Awaitable[T]], bound: float) -> Cleaned[T]:  # noqa: ASYNC910 - shielded: a checkpoint could not be cancelled
    """Await ``fn()`` shielded from cancellation, for at most ``bound`` seconds.

    ``math.inf`` leaves it unbounded (for a step whose parts are bounded each).  An
    :class:`Exception` is returned in :attr:`Cleaned.error`; ``KeyboardInterrupt`` and
    ``SystemExit`` propagate.
    """
    value: T | None = None
    try:
        with trio.CancelScope(shield=True) as scope:
            if not math.isinf(bound):
                scope.deadline = trio.current_time() + bound
            value = await fn()
    except Exception as exc:
        return Cleaned(error=exc, timed_out=scope.cancelled_caught)  # noqa: ASYNC910
    return Cleaned(value=value, timed_out=scope.cancelled_caught)
