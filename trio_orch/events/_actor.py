"""Actors: tasks with a bounded inbox that handle one event at a time; restart policies.

An actor is any object with ``async def handle(self, event)``; subclassing :class:`Actor`
documents that and adds do-nothing ``on_start``/``on_stop`` hooks.  A choreographer spawns it
(``ref = await choreo.spawn(actor, inbox=100)``) as one task in its nursery that runs::

    on_start()  ->  handle(event) for each inbox event, in order  ->  on_stop()

The task ends, calling ``on_stop``, when its inbox is closed and drained (the
choreographer's block ended, or ``ref.close()``).  An exception from ``on_start`` or
``handle`` *crashes* the actor: ``on_stop`` runs, then either its :class:`RestartPolicy`
restarts it (the same object: ``on_start`` runs again; the event that crashed it is lost and
counted, the rest of the inbox is kept) or the exception propagates and cancels the
choreographer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, final

import attrs
import trio

from trio_orch._log import get_logger
from trio_orch.events._event import ActorFailed, ActorRestarted, Event
from trio_orch.events._inbox import Inbox, consuming
from trio_orch.events._restarts import RestartIntensity, RestartPolicy

if TYPE_CHECKING:
    from collections.abc import Callable

    from trio_orch.events._bus import EventBus
    from trio_orch.primitives import QueueStats

E = TypeVar("E")
E_contra = TypeVar("E_contra", contravariant=True)

_logger = get_logger("actor")
#: The most queued events an actor takes in a row without a checkpoint of its own.
_MAX_STREAK = 32


class Actor(Generic[E]):
    """Base class of actors: override :meth:`handle`, and the hooks if you need them.

    Anything with ``async def handle(self, event)`` can be spawned; ``on_start``/``on_stop``
    are called if present.  Subclasses may be attrs classes.
    """

    async def handle(self, event: E) -> None:
        """Handle one event from the inbox.  Raising crashes the actor (see the module doc)."""
        raise NotImplementedError

    async def on_start(self) -> None:
        """Called before the first event, and again after each restart."""
        await trio.lowlevel.checkpoint()

    async def on_stop(self) -> None:
        """Called when the actor stops or crashes.

        On cancellation it runs shielded for at most the spawn's ``stop_timeout`` seconds.
        """
        await trio.lowlevel.checkpoint()


class SupportsHandle(Protocol[E_contra]):
    """What :meth:`Choreographer.spawn` accepts: an object with ``async def handle``."""

    async def handle(self, event: E_contra, /) -> None: ...


@final
@attrs.frozen
class ActorStats:
    """A snapshot of an actor's counters.

    Attributes:
        handled: events handled without error.
        failed: events (or starts) that crashed it.
        restarts: restarts so far.
        running: True while its task runs.
        inbox: the inbox's :class:`trio_orch.QueueStats`.
    """

    handled: int
    failed: int
    restarts: int
    running: bool
    inbox: QueueStats


@final
@attrs.define(eq=False, repr=False)
class ActorRef(Generic[E]):
    """A handle on a spawned actor: send it events, read its stats, close its inbox.

    Returned by :meth:`Choreographer.spawn`; also the ``to=`` of a flow.
    """

    name: str
    _inbox: Inbox[E]
    _quiet: Quiescence | None = None
    _handled: int = 0
    _failed: int = 0
    _restarts: int = 0
    _running: bool = False
    _busy: bool = False

    def __repr__(self) -> str:
        return f"<ActorRef {self.name!r}>"

    @property
    def stats(self) -> ActorStats:
        """An :class:`ActorStats` snapshot."""
        return ActorStats(
            self._handled, self._failed, self._restarts, self._running, self._inbox.stats
        )

    async def send(self, event: E) -> None:
        """Queue ``event`` in the actor's inbox, waiting for room if it is a full BLOCK inbox.

        The twin of :meth:`send_nowait`: the same outcome and errors, except that a full
        ``BLOCK`` inbox makes it wait instead of raising ``WouldBlock``.  ``OLDEST`` and
        ``NEWEST`` drop as their policy says (counted and reported as
        :class:`~trio_orch.EventsDropped`).

        Raises:
            trio_orch.QueueFull: a full ``REJECT`` inbox.
            trio.ClosedResourceError: the inbox is closed (the actor stopped or is stopping),
                also while waiting for room.
            trio_orch.FlowDeadlock: called from an actor, waiting would close a cycle of
                full inboxes.

        Cancellation:
            Atomic: the event is queued or not.

        Checkpoints:
            Always a checkpoint.
        """
        await self._inbox.send(event)

    def send_nowait(self, event: E) -> None:
        """Queue ``event`` without waiting, with the inbox's channel semantics.

        Raises:
            trio.WouldBlock: a full ``BLOCK`` inbox.
            trio_orch.QueueFull: a full ``REJECT`` inbox.
            trio.ClosedResourceError: the inbox is closed (the actor stopped or is stopping).
        """
        self._inbox.send_nowait(event)

    def close(self) -> None:
        """Close the inbox: the actor handles what is queued, calls ``on_stop`` and ends.

        Events that flows route to it afterwards are counted as dropped and reported as
        :class:`~trio_orch.EventsDropped`.  Idempotent; not a checkpoint.
        """
        self._inbox.close()


def inbox_of(ref: ActorRef[E]) -> Inbox[E]:
    """The actor's inbox: the sink a flow attaches to the bus (borrowed, never closed by it)."""
    return ref._inbox


@attrs.define(eq=False)
class Quiescence:
    """Tells when a group of actors is quiet: none is handling an event, no inbox holds one.

    Actors call :meth:`notify` when they go idle (only while someone waits, so it costs
    nothing otherwise); :meth:`wait` returns once the whole group is quiet at the same time.
    """

    _refs: list[ActorRef[Any]] = attrs.Factory(list)
    _event: trio.Event | None = None

    def new_ref(self, name: str, inbox: Inbox[E]) -> ActorRef[E]:
        """A ref on ``inbox`` for a new member of the group."""
        ref = ActorRef[E](name, inbox, self)
        self._refs.append(ref)
        return ref

    def quiet(self) -> bool:
        """True if no running actor is busy or has queued events."""
        return all(
            not ref._running or (not ref._busy and ref._inbox.queued <= 0) for ref in self._refs
        )

    def notify(self) -> None:
        """Wake :meth:`wait` if the group is quiet now."""
        if self._event is not None and self.quiet():
            self._event.set()

    async def wait(self) -> None:
        """Wait until the group is quiet.  Always a checkpoint."""
        await trio.lowlevel.checkpoint()
        while not self.quiet():
            self._event = trio.Event()
            try:
                await self._event.wait()
            finally:
                self._event = None


async def run_actor(
    actor: SupportsHandle[Any],
    ref: ActorRef[Any],
    *,
    restart: RestartPolicy | None,
    stop_timeout: float,
    bus: EventBus | None,
    task_status: trio.TaskStatus[ActorRef[Any]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """The actor's task: run it, restart it per policy, or let its crash propagate."""
    intensity = RestartIntensity(restart) if restart is not None else None
    started = False

    def mark_started() -> None:
        nonlocal started
        if not started:
            started = True
            task_status.started(ref)

    ref._running = True
    try:
        with consuming(ref._inbox.consumer):
            while True:
                try:
                    await _run_once(actor, ref, stop_timeout, mark_started)
                    return
                except Exception as exc:
                    ref._failed += 1
                    delay = None
                    if intensity is not None:
                        delay = intensity.record_crash(trio.current_time())
                    _report_failure(bus, ref, exc, restarting=delay is not None)
                    if delay is None:
                        if intensity is not None:
                            exc.add_note(intensity.give_up_note(f"actor {ref.name!r}"))
                        raise
                # Outside the except block, so the crash is not the context of what follows.
                assert intensity is not None
                ref._restarts += 1
                await trio.sleep(delay)
                _logger.warning(
                    "trio_orch.actor.restarted",
                    actor=ref.name,
                    restarts=intensity.in_window,
                    delay=delay,
                )
                if bus is not None and not bus.closed:
                    bus.emit(ActorRestarted(ref.name, intensity.in_window, delay))
    finally:
        ref._running = False
        if ref._quiet is not None:
            ref._quiet.notify()


async def _run_once(
    actor: SupportsHandle[Any],
    ref: ActorRef[Any],
    stop_timeout: float,
    mark_started: Callable[[], None],
) -> None:
    on_start = getattr(actor, "on_start", None)
    if on_start is not None:
        await on_start()
    mark_started()
    try:
        await _handle_inbox(actor, ref)
    except trio.Cancelled:
        with trio.CancelScope(shield=True), trio.move_on_after(stop_timeout):
            await _stop(actor, ref)
        raise
    except Exception:
        await _stop(actor, ref)
        raise
    await _stop(actor, ref)


async def _handle_inbox(actor: SupportsHandle[Any], ref: ActorRef[Any]) -> None:
    """Hand every inbox event to ``actor.handle``, in order, until the inbox is closed.

    Queued events are taken without a checkpoint of their own, at most ``_MAX_STREAK`` in a
    row.  When the inbox is empty the actor checkpoints once and looks again before it parks
    in ``receive``: a producer that runs in the same scheduling batch then hands it the next
    event through the buffer, instead of waking a parked task (which costs more).
    """
    inbox = ref._inbox
    receive_nowait, receive = inbox.receive_nowait, inbox.receive
    checkpoint = trio.lowlevel.checkpoint
    handle = actor.handle
    quiet = ref._quiet
    streak = 0
    while True:
        if inbox.queued <= 0 or streak >= _MAX_STREAK:
            streak = 0
            await checkpoint()
        try:
            event = receive_nowait() if inbox.queued > 0 else await receive()
        except trio.EndOfChannel:
            await trio.lowlevel.checkpoint()
            return
        streak += 1
        ref._busy = True
        try:
            await handle(event)
        except Exception as exc:
            exc.add_note(f"raised by actor {ref.name!r} handling {_describe(event)}")
            raise
        finally:
            ref._busy = False
            if quiet is not None and quiet._event is not None and inbox.queued <= 0:
                quiet.notify()
        ref._handled += 1


async def _stop(actor: SupportsHandle[Any], ref: ActorRef[Any]) -> None:
    on_stop = getattr(actor, "on_stop", None)
    if on_stop is None:
        await trio.lowlevel.checkpoint()
        return
    try:
        await on_stop()
    except Exception as exc:
        # The actor is stopping anyway; its stop hook failing must not hide why.
        _logger.error("trio_orch.actor.stop_failed", actor=ref.name, exc_info=exc)
        await trio.lowlevel.checkpoint()


def _describe(event: object) -> str:
    return type(event).__qualname__ if isinstance(event, Event) else repr(event)[:80]


def _report_failure(
    bus: EventBus | None, ref: ActorRef[Any], exc: Exception, *, restarting: bool
) -> None:
    _logger.error("trio_orch.actor.failed", actor=ref.name, restarting=restarting, exc_info=exc)
    if bus is not None and not bus.closed:
        bus.emit(ActorFailed(ref.name, exc, restarting))
