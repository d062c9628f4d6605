"""Scaling: how a cost grows with the work, measured at three (or more) sizes.

The growth exponent ``k`` is the slope of ``log(seconds)`` against ``log(size)`` fitted by
least squares: ``seconds ∝ size**k``.  ``k = 1`` is linear (a constant cost per step,
event or job), ``k = 2`` quadratic; ``k`` a little above 1 is what caches and the
allocator add as the data outgrow them.
"""

from __future__ import annotations

import itertools
import math
from functools import partial
from typing import TYPE_CHECKING

import trio

from trio_orch._validate import check_int
from trio_orch.bench._api import Figure, best_of, cpu_best_of, is_async

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

#: The unit of an exponent figure (``render`` gathers these rows into the scaling table).
EXPONENT_UNIT = "exponent"


def exponent(sizes: Sequence[float], seconds: Sequence[float]) -> float:
    """The least-squares slope of ``log(seconds)`` over ``log(sizes)``.

    Raises:
        ValueError: fewer than two sizes, sizes and seconds of different lengths, or a
            size or time that is not > 0, or all sizes equal.
    """
    if len(sizes) != len(seconds) or len(sizes) < 2:
        msg = f"sizes and seconds must be two or more pairs, got {len(sizes)} and {len(seconds)}"
        raise ValueError(msg)
    if min(sizes) <= 0 or min(seconds) <= 0:
        msg = f"sizes and seconds must be > 0, got {list(sizes)!r} and {list(seconds)!r}"
        raise ValueError(msg)
    xs = [math.log(s) for s in sizes]
    ys = [math.log(t) for t in seconds]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mx) ** 2 for x in xs)
    if spread == 0:
        msg = f"sizes must not all be equal, got {list(sizes)!r}"
        raise ValueError(msg)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / spread


def marginal_exponent(sizes: Sequence[float], seconds: Sequence[float]) -> float:
    """The growth exponent with the fixed cost removed (setting up, ``trio.run``).

    For ``seconds = a + b * size**k`` at sizes in geometric progression, the differences
    ``seconds[i+1] - seconds[i]`` grow as ``size[i+1]**k`` whatever ``a`` is, so ``k`` is
    fitted on them (:func:`exponent` of ``sizes[1:]`` and the differences).  With fewer than
    three sizes, or a difference that is not > 0 (noise larger than the growth), it falls
    back to :func:`exponent` of the totals.

    Raises:
        ValueError: as :func:`exponent`.
    """
    diffs = [b - a for a, b in itertools.pairwise(seconds)]
    if len(sizes) >= 3 and len(sizes) == len(seconds) and min(diffs) > 0:
        return exponent(sizes[1:], diffs)
    return exponent(sizes, seconds)


def scaling(
    name: str,
    fn: Callable[[int], object],
    sizes: Sequence[int],
    *,
    work: str = "items",
    repeat: int = 3,
    cpu: bool = True,
    target: str | None = "<= 1.15",
) -> list[Figure]:
    """Time ``fn(size)`` at each size (best of ``repeat``) and fit the growth exponent.

    ``fn`` may be async (each call then gets its own ``trio.run``, timed whole).  By default
    the time is this process's CPU time, steadier than wall time on a shared machine.  The
    exponent is :func:`marginal_exponent`: the fixed cost of a run does not bend it.

    Returns:
        One figure per size (µs per unit of ``work``), then the exponent (unit
        ``"exponent"``, with ``target``).

    Raises:
        ValueError: fewer than two sizes, or a size below 1, or ``repeat`` below 1.
    """
    check_int("repeat", repeat, minimum=1)
    for size in sizes:
        check_int("sizes", size, minimum=1)
    clock = cpu_best_of if cpu else best_of
    seconds = []
    for size in sizes:
        call: Callable[[], object] = partial(fn, size)
        if is_async(fn):
            call = partial(trio.run, fn, size)  # type: ignore[arg-type]
        seconds.append(max(clock(call, repeat), 1e-9))
    figures = [
        Figure(f"{name}: per {work.rstrip('s')} at {size:,} {work}", t / size * 1e6, "µs")
        for size, t in zip(sizes, seconds, strict=True)
    ]
    k = marginal_exponent(sizes, seconds)
    figures.append(
        Figure(
            f"{name}: time ∝ {work}^k, {sizes[0]:,}..{sizes[-1]:,}",
            k,
            EXPONENT_UNIT,
            target=target,
            higher_is_better=False,
        )
    )
    return figures
