"""Bounded channels against raw ``trio.open_memory_channel``, measured in the same run.

* 1 producer -> 1 consumer through ``await send`` / ``async for``: raw trio vs ``DropPolicy.BLOCK``
  (target: >= 0.8x raw).
* ``send_nowait`` + ``receive_nowait`` pairs with room in the buffer, raw and every policy
  (target: >= 1M items/s).
* ``send_nowait`` into a full buffer: the drop path (OLDEST, NEWEST) and the reject path
  (REJECT raises ``QueueFull``), target >= 1M items/s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

from trio_orch import DropPolicy, open_bounded_channel
from trio_orch.bench import Figure, best_of, measures

BUFFER = 100

Opener = Callable[[int], tuple[Any, Any]]


def _raw(max_size: int) -> tuple[Any, Any]:
    return trio.open_memory_channel[int](max_size)


def _bounded(policy: DropPolicy) -> Opener:
    return lambda max_size: open_bounded_channel[int](max_size, policy)


def _pipeline(opener: Opener, n: int, max_size: int) -> Callable[[], None]:
    async def main() -> None:
        send, receive = opener(max_size)

        async def produce() -> None:  # noqa: ASYNC910 - its loop's awaits checkpoint
            with send:
                for i in range(n):
                    await send.send(i)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(produce)
            with receive:
                async for _ in receive:
                    pass

    return lambda: trio.run(main)


def _nowait_pairs(opener: Opener, n: int) -> Callable[[], None]:
    def run() -> None:
        send, receive = opener(BUFFER)
        send_nowait, receive_nowait = send.send_nowait, receive.receive_nowait
        for i in range(n):
            send_nowait(i)
            receive_nowait()

    return run


def _full_sends(policy: DropPolicy, n: int) -> Callable[[], None]:
    def run() -> None:
        send, _receive = open_bounded_channel[int](BUFFER, policy)
        send_nowait = send.send_nowait
        for i in range(BUFFER):
            send_nowait(i)
        if policy is DropPolicy.REJECT:
            for i in range(n):
                try:  # noqa: SIM105 - contextlib.suppress would cost more than the send
                    send_nowait(i)
                except trio.WouldBlock:
                    pass
        else:
            for i in range(n):
                send_nowait(i)
        stats = send.stats
        assert stats.dropped + stats.rejected == n

    return run


def _rate(n: int, fn: Callable[[], None], repeat: int) -> float:
    return n / best_of(fn, repeat)


@measures
def suite(quick: bool) -> list[Figure]:
    """Measure the channel figures; ``quick`` shrinks every workload."""
    n_pipe = 5_000 if quick else 50_000
    n_fast = 20_000 if quick else 200_000
    repeat = 1 if quick else 2  # the harness repeats the whole suite too
    figures: list[Figure] = []
    # Drops are logged, rate-limited, at WARNING: with Python's defaults a few lines go to
    # stderr while the drop figures run.  Nothing is configured here: these are user figures.
    for max_size in (BUFFER, 0):
        raw = _rate(n_pipe, _pipeline(_raw, n_pipe, max_size), repeat)
        ours = _rate(n_pipe, _pipeline(_bounded(DropPolicy.BLOCK), n_pipe, max_size), repeat)
        figures.append(Figure(f"1->1 raw trio memory channel({max_size})", raw, "msg/s"))
        figures.append(
            Figure(
                f"1->1 bounded BLOCK({max_size})",
                ours,
                "msg/s",
                baseline="raw trio",
                ratio=ours / raw,
                target=">= 0.8x",
            )
        )
    raw = _rate(n_fast, _nowait_pairs(_raw, n_fast), repeat)
    figures.append(Figure("send_nowait+receive_nowait raw trio", raw, "items/s"))
    for policy in DropPolicy:
        ours = _rate(n_fast, _nowait_pairs(_bounded(policy), n_fast), repeat)
        figures.append(
            Figure(
                f"send_nowait+receive_nowait {policy.name}",
                ours,
                "items/s",
                baseline="raw trio",
                ratio=ours / raw,
                target=">= 1M/s",
            )
        )
    for policy in (DropPolicy.OLDEST, DropPolicy.NEWEST, DropPolicy.REJECT):
        ours = _rate(n_fast, _full_sends(policy, n_fast), repeat)
        what = "rejected (QueueFull)" if policy is DropPolicy.REJECT else "dropped"
        figures.append(
            Figure(
                f"send_nowait into a full buffer, {policy.name}: {what}",
                ours,
                "items/s",
                target=">= 1M/s",
            )
        )
    return figures
