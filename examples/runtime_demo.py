"""The runtime end to end: an orchestrator, two plugins (one needs the other), work under a
memory budget, the health view, and a clean shutdown.

Run it: ``python examples/runtime_demo.py``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs
import trio
import trio.lowlevel

from trio_orch import (
    ConfigManager,
    Plugin,
    PluginContext,
    PluginEvent,
    ResourceAllocated,
    open_orchestrator,
)


@attrs.frozen
class Settings:
    greeting: str = "hello"
    chunk: int = 300


class Store(Plugin):
    """Keeps rows in memory; the report plugin reads them."""

    name = "store"
    version = "1.4.0"
    actions: ClassVar = {"put": "put"}

    async def setup(self, ctx: PluginContext) -> None:
        self.rows: list[str] = []
        await trio.lowlevel.checkpoint()

    async def put(self, row: str) -> int:
        self.rows.append(row)
        await trio.sleep(0.01)
        return len(self.rows)

    async def teardown(self) -> None:
        self.rows.clear()
        await trio.lowlevel.checkpoint()


class Report(Plugin):
    """Renders a report of the store's rows, holding a memory budget while it works."""

    name = "report"
    version = "0.3.1"
    dependencies: ClassVar = {"store": ">=1.2,<2"}  # a PEP 440 range
    actions: ClassVar = {"render": "render"}  # action name -> method name

    async def setup(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self.store = ctx.dependency("store")
        await trio.lowlevel.checkpoint()

    async def render(self, title: str) -> str:
        assert self.ctx.resources is not None
        assert self.ctx.config is not None
        settings: Settings = self.ctx.config.settings
        async with self.ctx.resources.allocate(settings.chunk, "buffers"):
            await trio.sleep(0.01)
            rows = ", ".join(self.store.rows)  # type: ignore[attr-defined]
            return f"{settings.greeting}, {title}: {rows}"


async def main() -> None:
    config = ConfigManager(Settings, mappings=[{"greeting": "hi"}], env_prefix=None)
    lifecycle: list[str] = []
    waited: list[float] = []

    async with open_orchestrator(
        max_concurrency=4,
        memory_limit=1000,
        timeout=5.0,
        plugins=[Report, Store],  # any order: set up as store, then report
        config=config,
    ) as orch:

        def on_plugin_event(event: PluginEvent) -> None:
            lifecycle.append(f"{type(event).__name__}({event.plugin})")

        def on_allocated(event: ResourceAllocated) -> None:
            waited.append(event.waited)

        orch.bus.on(PluginEvent, on_plugin_event)
        orch.bus.on(ResourceAllocated, on_allocated)
        print("plugins set up:", ", ".join(orch.plugins.initialized))

        async with trio.open_nursery() as nursery:
            for row in ("a", "b", "c"):
                nursery.start_soon(orch.execute_plugin, "store", "put", row)

        reports: list[Any] = []

        async def render(title: str) -> None:
            reports.append(await orch.execute_plugin("report", "render", title))

        async with trio.open_nursery() as nursery:  # 5 x 300 units in a 1000 budget: 3 at once
            for number in range(5):
                nursery.start_soon(render, f"report {number}")
        print(f"{len(reports)} reports, e.g. {sorted(reports)[0]!r}")
        print(f"requests that waited for memory: {sum(1 for w in waited if w > 0)}")
        print("peak memory:", orch.resources.usage().peak if orch.resources else None)
        print(orch.system_health().render())
    print("events seen:", len(lifecycle), "- last:", lifecycle[-1])


if __name__ == "__main__":
    trio.run(main)
