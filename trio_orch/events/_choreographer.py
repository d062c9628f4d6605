"""The choreographer: actors in a nursery, and flows that route bus events to them.

``async with open_choreographer(bus) as choreo:`` opens a nursery for actors.  ``await
choreo.spawn(actor, inbox=100)`` starts one and returns its :class:`~trio_orch.ActorRef`;
``choreo.flow(UserInput, to=ref, transform=fn, where=predicate)`` subscribes the actor's inbox
to the bus, optionally through stream operators (``.throttle(60).batch(10, 0.05)``).

A flow without operators is a bus listener that filters (``where``), maps (``transform``)
and queues straight into the actor's inbox, with no task of its own: ``emit`` applies the
inbox's drop policy, ``publish`` waits for room.  A flow with operators gets a bounded inbox
of its own (``max_buffer``, ``BLOCK``) and a task that runs the operators and forwards their
output to the actor, waiting for room; that task runs in the choreographer's nursery.

Shutdown, when the block ends normally: the work in flight is let run to its end, with every
flow still connected.  In rounds: wait until the actors are all quiet at once (none handling
an event, no inbox holding one); flush every operator pipeline (a fresh pipeline takes over
the flow while the old one emits what it holds -- a partial batch, a debounced item -- into
the actor and ends); wait until the actors are quiet again.  A round in which no pipeline
forwarded anything ends the drain.  Then the flows are disconnected, the actors' inboxes
closed, and each actor runs ``on_stop`` and ends.  (Like a nursery that waits for its tasks,
this waits as long as actors keep passing work around; cancel the block to cut it short.)

When the block raises, or an actor crashes without a restart policy, everything is cancelled
and the error propagates (not wrapped in an ExceptionGroup when it is the only one).
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Generic, TypeVar, final

import attrs
import trio

from trio_orch._groups import unwrap_single
from trio_orch._validate import check_callable, check_instance, check_int
from trio_orch.events._actor import ActorRef, Quiescence, SupportsHandle, inbox_of, run_actor
from trio_orch.events._bus import (
    DEFAULT_MAX_BUFFER,
    EventBus,
    attach,
    check_event_type,
    open_inbox,
)
from trio_orch.events._inbox import Inbox, Node, consuming
from trio_orch.events._operators import (
    Operator,
    ThrottleMode,
    batch,
    debounce,
    dedupe,
    start_pipeline,
    throttle,
)
from trio_orch.events._restarts import RestartPolicy
from trio_orch.events._sink import DELIVERED, Filtered, Mapped
from trio_orch.primitives import DropPolicy

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Hashable, Iterable

    from trio_orch.events._bus import Attachment
    from trio_orch.events._event import Event
    from trio_orch.events._sink import Sink

E = TypeVar("E", bound="Event")
T = TypeVar("T")

#: Default seconds ``on_stop`` may run, shielded, when an actor is cancelled.
DEFAULT_STOP_TIMEOUT = 5.0


@final
@attrs.define(eq=False, repr=False)
class Flow(Generic[E]):
    """A declared route from bus events of one type to an actor.  See :meth:`Choreographer.flow`.

    Chain operators right where the flow is declared (before the next checkpoint):
    ``choreo.flow(Tick, to=ui).throttle(60).batch(16, 1 / 60)``.
    """

    name: str
    event_type: type[E]
    _choreo: Choreographer
    _to: ActorRef[Any]
    _where: Callable[[E], object] | None
    _transform: Callable[[E], object] | None
    _max_buffer: int
    _operators: list[Operator] = attrs.Factory(list)
    _attachment: Attachment | None = None
    _task_started: bool = False
    _closed: bool = False
    # Set when the current operator task has ended; items it forwarded to the actor.
    _done: trio.Event | None = None
    _forwarded: int = 0

    def __repr__(self) -> str:
        return f"<Flow {self.name!r}>"

    @property
    def operators(self) -> tuple[Operator, ...]:
        """The operators the flow runs, in order (read their ``stats`` here)."""
        return tuple(self._operators)

    def via(self, *operators: Operator) -> Flow[E]:
        """Append ``operators`` to the flow; returns the flow, for chaining.

        Raises:
            RuntimeError: the flow's operator task already started (chain where you declare).
            TypeError: an operator is not an :class:`~trio_orch.Operator`.
        """
        objs: tuple[object, ...] = operators
        for op in objs:
            if not isinstance(op, Operator):
                msg = f"operators must be Operator instances, got {op!r}"
                raise TypeError(msg)
        if self._task_started or self._closed:
            msg = (
                f"flow {self.name!r} already runs: chain operators where the flow is declared, "
                "before the next checkpoint"
            )
            raise RuntimeError(msg)
        if not operators:
            return self
        direct = not self._operators
        self._operators.extend(operators)
        if direct:
            self._connect()
        return self

    def batch(self, max_size: int, max_wait: float) -> Flow[E]:
        """Append :func:`trio_orch.batch` (the actor then receives tuples of events)."""
        return self.via(batch(max_size, max_wait))

    def throttle(self, per_second: float, *, mode: ThrottleMode = ThrottleMode.DELAY) -> Flow[E]:
        """Append :func:`trio_orch.throttle`."""
        return self.via(throttle(per_second, mode=mode))

    def debounce(self, delay: float) -> Flow[E]:
        """Append :func:`trio_orch.debounce`."""
        return self.via(debounce(delay))

    def dedupe(self, key: Callable[[Any], Hashable] | None, window: float) -> Flow[E]:
        """Append :func:`trio_orch.dedupe`."""
        return self.via(dedupe(key, window))

    def close(self) -> None:
        """Disconnect the flow from the bus; its operators flush into the actor, then stop.

        Idempotent; not a checkpoint.
        """
        self._closed = True
        if self._attachment is not None:
            self._attachment.detach()
            self._attachment = None

    # ---- internals ---------------------------------------------------------------------

    def _connect(self) -> None:
        """(Re)attach the flow to the bus for the current mode: direct, or through a task.

        Direct: the actor's inbox, borrowed (never closed by the flow).  With operators: a
        fresh inbox of the flow's own, read by a fresh operator task; detaching closes it,
        so the old task flushes and ends.
        """
        bus = self._choreo.bus
        if self._attachment is not None:
            self._attachment.detach()
            self._attachment = None
        target: Sink[Any]
        if not self._operators:
            target = inbox_of(self._to)
        else:
            node = Node(self.name)
            inbox = open_inbox(
                bus, self.name, max_size=self._max_buffer, policy=DropPolicy.BLOCK, consumer=node
            )
            self._done = trio.Event()
            self._choreo._flows_nursery.start_soon(self._run, inbox, self._done, name=self.name)
            target = inbox
        if self._transform is not None:
            target = Mapped(target, self._transform, self.name)
        if self._where is not None:
            target = Filtered(target, self._where, self.name)
        self._attachment = attach(bus, self.event_type, target, owned=bool(self._operators))

    def _flush(self) -> trio.Event | None:
        """Swap in a fresh operator pipeline; the old one flushes into the actor and ends.

        Returns the event set when the old pipeline has ended (None without operators).
        """
        done = self._done
        if done is not None and not self._closed:
            if self._choreo.bus.closed:
                self.close()  # no new pipeline can listen any more: just flush the old one
            else:
                self._connect()
        return done

    async def _run(self, inbox: Inbox[Any], done: trio.Event) -> None:
        """The operator task: inbox -> operators -> the actor's inbox (waiting for room)."""
        self._task_started = True
        to = inbox_of(self._to)
        try:
            with consuming(inbox.consumer):
                async with trio.open_nursery() as nursery:
                    out = start_pipeline(nursery, inbox.reader(), *self._operators)
                    async with out:
                        async for item in out:
                            pending = to.try_put(item)
                            if pending is not DELIVERED:
                                await to.wait_put(pending)
                            self._forwarded += 1
        finally:
            done.set()


@final
@attrs.define(eq=False, repr=False)
class Choreographer:
    """Spawns actors in its nursery and routes bus events to them.  See :func:`open_choreographer`."""

    bus: EventBus
    _actors_nursery: trio.Nursery
    _flows_nursery: trio.Nursery
    _refs: list[ActorRef[Any]] = attrs.Factory(list)
    _flows: list[Flow[Any]] = attrs.Factory(list)
    _names: set[str] = attrs.Factory(set)
    _closed: bool = False
    _quiet: Quiescence = attrs.Factory(Quiescence)

    def __repr__(self) -> str:
        return f"<Choreographer {len(self._refs)} actors, {len(self._flows)} flows>"

    @property
    def actors(self) -> tuple[ActorRef[Any], ...]:
        """The refs of every actor spawned, in spawn order."""
        return tuple(self._refs)

    @property
    def flows(self) -> tuple[Flow[Any], ...]:
        """Every flow declared, in order."""
        return tuple(self._flows)

    async def spawn(
        self,
        actor: SupportsHandle[T],
        *,
        inbox: int = DEFAULT_MAX_BUFFER,
        drop: DropPolicy = DropPolicy.BLOCK,
        name: str | None = None,
        restart: RestartPolicy | None = None,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
    ) -> ActorRef[T]:
        """Start ``actor`` as a task in the choreographer's nursery; return its ref once started.

        Args:
            actor: an object with ``async def handle(self, event)`` (an :class:`Actor`).
            inbox: the inbox size (>= 1).
            drop: what the full inbox does: ``BLOCK`` (``publish``/``ref.send`` wait,
                ``emit`` refuses and counts), ``OLDEST``, ``NEWEST``, ``REJECT`` (refuses and
                counts).
            name: unique name for logs and events (default: the class name, numbered).
            restart: restart the actor when it raises; ``None``: its error stops the
                choreographer (siblings are cancelled, the error propagates).
            stop_timeout: seconds ``on_stop`` may run, shielded, after a cancellation.

        Returns:
            The actor's :class:`~trio_orch.ActorRef`, after its ``on_start`` returned.

        Raises:
            TypeError, ValueError: bad arguments (no ``handle`` method, bad sizes, ...).
            trio.ClosedResourceError: the choreographer's block has ended.
            Exception: what ``on_start`` raised, if it failed without a restart policy.

        Cancellation:
            Cancelling ``spawn`` while ``on_start`` runs cancels the actor.
        """
        handle = getattr(actor, "handle", None)
        if handle is None or not callable(handle):
            msg = f"actor must have an async handle(event) method, got {actor!r}"
            raise TypeError(msg)
        check_int("inbox", inbox, minimum=1)
        check_instance("drop", drop, DropPolicy, "a DropPolicy")
        restart_obj: object = restart
        check_instance("restart", restart_obj, RestartPolicy, "a RestartPolicy", allow_none=True)
        if not (isinstance(stop_timeout, int | float) and stop_timeout >= 0):
            msg = f"stop_timeout must be a number >= 0, got {stop_timeout!r}"
            raise ValueError(msg)
        self._check_open()
        name = self._unique_name(name or type(actor).__qualname__, explicit=name is not None)
        queue = open_inbox(self.bus, name, max_size=inbox, policy=drop, consumer=Node(name))
        ref: ActorRef[T] = self._quiet.new_ref(name, queue)
        self._refs.append(ref)
        started: ActorRef[T] = await self._actors_nursery.start(
            _spawned,
            actor,
            ref,
            restart,
            stop_timeout,
            self.bus,
            name=f"actor:{name}",
        )
        return started

    def flow(
        self,
        event_type: type[E],
        *,
        to: ActorRef[Any],
        transform: Callable[[E], object] | None = None,
        where: Callable[[E], object] | None = None,
        via: Iterable[Operator] = (),
        max_buffer: int = DEFAULT_MAX_BUFFER,
    ) -> Flow[E]:
        """Route every bus event of ``event_type`` (or a subclass) to the actor ``to``.

        Each event passes ``where(event)`` (skipped if false), then ``transform(event)``
        (the actor receives its result), then the operators (``via``, or chained on the
        returned :class:`Flow`).  ``where``/``transform`` run synchronously inside
        ``emit``/``publish``; if they raise, the error is handled as a failing handler's
        (logged, counted, :class:`~trio_orch.HandlerFailed`) and the event skipped.

        Args:
            event_type: the class to route; :class:`~trio_orch.Event` routes everything.
            to: the destination actor.
            transform: maps an event to what the actor receives.
            where: a predicate; events for which it is false are skipped.
            via: stream operators to run the events through, in order.
            max_buffer: with operators: the size of the flow's own inbox (>= 1).

        Returns:
            The :class:`Flow` (chain ``.throttle()``, ``.batch()``, ... on it; ``close()``).

        Raises:
            TypeError, ValueError: bad arguments.
            trio.ClosedResourceError: the choreographer's block has ended.
            trio_orch.BusClosed: the bus is closed.
        """
        check_event_type(event_type)
        to_obj: object = to
        if not isinstance(to_obj, ActorRef):
            msg = f"to must be an ActorRef (from spawn), got {to_obj!r}"
            raise TypeError(msg)
        fns: tuple[tuple[object, str], ...] = ((transform, "transform"), (where, "where"))
        for fn, arg in fns:
            check_callable(arg, fn, allow_none=True)
        check_int("max_buffer", max_buffer, minimum=1)
        self._check_open()
        name = f"flow:{event_type.__qualname__}->{to.name}"
        flow = Flow[E](name, event_type, self, to, where, transform, max_buffer)
        self._flows.append(flow)
        flow._connect()
        flow.via(*via)
        return flow

    def _check_open(self) -> None:
        if self._closed:
            msg = "the choreographer's async with block has ended"
            raise trio.ClosedResourceError(msg)

    def _unique_name(self, base: str, *, explicit: bool) -> str:
        if explicit and base in self._names:
            msg = f"name must be unique among the actors, got {base!r} twice"
            raise ValueError(msg)
        name = base
        n = 1
        while name in self._names:
            n += 1
            name = f"{base}#{n}"
        self._names.add(name)
        return name

    def _close_flows(self) -> None:
        self._closed = True
        for flow in self._flows:
            flow.close()

    async def _settle(self) -> None:
        """The normal-exit drain: see "Shutdown" in the module docstring.

        Rounds of: wait until the actors are quiet; flush every operator pipeline and wait
        for the old pipelines to end; wait until the actors are quiet again.  A round in
        which no pipeline forwarded anything means nothing is left in flight.
        """
        self._closed = True
        while True:
            await self._quiet.wait()
            before = sum(flow._forwarded for flow in self._flows)
            for done in [flow._flush() for flow in self._flows]:
                if done is not None:
                    await done.wait()
            await self._quiet.wait()
            if sum(flow._forwarded for flow in self._flows) == before:
                return

    def _close_actors(self) -> None:
        for ref in self._refs:
            ref.close()


async def _spawned(
    actor: SupportsHandle[Any],
    ref: ActorRef[Any],
    restart: RestartPolicy | None,
    stop_timeout: float,
    bus: EventBus,
    *,
    task_status: trio.TaskStatus[ActorRef[Any]] = trio.TASK_STATUS_IGNORED,
) -> None:
    await run_actor(
        actor, ref, restart=restart, stop_timeout=stop_timeout, bus=bus, task_status=task_status
    )


@asynccontextmanager
async def open_choreographer(bus: EventBus) -> AsyncIterator[Choreographer]:
    """Open a :class:`Choreographer` on ``bus``, with a nursery for its actors and flows.

    Open it inside the bus's block.  On normal exit the block waits until the work in
    flight has run to its end (the actors are quiet and the operator pipelines flushed; see
    the module docs), then closes the flows and the actors' inboxes; each actor runs
    ``on_stop`` and ends.  If the block raises or an actor crashes (without a restart
    policy, or past its limits), the other actors and flows are cancelled and the exception
    propagates, unwrapped.

    Raises:
        TypeError: ``bus`` is not an :class:`EventBus`.
        trio_orch.FlowDeadlock: an actor's blocking send would have closed a cycle.

    Cancellation:
        Cancelling the block cancels every actor (their ``on_stop`` run shielded, bounded
        by ``stop_timeout``) and flow.
    """
    bus_obj: object = bus
    if not isinstance(bus_obj, EventBus):
        msg = f"bus must be an EventBus, got {bus_obj!r}"
        raise TypeError(msg)
    with unwrap_single("open_choreographer()"):
        async with trio.open_nursery() as actors:
            try:
                async with trio.open_nursery() as flows:
                    choreo = Choreographer(bus, actors, flows)
                    yield choreo
                    await choreo._settle()
                    choreo._close_flows()
            except BaseException:
                actors.cancel_scope.cancel(reason="the choreographer's block raised")
                raise
            finally:
                choreo._close_flows()
                choreo._close_actors()
