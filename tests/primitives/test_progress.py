"""EtaEstimator (pure model) and the progress tracker (loop records, worker thread computes)."""

from __future__ import annotations

import itertools
import math
import threading

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks import _traces
from trio_orch import (
    EtaEstimator,
    ProgressSnapshot,
    ProgressStats,
    ProgressTracker,
    open_progress_tracker,
)

# --- EtaEstimator: exact results ---------------------------------------------------------------


def test_first_sample_has_no_rate_and_no_eta() -> None:
    snap = EtaEstimator().update(0.45, at=12.0)
    assert snap == ProgressSnapshot(progress=0.45, smoothed=0.45, rate=0.0, eta=None, at=12.0)
    assert not snap.done


def test_steady_trace_gives_the_exact_rate_and_eta() -> None:
    est = EtaEstimator()
    for t in range(6):
        snap = est.update(0.1 * t, at=float(t))
    assert snap.progress == pytest.approx(0.5)
    assert snap.rate == pytest.approx(0.1, rel=1e-9)
    assert snap.eta == pytest.approx(5.0, rel=1e-9)
    assert snap.at == 5.0
    assert not snap.stalled
    assert est.last is snap


def test_no_progress_yet_means_unknown_eta() -> None:
    est = EtaEstimator()
    for t in range(5):
        snap = est.update(0.0, at=float(t))
    assert snap.rate == 0.0
    assert snap.eta is None


@pytest.mark.parametrize("start", [0.0, 12.0, 123_456.7])
def test_flat_progress_above_zero_means_unknown_eta(start: float) -> None:
    # The fitted slope through equal values is rounding noise (~1e-17), not a rate:
    # it used to give an eta of ~4e16 s.
    est = EtaEstimator()
    for t in range(4):
        snap = est.update(0.3, at=start + t)
    assert (snap.rate, snap.eta) == (0.0, None)
    regressed = EtaEstimator()
    regressed.update(0.1, at=start)
    snap = regressed.update(0.05, at=start + 1)
    assert (snap.smoothed, snap.rate, snap.eta) == (0.1, 0.0, None)


def test_complete_means_eta_zero() -> None:
    est = EtaEstimator()
    est.update(0.2, at=0.0)
    snap = est.update(1.0, at=1.0)
    assert (snap.smoothed, snap.eta, snap.done) == (1.0, 0.0, True)
    # Complete from the very first sample too.
    assert EtaEstimator().update(1.0, at=3.0).eta == 0.0


def test_regression_is_recorded_but_smoothed_never_runs_back() -> None:
    est = EtaEstimator()
    est.update(0.5, at=0.0)
    snap = est.update(0.3, at=1.0)
    assert (snap.progress, snap.smoothed) == (0.3, 0.5)


def test_out_of_range_values_are_clamped() -> None:
    est = EtaEstimator()
    assert est.update(-0.5, at=0.0).progress == 0.0
    snap = est.update(1.5, at=1.0)
    assert (snap.progress, snap.smoothed, snap.eta) == (1.0, 1.0, 0.0)


def test_equal_times_are_allowed() -> None:
    est = EtaEstimator()
    est.update(0.1, at=1.0)
    snap = est.update(0.2, at=1.0)
    assert (snap.smoothed, snap.at, snap.eta) == (0.2, 1.0, None)


def test_stall_holds_rate_and_eta_then_resumes() -> None:
    est = EtaEstimator()
    for i in range(21):  # 0.01 per 0.1 s: rate 0.1/s
        before = est.update(0.01 * i, at=0.1 * i)
    assert before.rate == pytest.approx(0.1, rel=1e-6)
    for i in range(1, 31):  # 3 s without progress
        stalled = est.update(0.2, at=2.0 + 0.1 * i)
    assert stalled.stalled
    assert stalled.rate == before.rate
    assert stalled.eta == pytest.approx(8.0, rel=1e-6)
    resumed = est.update(0.21, at=5.1)
    assert not resumed.stalled
    # The stall is cut out of the fits' time axis, so the speed is still about 0.1/s.
    assert resumed.rate == pytest.approx(0.1, rel=0.05)


def test_speeding_up_bends_the_eta_down() -> None:
    est = EtaEstimator()
    # progress = t**2 / 400: at t=10, a quarter done at 0.05/s, and done 10 s later (not 15).
    for i in range(101):
        t = 0.1 * i
        snap = est.update(t * t / 400.0, at=t)
    assert snap.rate == pytest.approx(0.05, rel=0.05)
    assert snap.eta is not None
    assert snap.eta < 0.75 / snap.rate
    assert snap.eta == pytest.approx(10.0, rel=0.1)


@pytest.mark.parametrize("kind", _traces.KINDS)
def test_beats_tqdm_ema_on_every_trace(kind: str) -> None:
    trace = _traces.make_trace(kind, seed=1)
    ours = _traces.eta_errors(trace, _traces.ESTIMATORS["ours"])
    ema = _traces.eta_errors(trace, _traces.ESTIMATORS["tqdm-ema"])
    assert ours < ema


# --- EtaEstimator: bad input ---------------------------------------------------------------------


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_progress_must_be_finite(bad: float) -> None:
    est = EtaEstimator()
    with pytest.raises(ValueError, match=rf"^progress must be a finite number, got {bad!r}$"):
        est.update(bad, at=0.0)
    assert est.last is None


@pytest.mark.parametrize("bad", ["0.5", None, True])
def test_progress_must_be_a_number(bad: object) -> None:
    est = EtaEstimator()
    with pytest.raises(TypeError, match=r"^progress must be a number, got .*$"):
        est.update(bad, at=0.0)  # type: ignore[arg-type]
    assert est.last is None


def test_at_must_be_finite_and_not_run_backwards() -> None:
    est = EtaEstimator()
    with pytest.raises(ValueError, match=r"^at must be a finite number, got nan$"):
        est.update(0.1, at=math.nan)
    first = est.update(0.1, at=5.0)
    with pytest.raises(
        ValueError, match=r"^at must be >= the previous sample's time \(5\.0\), got 4\.0$"
    ):
        est.update(0.2, at=4.0)
    assert est.last is first


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"short_half_life": 0}, r"^short_half_life must be finite and > 0, got 0$"),
        ({"long_half_life": math.inf}, r"^long_half_life must be finite and > 0, got inf$"),
        ({"stall_after": -1.0}, r"^stall_after must be finite and > 0, got -1\.0$"),
        ({"stall_gaps": math.nan}, r"^stall_gaps must be finite and > 0, got nan$"),
        (
            {"short_half_life": 5.0, "long_half_life": 2.0},
            r"^short_half_life must be <= long_half_life \(2\.0\), got 5\.0$",
        ),
    ],
)
def test_estimator_options_are_validated(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EtaEstimator(**kwargs)


# --- EtaEstimator: properties ------------------------------------------------------------------

_samples = st.lists(
    st.tuples(
        st.floats(min_value=0.0, max_value=5.0),
        st.one_of(st.floats(min_value=-0.5, max_value=1.5), st.sampled_from([0.0, 1.0])),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=200)
@given(_samples)
def test_estimates_stay_well_formed(samples: list[tuple[float, float]]) -> None:
    est = EtaEstimator()
    t = 0.0
    previous = 0.0
    for dt, value in samples:
        t += dt
        snap = est.update(value, at=t)
        assert 0.0 <= snap.smoothed <= 1.0
        assert snap.smoothed >= previous
        assert math.isfinite(snap.rate)
        assert snap.rate >= 0.0
        assert snap.eta is None or (math.isfinite(snap.eta) and snap.eta >= 0.0)
        if snap.smoothed == 1.0:
            assert snap.eta == 0.0
        previous = snap.smoothed


@settings(max_examples=50)
@given(_samples)
def test_estimator_is_deterministic(samples: list[tuple[float, float]]) -> None:
    a, b = EtaEstimator(), EtaEstimator()
    t = 0.0
    for dt, value in samples:
        t += dt
        assert a.update(value, at=t) == b.update(value, at=t)


# --- the tracker -------------------------------------------------------------------------------

# A tick so long it never fires: tests drive the batches with refresh() for exact results.
MANUAL = 1e6


async def test_tracker_estimates_in_batches(autojump_clock: trio.testing.MockClock) -> None:
    async with open_progress_tracker(tick=MANUAL) as tracker:
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
        assert tracker.statistics() == ProgressStats(tasks=1, batches=5, skipped_ticks=0)


async def test_total_zero_is_complete_at_once(autojump_clock: trio.testing.MockClock) -> None:
    async with open_progress_tracker() as tracker:
        tracker.track("empty", total=0)
        snap = tracker.snapshot("empty")
        assert (snap.progress, snap.smoothed, snap.eta) == (1.0, 1.0, 0.0)


async def test_set_done_and_untrack(autojump_clock: trio.testing.MockClock) -> None:
    async with open_progress_tracker(tick=MANUAL) as tracker:
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
    async with open_progress_tracker(tick=MANUAL) as tracker:
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
    seen: list[dict[str, float]] = []
    async with open_progress_tracker(tick=0.05) as tracker:

        async def work(i: int) -> None:
            task = tracker.track(f"t{i}", total=200)
            for _ in range(200):
                task.advance(1)
                await trio.sleep(0.01)

        async def watch() -> None:
            # A loop, not a comprehension: this task is cancelled, what it saw must stay.
            async for snapshots in tracker.updates():
                seen.append({name: s.smoothed for name, s in snapshots.items()})  # noqa: PERF401

        async with trio.open_nursery() as outer:
            outer.start_soon(watch)
            async with trio.open_nursery() as nursery:
                for i in range(100):
                    nursery.start_soon(work, i)
            final = await tracker.refresh()
            assert all(s.progress == 1.0 and s.eta == 0.0 for s in final.values())
            assert len(final) == 100
            await trio.testing.wait_all_tasks_blocked()
            outer.cancel_scope.cancel(reason="test done")
        assert tracker.statistics().batches >= 10
    assert len(seen) >= 10
    for before, after in itertools.pairwise(seen):
        assert all(after[name] >= value for name, value in before.items() if name in after)


async def test_updates_end_when_the_tracker_closes(autojump_clock: trio.testing.MockClock) -> None:
    batches: list[int] = []
    async with trio.open_nursery() as nursery:
        async with open_progress_tracker(tick=1.0) as tracker:
            task = tracker.track("a")

            async def consume() -> None:
                batches.extend([len(snapshots) async for snapshots in tracker.updates()])

            nursery.start_soon(consume)
            await trio.sleep(3.5)
            task.done()
        assert tracker.closed
    assert batches == [1, 1, 1]


async def test_checkpoints(autojump_clock: trio.testing.MockClock) -> None:
    async with open_progress_tracker(tick=MANUAL) as tracker:
        updates = tracker.updates()
        with trio.testing.assert_checkpoints():
            await tracker.refresh()
        with trio.testing.assert_checkpoints():  # a batch is already waiting: fast path
            await updates.__anext__()
    with trio.testing.assert_checkpoints(), pytest.raises(StopAsyncIteration):
        await updates.__anext__()
    with trio.testing.assert_checkpoints(), pytest.raises(trio.ClosedResourceError):
        await tracker.refresh()


async def test_cancellation_waits_for_the_worker_thread(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
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
    async with open_progress_tracker() as tracker:
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
        async with open_progress_tracker(tick=0.25) as tracker:
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
