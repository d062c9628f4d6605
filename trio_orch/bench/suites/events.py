"""The event bus and actors against direct calls, raw Trio tasks, pyee and blinker.

Figures (all measured in the same run):

* ``emit`` to 1 and to 10 sync handlers: ``bus.emit(event)`` against a loop calling the
  handlers directly, ``pyee.EventEmitter.emit`` and ``blinker.Signal.send`` (target: >= 0.5x
  the direct loop, which is about 3x pyee at 10 handlers).
* ``publish`` to 10 actors with bounded inboxes (100, BLOCK), each reached through a flow:
  ``await bus.publish(event)`` against 10 raw Trio tasks reading their own memory channels
  (the producer awaits ``send`` on each) and ``pyee.trio.TrioEventEmitter`` with 10 async
  handlers (one task per handler per event) (target: >= 0.8x the raw tasks).
"""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING, Any

import attrs
import trio

from trio_orch import Actor, Event, open_choreographer, open_event_bus
from trio_orch.bench import BenchmarkSkipped, Figure, Skipped, best_of, measures, require

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Container

ACTORS = 10
INBOX = 100


@attrs.frozen
class Tick(Event):
    n: int


def _handlers(k: int) -> list[Callable[[Any], None]]:
    def make() -> Callable[[Any], None]:
        def handler(event: Any) -> None:
            pass

        return handler

    return [make() for _ in range(k)]


def _direct(n: int, k: int) -> None:
    handlers = _handlers(k)
    event = Tick(1)
    for _ in range(n):
        for handler in handlers:
            handler(event)


def _pyee(n: int, k: int) -> None:
    ee = require("pyee").EventEmitter()
    for handler in _handlers(k):
        ee.on("tick", handler)
    event = Tick(1)
    emit = ee.emit
    for _ in range(n):
        emit("tick", event)


def _blinker(n: int, k: int) -> None:
    signal = require("blinker").Signal()
    receivers = []
    for _ in range(k):

        def receiver(sender: Any, **kwargs: Any) -> None:
            pass

        receivers.append(receiver)
        signal.connect(receiver, weak=False)
    event = Tick(1)
    send = signal.send
    for _ in range(n):
        send(event)


def _ours_emit(n: int, k: int) -> float:
    """Seconds spent in the emit loop (the bus is opened outside the timing)."""
    elapsed = 0.0

    async def run() -> None:
        nonlocal elapsed
        async with open_event_bus() as bus:
            for handler in _handlers(k):
                bus.on(Tick, handler)
            event = Tick(1)
            emit = bus.emit
            start = time.perf_counter()
            for _ in range(n):
                emit(event)
            elapsed = time.perf_counter() - start

    trio.run(run)
    return elapsed


# ---- publish to 10 actors -----------------------------------------------------------------


async def _raw_actors(n: int, *, nowait_first: bool = False) -> None:
    """10 tasks, each reading its own memory channel; the producer sends to each in turn.

    ``nowait_first``: the producer tries ``send_nowait`` on every channel and awaits
    ``send`` only on a full one, then checkpoints once per event (the fastest hand-written
    fan-out, and what ``publish`` does); otherwise it awaits ``send`` on every channel.
    """
    counts = [0] * ACTORS

    async def actor(i: int, receive: trio.MemoryReceiveChannel[Tick]) -> None:
        async with receive:
            async for _ in receive:
                counts[i] += 1

    async with trio.open_nursery() as nursery:
        sends = []
        for i in range(ACTORS):
            send, receive = trio.open_memory_channel[Tick](INBOX)
            sends.append(send)
            nursery.start_soon(actor, i, receive)
        for j in range(n):
            event = Tick(j)
            if nowait_first:
                for send in sends:
                    try:
                        send.send_nowait(event)
                    except trio.WouldBlock:
                        await send.send(event)
                await trio.lowlevel.checkpoint()
            else:
                for send in sends:
                    await send.send(event)
        for send in sends:
            await send.aclose()
    assert counts == [n] * ACTORS


@attrs.define
class _Counter(Actor[Tick]):
    count: int = 0

    async def handle(self, event: Tick) -> None:  # noqa: ASYNC910 - trivial work, no checkpoint on purpose
        self.count += 1


async def _ours_actors(n: int) -> None:
    actors = [_Counter() for _ in range(ACTORS)]
    async with open_event_bus() as bus, open_choreographer(bus) as choreo:
        for actor in actors:
            ref = await choreo.spawn(actor, inbox=INBOX)
            choreo.flow(Tick, to=ref)
        publish = bus.publish
        for j in range(n):
            await publish(Tick(j))
    assert [a.count for a in actors] == [n] * ACTORS


async def _pyee_trio(n: int) -> None:
    counts = [0] * ACTORS
    async with require("pyee.trio").TrioEventEmitter() as ee:
        for i in range(ACTORS):

            async def handler(event: Tick, i: int = i) -> None:  # noqa: ASYNC910 - trivial work, no checkpoint on purpose
                counts[i] += 1

            ee.on("tick", handler)
        for j in range(n):
            ee.emit("tick", Tick(j))
            await trio.lowlevel.checkpoint()
    assert counts == [n] * ACTORS


def _timed_run(fn: Callable[[], Awaitable[None]]) -> float:
    return best_of(lambda: trio.run(fn), repeat=1)


def _interleaved(fns: dict[str, Callable[[], float]], repeat: int) -> dict[str, float]:
    """Best seconds of each timing function, run in turns, so that a busy moment on a shared
    machine hits every contender alike rather than just one."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for name, fn in fns.items():
            best[name] = min(best[name], fn())
    return best


def _emit_figures(n: int, k: int, repeat: int, peers: Container[str]) -> list[Figure]:
    contenders: dict[str, Callable[[], float]] = {
        "direct": lambda: best_of(partial(_direct, n, k), repeat=1),
        "ours": partial(_ours_emit, n, k),
    }
    if "pyee" in peers:
        contenders["pyee"] = lambda: best_of(partial(_pyee, n, k), repeat=1)
    if "blinker" in peers:
        contenders["blinker"] = lambda: best_of(partial(_blinker, n, k), repeat=1)
    rate = {name: n / seconds for name, seconds in _interleaved(contenders, repeat).items()}
    direct, ours = rate["direct"], rate["ours"]
    unit = "events/s"
    figures = [
        Figure(f"direct loop over {k} handler(s)", direct, unit),
        Figure(
            f"EventBus.emit, {k} sync handler(s)",
            ours,
            unit,
            baseline="direct loop",
            ratio=ours / direct,
            target=">= 0.5x",
        ),
    ]
    if "pyee" in rate:
        ee = rate["pyee"]
        figures.append(Figure(f"pyee.EventEmitter.emit, {k} handler(s)", ee, unit))
        figures.append(Figure(f"EventBus.emit, {k} sync handler(s)", ours, unit, "pyee", ours / ee))
    if "blinker" in rate:
        bl = rate["blinker"]
        figures.append(Figure(f"blinker.Signal.send, {k} handler(s)", bl, unit))
        figures.append(
            Figure(f"EventBus.emit, {k} sync handler(s)", ours, unit, "blinker", ours / bl)
        )
    return figures


def _publish_figures(n: int, repeat: int, peers: Container[str]) -> list[Figure]:
    contenders: dict[str, Callable[[], float]] = {
        "raw": partial(_timed_run, partial(_raw_actors, n)),
        "raw_fast": partial(_timed_run, partial(_raw_actors, n, nowait_first=True)),
        "ours": partial(_timed_run, partial(_ours_actors, n)),
    }
    if "pyee" in peers:
        contenders["pyee"] = partial(_timed_run, partial(_pyee_trio, n))
    rate = {name: n / seconds for name, seconds in _interleaved(contenders, repeat).items()}
    raw, raw_fast, ours = rate["raw"], rate["raw_fast"], rate["ours"]
    unit = "events/s"
    channels = f"{ACTORS} tasks on own memory channels({INBOX})"
    figures = [
        Figure(f"raw: {channels}, await send", raw, unit),
        Figure(f"raw: {channels}, send_nowait first", raw_fast, unit),
        Figure(
            f"EventBus.publish -> {ACTORS} actors (inbox {INBOX}, flows)",
            ours,
            unit,
            baseline="raw tasks, await send",
            ratio=ours / raw,
            target=">= 0.8x",
        ),
        Figure(
            f"EventBus.publish -> {ACTORS} actors vs the fastest raw fan-out",
            ours,
            unit,
            baseline="raw tasks, send_nowait first",
            ratio=ours / raw_fast,
            target=">= 0.8x",
        ),
    ]
    if "pyee" in rate:
        peer = rate["pyee"]
        figures.append(Figure(f"pyee TrioEventEmitter, {ACTORS} async handlers", peer, unit))
        figures.append(
            Figure(
                f"EventBus.publish -> {ACTORS} actors (inbox {INBOX}, flows)",
                ours,
                unit,
                baseline="pyee TrioEventEmitter",
                ratio=ours / peer,
            )
        )
    return figures


@measures
def suite(quick: bool) -> list[Figure | Skipped]:
    """Measure the figures; ``quick`` shrinks the workloads ~100x.

    Contenders are timed in turns (best of ``repeat`` rounds each) so that load from other
    processes on a shared machine skews the ratios as little as possible.
    """
    n_emit = 5_000 if quick else 100_000
    n_pub = 300 if quick else 5_000
    repeat = 1 if quick else 2  # the harness repeats the whole suite too
    peers: set[str] = set()
    skipped: list[Figure | Skipped] = []
    for module in ("pyee", "blinker"):
        try:
            require(module)
        except BenchmarkSkipped as exc:
            skipped.append(Skipped(f"EventBus vs {module}", exc.reason, exc.hint))
        else:
            peers.add(module)
    figures = _emit_figures(n_emit, 1, repeat, peers) + _emit_figures(n_emit, 10, repeat, peers)
    figures += _publish_figures(n_pub, repeat, peers)
    return [*figures, *skipped]
