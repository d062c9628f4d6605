"""The one seam between the event bus and everything that receives its events: the sink.

Everything that listens to a bus is a *sink* attached to it (with
:func:`trio_orch.events._bus.attach`, which returns an :class:`~trio_orch.events._bus.Attachment`
whose ``detach()`` removes it):

============================  ================================================================
listener                      sink
============================  ================================================================
sync handler (``bus.on``)     :class:`Call`: ``offer`` *is* the handler
async handler (``bus.on``)    an :class:`~trio_orch.events._inbox.Inbox` read by a worker task
subscription                  an ``Inbox`` read by the subscriber
flow without operators        the actor's ``Inbox`` (borrowed: the flow never closes it)
flow with operators           the flow's own ``Inbox``, read by its operator task
============================  ================================================================

and what changes delivery is a wrapper around a sink: :class:`Filtered` (a flow's ``where``),
:class:`Mapped` (a flow's ``transform``) and :class:`Once` (``bus.once``).  Drops are counted
and reported by the inbox that drops (through the bus's reporter given to it by
:func:`trio_orch.events._bus.open_inbox`), failures by the bus.

The protocol (:class:`Sink`):

``name``
    The listener's name in logs and events (``HandlerFailed.handler``).
``offer(item)``
    The path of ``bus.emit``: deliver now, never wait.  What cannot be queued now is refused
    under the sink's policy and counted, logged and reported as a drop (a full ``BLOCK`` or
    ``REJECT`` inbox refuses; so does a closed one).
``try_put(item)``
    The path of ``bus.publish``: deliver now if that needs no waiting and return
    :data:`DELIVERED`.  Otherwise do nothing and return the *pending* value (the item as the
    innermost sink will queue it, after any transform): the caller awaits
    ``wait_put(pending)``.  The sink keeps no state between the two calls, so any number of
    other calls may come in between.
``await wait_put(pending)``
    Queue a pending value from ``try_put``, waiting for room.  A sink that cannot take it
    (closed meanwhile) counts it as a drop; the only errors are ``trio.Cancelled`` (atomic:
    queued or not) and :class:`~trio_orch.FlowDeadlock`.  Always a checkpoint.
``close()``
    No more items will come: wrappers pass it on; an inbox closes its sending side (its
    reader drains what is queued, then sees the end).  The bus closes the sinks it owns when
    they are detached and when it closes; a borrowed sink (an actor's inbox under a flow) is
    never closed by the bus.

An ``Exception`` raised by ``offer`` or ``try_put`` (a sync handler's, a flow's ``where`` or
``transform``) is the listener's failure: the bus logs, counts and reports it as
:class:`~trio_orch.HandlerFailed` under the sink's ``name``, and goes on with the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar, final

if TYPE_CHECKING:
    from collections.abc import Callable

T_contra = TypeVar("T_contra", contravariant=True)

#: What :meth:`Sink.try_put` returns when the item was delivered (or refused) without waiting.
DELIVERED: Final[Any] = object()


class Sink(Protocol[T_contra]):
    """Where a bus delivers events; see the module docstring for the contract."""

    @property
    def name(self) -> str:
        """The listener's name in logs and events."""
        ...

    def offer(self, item: T_contra, /) -> object:
        """Deliver ``item`` now, never waiting; what cannot be queued is a counted drop."""
        ...

    def try_put(self, item: T_contra, /) -> object:
        """:data:`DELIVERED`, or the pending value to pass to :meth:`wait_put`."""
        ...

    async def wait_put(self, pending: Any, /) -> None:
        """Queue ``pending`` (from :meth:`try_put`), waiting for room."""
        ...

    def close(self) -> None:
        """No more items will come through this sink."""
        ...


@final
class Call:
    """A sync handler as a sink: ``offer`` is the handler itself (no wrapper on emit's path)."""

    __slots__ = ("name", "offer")

    def __init__(self, fn: Callable[[Any], object], name: str) -> None:
        self.offer = fn
        self.name = name

    def __repr__(self) -> str:
        return f"<Call {self.name}>"

    def try_put(self, item: object) -> object:
        self.offer(item)
        return DELIVERED

    async def wait_put(self, pending: object) -> None:  # pragma: no cover - never pending
        msg = f"sync handler {self.name!r} never has a pending item"
        raise AssertionError(msg)

    def close(self) -> None:
        """Nothing to close: a handler holds no items."""


class _Wrapper:
    """A sink in front of another: ``wait_put`` and ``close`` go straight to the inner one
    (a pending value from ``try_put`` is already what the inner sink queues)."""

    __slots__ = ("_inner", "name")

    def __init__(self, inner: Sink[Any], name: str) -> None:
        self._inner = inner
        self.name = name

    async def wait_put(self, pending: object) -> None:
        await self._inner.wait_put(pending)

    def close(self) -> None:
        self._inner.close()


@final
class Filtered(_Wrapper):
    """Passes on only the items for which ``where(item)`` is true (a flow's ``where``)."""

    __slots__ = ("_where",)

    def __init__(self, inner: Sink[Any], where: Callable[[Any], object], name: str) -> None:
        super().__init__(inner, name)
        self._where = where

    def offer(self, item: object) -> None:
        if self._where(item):
            self._inner.offer(item)

    def try_put(self, item: object) -> object:
        if not self._where(item):
            return DELIVERED
        return self._inner.try_put(item)


@final
class Mapped(_Wrapper):
    """Passes on ``transform(item)`` instead of each item (a flow's ``transform``)."""

    __slots__ = ("_transform",)

    def __init__(self, inner: Sink[Any], transform: Callable[[Any], object], name: str) -> None:
        super().__init__(inner, name)
        self._transform = transform

    def offer(self, item: object) -> None:
        self._inner.offer(self._transform(item))

    def try_put(self, item: object) -> object:
        return self._inner.try_put(self._transform(item))


@final
class Once(_Wrapper):
    """Passes on the first item only: before delivering it, ``on_fire()`` detaches the sink.

    The inner sink is closed once that item is delivered (or failed), so an async handler's
    worker ends after handling it.  Re-entrant deliveries (the handler emitting again) and
    deliveries from an emit that took its snapshot before the detach see a fired sink and
    pass nothing on.
    """

    __slots__ = ("_fired", "on_fire")

    def __init__(self, inner: Sink[Any]) -> None:
        super().__init__(inner, inner.name)
        self._fired = False
        #: Called once, before the first item is passed on (set by whoever attaches it).
        self.on_fire: Callable[[], object] | None = None

    def _fire(self) -> bool:
        if self._fired:
            return False
        self._fired = True
        if self.on_fire is not None:
            self.on_fire()
        return True

    def offer(self, item: object) -> None:
        if self._fire():
            try:
                self._inner.offer(item)
            finally:
                self._inner.close()

    def try_put(self, item: object) -> object:
        if not self._fire():
            return DELIVERED
        try:
            pending = self._inner.try_put(item)
        except BaseException:
            self._inner.close()
            raise
        if pending is DELIVERED:
            self._inner.close()
        return pending

    async def wait_put(self, pending: object) -> None:
        try:
            await self._inner.wait_put(pending)
        finally:
            self._inner.close()
