"""The typed event bus: handlers, subscriptions, emit (never blocks) and publish (backpressure).

Dispatch is by class: a listener registered for a class receives instances of its subclasses,
and one registered for :class:`~trio_orch.Event` receives everything.  The listeners that an
event class reaches are resolved once (walking the class's MRO, ordered by registration) and
cached per class; registering or removing a listener clears the cache.  So ``emit`` is a dict
lookup and a loop over a tuple of callables, whatever the number of registered types.

Listeners come in three kinds:

* **sync handlers** (``bus.on(T, fn)``) are called inline by ``emit``/``publish``;
* **async handlers** (``bus.on(T, async_fn)``) each get a bounded inbox and one worker task in
  the bus's nursery, which awaits the handler for one event at a time (FIFO per handler, so an
  async handler never has more than one invocation running, and never more than
  ``max_buffer`` events queued);
* **subscriptions** (``async with bus.subscribe(T) as events``) are bounded inboxes read by
  the subscriber.

The choreographer's flows are listeners too (registered through :meth:`EventBus._connect`).
"""

from __future__ import annotations

import inspect
import itertools
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast, final, overload

import attrs
import structlog
import trio

from trio_orch._exceptions import BusClosed
from trio_orch._groups import unwrap_single
from trio_orch._validate import check_callable, check_instance, check_int
from trio_orch.events._event import Event, EventsDropped, HandlerFailed, SystemEvent
from trio_orch.events._inbox import Inbox, Node, current_node
from trio_orch.primitives import DropPolicy

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from contextlib import AbstractAsyncContextManager

    from trio_orch.primitives import QueueStats

E = TypeVar("E", bound=Event)
E_co = TypeVar("E_co", bound=Event, covariant=True)
H = TypeVar("H", bound="Callable[..., object]")

#: Default size of every inbox the bus creates (subscriptions, async handlers).
DEFAULT_MAX_BUFFER = 100

_logger = structlog.get_logger()


def name_of(fn: object) -> str:
    """A readable name for a handler: its qualified name, else its repr."""
    name = getattr(fn, "__qualname__", None)
    return name if isinstance(name, str) else repr(fn)


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
        dropped: events that bounded subscribers dropped or refused (each counted).
    """

    listeners: int
    handler_errors: int
    dropped: int


@attrs.define(eq=False, repr=False)
class _Listener:
    seq: int
    event_type: type[Event]
    name: str
    # What off() compares with; None for subscriptions and flows.
    handler: object | None
    deliver_nowait: Callable[[Event], object]
    # publish's path: try_put(event) returns False when it must await wait_put(event).
    # None: publish calls deliver_nowait too.
    try_put: Callable[[Event], bool] | None
    wait_put: Callable[[Event], Awaitable[None]] | None
    inbox: Inbox[Event] | None
    fired: bool = False


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
    _bus: EventBus
    _listener: _Listener

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
        event: E_co = await self._inbox.receive.receive()
        return event

    def receive_nowait(self) -> E_co:
        """Receive a queued event without waiting.

        Raises:
            trio.WouldBlock: nothing is queued.
            trio.EndOfChannel: the bus closed and every queued event was received.
            trio.ClosedResourceError: the subscription was closed.
        """
        event: E_co = self._inbox.receive.receive_nowait()
        return event

    def close(self) -> None:
        """End the subscription: no more events are queued; queued ones are discarded.

        Idempotent; not a checkpoint.
        """
        self._bus._disconnect(self._listener, close_inbox=False)
        self._inbox.receive.close()
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
    _listeners: dict[type[Event], list[_Listener]] = attrs.Factory(dict)
    _emit_cache: dict[type[Event], tuple[Callable[[Event], object], ...]] = attrs.Factory(dict)
    _publish_cache: dict[type[Event], tuple[_Listener, ...]] = attrs.Factory(dict)
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
        for listener in reversed(self._listeners.get(event_type, ())):
            if listener.handler is not None and listener.handler == handler:
                self._disconnect(listener)
                return True
        return False

    def remove_all_listeners(self, event_type: type[Event] | None = None) -> None:
        """Remove every handler registered with :meth:`on`/:meth:`once` (for ``event_type``).

        Subscriptions and flows are not removed: they end with their own ``async with``
        blocks (or when closed).
        """
        types = list(self._listeners) if event_type is None else [event_type]
        for cls in types:
            for listener in list(self._listeners.get(cls, ())):
                if listener.handler is not None:
                    self._disconnect(listener)

    def event_types(self) -> tuple[type[Event], ...]:
        """The classes that listeners are registered for, in order of first registration."""
        return tuple(self._listeners)

    def has_listeners(self, event_type: type[Event] = Event) -> bool:
        """True if an event of ``event_type`` would reach at least one listener.

        Listeners registered for a base class of ``event_type`` (and the wildcard
        :class:`Event`) count.
        """
        return any(cls in self._listeners for cls in event_type.__mro__)

    @property
    def stats(self) -> BusStats:
        """A :class:`BusStats` snapshot."""
        return BusStats(
            listeners=sum(len(v) for v in self._listeners.values()),
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
            targets = self._emit_cache[type(event)]
        except KeyError:
            targets = self._resolve(event)[0]
        for deliver in targets:
            try:
                deliver(event)
            except Exception as exc:
                self._handler_failed(name_of(deliver), event, exc)

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
            listeners = self._publish_cache[type(event)]
        except KeyError:
            listeners = self._resolve(event)[1]
        for listener in listeners:
            try_put = listener.try_put
            if try_put is None:
                try:
                    listener.deliver_nowait(event)
                except Exception as exc:
                    self._handler_failed(listener.name, event, exc)
            elif not try_put(event):
                await listener.wait_put(event)  # type: ignore[misc]  # set with try_put
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
        inbox: Inbox[Event] = Inbox.open(
            name, max_size=max_buffer, policy=drop, report=self._report_drops
        )
        listener = self._connect(
            event_type, name, inbox.offer, (inbox.try_put, inbox.wait_put), inbox=inbox
        )
        subscription = Subscription[E](event_type, name, inbox, self, listener)
        try:
            await trio.lowlevel.checkpoint()
            yield subscription
        finally:
            subscription.close()

    # ---- internals (also used by the choreographer) -----------------------------------------

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
        fn = handler
        if is_async_callable(fn):
            self._register_async(
                event_type,
                cast("Callable[..., Awaitable[object]]", fn),
                max_buffer,
                drop,
                once=once,
            )
        elif once:
            self._register_sync_once(event_type, fn)
        else:
            self._connect(event_type, name_of(fn), fn, None, handler=fn)
        return handler

    def _register_sync_once(self, event_type: type[Event], handler: Callable[..., object]) -> None:
        listener: _Listener

        def deliver_once(event: Event) -> None:
            if listener.fired:
                return
            listener.fired = True
            self._disconnect(listener)
            handler(event)

        deliver_once.__qualname__ = name_of(handler)
        listener = self._connect(event_type, name_of(handler), deliver_once, None, handler=handler)

    def _register_async(
        self,
        event_type: type[Event],
        handler: Callable[..., Awaitable[object]],
        max_buffer: int,
        drop: DropPolicy,
        *,
        once: bool,
    ) -> None:
        name = name_of(handler)
        inbox: Inbox[Event] = Inbox.open(
            name, max_size=max_buffer, policy=drop, consumer=Node(name), report=self._report_drops
        )
        listener: _Listener
        if once:

            def deliver_once(event: Event) -> None:
                if not listener.fired:
                    listener.fired = True
                    inbox.offer(event)
                    self._disconnect(listener)

            def try_put_once(event: Event) -> bool:
                if listener.fired:
                    return True
                listener.fired = True
                if inbox.try_put(event):
                    self._disconnect(listener)
                    return True
                return False

            async def wait_put_once(event: Event) -> None:
                try:
                    await inbox.wait_put(event)
                finally:
                    self._disconnect(listener)

            listener = self._connect(
                event_type,
                name,
                deliver_once,
                (try_put_once, wait_put_once),
                handler=handler,
                inbox=inbox,
            )
        else:
            listener = self._connect(
                event_type,
                name,
                inbox.offer,
                (inbox.try_put, inbox.wait_put),
                handler=handler,
                inbox=inbox,
            )
        self._nursery.start_soon(self._run_async_handler, handler, listener, inbox, name=name)

    async def _run_async_handler(
        self,
        handler: Callable[[Event], Awaitable[object]],
        listener: _Listener,
        inbox: Inbox[Event],
    ) -> None:
        current_node.set(inbox.consumer)
        with inbox.receive:
            async for event in inbox.receive:
                try:
                    await handler(event)
                except Exception as exc:
                    self._handler_failed(listener.name, event, exc)

    def _connect(
        self,
        event_type: type[Event],
        name: str,
        deliver_nowait: Callable[[Event], object],
        put: tuple[Callable[[Event], bool], Callable[[Event], Awaitable[None]]] | None,
        *,
        handler: object | None = None,
        inbox: Inbox[Event] | None = None,
    ) -> _Listener:
        """Register a listener.

        ``deliver_nowait(event)`` is emit's path; ``put = (try_put, wait_put)`` is publish's
        (``try_put`` returns False when publish must await ``wait_put``); ``put=None`` means
        publish calls ``deliver_nowait`` too.
        """
        self._check_open()
        try_put, wait_put = put if put is not None else (None, None)
        listener = _Listener(
            next(self._seq), event_type, name, handler, deliver_nowait, try_put, wait_put, inbox
        )
        self._listeners.setdefault(event_type, []).append(listener)
        self._emit_cache.clear()
        self._publish_cache.clear()
        return listener

    def _disconnect(self, listener: _Listener, *, close_inbox: bool = True) -> None:
        """Remove a listener (idempotent) and close its inbox's sending side."""
        listeners = self._listeners.get(listener.event_type)
        if listeners is not None:
            for i, other in enumerate(listeners):
                if other is listener:
                    del listeners[i]
                    self._emit_cache.clear()
                    self._publish_cache.clear()
                    break
            if not listeners:
                del self._listeners[listener.event_type]
        if close_inbox and listener.inbox is not None:
            listener.inbox.close()

    def _resolve(
        self, event: Event
    ) -> tuple[tuple[Callable[[Event], object], ...], tuple[_Listener, ...]]:
        self._check_open()
        cls = event.__class__
        obj: object = event
        if not isinstance(obj, Event):
            msg = f"event must be an instance of an Event subclass, got {obj!r}"
            raise TypeError(msg)
        found = [listener for base in cls.__mro__ for listener in self._listeners.get(base, ())]
        found.sort(key=lambda listener: listener.seq)
        listeners = tuple(found)
        targets = tuple(listener.deliver_nowait for listener in listeners)
        self._emit_cache[cls] = targets
        self._publish_cache[cls] = listeners
        return targets, listeners

    def _handler_failed(self, name: str, event: Event, exc: Exception) -> None:
        self._handler_errors += 1
        _logger.error(
            "trio_orch.events.handler_failed",
            handler=name,
            event_type=type(event).__qualname__,
            exc_info=exc,
        )
        if not self._closed and not isinstance(event, HandlerFailed):
            self.emit(HandlerFailed(name, event, exc))

    def _report_drops(self, inbox: Inbox[Event], event: Event, count: int) -> None:
        """An inbox's drop report: count, log, and publish EventsDropped."""
        self._dropped += count
        _logger.warning(
            "trio_orch.events.dropped",
            subscriber=inbox.name,
            policy=inbox.policy.name,
            count=count,
            total=inbox.drops,
            max_buffer=inbox.max_size,
            event_type=type(event).__qualname__,
        )
        if not self._closed and not isinstance(event, SystemEvent):
            self.emit(EventsDropped(inbox.name, inbox.policy.name, count, inbox.drops))

    def _close(self) -> None:
        """Refuse new events; let async handler workers drain their inboxes."""
        if self._closed:
            return
        self._closed = True
        self._emit_cache.clear()
        self._publish_cache.clear()
        for listeners in list(self._listeners.values()):
            for listener in listeners:
                if listener.inbox is not None:
                    listener.inbox.close()


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
            _logger.warning("trio_orch.events.drain_timeout", drain_timeout=drain_timeout)
