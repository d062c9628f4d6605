"""The progress tracker: the loop records in O(1), a worker thread computes the estimates."""

from __future__ import annotations

import functools
import itertools
import logging
import math
import sys
import threading
import tracemalloc
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_orch import (
    ProgressSnapshot,
    ProgressStats,
    ProgressTracker,
    open_progress_tracker,
)

if TYPE_CHECKING:
    import types
    from collections.abc import Callable

T = TypeVar("T")


async def run_inline(fn: Callable[[], T]) -> T:
    """A thread runner for ``autojump_clock`` tests: compute on the spot, no virtual time."""
    await trio.lowlevel.checkpoint()
    return fn()


# Trackers for autojump_clock tests: batches take no virtual time.
open_tracker = functools.partial(open_progress_tracker, run_sync=run_inline)

# --- the tracker -------------------------------------------------------------------------------

# A tick so long it never fires: tests drive the batches with refresh() for exact results.
MANUAL = 1e6


async def test_tracker_estimates_in_batches(autojump_clock: trio.testing.MockClock) -> None:
    async with open_tracker(tick=MANUAL) as tracker:
        task = tracker.track("download-1", total=1_000_000)
        first = tracker.snapshot("download-1")
        assert first == ProgressSnapshot(progress=0.0, smoothed=0.0, rate=0.0, eta=None, at=0.0)
        for _ in range(5):
            await trio.sleep(1.0)
            task.advance(40_960)
            await tracker.refresh()
        snap = tracker.snapshot("download-1")
        assert trio.current_time() == 5.0
        assert snap.at == 5.0
        assert snap.progress == pytest.approx(0.2048)
        assert snap.rate == pytest.approx(0.04096, rel=1e-9)
        assert snap.eta == pytest.approx(0.7952 / 0.04096, rel=1e-9)
        assert tracker.stats == ProgressStats(tasks=1, batches=5, skipped_ticks=0)


async def test_total_zero_is_complete_at_once(autojump_clock: trio.testing.MockClock) -> None:
    async with open_tracker() as tracker:
        tracker.track("empty", total=0)
        snap = tracker.snapshot("empty")
        assert (snap.progress, snap.smoothed, snap.eta) == (1.0, 1.0, 0.0)


async def test_set_done_and_untrack(autojump_clock: trio.testing.MockClock) -> None:
    async with open_tracker(tick=MANUAL) as tracker:
        task = tracker.track("a", total=10)
        task.set(4)
        assert (task.value, task.fraction) == (4.0, 0.4)
        task.set(2)  # going back is allowed; the display does not follow
        await trio.sleep(1)
        await tracker.refresh()
        task.done()
        assert tracker.task("a") is task
        await trio.sleep(1)
        snaps = await tracker.refresh()
        assert (snaps["a"].progress, snaps["a"].eta) == (1.0, 0.0)
        tracker.untrack("a")
        assert "a" not in await tracker.refresh()
        with pytest.raises(KeyError, match=r"no progress task named 'a'"):
            tracker.task("a")


async def test_overall_is_weighted(autojump_clock: trio.testing.MockClock) -> None:
    async with open_tracker(tick=MANUAL) as tracker:
        assert tracker.overall().progress == 0.0
        fast = tracker.track("fast", weight=1.0)
        slow = tracker.track("slow", total=100, weight=3.0)
        for _ in range(4):
            await trio.sleep(1)
            fast.advance(0.25)
            slow.advance(5)
            await tracker.refresh()
        overall = tracker.overall()
        assert overall.progress == pytest.approx((1.0 * 1.0 + 3.0 * 0.2) / 4.0)
        assert overall.at == 4.0
        assert overall.rate > 0
        assert overall.eta is not None


async def test_many_tasks_record_while_the_worker_computes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The real worker thread: virtual time may move on while it computes (nothing here depends
    # on exact times), the estimates must stay consistent.
    seen: list[dict[str, float]] = []
    async with open_progress_tracker(tick=0.05) as tracker:

        async def work(i: int) -> None:
            task = tracker.track(f"t{i}", total=100)
            for _ in range(100):
                task.advance(1)
                await trio.sleep(0.01)

        async def watch() -> None:
            # A loop, not a comprehension: this task is cancelled, what it saw must stay.
            async for snapshots in tracker.updates():
                seen.append({name: s.smoothed for name, s in snapshots.items()})  # noqa: PERF401

        async with trio.open_nursery() as outer:
            outer.start_soon(watch)
            async with trio.open_nursery() as nursery:
                for i in range(50):
                    nursery.start_soon(work, i)
            final = await tracker.refresh()
            assert all(s.progress == 1.0 and s.eta == 0.0 for s in final.values())
            assert len(final) == 50
            await trio.testing.wait_all_tasks_blocked()
            outer.cancel_scope.cancel(reason="test done")
        # how many ticks fit depends on the real thread's speed (virtual time jumps while it
        # computes), so only at least one; the invariant below holds for every pair seen
        assert tracker.stats.batches >= 1
    assert len(seen) >= 1
    for before, after in itertools.pairwise(seen):
        assert all(after[name] >= value for name, value in before.items() if name in after)


async def test_updates_end_when_the_tracker_closes(autojump_clock: trio.testing.MockClock) -> None:
    batches: list[int] = []
    async with trio.open_nursery() as nursery:
        async with open_tracker(tick=1.0) as tracker:
            task = tracker.track("a")

            async def consume() -> None:
                batches.extend([len(snapshots) async for snapshots in tracker.updates()])

            nursery.start_soon(consume)
            await trio.sleep(3.5)
            task.done()
        assert tracker.closed
    assert batches == [1, 1, 1]


async def test_checkpoints(autojump_clock: trio.testing.MockClock) -> None:
    async with open_tracker(tick=MANUAL) as tracker:
        updates = tracker.updates()
        with trio.testing.assert_checkpoints():
            await tracker.refresh()
        with trio.testing.assert_checkpoints():  # a batch is already waiting: fast path
            await updates.__anext__()
    with trio.testing.assert_checkpoints(), pytest.raises(StopAsyncIteration):
        await updates.__anext__()
    with trio.testing.assert_checkpoints(), pytest.raises(trio.ClosedResourceError):
        await tracker.refresh()


async def test_cancellation_waits_for_the_worker_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    started = trio.Event()
    release, finished = threading.Event(), threading.Event()
    compute = ProgressTracker._compute

    def slow_compute(self: ProgressTracker, *args: object) -> object:
        trio.from_thread.run_sync(started.set)
        release.wait(timeout=10)
        result = compute(self, *args)  # type: ignore[arg-type]
        finished.set()
        return result

    monkeypatch.setattr(ProgressTracker, "_compute", slow_compute)
    with trio.CancelScope() as scope:
        async with open_progress_tracker(tick=MANUAL) as tracker:
            tracker.track("a")
            async with trio.open_nursery() as nursery:
                nursery.start_soon(tracker.refresh)
                await started.wait()
                scope.cancel(reason="test")
                release.set()
    assert scope.cancelled_caught
    assert started.is_set()
    assert finished.is_set()  # the thread ended before the block exited
    assert tracker.closed


async def test_body_error_propagates_unwrapped() -> None:
    with pytest.raises(RuntimeError, match=r"^boom$"):
        async with open_progress_tracker():
            raise RuntimeError("boom")


async def test_body_error_keeps_its_own_context() -> None:
    async def body() -> None:
        async with open_progress_tracker():
            try:
                raise KeyError("first")
            except KeyError:
                raise RuntimeError("while handling")  # noqa: B904 - the implicit context

    with pytest.raises(RuntimeError, match=r"^while handling$") as info:
        await body()
    assert isinstance(info.value.__context__, KeyError)
    assert not info.value.__suppress_context__
    assert info.value.__cause__ is None


async def test_tracker_bad_input(autojump_clock: trio.testing.MockClock) -> None:
    for tick, shown in [(0, "0"), (-1.0, "-1.0"), (math.nan, "nan")]:
        with pytest.raises(ValueError, match=rf"^tick must be finite and > 0, got {shown}$"):
            async with open_progress_tracker(tick=tick):
                pass  # pragma: no cover
    async with open_tracker() as tracker:
        task = tracker.track("a", total=10)
        with pytest.raises(ValueError, match=r"^name must not be tracked already, got 'a'$"):
            tracker.track("a")
        with pytest.raises(ValueError, match=r"^total must be finite and >= 0, got -1$"):
            tracker.track("b", total=-1)
        with pytest.raises(ValueError, match=r"^weight must be finite and > 0, got 0$"):
            tracker.track("b", weight=0)
        with pytest.raises(ValueError, match=r"^amount must be >= 0, got -1$"):
            task.advance(-1)
        with pytest.raises(ValueError, match=r"^amount must be >= 0, got nan$"):
            task.advance(math.nan)
        with pytest.raises(ValueError, match=r"^amount must be finite, got inf$"):
            task.advance(math.inf)
        with pytest.raises(TypeError, match=r"^amount must be a number, got True$"):
            task.advance(True)
        with pytest.raises(TypeError, match=r"^amount must be a number, got '1'$"):
            task.advance("1")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"^name must be a str, got 5$"):
            tracker.track(5)  # type: ignore[arg-type]
        assert task.fraction == 0.0  # the rejected amounts left it alone
        with pytest.raises(ValueError, match=r"^value must be finite and >= 0, got inf$"):
            task.set(math.inf)
        with pytest.raises(TypeError, match=r"^total must be a number, got '10'$"):
            tracker.track("b", total="10")  # type: ignore[arg-type]
        with pytest.raises(KeyError, match=r"no progress task named 'zzz'"):
            tracker.snapshot("zzz")
        with pytest.raises(KeyError, match=r"no progress task named 'zzz'"):
            tracker.untrack("zzz")
        assert task.value == 0.0
    with pytest.raises(trio.ClosedResourceError, match=r"^the progress tracker is closed$"):
        tracker.track("c")
    assert tracker.snapshot("a").progress == 0.0  # the last estimates stay readable


_ops = st.lists(
    st.one_of(
        st.tuples(st.just("advance"), st.integers(0, 2), st.floats(0, 30)),
        st.tuples(st.just("set"), st.integers(0, 2), st.floats(0, 120)),
        st.tuples(st.just("done"), st.integers(0, 2), st.just(0.0)),
        st.tuples(st.just("sleep"), st.just(0), st.floats(0, 2)),
        st.tuples(st.just("refresh"), st.just(0), st.just(0.0)),
    ),
    max_size=40,
)


@settings(max_examples=40)
@given(_ops)
def test_tracker_estimates_stay_well_formed(ops: list[tuple[str, int, float]]) -> None:
    async def scenario() -> None:
        shown: dict[str, float] = {}
        async with open_tracker(tick=0.25) as tracker:
            tasks = [
                tracker.track("a", total=100),
                tracker.track("b", total=0),
                tracker.track("c", total=50, weight=4),
            ]
            for op, i, amount in ops:
                if op == "advance":
                    tasks[i].advance(amount)
                elif op == "set":
                    tasks[i].set(amount)
                elif op == "done":
                    tasks[i].done()
                elif op == "sleep":
                    await trio.sleep(amount)
                else:
                    await tracker.refresh()
                for name, snap in tracker.snapshots().items():
                    assert 0.0 <= snap.smoothed <= 1.0
                    assert snap.smoothed >= shown.get(name, 0.0)
                    assert snap.eta is None or 0.0 <= snap.eta < math.inf
                    shown[name] = snap.smoothed
                overall = tracker.overall()
                assert 0.0 <= overall.smoothed <= 1.0
            for task in tasks:
                task.done()
            final = await tracker.refresh()
        assert all(s.smoothed == 1.0 and s.eta == 0.0 for s in final.values())
        assert tracker.overall().smoothed == 1.0

    trio.run(scenario, clock=trio.testing.MockClock(autojump_threshold=0))


# --- O(1) track, counted -------------------------------------------------------------------------


def _lines_run(fn: Callable[[], object]) -> int:
    """How many lines of trio_orch's progress module ``fn()`` runs (a deterministic count)."""
    count = 0
    module = sys.modules[ProgressTracker.__module__].__file__

    def tracer(frame: types.FrameType, event: str, arg: object) -> Any:
        nonlocal count
        if frame.f_code.co_filename != module:
            return None
        if event == "line":
            count += 1
        return tracer

    previous = sys.gettrace()  # coverage's tracer, when it runs: put it back after
    sys.settrace(tracer)
    try:
        fn()
    finally:
        sys.settrace(previous)
    return count


def _peak_bytes(fn: Callable[[], object]) -> int:
    """The most memory ``fn()`` held at once: a copy of a table of n tasks shows up here."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()


async def test_track_is_o1_per_task(autojump_clock: trio.testing.MockClock) -> None:
    async with open_tracker(tick=MANUAL) as tracker:
        await tracker.refresh()
        published = tracker.snapshots()
        lines: dict[int, int] = {}
        peak: dict[int, int] = {}
        for i in range(3000):
            if i in (10, 2990):
                lines[i] = _lines_run(functools.partial(tracker.track, f"t{i}"))
            elif i in (20, 2980):
                peak[i] = _peak_bytes(functools.partial(tracker.track, f"t{i}"))
            else:
                tracker.track(f"t{i}")
        # The same lines for the 11th task as for the 2991st: no loop over the others ...
        assert lines[10] == lines[2990]
        # ... and no copy of the table (a copy of 3,000 entries would be ~100 kB).
        assert peak[2980] <= peak[20] + 512
        assert tracker.snapshots() is not published  # the published mapping was not touched
        assert len(published) == 0
        assert len(tracker.snapshots()) == 3000
        # untrack is O(1) as well.
        first = _lines_run(functools.partial(tracker.untrack, "t0"))
        assert _lines_run(functools.partial(tracker.untrack, "t2999")) == first
        assert tracker.stats.tasks == 2998


async def test_tasks_tracked_during_a_batch_keep_their_first_snapshot(
    autojump_clock: trio.testing.MockClock,
) -> None:
    gate = trio.Event()

    async def gated(fn: Callable[[], T]) -> T:
        await gate.wait()
        return fn()

    async with open_progress_tracker(tick=MANUAL, run_sync=gated) as tracker:
        tracker.track("before").advance(0.5)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(tracker.refresh)
            await trio.testing.wait_all_tasks_blocked()
            tracker.track("during")
            assert set(tracker.snapshots()) == {"before", "during"}
            tracker.track("gone")
            assert set(tracker.snapshots()) == {"before", "during", "gone"}
            tracker.untrack("gone")
            assert set(tracker.snapshots()) == {"before", "during"}
            gate.set()
        assert tracker.snapshot("before").progress == 0.5
        assert tracker.snapshot("during").at == 0.0
        assert set(tracker.snapshots()) == {"before", "during"}
        assert tracker.snapshots() is tracker.snapshots()  # merged once, then reused
        snaps = await tracker.refresh()
        assert set(snaps) == {"before", "during"}
        assert tracker.stats.batches == 2


# --- the thread runner ---------------------------------------------------------------------------


async def test_the_default_runner_is_a_worker_thread() -> None:
    threads: list[threading.Thread] = []
    compute = ProgressTracker._compute

    def spy(self: ProgressTracker, *args: object) -> object:
        threads.append(threading.current_thread())
        return compute(self, *args)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ProgressTracker, "_compute", spy)
        async with open_progress_tracker(tick=MANUAL) as tracker:
            tracker.track("a")
            await tracker.refresh()
    assert len(threads) == 1
    assert threads[0] is not threading.main_thread()


async def test_a_runner_can_be_injected(autojump_clock: trio.testing.MockClock) -> None:
    calls: list[float] = []

    async def runner(fn: Callable[[], T]) -> T:
        calls.append(trio.current_time())
        await trio.lowlevel.checkpoint()
        return fn()

    async with open_progress_tracker(tick=0.5, run_sync=runner) as tracker:
        tracker.track("a")
        await trio.sleep(1.75)
    assert calls == [0.5, 1.0, 1.5]
    assert tracker.stats == ProgressStats(tasks=1, batches=3, skipped_ticks=0)


async def test_overrun_ticks_are_skipped_counted_and_logged(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="trio_orch.progress")

    async def slow(fn: Callable[[], T]) -> T:
        await trio.sleep(2.5)  # each batch overruns two and a half ticks
        return fn()

    async with open_progress_tracker(tick=1.0, run_sync=slow) as tracker:
        tracker.track("a")
        await trio.sleep(7.0)
    # Batches start at 1 (ends 3.5), 4 (ends 6.5); ticks 2, 3 and 5, 6 were skipped.
    assert tracker.stats == ProgressStats(tasks=1, batches=2, skipped_ticks=4)
    assert [r.name for r in caplog.records] == ["trio_orch.progress"] * 2
    assert "trio_orch.progress.ticks_skipped" in caplog.records[0].getMessage()


async def test_run_sync_must_be_callable() -> None:
    with pytest.raises(TypeError, match=r"^run_sync must be callable or None, got 3$"):
        async with open_progress_tracker(run_sync=3):  # type: ignore[arg-type]
            pass  # pragma: no cover


async def test_snapshots_carry_the_range(autojump_clock: trio.testing.MockClock) -> None:
    async with open_tracker(tick=1.0) as tracker:
        task = tracker.track("a", total=100)
        await trio.sleep(0.5)  # advance between the ticks, at 0.5, 1.5, ...
        for _ in range(10):
            task.advance(5)
            await trio.sleep(1.0)
        snap = tracker.snapshot("a")
        assert (snap.at, snap.progress) == (10.0, 0.5)
        assert snap.rate == pytest.approx(0.05, rel=1e-9)
        assert snap.eta == pytest.approx((1.0 - snap.progress) / 0.05, rel=1e-9)
        assert snap.eta is not None
        assert snap.eta_low is not None
        assert snap.eta_high is not None
        # A straight history: nothing suggests an early end, a later one is always possible.
        assert snap.eta_low == pytest.approx(snap.eta, rel=1e-9)
        assert snap.eta < snap.eta_high


async def test_a_failing_runner_fails_the_block(autojump_clock: trio.testing.MockClock) -> None:
    async def broken(fn: Callable[[], T]) -> T:
        await trio.lowlevel.checkpoint()
        raise RuntimeError("no threads today")

    trackers: list[ProgressTracker] = []

    async def body() -> None:
        async with open_progress_tracker(tick=1.0, run_sync=broken) as tracker:
            trackers.append(tracker)
            tracker.track("a")
            await trio.sleep(5)

    with pytest.raises(RuntimeError, match=r"^no threads today$"):
        await body()
    assert trio.current_time() == 1.0
    assert trackers[0].closed
    assert trackers[0].stats.batches == 0
