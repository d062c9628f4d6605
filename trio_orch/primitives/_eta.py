"""The ETA model: a pure, synchronous, deterministic, scale-free progress-rate estimator.

:class:`EtaEstimator` turns a stream of ``(time, fraction)`` samples into
:class:`ProgressSnapshot` values.  It is the part of progress tracking that runs in a worker
thread; it knows nothing about Trio and never reads a clock itself.

**Scale-free.**  No constant is in seconds.  Time is measured in units of the first interval
that showed progress and every threshold is relative to what the estimator has seen: the typical
gap between advances, the time elapsed.  Multiplying every timestamp by ``k`` multiplies every
ETA (and its range) by ``k``, up to float rounding.

**The model**, in short (see ``docs/progress.md`` for the reasoning):

* The fits see *intervals between advances*: a sample that shows no progress only makes the
  current interval longer.  Each interval adds to running sums (O(1)) of five kernels that weigh
  the past by ``tau**k``, ``k`` in ``0, 1, 3, 7, 15``, where ``tau`` is the active time since the
  first sample: ``k = 0`` is the lifetime average, ``k = 15`` looks at about the last 6 % of the
  history.  So the windows are fractions of the history, never a number of seconds.
* The noise is measured as the spread of the progress increments around the lifetime rate (a
  random walk: variance proportional to the interval).  That gives each kernel's rate a
  variance.  The rate used is the longest window that agrees, within 3 standard deviations,
  with every shorter one (Lepski's rule): the lifetime average while the speed is steady, a
  shorter window as soon as it is not.
* A trend (speeding up, slowing down) is the difference between the linearly weighted rate and
  the lifetime rate; it is used in full when it stands 4.5 standard deviations out of the noise,
  not at all under 2.5.  The ETA then follows the trend for at most the time elapsed so far and
  within a 4x speed-up / 0.6x slow-down.
* Waiting: while no progress arrives the ETA stays put for one typical gap (progress often comes
  in steps), then grows with the wait, by ``max(1, eta / elapsed)`` per second (what has lasted
  long is likely to last).  After ``stall_gaps`` typical gaps the snapshot is flagged
  ``stalled``, and when progress resumes the stall is cut out of the fits' time axis.
* A lower reported fraction is a revised total: the history is carried to the sample at the
  current speed, then rescaled to the new total (O(1), the sums are linear in progress).  A drop
  to 0 is a restart: the fits start again.
* The point estimate is the *median* time left, which minimizes the mean absolute error: noisy
  progress is read as a gamma process, so the rate seen and the time the rest takes are skewed
  and their medians are off their means by about ``1 / (3 * shape)`` (see ``_to_median``).
* The 80 % range ``[eta_low, eta_high]`` is log-normal around the work estimate: the variance of
  the rate, the noise still to come over the remaining time, the disagreement between the
  windows and the trend, the change of speed already seen (both ways), and an upward allowance
  for changes of speed not seen yet (larger early on: jobs slow down, stall and grow more often
  than they end early), widened by Student's t while few intervals have been seen; a wait adds
  between 1/9 and 9 times itself (Gott's 80 % interval for how long something already going on
  will last).  The constants were calibrated on seeds 0-11 of the trace set of
  ``trio_orch/bench/suites/_traces.py``.
* The running sums and the estimate are updated only when progress advances (or is revised);
  a sample without progress only adds the wait to the stored estimate.
"""

from __future__ import annotations

import math
import sys
import typing

import attrs

from trio_orch._validate import check_number

__all__ = ["EtaEstimator", "ProgressSnapshot", "format_eta"]

# The kernels' powers: k + 1 is a power of two, so the powers come from repeated squaring.
_KERNELS = (0, 1, 3, 7, 15)
_POWERS = tuple(k + 1 for k in _KERNELS)
# Lepski's rule: a window is kept while it agrees with every shorter one within this many sds.
_AGREE_SDS = 3.0
_AGREE_VAR = _AGREE_SDS * _AGREE_SDS
# A trend is used from 0 (at _TREND_FROM sds) to in full (at _TREND_FULL sds).
_TREND_FROM, _TREND_FULL = 2.5, 4.5
_TREND_KERNEL = 1
# The trend is followed for at most this many times the active time elapsed, and only until
# the speed has grown or shrunk by these factors.
_TREND_HORIZON = 1.0
_TREND_MAX_SPEEDUP, _TREND_MAX_SLOWDOWN = 4.0, 0.6
# Typical gap between advances: an exponential moving average with this weight for the newest.
_GAP_WEIGHT = 0.2
# Differences below this share of the rates are rounding, not disagreement.
_ROUNDING = 1e-9
# An interval shorter than this share of the time elapsed counts as no time at all; and the
# time unit doubles as needed to keep the active time under _MAX_TAU units (so the sums, up to
# tau**32, stay finite).
_INSTANT = 1e-12
_MAX_TAU = 2.0**24
# The 80 % interval: the normal quantile; the upward allowance for changes of speed not seen
# yet (jobs slow down, stall and grow more often than they end early); the weight of the change
# of speed already seen (its square, less this many times its noise variance), which widens
# both sides; the log-sd used before three intervals are known, the cap on a log-sd, and Gott's
# factor for a wait.
_Z80 = 1.2815515655446004
_DRIFT_UP = 0.32
_CHANGE, _CHANGE_NOISE = 128.0, 4.0
_FIRST_SD = 1.0
_MAX_SD = 4.0
# From a mean to a median time left: a gamma variable's median is about 1 / (3 * shape) off
# its mean; the factors' bounds.
_MEDIAN = 1.0 / 3.0
_MEDIAN_MIN, _MEDIAN_MAX = 0.3, 1.1
_GOTT = 9.0


@typing.final
@attrs.frozen
class ProgressSnapshot:
    """One estimate of how far an operation is and how long it has left.

    Attributes:
        progress: the latest reported fraction done, clamped to ``[0, 1]``.
        smoothed: the fraction to display: never runs backwards, always in ``[0, 1]``, exactly
            ``1.0`` once ``progress`` reached 1.
        rate: the estimated speed of the work, in fraction per second (``>= 0``); while
            stalled, the speed before the stall.
        eta: estimated seconds until completion: finite and ``>= 0``, ``0.0`` when complete,
            ``None`` while unknown (until two samples have shown progress).
        at: the time of the sample (``trio.current_time()`` in a tracker).
        stalled: ``True`` when no progress has been seen for several typical gaps; ``eta``
            then grows with the wait.
        eta_low: the low end of an 80 % range for the time left (``None`` when ``eta`` is):
            ``eta_low <= eta <= eta_high``.
        eta_high: the high end of that range.
    """

    progress: float
    smoothed: float
    rate: float
    eta: float | None
    at: float
    stalled: bool = False
    eta_low: float | None = None
    eta_high: float | None = None

    @property
    def done(self) -> bool:
        """``True`` once the operation is complete (``smoothed == 1.0``)."""
        return self.smoothed >= 1.0


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _finite(name: str, value: object) -> None:
    if not _is_number(value):
        msg = f"{name} must be a number, got {value!r}"
        raise TypeError(msg)
    if not math.isfinite(value):  # type: ignore[arg-type]  # a number, checked above
        msg = f"{name} must be a finite number, got {value!r}"
        raise ValueError(msg)


def _student(dof: float) -> float:
    """The 90th percentile of Student's t with ``dof`` (>= 2) degrees of freedom.

    The Cornish-Fisher expansion around the normal quantile: within 2 % of the exact value
    from 2 degrees of freedom on.
    """
    z = _Z80
    z3 = z * z * z
    return z + (z3 + z) / (4.0 * dof) + (5.0 * z3 * z * z + 16.0 * z3 + 3.0 * z) / (96.0 * dof**2)


@typing.final
@attrs.define(eq=False)
class EtaEstimator:
    """Estimate the rate and the time left of an operation from its progress samples.

    Pure and synchronous: it never reads a clock (times are passed in) and two estimators fed
    the same samples give the same snapshots.  Scale-free: every threshold is relative to the
    gaps between samples and to the time elapsed, so multiplying every time by ``k`` multiplies
    every ``eta``, ``eta_low`` and ``eta_high`` by ``k``.  Each :meth:`update` is O(1).  It is
    not thread-safe; a tracker gives each estimator to one worker thread at a time.

    Args:
        stall_gaps: a sample is flagged ``stalled`` when no progress was seen for more than
            this many typical gaps between advances.

    Raises:
        TypeError: ``stall_gaps`` is not a number.
        ValueError: ``stall_gaps`` is not a finite number > 0.
    """

    stall_gaps: float = attrs.field(default=6.5, kw_only=True)

    _last: ProgressSnapshot | None = attrs.field(init=False, default=None)
    # The latest advance: its time and the fraction it reached.
    _adv_at: float = attrs.field(init=False, default=0.0)
    _adv_p: float = attrs.field(init=False, default=0.0)
    _gap: float | None = attrs.field(init=False, default=None)
    _stalled: bool = attrs.field(init=False, default=False)
    # Progress reported with no time elapsed, added to the next interval.
    _pending: float = attrs.field(init=False, default=0.0)
    # Time unit (the first interval with progress) and active time, in that unit.
    _unit: float = attrs.field(init=False, default=0.0)
    _tau: float = attrs.field(init=False, default=0.0)
    # Per kernel: sum(w * dp), sum(w * dt), sum(w**2 * dt), sum(w * dt * tau), w = tau**k.
    _sums: list[list[float]] = attrs.field(
        init=False, factory=lambda: [[0.0] * 4 for _ in _KERNELS]
    )
    # sum(dp**2 / dt), sum(dp), sum(dt), number of intervals.
    _noise: list[float] = attrs.field(init=False, factory=lambda: [0.0] * 4)
    # The fit, refreshed at each advance: rate (per unit), trend (per unit**2), the rate's
    # variance, the noise variance per unit, the lifetime rate.
    _rate: float = attrs.field(init=False, default=0.0)
    _trend: float = attrs.field(init=False, default=0.0)
    _rate_var: float = attrs.field(init=False, default=0.0)
    _noise_var: float = attrs.field(init=False, default=0.0)
    _lifetime: float = attrs.field(init=False, default=0.0)
    # The change of speed seen: (linearly weighted rate - lifetime rate)**2 beyond its noise,
    # relative to the lifetime rate squared.
    _change: float = attrs.field(init=False, default=0.0)
    # The estimate at the latest advance, in seconds: (work left, low, high), or None.
    _work: tuple[float, float, float] | None = attrs.field(init=False, default=None)

    def __attrs_post_init__(self) -> None:
        check_number("stall_gaps", self.stall_gaps, strict=True)

    @property
    def last(self) -> ProgressSnapshot | None:
        """The snapshot returned by the latest :meth:`update`, or ``None`` before the first."""
        return self._last

    def update(self, progress: float, *, at: float) -> ProgressSnapshot:
        """Record that ``progress`` (a fraction) was reached at time ``at``; return the estimate.

        Values outside ``[0, 1]`` are clamped.  A value lower than the previous one is read as a
        revised total (the history is rescaled to it; 0 is a restart): it is recorded as
        ``progress`` and the ETA starts from it, but ``smoothed`` never moves back.  Several
        samples at the same time are allowed.

        Args:
            progress: fraction done; a finite number.
            at: the sample's time in seconds; finite and not before the previous sample's.

        Returns:
            The new :class:`ProgressSnapshot`.

        Raises:
            TypeError: ``progress`` or ``at`` is not a number (``bool`` included).
            ValueError: ``progress`` or ``at`` is NaN or infinite, or ``at`` runs backwards.
            In both cases the estimator is left unchanged.
        """
        # x - x is 0.0 for a finite float, NaN otherwise: one check for the usual case.
        if progress.__class__ is not float or progress - progress != 0.0:
            _finite("progress", progress)
        if at.__class__ is not float or at - at != 0.0:
            _finite("at", at)
        last = self._last
        if last is not None and at < last.at:
            msg = f"at must be >= the previous sample's time ({last.at!r}), got {at!r}"
            raise ValueError(msg)
        value = min(1.0, max(0.0, float(progress)))
        at = float(at)
        if last is None:
            self._adv_at, self._adv_p = at, value
            smoothed = value
        else:
            smoothed = max(last.smoothed, value)
            if value < self._adv_p:
                self._revise(value, at)
            elif value > self._adv_p:
                self._advance(value, at)
            elif self._gap is not None and at - self._adv_at > self.stall_gaps * self._gap:
                self._stalled = True
        snap = self._snapshot(value, smoothed, at)
        self._last = snap
        return snap

    # --- recording ------------------------------------------------------------------------------

    def _advance(self, value: float, at: float) -> None:
        dt = at - self._adv_at
        if self._stalled:
            # Cut the stall out: progress resumes one typical gap after the last advance.
            assert self._gap is not None  # a stall needs a typical gap
            dt = self._gap
            self._stalled = False
        elif dt > 0:
            gap = self._gap
            self._gap = dt if gap is None else gap + _GAP_WEIGHT * (dt - gap)
        self._commit(value - self._adv_p, dt)
        self._adv_at, self._adv_p = at, value
        self._fit()
        self._estimate()

    def _commit(self, dp: float, dt: float) -> None:
        """Add one interval of ``dp`` progress over ``dt`` seconds to every running sum."""
        dp += self._pending
        if not self._unit and dt > 0:
            self._unit = dt
        du = dt / self._unit if dt > 0 else 0.0
        if du <= _INSTANT * self._tau or du == 0.0:
            # No time, or too little to measure against the time elapsed: the progress counts
            # in the next interval.
            self._pending = dp
            return
        self._pending = 0.0
        t0 = self._tau
        t1 = t0 + du
        if t1 > _MAX_TAU:
            t0, t1, du = self._rescale(t1, t0, du)
        self._tau = t1
        p0, p1 = t0, t1  # tau**(k + 1) at both ends; k + 1 doubles from one kernel to the next
        for sums, k1 in zip(self._sums, _POWERS, strict=True):
            area = (p1 - p0) / k1  # the integral of tau**k over the interval
            w = area / du  # the kernel's mean weight over it
            sums[0] += w * dp
            sums[1] += area
            sums[2] += w * area
            sums[3] += (p1 * t1 - p0 * t0) / (k1 + 1)  # the integral of tau**(k + 1)
            p0 *= p0
            p1 *= p1
        noise = self._noise
        noise[0] += dp * dp / du
        noise[1] += dp
        noise[2] += du
        noise[3] += 1.0

    def _rescale(self, t1: float, t0: float, du: float) -> tuple[float, float, float]:
        """Make the time unit ``2**e`` times longer so that ``t1`` falls in [0.5, 1).

        Powers of two scale exactly, so nothing changes but the size of the sums, which stay
        far from overflowing (``tau**32`` is in the variances).
        """
        e = math.frexp(t1)[1]
        f = math.ldexp(1.0, -e)  # 1 / 2**e
        self._unit = math.ldexp(self._unit, e)
        for sums, k1 in zip(self._sums, _POWERS, strict=True):
            k = k1 - 1
            sums[0] *= f**k
            sums[1] *= f**k1
            sums[2] *= f ** (k + k1)
            sums[3] *= f ** (k1 + 1)
        noise = self._noise
        noise[0] /= f
        noise[2] *= f
        return t0 * f, t1 * f, du * f

    def _revise(self, value: float, at: float) -> None:
        """The fraction dropped: a revised total (rescale the history) or a restart (forget it).

        The new fraction also holds the work done since the latest advance: unless stalled, the
        history is first carried to ``at`` at the current speed, then rescaled.
        """
        if value > 0:
            if self._rate > 0 and not self._stalled and at > self._adv_at:
                self._advance(self._adv_p + self._rate * (at - self._adv_at) / self._unit, at)
            scale = value / self._adv_p
            for sums in self._sums:
                sums[0] *= scale
            self._noise[0] *= scale * scale
            self._noise[1] *= scale
            self._pending *= scale
        else:
            self._sums = [[0.0] * 4 for _ in _KERNELS]
            self._noise = [0.0] * 4
            self._tau = self._pending = self._unit = 0.0
        self._adv_p = value
        self._fit()
        self._estimate()

    # --- estimating -----------------------------------------------------------------------------

    def _fit(self) -> None:
        """Choose the window and the trend from the running sums (at each advance)."""
        noise = self._noise
        self._rate = self._trend = 0.0
        if noise[1] <= 0 or noise[2] <= 0:
            return
        lifetime = noise[1] / noise[2]
        dof = noise[3] - 1.0
        # sum((dp - r*dt)**2 / dt) over the intervals, per degree of freedom.
        spread = noise[0] - 2.0 * lifetime * noise[1] + lifetime * lifetime * noise[2]
        # (What is left of a perfectly straight history is the rounding of the sums.)
        noise_var = spread / dof if dof >= 1 and spread > _ROUNDING * noise[0] else 0.0
        sums = self._sums
        rates = []
        variances = []
        for num, den, w2, _ in sums:
            rates.append(num / den)
            variances.append(noise_var * w2 / (den * den))
        # Lepski's rule: the longest window that agrees with every shorter one.
        chosen = last = len(rates) - 1
        for i in range(last):
            rate_i, var_i = rates[i], variances[i]
            for j in range(i + 1, last + 1):
                gap = abs(rate_i - rates[j]) - _ROUNDING * (rate_i + rates[j])
                if gap > 0 and gap * gap > _AGREE_VAR * (var_i + variances[j]):
                    break
            else:
                chosen = i
                break
        rate, var = rates[chosen], variances[chosen]
        centre = sums[chosen][3] / sums[chosen][1]
        trend = 0.0
        r0, r1 = rates[0], rates[_TREND_KERNEL]
        c0 = sums[0][3] / sums[0][1]
        c1 = sums[_TREND_KERNEL][3] / sums[_TREND_KERNEL][1]
        diff = r1 - r0
        v = variances[_TREND_KERNEL] - variances[0]
        relative = diff / r0
        self._change = max(0.0, relative * relative - _CHANGE_NOISE * (v / r0) / r0)
        if abs(diff) > _ROUNDING * (r0 + r1) and c1 > c0:
            sds = abs(diff) / math.sqrt(v) if v > 0 else math.inf
            share = min(1.0, max(0.0, (sds - _TREND_FROM) / (_TREND_FULL - _TREND_FROM)))
            trend = share * diff / (c1 - c0)
        self._rate = max(0.0, rate + trend * (self._tau - centre))
        self._trend = trend if self._rate > 0 else 0.0
        self._rate_var = var
        self._noise_var = noise_var
        self._lifetime = lifetime

    def _work_left(self, left: float) -> float:
        """Units of active time to do ``left``, following the trend for a while."""
        rate, trend = self._rate, self._trend
        eta = left / rate
        if trend:
            limit = rate * (_TREND_MAX_SPEEDUP if trend > 0 else _TREND_MAX_SLOWDOWN)
            horizon = min((limit - rate) / trend, _TREND_HORIZON * self._tau)
            limit = rate + trend * horizon
            covered = rate * horizon + trend * horizon * horizon / 2.0
            if left <= covered:
                eta = 2.0 * left / (rate + math.sqrt(max(0.0, rate * rate + 2.0 * trend * left)))
            else:
                eta = horizon + (left - covered) / limit
        return eta

    def _spread(self, left: float, work: float) -> tuple[float, float]:
        """The log-sds ``(down, up)`` of the work estimate ``work`` (in units)."""
        rate = self._rate
        intervals = self._noise[3]
        if intervals < 3:
            return _FIRST_SD, _FIRST_SD
        var = self._rate_var / rate / rate  # not rate * rate: that underflows before var does
        var += self._noise_var / rate / rate / work
        var += ((rate - self._lifetime) / rate) ** 2
        if self._trend:
            var += math.log(work * rate / left) ** 2
        sd = math.sqrt(var) * _student(intervals - 1.0) / _Z80
        # Changes of speed matter more the longer the time left is against the time seen.
        horizon = (work / (work + self._tau)) ** 2
        down = sd * sd + _CHANGE * self._change * horizon
        up = down + _DRIFT_UP * horizon
        return min(math.sqrt(down), _MAX_SD), min(math.sqrt(up), _MAX_SD)

    def _to_median(self, work: float) -> float:
        """The factor from ``work``, a mean, to the median time left (the least mean error).

        Noisy progress is a gamma process: with ``a = rate**2 / noise`` its shape per unit of
        time, the rate seen is a gamma variable of shape ``a * tau``, whose median is under its
        mean by about ``1 / (3 * shape)``, and the time to do the rest one of shape
        ``a * work``, whose median is over its mean by about as much (capped: bursts are not
        gamma-like).
        """
        noise = self._noise_var
        if noise <= 0.0:
            return 1.0
        shape = self._rate / noise * self._rate
        seen, to_come = shape * self._tau, shape * work
        # (Compared first: a shape that underflowed to 0 must not be divided by.)
        down = 1.0 - _MEDIAN / seen if seen > _MEDIAN / (1.0 - _MEDIAN_MIN) else _MEDIAN_MIN
        up = 1.0 + _MEDIAN / to_come if to_come > _MEDIAN / (_MEDIAN_MAX - 1.0) else _MEDIAN_MAX
        return down * up

    def _estimate(self) -> None:
        """The time the work left takes and its 80 % range, in seconds (at each advance)."""
        value, unit = self._adv_p, self._unit
        if self._rate <= 0.0 or value >= 1.0:
            self._work = None
            return
        left = 1.0 - value
        work = self._work_left(left)
        down, up = self._spread(left, work)
        work *= self._to_median(work)
        low = work * math.exp(-_Z80 * down)
        high = work * math.exp(_Z80 * up) * unit
        # A rate so small that the time left overflows (e.g. 1e-311 done) is no estimate.
        self._work = (work * unit, low * unit, high) if high < math.inf else None

    def _snapshot(self, value: float, smoothed: float, at: float) -> ProgressSnapshot:
        unit = self._unit
        # (Capped: a whole job in 1e-311 s would be faster than the largest float.)
        rate = min(self._rate / unit, sys.float_info.max) if unit else 0.0
        if smoothed >= 1.0:
            return ProgressSnapshot(value, smoothed, rate, 0.0, at, False, 0.0, 0.0)
        estimate = self._work
        if estimate is None:
            return ProgressSnapshot(value, smoothed, rate, None, at, self._stalled)
        eta, low, high = estimate
        # Waiting: nothing for one typical gap, then as long again as the wait so far (scaled
        # up early in the job), with Gott's 80 % range for how long it lasts.
        assert self._gap is not None  # set by the first advance, which made the rate
        wait = at - self._adv_at - self._gap
        if wait > 0:
            wait *= max(1.0, eta / (self._tau * unit))
            eta += wait
            low += wait / _GOTT
            high += wait * _GOTT
            if high == math.inf:  # e.g. a rate of 1e-308: no estimate
                return ProgressSnapshot(value, smoothed, rate, None, at, self._stalled)
        return ProgressSnapshot(value, smoothed, rate, eta, at, self._stalled, low, high)


_EN_DASH = "\u2013"
_UNITS = (("s", 1.0, 90.0), ("min", 60.0, 90.0 * 60.0), ("h", 3600.0, 36.0 * 3600.0))


def _unit(seconds: float) -> tuple[str, float]:
    """The unit to show ``seconds`` in, and its length in seconds."""
    for name, length, below in _UNITS:
        if seconds < below:
            return name, length
    return "d", 86400.0


def _number(seconds: float, unit: str, length: float) -> str:
    amount = seconds / length
    if unit == "min" or amount >= 10:
        return str(round(amount))
    return f"{amount:.1f}".removesuffix(".0")


def format_eta(snapshot: ProgressSnapshot) -> str:
    """The time left in ``snapshot``, compact: ``"3 min"``, or ``"2-5 min"`` when the range is wide.

    Both ends of the 80 % range are rounded in the unit of the high end (s under 90 s, min
    under 90 min, h under 36 h, else d; whole minutes, tenths under 10 of the other units; a
    low end that would round to 0 keeps its own unit: ``"20 s-5 min"``); when they differ the
    range is shown, otherwise the point estimate ``eta``.
    ``"done"`` once complete, ``"?"`` while unknown.  The range's dash is an en dash (U+2013).

    Args:
        snapshot: an estimate, e.g. ``tracker.overall()``.

    Returns:
        The text, e.g. ``"45 s"``, ``"2-5 min"``, ``"1.5-3 h"`` (with an en dash).
    """
    if snapshot.done:
        return "done"
    eta, low, high = snapshot.eta, snapshot.eta_low, snapshot.eta_high
    if eta is None:
        return "?"
    if low is not None and high is not None:
        unit, length = _unit(high)
        low_text, high_text = _number(low, unit, length), _number(high, unit, length)
        low_unit, low_length = _unit(low)
        if low_text == "0" and low > 0 and low_unit != unit:  # "20 s-5 min", not "0-5 min"
            low_text = f"{_number(low, low_unit, low_length)} {low_unit}"
        if low_text != high_text:
            return f"{low_text}{_EN_DASH}{high_text} {unit}"
    unit, length = _unit(eta)
    return f"{_number(eta, unit, length)} {unit}"
