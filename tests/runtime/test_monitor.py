"""PerformanceMonitor: recording, histograms within their stated error, thresholds, reports."""

from __future__ import annotations

import functools
import io
import math

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from trio_orch import (
    Event,
    PerformanceMonitor,
    PerformanceReported,
    ThresholdViolated,
    ThresholdViolation,
    open_event_bus,
)
from trio_orch.runtime._histogram import LogHistogram


def _exact(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[int(q * (len(ordered) - 1))]


@given(
    st.lists(
        st.floats(min_value=-1e9, max_value=1e9, allow_nan=False).filter(
            lambda v: v == 0 or abs(v) > 1e-300
        ),
        min_size=1,
        max_size=300,
    ),
    st.sampled_from([0.0, 0.5, 0.9, 0.99, 1.0]),
)
def test_quantiles_within_the_stated_relative_error(values: list[float], q: float) -> None:
    histogram = LogHistogram(0.01)
    for value in values:
        histogram.observe(value)
    exact = _exact(values, q)
    assert abs(histogram.quantile(q) - exact) <= 0.01 * abs(exact) * (1 + 1e-9) + 1e-300


def test_histogram_memory_is_bounded() -> None:
    histogram = LogHistogram(0.01)
    for n in range(200_000):
        histogram.observe(1e-6 * (1.0001**n))
    # 1e-6 .. ~4.9e2: ln(4.9e8)/ln(1.0202) ~ 1000 buckets, whatever the count
    assert histogram.count == 200_000
    assert histogram.buckets < 1100


def test_empty_histogram_snapshot_is_zero() -> None:
    snap = PerformanceMonitor().histogram("nothing")
    assert (snap.count, snap.p50, snap.p99, snap.max, snap.mean) == (0, 0.0, 0.0, 0.0, 0.0)


def test_bad_relative_error_and_quantile() -> None:
    with pytest.raises(ValueError, match=r"^relative_error must be > 0 and < 1, got 1\.5$"):
        LogHistogram(1.5)
    with pytest.raises(ValueError, match=r"^relative_error must be > 0 and < 1, got 0$"):
        PerformanceMonitor(relative_error=0)
    with pytest.raises(ValueError, match=r"^q must be >= 0 and <= 1, got 2$"):
        LogHistogram().quantile(2)


def test_counters_gauges_and_observations() -> None:
    monitor = PerformanceMonitor()
    monitor.increment("jobs")
    monitor.increment("jobs", 4)
    monitor.gauge("queue", 3)
    monitor.gauge("queue", 7)
    for value in (1.0, 2.0, 3.0, 4.0):
        monitor.observe("latency", value)
    report = monitor.report()
    assert report.counters == {"jobs": 5}
    assert report.gauges == {"queue": 7}
    snap = report.histograms["latency"]
    assert (snap.count, snap.sum, snap.min, snap.max) == (4, 10.0, 1.0, 4.0)
    assert snap.p50 == pytest.approx(2.0, rel=0.01)
    assert snap.mean == 2.5
    assert monitor.value("jobs") == 5
    assert monitor.value("queue") == 7
    assert monitor.value("latency") == pytest.approx(3.0, rel=0.01)
    assert monitor.value("missing") is None
    monitor.reset()
    assert monitor.report().counters == {}


def test_bad_input_names_the_argument() -> None:
    monitor = PerformanceMonitor()
    with pytest.raises(ValueError, match=r"^n must be >= 0, got -1$"):
        monitor.increment("x", -1)
    with pytest.raises(ValueError, match=r"^value must be finite, got inf$"):
        monitor.observe("x", math.inf)
    with pytest.raises(ValueError, match=r"^name must not be empty, got ''$"):
        monitor.gauge("", 1)
    with pytest.raises(ValueError, match=r"^min must be <= max, got min=2 and max=1$"):
        monitor.set_threshold("x", max=1, min=2)
    with pytest.raises(TypeError, match=r"^name must be a str, got 3$"):
        monitor.timer(3)  # type: ignore[arg-type]


async def test_timer_as_context_manager_and_decorators(autojump_clock: trio.abc.Clock) -> None:
    monitor = PerformanceMonitor()

    @monitor.timer("async")
    async def slow() -> int:
        await trio.lowlevel.checkpoint()
        return 1

    @monitor.timer("sync")
    def fast(x: int) -> int:
        return x * 2

    assert await slow() == 1
    assert fast(2) == 4
    with monitor.timer("block"):
        pass
    with pytest.raises(KeyError), monitor.timer("raising"):
        raise KeyError("x")
    with trio.move_on_after(1):
        with monitor.timer("cancelled"):
            await trio.sleep_forever()
    counts = {name: snap.count for name, snap in monitor.report().histograms.items()}
    assert counts == {"async": 1, "sync": 1, "block": 1, "raising": 1, "cancelled": 1}
    assert slow.__name__ == "slow"


async def test_thresholds_are_returned_logged_and_emitted() -> None:
    async with open_event_bus() as bus:
        seen: list[ThresholdViolated] = []
        bus.on(ThresholdViolated, seen.append)
        monitor = PerformanceMonitor(bus=bus)
        monitor.set_threshold("latency", max=0.5)
        monitor.set_threshold("free", min=10)
        monitor.set_threshold("unset", max=1)
        monitor.observe("latency", 0.9)
        monitor.gauge("free", 3)
        violations = monitor.check_thresholds()
        assert violations == [
            ThresholdViolation("latency", pytest.approx(0.9, rel=0.01), 0.5, "max"),  # type: ignore[arg-type]
            ThresholdViolation("free", 3, 10, "min"),
        ]
        assert str(violations[1]) == "free = 3 < 10"
        assert [event.violation for event in seen] == violations
        monitor.set_threshold("latency")  # removes it
        assert [v.metric for v in monitor.check_thresholds()] == ["free"]


def test_report_renders_as_a_rich_table() -> None:
    monitor = PerformanceMonitor()
    monitor.increment("jobs", 2)
    monitor.gauge("queue", 1)
    monitor.observe("latency", 0.25)
    monitor.set_threshold("jobs", max=1)
    console = Console(file=io.StringIO(), width=120)
    console.print(monitor.report())
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "latency" in text
    assert "hist" in text
    assert "jobs = 2 > 1" in text


def test_prometheus_text_parses_back() -> None:
    monitor = PerformanceMonitor()
    monitor.increment("jobs.done", 3)
    monitor.gauge("queue-size", 7)
    for value in (0.1, 0.2, 0.3):
        monitor.observe("db.query", value)
    families = {f.name: f for f in text_string_to_metric_families(monitor.to_prometheus())}
    assert families["trio_orch_jobs_done"].type == "counter"
    assert families["trio_orch_jobs_done"].samples[0].value == 3
    assert families["trio_orch_queue_size"].samples[0].value == 7
    summary = families["trio_orch_db_query"]
    assert summary.type == "summary"
    samples = {(s.name, s.labels.get("quantile")): s.value for s in summary.samples}
    assert samples[("trio_orch_db_query_count", None)] == 3
    assert samples[("trio_orch_db_query_sum", None)] == pytest.approx(0.6)
    assert samples[("trio_orch_db_query", "0.5")] == pytest.approx(0.2, rel=0.01)


def test_collector_on_a_users_registry() -> None:
    monitor = PerformanceMonitor()
    registry = CollectorRegistry()
    registry.register(monitor.collector(namespace="app"))
    monitor.increment("hits")
    assert registry.get_sample_value("app_hits_total") == 1
    monitor.increment("hits")
    assert b"app_hits_total 2.0" in generate_latest(registry)


async def test_watch_counts_engine_events_and_durations() -> None:
    import attrs

    @attrs.frozen
    class StepDone(Event):
        duration: float

    async with open_event_bus() as bus:
        monitor = PerformanceMonitor()
        stop = monitor.watch(bus)
        bus.emit(StepDone(0.5))
        bus.emit(StepDone(1.5))
        await trio.testing.wait_all_tasks_blocked()
        stop()
        bus.emit(StepDone(9.0))
        report = monitor.report()
        assert report.counters["events.step_done"] == 2
        assert report.histograms["events.step_done.duration"].count == 2


async def test_periodic_reporting(autojump_clock: trio.abc.Clock) -> None:
    reports = []
    async with open_event_bus() as bus:
        published: list[PerformanceReported] = []
        bus.on(PerformanceReported, published.append)
        monitor = PerformanceMonitor(bus=bus)
        monitor.increment("ticks")
        async with trio.open_nursery() as nursery:
            await nursery.start(
                functools.partial(monitor.run_reporting, 10.0, on_report=reports.append)
            )
            await trio.sleep(35)
            nursery.cancel_scope.cancel()
        assert trio.current_time() == 35
        assert len(reports) == 3
        assert reports[0].counters == {"ticks": 1}
        assert len(published) == 3
    with pytest.raises(ValueError, match=r"^interval must be finite and > 0, got 0$"):
        await monitor.run_reporting(0)


async def test_as_a_component_of_the_orchestrator(autojump_clock: trio.abc.Clock) -> None:
    from trio_orch import HealthStatus, OrchestratorInitialized, open_orchestrator

    async with open_event_bus() as bus:
        reported: list[PerformanceReported] = []
        bus.on(PerformanceReported, reported.append)
        monitor = PerformanceMonitor(bus=bus, report_interval=5.0)
        async with trio.open_nursery() as nursery:
            await monitor.start(nursery)
            bus.emit(ThresholdViolated(ThresholdViolation("x", 1, 0, "max")))
            await trio.sleep(11)
            assert len(reported) == 2
            assert reported[-1].report.counters["events.threshold_violated"] == 1
            assert monitor.health() is HealthStatus.HEALTHY
            monitor.set_threshold("events.threshold_violated", max=0)
            assert monitor.health() is HealthStatus.DEGRADED
            await monitor.aclose()
            nursery.cancel_scope.cancel()

    async with open_orchestrator() as orch:
        assert isinstance(orch.monitor, PerformanceMonitor)
        assert orch.monitor.report().counters["events.orchestrator_initialized"] == 1
        assert OrchestratorInitialized.__name__ == "OrchestratorInitialized"
    with pytest.raises(ValueError, match=r"^report_interval must be finite and > 0, got 0$"):
        PerformanceMonitor(report_interval=0)
