"""Job queue throughput against a bare nursery + ``trio.CapacityLimiter``.

Figures (all measured in the same run, concurrency 100, trivial jobs that do not checkpoint;
the target, >= 0.5x, is on the first one):

* a backlog: a producer-only queue (``concurrency=0``) adds the N jobs to a
  ``MemoryJobStore`` (``await producer.add("job", {"i": i})``), then a queue with 100
  workers opened on that store runs them all (``wait_idle``); all of it timed.  This is the
  bare version's shape: submit everything, then run.
* ``open_job_queue`` with the default :class:`~trio_orch.MemoryJobStore`: N jobs added with
  ``await queue.add("job", {"i": i})`` (payload checked and copied, stored, snapshot
  returned), then ``await queue.wait_idle()``; every job is claimed by one of the 100 worker
  tasks, run in a cancel scope of its own and completed in the store.  Against the same work done the bare way: one nursery, N tasks
  spawned up front, each ``async with limiter: await job({"i": i})``.  Here each ``add`` is
  a checkpoint that waits for a scheduling round while the workers already run, so the one
  producer adds one job per round (``nursery.start_soon`` is synchronous: the bare version
  spawns everything in one round).
* the same queue with an event bus that has one (sync) listener for every ``JobEvent``.

Each timed run is a fresh ``trio.run``; the best of ``repeat`` runs is reported.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import trio

from trio_orch import (
    JobEvent,
    MemoryJobStore,
    TaskRegistry,
    open_event_bus,
    open_job_queue,
)
from trio_orch.bench import Figure, best_of, measures

CONCURRENCY = 100


async def _job(payload: Any) -> Any:
    return payload["i"]  # noqa: ASYNC910 - trivial work, no checkpoint on purpose


async def _bare(n: int) -> None:
    limiter = trio.CapacityLimiter(CONCURRENCY)
    done = 0

    async def one(i: int) -> None:
        nonlocal done
        async with limiter:
            await _job({"i": i})
            done += 1

    async with trio.open_nursery() as nursery:
        for i in range(n):
            nursery.start_soon(one, i)
    assert done == n


def _registry() -> TaskRegistry:
    tasks = TaskRegistry()
    tasks.register("job", _job)
    return tasks


async def _queue(n: int, *, with_bus: bool = False) -> None:
    tasks = _registry()
    seen = 0

    def count(_event: JobEvent) -> None:
        nonlocal seen
        seen += 1

    async with open_event_bus() as bus:
        if with_bus:
            bus.on(JobEvent, count)
        async with open_job_queue(
            tasks, concurrency=CONCURRENCY, bus=bus if with_bus else None
        ) as queue:
            for i in range(n):
                await queue.add("job", {"i": i})
            await queue.wait_idle()
            assert queue.stats.succeeded == n, queue.stats
    assert not with_bus or seen == 3 * n


def _rate(fn: Any, n: int, repeat: int) -> float:
    return n / best_of(lambda: trio.run(fn), repeat=repeat)


async def _add_then_run(n: int) -> None:
    """A producer-only queue adds every job, then a queue with workers runs them all."""
    tasks = _registry()
    store = MemoryJobStore()
    async with open_job_queue(tasks, store=store, concurrency=0) as producer:
        for i in range(n):
            await producer.add("job", {"i": i})
    async with open_job_queue(tasks, store=store, concurrency=CONCURRENCY) as queue:
        await queue.wait_idle()
        assert queue.stats.succeeded == n, queue.stats


@measures
def suite(quick: bool) -> list[Figure]:
    """Measure the figures; ``quick`` shrinks N from 10,000 to 500."""
    n = 500 if quick else 10_000
    repeat = 1 if quick else 2  # the harness repeats the whole suite too
    bare = _rate(partial(_bare, n), n, repeat)
    ours = _rate(partial(_queue, n), n, repeat)
    ours_bus = _rate(partial(_queue, n, with_bus=True), n, repeat)
    drain = _rate(partial(_add_then_run, n), n, repeat)
    unit = "jobs/s"
    base = "nursery + CapacityLimiter"
    figures = [
        Figure(f"nursery + CapacityLimiter({CONCURRENCY}), {n:,} jobs", bare, unit),
        Figure(
            f"{n:,} jobs added, then run (concurrency={CONCURRENCY})",
            drain,
            unit,
            baseline=base,
            ratio=drain / bare,
            target=">= 0.5x",
        ),
        Figure(
            f"{n:,} jobs added one by one while they run",
            ours,
            unit,
            baseline=base,
            ratio=ours / bare,
        ),
        Figure(
            "the same with a bus listener on every JobEvent",
            ours_bus,
            unit,
            baseline=base,
            ratio=ours_bus / bare,
        ),
    ]
    return figures
