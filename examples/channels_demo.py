"""Bounded channels: one fast producer, one slow consumer, under each drop policy.

Run it: ``python examples/channels_demo.py``. It uses trio's MockClock with autojump, so the
"slow" consumer takes no real time.
"""

from __future__ import annotations

import trio
import trio.testing

from trio_orch import DropPolicy, QueueFull, open_bounded_channel


async def run_policy(policy: DropPolicy) -> None:
    lost: list[int] = []
    send, receive = open_bounded_channel[int](max_size=3, drop=policy, on_drop=lost.append)
    received: list[int] = []
    rejected: list[int] = []

    async def producer() -> None:
        async with send:
            for reading in range(10):
                try:
                    await send.send(reading)  # BLOCK waits here; the others never wait
                except QueueFull:
                    rejected.append(reading)
                await trio.sleep(0.1)  # a reading every 100 ms

    async def consumer() -> None:
        async with receive:
            async for reading in receive:
                received.append(reading)
                await trio.sleep(0.35)  # but handling one takes 350 ms

    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(producer)
        nursery.start_soon(consumer)
    elapsed = trio.current_time() - start
    print(f"{policy.name:<6} received={received}")
    print(f"       dropped={lost} rejected={rejected}")
    print(f"       {send.stats}  took {elapsed:.2f}s")


async def main() -> None:
    for policy in DropPolicy:
        await run_policy(policy)


if __name__ == "__main__":
    # Drops are logged at WARNING on the stdlib logger "trio_orch.channel"
    # ("trio_orch.channel.dropped"), rate-limited: the first one, then at most one a second.
    # With nothing configured they go to stderr; the prints go to stdout.
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
