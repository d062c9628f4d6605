"""ConcurrencyLimiter in action: slots, backpressure, a start rate and a limited map.

Runs on trio's MockClock (autojump), so the "downloads" take virtual seconds and the script
finishes at once while printing exact, reproducible times.
"""

from __future__ import annotations

import trio
import trio.testing

from trio_orch import ConcurrencyLimiter, LimiterFull

_origin = [0.0]


def section(title: str) -> None:
    """Print a heading and restart the displayed clock at t=0."""
    print(f"-- {title}")
    _origin[0] = trio.current_time()


def now() -> str:
    return f"t={trio.current_time() - _origin[0]:g}"


async def download(name: str) -> str:
    await trio.sleep(1.0)  # pretend network time
    return f"{name}: done at {now()}"


async def slots_and_backpressure() -> None:
    section("2 slots, 1 waiting place, 4 callers at once")
    limiter = ConcurrencyLimiter(max_concurrent=2, queue_limit=1)

    async def call(name: str) -> None:
        try:
            print("  ", await limiter.run(download, name))
        except LimiterFull as error:
            print(f"   {name}: refused at {now()} ({error})")

    async with trio.open_nursery() as nursery:
        for name in ["a.zip", "b.zip", "c.zip", "d.zip"]:
            nursery.start_soon(call, name)
            await trio.testing.wait_all_tasks_blocked()  # arrive in this order
    print("  ", limiter.stats)


async def start_rate() -> None:
    section("at most 4 starts per second, bursts of 2")
    limiter = ConcurrencyLimiter(max_concurrent=10, max_per_second=4, burst=2)

    async def ping(i: int) -> None:
        print(f"   request {i} started at {now()}")

    async with trio.open_nursery() as nursery:
        for i in range(5):
            nursery.start_soon(limiter.run, ping, i)
            await trio.testing.wait_all_tasks_blocked()


async def limited_map() -> None:
    section("map over 7 files, 3 at a time, results in input order")
    limiter = ConcurrencyLimiter(max_concurrent=3)
    names = [f"file{i}.zip" for i in range(7)]
    async with limiter.map(download, names, ordered=True) as results:
        async for line in results:
            print("  ", line)
    print("  ", limiter.stats)


async def cancelled_waiters() -> None:
    section("a 2.5 s deadline around a map of 10 one-second jobs, 2 at a time")
    limiter = ConcurrencyLimiter(max_concurrent=2)
    with trio.move_on_after(2.5):
        async with limiter.map(download, [f"big{i}.iso" for i in range(10)]) as results:
            async for line in results:
                print("  ", line)
    print("   deadline hit; the running jobs were cancelled:", limiter.stats)


async def main() -> None:
    await slots_and_backpressure()
    await start_rate()
    await limited_map()
    await cancelled_waiters()


if __name__ == "__main__":
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
