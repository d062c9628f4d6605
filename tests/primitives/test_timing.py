"""Debouncer and throttler: exact timing on the virtual clock, ownership, errors."""

from __future__ import annotations

import logging
import math
from typing import Any

import pytest
import structlog
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_orch import (
    Debouncer,
    DebouncerStats,
    Throttler,
    ThrottlerStats,
    open_debouncer,
    open_throttler,
)


class Recorder:
    """Records (time, args, kwargs) of every run."""

    def __init__(self) -> None:
        self.runs: list[tuple[float, tuple[Any, ...]]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        self.runs.append((trio.current_time(), args + tuple(sorted(kwargs.items()))))


async def _call_at(times_and_args: list[tuple[float, Any]], target: Any) -> None:
    start = trio.current_time()
    for at, arg in times_and_args:
        await trio.sleep_until(start + at)
        target(arg)


# --- debouncer ------------------------------------------------------------------------------


async def test_debounce_runs_once_after_quiet(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder()
    async with open_debouncer(rec, 0.3) as debounced:
        await _call_at([(0, "a"), (0.1, "b"), (0.2, "c")], debounced)
        await trio.sleep(1)
        assert rec.runs == [(pytest.approx(0.5), ("c",))]  # type: ignore[comparison-overlap]
        assert debounced.stats == DebouncerStats(
            calls=3, runs=1, coalesced=2, discarded=0, pending=False
        )
    assert trio.current_time() == pytest.approx(1.2)


async def test_debounce_separate_bursts(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder()
    async with open_debouncer(rec, delay=0.25) as debounced:
        await _call_at([(0, 1), (1, 2), (1.2, 3)], debounced)
        await trio.sleep(1)
    assert rec.runs == [(0.25, (1,)), (1.45, (3,))]


async def test_debounce_zero_delay_coalesces_same_tick(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rec = Recorder()
    async with open_debouncer(rec, 0) as debounced:
        debounced(1)
        debounced(2)
        await trio.sleep(1)
    assert rec.runs == [(0, (2,))]


async def test_debounce_kwargs(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder()
    async with open_debouncer(rec, 1) as debounced:
        debounced(1, key="v")
    assert rec.runs == [(0, (1, ("key", "v")))]


async def test_debounce_max_wait(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder()
    async with open_debouncer(rec, 1.0, max_wait=2.5) as debounced:
        await _call_at([(i * 0.6, i) for i in range(11)], debounced)
        await trio.sleep(3)
    # a burst runs at most 2.5 s after its first call (0 -> 2.5, 3.0 -> 5.5); the call at 6.0
    # starts a new burst and runs after 1.0 s of quiet
    assert rec.runs == [(2.5, (4,)), (5.5, (9,)), (7.0, (10,))]


async def test_debounce_async_fn_runs_never_overlap(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[tuple[str, float, int]] = []

    async def slow(n: int) -> None:
        log.append(("start", trio.current_time(), n))
        await trio.sleep(2)
        log.append(("end", trio.current_time(), n))

    async with open_debouncer(slow, 0.5) as debounced:
        debounced(1)
        await trio.sleep(1)  # t=1: run 1 in progress since 0.5
        debounced(2)
        await trio.sleep(5)
    assert log == [
        ("start", 0.5, 1),
        ("end", 2.5, 1),
        ("start", 2.5, 2),  # its quiet period ended at 1.5, but run 1 held the runner
        ("end", 4.5, 2),
    ]


async def test_debounce_flushes_on_normal_exit(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder()
    with trio.testing.assert_checkpoints():
        async with open_debouncer(rec, 10) as debounced:
            debounced("last")
    assert rec.runs == [(0, ("last",))]
    assert debounced.closed
    with pytest.raises(trio.ClosedResourceError, match=r"^debouncer is closed$"):
        debounced("late")


async def test_debounce_discards_on_error_exit(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder()
    with structlog.testing.capture_logs() as logs, pytest.raises(KeyError) as info:  # noqa: PT012
        async with open_debouncer(rec, 10) as debounced:
            debounced(1)
            raise KeyError("body")
    assert not isinstance(info.value, BaseExceptionGroup)
    assert rec.runs == []
    assert debounced.stats.discarded == 1
    assert logs == [_discarded("debouncer", 1, "warning")]


async def test_debounce_discards_on_cancellation(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder()
    with trio.move_on_after(1) as scope:
        async with open_debouncer(rec, 10) as debounced:
            debounced(1)
            await trio.sleep_forever()
    assert scope.cancelled_caught
    assert rec.runs == []
    assert debounced.stats.discarded == 1


async def test_debounce_fn_error_propagates_unwrapped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    def boom(_: int) -> None:
        raise ZeroDivisionError("fn failed")

    with pytest.raises(ZeroDivisionError, match=r"^fn failed$"):  # noqa: PT012 - out of the block
        async with open_debouncer(boom, 0.5) as debounced:
            debounced(1)
            await trio.sleep(10)
    assert trio.current_time() == 0.5


async def test_debounce_cancel_and_flush(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder()
    async with open_debouncer(rec, 1) as debounced:
        debounced(1)
        assert debounced.pending
        assert debounced.cancel() == 1
        assert debounced.cancel() == 0
        await trio.sleep(2)
        assert rec.runs == []
        debounced(2)
        with trio.testing.assert_checkpoints():
            assert await debounced.flush() is True
        with trio.testing.assert_checkpoints():
            assert await debounced.flush() is False
        assert rec.runs == [(2, (2,))]
        await trio.sleep(2)
    assert rec.runs == [(2, (2,))]
    assert debounced.stats == DebouncerStats(
        calls=2, runs=1, coalesced=0, discarded=1, pending=False
    )


async def test_debouncer_in_callers_nursery(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder()
    async with trio.open_nursery() as nursery:
        debounced = Debouncer(nursery, rec, 0.5)
        debounced("x")
        await trio.sleep(1)
        debounced("y")
        with trio.testing.assert_checkpoints():
            await debounced.aclose()  # runs "y" at once and stops the runner
    assert rec.runs == [(0.5, ("x",)), (1, ("y",))]
    assert trio.current_time() == 1


async def test_debouncer_stops_with_its_nursery(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder()
    with structlog.testing.capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            debounced = Debouncer(nursery, rec, 0.5)
            debounced("x")
            await trio.sleep(0.1)
            nursery.cancel_scope.cancel()
    assert rec.runs == []
    assert debounced.closed
    assert debounced.stats.discarded == 1
    assert logs == [_discarded("debouncer", 1, "warning")]


async def test_close_logs_what_it_discards_at_info(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trio_orch.store")
    rec = Recorder()
    with structlog.testing.capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            throttled = Throttler(nursery, rec, interval=1, leading=False)
            throttled(1)
            assert throttled.cancel() == 1  # asked for: counted, not logged
            throttled(2)
            throttled.close()  # asked for: logged at INFO
    assert rec.runs == []
    assert throttled.stats.discarded == 2
    assert logs == [_discarded("throttler", 1, "info")]


def test_per_second_and_interval_say_the_same_thing() -> None:
    async def main() -> None:
        async with trio.open_nursery() as nursery:
            by_rate = Throttler(nursery, print, 4)
            by_interval = Throttler(nursery, print, interval=0.25)
            assert (by_rate.per_second, by_rate.interval) == (4.0, 0.25)
            assert (by_interval.per_second, by_interval.interval) == (4.0, 0.25)
            third = Throttler(nursery, print, per_second=3)
            assert third.per_second == 3.0  # as given, not 1 / (1 / 3)
            for throttler in (by_rate, by_interval, third):
                throttler.close()

    trio.run(main)


async def test_debouncer_close_is_sync_and_final(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder()
    async with trio.open_nursery() as nursery:
        debounced = Debouncer(nursery, rec, 0.5)
        debounced(1)
        with trio.testing.assert_no_checkpoints():
            debounced.close()
        debounced.close()
    assert rec.runs == []
    assert trio.current_time() == 0


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"fn": 3, "delay": 1}, TypeError, r"^fn must be callable, got 3$"),
        ({"delay": "1"}, TypeError, r"^delay must be a number, got '1'$"),
        ({"delay": True}, TypeError, r"^delay must be a number, got True$"),
        ({"delay": -0.1}, ValueError, r"^delay must be finite and >= 0, got -0.1$"),
        ({"delay": math.inf}, ValueError, r"^delay must be finite and >= 0, got inf$"),
        ({"delay": math.nan}, ValueError, r"^delay must be finite and >= 0, got nan$"),
        ({"max_wait": 0}, ValueError, r"^max_wait must be finite and > 0, got 0$"),
        ({"max_wait": 0.5}, ValueError, r"^max_wait must be >= delay \(1\), got 0.5$"),
    ],
)
async def test_debouncer_bad_input(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    args: dict[str, Any] = {"fn": print, "delay": 1, **kwargs}
    with pytest.raises(error, match=message):
        open_debouncer(**args)
    async with trio.open_nursery() as nursery:
        with pytest.raises(error, match=message):
            Debouncer(nursery, **args)


async def test_debouncer_needs_a_nursery() -> None:
    with pytest.raises(TypeError, match=r"^nursery must be a trio.Nursery, got None$"):
        Debouncer(None, print, 1)  # type: ignore[arg-type]


# --- throttler ------------------------------------------------------------------------------


async def test_throttle_leading_and_trailing(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder()
    async with open_throttler(rec, 1.0) as throttled:
        await _call_at([(0, "a"), (0.2, "b"), (0.5, "c"), (2.5, "d")], throttled)
        await trio.sleep(3)
        assert throttled.stats == ThrottlerStats(
            calls=4, runs=3, coalesced=1, dropped=0, discarded=0, pending=False
        )
    assert rec.runs == [(0, ("a",)), (1.0, ("c",)), (2.5, ("d",))]


async def test_throttle_trailing_opens_next_interval(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rec = Recorder()
    async with open_throttler(rec, 1.0) as throttled:
        await _call_at([(0, 1), (0.5, 2), (1.5, 3), (1.6, 4)], throttled)
        await trio.sleep(3)
    assert rec.runs == [(0, (1,)), (1.0, (2,)), (2.0, (4,))]


async def test_throttle_without_trailing_drops(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder()
    async with open_throttler(rec, 1.0, trailing=False) as throttled:
        await _call_at([(0, 1), (0.5, 2), (0.9, 3), (1.2, 4)], throttled)
        await trio.sleep(3)
        assert throttled.stats.dropped == 2
    assert rec.runs == [(0, (1,)), (1.2, (4,))]


async def test_throttle_without_leading_waits(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder()
    async with open_throttler(rec, 1.0, leading=False) as throttled:
        await _call_at([(0, 1), (0.3, 2), (1.5, 3), (3.5, 4)], throttled)
        await trio.sleep(3)
    assert rec.runs == [(1.0, (2,)), (2.0, (3,)), (4.5, (4,))]


async def test_throttle_slow_fn_never_overlaps(autojump_clock: trio.testing.MockClock) -> None:
    log: list[tuple[str, float, int]] = []

    async def slow(n: int) -> None:
        log.append(("start", trio.current_time(), n))
        await trio.sleep(1.5)
        log.append(("end", trio.current_time(), n))

    async with open_throttler(slow, 1.0) as throttled:
        await _call_at([(0, 1), (0.5, 2)], throttled)
        await trio.sleep(5)
    assert log == [
        ("start", 0, 1),
        ("end", 1.5, 1),
        ("start", 1.5, 2),
        ("end", 3.0, 2),
    ]


async def test_throttle_flushes_pending_on_exit(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder()
    with trio.testing.assert_checkpoints():
        async with open_throttler(rec, interval=10) as throttled:
            throttled(1)
            throttled(2)
            throttled(3)
    assert rec.runs == [(0, (1,)), (0, (3,))]
    with pytest.raises(trio.ClosedResourceError, match=r"^throttler is closed$"):
        throttled(4)


async def test_throttle_discards_on_error_exit(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder()
    with pytest.raises(RuntimeError, match=r"^body$"):  # noqa: PT012 - raised by the block
        async with open_throttler(rec, interval=10) as throttled:
            throttled(1)
            await trio.sleep(1)
            throttled(2)
            raise RuntimeError("body")
    assert rec.runs == [(0, (1,))]
    assert throttled.stats.discarded == 1


async def test_throttle_fn_error_propagates_unwrapped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def boom(_: int) -> None:
        await trio.sleep(0.5)
        raise OSError("fn failed")

    with pytest.raises(OSError, match=r"^fn failed$"):  # noqa: PT012 - out of the block
        async with open_throttler(boom, 1) as throttled:
            throttled(1)
            await trio.sleep(10)
    assert trio.current_time() == 0.5


async def test_throttle_cancel_and_flush(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder()
    async with open_throttler(rec, 1, leading=False) as throttled:
        throttled(1)
        assert throttled.cancel() == 1
        assert throttled.cancel() == 0
        await trio.sleep(2)
        throttled(2)
        with trio.testing.assert_checkpoints():
            assert await throttled.flush() is True
        with trio.testing.assert_checkpoints():
            assert await throttled.flush() is False
        throttled(3)  # the flushed run opened an interval: this one trails it
        await trio.sleep(2)
    assert rec.runs == [(2, (2,)), (3, (3,))]


async def test_throttler_in_callers_nursery(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder()
    async with trio.open_nursery() as nursery:
        throttled = Throttler(nursery, rec, 1, leading=True, trailing=True)
        throttled(1)
        throttled(2)
        await trio.sleep(0.5)
        await throttled.aclose()
    assert rec.runs == [(0, (1,)), (0.5, (2,))]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"fn": None}, TypeError, r"^fn must be callable, got None$"),
        ({"per_second": 0}, ValueError, r"^per_second must be finite and > 0, got 0$"),
        ({"per_second": math.inf}, ValueError, r"^per_second must be finite and > 0, got inf$"),
        ({"per_second": None}, TypeError, r"^per_second must be a number, got None$"),
        ({"per_second": "2"}, TypeError, r"^per_second must be a number, got '2'$"),
        (
            {"per_second": None, "interval": 0},
            ValueError,
            r"^interval must be finite and > 0, got 0$",
        ),
        (
            {"per_second": None, "interval": -1},
            ValueError,
            r"^interval must be finite and > 0, got -1$",
        ),
        (
            {"interval": 0.5},
            TypeError,
            r"^per_second and interval say the same thing, give one, "
            r"got per_second=1 and interval=0\.5$",
        ),
        (
            {"leading": False, "trailing": False},
            ValueError,
            r"^leading and trailing cannot both be false, got False and False$",
        ),
        ({"leading": 1}, TypeError, r"^leading must be a bool, got 1$"),
        ({"trailing": None}, TypeError, r"^trailing must be a bool, got None$"),
    ],
)
async def test_throttler_bad_input(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    args: dict[str, Any] = {"fn": print, "per_second": 1, **kwargs}
    with pytest.raises(error, match=message):
        open_throttler(**args)
    async with trio.open_nursery() as nursery:
        with pytest.raises(error, match=message):
            Throttler(nursery, **args)


async def test_two_failures_come_out_as_a_group_with_a_note(
    autojump_clock: trio.testing.MockClock,
) -> None:
    def boom(_: int) -> None:
        raise ZeroDivisionError("fn failed")

    with pytest.raises(ExceptionGroup) as info:  # noqa: PT012 - raised by the block
        async with open_debouncer(boom, 0.5) as debounced:
            debounced(1)
            try:
                await trio.sleep(10)
            finally:
                raise KeyError("body failed too")  # replaces the Cancelled
    assert {type(e) for e in info.value.exceptions} == {ZeroDivisionError, KeyError}
    assert info.value.__notes__ == ["raised by open_debouncer(): 2 tasks failed at once"]


async def test_open_is_not_a_checkpoint_and_exit_is() -> None:
    for manager in (open_debouncer(print, 1), open_throttler(print, 1)):
        with trio.testing.assert_no_checkpoints():
            handle = await manager.__aenter__()
        assert not handle.closed
        with trio.testing.assert_checkpoints():
            await manager.__aexit__(None, None, None)
        assert handle.closed


async def test_throttler_stops_with_its_nursery(autojump_clock: trio.testing.MockClock) -> None:
    rec = Recorder()
    async with trio.open_nursery() as nursery:
        throttled = Throttler(nursery, rec, 1)
        throttled(1)
        throttled(2)
        await trio.sleep(0.5)
        with trio.testing.assert_no_checkpoints():
            throttled.close()
    assert rec.runs == [(0, (1,))]
    assert throttled.stats == ThrottlerStats(
        calls=2, runs=1, coalesced=0, dropped=0, discarded=1, pending=False
    )
    assert trio.current_time() == 0.5


def _discarded(kind: str, count: int, level: str) -> dict[str, object]:
    return {
        "event": "trio_orch.store.calls_discarded",
        "kind": kind,
        "fn": "Recorder",
        "count": count,
        "log_level": level,
    }


# --- properties against reference models ----------------------------------------------------

call_times = st.lists(st.integers(0, 30), max_size=25).map(sorted)


def _drive(times: list[int], target: Any) -> Any:
    """Call ``target(i)`` at virtual time ``times[i]``."""
    return _call_at([(float(t), i) for i, t in enumerate(times)], target)


def _debounce_model(times: list[int], delay: float) -> list[tuple[float, int]]:
    runs = []
    for i, t in enumerate(times):
        if i + 1 == len(times) or times[i + 1] - t > delay:
            runs.append((t + delay, i))
    return runs


def _throttle_model(times: list[int], interval: float) -> list[tuple[float, int]]:
    runs: list[tuple[float, int]] = []
    window_end = -math.inf
    pending: int | None = None

    def trailing_until(now: float) -> None:
        nonlocal window_end, pending
        while pending is not None and window_end <= now:
            runs.append((window_end, pending))
            window_end += interval
            pending = None

    for i, t in enumerate(times):
        trailing_until(t)
        if t >= window_end and pending is None:
            runs.append((t, i))
            window_end = t + interval
        else:
            pending = i
    trailing_until(math.inf)
    return runs


@settings(max_examples=50)
@given(times=call_times, delay=st.sampled_from([0.5, 1.5, 2.5]))
def test_debouncer_matches_model(times: list[int], delay: float) -> None:
    async def main() -> list[tuple[float, int]]:
        runs: list[tuple[float, int]] = []
        async with open_debouncer(lambda i: runs.append((trio.current_time(), i)), delay) as d:
            await _drive(times, d)
            await trio.sleep(delay * 2)
        return runs

    runs = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    expected = _debounce_model(times, delay)
    assert [i for _, i in runs] == [i for _, i in expected]
    assert [at for at, _ in runs] == pytest.approx([at for at, _ in expected])


@settings(max_examples=50)
@given(times=call_times, interval=st.sampled_from([math.pi / 2, math.e, 0.3 * math.pi]))
def test_throttler_matches_model(times: list[int], interval: float) -> None:
    async def main() -> list[tuple[float, int]]:
        runs: list[tuple[float, int]] = []
        throttler = open_throttler(
            lambda i: runs.append((trio.current_time(), i)), interval=interval
        )
        async with throttler as t:
            await _drive(times, t)
            await trio.sleep(interval * 2)
        return runs

    runs = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    expected = _throttle_model(times, interval)
    assert [i for _, i in runs] == [i for _, i in expected]
    assert [at for at, _ in runs] == pytest.approx([at for at, _ in expected])
