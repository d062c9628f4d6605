"""A user's benchmark file: a trio_orch Workflow against the same work as hand-written nursery code.

Run it with the harness (a fresh process, a warm-up, 3 repetitions, the table)::

    trio-orch bench examples/bench_workflow_vs_nursery.py
    trio-orch bench examples/bench_workflow_vs_nursery.py --quick --json mine.json

or on its own, as here: ``python examples/bench_workflow_vs_nursery.py`` measures it in this
process with :func:`trio_orch.bench.run_here` (quick, 2 repetitions) and prints the table.
"""

from __future__ import annotations

import trio

from trio_orch import Step, Workflow
from trio_orch.bench import Baseline, benchmark, run_here


async def fetch(ctx: object, **deps: object) -> int:
    await trio.lowlevel.checkpoint()  # stands for real I/O
    return len(deps)


def _steps(n: int) -> list[Step]:
    """A fan-out / fan-in: one source, ``n`` steps after it, one sink after them all."""
    middle = [Step(f"m{i}", fetch, depends_on=["source"]) for i in range(n)]
    sink = Step("sink", fetch, depends_on=[s.name for s in middle])
    return [Step("source", fetch), *middle, sink]


async def by_hand(n: int) -> None:
    """The same work the way one writes it without trio_orch: a nursery per stage."""
    source = await fetch(None)
    results: dict[str, int] = {}

    async def one(i: int) -> None:
        results[f"m{i}"] = await fetch(None, source=source)

    async with trio.open_nursery() as nursery:
        for i in range(n):
            nursery.start_soon(one, i)
    await fetch(None, **results)


@benchmark(
    n=2_000,
    quick_n=200,
    unit="steps/s",
    baseline=Baseline(by_hand, name="nursery by hand"),
    target=">= 0.2x",
)
async def with_workflow(n: int) -> None:
    """Define, validate and run the workflow (each call builds it anew)."""
    await Workflow("fan", steps=_steps(n)).run()


if __name__ == "__main__":
    result = run_here(globals(), quick=True, repeat=2)
    print(f"{len(result.figures)} figure(s), status {result.status}")
