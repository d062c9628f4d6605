"""Health checking for the service orchestrator: one bounded check, the periodic monitor.

:class:`HealthMonitor` keeps the last :class:`ServiceHealth` of every service and runs
checks, each bounded by ``timeout`` (a check still running then has failed with
``trio.TooSlowError``).  Two checks of the same service never overlap: a check asked for
while one is running waits for it and reports its result (so ``check_health()`` during a
periodic check costs nothing extra and never sees a stale answer).  Checks of different
services are independent: a hung service delays nobody else's checks.

The periodic monitor (:meth:`HealthMonitor.watch`) is one task per checked service, started
by the orchestrator in its own nursery: it checks at once, then on a fixed grid of
``interval`` seconds.  A check that overruns a tick skips the missed ticks: checks are never
burst to catch up.
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import TYPE_CHECKING, NoReturn, final

import attrs
import trio

from trio_orch._groups import open_nursery_unwrapped
from trio_orch.engines._services_model import (
    HealthStatus,
    Service,
    ServiceHealth,
    SystemHealth,
    describe,
    worst,
)

if TYPE_CHECKING:
    from collections.abc import Callable


@final
@attrs.define(eq=False)
class ServiceState:
    """The mutable record of one registered service."""

    service: Service
    health: ServiceHealth
    checks: int = 0
    passed: int = 0
    #: set while a check runs; a second caller waits for it instead of checking again
    inflight: trio.Event | None = None

    @property
    def checked(self) -> bool:
        """Whether the service has a health check at all."""
        return self.service.health_check is not None


@final
@attrs.frozen
class _Outcome:
    """What one run of a health check found (before the threshold rules apply)."""

    passed: bool
    degraded: bool
    error: str | None
    latency: float


@final
@attrs.define(eq=False)
class HealthMonitor:
    """The health of every registered service, and the checks that keep it current.

    Args:
        timeout: seconds that bound each check.
        interval: seconds between the periodic checks of one service (``None``: none).
        on_change: ``(previous status, new ServiceHealth)``, called when a status changes.
    """

    timeout: float
    interval: float | None
    on_change: Callable[[HealthStatus, ServiceHealth], None]
    states: dict[str, ServiceState] = attrs.field(factory=dict)

    def add(self, service: Service) -> ServiceState:
        """Start tracking ``service`` (``UNKNOWN`` until its first check)."""
        state = ServiceState(service, ServiceHealth(name=service.name))
        self.states[service.name] = state
        return state

    # --- reading -----------------------------------------------------------------------------

    def snapshot(self) -> SystemHealth:
        """The last known health of every service, without running any check."""
        states = self.states.values()
        return SystemHealth(
            overall=worst([s.health.status for s in states if s.checked]),
            services=MappingProxyType({s.service.name: s.health for s in states}),
            checked_at=trio.current_time(),
        )

    def availability(self) -> dict[str, float]:
        """``{name: passed / checks}`` for every service checked at least once."""
        return {name: s.passed / s.checks for name, s in self.states.items() if s.checks}

    # --- checking ----------------------------------------------------------------------------

    async def check(self, state: ServiceState) -> ServiceHealth:
        """Check one service now (or wait for the check already running) and record it.

        Cancellation: a cancelled check records nothing; a caller waiting for it then gets
        the previous health.
        """
        running = state.inflight
        if running is not None:
            await running.wait()
            return state.health
        done = state.inflight = trio.Event()
        try:
            outcome = await self._probe(state.service)
            self._record(state, outcome)
        finally:
            state.inflight = None
            done.set()
        return state.health

    async def check_all(self) -> SystemHealth:
        """Check every service that has a health check, concurrently; return the snapshot."""
        states = [s for s in self.states.values() if s.checked]
        if not states:
            await trio.lowlevel.checkpoint()
            return self.snapshot()
        async with open_nursery_unwrapped("ServiceOrchestrator.check_health") as nursery:
            for state in states:
                nursery.start_soon(self.check, state)
        return self.snapshot()

    async def watch(self, state: ServiceState) -> NoReturn:
        """Check ``state``'s service at once, then every ``interval`` seconds, forever.

        The ticks are ``start + k * interval``; ticks missed by a slow check are skipped.
        """
        interval = self.interval
        assert interval is not None
        next_at = trio.current_time()
        while True:
            await self.check(state)
            now = trio.current_time()
            next_at += interval
            if next_at < now:
                next_at += math.ceil((now - next_at) / interval) * interval
            await trio.sleep_until(next_at)

    async def _probe(self, service: Service) -> _Outcome:
        check = service.health_check
        assert check is not None
        timeout = self.timeout
        await trio.lowlevel.checkpoint()  # even when the check raises at once
        start = trio.current_time()
        reported: object = None
        error: str | None = None
        try:
            with trio.move_on_after(timeout) as scope:
                reported = await check()
        except Exception as exc:
            error = describe(exc)
        latency = trio.current_time() - start
        if scope.cancelled_caught:
            error = (
                f"TooSlowError: health check of {service.name!r} did not finish "
                f"within {timeout:g} s"
            )
        elif error is None and reported is HealthStatus.UNHEALTHY:
            error = "the health check reported UNHEALTHY"
        elif error is None and reported not in (
            None,
            HealthStatus.HEALTHY,
            HealthStatus.DEGRADED,
        ):
            error = (
                f"TypeError: health check of {service.name!r} returned {reported!r}, "
                "expected None, HealthStatus.HEALTHY, DEGRADED or UNHEALTHY"
            )
        slow = service.degraded_latency is not None and latency > service.degraded_latency
        degraded = reported is HealthStatus.DEGRADED or slow
        return _Outcome(passed=error is None, degraded=degraded, error=error, latency=latency)

    def _record(self, state: ServiceState, outcome: _Outcome) -> None:
        previous = state.health
        state.checks += 1
        if outcome.passed:
            state.passed += 1
            failures = 0
            status = HealthStatus.DEGRADED if outcome.degraded else HealthStatus.HEALTHY
        else:
            failures = previous.consecutive_failures + 1
            threshold = state.service.failure_threshold
            status = HealthStatus.UNHEALTHY if failures >= threshold else HealthStatus.DEGRADED
        state.health = ServiceHealth(
            name=previous.name,
            status=status,
            latency=outcome.latency,
            error=outcome.error,
            checked_at=trio.current_time(),
            consecutive_failures=failures,
        )
        if status is not previous.status:
            self.on_change(previous.status, state.health)
