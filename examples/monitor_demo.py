"""PerformanceMonitor: time work, watch a bus, flag a threshold, print a report.

Run it: ``python examples/monitor_demo.py``.
"""

from __future__ import annotations

import random

import rich
import trio
import trio.testing

from trio_orch import PerformanceMonitor, StepContext, ThresholdViolated, Workflow, open_event_bus


async def main() -> None:
    rng = random.Random(1)
    async with open_event_bus() as bus:
        monitor = PerformanceMonitor(bus=bus)
        stop_watching = monitor.watch(bus)  # counts every event the workflow publishes
        bus.on(ThresholdViolated, lambda e: print(f"threshold crossed: {e.violation}"))

        @monitor.timer("query")
        async def query() -> None:
            await trio.sleep(rng.uniform(0.001, 0.01))

        wf = Workflow("etl")

        @wf.step()
        async def extract(ctx: StepContext) -> int:
            for _ in range(20):
                await query()
                monitor.increment("rows", 100)
            return 2000

        @wf.step(depends_on=[extract])
        async def load(ctx: StepContext, extract: int) -> None:
            monitor.gauge("loaded", extract)
            await trio.sleep(0.01)

        await wf.run(bus=bus)
        stop_watching()
        monitor.set_threshold("query", max=0.005)  # p99 of the timer, in seconds
        monitor.check_thresholds()
        await trio.testing.wait_all_tasks_blocked()
        rich.print(monitor.report())
        print(monitor.to_prometheus().splitlines()[0])


if __name__ == "__main__":
    trio.run(main)
