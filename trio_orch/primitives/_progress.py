"""The progress tracker: the event loop records samples, a worker thread computes the estimates.

``task.advance(n)`` is one float addition on the task handle: O(1), no allocation, no clock read.
``tracker.track(name)`` is O(1) too: one dict insertion, nothing is copied.  Once per tick the
tracker's own task reads the clock and every task's counter (one list, the samples of that
instant) and hands them to the thread runner (``trio.to_thread.run_sync`` unless another is
given); the worker feeds each task's :class:`~trio_orch.EtaEstimator` and returns a fresh mapping
of snapshots, which the loop publishes with one assignment and one ``Event.set``.  The
estimators are touched only by the worker, one batch at a time (a ``trio.Lock`` serializes the
tick and :meth:`ProgressTracker.refresh`), apart from the first sample that ``track`` records
before the worker can see the task.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
import types
import typing

import attrs
import trio

from trio_orch._groups import open_nursery_unwrapped
from trio_orch._log import get_logger
from trio_orch._validate import check_callable, check_number
from trio_orch.primitives._eta import EtaEstimator, ProgressSnapshot

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

T = typing.TypeVar("T")

__all__ = [
    "ProgressStats",
    "ProgressTask",
    "ProgressTracker",
    "ThreadRunner",
    "open_progress_tracker",
]

_logger = get_logger("progress")

# The worker releases the GIL after this many estimates (well under a millisecond of work), so
# that the event loop waits at most that long for it, instead of a whole batch.
_GIL_CHUNK = 32


class ThreadRunner(typing.Protocol):
    """How a tracker runs a batch of estimates: ``await run_sync(fn)`` returns ``fn()``.

    ``trio.to_thread.run_sync`` (the default) runs it in a worker thread.  Tests that use
    ``autojump_clock`` can pass a runner that calls ``fn()`` on the spot, so that no virtual time
    passes while a batch computes::

        async def run_inline(fn):
            await trio.lowlevel.checkpoint()
            return fn()

    Cancellation:
        Up to the runner: the default waits for a running thread to finish (no thread outlives
        the tracker), then raises ``Cancelled``.  Whatever a runner raises, the batch is not
        published and the error propagates (from :meth:`ProgressTracker.refresh`, or out of
        the ``open_progress_tracker`` block for a tick).
    """

    def __call__(self, fn: Callable[[], T], /) -> Awaitable[T]:
        """Run ``fn()`` (in a worker thread, or not) and return its result."""
        ...


@typing.final
@attrs.define(eq=False)
class ProgressTask:
    """The handle of one tracked operation; made by :meth:`ProgressTracker.track`.

    Its methods are synchronous and O(1): they only change a counter, which the tracker reads on
    its next tick.  They never block and are not checkpoints.

    Attributes:
        name: the name it is tracked under.
        total: the amount of work that makes it complete (``0`` means complete at once).
        weight: its share of :meth:`ProgressTracker.overall`.
    """

    name: str
    total: float
    weight: float
    _value: float = attrs.field(default=0.0, alias="_value")
    _estimator: EtaEstimator = attrs.field(factory=EtaEstimator, alias="_estimator")

    @property
    def value(self) -> float:
        """The work done so far, in units of :attr:`total`."""
        return self._value

    @property
    def fraction(self) -> float:
        """The fraction done right now, clamped to ``[0, 1]`` (``1.0`` when ``total`` is 0)."""
        if self.total == 0:
            return 1.0
        return min(1.0, max(0.0, self._value / self.total))

    def advance(self, amount: float = 1) -> None:
        """Add ``amount`` units of work done.

        Raises:
            TypeError: ``amount`` is not a number (a bool is not).
            ValueError: ``amount`` is negative, infinite or NaN (use :meth:`set` to go back).
        """
        try:
            ok = 0 <= amount < _INF  # one comparison chain: False for NaN too
        except TypeError:
            ok = False
        if not ok or amount.__class__ is bool:
            _reject_amount(amount)
        self._value += amount

    def set(self, value: float) -> None:
        """Set the work done to ``value`` (going back is allowed; the display never runs back).

        Raises:
            TypeError: ``value`` is not a number.
            ValueError: ``value`` is negative, NaN or infinite.
        """
        self._value = check_number("value", value)

    def done(self) -> None:
        """Mark the operation complete: the work done becomes :attr:`total`."""
        self._value = max(self._value, self.total)


_INF = math.inf


def _reject_amount(amount: object) -> typing.NoReturn:
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        msg = f"amount must be a number, got {amount!r}"
        raise TypeError(msg)
    if math.isinf(amount):
        msg = f"amount must be finite, got {amount!r}"
        raise ValueError(msg)
    msg = f"amount must be >= 0, got {amount!r}"
    raise ValueError(msg)


@typing.final
@attrs.frozen
class ProgressStats:
    """Statistics of a :class:`ProgressTracker`.

    Attributes:
        tasks: how many tasks are tracked.
        batches: how many estimate batches the worker thread has computed.
        skipped_ticks: ticks skipped because a batch overran its tick.
    """

    tasks: int
    batches: int
    skipped_ticks: int


@attrs.frozen
class _Batch:
    """What the loop publishes after each batch: replaced as a whole, never mutated."""

    snapshots: Mapping[str, ProgressSnapshot]
    overall: ProgressSnapshot
    number: int


@typing.final
@attrs.define(eq=False)
class ProgressTracker:
    """Tracks many operations and estimates their progress and ETA in a worker thread.

    Made by :func:`open_progress_tracker`, which owns the task that ticks.  Recording progress
    (:meth:`track`, :meth:`ProgressTask.advance`) and reading estimates (:meth:`snapshot`,
    :meth:`overall`) are synchronous, O(1) and never block; only the worker thread computes.
    """

    tick: float
    _run_sync: ThreadRunner
    _tasks: dict[str, ProgressTask] = attrs.field(factory=dict, init=False)
    # Tasks tracked since the batch that will first estimate them started: name -> (the
    # number of batches started when it was tracked, its first snapshot).
    _fresh: dict[str, tuple[int, ProgressSnapshot]] = attrs.field(factory=dict, init=False)
    _merged: Mapping[str, ProgressSnapshot] | None = attrs.field(default=None, init=False)
    _started: int = attrs.field(default=0, init=False)
    _overall_estimator: EtaEstimator = attrs.field(factory=EtaEstimator, init=False)
    _batch: _Batch = attrs.field(init=False)
    _changed: trio.Event = attrs.field(factory=trio.Event, init=False)
    _lock: trio.Lock = attrs.field(factory=trio.Lock, init=False)
    _closed: bool = attrs.field(default=False, init=False)
    _skipped_ticks: int = attrs.field(default=0, init=False)

    def __attrs_post_init__(self) -> None:
        now = trio.current_time()
        overall = ProgressSnapshot(progress=0.0, smoothed=0.0, rate=0.0, eta=None, at=now)
        self._batch = _Batch(types.MappingProxyType({}), overall, 0)

    def track(self, name: str, *, total: float = 1.0, weight: float = 1.0) -> ProgressTask:
        """Start tracking an operation of ``total`` units of work under ``name``.

        Its first sample (0 done, or complete if ``total`` is 0) is taken now, so the time until
        the first tick counts towards its rate.  O(1): nothing is copied.  Not a checkpoint.

        Args:
            name: a name not tracked yet.
            total: the amount of work, finite and ``>= 0``; ``0`` means complete at once.
            weight: its share of :meth:`overall`, finite and ``> 0`` (e.g. a step's expected
                duration).

        Returns:
            The :class:`ProgressTask` handle to record progress on.

        Raises:
            TypeError: ``name`` is not a str, or ``total`` or ``weight`` is not a number.
            ValueError: ``name`` is already tracked, or ``total``/``weight`` is out of range.
            trio.ClosedResourceError: the tracker is closed.
        """
        if self._closed:
            msg = "the progress tracker is closed"
            raise trio.ClosedResourceError(msg)
        checked: object = name
        if not isinstance(checked, str):
            msg = f"name must be a str, got {name!r}"
            raise TypeError(msg)
        if name in self._tasks:
            msg = f"name must not be tracked already, got {name!r}"
            raise ValueError(msg)
        total = check_number("total", total)
        weight = check_number("weight", weight, strict=True)
        task = ProgressTask(name, total, weight)
        # The worker cannot see the task yet: this first update happens on the loop.
        first = task._estimator.update(task.fraction, at=trio.current_time())
        self._tasks[name] = task
        self._fresh[name] = (self._started, first)
        self._merged = None
        return task

    def untrack(self, name: str) -> None:
        """Stop tracking ``name``: it leaves :meth:`snapshots` and :meth:`overall` at the next
        batch.  O(1).  Not a checkpoint.

        Raises:
            KeyError: ``name`` is not tracked.
        """
        self._task(name)
        del self._tasks[name]
        if self._fresh.pop(name, None) is not None:
            self._merged = None

    def task(self, name: str) -> ProgressTask:
        """The handle tracked under ``name``.

        Raises:
            KeyError: ``name`` is not tracked.
        """
        return self._task(name)

    def _task(self, name: str) -> ProgressTask:
        try:
            return self._tasks[name]
        except KeyError:
            msg = f"no progress task named {name!r}"
            raise KeyError(msg) from None

    def snapshot(self, name: str) -> ProgressSnapshot:
        """The latest estimate for ``name`` (from the last batch, or its first sample).

        Raises:
            KeyError: ``name`` has no estimate (it was never tracked).
        """
        fresh = self._fresh.get(name)
        if fresh is not None:
            return fresh[1]
        try:
            return self._batch.snapshots[name]
        except KeyError:
            msg = f"no progress task named {name!r}"
            raise KeyError(msg) from None

    def snapshots(self) -> Mapping[str, ProgressSnapshot]:
        """The latest estimates of every task, by name (a read-only mapping that never changes).

        Tasks tracked since the last batch appear with their first snapshot: the first call
        after such a ``track`` builds the merged mapping (O(n)), later calls reuse it.
        """
        if not self._fresh:
            return self._batch.snapshots
        merged = self._merged
        if merged is None:
            fresh = {name: snap for name, (_, snap) in self._fresh.items()}
            merged = self._merged = types.MappingProxyType({**self._batch.snapshots, **fresh})
        return merged

    def overall(self) -> ProgressSnapshot:
        """The latest weighted estimate over every tracked task.

        Its fraction is ``sum(weight * smoothed) / sum(weight)``; its rate and ETA come from an
        estimator fed with that fraction.  With no task tracked, the fraction is 0.
        """
        return self._batch.overall

    @property
    def stats(self) -> ProgressStats:
        """A snapshot of the tracker's counters."""
        return ProgressStats(
            tasks=len(self._tasks), batches=self._batch.number, skipped_ticks=self._skipped_ticks
        )

    @property
    def closed(self) -> bool:
        """``True`` once the ``open_progress_tracker`` block has exited."""
        return self._closed

    async def refresh(self) -> Mapping[str, ProgressSnapshot]:
        """Compute a batch of estimates now, in a worker thread, and publish it.

        Returns:
            The new snapshots by name.

        Raises:
            trio.ClosedResourceError: the tracker is closed.

        Cancellation:
            With the default thread runner, if cancelled while the worker computes it waits for
            the thread to finish (a batch takes a few microseconds per task), so no thread
            outlives it, then raises ``Cancelled``; the batch may or may not have been
            published.

        Checkpoints:
            Always.
        """
        if self._closed:
            await trio.lowlevel.checkpoint()
            msg = "the progress tracker is closed"
            raise trio.ClosedResourceError(msg)
        return await self._run_batch()

    def updates(self) -> _Updates:
        """Iterate over the snapshots published by each batch, as they come.

        ``async for snapshots in tracker.updates():`` yields the latest read-only mapping of
        snapshots after each batch; a slow consumer skips intermediate batches (only the latest
        is kept, so nothing is buffered).  Iteration ends when the tracker closes.
        """
        return _Updates(self, self._batch.number)

    async def _run_batch(self) -> Mapping[str, ProgressSnapshot]:
        async with self._lock:
            now = trio.current_time()
            self._started += 1
            started = self._started
            tasks = list(self._tasks.values())
            # The samples: every counter read at the same instant, one attribute read per task.
            values = [task._value for task in tasks]
            number = self._batch.number + 1
            compute = functools.partial(self._compute, tasks, values, now, number)
            batch = await self._run_sync(compute)
            # Tasks tracked while the worker ran keep their first snapshot until the next batch.
            self._fresh = {n: e for n, e in self._fresh.items() if e[0] >= started}
            self._merged = None
            self._batch = batch
            self._wake()
            return self.snapshots()

    def _compute(
        self, tasks: list[ProgressTask], values: list[float], now: float, number: int
    ) -> _Batch:
        """Runs in the worker thread: feeds each task's estimator with its sample."""
        snapshots: dict[str, ProgressSnapshot] = {}
        weighted = weights = 0.0
        for n, (task, value) in enumerate(zip(tasks, values, strict=True), start=1):
            if n % _GIL_CHUNK == 0:
                time.sleep(0)  # let the event loop have the GIL: it never waits a whole batch
            estimator = task._estimator
            snap = estimator.last
            # A completed task's estimate cannot change any more: skip its estimator.
            if snap is None or snap.smoothed < 1.0 or value < task.total:
                total = task.total
                fraction = 1.0 if total == 0 else value / total
                snap = estimator.update(min(1.0, max(0.0, fraction)), at=now)
            snapshots[task.name] = snap
            weighted += task.weight * snap.smoothed
            weights += task.weight
        overall = self._overall_estimator.update(weighted / weights if weights else 0.0, at=now)
        return _Batch(types.MappingProxyType(snapshots), overall, number)

    def _wake(self) -> None:
        changed, self._changed = self._changed, trio.Event()
        changed.set()

    async def _run_ticks(self) -> None:
        start = trio.current_time()
        ticks = 0
        while True:
            ticks += 1
            await trio.sleep_until(start + ticks * self.tick)
            await self._run_batch()
            behind = math.floor((trio.current_time() - start) / self.tick) - ticks
            if behind > 0:
                self._skipped_ticks += behind
                ticks += behind
                _logger.debug("trio_orch.progress.ticks_skipped", skipped=behind, tick=self.tick)

    def _close(self) -> None:
        self._closed = True
        self._wake()


@typing.final
@attrs.define(eq=False)
class _Updates:
    """The async iterator returned by :meth:`ProgressTracker.updates`."""

    _tracker: ProgressTracker
    _seen: int

    def __aiter__(self) -> _Updates:
        return self

    async def __anext__(self) -> Mapping[str, ProgressSnapshot]:
        """Wait for a batch newer than the last one yielded; return its snapshots.

        Raises:
            StopAsyncIteration: the tracker closed.

        Cancellation:
            Either a mapping is returned or ``Cancelled`` is raised and the next call returns
            the same (or a newer) batch.

        Checkpoints:
            Always.
        """
        tracker = self._tracker
        while tracker._batch.number <= self._seen and not tracker._closed:
            await tracker._changed.wait()
        await trio.lowlevel.checkpoint()
        if tracker._batch.number <= self._seen:
            raise StopAsyncIteration
        self._seen = tracker._batch.number
        return tracker.snapshots()


@contextlib.asynccontextmanager
async def open_progress_tracker(
    *, tick: float = 0.1, run_sync: ThreadRunner | None = None
) -> AsyncIterator[ProgressTracker]:
    """Open a :class:`ProgressTracker` whose estimates are recomputed every ``tick`` seconds.

    The block owns one task that wakes every ``tick`` seconds (``trio.current_time()``, so
    ``autojump_clock`` drives it) and runs one batch of estimates through ``run_sync``, a worker
    thread by default.  A batch that overruns its tick skips the missed ticks (counted in
    :attr:`ProgressTracker.stats`, logged at debug as ``trio_orch.progress.ticks_skipped``).

    Args:
        tick: seconds between batches; finite and ``> 0``.
        run_sync: how a batch runs (see :class:`ThreadRunner`): ``trio.to_thread.run_sync``
            when ``None``.  While a worker thread computes, Trio's loop is idle, so an
            ``autojump_clock`` would move virtual time on; tests that assert exact times pass a
            runner that computes on the spot.

    Raises:
        TypeError: ``tick`` is not a number, or ``run_sync`` is not callable.
        ValueError: ``tick`` is out of range.

    Cancellation:
        On exit (normal, error or cancellation) the ticking task is cancelled; a batch already
        in the worker thread is waited for, so no thread outlives the block.  The tracker is then
        closed: :meth:`ProgressTracker.updates` iterators end, ``track`` and ``refresh`` raise
        ``trio.ClosedResourceError``, the last snapshots stay readable.  An error from the body
        propagates unchanged (never wrapped in an ``ExceptionGroup``).
    """
    tick = check_number("tick", tick, strict=True)
    check_callable("run_sync", run_sync, allow_none=True)
    tracker = ProgressTracker(tick, trio.to_thread.run_sync if run_sync is None else run_sync)
    async with open_nursery_unwrapped("open_progress_tracker()") as nursery:
        nursery.start_soon(tracker._run_ticks)
        try:
            yield tracker
        finally:
            tracker._close()
            nursery.cancel_scope.cancel(reason="progress tracker closed")
