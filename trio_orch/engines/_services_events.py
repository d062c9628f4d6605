"""The events a :class:`trio_orch.ServiceOrchestrator` publishes.

They go to every listener added with ``add_listener(fn)`` (called as ``fn(event)``) and,
when the orchestrator has a ``bus``, to the bus with its non-blocking ``emit``:

* per operation: :class:`OperationStarted`, then any :class:`OperationRetrying`, then one of
  :class:`OperationCompleted`, :class:`OperationFailed` or :class:`OperationCancelled`;
* per service: :class:`ServiceHealthChanged`, only when a check changes its status (the
  first check changes ``UNKNOWN`` to what it found).

All of them subclass :class:`ServiceEvent`, so ``bus.on(ServiceEvent, handler)`` sees every
one; ``ServiceEvent`` is a :class:`trio_orch.SystemEvent`.
"""

from __future__ import annotations

from collections.abc import Mapping  # noqa: TC003 - attrs resolves annotations at runtime
from typing import final

import attrs

from trio_orch.engines._services_model import HealthStatus, ServiceHealth  # noqa: TC001
from trio_orch.events import SystemEvent


@attrs.frozen
class ServiceEvent(SystemEvent):
    """Base class of every event a :class:`trio_orch.ServiceOrchestrator` publishes."""


@final
@attrs.frozen
class OperationStarted(ServiceEvent):
    """``execute`` started an operation (before its first attempt).

    Attributes:
        operation: the operation's name.
        operation_id: a number unique within the orchestrator, shared by the operation's
            events (names need not be unique).
        at: ``trio.current_time()``.
    """

    operation: str
    operation_id: int
    at: float


@final
@attrs.frozen
class OperationRetrying(ServiceEvent):
    """An attempt failed with a transient error; another starts after ``delay`` seconds.

    Attributes:
        operation: the operation's name.
        operation_id: as in :class:`OperationStarted`.
        attempt: the number of the attempt that failed (1 for the first).
        delay: the backoff before the next attempt.
        error: the failed attempt's exception.
    """

    operation: str
    operation_id: int
    attempt: int
    delay: float
    error: BaseException = attrs.field(eq=False)


@final
@attrs.frozen
class OperationCompleted(ServiceEvent):
    """An operation returned.

    Attributes:
        operation: the operation's name.
        operation_id: as in :class:`OperationStarted`.
        attempts: attempts made.
        duration: seconds since :class:`OperationStarted`.
        service_errors: as in :attr:`trio_orch.OperationResult.service_errors`.
    """

    operation: str
    operation_id: int
    attempts: int
    duration: float
    service_errors: Mapping[str, str] = attrs.field(eq=False)


@final
@attrs.frozen
class OperationFailed(ServiceEvent):
    """An operation's last attempt raised (or timed out): ``execute`` returns a failure.

    Attributes:
        operation: the operation's name.
        operation_id: as in :class:`OperationStarted`.
        attempts: attempts made.
        duration: seconds since :class:`OperationStarted`.
        error: the last attempt's exception.
        service_errors: as in :attr:`trio_orch.OperationResult.service_errors`.
    """

    operation: str
    operation_id: int
    attempts: int
    duration: float
    error: Exception = attrs.field(eq=False)
    service_errors: Mapping[str, str] = attrs.field(eq=False)


@final
@attrs.frozen
class OperationCancelled(ServiceEvent):
    """An operation was cancelled (or interrupted): ``execute`` re-raised, with no result.

    Attributes:
        operation: the operation's name.
        operation_id: as in :class:`OperationStarted`.
        attempts: attempts started.
        duration: seconds since :class:`OperationStarted`.
    """

    operation: str
    operation_id: int
    attempts: int
    duration: float


@final
@attrs.frozen
class ServiceHealthChanged(ServiceEvent):
    """A health check found a service in another status than the previous one.

    Attributes:
        service: the service's name.
        previous: its status before (``UNKNOWN`` before its first check).
        status: its status now.
        health: the full :class:`trio_orch.ServiceHealth` of the check.
    """

    service: str
    previous: HealthStatus
    status: HealthStatus
    health: ServiceHealth
