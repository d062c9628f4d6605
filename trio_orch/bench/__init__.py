"""The benchmark harness: ``trio-orch bench`` and the API to write benchmarks for it.

Write a benchmark file (any ``.py``) with :func:`benchmark` (a function, timed, against its
baselines) or :func:`measures` (a function that measures itself and returns
:class:`Figure` objects), then run it: ``trio-orch bench my_bench.py``.  Our own suites,
in :mod:`trio_orch.bench.suites`, are written the same way and run by ``trio-orch bench``
(all of them) or ``trio-orch bench channels workflow`` (some).

Each file runs in a fresh process, with a warm-up and ``--repeat`` repetitions; each row of
its table shows our figure (the median), the baseline measured in the same run, the ratio,
the spread (min / median / max) and the target, met or missed.  ``--json FILE`` writes the
results with the environment, ``--compare FILE`` flags the regressions beyond the spread
against an earlier ``--json``, and ``python -m trio_orch.bench.render FILE`` turns one into
Markdown.  See ``docs/performance.md``.

:func:`run_here` measures the marked functions of a namespace in the calling process (no
fresh process), for a benchmark file that runs itself with ``python my_bench.py``.

Importing this package imports attrs, cattrs and trio, not rich and not the suites.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import trio

from trio_orch._exceptions import BenchmarkSkipped as BenchmarkSkipped
from trio_orch.bench._api import Baseline as Baseline
from trio_orch.bench._api import Figure as Figure
from trio_orch.bench._api import benchmark as benchmark
from trio_orch.bench._api import best_of as best_of
from trio_orch.bench._api import cpu_best_of as cpu_best_of
from trio_orch.bench._api import measures as measures
from trio_orch.bench._api import require as require
from trio_orch.bench._results import BenchResults as BenchResults
from trio_orch.bench._results import FigureResult as FigureResult
from trio_orch.bench._results import Skipped as Skipped
from trio_orch.bench._results import SuiteResult as SuiteResult
from trio_orch.bench._scaling import exponent as exponent
from trio_orch.bench._scaling import marginal_exponent as marginal_exponent
from trio_orch.bench._scaling import scaling as scaling

if TYPE_CHECKING:
    from collections.abc import Mapping


def run_here(
    namespace: Mapping[str, object],
    *,
    quick: bool = False,
    repeat: int | None = None,
    show: bool = True,
) -> SuiteResult:
    """Measure the functions marked in ``namespace`` in this process, and print the table.

    The same measurement as ``trio-orch bench FILE`` (warm-up, ``repeat`` repetitions,
    baselines in turn, targets), without the fresh process: call it from a benchmark file's
    ``if __name__ == "__main__":`` block with ``globals()``.  Each async benchmark runs in
    its own ``trio.run``, so call it outside Trio.

    Args:
        namespace: usually ``globals()`` of the benchmark file.
        quick: smaller workloads.
        repeat: measured repetitions (default 3).
        show: print the table to stdout (with rich).

    Returns:
        The suite's result (a benchmark that raised is listed in its ``errors``).

    Raises:
        RuntimeError: called from inside ``trio.run``.
    """
    from trio_orch.bench._measure import run_namespace
    from trio_orch.bench._runner import DEFAULT_REPEAT, QUICK_REPEAT

    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        pass
    else:
        msg = "run_here must be called outside trio.run (each async benchmark runs its own)"
        raise RuntimeError(msg)
    if repeat is None:
        repeat = QUICK_REPEAT if quick else DEFAULT_REPEAT
    name = str(namespace.get("__name__") or "benchmarks")
    if name == "__main__" and isinstance(namespace.get("__file__"), str):
        name = Path(str(namespace["__file__"])).stem
    result = run_namespace(namespace, name=name, source=name, quick=quick, repeat=repeat)
    if show:
        from trio_orch.bench._table import make_console, suite_table

        make_console().print(suite_table(result))
    return result


__all__ = [
    "Baseline",
    "BenchResults",
    "BenchmarkSkipped",
    "Figure",
    "FigureResult",
    "Skipped",
    "SuiteResult",
    "benchmark",
    "best_of",
    "cpu_best_of",
    "exponent",
    "marginal_exponent",
    "measures",
    "require",
    "run_here",
    "scaling",
]
