"""assert_type checks of the ServiceOrchestrator API.

NOT meant to be executed: ``make test`` runs ``mypy --strict tests/typing`` on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, assert_type

from trio_orch import (
    HealthStatus,
    OperationResult,
    OrchestratorMetrics,
    Service,
    ServiceEvent,
    ServiceHealth,
    ServiceOrchestrator,
    SystemHealth,
)


async def create_user(name: str, admin: bool) -> int:
    return len(name) + admin


async def ping() -> None:
    return None


async def check() -> None:
    orch = ServiceOrchestrator(retry_attempts=3, retry_delay=1.0, timeout=None, bus=None)
    orch.register(Service("identity", health_check=ping))
    async with orch as entered:
        assert_type(entered, ServiceOrchestrator)
        result = await orch.execute("onboard", create_user, "ann", True)
        assert_type(result, OperationResult[int])
        assert_type(result.data, int | None)
        assert_type(result.unwrap(), int)
        assert_type(result.service_errors, Mapping[str, str])
        assert_type(await orch.call("identity", create_user, "ann", False), int)
        await orch.execute("bad", create_user, "ann")  # type: ignore[arg-type]
        many = await orch.execute_many([("a", create_user, ("x", True)), ("b", ping)])
        assert_type(many, list[OperationResult[Any]])
        health = await orch.check_health()
        assert_type(health, SystemHealth)
        assert_type(health.overall, HealthStatus)
        assert_type(health.services["identity"], ServiceHealth)
        assert_type(orch.metrics(), OrchestratorMetrics)
        assert_type(orch.stats.availability, Mapping[str, float])

        def listener(event: ServiceEvent) -> None: ...

        orch.add_listener(listener)
        assert_type(orch.remove_listener(listener), bool)
