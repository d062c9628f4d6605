"""ServiceOrchestrator health: checks, transitions and their events, the periodic monitor."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from trio_orch import (
    HealthStatus,
    Service,
    ServiceEvent,
    ServiceHealth,
    ServiceHealthChanged,
    ServiceOrchestrator,
    SystemHealth,
    open_event_bus,
)


class Probe:
    """A health check whose outcome the test sets; records when each check started."""

    def __init__(self, *, latency: float = 0.0) -> None:
        self.fail: BaseException | None = None
        self.returns: Any = None
        self.latency = latency
        self.hang = False
        self.starts: list[float] = []

    async def __call__(self) -> Any:
        self.starts.append(trio.current_time())
        await trio.sleep(self.latency)
        if self.hang:
            await trio.sleep_forever()
        if self.fail is not None:
            raise self.fail
        return self.returns


def changes(events: list[ServiceEvent]) -> list[tuple[str, str, str]]:
    return [
        (e.service, e.previous.name, e.status.name)
        for e in events
        if isinstance(e, ServiceHealthChanged)
    ]


async def test_health_transitions_emit_one_event_per_change(
    autojump_clock: trio.testing.MockClock,
) -> None:
    probe = Probe()
    events: list[ServiceEvent] = []
    orch = ServiceOrchestrator(health_interval=10.0, health_timeout=1.0)
    orch.register(Service("db", health_check=probe))
    orch.add_listener(events.append)
    assert orch.health.services["db"] == ServiceHealth(name="db")
    async with orch:
        t0 = trio.current_time()
        await trio.sleep(1.0)
        assert orch.health.services["db"].status is HealthStatus.HEALTHY
        probe.fail = ConnectionError("refused")
        await trio.sleep(24.0)  # checks at 10 and 20 fail: one change
        db = orch.health.services["db"]
        assert db == ServiceHealth(
            name="db",
            status=HealthStatus.UNHEALTHY,
            latency=0.0,
            error="ConnectionError: refused",
            checked_at=t0 + 20.0,
            consecutive_failures=2,
        )
        probe.fail = None
        await trio.sleep(10.0)
        assert orch.health.services["db"].consecutive_failures == 0
    assert probe.starts == [t0, t0 + 10.0, t0 + 20.0, t0 + 30.0]
    assert changes(events) == [
        ("db", "UNKNOWN", "HEALTHY"),
        ("db", "HEALTHY", "UNHEALTHY"),
        ("db", "UNHEALTHY", "HEALTHY"),
    ]
    unhealthy = [e for e in events if isinstance(e, ServiceHealthChanged)][1]
    assert unhealthy.health.error == "ConnectionError: refused"
    assert unhealthy.health.checked_at == t0 + 10.0


async def test_a_hung_check_fails_after_health_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    probe = Probe()
    probe.hang = True
    orch = ServiceOrchestrator(health_interval=None, health_timeout=2.0)
    orch.register(Service("db", health_check=probe))
    async with orch:
        t0 = trio.current_time()
        health = await orch.check_health()
        assert trio.current_time() == t0 + 2.0
    db = health.services["db"]
    assert db.status is HealthStatus.UNHEALTHY
    assert db.error == "TooSlowError: health check of 'db' did not finish within 2 s"
    assert db.latency == 2.0
    assert health.overall is HealthStatus.UNHEALTHY
    assert health.unhealthy == ("db",)


async def test_the_monitor_skips_ticks_a_slow_check_missed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    probe = Probe(latency=2.5)
    orch = ServiceOrchestrator(health_interval=1.0, health_timeout=5.0)
    orch.register(Service("db", health_check=probe))
    async with orch:
        t0 = trio.current_time()
        await trio.sleep(2.6)
        probe.latency = 0.0
        await trio.sleep(2.5)  # to t0 + 5.1
    assert [s - t0 for s in probe.starts] == [0.0, 3.0, 4.0, 5.0]


async def test_failures_below_the_threshold_are_degraded(
    autojump_clock: trio.testing.MockClock,
) -> None:
    probe = Probe()
    probe.fail = OSError("flaky")
    orch = ServiceOrchestrator(health_interval=None)
    orch.register(Service("db", health_check=probe, failure_threshold=3))
    async with orch:
        statuses = []
        for _ in range(4):
            health = await orch.check_health()
            db = health.services["db"]
            statuses.append((db.status.name, db.consecutive_failures))
        probe.fail = None
        assert (await orch.check_health()).services["db"].status is HealthStatus.HEALTHY
        m = orch.metrics()
    assert statuses == [("DEGRADED", 1), ("DEGRADED", 2), ("UNHEALTHY", 3), ("UNHEALTHY", 4)]
    assert dict(m.availability) == {"db": 1 / 5}


@pytest.mark.parametrize(
    ("returns", "latency", "status", "error"),
    [
        (None, 0.1, HealthStatus.HEALTHY, None),
        (HealthStatus.HEALTHY, 0.1, HealthStatus.HEALTHY, None),
        (None, 0.5, HealthStatus.DEGRADED, None),  # slower than degraded_latency
        (HealthStatus.DEGRADED, 0.1, HealthStatus.DEGRADED, None),
        (HealthStatus.UNHEALTHY, 0.1, HealthStatus.UNHEALTHY, "the health check reported UNHEALTHY"),
        (HealthStatus.UNKNOWN, 0.1, HealthStatus.UNHEALTHY, "TypeError: health check of 'db' returned <HealthStatus.UNKNOWN: 'unknown'>, expected None, HealthStatus.HEALTHY, DEGRADED or UNHEALTHY"),
        (True, 0.1, HealthStatus.UNHEALTHY, "TypeError: health check of 'db' returned True, expected None, HealthStatus.HEALTHY, DEGRADED or UNHEALTHY"),
    ],
)  # fmt: skip
async def test_what_a_check_returns_decides_its_status(
    autojump_clock: trio.testing.MockClock,
    returns: Any,
    latency: float,
    status: HealthStatus,
    error: str | None,
) -> None:
    probe = Probe(latency=latency)
    probe.returns = returns
    orch = ServiceOrchestrator(health_interval=None)
    orch.register(Service("db", health_check=probe, degraded_latency=0.2))
    async with orch:
        db = (await orch.check_health()).services["db"]
    assert (db.status, db.error) == (status, error)
    assert db.latency == latency


async def test_overall_is_the_worst_checked_status(autojump_clock: trio.testing.MockClock) -> None:
    ok, slow, down = Probe(), Probe(), Probe()
    slow.returns = HealthStatus.DEGRADED
    down.fail = ConnectionError("down")
    orch = ServiceOrchestrator(health_interval=None)
    assert orch.health.overall is HealthStatus.UNKNOWN  # no service at all
    orch.register(Service("unchecked"))
    orch.register(Service("ok", health_check=ok))
    async with orch:
        assert orch.health.overall is HealthStatus.UNKNOWN  # "ok" not checked yet
        health = await orch.check_health()
        assert health.overall is HealthStatus.HEALTHY  # "unchecked" does not count
        assert health.services["unchecked"].status is HealthStatus.UNKNOWN
        orch.register(Service("slow", health_check=slow))
        assert (await orch.check_health()).overall is HealthStatus.DEGRADED
        orch.register(Service("down", health_check=down))
        health = await orch.check_health()
    assert health.overall is HealthStatus.UNHEALTHY
    assert list(health.services) == ["unchecked", "ok", "slow", "down"]
    assert health.checked_at == trio.current_time()
    assert isinstance(health, SystemHealth)


async def test_check_health_joins_a_check_already_running(
    autojump_clock: trio.testing.MockClock,
) -> None:
    probe = Probe(latency=1.0)
    orch = ServiceOrchestrator(health_interval=30.0)
    orch.register(Service("db", health_check=probe))
    async with orch:
        t0 = trio.current_time()
        await trio.sleep(0.5)  # the first periodic check is half-way
        health = await orch.check_health()
        assert trio.current_time() == t0 + 1.0
        assert health.services["db"].checked_at == t0 + 1.0
        assert len(probe.starts) == 1
        await orch.check_health()  # none running: a new check
        assert len(probe.starts) == 2
        assert orch.metrics().availability["db"] == 1.0


async def test_a_failed_service_never_blocks_others(autojump_clock: trio.testing.MockClock) -> None:
    hung, fine = Probe(), Probe()
    hung.hang = True

    async def use_fine() -> str:
        await orch.call("fine", trio.sleep, 0)
        return "done"

    orch = ServiceOrchestrator(health_interval=1.0, health_timeout=10.0)
    orch.register(Service("hung", health_check=hung))
    orch.register(Service("fine", health_check=fine))
    async with orch:
        t0 = trio.current_time()
        result = await orch.execute("op", use_fine)
        assert result.data == "done"
        assert trio.current_time() == t0
        await trio.sleep(3.5)
        assert [s - t0 for s in fine.starts] == [0.0, 1.0, 2.0, 3.0]  # on schedule
        assert orch.health.services["hung"].status is HealthStatus.UNKNOWN  # still checking
        health = await orch.check_health()  # joins the hung check: 10 s after it started
        assert trio.current_time() == t0 + 10.0
    assert health.services["hung"].status is HealthStatus.UNHEALTHY
    assert health.services["fine"].status is HealthStatus.HEALTHY


async def test_cancelling_check_health_records_nothing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    probe = Probe(latency=1.0)
    orch = ServiceOrchestrator(health_interval=None)
    orch.register(Service("db", health_check=probe))
    async with orch:
        with trio.move_on_after(0.5):
            await orch.check_health()
        assert orch.health.services["db"].status is HealthStatus.UNKNOWN
        assert dict(orch.metrics().availability) == {}
        await orch.check_health()  # the cancelled check left no "in flight" mark behind
        assert orch.health.services["db"].status is HealthStatus.HEALTHY


async def test_a_waiter_of_a_cancelled_check_gets_the_previous_health(
    autojump_clock: trio.testing.MockClock,
) -> None:
    probe = Probe(latency=1.0)
    orch = ServiceOrchestrator(health_interval=None)
    orch.register(Service("db", health_check=probe))
    got: list[SystemHealth] = []
    async with orch, trio.open_nursery() as nursery:

        async def first() -> None:
            with trio.move_on_after(0.5):
                await orch.check_health()

        async def second() -> None:
            await trio.sleep(0.1)
            got.append(await orch.check_health())

        nursery.start_soon(first)
        nursery.start_soon(second)
    assert got[0].services["db"].status is HealthStatus.UNKNOWN
    assert len(probe.starts) == 1


async def test_no_periodic_checks_without_health_interval(
    autojump_clock: trio.testing.MockClock,
) -> None:
    probe = Probe()
    orch = ServiceOrchestrator(health_interval=float("inf"))
    orch.register(Service("db", health_check=probe))
    async with orch:
        await trio.sleep(1000)
        assert probe.starts == []
        assert (await orch.check_health()).overall is HealthStatus.HEALTHY


async def test_registering_while_open_starts_its_monitor(
    autojump_clock: trio.testing.MockClock,
) -> None:
    probe = Probe()
    events: list[ServiceEvent] = []
    async with ServiceOrchestrator(health_interval=5.0) as orch:
        orch.add_listener(events.append)
        await trio.sleep(1.0)
        t1 = trio.current_time()
        orch.register(Service("late", health_check=probe))
        await trio.sleep(6.0)
    assert probe.starts == [t1, t1 + 5.0]
    assert changes(events) == [("late", "UNKNOWN", "HEALTHY")]


async def test_a_health_check_that_raises_keyboard_interrupt_ends_the_block(
    autojump_clock: trio.testing.MockClock,
) -> None:
    probe = Probe()
    probe.fail = KeyboardInterrupt()
    orch = ServiceOrchestrator(health_interval=1.0)
    orch.register(Service("db", health_check=probe))
    with pytest.raises(KeyboardInterrupt):
        async with orch:
            await trio.sleep_forever()


async def test_health_changes_are_logged(autojump_clock: trio.testing.MockClock) -> None:
    import structlog

    probe = Probe()
    probe.fail = ConnectionError("down")
    orch = ServiceOrchestrator(health_interval=None)
    orch.register(Service("db", health_check=probe))
    async with orch:
        with structlog.testing.capture_logs() as logs:
            await orch.check_health()
    assert [(log["event"], log["log_level"], log["status"]) for log in logs] == [
        ("trio_orch.services.health_changed", "warning", "unhealthy")
    ]


async def test_health_changes_reach_the_bus(autojump_clock: trio.testing.MockClock) -> None:
    probe = Probe()
    seen: list[ServiceHealthChanged] = []
    async with open_event_bus() as bus:
        bus.on(ServiceHealthChanged, seen.append)
        orch = ServiceOrchestrator(health_interval=None, bus=bus)
        orch.register(Service("db", health_check=probe))
        async with orch:
            await orch.check_health()
            await orch.check_health()  # no change: no event
            probe.fail = ConnectionError("down")
            await orch.check_health()
    assert [(e.previous, e.status) for e in seen] == [
        (HealthStatus.UNKNOWN, HealthStatus.HEALTHY),
        (HealthStatus.HEALTHY, HealthStatus.UNHEALTHY),
    ]
