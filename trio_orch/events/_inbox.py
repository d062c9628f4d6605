"""Bounded inboxes: the one buffer type behind subscriptions, async handlers, actors and flows.

An :class:`Inbox` is a :func:`trio_orch.open_bounded_channel` with one reader, plus what the
event layer needs on top of it:

* it is a :class:`~trio_orch.events._sink.Sink` (``offer``/``try_put``/``wait_put``/``close``)
  that never loses an item without a word: an item it cannot queue (a full ``BLOCK`` or
  ``REJECT`` inbox on ``offer``, a closed inbox, a reader that has gone) is counted as a drop,
  as ``OLDEST``/``NEWEST`` drops are;
* its drops are logged (``"trio_orch.bus.dropped"``, WARNING) by a
  :class:`trio_orch._log.DropLogger`: the first at once, then at most once a second, and the
  rest when it closes; each of these summaries also goes to an owner callback with the count
  since the previous one (the bus counts them and publishes
  :class:`~trio_orch.EventsDropped`);
* ``send``/``send_nowait`` are the raising twins behind :class:`~trio_orch.ActorRef`: they
  differ only in blocking, and raise what the channel raises (``ClosedResourceError`` naming
  the inbox, ``QueueFull``, ...);
* its reader takes items with :meth:`receive`/:meth:`receive_nowait` (or through
  :meth:`reader`), which keep :attr:`queued` exact, so a consumer knows without raising
  ``WouldBlock`` whether an item is ready;
* waiting for room tracks which consumer task waits for which, so that a cycle of tasks all
  waiting on each other's full inboxes raises :class:`~trio_orch.FlowDeadlock` instead of
  hanging silently.

Waits-for tracking: every task that consumes an inbox (an actor, an async handler's worker,
a flow's operator task) runs inside :func:`consuming` with its :class:`Node`.  The node is
registered for that task only (not inherited by the tasks it spawns).  Before such a task
blocks on a full inbox it records ``me.waiting_for = inbox.consumer`` and follows the chain
of ``waiting_for`` links from the consumer; reaching itself means every task on the chain
waits for the next one, forever.  The check costs nothing unless a send has to wait.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs
import trio

from trio_orch._exceptions import FlowDeadlock
from trio_orch._log import DropLogger, get_logger
from trio_orch.events._sink import DELIVERED
from trio_orch.primitives import DropPolicy, QueueStats, open_bounded_channel

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from trio_orch.primitives import BoundedReceiveChannel, BoundedSendChannel

T = TypeVar("T")

_logger = get_logger("bus")
#: Longest waits-for chain followed; longer chains cannot be closed by one send anyway.
_MAX_CHAIN = 10_000


@attrs.define(eq=False)
class Node:
    """A task that consumes an inbox, as seen by the deadlock check."""

    name: str
    waiting_for: Node | None = None


#: The consumer node of each task that consumes an inbox, per trio run.
_NODES: trio.lowlevel.RunVar[dict[trio.lowlevel.Task, Node]] = trio.lowlevel.RunVar(
    "trio_orch_events_nodes"
)


def _nodes() -> dict[trio.lowlevel.Task, Node]:
    try:
        return _NODES.get()
    except LookupError:
        nodes: dict[trio.lowlevel.Task, Node] = {}
        _NODES.set(nodes)
        return nodes


@contextlib.contextmanager
def consuming(node: Node | None) -> Iterator[None]:
    """Run the body as ``node``'s consumer task (only this task; not its children)."""
    if node is None:
        yield
        return
    task = trio.lowlevel.current_task()
    nodes = _nodes()
    nodes[task] = node
    try:
        yield
    finally:
        del nodes[task]
        node.waiting_for = None


def current_consumer() -> Node | None:
    """The node the current task consumes as, if it consumes an inbox."""
    return _nodes().get(trio.lowlevel.current_task())


@attrs.define(eq=False, repr=False)
class Inbox(Generic[T]):
    """A bounded buffer with drop accounting and waits-for tracking.  Build it with :meth:`open`."""

    name: str
    policy: DropPolicy
    max_size: int
    consumer: Node | None
    _report: Callable[[Inbox[Any], Any, int], None] | None
    _send: BoundedSendChannel[T] = attrs.field(init=False)
    _receive: BoundedReceiveChannel[T] = attrs.field(init=False)
    _drops: DropLogger = attrs.field(init=False)
    #: Items queued and not yet taken, and items whose senders wait for room; kept by the
    #: inbox's own methods (read-only).  Never below the number of buffered items, so
    #: ``queued > 0`` tells a reader that ``receive_nowait`` will not raise WouldBlock.
    queued: int = 0
    # Refusals the channel does not count: a full BLOCK inbox on offer, a closed or broken one.
    _refused: int = 0
    _last_item: T | None = None

    @classmethod
    def open(
        cls,
        name: str,
        *,
        max_size: int,
        policy: DropPolicy,
        consumer: Node | None = None,
        report: Callable[[Inbox[Any], Any, int], None] | None = None,
    ) -> Inbox[T]:
        """A new inbox; ``report`` receives its drop reports, ``consumer`` is its reader."""
        inbox = cls(name, policy, max_size, consumer, report)
        context = {"subscriber": name, "policy": policy.name, "max_buffer": max_size}
        inbox._drops = DropLogger(_logger, "trio_orch.bus.dropped", context)
        inbox._send, inbox._receive = open_bounded_channel[T](
            max_size, policy, on_drop=inbox._dropped, name=name
        )
        return inbox

    def __repr__(self) -> str:
        return f"<Inbox {self.name!r} {self.policy.name} max_size={self.max_size}>"

    @property
    def drops(self) -> int:
        """Items dropped or refused so far."""
        return self._drops.count

    @property
    def stats(self) -> QueueStats:
        """The channel's counters, with the refusals the channel did not count as ``dropped``."""
        s = self._send.stats
        return QueueStats(
            size=s.size,
            max_size=s.max_size,
            sent=s.sent,
            dropped=s.dropped + self._refused,
            rejected=s.rejected,
        )

    # ---- the sink (see trio_orch.events._sink) ------------------------------------------

    def offer(self, item: T) -> None:
        """Queue ``item`` without blocking; what cannot be queued now is a counted drop."""
        try:
            self._send.send_nowait(item)
        except trio.WouldBlock:
            # BLOCK: refused (counted here); REJECT: QueueFull, counted by the channel.
            self._refuse(item, counted=self.policy is not DropPolicy.BLOCK)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            self._refuse(item, counted=False)
        else:
            self.queued += 1

    def try_put(self, item: T) -> object:
        """Like :meth:`offer`, but return ``item`` (queueing nothing) when a BLOCK inbox is full.

        Returns :data:`~trio_orch.events._sink.DELIVERED` otherwise; the caller awaits
        :meth:`wait_put` with what it returned.
        """
        try:
            self._send.send_nowait(item)
        except trio.WouldBlock:
            if self.policy is DropPolicy.BLOCK:
                return item
            self._refuse(item, counted=True)  # REJECT: the channel counted it as rejected
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            self._refuse(item, counted=False)
        else:
            self.queued += 1
        return DELIVERED

    # The channel's send is a full checkpoint also when it raises, which the rule cannot see.
    async def wait_put(self, item: T) -> None:  # noqa: ASYNC910
        """Queue ``item``, waiting for room, as :meth:`send` does (atomic, a checkpoint,
        ``FlowDeadlock``); but an inbox closed meanwhile counts the item as a drop."""
        try:
            await self._send_waiting(item)  # only a BLOCK inbox has pending items
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            self._refuse(item, counted=False)

    def close(self) -> None:
        """Close the sending side: the reader drains what is queued, then sees EndOfChannel.

        Idempotent; not a checkpoint.  The drops not reported yet are reported now.
        """
        self._send.close()
        self._flush_report()

    # ---- the raising twins (ActorRef.send / send_nowait) --------------------------------

    def send_nowait(self, item: T) -> None:
        """Queue ``item`` without waiting, with the channel's semantics.

        Raises:
            trio.WouldBlock: a full ``BLOCK`` inbox.
            trio_orch.QueueFull: a full ``REJECT`` inbox.
            trio.ClosedResourceError: the inbox is closed.
            trio.BrokenResourceError: its reader has gone.
        """
        try:
            self._send.send_nowait(item)
        except trio.ClosedResourceError:
            raise self._closed_error() from None
        self.queued += 1

    async def send(self, item: T) -> None:
        """Queue ``item``, waiting for room in a full ``BLOCK`` inbox.

        Raises:
            trio_orch.QueueFull: a full ``REJECT`` inbox.
            trio.ClosedResourceError: the inbox is closed (also while waiting).
            trio.BrokenResourceError: its reader has gone (also while waiting).
            FlowDeadlock: waiting would close a cycle of tasks waiting on full inboxes.

        Cancellation:
            Atomic: either the item is queued or nothing was.

        Checkpoints:
            Always a checkpoint.
        """
        try:
            await self._send_waiting(item)
        except trio.ClosedResourceError:
            raise self._closed_error() from None

    # ---- the reader -------------------------------------------------------------------------

    async def receive(self) -> T:
        """Take the next item, waiting for one.

        Raises:
            trio.EndOfChannel: the inbox is closed and drained.
            trio.ClosedResourceError: the reading side is closed.

        Cancellation:
            Atomic: an item is returned or nothing is taken.
        """
        item = await self._receive.receive()
        self.queued -= 1
        return item

    def receive_nowait(self) -> T:
        """Take a queued item (check :attr:`queued` first to avoid ``WouldBlock``).

        Raises:
            trio.WouldBlock: nothing is queued.
            trio.EndOfChannel: the inbox is closed and drained.
            trio.ClosedResourceError: the reading side is closed.
        """
        item = self._receive.receive_nowait()
        self.queued -= 1
        return item

    def close_reader(self) -> None:
        """Close the reading side: the items still queued are discarded (counted drops).

        Idempotent; not a checkpoint.  The drops not reported yet are reported now.
        """
        self._receive.close()
        self._flush_report()

    def reader(self) -> trio.abc.ReceiveChannel[T]:
        """This inbox's reading side as a :class:`trio.abc.ReceiveChannel` (e.g. for a pipeline)."""
        return _Reader(self)

    # ---- drops -----------------------------------------------------------------------------

    def _dropped(self, item: T) -> None:
        """The channel's ``on_drop`` callback (OLDEST evictions, NEWEST discards, discards
        on closing the reader): an accepted item that will never be taken."""
        self.queued -= 1
        self._note_drop(item)

    def _refuse(self, item: T, *, counted: bool) -> None:
        if not counted:
            self._refused += 1
        self._note_drop(item)

    def _note_drop(self, item: T) -> None:
        drops = self._drops
        drops.count += 1
        self._last_item = item
        if drops.count >= drops.log_at:
            logged = drops.logged
            drops.maybe_log()
            if drops.logged != logged and self._report is not None:
                self._report(self, item, drops.logged - logged)

    def _flush_report(self) -> None:
        drops = self._drops
        logged = drops.logged
        drops.flush()
        if drops.logged != logged and self._report is not None:
            self._report(self, self._last_item, drops.logged - logged)

    # ---- internals -------------------------------------------------------------------------

    async def _send_waiting(self, item: T) -> None:
        """The channel's ``send`` (a full checkpoint, also when it raises), with waits-for
        tracking when it is going to wait.

        The item counts in :attr:`queued` while its sender waits (the reader may move it
        into the buffer before this task resumes), and stops counting if the send fails.
        """
        consumer = self.consumer
        me = None
        if (
            consumer is not None
            and self.policy is DropPolicy.BLOCK
            and self._send.stats.size >= self.max_size
        ):
            me = current_consumer()
        self.queued += 1
        try:
            if me is None or consumer is None:
                await self._send.send(item)
            else:
                _check_cycle(me, consumer)
                me.waiting_for = consumer
                try:
                    await self._send.send(item)
                finally:
                    me.waiting_for = None
        except BaseException:
            self.queued -= 1
            raise

    def _closed_error(self) -> trio.ClosedResourceError:
        return trio.ClosedResourceError(f"inbox {self.name!r} is closed")


@attrs.define(eq=False, repr=False)
class _Reader(trio.abc.ReceiveChannel[T]):
    """An inbox's reading side as a ReceiveChannel; closing it closes the reading side."""

    _inbox: Inbox[T]

    def __repr__(self) -> str:
        return f"<reader of {self._inbox!r}>"

    async def receive(self) -> T:
        return await self._inbox.receive()

    def receive_nowait(self) -> T:
        return self._inbox.receive_nowait()

    def close(self) -> None:
        self._inbox.close_reader()

    async def aclose(self) -> None:
        self.close()
        await trio.lowlevel.checkpoint()


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
