"""Retry, a concurrency limiter and bounded channels working together.

Twenty pages are fetched from a flaky fake service: at most four at once
(``ConcurrencyLimiter``), each fetch retried on transient errors (``retry``), results handed
to a slow consumer through a bounded channel that applies backpressure (``DropPolicy.BLOCK``),
and progress pings go through a small ``DropPolicy.OLDEST`` channel that keeps only the
freshest.  It runs on Trio's virtual clock, so it finishes at once and prints the same
story every time.
"""

from __future__ import annotations

import random

import trio
import trio.testing

from trio_orch import (
    ConcurrencyLimiter,
    DropPolicy,
    Jitter,
    RetryPolicy,
    TransientError,
    open_bounded_channel,
    retry,
)

PAGES = 20
rng = random.Random(7)


async def fetch(page: int) -> str:
    """A fake service: 30 % of calls fail with a transient error."""
    await trio.sleep(rng.uniform(0.05, 0.2))
    if rng.random() < 0.3:
        raise TransientError(f"page {page}: 503 from upstream")
    return f"page-{page:02d}"


async def main() -> None:
    policy = RetryPolicy(max_attempts=5, initial_delay=0.1, max_delay=1.0, jitter=Jitter.EQUAL)
    limiter = ConcurrencyLimiter(max_concurrent=4, queue_limit=None)
    results_send, results_receive = open_bounded_channel[str](max_size=2)
    pings_send, pings_receive = open_bounded_channel[int](max_size=3, drop=DropPolicy.OLDEST)

    async def fetch_with_retry(page: int) -> str:
        return await retry(fetch, page, policy=policy)

    async def worker(page: int) -> None:
        body = await limiter.run(fetch_with_retry, page)
        await results_send.send(body)
        pings_send.send_nowait(page)

    async def producer() -> None:
        async with results_send, pings_send, trio.open_nursery() as nursery:
            for page in range(PAGES):
                nursery.start_soon(worker, page)

    async def consumer() -> None:
        async with results_receive:
            async for body in results_receive:
                await trio.sleep(0.1)  # a slow consumer: the bounded channel holds workers back
                print(f"t={trio.current_time():6.2f}s  stored {body}")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(producer)
        nursery.start_soon(consumer)

    latest = [page async for page in pings_receive]
    print(f"limiter:  {limiter.stats}")
    print(f"results:  {results_send.stats}")
    print(f"pings:    {pings_send.stats} (kept only the freshest: {latest})")


if __name__ == "__main__":
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
