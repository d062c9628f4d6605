"""The values of service orchestration: services, health, operation results, metrics.

Everything here is data: :class:`Service` describes a service (its name and how to check it),
and the frozen snapshots (:class:`ServiceHealth`, :class:`SystemHealth`,
:class:`OperationResult`, :class:`OrchestratorMetrics`) report what
:class:`trio_orch.ServiceOrchestrator` saw.  None of them holds a task or a reference back
to the orchestrator, so they may outlive it.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any, Generic, TypeAlias, TypeVar, final

import attrs

from trio_orch._validate import (
    callable_validator,
    int_validator,
    nonempty_str_validator,
    number_validator,
)

T = TypeVar("T")

#: What a health check is: an async function of no arguments that returns ``None`` (or a
#: :class:`HealthStatus`) when the service is up, and raises when it is not.
HealthCheck: TypeAlias = Callable[[], Awaitable["HealthStatus | None"]]

#: A shared, read-only empty mapping (results without service errors share it).
EMPTY: Mapping[str, Any] = MappingProxyType({})


class HealthStatus(enum.Enum):
    """The health of one service, or of the whole system (the worst of its services).

    From best to worst: ``HEALTHY``, ``UNKNOWN`` (not checked yet, or no health check),
    ``DEGRADED`` (answering, but slowly or with failures below the threshold),
    ``UNHEALTHY`` (its check failed or timed out).
    """

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"
    UNKNOWN = "unknown"

    @property
    def severity(self) -> int:
        """0 for ``HEALTHY`` up to 3 for ``UNHEALTHY``: the order ``overall`` uses."""
        return _SEVERITY[self]


_SEVERITY = {
    HealthStatus.HEALTHY: 0,
    HealthStatus.UNKNOWN: 1,
    HealthStatus.DEGRADED: 2,
    HealthStatus.UNHEALTHY: 3,
}


def worst(statuses: list[HealthStatus]) -> HealthStatus:
    """The most severe of ``statuses``; ``UNKNOWN`` for none at all."""
    if not statuses:
        return HealthStatus.UNKNOWN
    return max(statuses, key=_SEVERITY.__getitem__)


def describe(exc: BaseException) -> str:
    """``"TypeName: message"`` (or the bare type name when the message is empty)."""
    text = str(exc)
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


@final
@attrs.frozen
class Service:
    """A service that operations call, registered with :meth:`ServiceOrchestrator.register`.

    ::

        async def ping_identity() -> None:
            (await client.get("/health")).raise_for_status()

        orch.register(Service("identity", health_check=ping_identity))

    Args:
        name: the service's unique name (what :meth:`~ServiceOrchestrator.call` names).
        health_check: ``async () -> None``: returns when the service is up, raises when it
            is not.  It may also return a :class:`HealthStatus` (``DEGRADED`` to say "up,
            but impaired"; ``UNHEALTHY`` counts as a failed check).  Each run is bounded by
            the orchestrator's ``health_timeout``.  ``None``: the service is never checked;
            its status stays ``UNKNOWN`` and it does not count towards ``overall``.
        failure_threshold: consecutive failed checks before the service is ``UNHEALTHY``;
            fewer make it ``DEGRADED``.  The default, 1, makes one failure ``UNHEALTHY``.
        degraded_latency: a check that passes but takes longer than this many seconds makes
            the service ``DEGRADED``; ``None`` (the default) never does.

    Raises:
        TypeError: ``name`` is not a str, ``health_check`` not callable, ``failure_threshold``
            not an int, ``degraded_latency`` not a number.
        ValueError: ``name`` is empty, ``failure_threshold < 1``, ``degraded_latency <= 0``.
    """

    name: str = attrs.field(validator=nonempty_str_validator())
    health_check: HealthCheck | None = attrs.field(
        default=None, validator=callable_validator(allow_none=True)
    )
    failure_threshold: int = attrs.field(
        default=1, kw_only=True, validator=int_validator(minimum=1)
    )
    degraded_latency: float | None = attrs.field(
        default=None,
        kw_only=True,
        validator=number_validator(strict=True, allow_none=True),
    )


@final
@attrs.frozen(kw_only=True)
class ServiceHealth:
    """What the last health check of one service found.

    Attributes:
        name: the service's name.
        status: its :class:`HealthStatus`.
        latency: seconds the last check took (``health_timeout`` for one that timed out),
            or ``None`` before the first check.
        error: ``"TypeName: message"`` of the last failed check (``None`` when it passed).
        checked_at: ``trio.current_time()`` when the last check ended, or ``None``.
        consecutive_failures: failed checks in a row, up to the last one.
    """

    name: str
    status: HealthStatus = HealthStatus.UNKNOWN
    latency: float | None = None
    error: str | None = None
    checked_at: float | None = None
    consecutive_failures: int = 0


@final
@attrs.frozen(kw_only=True)
class SystemHealth:
    """The health of every registered service, from :meth:`ServiceOrchestrator.check_health`.

    Attributes:
        overall: the worst status among the services that have a health check
            (``HEALTHY`` < ``UNKNOWN`` < ``DEGRADED`` < ``UNHEALTHY``); ``UNKNOWN`` when
            no service has one.
        services: ``{name: ServiceHealth}`` for every registered service, in registration
            order (read-only).
        checked_at: ``trio.current_time()`` when the snapshot was taken.
    """

    overall: HealthStatus
    services: Mapping[str, ServiceHealth]
    checked_at: float

    @property
    def unhealthy(self) -> tuple[str, ...]:
        """Names of the services that are ``UNHEALTHY``, in registration order."""
        return tuple(
            name for name, h in self.services.items() if h.status is HealthStatus.UNHEALTHY
        )


@final
@attrs.frozen(kw_only=True)
class OperationResult(Generic[T]):
    """What :meth:`ServiceOrchestrator.execute` returns: the value, or why there is none.

    Attributes:
        success: whether the operation returned (on some attempt).
        data: what it returned, or ``None`` when it failed.
        error: ``"TypeName: message"`` of the last attempt's error, or ``None``.
        exception: the last attempt's exception itself, or ``None``.  A timed-out attempt
            is a :class:`trio.TooSlowError`.
        details: more about a failure: ``{"kind": ErrorKind, "retried": bool}``: the
            classification of the error and whether it was retried at all (empty on
            success; read-only).
        duration: seconds from the start of the first attempt to the end of the last,
            backoff included.
        service_errors: ``{service: "TypeName: message"}`` for each service whose
            :meth:`~ServiceOrchestrator.call` failed during any attempt (the latest error
            per service; read-only).  A successful operation may have some: a call that
            failed and was handled, or that failed on an attempt that was then retried.
        operation: the operation's name.
        attempts: how many attempts ran.
    """

    success: bool
    data: T | None = None
    error: str | None = None
    exception: Exception | None = attrs.field(default=None, eq=False)
    details: Mapping[str, Any] = EMPTY
    duration: float = 0.0
    service_errors: Mapping[str, str] = EMPTY
    operation: str = ""
    attempts: int = 0

    def unwrap(self) -> T:
        """Return :attr:`data` if the operation succeeded, else raise :attr:`exception`.

        Raises:
            Exception: the operation's own last error, as it was raised.
        """
        if self.exception is not None:
            raise self.exception
        return self.data  # type: ignore[return-value]  # None only when T admits it


@final
@attrs.frozen(kw_only=True)
class OrchestratorMetrics:
    """A snapshot of :meth:`ServiceOrchestrator.metrics` (also :attr:`~ServiceOrchestrator.stats`).

    Attributes:
        total: operations that finished with a result (``successful + failed``).
        successful: operations that returned.
        failed: operations whose last attempt raised (or timed out).
        average_duration: mean ``duration`` of the finished operations (0.0 for none).
        p95_duration: the 95th percentile (nearest rank) of the durations of the last
            ``metrics_window`` finished operations (0.0 for none).
        uptime: seconds the orchestrator has been open (frozen once it closed; 0.0 before).
        availability: ``{service: passed checks / checks}`` for every service checked at
            least once (read-only).  A passed check returned ``None``, ``HEALTHY`` or
            ``DEGRADED``; a raise, a timeout or ``UNHEALTHY`` is a failed one.
        cancelled: operations that ended by ``trio.Cancelled`` (or another
            ``BaseException``); not in ``total``.
        running: operations under way now.
        call_failures: ``{service: count}`` of failed :meth:`~ServiceOrchestrator.call`
            calls (a timed-out attempt counts for each service it was waiting on).
        listener_errors: listener calls that raised (logged and otherwise ignored).
    """

    total: int
    successful: int
    failed: int
    average_duration: float
    p95_duration: float
    uptime: float
    availability: Mapping[str, float]
    cancelled: int = 0
    running: int = 0
    call_failures: Mapping[str, int] = EMPTY
    listener_errors: int = 0
