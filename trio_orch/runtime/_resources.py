"""A budget of a countable resource (memory by default) shared first come, first served.

:class:`ResourceManager` hands out parts of one ``memory_limit`` budget.  A request that fits
the free budget and finds nobody waiting is granted at once; otherwise it joins one FIFO queue.
The queue is strict: a waiting request blocks every later one, even a smaller one that would
fit, so a large request is never starved by a stream of small ones.  A freed handle hands its
budget to the head of the queue (and on, while the next head fits).

Like :class:`trio_orch.ConcurrencyLimiter`, the manager owns no task: the waiters are the
callers' own tasks, so it needs no nursery.
"""

from __future__ import annotations

import itertools
from collections import deque
from typing import TYPE_CHECKING, final

import attrs
import trio
from trio.lowlevel import cancel_shielded_checkpoint, checkpoint_if_cancelled

from trio_orch._exceptions import ResourceError
from trio_orch._log import get_logger
from trio_orch._validate import (
    check_instance,
    check_int,
    check_nonempty_str,
    instance_validator,
    int_validator,
)
from trio_orch.events import EventBus
from trio_orch.runtime._runtime_events import (
    ResourceAllocated,
    ResourceFreed,
    ResourceRejected,
    emit,
)

if TYPE_CHECKING:
    from collections.abc import Mapping
    from contextlib import AbstractAsyncContextManager
    from types import TracebackType

    from trio_orch.events import Event

_logger = get_logger("runtime")


@final
@attrs.frozen
class ResourceUsage:
    """A snapshot of a :class:`ResourceManager`, from :meth:`ResourceManager.usage`.

    Attributes:
        allocated: the budget held by live handles.
        free: ``total - allocated``.
        total: the manager's ``memory_limit``.
        by_kind: the budget held per kind (kinds with nothing held are left out).
        peak: the highest ``allocated`` seen so far.
        waiting: requests waiting in the queue.
        handles: live handles.
        granted: requests granted so far.
        rejected: requests refused because they exceed ``total``.
        cancelled: requests cancelled while waiting.
    """

    allocated: int
    free: int
    total: int
    by_kind: Mapping[str, int]
    peak: int
    waiting: int = 0
    handles: int = 0
    granted: int = 0
    rejected: int = 0
    cancelled: int = 0


@final
@attrs.define(eq=False, repr=False)
class ResourceHandle:
    """A grant from :meth:`ResourceManager.allocate`: ``size`` units of ``kind``.

    Attributes:
        id: unique within its manager, in grant order.
        size: the granted size.
        kind: the granted kind.
        allocated_at: ``trio.current_time()`` of the grant.
    """

    id: int
    size: int
    kind: str
    allocated_at: float
    _manager: ResourceManager
    _freed: bool = False

    def __repr__(self) -> str:
        state = "freed" if self._freed else "held"
        return f"<ResourceHandle #{self.id} {self.size} of {self.kind!r}, {state}>"

    @property
    def freed(self) -> bool:
        """True once the handle was freed."""
        return self._freed


@attrs.define(eq=False)
class _Waiter:
    size: int
    kind: str
    since: float
    event: trio.Event = attrs.Factory(trio.Event)
    handle: ResourceHandle | None = None  # set when granted (hand-off)


@final
@attrs.define(eq=False, repr=False)
class ResourceManager:
    """Share a budget of ``memory_limit`` units, strictly first come, first served.

    ::

        resources = ResourceManager(512 * 2**20)
        async with resources.allocate(64 * 2**20, "buffers") as handle:
            ...                                  # the budget is held here
        resources.usage()  # ResourceUsage(allocated, free, total, by_kind, peak, ...)

    The unit is yours (bytes, megabytes, GPU slots): the manager only adds and compares.

    Args:
        memory_limit: the whole budget, an int >= 1.
        bus: publish :class:`~trio_orch.ResourceAllocated`, :class:`~trio_orch.ResourceFreed`
            and :class:`~trio_orch.ResourceRejected` here (``emit``, never blocks).

    Raises:
        TypeError: ``memory_limit`` is not an int, or ``bus`` not an EventBus.
        ValueError: ``memory_limit`` is below 1.
    """

    _total: int = attrs.field(alias="memory_limit", validator=int_validator(minimum=1))
    _bus: EventBus | None = attrs.field(
        default=None,
        kw_only=True,
        alias="bus",
        validator=instance_validator(EventBus, "an EventBus", allow_none=True),
    )
    _allocated: int = attrs.field(init=False, default=0)
    _peak: int = attrs.field(init=False, default=0)
    _by_kind: dict[str, int] = attrs.field(init=False, factory=dict)
    _live: dict[int, ResourceHandle] = attrs.field(init=False, factory=dict)
    _queue: deque[_Waiter] = attrs.field(init=False, factory=deque)
    _ids: itertools.count[int] = attrs.field(init=False, factory=lambda: itertools.count(1))
    _granted: int = attrs.field(init=False, default=0)
    _rejected: int = attrs.field(init=False, default=0)
    _cancelled: int = attrs.field(init=False, default=0)

    def __repr__(self) -> str:
        return f"<ResourceManager {self._allocated}/{self._total} allocated>"

    @property
    def memory_limit(self) -> int:
        """The whole budget."""
        return self._total

    def usage(self) -> ResourceUsage:
        """A frozen snapshot of the budget and the counters (sync; not a checkpoint)."""
        return ResourceUsage(
            allocated=self._allocated,
            free=self._total - self._allocated,
            total=self._total,
            by_kind={k: v for k, v in self._by_kind.items() if v},
            peak=self._peak,
            waiting=len(self._queue),
            handles=len(self._live),
            granted=self._granted,
            rejected=self._rejected,
            cancelled=self._cancelled,
        )

    def allocate(self, size: int, kind: str) -> AbstractAsyncContextManager[ResourceHandle]:
        """Hold ``size`` units of ``kind`` for the body of an ``async with`` block.

        ::

            async with resources.allocate(4096, "memory") as handle:
                ...

        Entering is :meth:`acquire`; leaving frees the handle unless it was already freed
        with :meth:`free` (leaving is not a checkpoint).

        Raises:
            TypeError: ``size`` is not an int or ``kind`` not a str.
            ValueError: ``size`` is below 1 or ``kind`` is empty.
            ResourceError: ``size`` exceeds ``memory_limit`` (raised on entering, at once).
        """
        check_int("size", size, minimum=1)
        check_nonempty_str("kind", kind)
        return _Allocation(self, size, kind)

    async def acquire(self, size: int, kind: str) -> ResourceHandle:
        """Wait for ``size`` units of ``kind`` and return the handle; :meth:`free` it later.

        Granted at once when it fits and nobody waits; otherwise waits at the end of the
        FIFO queue, behind every earlier request, even one that is larger.

        Raises:
            TypeError: ``size`` is not an int or ``kind`` not a str.
            ValueError: ``size`` is below 1 or ``kind`` is empty.
            ResourceError: ``size`` exceeds ``memory_limit``: raised at once, before any
                checkpoint; counted in ``usage().rejected``, logged and reported as
                :class:`~trio_orch.ResourceRejected`.

        Cancellation:
            Either the handle is returned or the request leaves the queue and nothing is
            held (the requests behind it move up and may be granted at once).

        Checkpoints:
            Always at least one checkpoint, even when granted at once.
        """
        check_int("size", size, minimum=1)
        check_nonempty_str("kind", kind)
        if size > self._total:
            self._reject(size, kind)
        await checkpoint_if_cancelled()
        now = trio.current_time()
        if not self._queue and size <= self._total - self._allocated:
            handle = self._grant(size, kind, now, now)
            await cancel_shielded_checkpoint()
            return handle
        waiter = _Waiter(size, kind, now)
        self._queue.append(waiter)
        try:
            await waiter.event.wait()
        except BaseException:
            if waiter.handle is not None:  # pragma: no cover - Event.wait cannot fail once set
                self._release(waiter.handle)
                raise
            self._queue.remove(waiter)
            self._cancelled += 1
            self._wake()  # it may have blocked smaller requests behind it
            raise
        assert waiter.handle is not None
        return waiter.handle

    def free(self, handle: ResourceHandle) -> None:
        """Free ``handle`` now: its budget goes to the waiting requests, in FIFO order.

        Sync; not a checkpoint.

        Raises:
            TypeError: ``handle`` is not a ResourceHandle.
            ResourceError: the handle was already freed, or belongs to another manager.
        """
        check_instance("handle", handle, ResourceHandle, "a ResourceHandle")
        if handle._manager is not self:
            msg = f"resource handle #{handle.id} belongs to another ResourceManager"
            raise ResourceError(msg, size=handle.size, kind=handle.kind)
        if handle._freed:
            msg = (
                f"resource handle #{handle.id} ({handle.size} of {handle.kind!r}) was already freed"
            )
            raise ResourceError(msg, size=handle.size, kind=handle.kind)
        self._release(handle)

    # --- internals --------------------------------------------------------------------------

    def _reject(self, size: int, kind: str) -> None:
        self._rejected += 1
        _logger.warning(
            "trio_orch.runtime.resource_rejected", size=size, kind=kind, limit=self._total
        )
        self._emit(ResourceRejected(kind=kind, size=size, limit=self._total))
        msg = f"a request of {size} of {kind!r} exceeds the whole memory_limit of {self._total}"
        raise ResourceError(msg, size=size, kind=kind)

    def _grant(self, size: int, kind: str, since: float, now: float) -> ResourceHandle:
        handle = ResourceHandle(next(self._ids), size, kind, now, self)
        self._allocated += size
        self._peak = max(self._peak, self._allocated)
        self._by_kind[kind] = self._by_kind.get(kind, 0) + size
        self._live[handle.id] = handle
        self._granted += 1
        self._emit(
            ResourceAllocated(
                kind=kind,
                size=size,
                handle=handle.id,
                allocated=self._allocated,
                waited=now - since,
            )
        )
        return handle

    def _release(self, handle: ResourceHandle) -> None:
        handle._freed = True
        del self._live[handle.id]
        self._allocated -= handle.size
        self._by_kind[handle.kind] -= handle.size
        if not self._by_kind[handle.kind]:
            del self._by_kind[handle.kind]
        self._emit(
            ResourceFreed(
                kind=handle.kind,
                size=handle.size,
                handle=handle.id,
                allocated=self._allocated,
                held=trio.current_time() - handle.allocated_at,
            )
        )
        self._wake()

    def _wake(self) -> None:
        """Grant the head of the queue while it fits (strict FIFO: stop at the first that doesn't)."""
        queue = self._queue
        now = trio.current_time() if queue else 0.0
        while queue and queue[0].size <= self._total - self._allocated:
            waiter = queue.popleft()
            waiter.handle = self._grant(waiter.size, waiter.kind, waiter.since, now)
            waiter.event.set()

    def _emit(self, event: Event) -> None:
        emit(self._bus, event)


@attrs.define(eq=False)
class _Allocation:
    """The async context manager returned by :meth:`ResourceManager.allocate`."""

    _manager: ResourceManager
    _size: int
    _kind: str
    _handle: ResourceHandle | None = None

    async def __aenter__(self) -> ResourceHandle:
        self._handle = await self._manager.acquire(self._size, self._kind)
        return self._handle

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        handle = self._handle
        if handle is not None and not handle.freed:
            self._manager._release(handle)
