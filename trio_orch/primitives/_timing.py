"""Debouncer and throttler: sync calls in, at most one run of ``fn`` at a time out.

Both run ``fn`` from one runner task in a nursery, so they follow the rules of structured
concurrency: ``async with open_debouncer(fn, 0.3) as debounced:`` owns its nursery, and
``Debouncer(nursery, fn, 0.3)`` runs in the caller's.  Calling them is synchronous and never
blocks: a call only records its arguments (one slot each, so memory is bounded) and wakes
the runner.  ``fn`` may be a plain function or an ``async`` one; runs never overlap.

Time comes from :func:`trio.current_time`, so ``autojump_clock`` tests are exact.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import math
from typing import TYPE_CHECKING, Any, ClassVar, Generic, ParamSpec, TypeVar, final

import attrs
import trio

from trio_orch._groups import open_nursery_unwrapped
from trio_orch._log import callable_name, get_logger
from trio_orch._validate import check_callable, check_instance, check_number

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from contextlib import AbstractAsyncContextManager

__all__ = [
    "Debouncer",
    "DebouncerStats",
    "Throttler",
    "ThrottlerStats",
    "open_debouncer",
    "open_throttler",
]

P = ParamSpec("P")
R = TypeVar("R", bound="_Runner[Any]")

_logger = get_logger("store")

_Call = tuple[tuple[Any, ...], dict[str, Any]]


def _check_debounce(fn: object, delay: object, max_wait: object) -> None:
    check_callable("fn", fn)
    check_number("delay", delay)
    if max_wait is not None:
        check_number("max_wait", max_wait, strict=True)
        if max_wait < delay:  # type: ignore[operator]  # both checked numbers above
            msg = f"max_wait must be >= delay ({delay!r}), got {max_wait!r}"
            raise ValueError(msg)


def _throttle_interval(per_second: object, interval: object) -> float:
    """Check the rate, given as ``per_second`` or as ``interval``; return the interval."""
    if per_second is not None and interval is not None:
        msg = (
            "per_second and interval say the same thing, give one, "
            f"got per_second={per_second!r} and interval={interval!r}"
        )
        raise TypeError(msg)
    if interval is not None:
        return check_number("interval", interval, strict=True)
    return 1.0 / check_number("per_second", per_second, strict=True)


def _check_throttle(
    fn: object, per_second: object, interval: object, leading: object, trailing: object
) -> float:
    check_callable("fn", fn)
    seconds = _throttle_interval(per_second, interval)
    for name, flag in (("leading", leading), ("trailing", trailing)):
        if not isinstance(flag, bool):
            msg = f"{name} must be a bool, got {flag!r}"
            raise TypeError(msg)
    if not (leading or trailing):
        msg = f"leading and trailing cannot both be false, got {leading!r} and {trailing!r}"
        raise ValueError(msg)
    return seconds


def _invoke(fn: Callable[..., object], call: _Call) -> Awaitable[object] | None:
    """Call ``fn``; return the awaitable to await if it is an async function."""
    result = fn(*call[0], **call[1])
    return result if inspect.isawaitable(result) else None


def _log_discarded(kind: str, fn: object, count: int, level: int) -> None:
    if count:
        _logger.log(
            level, "trio_orch.store.calls_discarded", kind=kind, fn=callable_name(fn), count=count
        )


@attrs.define(eq=False)
class _Runner(Generic[P]):
    """What the debouncer and the throttler share: one runner task, its life cycle, counters.

    A subclass records calls, says what is pending (:meth:`cancel`, :meth:`flush`) and how the
    runner drains them once woken (:meth:`_drain`).
    """

    _KIND: ClassVar[str]

    _nursery: trio.Nursery
    _fn: Callable[P, object]
    _wake: trio.Event = attrs.field(factory=trio.Event, init=False)
    _lock: trio.Lock = attrs.field(factory=trio.Lock, init=False)
    _scope: trio.CancelScope = attrs.field(factory=trio.CancelScope, init=False)
    _closed: bool = attrs.field(default=False, init=False)
    _calls: int = attrs.field(default=0, init=False)
    _runs: int = attrs.field(default=0, init=False)
    _coalesced: int = attrs.field(default=0, init=False)
    _discarded: int = attrs.field(default=0, init=False)

    def _start(self) -> None:
        check_instance("nursery", self._nursery, trio.Nursery, "a trio.Nursery")
        self._nursery.start_soon(self._run, name=f"{self._KIND} of {callable_name(self._fn)}")

    def _record_call(self) -> None:
        if self._closed:
            msg = f"{self._KIND} is closed"
            raise trio.ClosedResourceError(msg)
        self._calls += 1

    @property
    def closed(self) -> bool:
        """Whether it is closed (calls raise ``ClosedResourceError``)."""
        return self._closed

    def cancel(self) -> int:
        """Discard the pending calls; return how many there were (0 if none).

        Counted in ``stats.discarded``, not logged: you asked for it.  Not a checkpoint.
        """
        raise NotImplementedError

    async def flush(self) -> bool:
        """Run what is pending now, in the calling task; return whether anything ran."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop now: discard what is pending (counted, logged at INFO) and cancel the runner.

        Calls raise :class:`trio.ClosedResourceError` afterwards.  Idempotent; not a checkpoint.
        """
        self._shut(logging.INFO)

    def _shut(self, level: int) -> None:
        """Close, logging discarded calls at ``level`` (WARNING when nobody asked for it)."""
        self._closed = True
        _log_discarded(self._KIND, self._fn, self.cancel(), level)
        self._scope.cancel(reason=f"{self._KIND} closed")

    async def aclose(self) -> None:
        """Close gracefully: refuse new calls, run what is pending now, stop the runner.

        Raises:
            Exception: whatever ``fn`` raises while flushing (the runner is stopped anyway).

        Checkpoints:
            Always a checkpoint.
        """
        self._closed = True
        try:
            await self.flush()
        finally:
            self.close()

    async def _execute(self, call: _Call) -> None:  # noqa: ASYNC910 - callers hold _lock
        """Run ``fn`` for ``call``; the caller holds ``_lock``, so runs never overlap."""
        self._runs += 1
        awaitable = _invoke(self._fn, call)
        if awaitable is not None:
            await awaitable

    async def _drain(self) -> None:
        raise NotImplementedError

    async def _run(self) -> None:
        try:
            with self._scope:
                while True:
                    await self._wake.wait()
                    self._wake = trio.Event()
                    await self._drain()
        finally:
            # Cancelled from outside (or fn failed): what was pending is lost.
            self._closed = True
            _log_discarded(self._KIND, self._fn, self.cancel(), logging.WARNING)


@contextlib.asynccontextmanager
async def _open_runner(where: str, make: Callable[[trio.Nursery], R]) -> AsyncIterator[R]:
    """Run ``make(nursery)`` in a nursery owned by the block; flush on a normal exit."""
    async with open_nursery_unwrapped(where) as nursery:
        runner = make(nursery)
        try:
            yield runner
            await runner.aclose()
        finally:
            runner._shut(logging.WARNING)  # after a normal exit nothing is left to discard


# --- debouncer ------------------------------------------------------------------------------


@final
@attrs.frozen
class DebouncerStats:
    """A snapshot of a :class:`Debouncer`.

    Attributes:
        calls: calls made.
        runs: times ``fn`` ran.
        coalesced: calls superseded by a later call before ``fn`` ran (the point of debouncing).
        discarded: pending calls thrown away by ``cancel()``, ``close()`` or a failed block.
        pending: whether a call is waiting to run.
    """

    calls: int
    runs: int
    coalesced: int
    discarded: int
    pending: bool


@final
@attrs.define(eq=False)
class Debouncer(_Runner[P]):
    """Run ``fn`` with the last call's arguments once calls have been quiet for ``delay``.

    ``debounced(*args, **kwargs)`` is synchronous and never blocks; each call replaces the
    pending arguments and restarts the ``delay`` countdown.  With ``max_wait``, a pending call
    runs at the latest ``max_wait`` seconds after the first call of the burst.  A call made
    while ``fn`` runs is scheduled after it (runs never overlap).

    The runner task starts in ``nursery``; it lives until :meth:`aclose`, :meth:`close`, or the
    nursery's cancellation.  :func:`open_debouncer` is the ``async with`` form that owns its
    nursery.

    Args:
        nursery: the nursery that runs the runner task (and therefore ``fn``).
        fn: a function or an ``async`` function.
        delay: seconds of quiet before ``fn`` runs (finite, >= 0).
        max_wait: optional upper bound on how long a pending call waits (finite, >= delay).

    Raises:
        TypeError: ``nursery`` is not a nursery, ``fn`` not callable, a delay not a number.
        ValueError: a delay is negative, infinite or NaN, or ``max_wait < delay``.

    Cancellation:
        An exception from ``fn`` propagates into ``nursery`` (and out of
        :func:`open_debouncer`'s block), as any task's would.  A pending call when the runner
        is cancelled is discarded, counted and logged at WARNING
        (``trio_orch.store.calls_discarded`` on the ``trio_orch.store`` logger).
    """

    _KIND: ClassVar[str] = "debouncer"

    _delay: float
    _max_wait: float | None = attrs.field(default=None, kw_only=True)
    _call: _Call | None = attrs.field(default=None, init=False)
    _first_at: float = attrs.field(default=0.0, init=False)
    _deadline: float = attrs.field(default=0.0, init=False)

    def __attrs_post_init__(self) -> None:
        _check_debounce(self._fn, self._delay, self._max_wait)
        self._start()

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """Schedule ``fn(*args, **kwargs)`` after ``delay`` of quiet, replacing any pending call.

        Raises:
            trio.ClosedResourceError: the debouncer is closed.
        """
        self._record_call()
        now = trio.current_time()
        if self._call is None:
            self._first_at = now
        else:
            self._coalesced += 1
        self._call = (args, kwargs)
        deadline = now + self._delay
        if self._max_wait is not None:
            deadline = min(deadline, self._first_at + self._max_wait)
        self._deadline = deadline
        self._wake.set()

    @property
    def pending(self) -> bool:
        """Whether a call waits to run."""
        return self._call is not None

    @property
    def stats(self) -> DebouncerStats:
        """A :class:`DebouncerStats` snapshot (sync; not a checkpoint)."""
        return DebouncerStats(
            self._calls, self._runs, self._coalesced, self._discarded, self._call is not None
        )

    def cancel(self) -> int:
        """Discard the pending call, if any; return how many calls were discarded (0 or 1).

        Counted in ``stats.discarded``, not logged.  Not a checkpoint.
        """
        if self._call is None:
            return 0
        self._call = None
        self._discarded += 1
        return 1

    async def flush(self) -> bool:
        """Run the pending call now, in the calling task (after any run in progress ends).

        Returns:
            Whether a pending call ran.

        Raises:
            Exception: whatever ``fn`` raises.

        Cancellation:
            If cancelled while waiting for a run in progress, the pending call stays pending.

        Checkpoints:
            Always a checkpoint.
        """
        async with self._lock:
            call = self._call
            if call is None:
                return False
            self._call = None
            await self._execute(call)
            return True

    async def _drain(self) -> None:
        # Each call pushes the deadline later: sleep until the latest one.
        while self._call is not None and trio.current_time() < self._deadline:  # noqa: ASYNC110
            await trio.sleep_until(self._deadline)
        await self.flush()


def open_debouncer(
    fn: Callable[P, object], delay: float, *, max_wait: float | None = None
) -> AbstractAsyncContextManager[Debouncer[P]]:
    """Open a :class:`Debouncer` that runs in a nursery owned by the ``async with`` block.

    ::

        async with open_debouncer(save, delay=0.3) as debounced_save:
            debounced_save(doc)        # sync, never blocks
            debounced_save(doc2)       # replaces doc: save(doc2) runs 0.3 s after this call

    On a normal exit the pending call, if any, runs at once (nothing is lost) and the block
    waits for it.  When the block raises or is cancelled, the pending call is discarded
    (counted and logged at WARNING) and the exception propagates unchanged.  An exception raised by
    ``fn`` propagates out of the block as itself (never wrapped in an ``ExceptionGroup``).

    Args and Raises:
        As for :class:`Debouncer` (checked when ``open_debouncer`` is called).

    Checkpoints:
        Entering is not a checkpoint; leaving normally is one.
    """
    _check_debounce(fn, delay, max_wait)
    return _open_runner(
        "open_debouncer()", lambda nursery: Debouncer(nursery, fn, delay, max_wait=max_wait)
    )


# --- throttler ------------------------------------------------------------------------------


@final
@attrs.frozen
class ThrottlerStats:
    """A snapshot of a :class:`Throttler`.

    Attributes:
        calls: calls made.
        runs: times ``fn`` ran.
        coalesced: trailing calls superseded by a later call in the same interval.
        dropped: calls ignored because ``trailing=False`` and an interval was running
            (the policy you chose; counted, not logged one by one).
        discarded: pending calls thrown away by ``cancel()``, ``close()`` or a failed block.
        pending: whether a call is waiting to run.
    """

    calls: int
    runs: int
    coalesced: int
    dropped: int
    discarded: int
    pending: bool


@final
@attrs.define(eq=False)
class Throttler(_Runner[P]):
    """Run ``fn`` at most ``per_second`` times a second, like lodash's ``throttle``.

    The rate is ``per_second``, as for the stream operator :func:`trio_orch.throttle`; the
    keyword ``interval=`` (seconds between the starts of two runs, ``1 / per_second``) says
    the same thing the other way round and is accepted instead.

    A call made while idle opens an interval; with ``leading=True`` it runs at once (in the
    runner task, without waiting).  Calls made during the interval are collapsed into one
    trailing call (the last arguments win) that runs when the interval ends and opens the next
    interval; with ``trailing=False`` they are dropped (counted in ``dropped``).  With
    ``leading=False`` the first call of a burst waits for the end of its interval.  Runs never
    overlap: if ``fn`` takes longer than ``interval``, the next run starts when it returns.

    Args:
        nursery: the nursery that runs the runner task (and therefore ``fn``).
        fn: a function or an ``async`` function.
        per_second: at most this many runs a second (finite, > 0).
        interval: instead of ``per_second``: minimum seconds between the starts of two runs
            (finite, > 0).
        leading: run the first call of a burst at once (default ``True``).
        trailing: run the last call made during an interval when it ends (default ``True``).

    Raises:
        TypeError: ``nursery`` is not a nursery, ``fn`` not callable, the rate not a number,
            or both ``per_second`` and ``interval`` given.
        ValueError: the rate is not finite and > 0, or ``leading`` and ``trailing`` are
            both false.

    Cancellation:
        As for :class:`Debouncer`.
    """

    _KIND: ClassVar[str] = "throttler"

    _per_second: float | None = attrs.field(default=None, alias="per_second")
    _interval: float | None = attrs.field(default=None, kw_only=True, alias="interval")
    _leading: bool = attrs.field(default=True, kw_only=True)
    _trailing: bool = attrs.field(default=True, kw_only=True)
    _leading_call: _Call | None = attrs.field(default=None, init=False)
    _trailing_call: _Call | None = attrs.field(default=None, init=False)
    _window_end: float = attrs.field(default=-math.inf, init=False)
    _dropped: int = attrs.field(default=0, init=False)

    def __attrs_post_init__(self) -> None:
        self._interval = _check_throttle(
            self._fn, self._per_second, self._interval, self._leading, self._trailing
        )
        if self._per_second is None:
            self._per_second = 1.0 / self._interval
        else:
            self._per_second = float(self._per_second)
        self._start()

    @property
    def per_second(self) -> float:
        """The rate: at most this many runs a second."""
        assert self._per_second is not None  # set in __attrs_post_init__
        return self._per_second

    @property
    def interval(self) -> float:
        """Seconds between the starts of two runs (``1 / per_second``)."""
        assert self._interval is not None  # set in __attrs_post_init__
        return self._interval

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> None:
        """Run ``fn(*args, **kwargs)`` now, at the end of the interval, or not at all.

        Raises:
            trio.ClosedResourceError: the throttler is closed.
        """
        self._record_call()
        call = (args, kwargs)
        now = trio.current_time()
        if now >= self._window_end and not self.pending:
            self._window_end = now + self.interval
            if self._leading:
                self._leading_call = call
            else:
                self._trailing_call = call
        elif self._trailing:
            if self._trailing_call is not None:
                self._coalesced += 1
            self._trailing_call = call
        else:
            self._dropped += 1
        self._wake.set()

    @property
    def pending(self) -> bool:
        """Whether a call waits to run."""
        return self._leading_call is not None or self._trailing_call is not None

    @property
    def stats(self) -> ThrottlerStats:
        """A :class:`ThrottlerStats` snapshot (sync; not a checkpoint)."""
        return ThrottlerStats(
            self._calls,
            self._runs,
            self._coalesced,
            self._dropped,
            self._discarded,
            self.pending,
        )

    def cancel(self) -> int:
        """Discard the pending calls; return how many were discarded (0, 1 or 2).

        Counted in ``stats.discarded``, not logged.  Not a checkpoint.
        """
        count = (self._leading_call is not None) + (self._trailing_call is not None)
        self._leading_call = self._trailing_call = None
        self._discarded += count
        return count

    async def flush(self) -> bool:
        """Run the pending calls now, in the calling task (after any run in progress ends).

        A flushed trailing call opens a new interval, as if it had run on time.

        Returns:
            Whether any call ran.

        Raises:
            Exception: whatever ``fn`` raises.

        Checkpoints:
            Always a checkpoint.
        """
        leading = await self._run_leading()
        trailing = await self._run_trailing()
        return leading or trailing

    async def _run_leading(self) -> bool:
        async with self._lock:
            call, self._leading_call = self._leading_call, None
            if call is None:
                return False
            await self._execute(call)
            return True

    async def _run_trailing(self) -> bool:
        async with self._lock:
            call, self._trailing_call = self._trailing_call, None
            if call is None:
                return False
            self._window_end = trio.current_time() + self.interval
            await self._execute(call)
            return True

    async def _drain(self) -> None:  # noqa: ASYNC910 - the runner checkpointed in wake.wait()
        while self.pending:
            if self._leading_call is not None:
                await self._run_leading()
            elif trio.current_time() < self._window_end:
                await trio.sleep_until(self._window_end)
            else:
                await self._run_trailing()


def open_throttler(
    fn: Callable[P, object],
    per_second: float | None = None,
    *,
    interval: float | None = None,
    leading: bool = True,
    trailing: bool = True,
) -> AbstractAsyncContextManager[Throttler[P]]:
    """Open a :class:`Throttler` that runs in a nursery owned by the ``async with`` block.

    ::

        async with open_throttler(render, per_second=10) as throttled_render:
            for frame in frames:
                throttled_render(frame)     # at most 10 renders a second

    ``interval=0.1`` instead of ``per_second=10`` says the same thing.

    On a normal exit pending calls run at once and the block waits for them.  When the block
    raises or is cancelled, pending calls are discarded (counted and logged at WARNING) and
    the exception propagates unchanged; an exception from ``fn`` propagates out of the block
    as itself.

    Args and Raises:
        As for :class:`Throttler` (checked when ``open_throttler`` is called).

    Checkpoints:
        Entering is not a checkpoint; leaving normally is one.
    """
    _check_throttle(fn, per_second, interval, leading, trailing)
    return _open_runner(
        "open_throttler()",
        lambda nursery: Throttler(
            nursery, fn, per_second, interval=interval, leading=leading, trailing=trailing
        ),
    )
