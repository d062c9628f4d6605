"""PerformanceMonitor costs, measured against the bare minimum in the same run.

* ``with monitor.timer(name):`` around nothing (a timer is two ``perf_counter`` calls plus
  ``observe``), in µs per call, against a bare ``time.perf_counter()`` pair.
* ``monitor.observe(name, value)`` in ns per call, against HdrHistogram's ``record_value``
  (the ``hdrhistogram`` package, when installed), the alternative the histogram was chosen
  over; and the histogram's memory after a million observations (tracemalloc), against
  HdrHistogram's fixed counts array for 1 µs .. 1 h at 3 significant digits.
"""

from __future__ import annotations

import random
import time
import tracemalloc

from trio_orch import PerformanceMonitor
from trio_orch.bench import BenchmarkSkipped, Figure, Skipped, best_of, measures, require
from trio_orch.runtime._histogram import LogHistogram


@measures
def suite(quick: bool) -> list[Figure | Skipped]:
    n = 5_000 if quick else 500_000
    monitor = PerformanceMonitor()
    timer = monitor.timer

    def timed() -> None:
        for _ in range(n):
            with timer("op"):
                pass

    def bare() -> None:
        perf_counter = time.perf_counter
        for _ in range(n):
            start = perf_counter()
            _ = perf_counter() - start

    t_timer = best_of(timed) / n
    t_bare = best_of(bare) / n

    rng = random.Random(7)
    values = [rng.lognormvariate(-5, 2) for _ in range(n)]
    observe = monitor.observe

    def observed() -> None:
        for value in values:
            observe("latency", value)

    t_observe = best_of(observed) / n
    figures: list[Figure | Skipped] = [
        Figure(
            "timer() per call",
            t_timer * 1e6,
            "µs",
            "bare perf_counter pair",
            t_timer / t_bare,
        ),
        Figure("bare perf_counter pair", t_bare * 1e6, "µs"),
        Figure("observe() per call", t_observe * 1e9, "ns"),
    ]
    try:
        hdrh = require("hdrh.histogram")
    except BenchmarkSkipped as exc:  # an optional peer
        figures.append(Skipped("observe() vs HdrHistogram.record_value", exc.reason, exc.hint))
    else:
        hdr = hdrh.HdrHistogram(1, 3_600_000_000, 3)
        micros = [max(1, int(v * 1e6)) for v in values]

        def recorded() -> None:
            for value in micros:
                hdr.record_value(value)

        t_hdr = best_of(recorded) / n
        figures.append(
            Figure(
                "observe() per call",
                t_observe * 1e9,
                "ns",
                "HdrHistogram.record_value",
                t_observe / t_hdr,
            )
        )

    count = 20_000 if quick else 1_000_000
    tracemalloc.start()
    histogram = LogHistogram()
    before = tracemalloc.get_traced_memory()[0]
    lognorm = rng.lognormvariate
    for _ in range(count):
        histogram.observe(lognorm(-5, 2))
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    figures.append(Figure(f"histogram memory after {count:,} observations", used / 1024, "KiB"))
    figures.append(Figure("histogram buckets in use", histogram.buckets, "buckets"))
    return figures
