"""Store helpers against hand-written raw Trio, measured in the same run.

* ``Store.set`` with no subscriber waiting vs the raw idiom (assign + ``trio.Event`` swap),
  target >= 0.5x raw.
* Fan-out: one writer, 10 latest-value subscribers, a checkpoint after every ``set``, vs the
  same with a raw ``trio.Event``-swap value holder (target >= 0.5x raw).
* ``Debouncer.__call__`` (sync, coalescing) calls per second (target >= 1M calls/s).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio
import trio.testing

from trio_orch import Store, open_debouncer
from trio_orch.bench import Figure, best_of, measures

if TYPE_CHECKING:
    from collections.abc import Callable

SUBSCRIBERS = 10


class _RawValue:
    """The hand-written raw-Trio observable value: assign, then swap an Event."""

    def __init__(self, value: int) -> None:
        self.value = value
        self.version = 0
        self.changed = trio.Event()

    def set(self, value: int) -> None:
        if value == self.value:
            return
        self.value = value
        self.version += 1
        self.changed.set()
        self.changed = trio.Event()


def _sets_store(n: int) -> Callable[[], None]:
    def run() -> None:
        store = Store(0)
        set_ = store.set
        for i in range(1, n + 1):
            set_(i)

    return run


def _sets_raw(n: int) -> Callable[[], None]:
    def run() -> None:
        value = _RawValue(0)
        set_ = value.set
        for i in range(1, n + 1):
            set_(i)

    return run


async def fan_out(sets: int, subscribers: int = SUBSCRIBERS) -> None:
    """``sets`` values through a Store read by ``subscribers`` latest-value subscriptions."""
    store = Store(0)

    async def reader() -> None:
        async with store.subscribe() as states:
            async for _ in states:
                pass

    async with trio.open_nursery() as nursery:
        for _ in range(subscribers):
            nursery.start_soon(reader)
        await trio.testing.wait_all_tasks_blocked()
        for i in range(1, sets + 1):
            store.set(i)
            await trio.lowlevel.checkpoint()
        store.close()


def _fanout_store(n: int) -> Callable[[], None]:
    return lambda: trio.run(fan_out, n)


def _fanout_raw(n: int) -> Callable[[], None]:
    async def main() -> None:
        value = _RawValue(0)
        done = False

        async def reader() -> None:  # noqa: ASYNC910 - its loop's awaits checkpoint
            seen = -1
            while not done:
                if value.version != seen:
                    seen = value.version
                    _ = value.value
                    await trio.lowlevel.checkpoint()
                else:
                    await value.changed.wait()

        async with trio.open_nursery() as nursery:
            for _ in range(SUBSCRIBERS):
                nursery.start_soon(reader)
            await trio.testing.wait_all_tasks_blocked()
            for i in range(1, n + 1):
                value.set(i)
                await trio.lowlevel.checkpoint()
            done = True
            value.changed.set()

    return lambda: trio.run(main)


def _debounce_calls(n: int) -> Callable[[], None]:
    async def main() -> None:
        async with open_debouncer(lambda _: None, 1.0) as debounced:
            for i in range(n):
                debounced(i)

    return lambda: trio.run(main)


@measures
def suite(quick: bool) -> list[Figure]:
    n_sets = 20_000 if quick else 500_000
    n_fan = 1_000 if quick else 20_000
    n_calls = 20_000 if quick else 500_000
    repeat = 1 if quick else 2  # the harness repeats the whole suite too

    raw_sets = n_sets / best_of(_sets_raw(n_sets), repeat)
    store_sets = n_sets / best_of(_sets_store(n_sets), repeat)
    raw_fan = n_fan / best_of(_fanout_raw(n_fan), repeat)
    store_fan = n_fan / best_of(_fanout_store(n_fan), repeat)
    calls = n_calls / best_of(_debounce_calls(n_calls), repeat)

    return [
        Figure("raw assign + Event swap: sets", raw_sets, "sets/s"),
        Figure(
            "Store.set (no subscriber waiting)",
            store_sets,
            "sets/s",
            "raw",
            store_sets / raw_sets,
            ">= 0.5x raw",
        ),
        Figure(f"raw Event-swap value, {SUBSCRIBERS} readers", raw_fan, "sets/s"),
        Figure(
            f"Store.set + {SUBSCRIBERS} subscriptions",
            store_fan,
            "sets/s",
            "raw",
            store_fan / raw_fan,
            ">= 0.5x raw",
        ),
        Figure(
            "Debouncer call (sync, coalescing)",
            calls,
            "calls/s",
            target=">= 1M calls/s",
        ),
    ]
