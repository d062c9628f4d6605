"""Supervisor: nursery-scoped children restarted under Erlang/OTP strategies.

A supervisor owns a nursery; each child is a task in it, started with
:meth:`Supervisor.start_child`.  When a child ends, its restart type decides whether it is
restarted (OTP's ``permanent``, ``transient``, ``temporary``), and the strategy decides which
children restart with it:

================  =========================================================================
strategy          children restarted when one must restart
================  =========================================================================
``ONE_FOR_ONE``   that child only
``ONE_FOR_ALL``   every child: the others are cancelled first, then all restart in start order
``REST_FOR_ONE``  that child and every child started after it, in start order
================  =========================================================================

The restart intensity is OTP's: at most ``max_restarts`` restarts within ``window`` seconds
(a :class:`~trio_orch.RestartPolicy`).  The restart that would exceed it escalates instead:
every child is cancelled, :class:`SupervisorEscalated` is published, and
:class:`~trio_orch.RestartIntensityExceeded` is raised out of the ``async with`` block,
chained from the child's error.  Each restart inside the window first waits the policy's
backoff delay (the one backoff schedule).
"""

from __future__ import annotations

import collections
import enum
from typing import TYPE_CHECKING, Any, NoReturn, final

import attrs
import trio

from trio_orch._exceptions import RestartIntensityExceeded
from trio_orch._groups import open_nursery_unwrapped
from trio_orch._log import get_logger
from trio_orch._validate import check_callable, check_instance, check_nonempty_str
from trio_orch.events import RestartIntensity, RestartPolicy, SystemEvent

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from contextlib import AbstractAsyncContextManager
    from types import TracebackType

    from trio_orch.events import EventBus

__all__ = [
    "ChildRestart",
    "ChildRestarted",
    "Supervisor",
    "SupervisorEvent",
    "SupervisorEscalated",
    "SupervisorStats",
    "SupervisorStrategy",
]

_logger = get_logger("supervisor")


class SupervisorStrategy(enum.Enum):
    """Which children restart together (see the module docs): OTP's three strategies."""

    ONE_FOR_ONE = "one_for_one"
    ONE_FOR_ALL = "one_for_all"
    REST_FOR_ONE = "rest_for_one"


class ChildRestart(enum.Enum):
    """When a child is restarted, as OTP's child restart types.

    ``PERMANENT``: always, whether it returned or crashed.  ``TRANSIENT``: only when it
    crashed (raised an ``Exception``); a normal return ends it.  ``TEMPORARY``: never; a
    crash is logged and the child is forgotten.
    """

    PERMANENT = "permanent"
    TRANSIENT = "transient"
    TEMPORARY = "temporary"


@attrs.frozen
class SupervisorEvent(SystemEvent):
    """Base class of the events a :class:`Supervisor` publishes."""


@final
@attrs.frozen
class ChildRestarted(SupervisorEvent):
    """Child ``name`` was restarted (``restarts`` so far), because of ``error`` (``None``
    when it returned, or was restarted with a sibling)."""

    supervisor: str
    name: str
    restarts: int
    error: BaseException | None


@final
@attrs.frozen
class SupervisorEscalated(SupervisorEvent):
    """The restart intensity was exceeded by child ``name``; the supervisor gave up."""

    supervisor: str
    name: str
    restarts: int
    error: BaseException | None


@final
@attrs.frozen
class SupervisorStats:
    """Counts: ``children`` supervised now, ``running`` among them, ``restarts`` in all."""

    children: int
    running: int
    restarts: int


@attrs.define(eq=False)
class _Child:
    name: str
    fn: Callable[..., Awaitable[object]]
    args: tuple[Any, ...]
    restart: ChildRestart
    generation: int = 0
    restarts: int = 0
    scope: trio.CancelScope | None = None
    done: trio.Event = attrs.Factory(trio.Event)


@final
class Supervisor:
    """Own children and restart them under an OTP strategy and restart intensity.

    Use it as ``async with Supervisor(...) as sup:``; leaving the block cancels every
    child and waits for them.  If the intensity is exceeded the block is cancelled and
    :class:`~trio_orch.RestartIntensityExceeded` comes out of it.

    Args:
        strategy: a :class:`SupervisorStrategy` (default ``ONE_FOR_ONE``).
        restart: a :class:`~trio_orch.RestartPolicy` (``max_restarts`` within ``window``,
            and the backoff before each restart); default ``RestartPolicy()``.
        bus: where :class:`ChildRestarted` and :class:`SupervisorEscalated` go.
        name: the supervisor's name in events and logs.

    Raises:
        TypeError: an argument has the wrong type.
    """

    def __init__(
        self,
        strategy: SupervisorStrategy = SupervisorStrategy.ONE_FOR_ONE,
        restart: RestartPolicy | None = None,
        *,
        bus: EventBus | None = None,
        name: str = "supervisor",
    ) -> None:
        self._strategy = check_instance(
            "strategy", strategy, SupervisorStrategy, "a SupervisorStrategy"
        )
        self._policy = (
            check_instance("restart", restart, RestartPolicy, "a RestartPolicy", allow_none=True)
            or RestartPolicy()
        )
        self._bus = bus
        self._name = check_nonempty_str("name", name)
        self._children: list[_Child] = []
        self._exits: collections.deque[tuple[_Child, int, BaseException | None]] = (
            collections.deque()
        )
        self._wakeup = trio.Event()
        self._intensity = RestartIntensity(self._policy)
        self._restarts = 0
        self._nursery: trio.Nursery | None = None
        self._closed = False
        self._cm: AbstractAsyncContextManager[trio.Nursery] | None = None

    # --- lifetime ---------------------------------------------------------------------------

    async def __aenter__(self) -> Supervisor:
        if self._cm is not None or self._closed:
            msg = "a Supervisor can be entered only once"
            raise RuntimeError(msg)
        self._cm = open_nursery_unwrapped(f"Supervisor {self._name!r}")
        self._nursery = await self._cm.__aenter__()
        self._nursery.start_soon(self._manage)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._cm is not None
        assert self._nursery is not None
        self._closed = True
        self._nursery.cancel_scope.cancel(reason="supervisor block ended")
        return await self._cm.__aexit__(exc_type, exc, tb)

    # --- children ---------------------------------------------------------------------------

    async def start_child(
        self,
        name: str,
        fn: Callable[..., Awaitable[object]],
        *args: Any,
        restart: ChildRestart = ChildRestart.PERMANENT,
    ) -> None:
        """Start ``await fn(*args)`` as child ``name``, after every child started before.

        Start order is what ``REST_FOR_ONE`` means by "the children after it".

        Raises:
            ValueError: a child called ``name`` is supervised already.
            TypeError: ``fn`` is not callable, ``restart`` not a :class:`ChildRestart`.
            trio.ClosedResourceError: the supervisor's block has not begun or has ended.

        Checkpoints: always (it does not wait for the child to run).
        """
        check_nonempty_str("name", name)
        check_callable("fn", fn)
        check_instance("restart", restart, ChildRestart, "a ChildRestart")
        if self._nursery is None or self._closed:
            msg = "the supervisor is not running (use it inside `async with`)"
            raise trio.ClosedResourceError(msg)
        if any(child.name == name for child in self._children):
            msg = f"name must be unique, got {name!r} twice"
            raise ValueError(msg)
        child = _Child(name, fn, args, restart)
        self._children.append(child)
        self._launch(child)
        await trio.lowlevel.checkpoint()

    async def terminate_child(self, name: str) -> None:
        """Cancel child ``name``, wait for it to end, and stop supervising it.

        Raises:
            KeyError: no child is called ``name``.

        Cancellation: if cancelled while waiting, the child is still cancelled and
        forgotten; only the wait is cut short.
        """
        child = self._find(name)
        self._children.remove(child)
        child.generation += 1
        if child.scope is not None:
            child.scope.cancel(reason=f"child {name!r} terminated")
        await child.done.wait()

    def children(self) -> tuple[str, ...]:
        """The names of the children supervised now, in start order."""
        return tuple(child.name for child in self._children)

    def restarts(self, name: str) -> int:
        """How many times child ``name`` has been restarted.

        Raises:
            KeyError: no child is called ``name``.
        """
        return self._find(name).restarts

    @property
    def stats(self) -> SupervisorStats:
        """A frozen snapshot of the supervisor's counts."""
        running = sum(1 for child in self._children if not child.done.is_set())
        return SupervisorStats(
            children=len(self._children), running=running, restarts=self._restarts
        )

    def _find(self, name: str) -> _Child:
        for child in self._children:
            if child.name == name:
                return child
        raise KeyError(name)

    # --- the machinery ----------------------------------------------------------------------

    def _launch(self, child: _Child) -> None:
        assert self._nursery is not None
        child.done = trio.Event()
        child.scope = trio.CancelScope()
        self._nursery.start_soon(self._run_child, child, child.generation, child.scope)

    async def _run_child(  # noqa: ASYNC910 - a task: its checkpoints are the child's own
        self, child: _Child, generation: int, scope: trio.CancelScope
    ) -> None:
        error: BaseException | None = None
        try:
            with scope:
                try:
                    await child.fn(*child.args)
                except Exception as exc:
                    error = exc
            if not scope.cancelled_caught:
                self._exits.append((child, generation, error))
                self._wakeup.set()
        finally:
            child.done.set()

    async def _manage(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup = trio.Event()
            while self._exits:
                child, generation, error = self._exits.popleft()
                if child.generation == generation and child in self._children:
                    await self._on_exit(child, error)

    async def _on_exit(self, child: _Child, error: BaseException | None) -> None:
        if error is not None:
            _logger.warning(
                "trio_orch.supervisor.child_crashed",
                supervisor=self._name,
                child=child.name,
                error=repr(error),
            )
        if child.restart is ChildRestart.TEMPORARY or (
            child.restart is ChildRestart.TRANSIENT and error is None
        ):
            self._children.remove(child)
            await trio.lowlevel.checkpoint()
            return
        delay = self._intensity.record_crash(trio.current_time())
        if delay is None:
            self._escalate(child, error)
        group = self._group(child)
        for sibling in group:
            if sibling is not child and sibling.scope is not None:
                sibling.generation += 1
                sibling.scope.cancel(reason=f"restarting with {child.name!r}")
        for sibling in group:
            await sibling.done.wait()
        await trio.sleep(delay)
        for sibling in group:
            if sibling not in self._children:
                continue  # terminated while we waited
            sibling.generation += 1
            sibling.restarts += 1
            self._restarts += 1
            self._launch(sibling)
            if self._bus is not None:
                self._bus.emit(
                    ChildRestarted(
                        self._name,
                        sibling.name,
                        sibling.restarts,
                        error if sibling is child else None,
                    )
                )

    def _group(self, child: _Child) -> list[_Child]:
        if self._strategy is SupervisorStrategy.ONE_FOR_ONE:
            return [child]
        if self._strategy is SupervisorStrategy.ONE_FOR_ALL:
            return list(self._children)
        return self._children[self._children.index(child) :]

    def _escalate(self, child: _Child, error: BaseException | None) -> NoReturn:
        _logger.error(
            "trio_orch.supervisor.escalated",
            supervisor=self._name,
            child=child.name,
            max_restarts=self._policy.max_restarts,
            window=self._policy.window,
            error=repr(error),
        )
        if self._bus is not None:
            self._bus.emit(SupervisorEscalated(self._name, child.name, child.restarts, error))
        raise RestartIntensityExceeded(
            self._name, child.name, self._policy.max_restarts, self._policy.window
        ) from error
