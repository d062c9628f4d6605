"""Measuring the marked functions of one benchmark file, in this process.

:func:`run_namespace` is what the fresh process of each suite runs (see
:mod:`trio_orch.bench._worker`), and what :func:`trio_orch.bench.run_here` runs in the
caller's process.  Each timed call is :func:`_time_call`: a ``gc.collect()``, the collector
off, ``time.perf_counter`` around the call (around the ``await`` for an async function,
which gets a fresh ``trio.run``).
"""

from __future__ import annotations

import gc
import time
import traceback
from typing import TYPE_CHECKING, Any

import trio

from trio_orch._exceptions import BenchmarkSkipped
from trio_orch.bench._api import Baseline, Benchmark, Figure, install_hint, is_async, marked
from trio_orch.bench._results import FigureResult, Skipped, SuiteResult, aggregate

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence


def _time_call(fn: Callable[..., Any], size: int | None) -> float:
    """Seconds that one call of ``fn`` (with ``size`` as its argument, if any) takes."""
    args = () if size is None else (size,)
    if is_async(fn):
        elapsed = 0.0

        async def timed() -> None:
            nonlocal elapsed
            gc.collect()
            gc.disable()
            try:
                start = time.perf_counter()
                await fn(*args)
                elapsed = time.perf_counter() - start
            finally:
                gc.enable()

        trio.run(timed)
        return elapsed
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        fn(*args)
        return time.perf_counter() - start
    finally:
        gc.enable()


def _skipped(name: str, exc: BaseException) -> Skipped:
    if isinstance(exc, BenchmarkSkipped):
        return Skipped(name, exc.reason, exc.hint)
    missing = getattr(exc, "name", None) or str(exc)
    return Skipped(name, f"{missing} is not installed", install_hint(missing))


def _error(name: str, exc: BaseException) -> str:
    lines = traceback.format_exception(exc)
    return f"{name}: {type(exc).__name__}: {exc}\n{''.join(lines[-6:])}".rstrip()


class _Outcome:
    """What measuring one file gathered: rows, skips, errors."""

    def __init__(self) -> None:
        self.rows: list[FigureResult] = []
        self.skipped: list[Skipped] = []
        self.errors: list[str] = []


def _figure_value(seconds: float, size: int | None) -> float:
    if size is None:
        return seconds
    return size / seconds if seconds > 0 else float("inf")


def _run_timed(spec: Benchmark, *, quick: bool, repeat: int, out: _Outcome) -> None:
    size = spec.size(quick=quick)
    contenders: list[tuple[str, Callable[..., Any], Baseline | None]] = [(spec.name, spec.fn, None)]
    contenders += [(f"{spec.name} vs {b.label}", b.fn, b) for b in spec.baselines]
    live: list[tuple[str, Callable[..., Any], Baseline | None]] = []
    for label, fn, baseline in contenders:  # the warm-up: also finds who cannot run here
        try:
            _time_call(fn, size)
        except (BenchmarkSkipped, ModuleNotFoundError) as exc:
            out.skipped.append(_skipped(label, exc))
            if baseline is None:
                return
        except Exception as exc:
            out.errors.append(_error(label, exc))
            if baseline is None:
                return
        else:
            live.append((label, fn, baseline))
    runs: list[list[Figure]] = []
    unit = spec.figure_unit
    for _ in range(repeat):
        try:
            values = {label: _figure_value(_time_call(fn, size), size) for label, fn, _ in live}
        except Exception as exc:  # a contender that ran once and then failed
            out.errors.append(_error(spec.name, exc))
            break
        ours = values[spec.name]
        run: list[Figure] = []
        baselines = [b for _, _, b in live if b is not None]
        if not baselines:
            run.append(Figure(spec.name, ours, unit, target=spec.target))
        for label, _, baseline in live[1:]:
            assert baseline is not None
            theirs = values[label]
            run.append(
                Figure(
                    spec.name,
                    ours,
                    unit,
                    baseline=baseline.label,
                    ratio=ours / theirs if theirs else None,
                    target=baseline.target or spec.target,
                    baseline_value=theirs,
                )
            )
        runs.append(run)
    out.rows += aggregate(runs)


def _call_figures(spec: Benchmark, quick: bool) -> list[Figure | Skipped]:
    result = trio.run(spec.fn, quick) if is_async(spec.fn) else spec.fn(quick)
    items = list(result)
    for item in items:
        if not isinstance(item, Figure | Skipped):
            msg = f"{spec.name} must return Figure or Skipped items, got {item!r}"
            raise TypeError(msg)
    return items


def _run_figures(spec: Benchmark, *, quick: bool, repeat: int, out: _Outcome) -> None:
    runs: list[list[Figure]] = []
    skipped: dict[str, Skipped] = {}
    try:
        if spec.warmup:
            _call_figures(spec, True)
        for _ in range(repeat):
            items = _call_figures(spec, quick)
            runs.append([item for item in items if isinstance(item, Figure)])
            skipped.update((s.name, s) for s in items if isinstance(s, Skipped))
    except (BenchmarkSkipped, ModuleNotFoundError) as exc:
        out.skipped.append(_skipped(spec.name, exc))
        return
    except Exception as exc:
        out.errors.append(_error(spec.name, exc))
        return
    out.rows += aggregate(runs)
    out.skipped += skipped.values()


def run_namespace(
    namespace: Mapping[str, object],
    *,
    name: str,
    source: str,
    quick: bool = False,
    repeat: int = 3,
    only: Sequence[str] = (),
) -> SuiteResult:
    """Measure every function marked in ``namespace``, in definition order, in this process.

    Args:
        namespace: a module's ``vars()`` (or ``globals()``).
        name: the suite's name in the results.
        source: where it came from (a module name or a file path).
        quick: smaller workloads (``quick_n``, ``quick=True``).
        repeat: how many measured repetitions, after the warm-up.
        only: if not empty, the names of the marked functions to run.

    Returns:
        The suite's result; a benchmark that raised is listed in ``errors`` (the others
        still run), one that cannot run here in ``skipped``.
    """
    start = time.perf_counter()
    out = _Outcome()
    specs = [s for s in marked(namespace) if not only or s.name in only]
    for spec in specs:
        if spec.kind == "timed":
            _run_timed(spec, quick=quick, repeat=repeat, out=out)
        else:
            _run_figures(spec, quick=quick, repeat=repeat, out=out)
    if out.errors:
        status = "failed"
    elif out.rows or not out.skipped:
        status = "ok"
    else:
        status = "skipped"
    if not specs:
        out.errors.append(f"{source}: no function marked with @benchmark or @measures")
        status = "failed"
    doc = str(namespace.get("__doc__") or "").strip()
    return SuiteResult(
        name=name,
        source=source,
        status=status,
        title=doc.splitlines()[0] if doc else "",
        figures=tuple(out.rows),
        skipped=tuple(out.skipped),
        errors=tuple(out.errors),
        seconds=time.perf_counter() - start,
        repeat=repeat,
    )
