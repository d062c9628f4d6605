"""PerformanceMonitor: timers, counters, gauges and histograms, with thresholds and reports.

Everything recorded here is in-process and O(1): a counter is a dict entry, a histogram is a
:class:`~trio_orch.runtime._histogram.LogHistogram` (1 % relative error, bounded memory).
Exposition goes through prometheus-client (:meth:`PerformanceMonitor.collector`,
:meth:`PerformanceMonitor.to_prometheus`), rendering through rich (:class:`PerformanceReport`
has ``__rich__``); both libraries are imported only when those are used.

The engines report into a monitor through their bus events, never by importing it:
:meth:`PerformanceMonitor.watch` subscribes to a bus and counts every event by class, and
observes the ``duration`` of any event that carries one.
"""

from __future__ import annotations

import functools
import inspect
import math
import re
import time
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, final, overload

import attrs
import trio

from trio_orch._log import get_logger
from trio_orch._validate import check_nonempty_str, check_number
from trio_orch.engines import HealthStatus
from trio_orch.events import Event, SystemEvent
from trio_orch.runtime._histogram import HistogramSnapshot, LogHistogram

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Iterator, Mapping

    from rich.table import Table

    from trio_orch.events import EventBus
    from trio_orch.runtime._prometheus import MonitorCollector

__all__ = [
    "MonitorEvent",
    "PerformanceMonitor",
    "PerformanceReport",
    "PerformanceReported",
    "ThresholdViolated",
    "ThresholdViolation",
]

P = ParamSpec("P")
R = TypeVar("R")

_logger = get_logger("monitor")
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


@final
@attrs.frozen
class ThresholdViolation:
    """A metric outside the bounds that :meth:`PerformanceMonitor.set_threshold` set.

    Attributes:
        metric: the metric's name.
        value: its value when checked (a histogram's p99, a counter's or gauge's value).
        threshold: the bound it crossed.
        kind: ``"max"`` (above the maximum) or ``"min"`` (below the minimum).
    """

    metric: str
    value: float
    threshold: float
    kind: str

    def __str__(self) -> str:
        rule = ">" if self.kind == "max" else "<"
        return f"{self.metric} = {self.value:g} {rule} {self.threshold:g}"


@attrs.frozen
class MonitorEvent(SystemEvent):
    """Base class of the events a :class:`PerformanceMonitor` publishes."""


@final
@attrs.frozen
class ThresholdViolated(MonitorEvent):
    """:meth:`PerformanceMonitor.check_thresholds` found ``violation``."""

    violation: ThresholdViolation


@final
@attrs.frozen
class PerformanceReported(MonitorEvent):
    """The periodic reporter (:meth:`PerformanceMonitor.run_reporting`) made ``report``."""

    report: PerformanceReport


@final
@attrs.frozen
class PerformanceReport:
    """Everything a monitor holds at one moment.

    Attributes:
        counters: ``{name: total}``.
        gauges: ``{name: last value}``.
        histograms: ``{name: HistogramSnapshot(count, sum, min, p50, p90, p99, max)}``
            (timers are histograms of seconds).
        violations: the threshold violations at the time of the report.
        relative_error: the histograms' stated relative error.

    Print it with rich (``rich.print(report)``) for a table, or read the mappings.
    """

    counters: Mapping[str, float]
    gauges: Mapping[str, float]
    histograms: Mapping[str, HistogramSnapshot]
    violations: tuple[ThresholdViolation, ...] = ()
    relative_error: float = 0.01

    def to_table(self) -> Table:
        """The report as a ``rich.table.Table`` (imports rich)."""
        from rich.table import Table

        table = Table(title="trio_orch performance")
        table.add_column("metric", overflow="fold", min_width=20)
        table.add_column("kind")
        for column in ("n", "value / p50", "p90", "p99", "max"):
            table.add_column(column, justify="right", no_wrap=True)
        for name, total in sorted(self.counters.items()):
            table.add_row(name, "counter", "", f"{total:g}", "", "", "")
        for name, value in sorted(self.gauges.items()):
            table.add_row(name, "gauge", "", f"{value:g}", "", "", "")
        for name, snap in sorted(self.histograms.items()):
            table.add_row(
                name,
                "hist",
                str(snap.count),
                f"{snap.p50:.3g}",
                f"{snap.p90:.3g}",
                f"{snap.p99:.3g}",
                f"{snap.max:.3g}",
            )
        if self.violations:
            table.caption = "violations: " + "; ".join(str(v) for v in self.violations)
        return table

    def __rich__(self) -> Table:
        return self.to_table()


@attrs.frozen
class _Threshold:
    max: float | None
    min: float | None


class _Timer:
    """What :meth:`PerformanceMonitor.timer` returns: a context manager and a decorator.

    As a context manager it is single-use per ``with`` (``timer()`` makes a fresh one); as a
    decorator each call measures on its own, so concurrent calls never mix.
    """

    __slots__ = ("_monitor", "_name", "_start")

    def __init__(self, monitor: PerformanceMonitor, name: str) -> None:
        self._monitor = monitor
        self._name = name
        self._start = 0.0

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self._monitor.observe(self._name, time.perf_counter() - self._start)

    @overload
    def __call__(
        self, fn: Callable[P, Coroutine[Any, Any, R]]
    ) -> Callable[P, Coroutine[Any, Any, R]]: ...
    @overload
    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]: ...
    def __call__(self, fn: Callable[P, Any]) -> Callable[P, Any]:
        monitor, name = self._monitor, self._name
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def timed_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                start = time.perf_counter()
                try:
                    return await fn(*args, **kwargs)
                finally:
                    monitor.observe(name, time.perf_counter() - start)

            return timed_async

        @functools.wraps(fn)
        def timed(*args: P.args, **kwargs: P.kwargs) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                monitor.observe(name, time.perf_counter() - start)

        return timed


@final
class PerformanceMonitor:
    """Counters, gauges and histograms, with thresholds, reports and Prometheus exposition.

    Args:
        bus: where :class:`ThresholdViolated` and :class:`PerformanceReported` events go
            (``bus.emit``, never blocking); ``None`` publishes nothing.
        relative_error: the histograms' relative accuracy (default 1 %).
        report_interval: with :meth:`start`, report every this many seconds
            (:meth:`run_reporting`); ``None``: no periodic reports.

    As a component of :func:`~trio_orch.open_orchestrator` (which builds one on its bus
    when given none), :meth:`start` watches the bus and runs the periodic reports in the
    orchestrator's nursery, and :meth:`aclose` stops watching.

    Nothing here blocks or checkpoints except :meth:`run_reporting`; every recording call is
    O(1) and safe to call from any task of the event loop (not from other threads).
    """

    def __init__(
        self,
        *,
        bus: EventBus | None = None,
        relative_error: float = 0.01,
        report_interval: float | None = None,
    ) -> None:
        if not 0.0 < relative_error < 1.0:
            msg = f"relative_error must be > 0 and < 1, got {relative_error!r}"
            raise ValueError(msg)
        check_number("report_interval", report_interval, strict=True, allow_none=True)
        self._bus = bus
        self._report_interval = report_interval
        self._unwatch: Callable[[], object] | None = None
        self._relative_error = relative_error
        self._counters: dict[str, float] = {}
        self._gauges: dict[str, float] = {}
        self._histograms: dict[str, LogHistogram] = {}
        self._thresholds: dict[str, _Threshold] = {}

    # --- recording --------------------------------------------------------------------------

    def timer(self, name: str) -> _Timer:
        """Time a block (``with monitor.timer("db"):``) or every call of a sync or async
        function (``@monitor.timer("db")``) into the histogram ``name``, in seconds.

        The time is recorded also when the block raises or is cancelled.
        """
        if name not in self._histograms:
            check_nonempty_str("name", name)
        return _Timer(self, name)

    def increment(self, name: str, n: float = 1) -> None:
        """Add ``n`` (>= 0) to the counter ``name``."""
        value = self._counters.get(name)
        if value is None:
            check_nonempty_str("name", name)
            value = 0
        if not n >= 0:
            msg = f"n must be >= 0, got {n!r}"
            raise ValueError(msg)
        self._counters[name] = value + n

    def gauge(self, name: str, value: float) -> None:
        """Set the gauge ``name`` to ``value``."""
        if name not in self._gauges:
            check_nonempty_str("name", name)
        self._gauges[name] = value

    def observe(self, name: str, value: float) -> None:
        """Record ``value`` (finite) in the histogram ``name``."""
        histogram = self._histograms.get(name)
        if histogram is None:
            check_nonempty_str("name", name)
            histogram = self._histograms[name] = LogHistogram(self._relative_error)
        if value - value != 0.0:  # inf or NaN, without a call on the hot path
            msg = f"value must be finite, got {value!r}"
            raise ValueError(msg)
        histogram.observe(value)

    # --- reading ----------------------------------------------------------------------------

    @property
    def relative_error(self) -> float:
        """The stated relative error of every histogram's quantiles."""
        return self._relative_error

    def histogram(self, name: str) -> HistogramSnapshot:
        """The snapshot of histogram ``name`` (empty if nothing was observed)."""
        histogram = self._histograms.get(name)
        return histogram.snapshot() if histogram else LogHistogram().snapshot()

    def value(self, metric: str) -> float | None:
        """A metric's current value: a counter's total, a gauge, or a histogram's p99."""
        if metric in self._counters:
            return self._counters[metric]
        if metric in self._gauges:
            return self._gauges[metric]
        histogram = self._histograms.get(metric)
        if histogram is not None and histogram.count:
            return histogram.quantile(0.99)
        return None

    def report(self) -> PerformanceReport:
        """A :class:`PerformanceReport` of every metric now (it renders as a rich table)."""
        return PerformanceReport(
            counters=dict(self._counters),
            gauges=dict(self._gauges),
            histograms={name: h.snapshot() for name, h in self._histograms.items()},
            violations=tuple(self._violations()),
            relative_error=self._relative_error,
        )

    def reset(self) -> None:
        """Forget every counter, gauge and histogram (thresholds stay)."""
        self._counters.clear()
        self._gauges.clear()
        self._histograms.clear()

    # --- thresholds -------------------------------------------------------------------------

    def set_threshold(
        self, metric: str, *, max: float | None = None, min: float | None = None
    ) -> None:
        """Flag ``metric`` when it goes above ``max`` or below ``min``.

        A histogram is judged by its p99, a counter by its total, a gauge by its value.
        Setting both to ``None`` removes the threshold.

        Raises:
            ValueError: ``min > max``, or a bound that is NaN.
        """
        check_nonempty_str("metric", metric)
        check_number("max", max, minimum=-math.inf, allow_none=True, allow_inf=True)
        check_number("min", min, minimum=-math.inf, allow_none=True, allow_inf=True)
        if max is not None and min is not None and min > max:
            msg = f"min must be <= max, got min={min!r} and max={max!r}"
            raise ValueError(msg)
        if max is None and min is None:
            self._thresholds.pop(metric, None)
        else:
            self._thresholds[metric] = _Threshold(max=max, min=min)

    def _violations(self) -> Iterator[ThresholdViolation]:
        for metric, bound in self._thresholds.items():
            value = self.value(metric)
            if value is None:
                continue
            if bound.max is not None and value > bound.max:
                yield ThresholdViolation(metric, value, bound.max, "max")
            if bound.min is not None and value < bound.min:
                yield ThresholdViolation(metric, value, bound.min, "min")

    def check_thresholds(self) -> list[ThresholdViolation]:
        """Every threshold crossed now; each is also emitted as :class:`ThresholdViolated`
        and logged at WARNING as ``trio_orch.monitor.threshold_violated``."""
        violations = list(self._violations())
        for violation in violations:
            _logger.warning(
                "trio_orch.monitor.threshold_violated",
                metric=violation.metric,
                value=violation.value,
                threshold=violation.threshold,
                kind=violation.kind,
            )
            if self._bus is not None:
                self._bus.emit(ThresholdViolated(violation))
        return violations

    # --- engines' events --------------------------------------------------------------------

    def record_event(self, event: Event) -> None:
        """Count ``event`` as ``events.<snake_case_class>`` and observe its ``duration``.

        :meth:`watch` calls this for every event on a bus; call it yourself to feed a
        monitor from another source.
        """
        name = "events." + _CAMEL.sub("_", type(event).__name__).lower()
        self._counters[name] = self._counters.get(name, 0) + 1
        duration = getattr(event, "duration", None)
        if isinstance(duration, int | float) and math.isfinite(duration):
            self.observe(name + ".duration", float(duration))

    def watch(self, bus: EventBus) -> Callable[[], object]:
        """Feed every event on ``bus`` to :meth:`record_event`; return a function that stops.

        This is how the workflow engine, the job queue, the services, the limiter and the
        bus report into a monitor: through their events, without importing the runtime.
        The handler is synchronous, so it never blocks the bus.
        """
        handler = self.record_event
        bus.on(Event, handler)
        return functools.partial(bus.off, Event, handler)

    # --- as a component ---------------------------------------------------------------------

    async def start(self, nursery: trio.Nursery) -> None:
        """Watch the monitor's bus and, with ``report_interval``, report in ``nursery``.

        This is the component protocol of :func:`~trio_orch.open_orchestrator`.
        """
        if self._bus is not None and self._unwatch is None:
            self._unwatch = self.watch(self._bus)
        if self._report_interval is not None:
            await nursery.start(self.run_reporting, self._report_interval)
        else:
            await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        """Stop watching the bus (the reporting task ends with its nursery)."""
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        await trio.lowlevel.checkpoint()

    def health(self) -> HealthStatus:
        """``DEGRADED`` while a threshold is crossed, else ``HEALTHY``."""
        return HealthStatus.DEGRADED if any(self._violations()) else HealthStatus.HEALTHY

    # --- periodic reporting -----------------------------------------------------------------

    async def run_reporting(
        self,
        interval: float,
        *,
        on_report: Callable[[PerformanceReport], object] | None = None,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Every ``interval`` seconds: check thresholds, build a report, publish it.

        Run it in a nursery (``nursery.start(monitor.run_reporting, 10.0)``); the
        orchestrator does.  Each report goes to ``on_report`` (if given) and to the bus as
        :class:`PerformanceReported`.  Ticks are spaced from the end of the previous one, so
        a slow ``on_report`` never bursts.

        Cancellation: it runs until cancelled, and a cancel ends it at once.
        """
        check_number("interval", interval, strict=True)
        task_status.started()
        while True:
            await trio.sleep(interval)
            self.check_thresholds()
            report = self.report()
            if on_report is not None:
                on_report(report)
            if self._bus is not None:
                self._bus.emit(PerformanceReported(report))

    # --- Prometheus -------------------------------------------------------------------------

    def collector(self, *, namespace: str = "trio_orch") -> MonitorCollector:
        """A prometheus-client collector of this monitor, for your own registry.

        ``registry.register(monitor.collector())``.  Counters become counters, gauges
        gauges, and histograms summaries with the 0.5, 0.9 and 0.99 quantiles.  Names are
        ``<namespace>_<name>`` with every character outside ``[a-zA-Z0-9_:]`` replaced by
        ``_``.  Imports prometheus_client.
        """
        from trio_orch.runtime._prometheus import MonitorCollector

        return MonitorCollector(self, namespace=namespace)

    def to_prometheus(self, *, namespace: str = "trio_orch") -> str:
        """This monitor in the Prometheus text exposition format (via prometheus-client)."""
        from prometheus_client import CollectorRegistry, generate_latest

        registry = CollectorRegistry(auto_describe=False)
        registry.register(self.collector(namespace=namespace))
        return generate_latest(registry).decode()
