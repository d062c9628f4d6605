"""The shared state behind a bounded channel: buffer, parked tasks, counters, drop logging.

:mod:`trio_orch.primitives._channels` builds the public handles on top of it. Also home of the
two public values, :class:`DropPolicy` and :class:`QueueStats`.
"""

from __future__ import annotations

import enum
import math
from collections import OrderedDict, deque
from typing import TYPE_CHECKING, Generic, TypeVar, final

import attrs
import trio

from trio_orch._exceptions import QueueFull
from trio_orch._log import DropLogger, get_logger
from trio_orch._validate import check_callable, check_instance, check_int

if TYPE_CHECKING:
    from collections.abc import Callable

T = TypeVar("T")

_logger = get_logger("channel")


class DropPolicy(enum.Enum):
    """What a :func:`open_bounded_channel` does with an item sent while it is full.

    Attributes:
        BLOCK: backpressure. ``send`` waits for room; ``send_nowait`` raises
            :class:`trio.WouldBlock`. Nothing is ever dropped.
        OLDEST: evict the oldest queued item to make room for the new one
            (the buffer keeps the most recent ``max_size`` items).
        NEWEST: discard the incoming item (the buffer keeps the first ``max_size`` items).
        REJECT: raise :class:`trio_orch.QueueFull` to the sender and keep the buffer as is.
    """

    BLOCK = "block"
    OLDEST = "oldest"
    NEWEST = "newest"
    REJECT = "reject"


_OLDEST, _NEWEST, _REJECT = DropPolicy.OLDEST, DropPolicy.NEWEST, DropPolicy.REJECT


@final
@attrs.frozen
class QueueStats:
    """A snapshot of a bounded channel's counters, from ``send.stats`` or ``receive.stats``.

    ``sent`` counts the ``send``/``send_nowait`` calls that succeeded (so it includes the items
    a drop policy discarded; a blocked ``send`` counts once its item enters); ``dropped``
    counts the accepted items that were discarded instead of delivered (evicted by ``OLDEST``,
    discarded by ``NEWEST``, or still buffered when the last receive handle closed);
    ``rejected`` counts the ``QueueFull`` raised by ``REJECT``.
    So ``sent == received + size + dropped`` always holds.

    Attributes:
        size: items buffered right now.
        max_size: the channel's capacity.
        sent: send calls that succeeded.
        dropped: accepted items discarded instead of delivered.
        rejected: sends refused with :class:`trio_orch.QueueFull`.
    """

    size: int
    max_size: int
    sent: int
    dropped: int
    rejected: int


@attrs.define(eq=False)
class ChannelState(Generic[T]):
    """What every handle of one channel shares."""

    max_size: int
    policy: DropPolicy
    on_drop: Callable[[T], object] | None
    name: str | None
    data: deque[T] = attrs.Factory(deque)
    open_send: int = 0
    open_receive: int = 0
    send_tasks: OrderedDict[trio.lowlevel.Task, T] = attrs.Factory(OrderedDict)
    receive_tasks: OrderedDict[trio.lowlevel.Task, None] = attrs.Factory(OrderedDict)
    sent: int = 0
    drops: DropLogger = attrs.field(init=False)
    rejects: DropLogger = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.drops = DropLogger(_logger, "trio_orch.channel.dropped", self.log_context())
        self.rejects = DropLogger(_logger, "trio_orch.channel.rejected", self.log_context())

    def describe(self) -> str:
        named = f"{self.name!r} " if self.name is not None else ""
        return f"{named}{self.policy.name} {len(self.data)}/{self.max_size}"

    def log_context(self) -> dict[str, object]:
        return {"channel": self.name, "policy": self.policy.name, "max_size": self.max_size}

    def stats(self) -> QueueStats:
        return QueueStats(
            size=len(self.data),
            max_size=self.max_size,
            sent=self.sent,
            dropped=self.drops.count,
            rejected=self.rejects.count,
        )

    def dropped(self, item: T) -> None:
        drops = self.drops
        drops.count += 1
        if drops.count >= drops.log_at:
            drops.maybe_log()
        if self.on_drop is not None:
            self.on_drop(item)

    def full(self, item: T) -> Exception | None:
        """Apply the drop policy to ``item`` arriving at a full buffer.

        Returns the exception the sender must raise, if any: the caller raises it itself,
        which saves unwinding one frame on the reject path.
        """
        policy = self.policy
        if policy is _OLDEST:
            self.data.append(item)
            self.sent += 1
            self.dropped(self.data.popleft())
        elif policy is _NEWEST:
            self.sent += 1
            self.dropped(item)
        elif policy is _REJECT:
            rejects = self.rejects
            rejects.count += 1
            if rejects.count >= rejects.log_at:
                rejects.maybe_log()
            return QueueFull(self.max_size)
        else:
            return trio.WouldBlock()
        return None

    def discard_buffer(self) -> None:
        """The last receiver closed: whatever is still buffered can never be delivered."""
        items = list(self.data)
        self.data.clear()
        self.flush_logs()
        if items:
            self.drops.count_logged(len(items))
            _logger.warning(
                "trio_orch.channel.discarded",
                **self.log_context(),
                count=len(items),
                dropped=self.drops.count,
            )
        if self.on_drop is not None:
            for item in items:
                self.on_drop(item)

    def flush_logs(self) -> None:
        self.drops.flush()
        self.rejects.flush()


def check_channel_args(
    max_size: object, drop: object, name: object, on_drop: object = None
) -> None:
    """Raise TypeError/ValueError naming the bad argument of ``open_bounded_channel``."""
    check_callable("on_drop", on_drop, allow_none=True)
    check_instance("name", name, str, "a str", allow_none=True)
    check_instance("drop", drop, DropPolicy, "a DropPolicy")
    if isinstance(max_size, float) and math.isinf(max_size):
        msg = f"max_size must be a finite int (every buffer is bounded), got {max_size!r}"
        raise ValueError(msg)
    check_int("max_size", max_size, minimum=0)
    if max_size == 0 and drop is DropPolicy.OLDEST:
        msg = (
            "max_size must be >= 1 for DropPolicy.OLDEST (there is no oldest item to evict), got 0"
        )
        raise ValueError(msg)
