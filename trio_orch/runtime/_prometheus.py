"""A prometheus-client collector over a :class:`~trio_orch.PerformanceMonitor`.

Imported only when :meth:`PerformanceMonitor.collector` or ``to_prometheus`` is used, so
``import trio_orch`` never loads prometheus_client.  The exposition text is written by
prometheus-client itself (``generate_latest``), never by hand.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, final

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from collections.abc import Iterator

    from trio_orch.runtime._monitor import PerformanceMonitor

__all__ = ["MonitorCollector"]

_INVALID = re.compile(r"[^a-zA-Z0-9_:]")
_QUANTILES = (("0.5", "p50"), ("0.9", "p90"), ("0.99", "p99"))


def metric_name(namespace: str, name: str) -> str:
    """``<namespace>_<name>`` with every character Prometheus refuses replaced by ``_``."""
    full = _INVALID.sub("_", f"{namespace}_{name}" if namespace else name)
    return f"_{full}" if full[:1].isdigit() else full


@final
class MonitorCollector(Collector):
    """Collects a monitor's metrics on each scrape (register it on your own registry).

    Counters are exposed as counters (``<name>_total``), gauges as gauges, and histograms as
    summaries with ``quantile`` 0.5, 0.9 and 0.99 plus ``_count`` and ``_sum``.
    """

    def __init__(self, monitor: PerformanceMonitor, *, namespace: str = "trio_orch") -> None:
        self._monitor = monitor
        self._namespace = namespace

    def collect(self) -> Iterator[Metric]:
        """Yield one metric family per counter, gauge and histogram, read now."""
        report = self._monitor.report()
        for name, total in sorted(report.counters.items()):
            yield CounterMetricFamily(
                metric_name(self._namespace, name), f"trio_orch counter {name}", value=total
            )
        for name, value in sorted(report.gauges.items()):
            yield GaugeMetricFamily(
                metric_name(self._namespace, name), f"trio_orch gauge {name}", value=value
            )
        for name, snap in sorted(report.histograms.items()):
            full = metric_name(self._namespace, name)
            summary = Metric(full, f"trio_orch histogram {name}", "summary")
            for label, field in _QUANTILES:
                summary.add_sample(full, {"quantile": label}, getattr(snap, field))
            summary.add_sample(f"{full}_count", {}, snap.count)
            summary.add_sample(f"{full}_sum", {}, snap.sum)
            yield summary
