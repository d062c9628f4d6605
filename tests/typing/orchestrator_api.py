"""assert_type checks of the orchestrator, plugin, resource and configuration APIs.

NOT meant to be executed: ``make test`` runs ``mypy --strict tests/typing`` on it.
"""

from __future__ import annotations

from typing import Any, assert_type

import attrs

from trio_orch import (
    ConfigManager,
    ConfigProblem,
    HealthStatus,
    Orchestrator,
    Plugin,
    PluginRegistry,
    ResourceHandle,
    ResourceManager,
    ResourceUsage,
    RuntimeHealth,
    open_orchestrator,
)


@attrs.frozen
class Settings:
    debug: bool = False


async def orchestrator() -> None:
    async with open_orchestrator(max_concurrency=2, memory_limit=10, plugins=[Plugin]) as orch:
        assert_type(orch, Orchestrator)
        assert_type(orch.plugins, PluginRegistry)
        assert_type(orch.resources, ResourceManager | None)
        assert_type(await orch.execute_plugin("p", "a", None), Any)
        health = orch.system_health()
        assert_type(health, RuntimeHealth)
        assert_type(health.status, HealthStatus)
        assert_type(await orch.check_health(), RuntimeHealth)


async def plugins(registry: PluginRegistry) -> None:
    assert_type(await registry.initialize_all(), list[str])
    assert_type(registry.list(), list[Plugin])
    assert_type(registry.get("p"), Plugin)
    assert_type(await registry.unregister("p"), Plugin)
    assert_type(registry.initialized, tuple[str, ...])


async def resources(manager: ResourceManager) -> None:
    async with manager.allocate(1, "memory") as handle:
        assert_type(handle, ResourceHandle)
    assert_type(await manager.acquire(1, "memory"), ResourceHandle)
    assert_type(manager.usage(), ResourceUsage)


def config() -> None:
    manager = ConfigManager(Settings, files=["app.toml"], env_prefix="APP_")
    assert_type(manager, ConfigManager[Settings])
    assert_type(manager.settings, Settings)
    assert_type(manager.get("debug"), Any)
    assert_type(manager.has("debug"), bool)


def problem(p: ConfigProblem) -> None:
    assert_type(p.path, str)
    assert_type(p.source, str)
