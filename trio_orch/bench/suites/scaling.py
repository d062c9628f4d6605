"""How each engine's cost grows with its work: time ∝ work^k, at three sizes each.

Each figure times one whole run (a fresh ``trio.run``, CPU time of this process, best of
3) at three sizes, ten times apart, and fits ``k`` by least squares on a log-log scale:
``k = 1`` is a constant cost per unit of work; the target is ``k <= 1.15``.

* ``EventBus.emit``: events emitted to 10 sync handlers, and handlers per event (the cost
  of one emit is a loop over the handlers: it should grow linearly with them);
* ``EventBus.publish`` to actors: events through flows into 10 actors, and actors
  subscribed (each event is queued into every inbox);
* ``JobQueue``: jobs added, then run by 100 workers (``wait_idle``);
* ``ServiceOrchestrator.execute_many``: operations in batches of 100;
* ``Store``: sets observed by 10 subscriptions, and subscriptions per set;
* ``ProgressTracker``: tasks tracked, each advanced once, estimated in one batch.

The workflow engine's own growth (steps, at 1k, 10k and 100k) is in the ``workflow`` suite.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import attrs
import trio
import trio.testing

from trio_orch import (
    Actor,
    Event,
    Service,
    ServiceOrchestrator,
    TaskRegistry,
    open_choreographer,
    open_event_bus,
    open_job_queue,
    open_progress_tracker,
)
from trio_orch.bench import Figure, measures, scaling
from trio_orch.bench.suites.store import fan_out

FAN = 10


@attrs.frozen
class Tick(Event):
    """The event every figure emits."""

    n: int


async def _emit(events: int, handlers: int = FAN) -> None:
    async with open_event_bus() as bus:
        for _ in range(handlers):
            bus.on(Tick, lambda event: None)
        event = Tick(0)
        for _ in range(events):
            bus.emit(event)


@attrs.define
class _Counter(Actor[Tick]):
    count: int = 0

    async def handle(self, event: Tick) -> None:  # noqa: ASYNC910 - trivial work, no checkpoint on purpose
        self.count += 1


async def _publish(events: int, actors: int = FAN) -> None:
    counters = [_Counter() for _ in range(actors)]
    async with open_event_bus() as bus, open_choreographer(bus) as choreo:
        for counter in counters:
            ref = await choreo.spawn(counter, inbox=100)
            choreo.flow(Tick, to=ref)
        for j in range(events):
            await bus.publish(Tick(j))
    assert all(c.count == events for c in counters)


async def _job(payload: Any) -> Any:
    return payload["i"]  # noqa: ASYNC910 - trivial work, no checkpoint on purpose


async def _jobs(jobs: int) -> None:
    tasks = TaskRegistry()
    tasks.register("job", _job)
    async with open_job_queue(tasks, concurrency=100) as queue:
        for i in range(jobs):
            await queue.add("job", {"i": i})
        await queue.wait_idle()


async def _op(x: int) -> int:
    return x  # noqa: ASYNC910 - trivial work, no checkpoint on purpose


async def _services(operations: int) -> None:
    orch = ServiceOrchestrator(health_interval=None, batch_size=100)
    orch.register(Service("svc"))
    async with orch:
        await orch.execute_many([("op", _op, (i,)) for i in range(operations)])


async def _progress(tasks: int) -> None:
    async with open_progress_tracker(tick=3600) as tracker:
        for i in range(tasks):
            tracker.track(f"t{i}", total=1000).advance(i % 1000)
        await tracker.refresh()


def _run(fn: Any, n: int) -> None:
    trio.run(fn, n)


#: (name, function of the size, what grows, full sizes, quick sizes)
CASES: list[tuple[str, Any, str, tuple[int, int, int], tuple[int, int, int]]] = [
    ("EventBus.emit to 10 handlers", _emit, "events", (10_000, 100_000, 1_000_000), (500, 1_000, 2_000)),
    ("EventBus.emit of 1,000 events", lambda k: _emit(1_000, k), "handlers", (10, 100, 1_000), (2, 4, 8)),
    ("EventBus.publish to 10 actors", _publish, "events", (300, 3_000, 30_000), (50, 100, 200)),
    ("EventBus.publish of 200 events", lambda k: _publish(200, k), "actors", (2, 20, 200), (2, 4, 8)),
    ("JobQueue add + run (100 workers)", _jobs, "jobs", (300, 3_000, 30_000), (50, 100, 200)),
    ("ServiceOrchestrator.execute_many", _services, "operations", (300, 3_000, 30_000), (50, 100, 200)),
    ("Store.set, 10 subscriptions", partial(fan_out, subscribers=FAN), "sets", (300, 3_000, 30_000), (50, 100, 200)),
    ("Store: 200 sets", lambda k: fan_out(200, k), "subscriptions", (10, 100, 1_000), (2, 4, 8)),
    ("ProgressTracker: one batch", _progress, "tasks", (300, 3_000, 30_000), (50, 100, 200)),
]  # fmt: skip


@measures
def growth(quick: bool) -> list[Figure]:
    """Every engine's exponent (see the module's docstring); each size timed once per run."""
    figures: list[Figure] = []
    for name, fn, work, full, small in CASES:
        sizes = small if quick else full
        figures += scaling(
            name,
            partial(_run, fn),
            sizes,
            work=work,
            repeat=1,
            target=None if quick else "<= 1.15",  # quick sizes are too small to judge
        )
    return figures
