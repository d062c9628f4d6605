"""``open_orchestrator``: one nursery, one event bus, and every runtime component wired to them.

Start order (shutdown runs the reverse, each step bounded by ``shutdown_timeout``):

1. the event bus (opened first, closed last, after :class:`OrchestratorShutdown`);
2. the orchestrator's nursery (cancelled after every step below was stopped);
3. the config watcher (``config_watch_interval``), then ``monitor``, ``recovery`` and the
   ``components`` in order, then the ``services`` orchestrator;
4. the plugins, in dependency order (``initialize_all``); then
   :class:`OrchestratorInitialized` is published and the block's body runs.

A component is any object with an optional ``async start(nursery)`` (start background work
in the orchestrator's nursery) and an optional ``async aclose()`` (stop it), and, optionally,
a sync ``health()`` returning a :class:`ComponentHealth` or a :class:`HealthStatus`.  An async
context manager (a :class:`~trio_orch.ServiceOrchestrator`, a supervisor) is a component
too: it is entered in a task of its own in the nursery and exited at its shutdown step.
"""

from __future__ import annotations

import inspect
import math
from contextlib import asynccontextmanager, nullcontext
from typing import TYPE_CHECKING, Any, Protocol, final, runtime_checkable

import attrs
import trio

from trio_orch._exceptions import PluginError
from trio_orch._groups import unwrap_single
from trio_orch._log import get_logger
from trio_orch._shielded import run_shielded
from trio_orch._validate import check_callable, check_instance, check_int, check_number
from trio_orch.engines import HealthStatus, ServiceOrchestrator, SystemHealth
from trio_orch.events import Event, EventBus, open_event_bus
from trio_orch.primitives import ConcurrencyLimiter
from trio_orch.runtime._config import ConfigManager
from trio_orch.runtime._health import ComponentHealth, RuntimeHealth, worst
from trio_orch.runtime._monitor import PerformanceMonitor
from trio_orch.runtime._plugins import Plugin, PluginRegistry
from trio_orch.runtime._recovery import ErrorRecoveryManager
from trio_orch.runtime._resources import ResourceManager
from trio_orch.runtime._runtime_events import (
    OrchestratorInitialized,
    OrchestratorShutdown,
    PluginFailed,
    emit,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence

_logger = get_logger("runtime")

#: Default bound of each shutdown step (and of each plugin's teardown), in seconds.
DEFAULT_SHUTDOWN_TIMEOUT = 10.0
#: Default ``max_concurrency``.
DEFAULT_MAX_CONCURRENCY = 10


@runtime_checkable
class Component(Protocol):
    """The protocol of an orchestrator component (both methods are optional in practice).

    ``start(nursery)`` runs at start-up, in start order: start background tasks in
    ``nursery`` (the orchestrator's) and return.  ``aclose()`` runs at shutdown, in reverse
    order, shielded and bounded by ``shutdown_timeout``.  A sync ``health()`` returning a
    :class:`ComponentHealth` or a :class:`~trio_orch.HealthStatus` feeds
    :meth:`Orchestrator.system_health`.
    """

    async def start(self, nursery: trio.Nursery) -> None:
        """Start the component's background work in ``nursery``."""

    async def aclose(self) -> None:
        """Stop the component."""


@attrs.define(eq=False)
class _Part:
    """One started component and how to stop it."""

    name: str
    obj: object
    stop: Callable[[], Awaitable[None]] | None


@final
@attrs.define(eq=False, repr=False)
class Orchestrator:
    """The handle that :func:`open_orchestrator` yields: every runtime component, wired.

    Attributes:
        bus: the event bus every component publishes on.
        plugins: the :class:`PluginRegistry`.
        resources: the :class:`ResourceManager` (``None`` without ``memory_limit``).
        config: the :class:`ConfigManager` passed as ``config``, or ``None``.
        monitor: the performance monitor component, or ``None``.
        recovery: the error-recovery component, or ``None``.
        services: the attached :class:`~trio_orch.ServiceOrchestrator`, or ``None``.
        limiter: the :class:`~trio_orch.ConcurrencyLimiter` of ``execute_plugin``.
        nursery: the orchestrator's nursery (cancelled after every component stopped).
    """

    bus: EventBus
    plugins: PluginRegistry
    resources: ResourceManager | None
    config: ConfigManager[Any] | None
    limiter: ConcurrencyLimiter
    nursery: trio.Nursery
    monitor: Any = None
    recovery: Any = None
    services: ServiceOrchestrator | None = None
    _timeout: float | None = None
    _error_handler: Callable[[Exception, Mapping[str, Any]], object] | None = None
    _enable_recovery: bool = False
    _shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT
    _parts: list[_Part] = attrs.field(init=False, factory=list)
    _started_at: float = attrs.field(init=False, factory=trio.current_time)
    _open: bool = attrs.field(init=False, default=False)
    _failures: int = attrs.field(init=False, default=0)
    _recovered: int = attrs.field(init=False, default=0)

    def __repr__(self) -> str:
        state = "open" if self._open else "closed"
        return f"<Orchestrator {state}, {len(self.plugins.list())} plugins>"

    # --- running plugin actions -------------------------------------------------------------

    async def execute_plugin(self, name: str, action: str, payload: Any = None) -> Any:
        """Run ``action`` of plugin ``name`` on ``payload`` under the limit and the timeout.

        The call takes a slot of :attr:`limiter` (``max_concurrency``, FIFO), then runs the
        action bounded by ``timeout`` (the wait for a slot is not part of the timeout).
        When it fails (any exception but an unknown plugin or action): with
        ``enable_error_recovery`` and a ``recovery`` component, ``await
        recovery.handle(error, context)`` may recover (its ``recovered`` and ``value``);
        otherwise ``error_handler(error, context)`` is called (sync or async) and the error
        propagates.  ``context`` holds ``plugin``, ``action``, ``payload`` and
        ``operation`` (an async callable running the action again the same way).

        Raises:
            PluginError: unknown plugin or action, or the plugin is not set up (before a
                slot is taken).
            trio.TooSlowError: the action ran longer than ``timeout`` (reported as
                :class:`~trio_orch.PluginFailed` too).
            RuntimeError: the orchestrator is shut down.
            Exception: what the action raised, as itself.

        Cancellation:
            Cancels the wait or the action; neither recovery nor the error handler runs.

        Checkpoints:
            Always.
        """
        if not self._open:
            msg = "the orchestrator is shut down"
            raise RuntimeError(msg)
        self.plugins.check_action(name, action)

        async def operation() -> Any:
            return await self.limiter.run(self._run_action, name, action, payload)

        try:
            return await operation()
        except Exception as exc:
            self._failures += 1
            context = {"plugin": name, "action": action, "payload": payload, "operation": operation}
            if isinstance(exc, trio.TooSlowError):
                self._emit(PluginFailed(plugin=name, phase="execute", error=exc, action=action))
            if self._enable_recovery and self.recovery is not None:
                result = await self.recovery.handle(exc, context)
                if getattr(result, "recovered", False):
                    self._recovered += 1
                    return result.value
            await self._call_error_handler(exc, context)
            raise

    async def _run_action(self, name: str, action: str, payload: Any) -> Any:
        timer = getattr(self.monitor, "timer", None)
        with timer(f"plugin.{name}.{action}") if timer is not None else nullcontext():
            if self._timeout is None:
                return await self.plugins.execute(name, action, payload)
            with trio.fail_after(self._timeout):
                return await self.plugins.execute(name, action, payload)

    async def _call_error_handler(  # noqa: ASYNC910 - execute_plugin checkpointed already
        self, exc: Exception, context: Mapping[str, Any]
    ) -> None:
        handler = self._error_handler
        if handler is None:
            return  # noqa: ASYNC910
        try:
            result = handler(exc, context)
            if inspect.isawaitable(result):
                await result
        except Exception as handler_error:
            _logger.error(
                "trio_orch.runtime.error_handler_failed",
                error=repr(exc),
                handler_error=repr(handler_error),
            )
            exc.add_note(f"the error_handler also failed: {handler_error!r}")

    # --- services ---------------------------------------------------------------------------

    def attach_services(self, services: ServiceOrchestrator) -> None:
        """Include ``services`` (an open ServiceOrchestrator you manage) in the health view.

        Replaces any service orchestrator attached before.  Sync; not a checkpoint.

        Raises:
            TypeError: ``services`` is not a ServiceOrchestrator.
        """
        check_instance("services", services, ServiceOrchestrator, "a ServiceOrchestrator")
        self.services = services

    # --- health -----------------------------------------------------------------------------

    def system_health(self) -> RuntimeHealth:
        """A snapshot of every component's health and of the attached services' last health.

        Sync and cheap: it runs no health check (use :meth:`check_health` for that).
        """
        components: dict[str, ComponentHealth] = {}
        bus_stats = self.bus.stats
        components["bus"] = ComponentHealth(
            "bus",
            HealthStatus.UNHEALTHY if self.bus.closed else HealthStatus.HEALTHY,
            {
                "listeners": bus_stats.listeners,
                "handler_errors": bus_stats.handler_errors,
                "dropped": bus_stats.dropped,
            },
        )
        limiter = self.limiter.stats
        components["executions"] = ComponentHealth(
            "executions",
            HealthStatus.HEALTHY,
            {
                "running": limiter.running,
                "waiting": limiter.waiting,
                "completed": limiter.completed,
                "failed": self._failures,
                "recovered": self._recovered,
            },
        )
        if self.resources is not None:
            usage = self.resources.usage()
            components["resources"] = ComponentHealth(
                "resources",
                HealthStatus.DEGRADED if usage.waiting else HealthStatus.HEALTHY,
                {
                    "allocated": usage.allocated,
                    "total": usage.total,
                    "peak": usage.peak,
                    "waiting": usage.waiting,
                },
            )
        if self.config is not None:
            components["config"] = ComponentHealth(
                "config", HealthStatus.HEALTHY, {"files": len(self.config.files)}
            )
        for part in self._parts:
            components[part.name] = _health_of(part)
        registered = [p.name for p in self.plugins.list()]
        pending = [n for n in registered if not self.plugins.is_initialized(n)]
        components["plugins"] = ComponentHealth(
            "plugins",
            HealthStatus.DEGRADED if pending or not self._open else HealthStatus.HEALTHY,
            {"registered": len(registered), "initialized": len(registered) - len(pending)},
        )
        services = self.services.health if self.services is not None else None
        statuses = [c.status for c in components.values()]
        if services is not None:
            statuses.append(services.overall)
        now = trio.current_time()
        return RuntimeHealth(
            status=worst(statuses),
            components=components,
            services=services,
            uptime=now - self._started_at,
            checked_at=now,
        )

    async def check_health(self) -> RuntimeHealth:
        """Run the attached services' health checks now, then return :meth:`system_health`.

        Raises:
            RuntimeError: the attached ServiceOrchestrator is not open.

        Checkpoints:
            Always.
        """
        if self.services is not None:
            await self.services.check_health()
        else:
            await trio.lowlevel.checkpoint()
        return self.system_health()

    # --- lifecycle (used by open_orchestrator) ----------------------------------------------

    def _emit(self, event: Event) -> None:
        emit(self.bus, event)

    def _log_event(self, event: Event) -> None:
        _logger.info(
            "trio_orch.runtime.event", event_type=type(event).__qualname__, detail=repr(event)
        )

    async def _start_part(self, name: str, obj: object) -> None:  # noqa: ASYNC910 - a start-up step
        """Start one component (recorded first, so a failed start is still stopped)."""
        if hasattr(obj, "__aenter__") and hasattr(obj, "__aexit__"):
            held: _Held = await self.nursery.start(_hold_open, obj, name)
            self._parts.append(_Part(name, obj, held.stop))
            return
        stop = getattr(obj, "aclose", None)
        self._parts.append(_Part(name, obj, stop))
        start = getattr(obj, "start", None)
        if start is not None:
            await start(self.nursery)

    async def _shutdown(  # noqa: ASYNC910 - shielded steps: checkpoints would not cancel them
        self, plugins_started: bool
    ) -> list[BaseException]:
        """Every stop step in reverse start order, each shielded and bounded; the errors.

        A ``KeyboardInterrupt`` or ``SystemExit`` raised during a step (a second Ctrl-C)
        aborts it: the later steps are skipped and it propagates.
        """
        errors: list[BaseException] = []
        self._open = False
        steps: list[tuple[str, Callable[[], Awaitable[None]] | None]] = [
            (p.name, p.stop) for p in self._parts
        ]
        if plugins_started:
            steps.append(("plugins", self.plugins.shutdown_all))
        for name, stop in reversed(steps):
            if stop is None:
                continue
            try:
                error = await self._stop_step(name, stop)
            except BaseException:
                _logger.warning("trio_orch.runtime.shutdown_aborted", step=name)
                raise
            if error is not None:
                errors.extend(error.errors if isinstance(error, PluginError) else [error])
        return errors  # noqa: ASYNC910

    async def _stop_step(  # noqa: ASYNC910 - a shielded shutdown step
        self, name: str, stop: Callable[[], Awaitable[None]]
    ) -> Exception | None:
        bound = math.inf if name == "plugins" else self._shutdown_timeout  # teardowns: each
        done = await run_shielded(stop, bound)
        if done.error is not None:
            _logger.error(
                "trio_orch.runtime.component_stop_failed", component=name, error=repr(done.error)
            )
            return done.error
        if done.timed_out:
            msg = f"stopping {name!r} took more than {self._shutdown_timeout:g}s"
            _logger.error("trio_orch.runtime.component_stop_failed", component=name, error=msg)
            return trio.TooSlowError(msg)
        return None


@attrs.define(eq=False)
class _Held:
    """A context-manager component held open by :func:`_hold_open` in a task of its own."""

    name: str = ""
    leave: trio.Event = attrs.Factory(trio.Event)
    finished: trio.Event = attrs.Factory(trio.Event)
    error: Exception | None = None
    abandoned: bool = False  # the stop step gave up waiting: a later error is only logged

    async def stop(self) -> None:
        """Let the task exit the context manager; raise what its exit raised."""
        self.leave.set()
        try:
            await self.finished.wait()
        finally:
            self.abandoned = not self.finished.is_set()
        if self.error is not None:
            raise self.error

    def failed(self, exc: Exception) -> None:
        """The exit raised ``exc``: the stop step's error, or logged if it gave up already."""
        self.error = exc
        if self.abandoned:
            _logger.error(
                "trio_orch.runtime.component_stop_failed",
                component=self.name,
                error=repr(exc),
                after="the stop step timed out",
            )


async def _hold_open(  # noqa: ASYNC910 - a task: its checkpoints are the component's own
    cm: Any, name: str, *, task_status: trio.TaskStatus[_Held] = trio.TASK_STATUS_IGNORED
) -> None:
    """Hold ``cm`` open until its stop step; an error on exit goes to the step.

    An error while it runs (before its stop step) propagates into the orchestrator's
    nursery, which cancels the block's body.
    """
    held = _Held(name)
    try:
        async with cm:
            task_status.started(held)
            await held.leave.wait()
    except Exception as exc:
        if not held.leave.is_set():
            raise
        held.failed(exc)
    finally:
        held.finished.set()


def _health_of(part: _Part) -> ComponentHealth:
    health = getattr(part.obj, "health", None)
    if isinstance(part.obj, ServiceOrchestrator):
        return ComponentHealth(part.name, part.obj.health.overall)
    if callable(health):
        try:
            value = health()
        except Exception as exc:
            return ComponentHealth(part.name, HealthStatus.UNHEALTHY, {"error": repr(exc)})
        if isinstance(value, ComponentHealth):
            return value
        if isinstance(value, HealthStatus):
            return ComponentHealth(part.name, value)
        if isinstance(value, SystemHealth):
            return ComponentHealth(part.name, value.overall)
    return ComponentHealth(part.name, HealthStatus.HEALTHY)


def _default_recovery(bus: EventBus, monitor: object) -> ErrorRecoveryManager:
    """The recovery component of ``enable_error_recovery=True`` without ``recovery=``."""
    return ErrorRecoveryManager(
        bus=bus, monitor=monitor if isinstance(monitor, PerformanceMonitor) else None
    )


@asynccontextmanager
async def open_orchestrator(
    *,
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    memory_limit: int | None = None,
    timeout: float | None = None,  # noqa: ASYNC109 - a policy: it bounds each plugin action
    plugins: Sequence[Plugin | type[Plugin]] = (),
    config: ConfigManager[Any] | None = None,
    error_handler: Callable[[Exception, Mapping[str, Any]], object] | None = None,
    enable_error_recovery: bool = False,
    event_logging: bool = False,
    monitor: object | None = None,
    recovery: object | None = None,
    services: ServiceOrchestrator | None = None,
    components: Mapping[str, object] | None = None,
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
    config_watch_interval: float | None = None,
) -> AsyncIterator[Orchestrator]:
    """Open the runtime: an event bus, a nursery, resources, plugins and components, wired.

    ::

        async with open_orchestrator(max_concurrency=4, memory_limit=512 * 2**20,
                                     timeout=30.0, plugins=[Data, Viz]) as orch:
            await orch.execute_plugin("viz", "render", payload)
            print(orch.system_health().render())

    Args:
        max_concurrency: at most this many plugin actions run at once (FIFO beyond).
        memory_limit: the budget of :attr:`Orchestrator.resources` (``None``: no
            ResourceManager).
        timeout: bound, in seconds, of each plugin action (``None``: none).
        plugins: plugin instances or classes (instantiated without arguments),
            registered in this order and set up in dependency order.
        config: a :class:`ConfigManager`, given to plugins as ``ctx.config``.
        error_handler: ``fn(error, context)``, sync or async, called for each failed
            :meth:`~Orchestrator.execute_plugin` that was not recovered.
        enable_error_recovery: let ``recovery`` handle failed plugin actions (with no
            ``recovery`` given, a :class:`~trio_orch.ErrorRecoveryManager` on the bus that
            counts into the monitor, with no patterns: add them with
            ``orch.recovery.add_pattern``).
        event_logging: log every bus event at info level (``"trio_orch.runtime.event"``).
        monitor: a performance monitor component (its ``timer(name)`` times each action);
            ``None`` builds a :class:`~trio_orch.PerformanceMonitor` on the bus, which counts
            every event and times every plugin action.
        recovery: an error-recovery component (``async handle(error, context)``).
        services: a :class:`~trio_orch.ServiceOrchestrator` to open as a component and
            include in the health view.
        components: more components by name, started in order after recovery.
        shutdown_timeout: bound, in seconds, of each shutdown step and of each plugin's
            teardown; also the bus's drain timeout.
        config_watch_interval: poll ``config``'s files this often and reload on change
            (a task in the orchestrator's nursery); ``None``: no watching.

    Raises:
        TypeError, ValueError: an argument is invalid (before anything starts).
        PluginError: the plugins do not resolve (missing, mismatched, conflicting, cyclic).
        Exception: what a plugin's ``setup`` or a component's ``start`` raised, as itself,
            after everything started was stopped again.
        Exception: at exit, a failed or timed-out shutdown step (a plugin teardown, a
            component's ``aclose``): the error itself, or a group of several; when the
            body raised, they are attached to its exception as notes instead.

    Cancellation:
        Cancelling the block runs the whole shutdown anyway: every step is shielded and
        bounded by ``shutdown_timeout``.  A ``KeyboardInterrupt`` during the shutdown (a
        second Ctrl-C) aborts it: later steps are skipped, the nursery is cancelled, and
        the ``KeyboardInterrupt`` propagates.
    """
    check_int("max_concurrency", max_concurrency, minimum=1)
    check_int("memory_limit", memory_limit, minimum=1, allow_none=True)
    check_number("timeout", timeout, strict=True, allow_none=True, allow_inf=True)
    check_number("shutdown_timeout", shutdown_timeout, strict=True, allow_inf=True)
    check_number("config_watch_interval", config_watch_interval, strict=True, allow_none=True)
    check_instance("config", config, ConfigManager, "a ConfigManager", allow_none=True)
    check_instance(
        "services", services, ServiceOrchestrator, "a ServiceOrchestrator", allow_none=True
    )
    check_callable("error_handler", error_handler, allow_none=True)
    flags: tuple[tuple[str, object], ...] = (
        ("enable_error_recovery", enable_error_recovery),
        ("event_logging", event_logging),
    )
    for flag, value in flags:
        if not isinstance(value, bool):
            msg = f"{flag} must be a bool, got {value!r}"
            raise TypeError(msg)
    if config_watch_interval is not None and config is None:
        msg = f"config_watch_interval needs config, got config_watch_interval={config_watch_interval!r}"
        raise ValueError(msg)
    instances = [_instantiate(p) for p in plugins]
    extra = dict(components or {})

    with unwrap_single("open_orchestrator()"):
        async with open_event_bus(drain_timeout=shutdown_timeout) as bus:
            orch: Orchestrator | None = None
            shutdown_errors: list[BaseException] = []
            aborted = True
            if monitor is None:
                monitor = PerformanceMonitor(bus=bus)
            if enable_error_recovery and recovery is None:
                recovery = _default_recovery(bus, monitor)
            try:
                async with trio.open_nursery() as nursery:
                    resources = (
                        None if memory_limit is None else ResourceManager(memory_limit, bus=bus)
                    )
                    orch = Orchestrator(
                        bus=bus,
                        plugins=PluginRegistry(
                            bus,
                            config=config,
                            resources=resources,
                            teardown_timeout=shutdown_timeout,
                        ),
                        resources=resources,
                        config=config,
                        limiter=ConcurrencyLimiter(max_concurrency),
                        nursery=nursery,
                        monitor=monitor,
                        recovery=recovery,
                        services=services,
                        timeout=timeout,
                        error_handler=error_handler,
                        enable_recovery=enable_error_recovery,
                        shutdown_timeout=shutdown_timeout,
                    )
                    if event_logging:
                        bus.on(Event, orch._log_event)
                    plugins_started = False
                    body_error: BaseException | None = None
                    try:
                        await _start(
                            orch, config, config_watch_interval, extra, services, instances
                        )
                        plugins_started = True
                        await orch.plugins.initialize_all(nursery=nursery)
                        orch._open = True
                        orch._emit(
                            OrchestratorInitialized(
                                plugins=orch.plugins.initialized,
                                components=tuple(p.name for p in orch._parts),
                                duration=trio.current_time() - orch._started_at,
                            )
                        )
                        yield orch
                    except BaseException as exc:
                        body_error = exc
                        raise
                    finally:
                        shutdown_errors = await orch._shutdown(plugins_started)
                        aborted = False
                        nursery.cancel_scope.cancel(reason="the orchestrator shut down")
                        _settle(body_error, shutdown_errors)
            finally:
                if orch is not None:
                    orch._emit(
                        OrchestratorShutdown(
                            uptime=trio.current_time() - orch._started_at,
                            errors=len(shutdown_errors),
                            aborted=aborted,
                        )
                    )


async def _start(  # noqa: ASYNC910 - a start-up step; initialize_all checkpoints next
    orch: Orchestrator,
    config: ConfigManager[Any] | None,
    watch_interval: float | None,
    extra: Mapping[str, object],
    services: ServiceOrchestrator | None,
    plugins: list[Plugin],
) -> None:
    if config is not None and watch_interval is not None:
        await orch._start_part("config-watch", _ConfigWatch(config, watch_interval, orch.bus))
    if orch.monitor is not None:
        await orch._start_part("monitor", orch.monitor)
    if orch.recovery is not None:
        await orch._start_part("recovery", orch.recovery)
    for name, component in extra.items():
        await orch._start_part(name, component)
    if services is not None:
        await orch._start_part("services", services)
    for plugin in plugins:
        orch.plugins.register(plugin)


@attrs.define(eq=False)
class _ConfigWatch:
    """The config watcher as a component: ``ConfigManager.watch`` in the nursery."""

    config: ConfigManager[Any]
    interval: float
    bus: EventBus
    _scope: trio.CancelScope = attrs.Factory(trio.CancelScope)

    async def start(self, nursery: trio.Nursery) -> None:
        await nursery.start(self._run)

    async def _run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with self._scope:
            await self.config.watch(interval=self.interval, bus=self.bus, task_status=task_status)

    async def aclose(self) -> None:
        self._scope.cancel(reason="the orchestrator shut down")
        await trio.lowlevel.checkpoint()


def _instantiate(plugin: object) -> Plugin:
    if isinstance(plugin, type) and issubclass(plugin, Plugin):
        return plugin()
    return check_instance("plugins item", plugin, Plugin, "a Plugin or a Plugin subclass")


def _settle(body_error: BaseException | None, errors: list[BaseException]) -> None:
    """Report shutdown errors: as notes on the body's error, else raised."""
    if not errors:
        return
    if body_error is not None:
        for error in errors:
            body_error.add_note(f"during the orchestrator's shutdown, also: {error!r}")
        return
    if len(errors) == 1:
        raise errors[0]
    group = BaseExceptionGroup("the orchestrator's shutdown failed", errors)
    group.add_note(f"raised by open_orchestrator(): {len(errors)} shutdown steps failed")
    raise group
