"""ResourceManager: grants, FIFO waits, cancellation, over-limit, frees, no starvation."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from trio_orch import (
    Event,
    ResourceAllocated,
    ResourceError,
    ResourceEvent,
    ResourceFreed,
    ResourceManager,
    ResourceRejected,
    ResourceUsage,
    open_event_bus,
)


async def test_grant_at_once_and_usage() -> None:
    resources = ResourceManager(100)
    with trio.testing.assert_checkpoints():
        async with (
            resources.allocate(30, "memory") as first,
            resources.allocate(50, "gpu") as second,
        ):
            usage = resources.usage()
            assert usage == ResourceUsage(
                allocated=80,
                free=20,
                total=100,
                by_kind={"memory": 30, "gpu": 50},
                peak=80,
                waiting=0,
                handles=2,
                granted=2,
            )
            assert (first.id, second.id) == (1, 2)
            assert repr(second) == "<ResourceHandle #2 50 of 'gpu', held>"
    assert first.freed
    assert second.freed
    assert resources.usage() == ResourceUsage(
        allocated=0, free=100, total=100, by_kind={}, peak=80, granted=2
    )
    assert resources.memory_limit == 100
    assert repr(resources) == "<ResourceManager 0/100 allocated>"


async def test_a_request_waits_for_budget(autojump_clock: trio.testing.MockClock) -> None:
    resources = ResourceManager(100)
    granted: list[tuple[str, float]] = []

    async def hold(name: str, size: int, seconds: float) -> None:
        async with resources.allocate(size, "memory"):
            granted.append((name, trio.current_time()))
            await trio.sleep(seconds)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(hold, "a", 60, 1.0)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(hold, "b", 60, 1.0)
        await trio.testing.wait_all_tasks_blocked()
        assert resources.usage().waiting == 1
    assert granted == [("a", 0.0), ("b", 1.0)]


async def test_fifo_order_and_no_barging(autojump_clock: trio.testing.MockClock) -> None:
    resources = ResourceManager(10)
    grants: dict[int, str] = {}  # handle ids are given in grant order

    async def hold(name: str, size: int) -> None:
        async with resources.allocate(size, "memory") as handle:
            grants[handle.id] = name
            await trio.sleep(1)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(hold, "first", 8)
        await trio.testing.wait_all_tasks_blocked()
        # "big" waits for 9; "small" (1) would fit now but must queue behind "big".
        for name, size in (("big", 9), ("small", 1), ("mid", 5)):
            nursery.start_soon(hold, name, size)
            await trio.testing.wait_all_tasks_blocked()
        assert resources.usage().waiting == 3
    assert [grants[i] for i in sorted(grants)] == ["first", "big", "small", "mid"]
    assert trio.current_time() == 3.0  # first; big+small together (10); mid


async def test_cancelled_waiter_leaves_the_queue_and_unblocks_the_next(
    autojump_clock: trio.testing.MockClock,
) -> None:
    resources = ResourceManager(10)
    order: list[str] = []

    async def hold(name: str, size: int, seconds: float) -> None:
        async with resources.allocate(size, "memory"):
            order.append(f"{name}@{trio.current_time():g}")
            await trio.sleep(seconds)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(hold, "first", 6, 5.0)
        await trio.testing.wait_all_tasks_blocked()
        big_scope = trio.CancelScope()
        nursery.start_soon(_in_scope, big_scope, hold("big", 10, 1.0))
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(hold, "small", 3, 1.0)
        await trio.testing.wait_all_tasks_blocked()
        assert order == ["first@0"]
        await trio.sleep(1)
        big_scope.cancel()  # "small" fits beside "first": granted at once
        await trio.testing.wait_all_tasks_blocked()
        assert order == ["first@0", "small@1"]
        assert resources.usage().cancelled == 1
        assert resources.usage().waiting == 0
    assert resources.usage().allocated == 0


async def _in_scope(scope: trio.CancelScope, coro: object) -> None:
    with scope:
        await coro  # type: ignore[misc]


async def test_cancellation_in_the_block_frees(autojump_clock: trio.testing.MockClock) -> None:
    resources = ResourceManager(10)
    with trio.move_on_after(1):
        async with resources.allocate(7, "memory"):
            await trio.sleep_forever()
    assert resources.usage().allocated == 0
    assert resources.usage().handles == 0


async def test_over_limit_raises_at_once() -> None:
    events: list[Event] = []
    async with open_event_bus() as bus:
        bus.on(ResourceEvent, events.append)
        resources = ResourceManager(100, bus=bus)
        with (
            trio.testing.assert_no_checkpoints(),
            pytest.raises(
                ResourceError,
                match=r"^a request of 101 of 'memory' exceeds the whole memory_limit of 100$",
            ) as info,
        ):
            await resources.allocate(101, "memory").__aenter__()
    assert (info.value.size, info.value.kind) == (101, "memory")
    assert resources.usage().rejected == 1
    assert events == [ResourceRejected(kind="memory", size=101, limit=100)]


async def test_events(autojump_clock: trio.testing.MockClock) -> None:
    events: list[Event] = []
    async with open_event_bus() as bus:
        bus.on(ResourceEvent, events.append)
        resources = ResourceManager(10, bus=bus)
        async with trio.open_nursery() as nursery:

            async def second() -> None:
                async with resources.allocate(8, "b"):
                    await trio.sleep(1)

            async with resources.allocate(5, "a"):
                nursery.start_soon(second)
                await trio.testing.wait_all_tasks_blocked()
                await trio.sleep(2)
    assert events == [
        ResourceAllocated(kind="a", size=5, handle=1, allocated=5, waited=0.0),
        ResourceFreed(kind="a", size=5, handle=1, allocated=0, held=2.0),
        ResourceAllocated(kind="b", size=8, handle=2, allocated=8, waited=2.0),
        ResourceFreed(kind="b", size=8, handle=2, allocated=0, held=1.0),
    ]


async def test_explicit_free_and_double_free() -> None:
    resources = ResourceManager(10)
    other = ResourceManager(10)
    handle = await resources.acquire(4, "memory")
    with pytest.raises(
        ResourceError, match=r"^resource handle #1 belongs to another ResourceManager$"
    ):
        other.free(handle)
    resources.free(handle)
    with pytest.raises(
        ResourceError, match=r"^resource handle #1 \(4 of 'memory'\) was already freed$"
    ):
        resources.free(handle)
    async with resources.allocate(3, "memory") as held:
        resources.free(held)  # leaving the block does not free it twice
    assert resources.usage().allocated == 0
    with pytest.raises(TypeError, match=r"^handle must be a ResourceHandle, got 3$"):
        resources.free(3)  # type: ignore[arg-type]


async def test_free_wakes_waiters(autojump_clock: trio.testing.MockClock) -> None:
    resources = ResourceManager(10)
    handle = await resources.acquire(10, "memory")
    got: list[float] = []

    async def wait() -> None:
        async with resources.allocate(5, "memory"):
            got.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(wait)
        nursery.start_soon(wait)
        await trio.sleep(4)
        resources.free(handle)
    assert got == [4.0, 4.0]


async def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"^memory_limit must be >= 1, got 0$"):
        ResourceManager(0)
    with pytest.raises(TypeError, match=r"^memory_limit must be an int, got 1.5$"):
        ResourceManager(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^bus must be an EventBus or None, got 'x'$"):
        ResourceManager(1, bus="x")  # type: ignore[arg-type]
    resources = ResourceManager(10)
    with pytest.raises(ValueError, match=r"^size must be >= 1, got 0$"):
        resources.allocate(0, "memory")
    with pytest.raises(ValueError, match=r"^kind must not be empty, got ''$"):
        resources.allocate(1, "")
    with pytest.raises(TypeError, match=r"^size must be an int, got True$"):
        await resources.acquire(True, "memory")


# --- no starvation: a property ------------------------------------------------------------

_requests = st.lists(
    st.tuples(
        st.integers(0, 3),  # arrival delay after the previous request
        st.integers(1, 10),  # size
        st.integers(1, 4),  # hold time
    ),
    min_size=1,
    max_size=25,
)


@hyp_settings(max_examples=150)
@given(requests=_requests, limit=st.integers(10, 16))
def test_strict_fifo_no_starvation_and_bounded(
    requests: list[tuple[int, int, int]], limit: int
) -> None:
    """Grants come in arrival order, every request is granted, the budget is never exceeded."""
    resources = ResourceManager(limit)
    granted: dict[int, int] = {}  # handle id (grant order) -> request index
    grant_time: dict[int, float] = {}
    deadline_for: dict[int, float] = {}

    async def request(index: int, size: int, hold: int) -> None:
        async with resources.allocate(size, "memory") as handle:
            usage = resources.usage()
            assert usage.allocated <= limit
            granted[handle.id] = index
            grant_time[index] = trio.current_time()
            await trio.sleep(hold)

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for index, (delay, size, hold) in enumerate(requests):
                await trio.sleep(delay)
                nursery.start_soon(request, index, size, hold)
                # A request waits at most for everything queued before it to be held
                # and released: the sum of their hold times bounds its wait.
                deadline_for[index] = trio.current_time() + sum(h for _, _, h in requests[:index])
                await trio.testing.wait_all_tasks_blocked()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    # strictly FIFO, nobody starved
    assert [granted[i] for i in sorted(granted)] == list(range(len(requests)))
    for index, at in grant_time.items():
        assert at <= deadline_for[index]
    assert resources.usage().allocated == 0
    assert resources.usage().peak <= limit


async def test_events_for_a_closed_bus_are_logged_as_dropped_not_lost_silently() -> None:
    async with open_event_bus() as bus:
        resources = ResourceManager(100, bus=bus)
    with capture_logs() as logs:
        async with resources.allocate(10, "memory"):
            pass
    assert [(e["event"], e["event_type"], e["reason"]) for e in logs] == [
        ("trio_orch.runtime.event_dropped", "ResourceAllocated", "bus closed"),
        ("trio_orch.runtime.event_dropped", "ResourceFreed", "bus closed"),
    ]
    assert resources.usage().granted == 1
