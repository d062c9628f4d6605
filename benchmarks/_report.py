"""The small shared harness: time a callable, print figures and their ratios.

Each ``benchmarks/bench_*.py`` module has a ``main(quick: bool = False) -> list[Figure]`` that
measures, prints its table with :func:`report`, and returns its figures.  ``quick`` shrinks the
workloads so that a smoke test can run every suite in seconds.
"""

from __future__ import annotations

import gc
import time
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


@attrs.frozen
class Figure:
    """One measured figure: ``value`` in ``unit``; ``ratio`` against ``baseline`` if any."""

    suite: str
    name: str
    value: float
    unit: str
    baseline: str | None = None
    ratio: float | None = None
    target: str | None = None


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    """Run ``fn`` ``repeat`` times; return the best wall-clock seconds (GC off while timing)."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - start)
        finally:
            gc.enable()
    return best


def report(title: str, figures: Sequence[Figure]) -> list[Figure]:
    """Print ``figures`` as a table under ``title`` and return them as a list."""
    print(f"\n== {title} ==")
    for f in figures:
        line = f"  {f.name:<58} {f.value:>14,.2f} {f.unit:<10}"
        if f.ratio is not None:
            line += f"  {f.ratio:6.2f}x {f.baseline or ''}"
        if f.target:
            line += f"  (target {f.target})"
        print(line)
    return list(figures)
