"""Bounded inboxes: the one buffer type behind subscriptions, async handlers, actors and flows.

An :class:`Inbox` is a :func:`trio_orch.open_bounded_channel` plus what the event layer needs
on top of it:

* ``offer`` never blocks (the path of ``bus.emit``): when a ``BLOCK`` or ``REJECT`` inbox is
  full the event is refused and counted as a drop, as ``OLDEST``/``NEWEST`` drops are;
* every drop is reported to an owner callback at once for the first drop, then at most once
  per second, with the count since the previous report (the bus turns these reports into log
  lines and :class:`~trio_orch.EventsDropped` events);
* ``put`` waits for room (the path of ``bus.publish`` and ``ActorRef.send``), and tracks
  which task waits for which, so that a cycle of tasks all waiting on each other's full
  inboxes raises :class:`~trio_orch.FlowDeadlock` instead of hanging silently.

Waits-for tracking: every task that consumes an inbox (an actor, an async handler's worker,
a flow's operator task) runs with :data:`current_node` set to its :class:`Node`.  Before such
a task blocks on a full inbox it records ``me.waiting_for = inbox.consumer`` and follows the
chain of ``waiting_for`` links from the consumer; reaching itself means every task on the
chain waits for the next one, forever.  The check costs nothing unless a send has to wait.
"""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, Generic, TypeVar

import attrs
import trio

from trio_orch._exceptions import FlowDeadlock
from trio_orch.primitives import DropPolicy, QueueStats, open_bounded_channel

if TYPE_CHECKING:
    from collections.abc import Callable

    from trio_orch.primitives import BoundedReceiveChannel, BoundedSendChannel

T = TypeVar("T")

#: Drops are reported at most this often per inbox (seconds of trio time).
REPORT_INTERVAL = 1.0
#: Longest waits-for chain followed; longer chains cannot be closed by one send anyway.
_MAX_CHAIN = 10_000


@attrs.define(eq=False)
class Node:
    """A task that consumes an inbox, as seen by the deadlock check."""

    name: str
    waiting_for: Node | None = None


current_node: contextvars.ContextVar[Node | None] = contextvars.ContextVar(
    "trio_orch_events_node", default=None
)


@attrs.define(eq=False, repr=False)
class Inbox(Generic[T]):
    """A bounded buffer with drop reporting and waits-for tracking.  Build it with :meth:`open`."""

    name: str
    policy: DropPolicy
    max_size: int
    consumer: Node | None
    _report: Callable[[Inbox[T], T, int], None] | None
    send: BoundedSendChannel[T] = attrs.field(init=False)
    receive: BoundedReceiveChannel[T] = attrs.field(init=False)
    #: offers refused because a BLOCK inbox was full (the channel does not count these).
    refused: int = 0
    #: items queued and not yet taken, as far as the inbox's own methods know: a hint that
    #: lets a consumer call ``receive_nowait`` only when it will succeed (raising WouldBlock
    #: costs more than the rest of a delivery).  Consumers that use it decrement it.
    queued: int = 0
    drops: int = 0
    _reported: int = 0
    _last_report: float | None = None
    _last_item: T | None = None

    @classmethod
    def open(
        cls,
        name: str,
        *,
        max_size: int,
        policy: DropPolicy,
        consumer: Node | None = None,
        report: Callable[[Inbox[T], T, int], None] | None = None,
    ) -> Inbox[T]:
        inbox = cls(name, policy, max_size, consumer, report)
        inbox.send, inbox.receive = open_bounded_channel[T](max_size, policy, on_drop=inbox.dropped)
        return inbox

    def __repr__(self) -> str:
        return f"<Inbox {self.name!r} {self.policy.name} max_size={self.max_size}>"

    @property
    def stats(self) -> QueueStats:
        """The channel's counters, with offers refused by a full BLOCK inbox as ``dropped``."""
        s = self.send.stats
        return QueueStats(
            size=s.size,
            max_size=s.max_size,
            sent=s.sent,
            dropped=s.dropped + self.refused,
            rejected=s.rejected,
        )

    def offer(self, item: T) -> None:
        """Queue ``item`` without blocking; a full BLOCK/REJECT inbox refuses it (counted).

        An inbox whose consumer has gone (receiving side closed) counts the item as dropped;
        a closed inbox (its listener was removed mid-emit) ignores it.
        """
        try:
            self.send.send_nowait(item)
        except trio.WouldBlock:
            if self.policy is DropPolicy.BLOCK:
                self.refused += 1
            self._note_drop(item)
        except trio.BrokenResourceError:
            self._note_drop(item)
        except trio.ClosedResourceError:
            pass
        else:
            self.queued += 1

    def try_put(self, item: T) -> bool:
        """Like :meth:`offer`, but return False (queueing nothing) when a BLOCK inbox is full.

        The caller then awaits :meth:`wait_put`.
        """
        try:
            self.send.send_nowait(item)
            self.queued += 1
        except trio.WouldBlock:
            if self.policy is DropPolicy.BLOCK:
                return False
            self._note_drop(item)  # REJECT: the channel counted it as rejected
        except trio.BrokenResourceError:
            self._note_drop(item)
        except trio.ClosedResourceError:
            pass
        return True

    async def wait_put(self, item: T) -> None:
        """Queue ``item``, waiting for room; call it when :meth:`try_put` returned False.

        Raises:
            FlowDeadlock: waiting would close a cycle of tasks waiting on full inboxes.

        Cancellation:
            Atomic: either the item is queued or nothing was.
        """
        me = current_node.get()
        try:
            if me is None or self.consumer is None:
                await self.send.send(item)
                self.queued += 1
                return
            _check_cycle(me, self.consumer)
            me.waiting_for = self.consumer
            try:
                await self.send.send(item)
            finally:
                me.waiting_for = None
            self.queued += 1
        except trio.BrokenResourceError:
            self._note_drop(item)
            await trio.lowlevel.checkpoint()
        except trio.ClosedResourceError:
            await trio.lowlevel.checkpoint()

    def dropped(self, item: T) -> None:
        """The channel's ``on_drop`` callback (OLDEST evictions, NEWEST discards)."""
        self.queued -= 1  # an accepted item that will never be received
        self._note_drop(item)

    def _note_drop(self, item: T) -> None:
        self.drops += 1
        self._last_item = item
        if self._report is None:
            return
        now = trio.current_time()
        if self._last_report is None or now - self._last_report >= REPORT_INTERVAL:
            # Set before reporting: the report may emit an event that lands here again.
            self._last_report = now
            count = self.drops - self._reported
            self._reported = self.drops
            self._report(self, item, count)

    def flush_report(self) -> None:
        """Report the drops not reported yet (when the inbox closes)."""
        count = self.drops - self._reported
        if count and self._report is not None and self._last_item is not None:
            self._reported = self.drops
            self._report(self, self._last_item, count)

    def send_nowait(self, item: T) -> None:
        """The channel's ``send_nowait`` (its exceptions included), keeping :attr:`queued`."""
        self.send.send_nowait(item)
        self.queued += 1

    def close(self) -> None:
        """Close the sending side: the consumer drains what is queued, then sees EndOfChannel."""
        self.send.close()
        self.flush_report()


def _check_cycle(me: Node, consumer: Node) -> None:
    chain = [me.name, consumer.name]
    node: Node | None = consumer
    for _ in range(_MAX_CHAIN):
        if node is None:
            return
        if node is me:
            raise FlowDeadlock(tuple(chain))
        node = node.waiting_for
        if node is not None:
            chain.append(node.name)
