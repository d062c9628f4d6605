"""The ETA model: a pure, synchronous, deterministic progress-rate estimator.

:class:`EtaEstimator` turns a stream of ``(time, fraction)`` samples into
:class:`ProgressSnapshot` values.  It is the part of progress tracking that runs in a worker
thread; it knows nothing about Trio and never reads a clock itself.

The model, in short:

* two exponentially weighted least-squares fits of progress against time, one with a short
  half-life (reacts to a change of speed) and one with a long half-life (averages the noise),
  kept as running sums so that an update is O(1);
* the two slopes are blended by inverse variance, where the long fit's variance also counts the
  squared gap between the two slopes: when the speed changes the short fit takes over, when it
  does not the long one dominates;
* a parabola fitted over the long half-life estimates the acceleration; shrunk towards zero
  unless it clearly stands out from its noise, it bends the ETA (speeding up, slowing down) for a
  bounded horizon;
* stall detection: when no progress has been seen for several typical gaps, the estimator stops
  feeding the fits (the rate is held) and flags the snapshot ``stalled``; when progress resumes the
  stalled time is cut out of the fits' time axis, so the pre-stall history still counts.

``benchmarks/bench_progress.py`` measures it against tqdm's exponential moving average of the rate
on synthetic traces (steady, noisy, stalled then resumed, speeding up, slowing down).
"""

from __future__ import annotations

import math
import typing

import attrs

from trio_orch._validate import check_number

__all__ = ["EtaEstimator", "ProgressSnapshot"]

# Below this the x-variance of a fit is treated as zero (all samples at one instant).
_MIN_SPREAD = 1e-12
# A floor on slope variances, so that a perfectly straight trace does not divide by zero.
_MIN_VARIANCE = 1e-18
# Residuals of cumulative progress are strongly autocorrelated, so the textbook variance of the
# fitted acceleration understates its doubt by orders of magnitude; tuned on the benchmark traces.
_ACCEL_DOUBT = 2000.0
# A trend in the speed is extrapolated at most this many long half-lives ahead, and only until
# the speed has grown or shrunk by these factors.
_TREND_HORIZON = 2.5
_LN2 = math.log(2.0)
_LAG = 2.0 / _LN2
_TREND_MAX_SPEEDUP = 4.0
_TREND_MAX_SLOWDOWN = 0.4
#: Rates below this (progress per second: 30 years for the whole job) are rounding noise of
#: the fits, e.g. the ~1e-17 slope through samples that all have the same progress.
_MIN_RATE = 1e-9


@typing.final
@attrs.frozen
class ProgressSnapshot:
    """One estimate of how far an operation is and how long it has left.

    Attributes:
        progress: the latest reported fraction done, clamped to ``[0, 1]``.
        smoothed: the fraction to display: never runs backwards, always in ``[0, 1]``, exactly
            ``1.0`` once ``progress`` reached 1.
        rate: the estimated speed, in fraction per second (``>= 0``).
        eta: estimated seconds until completion: finite and ``>= 0``, ``0.0`` when complete,
            ``None`` while unknown (fewer than two distinct samples, or no progress yet).
        at: the time of the sample (``trio.current_time()`` in a tracker).
        stalled: ``True`` when no progress has been seen for a while; ``rate`` and ``eta`` then
            hold their pre-stall values.
    """

    progress: float
    smoothed: float
    rate: float
    eta: float | None
    at: float
    stalled: bool = False

    @property
    def done(self) -> bool:
        """``True`` once the operation is complete (``smoothed == 1.0``)."""
        return self.smoothed >= 1.0


@attrs.define(eq=False)
class _DecayingFit:
    """Exponentially weighted least squares of ``y`` on ``x``, as O(1) running sums.

    ``s`` holds ``[x_last, sum(w*w), sum(w*y*y), M0..M4, N0..N2]`` where ``Mk = sum(w * u**k)``
    and ``Nk = sum(w * u**k * y)`` with ``u = (x - x_last) / half_life``: relative to the latest
    sample and in units of the half-life, so that the sums stay small.  Moving the origin is an
    exact binomial shift.  Both a straight line and a parabola can be fitted from them.  The
    state is one flat list so that saving and restoring it is a cheap copy.
    """

    half_life: float
    s: list[float] = attrs.Factory(lambda: [0.0] * 11)

    def add(self, x: float, y: float) -> None:
        s = self.s
        x_last, w2, wyy, m0, m1, m2, m3, m4, n0, n1, n2 = s
        du = (x - x_last) / self.half_life
        if m0 and du > 0:
            decay = math.exp(-du * _LN2)
            d = -du
            dd = d * d
            m4 = decay * (m4 + 4 * d * m3 + 6 * dd * m2 + 4 * dd * d * m1 + dd * dd * m0)
            m3 = decay * (m3 + 3 * d * m2 + 3 * dd * m1 + dd * d * m0)
            m2 = decay * (m2 + 2 * d * m1 + dd * m0)
            m1 = decay * (m1 + d * m0)
            m0 = decay * m0
            n2 = decay * (n2 + 2 * d * n1 + dd * n0)
            n1 = decay * (n1 + d * n0)
            n0 = decay * n0
            w2 *= decay * decay
            wyy *= decay
        s[:] = (x, w2 + 1.0, wyy + y * y, m0 + 1.0, m1, m2, m3, m4, n0 + y, n1, n2)

    def line(self) -> tuple[float, float] | None:
        """``(slope, variance of the slope)`` of the straight-line fit, or ``None``."""
        _, w2, wyy, w, m1, m2, _, _, n0, n1, _ = self.s
        if w <= 0:
            return None
        mx, my = m1 / w, n0 / w
        sxx = m2 / w - mx * mx
        if sxx <= _MIN_SPREAD:
            return None
        sxy = n1 / w - mx * my
        syy = max(0.0, wyy / w - my * my)
        slope = sxy / sxx
        residual = max(0.0, syy - slope * sxy)
        n_eff = w * w / w2
        variance = residual / (sxx * max(n_eff - 2.0, 1.0))
        h = self.half_life
        return slope / h, max(variance / (h * h), _MIN_VARIANCE)

    def acceleration(self) -> tuple[float, float] | None:
        """``(acceleration, its variance)`` of the parabola fit, or ``None``."""
        _, w2, wyy, a, b, c, d, e, n0, n1, n2 = self.s
        n_eff = a * a / w2 if w2 else 0.0
        if n_eff < 4.0:
            return None
        # The normal equations [[a b c] [b c d] [c d e]] @ (c0, c1, c2) = (n0, n1, n2).
        cof00 = c * e - d * d
        cof01 = c * d - b * e
        cof02 = b * d - c * c
        det = a * cof00 + b * cof01 + c * cof02
        if det <= _MIN_SPREAD * a**3:
            return None
        cof12 = b * c - a * d
        cof22 = a * c - b * b
        c0 = (cof00 * n0 + cof01 * n1 + cof02 * n2) / det
        c1 = (cof01 * n0 + (a * e - c * c) * n1 + cof12 * n2) / det
        c2 = (cof02 * n0 + cof12 * n1 + cof22 * n2) / det
        residual = max(0.0, wyy - (c0 * n0 + c1 * n1 + c2 * n2)) / a
        # Variance of c2: sigma**2 * (inverse normal matrix)[2][2], rescaled for the weights.
        sigma2 = residual * n_eff / max(n_eff - 3.0, 1.0)
        h2 = self.half_life * self.half_life
        variance = 4.0 * sigma2 * (a / n_eff) * (cof22 / det) / (h2 * h2)
        return 2.0 * c2 / h2, max(variance, _MIN_VARIANCE)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _finite(name: str, value: object) -> None:
    if not _is_number(value):
        msg = f"{name} must be a number, got {value!r}"
        raise TypeError(msg)
    if not math.isfinite(value):  # type: ignore[arg-type]  # a number, checked above
        msg = f"{name} must be a finite number, got {value!r}"
        raise ValueError(msg)


@typing.final
@attrs.define(eq=False)
class EtaEstimator:
    """Estimate the rate and the time left of an operation from its progress samples.

    Pure and synchronous: it never reads a clock (times are passed in) and two estimators fed the
    same samples give the same snapshots.  It is not thread-safe; a tracker gives each estimator
    to one worker thread at a time.

    Args:
        short_half_life: half-life, in seconds, of the fast fit that follows changes of speed.
        long_half_life: half-life, in seconds, of the slow fit that averages out noise.
        stall_after: a sample counts as stalled when no progress was seen for
            ``max(stall_after, stall_gaps * typical gap between progress)`` seconds.
        stall_gaps: see ``stall_after``.

    Raises:
        TypeError: an option is not a number.
        ValueError: an option is not a finite number > 0, or ``short_half_life`` is greater
            than ``long_half_life``.
    """

    short_half_life: float = attrs.field(default=1.0, kw_only=True)
    long_half_life: float = attrs.field(default=12.0, kw_only=True)
    stall_after: float = attrs.field(default=1.0, kw_only=True)
    stall_gaps: float = attrs.field(default=5.0, kw_only=True)

    _short: _DecayingFit = attrs.field(init=False)
    _long: _DecayingFit = attrs.field(init=False)
    _last: ProgressSnapshot | None = attrs.field(init=False, default=None)
    _last_advance_at: float = attrs.field(init=False, default=0.0)
    _typical_gap: float | None = attrs.field(init=False, default=None)
    _offset: float = attrs.field(init=False, default=0.0)
    _fed_x: float | None = attrs.field(init=False, default=None)
    _stalled: bool = attrs.field(init=False, default=False)
    _rate: float = attrs.field(init=False, default=0.0)
    _accel: float = attrs.field(init=False, default=0.0)
    # The model as it was at the latest sample that showed progress, restored when a stall is
    # detected so that the plateau before the detection does not drag the rate down.
    _saved: tuple[list[float], list[float], float, float, float | None] | None = attrs.field(
        init=False, default=None
    )

    def __attrs_post_init__(self) -> None:
        check_number("short_half_life", self.short_half_life, strict=True)
        check_number("long_half_life", self.long_half_life, strict=True)
        check_number("stall_after", self.stall_after, strict=True)
        check_number("stall_gaps", self.stall_gaps, strict=True)
        if self.short_half_life > self.long_half_life:
            msg = (
                f"short_half_life must be <= long_half_life ({self.long_half_life!r}), "
                f"got {self.short_half_life!r}"
            )
            raise ValueError(msg)
        self._short = _DecayingFit(self.short_half_life)
        self._long = _DecayingFit(self.long_half_life)

    @property
    def last(self) -> ProgressSnapshot | None:
        """The snapshot returned by the latest :meth:`update`, or ``None`` before the first."""
        return self._last

    def update(self, progress: float, *, at: float) -> ProgressSnapshot:
        """Record that ``progress`` (a fraction) was reached at time ``at``; return the estimate.

        Values outside ``[0, 1]`` are clamped; a value lower than an earlier one (a regression)
        is recorded as ``progress`` but never moves ``smoothed`` back.  Several samples at the same
        time are allowed.

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
        _finite("progress", progress)
        _finite("at", at)
        last = self._last
        if last is not None and at < last.at:
            msg = f"at must be >= the previous sample's time ({last.at!r}), got {at!r}"
            raise ValueError(msg)
        value = min(1.0, max(0.0, float(progress)))
        at = float(at)
        if last is None:
            self._last_advance_at = at
            smoothed = value
        else:
            smoothed = max(last.smoothed, value)
            if smoothed > last.smoothed:
                self._advanced(at)
        stalled = self._is_stalled(at, smoothed)
        if stalled and not self._stalled:
            self._restore()
        self._stalled = stalled
        if not stalled:
            self._feed(at, smoothed)
            self._rate = self._estimate_rate()
            if last is None or smoothed > last.smoothed:
                self._save()
        snap = ProgressSnapshot(
            progress=value,
            smoothed=smoothed,
            rate=self._rate,
            eta=self._eta(smoothed),
            at=at,
            stalled=self._stalled,
        )
        self._last = snap
        return snap

    def _advanced(self, at: float) -> None:
        gap = at - self._last_advance_at
        if self._stalled:
            # Cut the stall out of the fits' time axis: progress resumes one typical gap after
            # the last sample that was fed, as if the stall had not happened.
            assert self._fed_x is not None
            self._offset = at - (self._fed_x + (self._typical_gap or 0.0))
        elif gap > 0:
            typical = self._typical_gap
            self._typical_gap = gap if typical is None else 0.8 * typical + 0.2 * gap
        self._last_advance_at = at

    def _save(self) -> None:
        self._saved = (self._short.s[:], self._long.s[:], self._rate, self._accel, self._fed_x)

    def _restore(self) -> None:
        if self._saved is not None:
            short, long, self._rate, self._accel, self._fed_x = self._saved
            self._short.s[:] = short
            self._long.s[:] = long

    def _is_stalled(self, at: float, smoothed: float) -> bool:
        if smoothed >= 1.0 or self._typical_gap is None:
            return False
        threshold = max(self.stall_after, self.stall_gaps * self._typical_gap)
        return at - self._last_advance_at > threshold

    def _feed(self, at: float, smoothed: float) -> None:
        x = at - self._offset
        if self._fed_x is not None and x < self._fed_x:
            x = self._fed_x
        self._fed_x = x
        self._short.add(x, smoothed)
        self._long.add(x, smoothed)

    def _estimate_rate(self) -> float:
        self._accel = 0.0
        short = self._short.line()
        long = self._long.line()
        if short is None or long is None:
            return 0.0
        (s_rate, s_var), (l_rate, l_var) = short, long
        gap = s_rate - l_rate
        w_short = 1.0 / s_var
        w_long = 1.0 / (l_var + gap * gap)
        rate = (w_short * s_rate + w_long * l_rate) / (w_short + w_long)
        curve = self._long.acceleration()
        if curve is not None:
            # Shrink the acceleration towards 0 unless it stands out clearly from its noise.
            accel, a_var = curve[0], curve[1] * _ACCEL_DOUBT
            self._accel = accel**3 / (accel * accel + a_var)
            # The short fit's slope lags the current speed by about 2/ln(2) half-lives.
            rate += self._accel * _LAG * self.short_half_life
        if rate < _MIN_RATE:
            self._accel = 0.0
            return 0.0
        return rate

    def _eta(self, smoothed: float) -> float | None:
        if smoothed >= 1.0:
            return 0.0
        rate = self._rate
        if rate <= 0.0:
            return None
        left = 1.0 - smoothed
        accel = self._accel
        eta = left / rate
        if accel:
            # Follow the trend for a while, within bounds, then at the rate it reached.
            limit = rate * (_TREND_MAX_SPEEDUP if accel > 0 else _TREND_MAX_SLOWDOWN)
            t_limit = min((limit - rate) / accel, _TREND_HORIZON * self.long_half_life)
            limit = rate + accel * t_limit
            d_limit = rate * t_limit + accel * t_limit * t_limit / 2.0
            if left <= d_limit:
                eta = 2.0 * left / (rate + math.sqrt(max(0.0, rate * rate + 2.0 * accel * left)))
            else:
                eta = t_limit + (left - d_limit) / limit
        return eta if math.isfinite(eta) else None
