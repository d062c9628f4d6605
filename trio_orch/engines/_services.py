"""The service orchestrator: operations across several services, with health and metrics.

:class:`ServiceOrchestrator` runs *operations*: async functions that call one or more
services.  ``execute`` runs one with retries of transient failures and a timeout per
attempt, and returns an :class:`OperationResult` instead of raising; ``call`` marks a call
to a named service so that its failure is attributed to that service; the health monitor
checks every service periodically in the orchestrator's nursery.

Operations run in the caller's task (``execute_many`` in a nursery of its own, batch by
batch); the orchestrator's nursery holds nothing but the health monitor, so leaving the
``async with`` block cancels exactly that.
"""

from __future__ import annotations

import contextvars
import enum
import inspect
import math
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar, TypeVarTuple, final

import attrs
import trio

from trio_orch._exceptions import BusClosed, ServiceNotFound
from trio_orch._groups import open_nursery_unwrapped
from trio_orch._log import get_logger
from trio_orch._validate import (
    check_callable,
    check_instance,
    check_nonempty_str,
    instance_validator,
    int_validator,
    number_validator,
)
from trio_orch.engines import _services_events as ev
from trio_orch.engines._services_health import HealthMonitor, ServiceState
from trio_orch.engines._services_model import (
    EMPTY,
    HealthStatus,
    OperationResult,
    OrchestratorMetrics,
    Service,
    ServiceHealth,
    SystemHealth,
    describe,
)
from trio_orch.events import EventBus
from trio_orch.primitives import (
    DEFAULT_CLASSIFIER,
    ErrorClassifier,
    ErrorKind,
    Jitter,
    RetryDetails,
    RetryPolicy,
    retry,
)

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager
    from types import TracebackType
    from typing import Self

    from trio_orch.events import Event

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

_logger = get_logger("services")

#: One item of :meth:`ServiceOrchestrator.execute_many`: ``(name, fn, args)``.
OperationSpec = tuple[str, Callable[..., Awaitable[Any]], tuple[Any, ...]]


class _Phase(enum.Enum):
    NEW = "new"
    OPEN = "open"
    CLOSED = "closed"


@final
@attrs.define(eq=False)
class _Operation:
    """One ``execute`` under way: what ``call`` and the retry hook need to know about it."""

    name: str
    id: int
    attempts: int = 0
    #: ``{service: "TypeName: message"}``, created on the first failed call
    errors: dict[str, str] | None = None
    #: the current attempt's timeout scope (a call cancelled by it reports a timeout)
    scope: trio.CancelScope | None = None


#: The operation the current task runs in (child tasks of the operation inherit it).
_CURRENT: contextvars.ContextVar[_Operation | None] = contextvars.ContextVar(
    "trio_orch_services_operation", default=None
)


def _freeze(errors: dict[str, str] | None) -> Mapping[str, str]:
    return EMPTY if not errors else MappingProxyType(dict(errors))


def _p95(durations: Iterable[float]) -> float:
    """The 95th percentile by nearest rank: the ``ceil(0.95 n)``-th smallest value."""
    ordered = sorted(durations)
    if not ordered:
        return 0.0
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


def _check_operations(operations: object) -> list[OperationSpec]:
    if isinstance(operations, str | bytes) or not isinstance(operations, Iterable):
        msg = f"operations must be an iterable of (name, fn, args) tuples, got {operations!r}"
        raise TypeError(msg)
    checked: list[OperationSpec] = []
    for i, item in enumerate(operations):
        where = f"operations[{i}]"
        if not isinstance(item, tuple) or len(item) not in (2, 3):
            msg = f"{where} must be a (name, fn, args) tuple, got {item!r}"
            raise TypeError(msg)
        name, fn, *rest = item
        args = rest[0] if rest else ()
        check_nonempty_str(f"{where} name", name)
        check_callable(f"{where} fn", fn)
        check_instance(f"{where} args", args, tuple, "a tuple")
        checked.append((name, fn, args))
    return checked


@final
# NO_OP: validators run in __init__ only; a setattr hook would slow down every counter update.
@attrs.define(eq=False, repr=False, kw_only=True, on_setattr=attrs.setters.NO_OP)
class ServiceOrchestrator:
    """Coordinate operations across services: retries, timeouts, attribution, health, metrics.

    ::

        orch = ServiceOrchestrator(retry_attempts=3, retry_delay=1.0, timeout=30.0)
        orch.register(Service("identity", health_check=ping_identity))
        async with orch:                          # the health monitor runs in its nursery
            result = await orch.execute("onboard", onboard, user)   # never raises
            # inside onboard: await orch.call("identity", create_user, user)
            health = await orch.check_health()
            orch.metrics()

    Args:
        retry_attempts: attempts per operation, the first included (an int >= 1).
        retry_delay: the first backoff delay in seconds; it doubles per retry (with
            ``jitter``), capped at ``max(30, retry_delay)`` seconds.  It is the
            ``initial_delay`` of the :class:`~trio_orch.RetryPolicy` that ``execute`` uses.
        timeout: seconds that bound each attempt (a late attempt fails with
            :class:`trio.TooSlowError`, which is transient: it is retried); ``None`` for
            no bound.
        batch_size: how many operations ``execute_many`` runs at once (an int >= 1).
        health_interval: seconds between two periodic checks of a service; ``None`` for
            no periodic checks (``check_health()`` still runs them on demand).
        health_timeout: seconds that bound each health check; a check still running then
            has failed.
        bus: an :class:`~trio_orch.EventBus` that gets every :class:`ServiceEvent`, or
            ``None``.
        classifier: decides which errors are transient (retried); see
            :class:`~trio_orch.ErrorClassifier`.  PERMANENT and UNKNOWN errors are not
            retried.
        jitter: the :class:`~trio_orch.Jitter` of the backoff (``Jitter.NONE`` for exact,
            reproducible delays).
        metrics_window: how many of the latest durations ``p95_duration`` is computed from.

    Raises:
        TypeError: an argument has the wrong type (the message names it and the value).
        ValueError: an argument is out of range.

    The orchestrator is an async context manager that can be entered once.  Every method
    that runs something (``execute``, ``execute_many``, ``call``, ``check_health``) needs it
    open and raises :class:`RuntimeError` before or after the block.  Operations run in
    the caller's tasks; the orchestrator's own nursery holds only the health monitor, and
    leaving the block cancels it and removes every listener.
    """

    _retry_attempts: int = attrs.field(
        default=3, alias="retry_attempts", validator=int_validator(minimum=1)
    )
    _retry_delay: float = attrs.field(
        default=1.0, alias="retry_delay", validator=number_validator()
    )
    _timeout: float | None = attrs.field(
        default=30.0,
        alias="timeout",
        validator=number_validator(strict=True, allow_none=True, allow_inf=True),
    )
    _batch_size: int = attrs.field(
        default=10, alias="batch_size", validator=int_validator(minimum=1)
    )
    _health_interval: float | None = attrs.field(
        default=30.0,
        alias="health_interval",
        validator=number_validator(strict=True, allow_none=True, allow_inf=True),
    )
    _health_timeout: float = attrs.field(
        default=5.0, alias="health_timeout", validator=number_validator(strict=True)
    )
    _bus: EventBus | None = attrs.field(
        default=None,
        alias="bus",
        validator=instance_validator(EventBus, "an EventBus", allow_none=True),
    )
    _classifier: ErrorClassifier = attrs.field(
        default=DEFAULT_CLASSIFIER,
        alias="classifier",
        validator=instance_validator(ErrorClassifier, "an ErrorClassifier"),
    )
    _jitter: Jitter = attrs.field(
        default=Jitter.FULL, alias="jitter", validator=instance_validator(Jitter, "a Jitter")
    )
    _metrics_window: int = attrs.field(
        default=1000, alias="metrics_window", validator=int_validator(minimum=1)
    )

    _policy: RetryPolicy = attrs.field(init=False)
    _health: HealthMonitor = attrs.field(init=False)
    _services: dict[str, Service] = attrs.field(init=False, factory=dict)
    _listeners: list[Callable[[ev.ServiceEvent], object]] = attrs.field(init=False, factory=list)
    _phase: _Phase = attrs.field(init=False, default=_Phase.NEW)
    _nursery: trio.Nursery | None = attrs.field(init=False, default=None)
    _nursery_cm: AbstractAsyncContextManager[trio.Nursery] | None = attrs.field(
        init=False, default=None
    )
    _opened_at: float = attrs.field(init=False, default=0.0)
    _closed_at: float = attrs.field(init=False, default=0.0)
    _next_id: int = attrs.field(init=False, default=0)
    _running: int = attrs.field(init=False, default=0)
    _successful: int = attrs.field(init=False, default=0)
    _failed: int = attrs.field(init=False, default=0)
    _cancelled: int = attrs.field(init=False, default=0)
    _duration_sum: float = attrs.field(init=False, default=0.0)
    _durations: deque[float] = attrs.field(init=False)
    _call_failures: dict[str, int] = attrs.field(init=False, factory=dict)
    _listener_errors: int = attrs.field(init=False, default=0)

    def __attrs_post_init__(self) -> None:
        if self._timeout is not None and math.isinf(self._timeout):
            self._timeout = None
        if self._health_interval is not None and math.isinf(self._health_interval):
            self._health_interval = None
        self._policy = RetryPolicy(
            max_attempts=self._retry_attempts,
            initial_delay=self._retry_delay,
            max_delay=max(30.0, self._retry_delay),
            jitter=self._jitter,
            retry_on=self._classifier.is_transient,
            on_retry=self._on_retry,
        )
        self._health = HealthMonitor(
            self._health_timeout, self._health_interval, self._health_changed
        )
        self._durations = deque(maxlen=self._metrics_window)

    def __repr__(self) -> str:
        return (
            f"<ServiceOrchestrator {self._phase.value} services={list(self._services)!r} "
            f"retry_attempts={self._retry_attempts!r} timeout={self._timeout!r}>"
        )

    # --- services ----------------------------------------------------------------------------

    def register(self, service: Service) -> None:
        """Add ``service``; while the block is open its periodic checks start at once.

        Raises:
            TypeError: ``service`` is not a :class:`Service`.
            ValueError: a service of that name is already registered.
            RuntimeError: the orchestrator's block has ended.
        """
        check_instance("service", service, Service, "a Service")
        if self._phase is _Phase.CLOSED:
            msg = "ServiceOrchestrator.register() called after its `async with` block ended"
            raise RuntimeError(msg)
        if service.name in self._services:
            msg = f"service name must be unique, got {service.name!r} (already registered)"
            raise ValueError(msg)
        self._services[service.name] = service
        state = self._health.add(service)
        if self._phase is _Phase.OPEN:
            self._watch(state)

    @property
    def services(self) -> Mapping[str, Service]:
        """``{name: Service}`` of the registered services, in registration order (a copy)."""
        return MappingProxyType(dict(self._services))

    # --- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        """Open the orchestrator: start the periodic health checks in its nursery.

        The first check of every service starts at once, in the background: entering does
        not wait for it (services are ``UNKNOWN`` until then).

        Raises:
            RuntimeError: the orchestrator was entered before (it cannot be reopened).
        """
        if self._phase is not _Phase.NEW:
            msg = "a ServiceOrchestrator can be entered only once"
            raise RuntimeError(msg)
        cm = open_nursery_unwrapped("ServiceOrchestrator")
        self._nursery = await cm.__aenter__()
        self._nursery_cm = cm
        self._phase = _Phase.OPEN
        self._opened_at = trio.current_time()
        for state in self._health.states.values():
            self._watch(state)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        """Cancel the health monitor, wait for it, and remove every listener.

        Cancellation: the monitor's tasks are cancelled and joined; a health check that
        ignores cancellation delays the exit.
        """
        nursery, cm = self._nursery, self._nursery_cm
        assert nursery is not None
        assert cm is not None
        self._phase = _Phase.CLOSED
        nursery.cancel_scope.cancel(reason="the ServiceOrchestrator block ended")
        try:
            return await cm.__aexit__(exc_type, exc, tb)
        finally:
            self._closed_at = trio.current_time()
            self._nursery = self._nursery_cm = None
            self._listeners.clear()

    def _require_open(self, what: str) -> None:
        if self._phase is _Phase.OPEN:
            return
        if self._phase is _Phase.NEW:
            msg = (
                f"ServiceOrchestrator.{what}() needs the orchestrator open: use `async with orch:`"
            )
        else:
            msg = f"ServiceOrchestrator.{what}() called after its `async with` block ended"
        raise RuntimeError(msg)

    def _watch(self, state: ServiceState) -> None:
        if self._health_interval is not None and state.checked:
            assert self._nursery is not None
            self._nursery.start_soon(
                self._health.watch, state, name=f"health monitor of {state.service.name!r}"
            )

    # --- operations ----------------------------------------------------------------------------

    async def execute(
        self, name: str, fn: Callable[[*Ts], Awaitable[T]], *args: *Ts
    ) -> OperationResult[T]:
        """Run ``await fn(*args)`` as the operation ``name``; return an :class:`OperationResult`.

        Transient failures (per ``classifier``) are retried with backoff, up to
        ``retry_attempts`` attempts in all; each attempt is bounded by ``timeout`` and a
        late one fails with :class:`trio.TooSlowError`.  The retry is deadline-aware: a
        backoff that would end past the caller's deadline is not slept, the failure is
        returned instead.

        Args:
            name: the operation's name, for results, events and logs (need not be unique).
            fn: the async function; ``args`` go to it.

        Returns:
            ``OperationResult(success=True, data=value, ...)``, or, when the last attempt
            raised an :class:`Exception`, ``OperationResult(success=False, error=...,
            exception=...)``: the operation's own failure is never raised.

        Raises:
            TypeError: ``name`` is not a str or ``fn`` is not callable.
            ValueError: ``name`` is empty.
            RuntimeError: the orchestrator is not open.

        Cancellation:
            ``trio.Cancelled`` (and ``KeyboardInterrupt``, ``SystemExit``) propagate at
            once, never retried: the operation is counted in ``metrics().cancelled`` and
            reported as :class:`OperationCancelled`, and no result is returned.

        Checkpoints:
            Always at least one, before the first attempt.
        """
        self._require_open("execute")
        check_nonempty_str("name", name)
        check_callable("fn", fn)
        return await self._execute(name, fn, args)

    async def _execute(
        self, name: str, fn: Callable[..., Awaitable[T]], args: tuple[Any, ...]
    ) -> OperationResult[T]:
        self._next_id += 1
        op = _Operation(name, self._next_id)
        now = trio.current_time
        start = now()
        self._running += 1
        if self._listeners or self._bus is not None:
            self._emit(ev.OperationStarted(name, op.id, start))
        timeout = self._timeout

        async def attempt() -> T:
            op.attempts += 1
            if timeout is None:
                return await fn(*args)
            with trio.CancelScope(deadline=now() + timeout) as scope:
                op.scope = scope
                return await fn(*args)
            msg = f"operation {name!r} attempt {op.attempts} timed out after {timeout:g} s"
            raise trio.TooSlowError(msg)

        attempt.__qualname__ = attempt.__name__ = name
        token = _CURRENT.set(op)
        try:
            value = await retry(attempt, policy=self._policy)
        except Exception as exc:  # retry() checkpoints before the first attempt
            return self._operation_failed(op, exc, now() - start)  # noqa: ASYNC910
        except BaseException:
            self._operation_cancelled(op, now() - start)
            raise
        finally:
            _CURRENT.reset(token)
        return self._operation_succeeded(op, value, now() - start)

    async def execute_many(
        self, operations: Iterable[OperationSpec | tuple[str, Callable[..., Awaitable[Any]]]]
    ) -> list[OperationResult[Any]]:
        """Run ``(name, fn, args)`` operations in batches of ``batch_size``; return the results.

        The operations of one batch run concurrently (each as :meth:`execute` runs it); the
        next batch starts when the whole batch has finished.  ``args`` may be left out:
        ``(name, fn)`` is ``(name, fn, ())``.

        Returns:
            One :class:`OperationResult` per operation, in the order given.

        Raises:
            TypeError: ``operations`` is not an iterable of such tuples, or an item has a
                bad name, fn or args (the message names the item's index).  Every item is
                checked before any operation starts.
            ValueError: an item's name is empty.
            RuntimeError: the orchestrator is not open.

        Cancellation:
            Cancelling it cancels the running batch (those operations are counted as
            cancelled) and starts no more; it raises ``trio.Cancelled`` with no results.

        Checkpoints:
            Always.
        """
        self._require_open("execute_many")
        items = _check_operations(operations)
        if not items:
            await trio.lowlevel.checkpoint()
            return []
        results: list[OperationResult[Any]] = []
        size = self._batch_size
        for first in range(0, len(items), size):
            batch = items[first : first + size]
            slots: list[OperationResult[Any] | None] = [None] * len(batch)
            async with open_nursery_unwrapped("ServiceOrchestrator.execute_many") as nursery:
                for i, (name, fn, args) in enumerate(batch):
                    nursery.start_soon(self._execute_into, slots, i, name, fn, args)
            results.extend(r for r in slots if r is not None)
        return results  # noqa: ASYNC910 - items is not empty: the loop opened a nursery

    async def _execute_into(
        self,
        slots: list[OperationResult[Any] | None],
        i: int,
        name: str,
        fn: Callable[..., Awaitable[Any]],
        args: tuple[Any, ...],
    ) -> None:
        slots[i] = await self._execute(name, fn, args)

    async def call(self, service: str, fn: Callable[[*Ts], Awaitable[T]], *args: *Ts) -> T:
        """Call ``await fn(*args)`` on behalf of ``service``; a failure is attributed to it.

        Use it inside an operation.  When ``fn`` raises, the error is recorded as
        ``service_errors[service]`` of the operation's result (and counted in
        ``metrics().call_failures``), then re-raised unchanged for the operation to handle
        or not.  When the attempt's ``timeout`` cancels the call, the service gets a
        ``"TooSlowError: ..."`` entry.  Outside an operation only the count is kept.

        Returns:
            What ``fn`` returned.

        Raises:
            ServiceNotFound: no service of that name is registered.
            RuntimeError: the orchestrator is not open.
            Exception: whatever ``fn`` raises.

        Cancellation:
            Propagates unchanged; ``fn`` is not called if the call is cancelled at its
            first checkpoint.

        Checkpoints:
            Always one, before ``fn`` is called.
        """
        self._require_open("call")
        if service not in self._services:
            raise ServiceNotFound(service, tuple(self._services))
        await trio.lowlevel.checkpoint()
        try:
            return await fn(*args)
        except Exception as exc:
            self._call_failed(service, describe(exc))
            raise
        except BaseException:
            op = _CURRENT.get()
            scope = None if op is None else op.scope
            if scope is not None and scope.cancel_called:
                self._call_failed(
                    service,
                    f"TooSlowError: no answer within the operation's timeout of "
                    f"{self._timeout:g} s",
                )
            raise

    def _call_failed(self, service: str, text: str) -> None:
        self._call_failures[service] = self._call_failures.get(service, 0) + 1
        op = _CURRENT.get()
        if op is not None:
            if op.errors is None:
                op.errors = {}
            op.errors[service] = text

    # --- outcomes ---------------------------------------------------------------------------

    def _record(self, duration: float) -> None:
        self._duration_sum += duration
        self._durations.append(duration)

    def _operation_succeeded(self, op: _Operation, value: T, duration: float) -> OperationResult[T]:
        self._running -= 1
        self._successful += 1
        self._record(duration)
        errors = _freeze(op.errors)
        if self._listeners or self._bus is not None:
            self._emit(ev.OperationCompleted(op.name, op.id, op.attempts, duration, errors))
        return OperationResult(
            success=True,
            data=value,
            duration=duration,
            service_errors=errors,
            operation=op.name,
            attempts=op.attempts,
        )

    def _operation_failed(
        self, op: _Operation, exc: Exception, duration: float
    ) -> OperationResult[Any]:
        self._running -= 1
        self._failed += 1
        self._record(duration)
        errors = _freeze(op.errors)
        try:
            kind = self._classifier.classify(exc)
        except Exception:  # a user rule that raises: the result still says what failed
            kind = ErrorKind.UNKNOWN
        _logger.warning(
            "trio_orch.services.operation_failed",
            operation=op.name,
            operation_id=op.id,
            attempts=op.attempts,
            error=repr(exc),
            service_errors=dict(errors),
        )
        if self._listeners or self._bus is not None:
            self._emit(ev.OperationFailed(op.name, op.id, op.attempts, duration, exc, errors))
        return OperationResult(
            success=False,
            error=describe(exc),
            exception=exc,
            details=MappingProxyType(
                {"kind": kind, "timed_out": isinstance(exc, trio.TooSlowError)}
            ),
            duration=duration,
            service_errors=errors,
            operation=op.name,
            attempts=op.attempts,
        )

    def _operation_cancelled(self, op: _Operation, duration: float) -> None:
        self._running -= 1
        self._cancelled += 1
        if self._listeners or self._bus is not None:
            self._emit(ev.OperationCancelled(op.name, op.id, op.attempts, duration))

    def _on_retry(self, details: RetryDetails) -> None:
        op = _CURRENT.get()
        if op is not None and (self._listeners or self._bus is not None):
            self._emit(
                ev.OperationRetrying(op.name, op.id, details.attempt, details.delay, details.error)
            )

    # --- health ------------------------------------------------------------------------------

    async def check_health(self) -> SystemHealth:
        """Run every service's health check now, concurrently; return the :class:`SystemHealth`.

        Each check is bounded by ``health_timeout`` (a hung one fails with a
        ``"TooSlowError: ..."`` error), so this returns within ``health_timeout``.  A check
        of a service that is already running (the periodic one) is joined, not repeated.
        Services without a health check keep ``UNKNOWN``.

        Raises:
            RuntimeError: the orchestrator is not open.

        Cancellation:
            Cancels the checks it started; those record nothing.

        Checkpoints:
            Always.
        """
        self._require_open("check_health")
        return await self._health.check_all()

    @property
    def health(self) -> SystemHealth:
        """The last known :class:`SystemHealth`, without running a check (not a checkpoint)."""
        return self._health.snapshot()

    def _health_changed(self, previous: HealthStatus, health: ServiceHealth) -> None:
        log = _logger.warning if health.status is HealthStatus.UNHEALTHY else _logger.info
        log(
            "trio_orch.services.health_changed",
            service=health.name,
            previous=previous.value,
            status=health.status.value,
            error=health.error,
        )
        if self._listeners or self._bus is not None:
            self._emit(ev.ServiceHealthChanged(health.name, previous, health.status, health))

    # --- metrics -----------------------------------------------------------------------------

    def metrics(self) -> OrchestratorMetrics:
        """A snapshot of the :class:`OrchestratorMetrics` (sync, never blocks)."""
        total = self._successful + self._failed
        if self._phase is _Phase.NEW:
            uptime = 0.0
        elif self._phase is _Phase.OPEN:
            uptime = trio.current_time() - self._opened_at
        else:
            uptime = self._closed_at - self._opened_at
        return OrchestratorMetrics(
            total=total,
            successful=self._successful,
            failed=self._failed,
            average_duration=self._duration_sum / total if total else 0.0,
            p95_duration=_p95(self._durations),
            uptime=uptime,
            availability=MappingProxyType(self._health.availability()),
            cancelled=self._cancelled,
            running=self._running,
            call_failures=MappingProxyType(dict(self._call_failures)),
            listener_errors=self._listener_errors,
        )

    @property
    def stats(self) -> OrchestratorMetrics:
        """The same snapshot as :meth:`metrics` (the house ``stats`` convention)."""
        return self.metrics()

    # --- listeners ---------------------------------------------------------------------------

    def add_listener(self, fn: Callable[[ev.ServiceEvent], object]) -> None:
        """Call ``fn(event)`` for every :class:`ServiceEvent` from now on, until removed.

        Listeners are sync and run inline, in the order added, before the bus gets the
        event; one that raises is logged (``"trio_orch.services.listener_failed"``) and
        counted in ``metrics().listener_errors``, and the others still run.  Adding a
        listener twice has no effect.  Every listener is removed when the block ends.

        Raises:
            TypeError: ``fn`` is not callable, or is an async function (subscribe on a
                bus for async handlers).
            RuntimeError: the orchestrator's block has ended.
        """
        check_callable("fn", fn)
        if inspect.iscoroutinefunction(fn):
            msg = f"fn must be a sync callable (use a bus for async handlers), got {fn!r}"
            raise TypeError(msg)
        if self._phase is _Phase.CLOSED:
            msg = "ServiceOrchestrator.add_listener() called after its `async with` block ended"
            raise RuntimeError(msg)
        if fn not in self._listeners:
            self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[ev.ServiceEvent], object]) -> bool:
        """Stop calling ``fn``; return whether it was a listener."""
        try:
            self._listeners.remove(fn)
        except ValueError:
            return False
        return True

    def _emit(self, event: ev.ServiceEvent) -> None:
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception as exc:
                self._listener_errors += 1
                _logger.error(
                    "trio_orch.services.listener_failed",
                    listener=getattr(listener, "__qualname__", repr(listener)),
                    event_type=type(event).__name__,
                    error=repr(exc),
                )
        bus = self._bus
        if bus is not None:
            self._publish(bus, event)

    @staticmethod
    def _publish(bus: EventBus, event: Event) -> None:
        try:
            bus.emit(event)
        except BusClosed:
            _logger.warning(
                "trio_orch.services.event_dropped",
                event_type=type(event).__name__,
                reason="bus closed",
            )
