"""Properties of the ServiceOrchestrator against simple models: metrics and health transitions."""

from __future__ import annotations

import itertools
import math
from typing import Any

import trio
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

from trio_orch import (
    HealthStatus,
    OrchestratorMetrics,
    Service,
    ServiceEvent,
    ServiceHealthChanged,
    ServiceOrchestrator,
)

#: An operation: (duration in quarter seconds, whether it succeeds).
operations = st.lists(st.tuples(st.integers(0, 20), st.booleans()), max_size=30)


def run_virtual(fn: Any) -> Any:
    return trio.run(fn, clock=trio.testing.MockClock(autojump_threshold=0))


@given(operations, st.integers(1, 8))
def test_metrics_match_a_model(ops: list[tuple[int, bool]], window: int) -> None:
    async def main() -> OrchestratorMetrics:
        orch = ServiceOrchestrator(
            health_interval=None, timeout=None, retry_attempts=1, metrics_window=window
        )
        async with orch:
            for quarters, ok in ops:

                async def op(quarters: int = quarters, ok: bool = ok) -> None:
                    await trio.sleep(quarters / 4)
                    if not ok:
                        raise ValueError("no")

                await orch.execute("op", op)
            return orch.metrics()

    m = run_virtual(main)
    durations = [q / 4 for q, _ in ops]
    assert m.total == len(ops)
    assert m.successful == sum(ok for _, ok in ops)
    assert m.failed == m.total - m.successful
    assert m.average_duration == (sum(durations) / len(ops) if ops else 0.0)
    last = sorted(durations[-window:])
    assert m.p95_duration == (last[math.ceil(0.95 * len(last)) - 1] if last else 0.0)
    assert m.uptime == sum(durations)
    assert (m.running, m.cancelled) == (0, 0)


#: One health check's outcome: passes, passes but DEGRADED, or fails.
outcomes = st.lists(st.sampled_from(["ok", "degraded", "fail"]), min_size=1, max_size=25)


@given(outcomes, st.integers(1, 4))
def test_health_transitions_match_a_model(checks: list[str], threshold: int) -> None:
    plan = iter(checks)

    async def probe() -> HealthStatus | None:
        outcome = next(plan)
        if outcome == "fail":
            raise ConnectionError("down")
        return HealthStatus.DEGRADED if outcome == "degraded" else None

    events: list[ServiceEvent] = []

    async def main() -> list[tuple[HealthStatus, int]]:
        orch = ServiceOrchestrator(health_interval=None)
        orch.register(Service("db", health_check=probe, failure_threshold=threshold))
        orch.add_listener(events.append)
        seen = []
        async with orch:
            for _ in checks:
                db = (await orch.check_health()).services["db"]
                seen.append((db.status, db.consecutive_failures))
            availability = orch.metrics().availability["db"]
        assert availability == (len(checks) - checks.count("fail")) / len(checks)
        return seen

    seen = run_virtual(main)

    expected = []
    failures = 0
    for outcome in checks:
        if outcome == "fail":
            failures += 1
            status = HealthStatus.UNHEALTHY if failures >= threshold else HealthStatus.DEGRADED
        else:
            failures = 0
            status = HealthStatus.DEGRADED if outcome == "degraded" else HealthStatus.HEALTHY
        expected.append((status, failures))
    assert seen == expected

    statuses = [HealthStatus.UNKNOWN] + [s for s, _ in expected]
    changes = [(a, b) for a, b in itertools.pairwise(statuses) if a is not b]
    assert [(e.previous, e.status) for e in events if isinstance(e, ServiceHealthChanged)] == (
        changes
    )
