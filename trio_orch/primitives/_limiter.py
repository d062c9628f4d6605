"""A FIFO-fair concurrency limiter with a bounded wait queue and an optional start rate.

:class:`ConcurrencyLimiter` lets at most ``max_concurrent`` jobs run at once.  Callers that find
every slot taken wait in one first-in, first-out queue; a released slot is handed straight to
the first waiter (no thundering herd, no barging: a newcomer never overtakes a waiter).  When
``queue_limit`` callers already wait, a newcomer is refused at once with
:class:`trio_orch.LimiterFull`.  ``max_per_second`` adds a start-rate limit (a token bucket on
trio time, see ``_rate.py``).

The waiters are the callers' own tasks: the limiter owns no task and needs no nursery.
:meth:`ConcurrencyLimiter.map` is the exception that proves the rule — it runs a fixed pool of
workers in a nursery that lives exactly as long as its ``async with`` block.

Implementation notes: the queue is a deque of small waiter records.  A cancelled waiter only
clears its record (O(1)); dead records are skipped on hand-off and compacted away once they
outnumber the live ones, so the deque stays proportional to the number of live waiters.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterable, Iterable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Generic, TypeVar, TypeVarTuple, Unpack, final

import attrs
import trio
from trio.lowlevel import (
    Abort,
    Task,
    cancel_shielded_checkpoint,
    checkpoint_if_cancelled,
    current_task,
    reschedule,
    wait_task_rescheduled,
)

from trio_orch._exceptions import LimiterFull
from trio_orch._groups import only_cancelled, open_nursery_unwrapped
from trio_orch._log import DropLogger, get_logger
from trio_orch._validate import check_callable, int_validator, number_validator
from trio_orch.primitives._rate import TokenBucket

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
    from contextlib import AbstractAsyncContextManager
    from types import TracebackType

    from trio_orch.primitives._rate import Reservation

T = TypeVar("T")
R = TypeVar("R")
Ts = TypeVarTuple("Ts")

_logger = get_logger("limiter")

#: Dead waiter records are compacted away once there are more than this many of them
#: and they outnumber the live waiters.
_COMPACT_MIN = 64

_MISSING: Any = object()


@final
@attrs.frozen
class LimiterStats:
    """A snapshot of a :class:`ConcurrencyLimiter`, from :attr:`ConcurrencyLimiter.stats`.

    Attributes:
        running: jobs started and not finished (never more than ``max_concurrent``).
        waiting: callers admitted to the queue and not started yet (waiting for a slot, or
            holding one and waiting for their start time under ``max_per_second``).
        completed: jobs that ran to the end: returned, or raised an exception other than
            :class:`trio.Cancelled` (those are counted in ``failed`` too).
        rejected: calls refused with :class:`trio_orch.LimiterFull`.
        failed: completed jobs that raised.
        cancelled: callers cancelled while waiting or while running.

    Every call ends in exactly one of ``completed``, ``rejected`` and ``cancelled``.
    """

    running: int
    waiting: int
    completed: int
    rejected: int
    failed: int = 0
    cancelled: int = 0


@attrs.define(eq=False)
class _Waiter:
    """One parked caller; ``task`` is cleared when it leaves the queue (hand-off or cancel).

    ``reservation`` is the start time reserved for it at hand-off, under a start rate.
    """

    task: Task | None
    limiter: ConcurrencyLimiter = attrs.field(repr=False)
    reservation: Reservation | None = None

    def abort(self, _: object) -> Abort:
        self.task = None
        self.limiter._forget_waiter()
        return Abort.SUCCEEDED


def _check_map_args(fn: object, items: object, ordered: object) -> None:
    check_callable("fn", fn)
    if not isinstance(items, Iterable | AsyncIterable):
        msg = f"items must be an iterable or an async iterable, got {items!r}"
        raise TypeError(msg)
    if not isinstance(ordered, bool):
        msg = f"ordered must be a bool, got {ordered!r}"
        raise TypeError(msg)


@final
# NO_OP: validators run in __init__ only; a setattr hook would slow down every counter update.
@attrs.define(eq=False, repr=False, on_setattr=attrs.setters.NO_OP)
class ConcurrencyLimiter:
    """Run jobs at most ``max_concurrent`` at a time, first come first served.

    ::

        limiter = ConcurrencyLimiter(max_concurrent=5, queue_limit=20, max_per_second=None)
        result = await limiter.run(download, "file1.zip")
        async with limiter.slot():
            ...
        async with limiter.map(download, names) as results:
            async for result in results:
                ...
        limiter.stats  # LimiterStats(running, waiting, completed, rejected, failed, cancelled)

    Args:
        max_concurrent: how many jobs may run at once (an int >= 1).
        queue_limit: how many callers may wait for a slot; one more is refused with
            :class:`trio_orch.LimiterFull` at once.  ``None`` (the default) lets any number
            wait: the waiters are the caller's own tasks, so the caller's nursery is the bound.
        max_per_second: at most this many job starts per second (a token bucket on trio time),
            or ``None`` for no start-rate limit.
        burst: how many starts may happen back to back after an idle spell (the bucket's
            size, default 1: starts are at least ``1 / max_per_second`` apart).  Only valid
            with ``max_per_second``.

    Raises:
        TypeError: an argument has the wrong type (bools are not ints).
        ValueError: an argument is out of range; the message names it and shows the value.

    One limiter may be shared by any number of tasks of one trio run.
    """

    _max: int = attrs.field(alias="max_concurrent", validator=int_validator(minimum=1))
    _queue_limit: int | None = attrs.field(
        default=None,
        kw_only=True,
        alias="queue_limit",
        validator=int_validator(minimum=0, allow_none=True),
    )
    _max_per_second: float | None = attrs.field(
        default=None,
        kw_only=True,
        alias="max_per_second",
        validator=number_validator(strict=True, allow_none=True),
    )
    _burst: int = attrs.field(
        default=1, kw_only=True, alias="burst", validator=int_validator(minimum=1)
    )

    _bucket: TokenBucket | None = attrs.field(init=False, default=None)
    # Slots held, including the holders that wait for their start time (_pacing of them).
    _used: int = attrs.field(init=False, default=0)
    _pacing: int = attrs.field(init=False, default=0)
    # Parked callers in FIFO order; records of cancelled ones (_dead) are skipped lazily.
    _waiters: deque[_Waiter] = attrs.field(init=False, factory=deque)
    _live: int = attrs.field(init=False, default=0)
    _dead: int = attrs.field(init=False, default=0)
    _completed: int = attrs.field(init=False, default=0)
    # Counts the rejections and logs them, rate-limited; built at the first one.
    _rejects: DropLogger | None = attrs.field(init=False, default=None)
    _failed: int = attrs.field(init=False, default=0)
    _cancelled: int = attrs.field(init=False, default=0)

    def __attrs_post_init__(self) -> None:
        if self._max_per_second is not None:
            self._bucket = TokenBucket(float(self._max_per_second), self._burst)
        elif self._burst != 1:
            msg = f"burst needs max_per_second, got burst={self._burst!r}"
            raise ValueError(msg)

    def __repr__(self) -> str:
        return (
            f"ConcurrencyLimiter(max_concurrent={self._max!r}, queue_limit={self._queue_limit!r}, "
            f"max_per_second={self._max_per_second!r}, burst={self._burst!r})"
        )

    @property
    def max_concurrent(self) -> int:
        """The number of slots."""
        return self._max

    @property
    def queue_limit(self) -> int | None:
        """How many callers may wait (``None``: unbounded)."""
        return self._queue_limit

    @property
    def max_per_second(self) -> float | None:
        """The start-rate limit, or ``None``."""
        return self._max_per_second

    @property
    def burst(self) -> int:
        """How many starts may follow each other without spacing (1 unless set)."""
        return self._burst

    @property
    def stats(self) -> LimiterStats:
        """A frozen snapshot of the counters (sync; not a checkpoint)."""
        return LimiterStats(
            running=self._used - self._pacing,
            waiting=self._live + self._pacing,
            completed=self._completed,
            rejected=0 if self._rejects is None else self._rejects.count,
            failed=self._failed,
            cancelled=self._cancelled,
        )

    # --- the public operations --------------------------------------------------------------

    async def run(self, fn: Callable[[Unpack[Ts]], Awaitable[T]], *args: *Ts) -> T:
        """Run ``await fn(*args)`` in a slot; return its result.

        Waits (first in, first out) for a free slot and, with ``max_per_second``, for the
        start time.  The slot is released however ``fn`` ends.

        Returns:
            What ``fn`` returned.

        Raises:
            LimiterFull: ``queue_limit`` callers already wait.  Raised at once; the call does
                not take a slot and is counted in ``stats.rejected``.
            Exception: whatever ``fn`` raised, unchanged.

        Cancellation:
            A waiting caller that is cancelled leaves the queue (the next one moves up) and
            ``fn`` is never called.  A running job that is cancelled releases its slot, which
            goes to the first waiter.

        Checkpoints:
            Always at least one checkpoint before ``fn`` is called, even when a slot is free.
        """
        await checkpoint_if_cancelled()
        if self._used < self._max and not self._live and self._bucket is None:
            self._used += 1
            await cancel_shielded_checkpoint()
        else:
            await self._acquire(bounded=True)
        try:
            result = await fn(*args)
        except BaseException as exc:
            self._count_error(exc)
            raise
        finally:
            self._release()
        self._completed += 1
        return result

    def slot(self) -> AbstractAsyncContextManager[None]:
        """Hold one slot for the body of an ``async with`` block.

        ::

            async with limiter.slot():
                await download("file1.zip")

        Entering behaves as :meth:`run` before it calls ``fn`` (same queue, same
        :class:`trio_orch.LimiterFull`, same checkpoint); leaving releases the slot and
        counts the body as completed, failed or cancelled.  Leaving is not a checkpoint.
        """
        return _Slot(self)

    def map(
        self,
        fn: Callable[[T], Awaitable[R]],
        items: Iterable[T] | AsyncIterable[T],
        *,
        ordered: bool = False,
    ) -> AbstractAsyncContextManager[AsyncIterator[R]]:
        """Run ``fn`` on every item through this limiter; iterate over the results.

        ::

            async with limiter.map(download, names, ordered=True) as results:
                async for data in results:
                    ...

        A pool of at most ``max_concurrent`` worker tasks pulls items lazily from ``items``
        (an iterable or an async iterable; a huge or endless one is fine) and runs each job
        in one of the limiter's slots, sharing them first come first served with every other
        caller (the workers queue like any caller but are never refused: there are at most
        ``max_concurrent`` of them).  Results go through a buffer of ``max_concurrent``:
        when the consumer stops reading, the workers stop after their current jobs.

        Args:
            fn: an async function of one item.
            items: the inputs, read lazily, one at a time, by whichever worker is free.
            ordered: yield results in input order.  Results that finish early are held in
                a reorder buffer of at most ``2 * max_concurrent``; when it is full the
                workers wait for the slow job.  Default: in completion order.

        Returns:
            An async context manager whose value is an async iterator over the results.

        Raises:
            TypeError: ``fn`` is not callable, or ``items`` is not (async) iterable.
            Exception: the first exception a job raises (or reading ``items`` raises)
                propagates out of the ``async with`` block, unchanged; the other jobs are
                cancelled.  Several simultaneous failures propagate as an ExceptionGroup.

        Cancellation:
            Leaving the block early (``break``, an exception, a cancellation) cancels the
            jobs still running and reads no more items.  The block's nursery is the
            workers' owner: no task outlives it.

        Checkpoints:
            Each step of the results iterator is a checkpoint.
        """
        _check_map_args(fn, items, ordered)
        return _open_map(self, fn, items, ordered)

    # --- slots ------------------------------------------------------------------------------

    async def _acquire(self, *, bounded: bool) -> None:
        """Take a slot (and a start time); always a checkpoint.

        ``bounded`` callers are refused with :class:`LimiterFull` when the queue is full.
        Cancellation is counted here; the caller owns the slot once this returns.
        """
        bucket = self._bucket
        if self._used < self._max and not self._live:
            self._used += 1
            reservation = None if bucket is None else self._reserve(bucket, bounded=bounded)
            if reservation is None:
                await cancel_shielded_checkpoint()
            else:
                await self._wait_start(reservation)
            return
        if bounded and self._queue_limit is not None and self._is_full():
            self._reject()
        reservation = await self._park()
        if reservation is not None:
            await self._wait_start(reservation)

    def _is_full(self) -> bool:
        assert self._queue_limit is not None
        return self._live + self._pacing >= self._queue_limit

    def _reject(self) -> None:
        rejects = self._rejects
        if rejects is None:
            context = {"queue_limit": self._queue_limit}
            rejects = self._rejects = DropLogger(_logger, "trio_orch.limiter.rejected", context)
        rejects.add()
        raise LimiterFull(self._queue_limit or 0)

    async def _park(self) -> Reservation | None:
        """Wait for a hand-off: the slot, and the start time reserved by :meth:`_release`."""
        waiter = _Waiter(current_task(), self)
        self._waiters.append(waiter)
        self._live += 1
        try:
            await wait_task_rescheduled(waiter.abort)
        except BaseException:
            self._cancelled += 1
            raise
        return waiter.reservation

    def _forget_waiter(self) -> None:
        """A parked waiter was cancelled; its record stays in the deque until compacted."""
        self._live -= 1
        self._dead += 1
        if self._dead > _COMPACT_MIN and self._dead > self._live:
            self._waiters = deque(w for w in self._waiters if w.task is not None)
            self._dead = 0

    def _reserve(self, bucket: TokenBucket, *, bounded: bool) -> Reservation | None:
        """Holding a slot, reserve a start time: None for now, else the reservation to wait.

        A caller that must wait counts as pacing from now on.  A ``bounded`` caller that
        would have to wait while the queue is full gives its slot and its token back and is
        refused.
        """
        now = trio.current_time()
        reservation = bucket.reserve(now)
        if reservation.start <= now:
            return None
        if bounded and self._queue_limit is not None and self._is_full():
            bucket.refund(reservation)
            self._release()
            self._reject()
        self._pacing += 1
        return reservation

    async def _wait_start(self, reservation: Reservation) -> None:
        """Holding a slot and counted as pacing, sleep until the reserved start time."""
        try:
            await trio.sleep_until(reservation.start)
        except BaseException:
            assert self._bucket is not None
            self._bucket.refund(reservation)
            self._release()
            self._cancelled += 1
            raise
        finally:
            self._pacing -= 1

    def _release(self) -> None:
        """Hand the slot to the first live waiter, or free it.

        With a start rate, the start time is reserved here too, at hand-off, so that the
        woken caller counts as waiting until it starts (queue_limit sees no gap).
        """
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            task = waiter.task
            if task is not None:
                waiter.task = None
                self._live -= 1
                bucket = self._bucket
                if bucket is not None:
                    waiter.reservation = self._reserve(bucket, bounded=False)
                reschedule(task)
                return
            self._dead -= 1
        self._used -= 1

    def _finish(self, error: BaseException | None) -> None:
        """Count a job that held a slot, then release the slot."""
        if error is None:
            self._completed += 1
        else:
            self._count_error(error)
        self._release()

    def _count_error(self, error: BaseException) -> None:
        """Count a job that raised: cancelled, or completed and failed.

        A job whose own nursery was cancelled raises a group of nothing but ``Cancelled``:
        that is a cancellation too.
        """
        if isinstance(error, trio.Cancelled) or only_cancelled(error):
            self._cancelled += 1
        else:
            self._completed += 1
            self._failed += 1

    # --- map --------------------------------------------------------------------------------

    async def _job(self, fn: Callable[[T], Awaitable[R]], item: T) -> R:
        """One map job: a slot without the checkpoint (the worker loop has its own)."""
        if self._used < self._max and not self._live and self._bucket is None:
            self._used += 1
        else:
            await self._acquire(bounded=False)
        try:
            result = await fn(item)
        except BaseException as exc:
            self._count_error(exc)
            raise
        finally:
            self._release()
        self._completed += 1
        return result


@attrs.define(eq=False)
class _Slot:
    """The async context manager returned by :meth:`ConcurrencyLimiter.slot`."""

    _limiter: ConcurrencyLimiter

    async def __aenter__(self) -> None:
        await checkpoint_if_cancelled()
        await self._limiter._acquire(bounded=True)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._limiter._finish(exc)


# --- map ------------------------------------------------------------------------------------


@attrs.define(eq=False)
class _MapState(Generic[T, R]):
    """What the workers and the results iterator of one ``map`` share."""

    limiter: ConcurrencyLimiter
    fn: Callable[[T], Awaitable[R]]
    nursery: trio.Nursery
    ordered: bool
    window: int
    sync_items: Iterator[tuple[int, T]] | None
    async_items: AsyncIterator[T] | None
    lock: trio.Lock = attrs.field(factory=trio.Lock)
    pulled: int = 0  # items read from an async iterable
    workers: int = 0
    next_index: int = 0  # ordered: the index the consumer yields next
    room: trio.lowlevel.ParkingLot = attrs.field(factory=trio.lowlevel.ParkingLot)

    def spawn(self, send: trio.MemorySendChannel[Any]) -> None:
        self.workers += 1
        self.nursery.start_soon(self.work, send)

    async def work(self, send: trio.MemorySendChannel[Any]) -> None:
        # A sync close: aclose's checkpoint could replace a job's error with Cancelled.
        with send:
            if self.sync_items is not None:
                for index, item in self.sync_items:
                    await self.handle(index, item, send)
            else:
                await self.work_async(send)
        await cancel_shielded_checkpoint()  # even with nothing to do

    async def work_async(self, send: trio.MemorySendChannel[Any]) -> None:
        assert self.async_items is not None
        while True:
            async with self.lock:
                try:
                    item = await anext(self.async_items)
                except StopAsyncIteration:
                    return
                index = self.pulled
                self.pulled += 1
            await self.handle(index, item, send)

    async def handle(self, index: int, item: T, send: trio.MemorySendChannel[Any]) -> None:
        if self.workers < self.limiter.max_concurrent:
            self.spawn(send.clone())
        if self.ordered:
            while index >= self.next_index + self.window:
                await self.room.park()
            await send.send((index, await self.limiter._job(self.fn, item)))
        else:
            await send.send(await self.limiter._job(self.fn, item))


@attrs.define(eq=False)
class _Results(Generic[R]):
    """The results iterator of :meth:`ConcurrencyLimiter.map`."""

    _receive: trio.MemoryReceiveChannel[Any]
    _state: _MapState[Any, R]
    _held: dict[int, R] = attrs.field(factory=dict)  # ordered: finished early

    def __aiter__(self) -> _Results[R]:
        return self

    async def __anext__(self) -> R:
        if not self._state.ordered:
            try:
                return await self._receive.receive()  # type: ignore[no-any-return]
            except trio.EndOfChannel:
                await cancel_shielded_checkpoint()
                raise StopAsyncIteration from None
        return await self._next_in_order()

    async def _next_in_order(self) -> R:
        state = self._state
        value = self._held.pop(state.next_index, _MISSING)
        if value is not _MISSING:
            await trio.lowlevel.checkpoint()
            return self._advance(value)
        while True:
            try:
                index, value = await self._receive.receive()
            except trio.EndOfChannel:
                await cancel_shielded_checkpoint()
                raise StopAsyncIteration from None
            if index == state.next_index:
                return self._advance(value)
            self._held[index] = value

    def _advance(self, value: R) -> R:
        state = self._state
        state.next_index += 1
        if state.room:
            state.room.unpark_all()
        return value


@asynccontextmanager
async def _open_map(
    limiter: ConcurrencyLimiter,
    fn: Callable[[T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    ordered: bool,
) -> AsyncIterator[AsyncIterator[R]]:
    size = limiter.max_concurrent
    async with open_nursery_unwrapped("ConcurrencyLimiter.map()") as nursery:
        send, receive = trio.open_memory_channel[Any](size)
        state: _MapState[T, R] = _MapState(
            limiter=limiter,
            fn=fn,
            nursery=nursery,
            ordered=ordered,
            window=2 * size,
            sync_items=enumerate(items) if isinstance(items, Iterable) else None,
            async_items=aiter(items) if isinstance(items, AsyncIterable) else None,
        )
        with send:
            state.spawn(send.clone())
        # The receive side is never closed here: closing it would break the workers'
        # sends; the nursery's cancellation stops them instead.
        yield _Results(receive, state)
        nursery.cancel_scope.cancel(reason="the ConcurrencyLimiter.map block was left")
