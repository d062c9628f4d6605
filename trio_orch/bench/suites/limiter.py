"""ConcurrencyLimiter against trio.CapacityLimiter, a raw worker pool and aiometer.

Figures (all measured in the same run, 10 slots, trivial jobs that do not checkpoint):

* ``run``: N jobs spawned up front in one nursery, each ``await limiter.run(job, i)``, against
  the same with ``async with trio.CapacityLimiter(10)`` (target ratio >= 0.8).
* ``map``: ``async with limiter.map(job, range(N)) as results`` consumed to the end, against
  a raw lazy worker pool (10 workers reading one memory channel fed by a producer, results
  through another) and ``aiometer.amap`` on trio (target: >= 100k jobs/s and >= 2x aiometer).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import trio

from trio_orch import ConcurrencyLimiter
from trio_orch.bench import BenchmarkSkipped, Figure, Skipped, best_of, measures, require

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

SLOTS = 10


async def _job(i: int) -> int:
    return i  # noqa: ASYNC910 - trivial work, no checkpoint on purpose


async def _capacity_up_front(n: int) -> None:
    limiter = trio.CapacityLimiter(SLOTS)

    async def one(i: int) -> None:
        async with limiter:
            await _job(i)

    async with trio.open_nursery() as nursery:
        for i in range(n):
            nursery.start_soon(one, i)


async def _ours_up_front(n: int) -> None:
    limiter = ConcurrencyLimiter(SLOTS)
    async with trio.open_nursery() as nursery:
        for i in range(n):
            nursery.start_soon(limiter.run, _job, i)
    assert limiter.stats.completed == n


async def _raw_pool(n: int) -> None:
    items_send, items_receive = trio.open_memory_channel[int](SLOTS)
    results_send, results_receive = trio.open_memory_channel[int](SLOTS)

    async def produce() -> None:
        async with items_send:
            for i in range(n):
                await items_send.send(i)

    async def work(items: trio.MemoryReceiveChannel[int], out: trio.MemorySendChannel[int]) -> None:
        async with items, out:
            async for i in items:
                await out.send(await _job(i))

    count = 0
    async with trio.open_nursery() as nursery:
        nursery.start_soon(produce)
        async with items_receive, results_send:
            for _ in range(SLOTS):
                nursery.start_soon(work, items_receive.clone(), results_send.clone())
        async for _ in results_receive:
            count += 1
    assert count == n


async def _ours_map(n: int, *, ordered: bool = False) -> None:
    limiter = ConcurrencyLimiter(SLOTS)
    count = 0
    async with limiter.map(_job, range(n), ordered=ordered) as results:
        async for _ in results:
            count += 1
    assert count == n


async def _aiometer_amap(n: int) -> None:
    aiometer = require("aiometer")
    count = 0
    async with aiometer.amap(_job, range(n), max_at_once=SLOTS) as results:
        async for _ in results:
            count += 1
    assert count == n


def _rate(fn: Callable[[], Awaitable[None]], n: int, repeat: int) -> float:
    return n / best_of(lambda: trio.run(fn), repeat=repeat)


@measures
def suite(quick: bool) -> list[Figure | Skipped]:
    """Measure the figures; ``quick`` shrinks N from 20,000 to 1,000."""
    n = 1_000 if quick else 20_000
    repeat = 1 if quick else 2  # the harness repeats the whole suite too
    capacity = _rate(partial(_capacity_up_front, n), n, repeat)
    ours_run = _rate(partial(_ours_up_front, n), n, repeat)
    raw = _rate(partial(_raw_pool, n), n, repeat)
    ours_map = _rate(partial(_ours_map, n), n, repeat)
    ours_ordered = _rate(partial(_ours_map, n, ordered=True), n, repeat)
    unit = "jobs/s"
    figures: list[Figure | Skipped] = [
        Figure(f"trio.CapacityLimiter(10), {n:,} tasks up front", capacity, unit),
        Figure(
            f"ConcurrencyLimiter.run, {n:,} tasks up front",
            ours_run,
            unit,
            baseline="trio.CapacityLimiter",
            ratio=ours_run / capacity,
            target=">= 0.8x",
        ),
        Figure(f"raw pool: 10 workers on one channel, {n:,} items", raw, unit),
        Figure(
            f"ConcurrencyLimiter.map, {n:,} items",
            ours_map,
            unit,
            baseline="raw pool",
            ratio=ours_map / raw,
        ),
    ]
    try:
        peer = _rate(partial(_aiometer_amap, n), n, repeat)
    except BenchmarkSkipped as exc:
        figures.append(Skipped("ConcurrencyLimiter.map vs aiometer.amap", exc.reason, exc.hint))
        return figures
    figures += [
        Figure(f"aiometer.amap(max_at_once=10) on trio, {n:,} items", peer, unit),
        Figure(
            f"ConcurrencyLimiter.map, {n:,} items",
            ours_map,
            unit,
            baseline="aiometer.amap",
            ratio=ours_map / peer,
            target=">= 100k/s and >= 2x",
        ),
        Figure(
            f"ConcurrencyLimiter.map(ordered=True), {n:,} items",
            ours_ordered,
            unit,
            baseline="aiometer.amap",
            ratio=ours_ordered / peer,
        ),
    ]
    return figures
