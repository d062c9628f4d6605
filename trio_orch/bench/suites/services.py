"""ServiceOrchestrator.execute overhead per operation, against a bare ``await fn()``.

Figures (µs per operation, all measured in the same run, the operation succeeds at once):

* the floor: a bare ``await fn(i)`` (no checkpoint at all), and the same after one
  ``trio.lowlevel.checkpoint()`` (what any well-behaved async call costs at least);
* ``await orch.execute("op", fn, i)`` with the default per-attempt ``timeout`` (a cancel
  scope per attempt), with ``timeout=None``, and with a listener (events built and
  delivered); the overhead is ``execute - bare``;
* ``await orch.call("svc", fn, i)`` (attribution wrapper) and ``execute_many`` per operation
  (batches of 100 in a nursery).
"""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING, Any

import trio

from trio_orch import Service, ServiceOrchestrator
from trio_orch.bench import Figure, best_of, measures

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


async def op(x: int) -> int:
    return x  # noqa: ASYNC910 - trivial work, no checkpoint on purpose


async def _bare(n: int) -> None:  # noqa: ASYNC910 - trivial work, no checkpoint on purpose
    for i in range(n):
        await op(i)


async def _bare_checkpoint(n: int) -> None:  # noqa: ASYNC910 - trivial work, no checkpoint on purpose
    for i in range(n):
        await trio.lowlevel.checkpoint()
        await op(i)


def _orchestrator(**options: Any) -> ServiceOrchestrator:
    orch = ServiceOrchestrator(health_interval=None, **options)
    orch.register(Service("svc"))
    return orch


async def _execute(n: int) -> None:
    async with _orchestrator() as orch:
        for i in range(n):
            await orch.execute("op", op, i)


async def _execute_no_timeout(n: int) -> None:
    async with _orchestrator(timeout=None) as orch:
        for i in range(n):
            await orch.execute("op", op, i)


async def _execute_listener(n: int) -> None:
    seen: list[object] = []
    async with _orchestrator() as orch:
        orch.add_listener(seen.append)
        for i in range(n):
            await orch.execute("op", op, i)
            seen.clear()


async def _call(n: int) -> None:
    async with _orchestrator() as orch:
        for i in range(n):
            await orch.call("svc", op, i)


async def _execute_many(n: int) -> None:
    async with _orchestrator(batch_size=100) as orch:
        await orch.execute_many([("op", op, (i,)) for i in range(n)])


def _per_op_us(
    bodies: dict[str, Callable[[int], Awaitable[None]]], n: int, rounds: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Best wall-clock and best CPU µs per operation of each body, in interleaved rounds.

    Interleaved rounds, best of each: a load spike on this shared machine then hits one
    round of every contender instead of all rounds of one.  CPU time (``process_time``)
    is the steadier figure when other jobs share the cores.
    """
    wall = dict.fromkeys(bodies, float("inf"))
    cpu = dict.fromkeys(bodies, float("inf"))
    for _ in range(rounds):
        for name, body in bodies.items():
            start = time.process_time()
            seconds = best_of(partial(trio.run, body, n), repeat=1)
            cpu[name] = min(cpu[name], (time.process_time() - start) / n * 1e6)
            wall[name] = min(wall[name], seconds / n * 1e6)
    return wall, cpu


@measures
def suite(quick: bool) -> list[Figure]:
    """Measure the figures; ``quick`` runs small workloads (a smoke test)."""
    n, rounds = (1_000, 1) if quick else (50_000, 3)  # the harness repeats the suite too
    us, cpu = _per_op_us(
        {
            "bare": _bare,
            "bare_checkpoint": _bare_checkpoint,
            "execute": _execute,
            "execute_no_timeout": _execute_no_timeout,
            "execute_listener": _execute_listener,
            "call": _call,
            "execute_many": _execute_many,
        },
        n,
        rounds,
    )
    bare, floor = us["bare"], us["bare_checkpoint"]
    unit = "µs/op"
    figures = [
        Figure("floor: bare await fn(i)", bare, unit),
        Figure("floor: checkpoint + await fn(i)", floor, unit),
        Figure("orch.execute('op', fn, i), timeout=30", us["execute"], unit,
               "checkpoint + await", us["execute"] / floor),
        Figure("  execute overhead over a bare await", us["execute"] - bare, unit),
        Figure("orch.execute, timeout=None", us["execute_no_timeout"], unit,
               "checkpoint + await", us["execute_no_timeout"] / floor),
        Figure("orch.execute with a listener (2 events per op)", us["execute_listener"],
               unit, "checkpoint + await", us["execute_listener"] / floor),
        Figure("orch.call('svc', fn, i)", us["call"], unit,
               "checkpoint + await", us["call"] / floor),
        Figure("orch.execute_many, batches of 100, per op", us["execute_many"], unit,
               "checkpoint + await", us["execute_many"] / floor),
        Figure("CPU: bare await fn(i)", cpu["bare"], unit),
        Figure("CPU: checkpoint + await fn(i)", cpu["bare_checkpoint"], unit),
        Figure("CPU: orch.execute, timeout=30", cpu["execute"], unit,
               "checkpoint + await", cpu["execute"] / cpu["bare_checkpoint"]),
        Figure("CPU: execute overhead over a bare await", cpu["execute"] - cpu["bare"], unit),
        Figure("CPU: orch.execute, timeout=None", cpu["execute_no_timeout"], unit,
               "checkpoint + await", cpu["execute_no_timeout"] / cpu["bare_checkpoint"]),
    ]  # fmt: skip
    return figures
