"""EtaEstimator: exact results, scale-freeness, stalls, revisions, the 80 % range, format_eta."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks import _traces
from trio_orch import EtaEstimator, ProgressSnapshot, format_eta

# --- exact results -------------------------------------------------------------------------------


def test_first_sample_has_no_rate_and_no_eta() -> None:
    snap = EtaEstimator().update(0.45, at=12.0)
    assert snap == ProgressSnapshot(progress=0.45, smoothed=0.45, rate=0.0, eta=None, at=12.0)
    assert (snap.eta_low, snap.eta_high, snap.done) == (None, None, False)


@pytest.mark.parametrize(("start", "first"), [(0.0, 0.0), (12.0, 0.3), (1e6, 0.9)])
def test_eta_from_the_second_sample(start: float, first: float) -> None:
    est = EtaEstimator()
    est.update(first, at=start)
    snap = est.update(first + 0.05, at=start + 2.0)
    assert snap.rate == pytest.approx(0.025, rel=1e-9)
    left = 1.0 - first - 0.05
    assert snap.eta == pytest.approx(left / 0.025, rel=1e-9)
    # One interval says little: the range is wide, and around the estimate.
    assert snap.eta is not None
    assert snap.eta_low is not None
    assert snap.eta_high is not None
    assert snap.eta_low < snap.eta / 3 < snap.eta * 3 < snap.eta_high


def test_steady_trace_gives_the_exact_rate_and_eta() -> None:
    est = EtaEstimator()
    for t in range(11):
        snap = est.update(0.05 * t, at=float(t))
    assert snap.progress == pytest.approx(0.5)
    assert snap.rate == pytest.approx(0.05, rel=1e-9)
    assert snap.eta == pytest.approx(10.0, rel=1e-9)
    assert snap.at == 10.0
    assert not snap.stalled
    assert est.last is snap
    # A perfectly straight trace leaves only the upward allowance for changes not seen yet:
    # nothing in it suggests that the job ends early.
    assert snap.eta_low == pytest.approx(10.0, rel=1e-9)
    assert snap.eta_high is not None
    assert 10.0 < snap.eta_high < 20.0


def test_no_progress_yet_means_unknown_eta() -> None:
    est = EtaEstimator()
    for t in range(5):
        snap = est.update(0.0, at=float(t))
    assert (snap.rate, snap.eta, snap.eta_low, snap.eta_high) == (0.0, None, None, None)


@pytest.mark.parametrize("start", [0.0, 12.0, 123_456.7])
def test_flat_progress_above_zero_means_unknown_eta(start: float) -> None:
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
    assert (snap.smoothed, snap.eta, snap.eta_low, snap.eta_high, snap.done) == (
        1.0,
        0.0,
        0.0,
        0.0,
        True,
    )
    assert EtaEstimator().update(1.0, at=3.0).eta == 0.0


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
    # The progress made at no time counts in the next interval.
    snap = est.update(0.3, at=3.0)
    assert snap.rate == pytest.approx(0.1, rel=1e-9)
    assert snap.eta == pytest.approx(7.0, rel=1e-9)


def test_a_lower_fraction_is_a_revised_total() -> None:
    est = EtaEstimator()
    for t in range(6):
        est.update(0.1 * t, at=float(t))
    # The total doubled: 0.5 done is now 0.25, and the speed in fractions halves.
    snap = est.update(0.25, at=5.0)
    assert (snap.progress, snap.smoothed) == (0.25, 0.5)
    assert snap.rate == pytest.approx(0.05, rel=1e-9)
    assert snap.eta == pytest.approx(15.0, rel=1e-9)
    snap = est.update(0.3, at=6.0)
    assert snap.rate == pytest.approx(0.05, rel=1e-9)
    assert snap.eta == pytest.approx(14.0, rel=1e-9)


def test_a_revised_total_counts_the_work_since_the_previous_sample() -> None:
    est = EtaEstimator()
    for t in range(11):
        est.update(0.05 * t, at=float(t))
    # One second later the total doubled: 0.55 of the old total is 0.275 of the new one, done
    # in 11 s, so 0.025/s and 29 s left (not 0.275 in 10 s, which would say 26.4 s).
    snap = est.update(0.275, at=11.0)
    assert snap.rate == pytest.approx(0.025, rel=1e-9)
    assert snap.eta == pytest.approx(29.0, rel=1e-9)


def test_a_drop_to_zero_is_a_restart() -> None:
    est = EtaEstimator()
    for t in range(4):
        est.update(0.2 * t, at=float(t))
    snap = est.update(0.0, at=3.0)
    assert (snap.progress, snap.rate, snap.eta) == (0.0, 0.0, None)
    assert snap.smoothed == pytest.approx(0.6)
    est.update(0.1, at=4.0)
    snap = est.update(0.2, at=5.0)
    assert snap.rate == pytest.approx(0.1, rel=1e-9)
    assert snap.eta == pytest.approx(8.0, rel=1e-9)


def test_speeding_up_bends_the_eta_down() -> None:
    est = EtaEstimator()
    # progress = t**2 / 400: at t=10 a quarter is done, at 0.05/s, and the rest takes 10 s.
    for i in range(101):
        t = 0.1 * i
        snap = est.update(t * t / 400.0, at=t)
    assert snap.rate == pytest.approx(0.05, rel=0.05)
    assert snap.eta is not None
    assert snap.eta < 0.75 / snap.rate
    assert snap.eta == pytest.approx(10.0, rel=0.1)


def test_a_change_of_speed_seen_widens_the_range_both_ways() -> None:
    straight, bending = EtaEstimator(), EtaEstimator()
    for i in range(101):
        t = 0.1 * i
        flat = straight.update(t / 40.0, at=t)
        bent = bending.update(t * t / 400.0, at=t)
    assert flat.eta_low == pytest.approx(flat.eta, rel=1e-6)
    assert bent.eta is not None
    assert bent.eta_low is not None
    assert bent.eta_low < 0.9 * bent.eta


def test_noisy_progress_gives_the_median_time_left_not_the_mean() -> None:
    est = EtaEstimator()
    # 0.25 done in 10 s, in increments of 0.005 and 0.045: the lifetime rate is 0.025/s, so
    # the mean time left is 30 s.  The rate is uncertain, and the time it gives skewed upwards:
    # the median (the least absolute error) is shorter.
    for i in range(11):
        snap = est.update(0.025 * i - (0.02 if i % 2 else 0.0), at=float(i))
    assert snap.rate == pytest.approx(0.025, rel=1e-9)
    assert snap.eta is not None
    assert 25.0 < snap.eta < 30.0
    # A steadier job at the same speed is closer to the mean.
    steadier = EtaEstimator()
    for i in range(11):
        calm = steadier.update(0.025 * i - (0.002 if i % 2 else 0.0), at=float(i))
    assert calm.eta is not None
    assert snap.eta < calm.eta < 30.0


def test_a_sudden_change_of_speed_is_followed() -> None:
    est = EtaEstimator()
    p = 0.0
    for i in range(200):
        est.update(p, at=float(i))
        p += 0.001
    for i in range(200, 205):
        p += 0.02
        snap = est.update(p, at=float(i))
    # 20x faster for 5 samples out of 205: the shortest window (the last ~6 % of the history)
    # takes over, the lifetime rate would still say 790 s.
    assert snap.eta is not None
    assert snap.eta < 100.0
    # And the range covers the truth at the new speed (35 s).
    assert snap.eta_low is not None
    assert snap.eta_high is not None
    assert snap.eta_low < (1 - p) / 0.02 < snap.eta_high


def test_ints_are_numbers() -> None:
    est = EtaEstimator()
    est.update(0, at=0)
    snap = est.update(1, at=4)
    assert (snap.progress, snap.rate, snap.eta) == (1.0, 0.25, 0.0)


def test_a_rate_too_small_to_give_a_finite_eta_gives_none() -> None:
    est = EtaEstimator()
    est.update(0.0, at=0.0)
    snap = est.update(2.2e-309, at=1.0)
    assert snap.rate > 0.0
    assert (snap.eta, snap.eta_low, snap.eta_high) == (None, None, None)


def test_a_rate_too_small_for_the_wait_gives_none() -> None:
    est = EtaEstimator()
    est.update(0.0, at=0.0)
    est.update(2.2250738585072014e-308, at=0.5)
    snap = est.update(2.2250738585072014e-308, at=1.5)  # the wait overflows the range
    assert (snap.eta, snap.eta_low, snap.eta_high) == (None, None, None)


def test_an_instant_counts_as_no_time() -> None:
    est = EtaEstimator()
    est.update(0.0, at=0.0)
    est.update(0.1, at=1.0)
    # 1e-13 s after 1 s is below what the estimator measures: the progress waits for the next
    # interval, as if it had arrived at the same time.
    est.update(0.2, at=1.0 + 1e-13)
    snap = est.update(0.3, at=2.0)
    assert snap.rate == pytest.approx(0.15, rel=1e-9)


def test_a_tiny_first_interval_does_not_overflow_the_sums() -> None:
    est = EtaEstimator()
    est.update(0.0, at=0.0)
    est.update(1e-10, at=1e-9)  # the time unit: 1 ns
    for i in range(1, 2001):
        snap = est.update(1e-10 + 4e-4 * i, at=float(i))  # then 2,000 s at 0.0004/s
    assert snap.rate == pytest.approx(4e-4, rel=1e-6)
    assert snap.eta == pytest.approx(0.2 / 4e-4, rel=1e-6)
    assert snap.eta_high is not None
    assert snap.eta_high < math.inf


# --- stalls --------------------------------------------------------------------------------------


@pytest.mark.parametrize("cadence", [0.01, 1.0, 600.0])
def test_stall_detection_is_relative_to_the_typical_gap(cadence: float) -> None:
    est = EtaEstimator()
    for i in range(11):
        before = est.update(0.02 * i, at=cadence * i)
    assert before.rate == pytest.approx(0.02 / cadence, rel=1e-9)
    assert before.eta == pytest.approx(40 * cadence, rel=1e-9)
    waiting = [est.update(0.2, at=cadence * (10 + n)) for n in range(1, 8)]
    # One gap without progress is normal: the ETA holds.  Then it grows with the wait.
    assert waiting[0].eta == pytest.approx(40 * cadence, rel=1e-9)
    # 2 gaps over, early in the job (40 gaps of work left after 10): 4x that.
    assert waiting[2].eta == pytest.approx(48 * cadence, rel=1e-9)
    assert [s.stalled for s in waiting] == [False] * 6 + [True]
    assert waiting[-1].rate == before.rate  # the speed of the work is held
    stalled = waiting[-1]
    assert stalled.eta_low is not None
    assert stalled.eta_high is not None
    # The work left, plus Gott's range for how much longer the wait lasts.
    assert stalled.eta is not None
    assert 40 * cadence < stalled.eta_low < stalled.eta < stalled.eta_high
    resumed = est.update(0.22, at=cadence * 30)
    assert not resumed.stalled
    # The stall was cut out of the time axis: the speed is the one before the stall.
    assert resumed.rate == pytest.approx(0.02 / cadence, rel=1e-9)
    assert resumed.eta == pytest.approx(39 * cadence, rel=1e-9)


def test_stall_gaps_is_an_option() -> None:
    est = EtaEstimator(stall_gaps=2.5)
    for i in range(5):
        est.update(0.1 * i, at=float(i))
    assert not est.update(0.4, at=6.0).stalled
    assert est.update(0.4, at=7.0).stalled


# --- scale-free ----------------------------------------------------------------------------------

_steps = st.lists(
    st.tuples(
        st.one_of(st.just(0.0), st.floats(min_value=1e-3, max_value=10.0)),  # time gap
        st.one_of(
            st.just(0.0),  # no progress
            st.floats(min_value=1e-4, max_value=0.2),  # an advance
            st.floats(min_value=-0.3, max_value=-1e-3),  # a revision or a restart
        ),
    ),
    min_size=1,
    max_size=60,
)


def _same(a: float | None, b: float | None, k: float, tolerance: float) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a * k, b, rel_tol=tolerance, abs_tol=1e-300)


@settings(max_examples=200)
@given(_steps, st.floats(min_value=1e-3, max_value=1e4))
def test_scaling_every_time_by_k_scales_every_eta_by_k(
    steps: list[tuple[float, float]], k: float
) -> None:
    """``eta``, ``eta_low`` and ``eta_high`` scale by ``k`` and ``rate`` by ``1 / k``.

    Exactly, up to float rounding: a relative tolerance of 1e-9.  (The times start at 0: far
    from 0, the gaps between rounded timestamps carry a rounding error of their own, see the
    next test.)
    """
    plain, scaled = EtaEstimator(), EtaEstimator()
    t = p = 0.0
    for dt, dp in steps:
        t += dt
        p = min(1.0, max(0.0, p + dp))
        a = plain.update(p, at=t)
        b = scaled.update(p, at=t * k)
        assert a.stalled == b.stalled
        assert _same(a.eta, b.eta, k, 1e-9)
        assert _same(a.eta_low, b.eta_low, k, 1e-9)
        assert _same(a.eta_high, b.eta_high, k, 1e-9)
        assert _same(b.rate, a.rate, k, 1e-9)


@settings(max_examples=100)
@given(_steps, st.floats(min_value=-1e4, max_value=1e4))
def test_only_time_differences_count(steps: list[tuple[float, float]], start: float) -> None:
    plain, shifted = EtaEstimator(), EtaEstimator()
    t = p = 0.0
    for dt, dp in steps:
        t += dt
        p = min(1.0, max(0.0, p + dp))
        a = plain.update(p, at=t)
        b = shifted.update(p, at=start + t)
        assert _same(a.eta, b.eta, 1.0, 1e-6)
        assert _same(a.eta_high, b.eta_high, 1.0, 1e-6)


# --- properties ----------------------------------------------------------------------------------


@settings(max_examples=120)
@given(_steps)
def test_estimates_stay_well_formed(steps: list[tuple[float, float]]) -> None:
    est = EtaEstimator()
    t = p = previous = 0.0
    for dt, dp in steps:
        t += dt
        p = min(1.0, max(0.0, p + dp))
        snap = est.update(p, at=t)
        assert 0.0 <= snap.smoothed <= 1.0
        assert snap.smoothed >= previous
        assert math.isfinite(snap.rate)
        assert snap.rate >= 0.0
        if snap.eta is None:
            assert (snap.eta_low, snap.eta_high) == (None, None)
        else:
            assert snap.eta_low is not None
            assert snap.eta_high is not None
            assert 0.0 <= snap.eta_low <= snap.eta <= snap.eta_high < math.inf
        if snap.smoothed == 1.0:
            assert snap.eta == 0.0
        previous = snap.smoothed


_extreme_steps = st.lists(
    st.tuples(
        st.one_of(
            st.just(0.0),
            st.floats(min_value=0.0, max_value=1e6),
            st.floats(min_value=0.0, max_value=1e-6),
        ),
        st.one_of(
            st.floats(min_value=-1.5, max_value=1.5),
            st.floats(min_value=0.0, max_value=1e-300),
            st.just(0.0),
        ),
    ),
    max_size=60,
)


@settings(max_examples=100)
@given(_extreme_steps, st.floats(min_value=-1e9, max_value=1e9))
def test_extreme_inputs_stay_well_formed(steps: list[tuple[float, float]], start: float) -> None:
    est = EtaEstimator()
    t, p = start, 0.0
    for dt, dp in steps:
        t += dt
        p += dp
        snap = est.update(p, at=t)
        assert math.isfinite(snap.rate)
        if snap.eta is not None:
            assert snap.eta_low is not None
            assert snap.eta_high is not None
            assert 0.0 <= snap.eta_low <= snap.eta <= snap.eta_high < math.inf
        assert format_eta(snap)


@settings(max_examples=50)
@given(_steps)
def test_estimator_is_deterministic(steps: list[tuple[float, float]]) -> None:
    a, b = EtaEstimator(), EtaEstimator()
    t = p = 0.0
    for dt, dp in steps:
        t += dt
        p = min(1.0, max(0.0, p + dp))
        assert a.update(p, at=t) == b.update(p, at=t)


# --- accuracy and coverage on the trace set --------------------------------------------------------


@pytest.mark.parametrize("family", _traces.FAMILIES)
def test_beats_the_peers_on_every_family(family: str) -> None:
    traces = [_traces.make_trace(family, seed) for seed in range(8)]
    ours = sum(_traces.trace_error(tr, _traces.ours()) for tr in traces)
    for name, make in _traces.BASELINES.items():
        theirs = sum(_traces.trace_error(tr, make()) for tr in traces)
        # The lifetime average is the best estimate of a constant speed: there we match it.
        limit = theirs * 1.02 if name == "average" else theirs
        assert ours < limit, (name, ours, theirs)


def test_the_80_percent_range_covers_about_80_percent() -> None:
    traces = [_traces.make_trace("noisy", seed) for seed in range(8)]
    coverage = sum(_traces.coverage(tr) for tr in traces) / len(traces)
    assert 0.75 <= coverage <= 0.95


def test_traces_are_seeded() -> None:
    assert _traces.make_trace("bursty", 3) == _traces.make_trace("bursty", 3)
    assert _traces.make_trace("bursty", 3) != _traces.make_trace("bursty", 4)
    with pytest.raises(ValueError, match=r"^family must be one of"):
        _traces.make_trace("sideways")


# --- bad input -----------------------------------------------------------------------------------


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
    ("bad", "error", "message"),
    [
        (0, ValueError, r"^stall_gaps must be finite and > 0, got 0$"),
        (math.nan, ValueError, r"^stall_gaps must be finite and > 0, got nan$"),
        ("5", TypeError, r"^stall_gaps must be a number, got '5'$"),
    ],
)
def test_stall_gaps_is_validated(bad: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        EtaEstimator(stall_gaps=bad)  # type: ignore[arg-type]


# --- format_eta ----------------------------------------------------------------------------------


def _snap(
    eta: float | None, low: float | None = None, high: float | None = None
) -> ProgressSnapshot:
    return ProgressSnapshot(0.5, 0.5, 0.1, eta, 0.0, eta_low=low, eta_high=high)


@pytest.mark.parametrize(
    ("snap", "text"),
    [
        (_snap(180.0, 120.0, 300.0), "2\u20135 min"),
        (_snap(180.0, 170.0, 200.0), "3 min"),
        (_snap(45.0, 40.0, 50.0), "40\u201350 s"),
        (_snap(45.2, 45.0, 45.4), "45 s"),
        (_snap(5400.0, 3600.0, 9000.0), "1\u20132.5 h"),
        (_snap(3 * 86400.0, 2 * 86400.0, 20 * 86400.0), "2\u201320 d"),
        (_snap(30.0, 2.0, 3000.0), "2 s\u201350 min"),
        (_snap(30.0, 0.0, 3000.0), "0\u201350 min"),
        (_snap(100.0), "2 min"),
        (_snap(0.4, 0.2, 0.9), "0.2\u20130.9 s"),
        (_snap(4.0, 3.96, 4.04), "4 s"),
        (_snap(None), "?"),
        (ProgressSnapshot(1.0, 1.0, 0.1, 0.0, 0.0), "done"),
    ],
)
def test_format_eta(snap: ProgressSnapshot, text: str) -> None:
    assert format_eta(snap) == text
