"""ConcurrencyLimiter: slots, FIFO queue, backpressure, start rate, map, cancellation."""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING, TypeVar

import pytest
import trio
import trio.testing
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from trio_orch import ConcurrencyLimiter, LimiterFull, LimiterStats

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from contextlib import AbstractAsyncContextManager

T = TypeVar("T")


async def _noop() -> None:
    """A job that never checkpoints."""


async def _collect(
    results_cm: AbstractAsyncContextManager[AsyncIterator[T]], into: list[T]
) -> None:
    """Consume a map to the end, appending each result to ``into``."""
    async with results_cm as results:
        async for result in results:
            into.append(result)  # noqa: PERF401 - keep what arrived before an error


class _Gauge:
    """Counts jobs in flight and remembers the peak."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0

    async def job(self, seconds: float) -> float:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            await trio.sleep(seconds)
        finally:
            self.now -= 1
        return seconds


# --- construction -----------------------------------------------------------------------------


def test_defaults_and_attributes() -> None:
    limiter = ConcurrencyLimiter(max_concurrent=5, queue_limit=20, max_per_second=None)
    assert (limiter.max_concurrent, limiter.queue_limit, limiter.max_per_second) == (5, 20, None)
    assert limiter.burst == 1
    assert limiter.stats == LimiterStats(running=0, waiting=0, completed=0, rejected=0)
    plain = ConcurrencyLimiter(3)
    assert plain.queue_limit is None
    assert plain.max_per_second is None
    assert repr(ConcurrencyLimiter(3, queue_limit=2, max_per_second=2.5, burst=2)) == (
        "ConcurrencyLimiter(max_concurrent=3, queue_limit=2, max_per_second=2.5, burst=2)"
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"max_concurrent": 0}, ValueError, "max_concurrent must be >= 1, got 0"),
        ({"max_concurrent": -3}, ValueError, "max_concurrent must be >= 1, got -3"),
        ({"max_concurrent": True}, TypeError, "max_concurrent must be an int, got True"),
        ({"max_concurrent": 2.0}, TypeError, "max_concurrent must be an int, got 2.0"),
        ({"max_concurrent": "5"}, TypeError, "max_concurrent must be an int, got '5'"),
        ({"max_concurrent": 1, "queue_limit": -1}, ValueError, "queue_limit must be >= 0, got -1"),
        (
            {"max_concurrent": 1, "queue_limit": False},
            TypeError,
            "queue_limit must be an int or None, got False",
        ),
        (
            {"max_concurrent": 1, "queue_limit": 1.5},
            TypeError,
            "queue_limit must be an int or None, got 1.5",
        ),
        (
            {"max_concurrent": 1, "max_per_second": 0},
            ValueError,
            "max_per_second must be finite and > 0, got 0",
        ),
        (
            {"max_concurrent": 1, "max_per_second": -2.5},
            ValueError,
            "max_per_second must be finite and > 0, got -2.5",
        ),
        (
            {"max_concurrent": 1, "max_per_second": math.inf},
            ValueError,
            "max_per_second must be finite and > 0, got inf",
        ),
        (
            {"max_concurrent": 1, "max_per_second": math.nan},
            ValueError,
            "max_per_second must be finite and > 0, got nan",
        ),
        (
            {"max_concurrent": 1, "max_per_second": True},
            TypeError,
            "max_per_second must be a number or None, got True",
        ),
        (
            {"max_concurrent": 1, "max_per_second": "1"},
            TypeError,
            "max_per_second must be a number or None, got '1'",
        ),
        (
            {"max_concurrent": 1, "max_per_second": 1, "burst": 0},
            ValueError,
            "burst must be >= 1, got 0",
        ),
        (
            {"max_concurrent": 1, "max_per_second": 1, "burst": 2.0},
            TypeError,
            "burst must be an int, got 2.0",
        ),
        (
            {"max_concurrent": 1, "burst": 3},
            ValueError,
            "burst needs max_per_second, got burst=3",
        ),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=rf"^{message}$"):
        ConcurrencyLimiter(**kwargs)  # type: ignore[arg-type]


def test_options_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        ConcurrencyLimiter(1, 2)  # type: ignore[call-arg]


def test_map_bad_arguments() -> None:
    limiter = ConcurrencyLimiter(2)
    with pytest.raises(TypeError, match=r"^fn must be callable, got 3$"):
        limiter.map(3, [1])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^items must be an iterable or an async iterable, got 5$"):
        limiter.map(trio.sleep, 5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^ordered must be a bool, got 1$"):
        limiter.map(trio.sleep, [1], ordered=1)  # type: ignore[arg-type]


# --- run: slots and queue ---------------------------------------------------------------------


async def test_run_returns_the_result_and_passes_args() -> None:
    limiter = ConcurrencyLimiter(2)

    async def add(a: int, b: int) -> int:
        return a + b

    assert await limiter.run(add, 2, 3) == 5
    assert limiter.stats == LimiterStats(0, 0, 1, 0)


async def test_never_more_than_max_concurrent_with_1000_tasks(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = ConcurrencyLimiter(7)
    gauge = _Gauge()
    peaks: list[int] = []

    async def job(i: int) -> None:
        peaks.append(limiter.stats.running)
        await gauge.job(1 + i % 2)

    async with trio.open_nursery() as nursery:
        for i in range(1000):
            nursery.start_soon(limiter.run, job, i)
    assert gauge.peak == 7
    assert max(peaks) == 7
    assert len(peaks) == 1000
    assert limiter.stats == LimiterStats(running=0, waiting=0, completed=1000, rejected=0)
    # 1500 s of work on 7 slots, no idle slot while anyone waits: ends within the last job.
    assert 1500 / 7 <= trio.current_time() <= 1500 / 7 + 2


async def test_all_slots_busy_until_the_queue_is_empty(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = ConcurrencyLimiter(7)
    gauge = _Gauge()
    async with trio.open_nursery() as nursery:
        for _ in range(1000):
            nursery.start_soon(limiter.run, gauge.job, 1)
    # ceil(1000 / 7) rounds of one second each.
    assert trio.current_time() == 143
    assert gauge.peak == 7


async def test_fifo_admission_order(autojump_clock: trio.testing.MockClock) -> None:
    limiter = ConcurrencyLimiter(1)
    order: list[int] = []
    gate = trio.Event()

    async def record(i: int) -> None:
        order.append(i)
        await trio.sleep(1)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(limiter.run, gate.wait)
        await trio.testing.wait_all_tasks_blocked()
        for i in range(10):
            nursery.start_soon(limiter.run, record, i)
            await trio.testing.wait_all_tasks_blocked()
        assert limiter.stats.waiting == 10
        gate.set()
        await trio.sleep(0.5)
        # A newcomer does not overtake the queue even though it arrives between hand-offs.
        nursery.start_soon(limiter.run, record, 99)
    assert order == [*range(10), 99]
    assert trio.current_time() == 11


async def test_slot_is_handed_to_the_first_waiter_without_barging() -> None:
    limiter = ConcurrencyLimiter(1)
    order: list[str] = []

    async def mark(name: str) -> None:
        order.append(name)

    hold = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(limiter.run, hold.wait)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(limiter.run, mark, "waiter")
        await trio.testing.wait_all_tasks_blocked()
        hold.set()
        # The release happens when the holder runs; a caller arriving in the same
        # scheduling round must still queue behind "waiter".
        nursery.start_soon(limiter.run, mark, "newcomer")
    assert order == ["waiter", "newcomer"]


# --- backpressure ---------------------------------------------------------------------------


async def test_limiter_full_when_the_queue_is_full(autojump_clock: trio.testing.MockClock) -> None:
    limiter = ConcurrencyLimiter(max_concurrent=1, queue_limit=2)
    release = trio.Event()
    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(limiter.run, release.wait)
        await trio.testing.wait_all_tasks_blocked()
        assert limiter.stats == LimiterStats(running=1, waiting=2, completed=0, rejected=0)
        with capture_logs() as logs, pytest.raises(LimiterFull) as info:
            await limiter.run(_noop)
        assert trio.current_time() == 0
        assert info.value.queue_limit == 2
        assert str(info.value) == "limiter queue is full: 2 callers already wait"
        assert limiter.stats == LimiterStats(running=1, waiting=2, completed=0, rejected=1)
        assert logs == [
            {
                "event": "trio_orch.limiter.rejected",
                "log_level": "warning",
                "queue_limit": 2,
                "total": 1,
                "since_last_log": 1,
            }
        ]
        release.set()
    assert limiter.stats == LimiterStats(running=0, waiting=0, completed=3, rejected=1)


async def test_queue_limit_zero_refuses_anyone_who_would_wait() -> None:
    limiter = ConcurrencyLimiter(2, queue_limit=0)
    release = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(limiter.run, release.wait)
        nursery.start_soon(limiter.run, release.wait)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(LimiterFull):
            await limiter.run(_noop)
        with pytest.raises(LimiterFull):
            async with limiter.slot():
                pytest.fail("the body must not run")  # pragma: no cover
        release.set()
    await limiter.run(_noop)
    assert limiter.stats == LimiterStats(running=0, waiting=0, completed=3, rejected=2)


async def test_rejection_does_not_yield_to_other_tasks() -> None:
    limiter = ConcurrencyLimiter(1, queue_limit=0)
    release = trio.Event()
    others_ran = False

    async def other() -> None:
        nonlocal others_ran
        others_ran = True

    async with trio.open_nursery() as nursery:
        nursery.start_soon(limiter.run, release.wait)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(other)
        with pytest.raises(LimiterFull):
            await limiter.run(_noop)
        assert not others_ran
        release.set()
    assert others_ran


# --- cancellation ---------------------------------------------------------------------------


async def test_cancelled_waiter_leaves_the_queue(autojump_clock: trio.testing.MockClock) -> None:
    limiter = ConcurrencyLimiter(1, queue_limit=2)
    ran: list[str] = []
    release = trio.Event()

    async def job(name: str) -> None:
        ran.append(name)
        await trio.sleep(1)

    async def cancellable(scope: trio.CancelScope) -> None:
        with scope:
            await limiter.run(job, "a")

    scope = trio.CancelScope()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(limiter.run, release.wait)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(cancellable, scope)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(limiter.run, job, "b")
        await trio.testing.wait_all_tasks_blocked()
        assert limiter.stats.waiting == 2
        scope.cancel()
        await trio.testing.wait_all_tasks_blocked()
        assert limiter.stats == LimiterStats(1, 1, 0, 0, cancelled=1)
        # The freed queue place can be taken again (queue_limit=2).
        nursery.start_soon(limiter.run, job, "c")
        await trio.testing.wait_all_tasks_blocked()
        assert limiter.stats.waiting == 2
        release.set()
    assert ran == ["b", "c"]
    assert trio.current_time() == 2
    assert limiter.stats == LimiterStats(0, 0, 3, 0, cancelled=1)


async def test_many_cancelled_waiters_are_compacted(autojump_clock: trio.testing.MockClock) -> None:
    limiter = ConcurrencyLimiter(1)
    release = trio.Event()
    ran: list[int] = []

    async def job(i: int) -> None:
        ran.append(i)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(limiter.run, release.wait)
        await trio.testing.wait_all_tasks_blocked()
        async with trio.open_nursery() as doomed:
            for i in range(300):
                doomed.start_soon(limiter.run, job, i)
            nursery.start_soon(limiter.run, job, 1000)
            await trio.testing.wait_all_tasks_blocked()
            assert limiter.stats.waiting == 301
            doomed.cancel_scope.cancel()
        assert limiter.stats.waiting == 1
        release.set()
    assert ran == [1000]
    assert limiter.stats == LimiterStats(0, 0, 2, 0, cancelled=300)


async def test_holder_cancelled_mid_work_releases_its_slot(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = ConcurrencyLimiter(1)
    started: list[float] = []

    async def forever() -> None:
        await trio.sleep_forever()

    async def job() -> None:
        started.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        with trio.move_on_after(3):
            nursery.start_soon(limiter.run, job)  # queued behind the holder below
            await limiter.run(forever)
    assert started == [3]
    assert limiter.stats == LimiterStats(0, 0, 1, 0, cancelled=1)


async def test_job_with_a_cancelled_nursery_counts_as_cancelled(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # Its nursery raises a BaseExceptionGroup of Cancelled: a cancellation, not a failure.
    async def fan_out() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(trio.sleep_forever)
            await trio.sleep_forever()

    limiter = ConcurrencyLimiter(2)
    with trio.move_on_after(1):
        await limiter.run(fan_out)
    with trio.move_on_after(1):
        async with limiter.slot():
            await fan_out()
    with trio.move_on_after(1):
        async with limiter.map(lambda _: fan_out(), [1]) as results:
            async for _ in results:
                pass  # pragma: no cover
    assert limiter.stats == LimiterStats(0, 0, 0, 0, cancelled=3)


async def test_failing_job_propagates_unchanged_and_releases_the_slot() -> None:
    limiter = ConcurrencyLimiter(1)
    error = KeyError("boom")

    async def fail() -> None:
        raise error

    with pytest.raises(KeyError) as info:
        await limiter.run(fail)
    assert info.value is error
    assert limiter.stats == LimiterStats(0, 0, 1, 0, failed=1)
    await limiter.run(_noop)
    assert limiter.stats.completed == 2


# --- checkpoints ----------------------------------------------------------------------------


async def test_run_fast_path_checkpoints() -> None:
    limiter = ConcurrencyLimiter(1)
    with trio.testing.assert_checkpoints():
        await limiter.run(_noop)
    with trio.testing.assert_checkpoints():
        async with limiter.slot():
            pass


async def test_run_fast_path_with_rate_checkpoints() -> None:
    limiter = ConcurrencyLimiter(1, max_per_second=1000)
    with trio.testing.assert_checkpoints():
        await limiter.run(_noop)


async def test_run_in_a_cancelled_scope_raises_before_fn() -> None:
    limiter = ConcurrencyLimiter(1)
    called = False

    async def job() -> None:
        nonlocal called
        called = True  # pragma: no cover

    with trio.CancelScope() as scope:
        scope.cancel()
        await limiter.run(job)
    assert scope.cancelled_caught
    assert not called
    assert limiter.stats == LimiterStats(0, 0, 0, 0)


# --- slot() ---------------------------------------------------------------------------------


async def test_slot_counts_outcomes_and_shares_the_queue(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = ConcurrencyLimiter(1)
    async with limiter.slot():
        assert limiter.stats.running == 1
    with pytest.raises(ValueError, match=r"^inside$"):
        async with limiter.slot():
            raise ValueError("inside")
    with trio.move_on_after(1):
        async with limiter.slot():
            await trio.sleep_forever()
    assert limiter.stats == LimiterStats(0, 0, 2, 0, failed=1, cancelled=1)

    times: list[float] = []

    async def hold() -> None:
        async with limiter.slot():
            times.append(trio.current_time())
            await trio.sleep(2)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(hold)
        nursery.start_soon(hold)
    assert times == [1, 3]


# --- start rate -----------------------------------------------------------------------------


async def test_max_per_second_spaces_the_starts(autojump_clock: trio.testing.MockClock) -> None:
    limiter = ConcurrencyLimiter(10, max_per_second=4)
    starts: list[float] = []

    async def job() -> None:
        starts.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(limiter.run, job)
        await trio.testing.wait_all_tasks_blocked()
        assert limiter.stats == LimiterStats(running=0, waiting=4, completed=1, rejected=0)
    assert starts == [0, 0.25, 0.5, 0.75, 1.0]
    # After an idle spell the bucket is full again (burst=1: one token).
    await trio.sleep(10)
    async with trio.open_nursery() as nursery:
        for _ in range(2):
            nursery.start_soon(limiter.run, job)
    assert starts[5:] == [11.0, 11.25]


async def test_burst_allows_back_to_back_starts(autojump_clock: trio.testing.MockClock) -> None:
    limiter = ConcurrencyLimiter(10, max_per_second=2, burst=3)
    starts: list[float] = []

    async def job() -> None:
        starts.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        for _ in range(6):
            nursery.start_soon(limiter.run, job)
    assert starts == [0, 0, 0, 0.5, 1.0, 1.5]


async def test_rate_and_slots_together(autojump_clock: trio.testing.MockClock) -> None:
    limiter = ConcurrencyLimiter(2, max_per_second=4)
    starts: list[float] = []

    async def job() -> None:
        starts.append(trio.current_time())
        await trio.sleep(1)

    async with trio.open_nursery() as nursery:
        for _ in range(4):
            nursery.start_soon(limiter.run, job)
    # Two slots: jobs 3 and 4 wait for slots (free at 1.0 and 1.25), then start at once.
    assert starts == [0, 0.25, 1.0, 1.25]
    assert trio.current_time() == 2.25


async def test_rate_wait_counts_against_the_queue_limit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = ConcurrencyLimiter(5, queue_limit=0, max_per_second=1)
    await limiter.run(_noop)
    with pytest.raises(LimiterFull):
        await limiter.run(_noop)
    assert limiter.stats == LimiterStats(0, 0, 1, 1)
    await trio.sleep(1)
    await limiter.run(_noop)
    assert limiter.stats == LimiterStats(0, 0, 2, 1)


async def test_cancelled_rate_waiter_gives_its_token_back(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = ConcurrencyLimiter(5, max_per_second=1)
    starts: list[float] = []

    async def job() -> None:
        starts.append(trio.current_time())

    await limiter.run(job)
    with trio.move_on_after(0.5):
        await limiter.run(job)  # reserved 1.0, gives it back at 0.5
    assert limiter.stats == LimiterStats(0, 0, 1, 0, cancelled=1)
    await trio.sleep(0.1)
    await limiter.run(job)
    assert starts == [0, 1.0]


# --- map ------------------------------------------------------------------------------------


async def test_map_returns_every_result_with_bounded_concurrency(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = ConcurrencyLimiter(4)
    gauge = _Gauge()
    durations = [(i * 7) % 5 + 1 for i in range(40)]
    async with limiter.map(gauge.job, durations) as results:
        got = [r async for r in results]
    assert sorted(got) == sorted(durations)
    assert gauge.peak == 4
    assert limiter.stats == LimiterStats(0, 0, 40, 0)
    # Each item goes to the first free worker: the end time of that schedule, exactly.
    free = [0.0] * 4
    for d in durations:
        free[free.index(min(free))] += d
    assert trio.current_time() == max(free)


async def test_map_unordered_yields_in_completion_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = ConcurrencyLimiter(3)

    async def job(seconds: float) -> float:
        await trio.sleep(seconds)
        return seconds

    async with limiter.map(job, [3, 1, 2]) as results:
        assert [r async for r in results] == [1, 2, 3]


async def test_map_ordered_yields_in_input_order(autojump_clock: trio.testing.MockClock) -> None:
    limiter = ConcurrencyLimiter(3)
    gauge = _Gauge()
    durations = [(i * 7) % 5 + 0.5 for i in range(30)]
    async with limiter.map(gauge.job, durations, ordered=True) as results:
        got = [r async for r in results]
    assert got == durations
    assert gauge.peak == 3


async def test_map_ordered_holds_at_most_two_windows(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = ConcurrencyLimiter(2)
    pulled: list[int] = []

    def items() -> itertools.count[int]:
        return itertools.count()

    async def job(i: int) -> int:
        pulled.append(i)
        await trio.sleep(100 if i == 0 else 1)
        return i

    async with limiter.map(job, items(), ordered=True) as results:
        first = await anext(results)
        assert first == 0
        assert trio.current_time() == 100
    # While job 0 was slow, the others ran ahead by at most the window (2 * 2 items).
    assert max(pulled) <= 6


async def test_map_is_lazy_and_stops_pulling_when_left(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = ConcurrencyLimiter(2)
    pulled = 0

    def items() -> Iterator[int]:
        nonlocal pulled
        for i in itertools.count():
            pulled += 1
            yield i
        raise AssertionError  # pragma: no cover

    async def job(i: int) -> int:
        await trio.sleep(1)
        return i * 10

    async with limiter.map(job, items()) as results:
        got = [await anext(results) for _ in range(5)]
    # Two at a time, one second each: 0 and 1, then 2 and 3, then 4 and 5 finish together.
    assert sorted(got[:4]) == [0, 10, 20, 30]
    assert got[4] in (40, 50)
    assert trio.current_time() == 3
    # Workers (2) + result buffer (2) + the item each worker holds: never the whole stream.
    assert pulled <= 10
    assert limiter.stats.running == 0
    assert limiter.stats.waiting == 0


async def test_map_accepts_an_async_iterable(autojump_clock: trio.testing.MockClock) -> None:
    limiter = ConcurrencyLimiter(3)

    async def items() -> AsyncIterator[int]:
        for i in range(10):
            await trio.sleep(0.1)
            yield i

    async def double(i: int) -> int:
        await trio.sleep(1)
        return 2 * i

    async with limiter.map(double, items(), ordered=True) as results:
        assert [r async for r in results] == [2 * i for i in range(10)]
    assert limiter.stats.completed == 10


async def test_map_error_propagates_unwrapped_and_cancels_the_rest(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = ConcurrencyLimiter(3)
    error = ValueError("item 4")
    received: list[int] = []

    async def job(i: int) -> int:
        if i == 4:
            await trio.sleep(1.5)
            raise error
        await trio.sleep(1)
        return i

    with pytest.raises(ValueError, match=r"^item 4$") as info:
        await _collect(limiter.map(job, range(100)), received)
    assert info.value is error
    assert info.value.__context__ is None
    # 0-2 run from 0 to 1; 3-5 start at 1, 3 and 5 finish at 2 and 6, 7 start;
    # 4 fails at 2.5 and 6, 7 are cancelled.
    assert trio.current_time() == 2.5
    assert sorted(received) == [0, 1, 2, 3, 5]
    assert limiter.stats == LimiterStats(0, 0, 6, 0, failed=1, cancelled=2)


async def test_map_error_while_reading_items_propagates() -> None:
    limiter = ConcurrencyLimiter(2)

    def items() -> Iterator[int]:
        yield 1
        raise OSError("disk")

    with pytest.raises(OSError, match=r"^disk$"):
        await _collect(limiter.map(trio.sleep, items()), [])


async def test_map_error_in_the_body_propagates_unwrapped() -> None:
    limiter = ConcurrencyLimiter(2)

    async def ident(i: int) -> int:
        return i

    async def consume() -> None:
        async with limiter.map(ident, range(10)) as results:
            async for _ in results:
                raise RuntimeError("consumer")

    with pytest.raises(RuntimeError, match=r"^consumer$"):
        await consume()
    assert limiter.stats.running == 0


async def test_map_simultaneous_errors_raise_a_group_with_a_note() -> None:
    limiter = ConcurrencyLimiter(2)

    async def fail(i: int) -> None:
        raise ValueError(i)

    with pytest.RaisesGroup(ValueError, ValueError) as info:
        await _collect(limiter.map(fail, [1, 2]), [])
    assert info.value.__notes__ == ["raised by ConcurrencyLimiter.map(): 2 tasks failed at once"]


async def test_cancelling_the_consumer_cancels_the_jobs(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = ConcurrencyLimiter(3)
    received: list[float] = []
    with trio.move_on_after(2.5) as scope:
        await _collect(limiter.map(_sleeper, range(10)), received)
    assert scope.cancelled_caught
    assert trio.current_time() == 2.5
    assert sorted(received) == [1, 1, 1, 2, 2, 2]
    assert limiter.stats == LimiterStats(0, 0, 6, 0, cancelled=3)


async def _sleeper(i: int) -> float:
    seconds = 1.0 + i // 3 * 1.0
    await trio.sleep(1)
    return seconds


async def test_map_shares_slots_fifo_with_other_callers(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = ConcurrencyLimiter(1)
    order: list[str] = []

    async def job(name: str) -> str:
        order.append(name)
        await trio.sleep(1)
        return name

    async with trio.open_nursery() as nursery:
        nursery.start_soon(limiter.run, job, "outside")
        await trio.testing.wait_all_tasks_blocked()
        async with limiter.map(job, ["m1", "m2"]) as results:
            assert [r async for r in results] == ["m1", "m2"]
    assert order == ["outside", "m1", "m2"]
    assert trio.current_time() == 3


async def test_map_respects_the_start_rate(autojump_clock: trio.testing.MockClock) -> None:
    limiter = ConcurrencyLimiter(5, max_per_second=2)

    async def now(_: int) -> float:
        return trio.current_time()

    async with limiter.map(now, range(4), ordered=True) as results:
        assert [r async for r in results] == [0, 0.5, 1.0, 1.5]


async def test_map_of_nothing_and_results_iterator_checkpoints() -> None:
    limiter = ConcurrencyLimiter(2)
    async with limiter.map(trio.sleep, []) as nothing:
        with trio.testing.assert_checkpoints():
            assert [r async for r in nothing] == []

    async def ident(i: int) -> int:
        return i

    for ordered in (False, True):
        async with limiter.map(ident, range(3), ordered=ordered) as results:
            for _ in range(3):
                with trio.testing.assert_checkpoints():
                    await anext(results)
            with trio.testing.assert_checkpoints(), pytest.raises(StopAsyncIteration):
                await anext(results)


# --- property: random jobs, cancellations and rejections -------------------------------------


_job_specs = st.lists(
    st.tuples(
        st.integers(0, 3),  # arrival, in quarter seconds
        st.integers(0, 8),  # duration, in quarter seconds
        st.one_of(st.none(), st.integers(0, 8)),  # cancel after, in quarter seconds
        st.booleans(),  # fails
    ),
    max_size=25,
)


@hyp_settings(max_examples=300)
@given(
    jobs=_job_specs,
    max_concurrent=st.integers(1, 4),
    queue_limit=st.one_of(st.none(), st.integers(0, 6)),
    rate=st.one_of(st.none(), st.sampled_from([2, 4, 8])),
)
def test_invariants_under_random_load(
    jobs: list[tuple[int, int, int | None, bool]],
    max_concurrent: int,
    queue_limit: int | None,
    rate: int | None,
) -> None:
    limiter = ConcurrencyLimiter(max_concurrent, queue_limit=queue_limit, max_per_second=rate)
    outcomes = {"completed": 0, "rejected": 0, "cancelled": 0, "failed": 0}
    in_flight = 0
    starts: list[float] = []

    def check() -> None:
        stats = limiter.stats
        assert 0 <= stats.running <= max_concurrent
        assert in_flight <= stats.running
        if queue_limit is not None:
            assert stats.waiting <= queue_limit

    async def work(duration: int, fails: bool) -> None:
        nonlocal in_flight
        in_flight += 1
        starts.append(trio.current_time())
        check()
        try:
            await trio.sleep(duration / 4)
        finally:
            in_flight -= 1
        if fails:
            raise ArithmeticError

    async def submit(arrival: int, duration: int, cancel_after: int | None, fails: bool) -> None:
        await trio.sleep(arrival / 4)
        check()
        with trio.CancelScope() as scope:
            if cancel_after is not None:
                scope.deadline = trio.current_time() + cancel_after / 4
            try:
                await limiter.run(work, duration, fails)
            except LimiterFull:
                outcomes["rejected"] += 1
                return
            except ArithmeticError:
                outcomes["failed"] += 1
                outcomes["completed"] += 1
                return
            outcomes["completed"] += 1
        if scope.cancelled_caught:
            outcomes["cancelled"] += 1
        check()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            for job in jobs:
                nursery.start_soon(submit, *job)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    stats = limiter.stats
    assert stats == LimiterStats(running=0, waiting=0, **outcomes)
    assert stats.completed + stats.rejected + stats.cancelled == len(jobs)
    if rate is not None:  # burst=1: starts at least 1 / rate apart (binary-exact times)
        starts.sort()
        assert all(b - a >= 1 / rate for a, b in itertools.pairwise(starts))


async def test_map_workers_are_never_refused(autojump_clock: trio.testing.MockClock) -> None:
    limiter = ConcurrencyLimiter(2, queue_limit=0)

    async def job(i: int) -> int:
        await trio.sleep(1)
        return i

    hold = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(limiter.run, hold.wait)
        await trio.testing.wait_all_tasks_blocked()
        async with limiter.map(job, range(4), ordered=True) as results:
            await trio.testing.wait_all_tasks_blocked()
            # One map job runs, one map worker waits beyond queue_limit=0.
            assert limiter.stats == LimiterStats(running=2, waiting=1, completed=0, rejected=0)
            with pytest.raises(LimiterFull):
                await limiter.run(job, 99)
            hold.set()
            assert [r async for r in results] == [0, 1, 2, 3]
    assert limiter.stats == LimiterStats(0, 0, 5, 1)
    assert trio.current_time() == 2


async def test_slot_waiter_cancelled_leaves_the_queue(
    autojump_clock: trio.testing.MockClock,
) -> None:
    limiter = ConcurrencyLimiter(1)
    entered = False

    async def holder() -> None:
        async with limiter.slot():
            await trio.sleep(5)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(holder)
        await trio.testing.wait_all_tasks_blocked()
        with trio.move_on_after(1):
            async with limiter.slot():
                entered = True  # pragma: no cover
        assert limiter.stats == LimiterStats(1, 0, 0, 0, cancelled=1)
    assert not entered
    assert trio.current_time() == 5
    assert limiter.stats == LimiterStats(0, 0, 1, 0, cancelled=1)


def test_limiter_full_is_an_orch_error() -> None:
    from trio_orch import OrchError

    assert issubclass(LimiterFull, OrchError)
