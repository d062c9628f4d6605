"""The progress tracker: the event loop records samples, a worker thread computes the estimates.

``task.advance(n)`` is one float addition on the task handle: O(1), no allocation, no clock read.
Once per tick the tracker's own task reads the clock and every task's counter (one list, the
samples of that instant) and hands them to ``trio.to_thread.run_sync``; the worker thread feeds
each task's :class:`~trio_orch.EtaEstimator` and returns a fresh mapping of snapshots, which the
loop publishes with one assignment and one ``Event.set``.  The estimators are touched only by the worker, one
batch at a time (a ``trio.Lock`` serializes the tick and :meth:`ProgressTracker.refresh`).
"""

from __future__ import annotations

import contextlib
import math
import time
import types
import typing

import attrs
import structlog
import trio
import trio.testing

from trio_orch._groups import open_nursery_unwrapped
from trio_orch._validate import check_number
from trio_orch.primitives._eta import EtaEstimator, ProgressSnapshot

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Mapping

T = typing.TypeVar("T")
Ts = typing.TypeVarTuple("Ts")

__all__ = ["ProgressStats", "ProgressTask", "ProgressTracker", "open_progress_tracker"]

_log = structlog.get_logger()

# The worker releases the GIL after this many estimates (about 0.3 ms of work), so that the
# event loop waits at most that long for it, instead of a whole batch.
_GIL_CHUNK = 64


@typing.final
@attrs.define(eq=False)
class ProgressTask:
    """The handle of one tracked operation; made by :meth:`ProgressTracker.track`.

    Its methods are synchronous and O(1): they only change a counter, which the tracker's worker
    thread reads on its next tick.  They never block and are not checkpoints.

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
    (:meth:`ProgressTask.advance`) and reading estimates (:meth:`snapshot`, :meth:`overall`) are
    synchronous and never block; only the worker thread computes.
    """

    tick: float
    _tasks: dict[str, ProgressTask] = attrs.field(factory=dict, init=False)
    _frozen: tuple[ProgressTask, ...] = attrs.field(default=(), init=False)
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
        the first tick counts towards its rate.  Not a checkpoint.

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
        # The estimator is not used by the worker yet: this first update happens on the loop.
        first = task._estimator.update(task.fraction, at=trio.current_time())
        self._tasks[name] = task
        self._frozen = (*self._frozen, task)
        snapshots = dict(self._batch.snapshots)
        snapshots[name] = first
        self._batch = attrs.evolve(self._batch, snapshots=types.MappingProxyType(snapshots))
        return task

    def untrack(self, name: str) -> None:
        """Stop tracking ``name``: it leaves :meth:`snapshots` and :meth:`overall` at the next
        batch.  Not a checkpoint.

        Raises:
            KeyError: ``name`` is not tracked.
        """
        task = self._task(name)
        del self._tasks[name]
        self._frozen = tuple(t for t in self._frozen if t is not task)

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
        try:
            return self._batch.snapshots[name]
        except KeyError:
            msg = f"no progress task named {name!r}"
            raise KeyError(msg) from None

    def snapshots(self) -> Mapping[str, ProgressSnapshot]:
        """The latest estimates of every task, by name (a read-only mapping that never changes)."""
        return self._batch.snapshots

    def overall(self) -> ProgressSnapshot:
        """The latest weighted estimate over every tracked task.

        Its fraction is ``sum(weight * smoothed) / sum(weight)``; its rate and ETA come from an
        estimator fed with that fraction.  With no task tracked, the fraction is 0.
        """
        return self._batch.overall

    def statistics(self) -> ProgressStats:
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
            If cancelled while the worker computes, it waits for the thread to finish (a batch
            takes about a microsecond per task), so no thread outlives it, then raises
            ``Cancelled``; the batch may or may not have been published.

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
            tasks = self._frozen
            # The samples: every counter read at the same instant, one attribute read per task.
            values = [task._value for task in tasks]
            previous = self._batch
            batch = await _in_worker_thread(self._compute, tasks, values, now, previous)
            if self._frozen is not tasks:
                batch = self._merge_tracked_meanwhile(batch)
            self._batch = batch
            self._wake()
            return batch.snapshots

    def _compute(
        self, tasks: tuple[ProgressTask, ...], values: list[float], now: float, previous: _Batch
    ) -> _Batch:
        """Runs in the worker thread: feeds each task's estimator with its sample."""
        snapshots: dict[str, ProgressSnapshot] = {}
        old = previous.snapshots
        weighted = weights = 0.0
        for n, (task, value) in enumerate(zip(tasks, values, strict=True), start=1):
            if n % _GIL_CHUNK == 0:
                time.sleep(0)  # let the event loop have the GIL: it never waits a whole batch
            snap = old.get(task.name)
            # A completed task's estimate cannot change any more: skip its estimator.
            if snap is None or snap.smoothed < 1.0 or value < task.total:
                total = task.total
                fraction = 1.0 if total == 0 else value / total
                snap = task._estimator.update(min(1.0, max(0.0, fraction)), at=now)
            snapshots[task.name] = snap
            weighted += task.weight * snap.smoothed
            weights += task.weight
        overall = self._overall_estimator.update(weighted / weights if weights else 0.0, at=now)
        return _Batch(types.MappingProxyType(snapshots), overall, previous.number + 1)

    def _merge_tracked_meanwhile(self, batch: _Batch) -> _Batch:
        # Tasks tracked while the worker ran keep their first snapshot until the next batch.
        current = self._batch.snapshots
        fresh = {n: current[n] for n in self._tasks if n not in batch.snapshots}
        if not fresh:
            return batch
        return attrs.evolve(batch, snapshots=types.MappingProxyType({**batch.snapshots, **fresh}))

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
                _log.debug("trio_orch.progress.ticks_skipped", skipped=behind, tick=self.tick)

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
        batch = tracker._batch
        self._seen = batch.number
        return batch.snapshots


async def _in_worker_thread(fn: Callable[[*Ts], T], *args: *Ts) -> T:
    """``trio.to_thread.run_sync(fn, *args)``, keeping a MockClock's virtual time still meanwhile.

    Waiting for a thread leaves the run loop idle, and an autojumping ``MockClock`` would jump
    to the next deadline while the worker computes, so that virtual time would depend on the
    thread's speed.  Under a MockClock this waits by checkpointing until the thread is done,
    which keeps the loop busy: a batch takes no virtual time and tests stay deterministic.
    """
    if not isinstance(trio.lowlevel.current_clock(), trio.testing.MockClock):
        return await trio.to_thread.run_sync(fn, *args)
    result: list[T] = []

    async def call() -> None:
        result.append(await trio.to_thread.run_sync(fn, *args))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(call)
        while not result:  # busy on purpose: waiting on an Event would leave the loop idle
            await trio.lowlevel.checkpoint()
    return result[0]


@contextlib.asynccontextmanager
async def open_progress_tracker(*, tick: float = 0.1) -> AsyncIterator[ProgressTracker]:
    """Open a :class:`ProgressTracker` whose estimates are recomputed every ``tick`` seconds.

    The block owns one task that wakes every ``tick`` seconds (``trio.current_time()``, so
    ``autojump_clock`` drives it) and runs one batch of estimates in a worker thread
    (``trio.to_thread.run_sync``).  A batch that overruns its tick skips the missed ticks.

    Args:
        tick: seconds between batches; finite and ``> 0``.

    Raises:
        TypeError: ``tick`` is not a number.
        ValueError: ``tick`` is out of range.

    Cancellation:
        On exit (normal, error or cancellation) the ticking task is cancelled; a batch already
        in the worker thread is waited for, so no thread outlives the block.  The tracker is then
        closed: :meth:`ProgressTracker.updates` iterators end, ``track`` and ``refresh`` raise
        ``trio.ClosedResourceError``, the last snapshots stay readable.  An error from the body
        propagates unchanged (never wrapped in an ``ExceptionGroup``).
    """
    tick = check_number("tick", tick, strict=True)
    tracker = ProgressTracker(tick)
    async with open_nursery_unwrapped("open_progress_tracker()") as nursery:
        nursery.start_soon(tracker._run_ticks)
        try:
            yield tracker
        finally:
            tracker._close()
            nursery.cancel_scope.cancel(reason="progress tracker closed")
