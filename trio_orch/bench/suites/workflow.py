"""Workflow scheduling at 1k, 10k and 100k steps against a hand-written nursery scheduler.

Figures (all measured in the same run, trivial steps that do not checkpoint):

* ``dag``: a random DAG (each step depends on up to 3 earlier steps, chosen uniformly; seed
  fixed) run with ``Workflow.run`` against a naive scheduler — one task per step, spawned up
  front, each waiting on its dependencies' ``trio.Event`` — and against a plain sequential
  loop over a topological order (the floor: no scheduling at all).
  Target at 10,000 steps: >= 100k steps/s and >= 2x the naive scheduler.
* ``chain``: the same for chains of 1,000, 10,000 and 100,000 steps.
* scaling: CPU seconds per step at 10,000 and 100,000 steps over those at 1,000 (target
  <= 1.3), and the growth exponent ``k`` of time ∝ steps^k fitted over the three sizes
  (target <= 1.06, the same thing), for the uniform DAG, a DAG whose dependencies lie within the previous 100 steps
  (bounded width), and the chain; CPU time of this process, because wall time on a shared
  machine is too noisy for a ratio of two small runs.  The uniform DAG runs its steps in
  an order unrelated to their definition order, so at 100,000 steps (a plan of ~80 MB,
  far more than the CPU caches) each step's data is a cache miss; this costs about as much
  with ``max_concurrent=1`` as with its 6,800 steps running at once, so it is not the live
  tasks.  Each size is the best of 5, 2 and 1 runs within a repetition, and the harness
  reports the median of its repetitions.

The workflow is defined and validated once, outside the timing (``validate`` is timed on its
own); each timed run is a fresh ``trio.run``.  Every step takes its dependencies' results as
``**kwargs`` (the naive scheduler and the loop pass them the same way).  Nothing here configures
logging: the figures are what a user gets with Python's defaults.
"""

from __future__ import annotations

import gc
import random
import time
from functools import partial
from typing import Any

import trio

from trio_orch import Step, Workflow
from trio_orch.bench import Figure, best_of, exponent, measures

DEPS = 3


def random_dag(n: int, seed: int = 1) -> list[tuple[int, ...]]:
    """Dependencies of step i: up to 3 distinct earlier steps, uniformly chosen."""
    rng = random.Random(seed)
    return [tuple(rng.sample(range(i), min(i, DEPS))) for i in range(n)]


def windowed_dag(n: int, window: int = 100, seed: int = 1) -> list[tuple[int, ...]]:
    """Like :func:`random_dag`, but the dependencies are among the ``window`` previous steps.

    Its width stays bounded as ``n`` grows, as in most real workflows; a uniform random DAG
    gets wider with ``n`` (thousands of steps ready at once at 100,000 steps).
    """
    rng = random.Random(seed)
    return [tuple(rng.sample(range(max(0, i - window), i), min(i, DEPS))) for i in range(n)]


def chain(n: int) -> list[tuple[int, ...]]:
    return [() if i == 0 else (i - 1,) for i in range(n)]


async def trivial(ctx: Any, **deps: Any) -> int:
    return len(deps)  # noqa: ASYNC910 - trivial work, no checkpoint on purpose


def workflow(deps: list[tuple[int, ...]]) -> Workflow:
    return Workflow(
        "bench",
        steps=[
            Step(f"s{i}", trivial, depends_on=[f"s{d}" for d in ds]) for i, ds in enumerate(deps)
        ],
    )


async def naive(deps: list[tuple[int, ...]]) -> None:
    """One task per step, spawned up front, each waiting on its dependencies' Events."""
    done = [trio.Event() for _ in deps]
    results: list[Any] = [None] * len(deps)
    names = [f"s{i}" for i in range(len(deps))]

    async def one(i: int) -> None:
        for d in deps[i]:
            await done[d].wait()
        results[i] = await trivial(None, **{names[d]: results[d] for d in deps[i]})
        done[i].set()

    async with trio.open_nursery() as nursery:
        for i in range(len(deps)):
            nursery.start_soon(one, i)


async def sequential(deps: list[tuple[int, ...]]) -> None:  # noqa: ASYNC910 - trivial work, no checkpoint on purpose
    """Each step in index order (a topological order here), no scheduling at all."""
    results: list[Any] = [None] * len(deps)
    names = [f"s{i}" for i in range(len(deps))]
    for i in range(len(deps)):
        results[i] = await trivial(None, **{names[d]: results[d] for d in deps[i]})


def _rate(fn: Any, n: int, repeat: int) -> float:
    return n / best_of(lambda: trio.run(fn), repeat=repeat)


def _measure(shape: str, deps: list[tuple[int, ...]], repeat: int) -> list[Figure]:
    n = len(deps)
    start = time.perf_counter()
    wf = workflow(deps)
    wf.validate()
    define = n / (time.perf_counter() - start)
    ours = _rate(wf.run, n, repeat)
    raw = _rate(lambda: naive(deps), n, repeat)
    floor = _rate(lambda: sequential(deps), n, repeat)
    unit = "steps/s"
    return [
        Figure(f"{shape} {n:,}: naive task-per-step + trio.Event", raw, unit),
        Figure(f"{shape} {n:,}: sequential loop (no scheduling)", floor, unit),
        Figure(
            f"{shape} {n:,}: Workflow.run",
            ours,
            unit,
            baseline="naive",
            ratio=ours / raw,
            target=">= 100k/s and >= 2x" if n >= 10_000 else None,
        ),
        Figure(
            f"{shape} {n:,}: Workflow.run vs sequential loop",
            ours,
            unit,
            baseline="sequential",
            ratio=ours / floor,
        ),
        Figure(f"{shape} {n:,}: define + validate", define, unit),
    ]


def _cpu_best_of(fn: Any, repeat: int) -> float:
    """Like ``best_of`` but in CPU seconds of this process: steadier on a shared machine."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        gc.disable()
        try:
            start = time.process_time()
            fn()
            best = min(best, time.process_time() - start)
        finally:
            gc.enable()
    return best


def _scaling(shape: str, make: Any) -> list[Figure]:
    """Seconds per step at 1k, 10k and 100k steps (CPU time, many repeats for small runs)."""
    per_step = {}
    for n, repeat in ((1_000, 5), (10_000, 2), (100_000, 1)):
        wf = workflow(make(n))
        wf.validate()
        per_step[n] = _cpu_best_of(partial(trio.run, wf.run), repeat) / n
    figures = [
        Figure(f"{shape} {n:,}: Workflow.run (CPU time)", 1 / t, "steps/s")
        for n, t in per_step.items()
    ]
    figures += [
        Figure(
            f"{shape}: CPU time per step at {n:,} / at 1,000",
            per_step[n] / per_step[1_000],
            "x",
            target="<= 1.3",
        )
        for n in (10_000, 100_000)
    ]
    sizes = list(per_step)
    figures.append(
        Figure(
            f"{shape}: time ∝ steps^k, 1,000..100,000",
            exponent(sizes, [per_step[n] * n for n in sizes]),
            "exponent",
            target="<= 1.06",  # the same as <= 1.3x per step at 100x the steps
        )
    )
    return figures


@measures
def suite(quick: bool) -> list[Figure]:
    """Measure the figures; ``quick`` runs 1,000-step shapes only."""
    sizes = {1_000: 1} if quick else {1_000: 3, 10_000: 2, 100_000: 1}  # size: best of
    figures: list[Figure] = []
    for n, repeat in sizes.items():
        figures += _measure("dag", random_dag(n), repeat)
    for n, repeat in sizes.items():
        figures += _measure("chain", chain(n), repeat)
    if not quick:
        figures += _scaling("dag", random_dag)
        figures += _scaling("dag window=100", windowed_dag)
        figures += _scaling("chain", chain)
    return figures
