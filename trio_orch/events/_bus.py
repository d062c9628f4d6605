"""The typed event bus: handlers, subscriptions, emit (never blocks) and publish (backpressure).

Dispatch is by class: a listener registered for a class receives instances of its subclasses,
and one registered for :class:`~trio_orch.Event` receives everything.  The listeners that an
event class reaches are resolved once (walking the class's MRO, ordered by registration) and
cached per class; registering or removing a listener clears the cache.  So ``emit`` is a dict
lookup and a loop over a tuple of callables, whatever the number of registered types.

Every listener is a *sink* attached to the bus (see :mod:`trio_orch.events._sink` for the
protocol; :func:`attach` and :func:`open_inbox` are the seam the choreographer uses too):

* **sync handlers** (``bus.on(T, fn)``) are called inline by ``emit``/``publish``;
* **async handlers** (``bus.on(T, async_fn)``) each get a bounded inbox and one worker task in
  the bus's nursery, which awaits the handler for one event at a time (FIFO per handler, so an
  async handler never has more than one invocation running, and never more than
  ``max_buffer`` events queued);
* **subscriptions** (``async with bus.subscribe(T) as events``) are bounded inboxes read by
  the subscriber;
* the choreographer's **flows** attach an actor's inbox (or their own), wrapped by their
  ``where``/``transform``.
"""

from __future__ import annotations

import inspect
import itertools
from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, final, overload

import attrs
import trio

from trio_orch._exceptions import BusClosed
from trio_orch._groups import unwrap_single
from trio_orch._log import callable_name, get_logger
from trio_orch._validate import check_callable, check_instance, check_int
from trio_orch.events._event import Event, EventsDropped, HandlerFailed, SystemEvent
from trio_orch.events._inbox import Inbox, Node, consuming
from trio_orch.events._sink import DELIVERED, Call, Once, Sink
from trio_orch.primitives import DropPolicy

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
    from contextlib import AbstractAsyncContextManager
    from typing import Self

    from trio_orch.primitives import QueueStats

E = TypeVar("E", bound=Event)
E_co = TypeVar("E_co", bound=Event, covariant=True)
H = TypeVar("H", bound="Callable[..., object]")

#: Default size of every inbox the bus creates (subscriptions, async handlers).
DEFAULT_MAX_BUFFER = 100

_logger = get_logger("bus")


def is_async_callable(fn: object) -> bool:
    """True for ``async def`` functions, methods, partials and objects with ``async __call__``."""
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(type(fn), "__call__", None)  # noqa: B004 - the class's, not the instance's
    return inspect.iscoroutinefunction(call)


def check_event_type(event_type: object) -> None:
    """Raise TypeError unless ``event_type`` is :class:`Event` or a subclass."""
    if not (isinstance(event_type, type) and issubclass(event_type, Event)):
        msg = f"event_type must be a subclass of Event, got {event_type!r}"
        raise TypeError(msg)


@final
@attrs.frozen
class BusStats:
    """A snapshot of an :class:`EventBus`'s counters.

    Attributes:
        listeners: registered handlers, subscriptions and flows.
        handler_errors: exceptions raised by handlers (each logged and reported).
        dropped: events that bounded subscribers dropped or refused, as reported so far:
            a subscriber's first drop at once, then at most one report a second, and the
            rest when it closes (a subscriber's own ``stats`` count every drop at once).
    """

    listeners: int
    handler_errors: int
    dropped: int


# ---- the seam: attaching sinks ------------------------------------------------------------


@final
@attrs.define(eq=False, repr=False)
class Attachment:
    """A sink attached to a bus for one event class; made by :func:`attach`.

    ``owned``: the bus closes the sink when it is detached and when the bus closes (a
    borrowed sink, such as an actor's inbox under a flow, is never closed by the bus).
    ``key`` is what :meth:`EventBus.off` compares with (the handler), None for
    subscriptions and flows.
    """

    _bus: EventBus
    event_type: type[Event]
    sink: Sink[Any]
    key: object | None
    owned: bool
    seq: int

    def __repr__(self) -> str:
        return f"<Attachment {self.sink.name!r} to {self.event_type.__qualname__}>"

    def detach(self, *, close: bool = True) -> None:
        """Remove the sink from the bus (idempotent); close it too if it is owned and ``close``.

        An emit that already took its snapshot still reaches the sink.
        """
        bus = self._bus
        attachments = bus._attachments.get(self.event_type)
        if attachments is not None:
            for i, other in enumerate(attachments):
                if other is self:
                    del attachments[i]
                    bus._cache.clear()
                    break
            if not attachments:
                del bus._attachments[self.event_type]
        if close and self.owned:
            self.sink.close()


def attach(
    bus: EventBus,
    event_type: type[Event],
    sink: Sink[Any],
    *,
    owned: bool,
    key: object | None = None,
) -> Attachment:
    """Attach ``sink`` to ``bus`` for ``event_type`` (and its subclasses).

    The internal seam of the events layer (see :mod:`trio_orch.events._sink`): handlers,
    subscriptions and the choreographer's flows all attach through it.  A :class:`Once`
    sink is given the detach as its ``on_fire``.

    Raises:
        BusClosed: the bus is closed.
    """
    bus._check_open()
    attachment = Attachment(bus, event_type, sink, key, owned, next(bus._seq))
    if isinstance(sink, Once):
        sink.on_fire = partial(attachment.detach, close=False)
    bus._attachments.setdefault(event_type, []).append(attachment)
    bus._cache.clear()
    return attachment


def open_inbox(
    bus: EventBus,
    name: str,
    *,
    max_size: int,
    policy: DropPolicy,
    consumer: Node | None = None,
) -> Inbox[Any]:
    """A new :class:`Inbox` whose drops ``bus`` counts and reports as ``EventsDropped``."""
    return Inbox.open(
        name, max_size=max_size, policy=policy, consumer=consumer, report=bus._report_drops
    )


class _Resolved(tuple["Callable[[Event], object]", ...]):
    """The sinks an event class reaches: a tuple of their ``offer`` methods (emit's loop,
    as fast as a plain tuple) that also holds the sinks themselves (``sinks``)."""

    sinks: tuple[Sink[Event], ...]

    def __new__(cls, sinks: Iterable[Sink[Event]]) -> Self:
        sinks = tuple(sinks)
        resolved = super().__new__(cls, [sink.offer for sink in sinks])
        resolved.sinks = sinks
        return resolved


@final
@attrs.define(eq=False, repr=False)
class Subscription(trio.abc.ReceiveChannel[E_co], Generic[E_co]):
    """The receive channel that :meth:`EventBus.subscribe` yields.

    A :class:`trio.abc.ReceiveChannel` (``async for event in subscription``) over a bounded
    inbox, with the inbox's counters in :attr:`stats`.  Closing it ends the subscription;
    leaving the ``async with`` block closes it.
    """

    event_type: type[E_co]
    name: str
    _inbox: Inbox[Any]
    _attachment: Attachment

    def __repr__(self) -> str:
        return f"<Subscription {self.name!r} to {self.event_type.__qualname__}>"

    @property
    def stats(self) -> QueueStats:
        """The inbox's counters; ``dropped`` includes events refused while it was full."""
        return self._inbox.stats

    async def receive(self) -> E_co:
        """Receive the next event, waiting for one.

        Raises:
            trio.EndOfChannel: the bus closed and every queued event was received.
            trio.ClosedResourceError: the subscription was closed.

        Cancellation:
            Atomic, as trio's memory channels: an event is returned or nothing is taken.
        """
        event: E_co = await self._inbox.receive()
        return event

    def receive_nowait(self) -> E_co:
        """Receive a queued event without waiting.

        Raises:
            trio.WouldBlock: nothing is queued.
            trio.EndOfChannel: the bus closed and every queued event was received.
            trio.ClosedResourceError: the subscription was closed.
        """
        event: E_co = self._inbox.receive_nowait()
        return event

    def close(self) -> None:
        """End the subscription: no more events are queued; queued ones are discarded.

        The discarded events are counted as drops.  Idempotent; not a checkpoint.
        """
        self._attachment.detach(close=False)  # first: the drop report must not land here
        self._inbox.close_reader()
        self._inbox.close()

    async def aclose(self) -> None:
        """Close the subscription (see :meth:`close`), then checkpoint."""
        self.close()
        await trio.lowlevel.checkpoint()


@final
@attrs.define(eq=False, repr=False)
class EventBus:
    """A typed publish/subscribe bus. Open one with :func:`open_event_bus`.

    Use it from the trio thread that opened it.  Listeners are called in the order they were
    registered, whatever class they were registered for; each subscriber sees the events it
    receives in the order they were emitted or published.
    """

    _nursery: trio.Nursery
    _attachments: dict[type[Event], list[Attachment]] = attrs.Factory(dict)
    # Per event class: the sinks it reaches, in order, resolved once.
    _cache: dict[type[Event], _Resolved] = attrs.Factory(dict)
    _seq: itertools.count[int] = attrs.Factory(itertools.count)
    _closed: bool = False
    _handler_errors: int = 0
    _dropped: int = 0

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<EventBus {state}, {self.stats.listeners} listeners>"

    # ---- registering -----------------------------------------------------------------------

    @overload
    def on(
        self,
        event_type: type[E],
        handler: None = None,
        *,
        max_buffer: int = ...,
        drop: DropPolicy = ...,
    ) -> Callable[[H], H]: ...
    @overload
    def on(
        self,
        event_type: type[E],
        handler: H,
        *,
        max_buffer: int = ...,
        drop: DropPolicy = ...,
    ) -> H: ...
    def on(
        self,
        event_type: type[E],
        handler: H | None = None,
        *,
        max_buffer: int = DEFAULT_MAX_BUFFER,
        drop: DropPolicy = DropPolicy.BLOCK,
    ) -> H | Callable[[H], H]:
        """Call ``handler(event)`` for every event of ``event_type`` (or a subclass).

        A sync handler is called inline by ``emit``/``publish``.  An async handler gets a
        bounded inbox of ``max_buffer`` events with the ``drop`` policy and one worker task
        in the bus's nursery that awaits it for one event at a time.  Without ``handler``,
        returns a decorator.  Registering the same handler twice makes it called twice.

        Args:
            event_type: the class to listen to; :class:`Event` listens to every event.
            handler: ``fn(event)``, sync or async; its return value is ignored.
            max_buffer: async handlers only: the inbox size (>= 1).
            drop: async handlers only: what a full inbox does (see :meth:`emit`).

        Returns:
            ``handler`` (so ``on`` works as a decorator).

        Raises:
            TypeError: ``event_type`` is not an Event class, ``handler`` not callable,
                ``max_buffer`` not an int or ``drop`` not a DropPolicy.
            ValueError: ``max_buffer < 1``.
            BusClosed: the bus is closed.
        """
        return self._register(event_type, handler, max_buffer, drop, once=False)

    @overload
    def once(
        self,
        event_type: type[E],
        handler: None = None,
        *,
        max_buffer: int = ...,
        drop: DropPolicy = ...,
    ) -> Callable[[H], H]: ...
    @overload
    def once(
        self,
        event_type: type[E],
        handler: H,
        *,
        max_buffer: int = ...,
        drop: DropPolicy = ...,
    ) -> H: ...
    def once(
        self,
        event_type: type[E],
        handler: H | None = None,
        *,
        max_buffer: int = DEFAULT_MAX_BUFFER,
        drop: DropPolicy = DropPolicy.BLOCK,
    ) -> H | Callable[[H], H]:
        """Like :meth:`on`, but the handler is removed before it is called the first time.

        Raises:
            The same as :meth:`on`.
        """
        return self._register(event_type, handler, max_buffer, drop, once=True)

    def off(self, event_type: type[Event], handler: Callable[..., object]) -> bool:
        """Remove the most recent registration of ``handler`` for exactly ``event_type``.

        An async handler's worker still handles the events already in its inbox.  Removing
        a handler while an event is being emitted does not stop that event reaching it.

        Returns:
            True if a registration was removed, False if there was none.
        """
        for attachment in reversed(self._attachments.get(event_type, ())):
            if attachment.key is not None and attachment.key == handler:
                attachment.detach()
                return True
        return False

    def remove_all_listeners(self, event_type: type[Event] | None = None) -> None:
        """Remove every handler registered with :meth:`on`/:meth:`once` (for ``event_type``).

        Subscriptions and flows are not removed: they end with their own ``async with``
        blocks (or when closed).
        """
        types = list(self._attachments) if event_type is None else [event_type]
        for cls in types:
            for attachment in list(self._attachments.get(cls, ())):
                if attachment.key is not None:
                    attachment.detach()

    def event_types(self) -> tuple[type[Event], ...]:
        """The classes that listeners are registered for, in order of first registration."""
        return tuple(self._attachments)

    def has_listeners(self, event_type: type[Event] = Event) -> bool:
        """True if an event of ``event_type`` would reach at least one listener.

        Listeners registered for a base class of ``event_type`` (and the wildcard
        :class:`Event`) count.
        """
        return any(cls in self._attachments for cls in event_type.__mro__)

    @property
    def stats(self) -> BusStats:
        """A :class:`BusStats` snapshot."""
        return BusStats(
            listeners=sum(len(v) for v in self._attachments.values()),
            handler_errors=self._handler_errors,
            dropped=self._dropped,
        )

    @property
    def closed(self) -> bool:
        """True once the ``async with open_event_bus()`` block has ended."""
        return self._closed

    # ---- delivering ------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        """Deliver ``event`` to every listener now, without blocking.

        Sync handlers run inline, in registration order; async handlers and subscriptions get
        the event queued in their inbox.  A full inbox applies its drop policy: ``OLDEST``
        evicts the oldest queued event, ``NEWEST`` discards this one, and ``BLOCK`` and
        ``REJECT`` refuse it (``emit`` never waits; use :meth:`publish` to wait for room).
        Every drop is counted (``Subscription.stats``, :attr:`stats`), logged and reported
        as an :class:`~trio_orch.EventsDropped` event.  A handler that raises is logged,
        counted and reported as a :class:`~trio_orch.HandlerFailed` event; the other
        handlers still get the event.

        Raises:
            BusClosed: the bus is closed.
            TypeError: ``event`` is not an :class:`Event`.
        """
        try:
            offers = self._cache[type(event)]
        except KeyError:
            offers = self._resolve(event)
        for offer in offers:
            try:
                offer(event)
            except Exception as exc:
                self._report_failure(offers.sinks[offers.index(offer)].name, event, exc)

    async def publish(self, event: Event) -> None:
        """Deliver ``event`` to every listener, waiting for room in full ``BLOCK`` inboxes.

        The same as :meth:`emit` (sync handlers inline, drop policies applied) except that a
        full ``BLOCK`` inbox makes it wait: backpressure from the slowest subscriber.

        Raises:
            BusClosed: the bus is closed.
            TypeError: ``event`` is not an :class:`Event`.
            FlowDeadlock: called from an actor, waiting would close a cycle of full inboxes.

        Cancellation:
            If cancelled while waiting for room, the event has reached the listeners before
            the full inbox and none after it.

        Checkpoints:
            Always a checkpoint.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            sinks = self._cache[type(event)].sinks
        except KeyError:
            sinks = self._resolve(event).sinks
        delivered = DELIVERED
        for sink in sinks:
            try:
                pending = sink.try_put(event)
            except Exception as exc:
                self._report_failure(sink.name, event, exc)
                continue
            if pending is not delivered:
                await sink.wait_put(pending)
        await trio.lowlevel.cancel_shielded_checkpoint()

    def subscribe(
        self,
        event_type: type[E],
        *,
        max_buffer: int = DEFAULT_MAX_BUFFER,
        drop: DropPolicy = DropPolicy.BLOCK,
        name: str | None = None,
    ) -> AbstractAsyncContextManager[Subscription[E]]:
        """Subscribe to ``event_type`` (and its subclasses) through a bounded inbox.

        ``async with bus.subscribe(UserInput, max_buffer=100) as events:`` yields a
        :class:`Subscription`, a receive channel of the events in the order they were
        emitted/published.  The subscription starts when the block is entered and ends when
        it is left (or the subscription is closed); after the bus closes, iteration ends
        once the queued events are received.

        Args:
            event_type: the class to subscribe to; :class:`Event` subscribes to everything.
            max_buffer: the inbox size (>= 1).
            drop: what a full inbox does: ``BLOCK`` makes ``publish`` wait and ``emit``
                refuse the event (counted); ``OLDEST``/``NEWEST``/``REJECT`` as for
                :func:`trio_orch.open_bounded_channel` (a refused event is counted).
            name: the subscriber's name in logs and events (default: derived from the type).

        Raises:
            TypeError, ValueError: as :meth:`on`.
            BusClosed: the bus is closed.

        Checkpoints:
            Entering the block is a checkpoint (the subscription is active before it).
        """
        check_event_type(event_type)
        check_int("max_buffer", max_buffer, minimum=1)
        check_instance("drop", drop, DropPolicy, "a DropPolicy")
        self._check_open()
        return self._subscription(event_type, max_buffer, drop, name)

    @asynccontextmanager
    async def _subscription(
        self, event_type: type[E], max_buffer: int, drop: DropPolicy, name: str | None
    ) -> AsyncIterator[Subscription[E]]:
        name = name or f"subscription:{event_type.__qualname__}"
        inbox = open_inbox(self, name, max_size=max_buffer, policy=drop)
        attachment = attach(self, event_type, inbox, owned=True)
        subscription = Subscription[E](event_type, name, inbox, attachment)
        try:
            await trio.lowlevel.checkpoint()
            yield subscription
        finally:
            subscription.close()

    # ---- internals -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            msg = "event bus is closed: it cannot be used after its async with block ended"
            raise BusClosed(msg)

    def _register(
        self,
        event_type: type[Event],
        handler: H | None,
        max_buffer: int,
        drop: DropPolicy,
        *,
        once: bool,
    ) -> H | Callable[[H], H]:
        check_event_type(event_type)
        check_int("max_buffer", max_buffer, minimum=1)
        check_instance("drop", drop, DropPolicy, "a DropPolicy")
        self._check_open()
        if handler is None:

            def decorator(fn: H) -> H:
                self._register(event_type, fn, max_buffer, drop, once=once)
                return fn

            return decorator
        check_callable("handler", handler)  # a user may pass anything
        name = callable_name(handler)
        sink: Sink[Event]
        inbox: Inbox[Event] | None = None
        if is_async_callable(handler):
            inbox = open_inbox(self, name, max_size=max_buffer, policy=drop, consumer=Node(name))
            sink = inbox
        else:
            sink = Call(handler, name)
        if once:
            sink = Once(sink)
        attach(self, event_type, sink, owned=True, key=handler)
        if inbox is not None:
            worker = cast("Callable[[Event], Awaitable[object]]", handler)
            self._nursery.start_soon(self._run_async_handler, worker, inbox, name=name)
        return handler

    async def _run_async_handler(
        self, handler: Callable[[Event], Awaitable[object]], inbox: Inbox[Event]
    ) -> None:
        with consuming(inbox.consumer):
            try:
                async for event in inbox.reader():
                    try:
                        await handler(event)
                    except Exception as exc:
                        self._report_failure(inbox.name, event, exc)
            finally:
                inbox.close_reader()  # what is left (cancelled) is counted as dropped

    def _resolve(self, event: Event) -> _Resolved:
        self._check_open()
        cls = event.__class__
        obj: object = event
        if not isinstance(obj, Event):
            msg = f"event must be an instance of an Event subclass, got {obj!r}"
            raise TypeError(msg)
        found = [a for base in cls.__mro__ for a in self._attachments.get(base, ())]
        found.sort(key=lambda attachment: attachment.seq)
        resolved = _Resolved(attachment.sink for attachment in found)
        self._cache[cls] = resolved
        return resolved

    def _report_failure(self, name: str, event: Event, exc: Exception) -> None:
        """A listener raised: log, count, and emit HandlerFailed (not for a HandlerFailed)."""
        self._handler_errors += 1
        _logger.error(
            "trio_orch.bus.handler_failed",
            handler=name,
            event_type=type(event).__qualname__,
            exc_info=exc,
        )
        if not self._closed and not isinstance(event, HandlerFailed):
            self.emit(HandlerFailed(name, event, exc))

    def _report_drops(self, inbox: Inbox[Any], event: object, count: int) -> None:
        """An inbox's (rate-limited) drop report: count, and publish EventsDropped."""
        self._dropped += count
        if not self._closed and not isinstance(event, SystemEvent):
            self.emit(EventsDropped(inbox.name, inbox.policy.name, count, inbox.drops))

    def _close(self) -> None:
        """Refuse new events; let async handler workers and subscribers drain their inboxes."""
        if self._closed:
            return
        self._closed = True
        self._cache.clear()
        for attachments in list(self._attachments.values()):
            for attachment in attachments:
                if attachment.owned:
                    attachment.sink.close()


@asynccontextmanager
async def open_event_bus(*, drain_timeout: float | None = None) -> AsyncIterator[EventBus]:
    """Open an :class:`EventBus` whose async handlers run in a nursery owned by this block.

    ``async with open_event_bus() as bus:``.  When the block ends normally the bus closes
    (``emit``/``publish`` raise :class:`~trio_orch.BusClosed`, subscriptions see
    EndOfChannel after their queued events) and the block waits for the async handlers to
    finish the events already queued for them.  If the block raises, queued handler work
    is cancelled and the exception propagates (unwrapped from the nursery's group).

    Args:
        drain_timeout: at most this many seconds are spent finishing queued async handler
            work on exit; what is left is cancelled (and logged).  ``None``: wait.

    Raises:
        ValueError: ``drain_timeout`` is negative.

    Cancellation:
        Cancelling the block cancels the async handlers at once.
    """
    if drain_timeout is not None and not drain_timeout >= 0:
        msg = f"drain_timeout must be >= 0 or None, got {drain_timeout!r}"
        raise ValueError(msg)
    with unwrap_single("open_event_bus()"):
        async with trio.open_nursery() as nursery:
            bus = EventBus(nursery)
            try:
                yield bus
            except BaseException:
                nursery.cancel_scope.cancel(reason="the event bus block raised")
                raise
            finally:
                bus._close()
                if drain_timeout is not None:
                    nursery.cancel_scope.deadline = min(
                        nursery.cancel_scope.deadline, trio.current_time() + drain_timeout
                    )
        if nursery.cancel_scope.cancelled_caught:
            _logger.warning("trio_orch.bus.drain_timeout", drain_timeout=drain_timeout)
