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

import collections
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, final

import attrs
import structlog
import trio

from trio_orch._validate import instance_validator, int_validator, number_validator
from trio_orch.events._event import ActorFailed, ActorRestarted, Event
from trio_orch.events._inbox import Inbox, Node, current_node
from trio_orch.primitives import Jitter, RetryPolicy

if TYPE_CHECKING:
    import random
    from collections.abc import Callable

    from trio_orch.events._bus import EventBus
    from trio_orch.primitives import QueueStats

E = TypeVar("E")
E_contra = TypeVar("E_contra", contravariant=True)

_logger = structlog.get_logger()
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


def _default_backoff() -> RetryPolicy:
    return RetryPolicy(
        max_attempts=2, initial_delay=0.1, max_delay=5.0, multiplier=2.0, jitter=Jitter.NONE
    )


@final
@attrs.frozen(kw_only=True)
class RestartPolicy:
    """Restart a crashed actor, at most ``max_restarts`` times within ``window`` seconds.

    The ``n``-th restart inside the window waits the ``n``-th delay of ``backoff``'s
    schedule (:meth:`trio_orch.RetryPolicy.delays`; only its delay fields are used, not
    ``max_attempts``/``retry_on``/``timeout``).  The crash that would be restart number
    ``max_restarts + 1`` within the window propagates instead.  Only ``Exception``
    subclasses crash an actor into a restart; ``trio.Cancelled`` and other
    ``BaseException`` always propagate.

    Args:
        max_restarts: restarts allowed within ``window`` (>= 0; 0 never restarts).
        window: the sliding window, in seconds.
        backoff: the delay schedule (default: 0.1 s doubling up to 5 s, no jitter).

    Raises:
        TypeError, ValueError: an argument is of the wrong type or out of range.
    """

    max_restarts: int = attrs.field(default=3, validator=int_validator(minimum=0))
    window: float = attrs.field(
        default=60.0, validator=number_validator(strict=True, allow_inf=True)
    )
    backoff: RetryPolicy = attrs.field(
        factory=_default_backoff, validator=instance_validator(RetryPolicy, "a RetryPolicy")
    )

    def delays(self, rng: random.Random | None = None) -> list[float]:
        """The ``max_restarts`` backoff delays, in seconds."""
        schedule = attrs.evolve(self.backoff, max_attempts=self.max_restarts + 1)
        return list(schedule.delays(rng))


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
    _node: Node
    _handled: int = 0
    _failed: int = 0
    _restarts: int = 0
    _running: bool = False
    _busy: bool = False
    _quiet: Quiescence | None = None

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

        Other policies apply at once (``REJECT`` and a full inbox: the event is refused and
        counted, not raised, as for the bus).

        Raises:
            trio_orch.FlowDeadlock: called from an actor, waiting would close a cycle of
                full inboxes.

        Cancellation:
            Atomic: the event is queued or not.

        Checkpoints:
            Always a checkpoint.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        if not self._inbox.try_put(event):
            await self._inbox.wait_put(event)
        await trio.lowlevel.cancel_shielded_checkpoint()

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

        Idempotent; not a checkpoint.
        """
        self._inbox.close()


@attrs.define(eq=False)
class Quiescence:
    """Tells when a group of actors is quiet: none is handling an event, no inbox holds one.

    Actors call :meth:`notify` when they go idle (only while someone waits, so it costs
    nothing otherwise); :meth:`wait` returns once the whole group is quiet at the same time.
    """

    refs: list[ActorRef[Any]] = attrs.Factory(list)
    _event: trio.Event | None = None

    def quiet(self) -> bool:
        """True if no running actor is busy or has queued events."""
        return all(
            not ref._running or (not ref._busy and ref._inbox.queued <= 0) for ref in self.refs
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
    current_node.set(ref._node)
    delays = restart.delays() if restart is not None else []
    recent: collections.deque[float] = collections.deque()  # times of recent restarts
    started = False

    def mark_started() -> None:
        nonlocal started
        if not started:
            started = True
            task_status.started(ref)

    ref._running = True
    try:
        while True:
            try:
                await _run_once(actor, ref, stop_timeout, mark_started)
                return
            except Exception as exc:
                ref._failed += 1
                now = trio.current_time()
                while restart is not None and recent and recent[0] <= now - restart.window:
                    recent.popleft()
                restarting = restart is not None and len(recent) < restart.max_restarts
                _report_failure(bus, ref, exc, restarting=restarting)
                if restart is None or not restarting:
                    if restart is not None:
                        exc.add_note(
                            f"actor {ref.name!r} gave up after {restart.max_restarts} "
                            f"restarts within {restart.window} s"
                        )
                    raise
                delay = delays[len(recent)]
            # Outside the except block, so the crash is not the context of what follows.
            recent.append(now)
            ref._restarts += 1
            await trio.sleep(delay)
            _logger.info(
                "trio_orch.events.actor_restarted",
                actor=ref.name,
                restarts=len(recent),
                delay=delay,
            )
            if bus is not None and not bus.closed:
                bus.emit(ActorRestarted(ref.name, len(recent), delay))
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
    receive = inbox.receive
    handle = actor.handle
    streak = 0
    while True:
        if inbox.queued <= 0 or streak >= _MAX_STREAK:
            streak = 0
            await trio.lowlevel.checkpoint()
        try:
            event = receive.receive_nowait() if inbox.queued > 0 else await receive.receive()
        except trio.WouldBlock:
            inbox.queued = 0  # the hint was off (it never is for the inbox's own sends)
            if ref._quiet is not None:
                ref._quiet.notify()
            continue
        except trio.EndOfChannel:
            await trio.lowlevel.checkpoint()
            return
        inbox.queued -= 1
        streak += 1
        ref._busy = True
        try:
            await handle(event)
        except Exception as exc:
            exc.add_note(f"raised by actor {ref.name!r} handling {_describe(event)}")
            raise
        finally:
            ref._busy = False
            quiet = ref._quiet
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
        _logger.error("trio_orch.events.actor_stop_failed", actor=ref.name, exc_info=exc)
        await trio.lowlevel.checkpoint()


def _describe(event: object) -> str:
    return type(event).__qualname__ if isinstance(event, Event) else repr(event)[:80]


def _report_failure(
    bus: EventBus | None, ref: ActorRef[Any], exc: Exception, *, restarting: bool
) -> None:
    _logger.error(
        "trio_orch.events.actor_failed", actor=ref.name, restarting=restarting, exc_info=exc
    )
    if bus is not None and not bus.closed:
        bus.emit(ActorFailed(ref.name, exc, restarting))
