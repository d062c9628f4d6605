"""Synthetic progress traces and the ETA accuracy comparison used by ``bench_progress``.

A trace is the sequence of ``(time, fraction)`` samples that a tracker would see once per tick,
ending when the fraction reaches 1.0.  Each kind of trace stresses one thing:

* ``steady``: constant speed, 20 % jitter per tick;
* ``noisy``: the same mean speed but bursty (log-normal increments, sigma 1);
* ``stalled``: steady, with no progress at all from 30 % to 55 % of the run, then resumed;
* ``speeding-up``: speed rising linearly to 4x;
* ``slowing-down``: speed falling linearly to a quarter.

The error of an estimator on a trace is the mean, over every sample after a short warm-up, of
``|eta - true time left|``; an estimate of ``None`` counts as an error of the whole time left,
and estimates are capped at an hour (the EMA's ETA explodes during a stall).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from trio_orch import EtaEstimator

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

Trace = list[tuple[float, float]]
KINDS = ("steady", "noisy", "stalled", "speeding-up", "slowing-down")
TICK = 0.1
DURATION = 60.0
WARMUP = 2.0
ETA_CAP = 3600.0


def _speed(kind: str, t: float) -> float:
    """The trace's relative speed at time ``t`` (before normalization)."""
    if kind == "stalled":
        return 0.0 if 0.30 * DURATION <= t < 0.55 * DURATION else 1.0
    if kind == "speeding-up":
        return 1.0 + 3.0 * t / DURATION
    if kind == "slowing-down":
        return 4.0 - 3.0 * t / DURATION
    return 1.0


def _noise(kind: str, rng: random.Random) -> float:
    if kind == "noisy":
        return rng.lognormvariate(-0.5, 1.0)  # mean 1
    return max(0.0, rng.gauss(1.0, 0.2))


def make_trace(kind: str, seed: int = 0) -> Trace:
    """One trace of ``kind`` sampled every ``TICK`` seconds, ending at fraction 1.0."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    rng = random.Random(f"{kind}-{seed}")
    steps = round(DURATION / TICK)
    increments = [_speed(kind, i * TICK) * _noise(kind, rng) for i in range(steps)]
    total = sum(increments)
    trace: Trace = [(0.0, 0.0)]
    done = 0.0
    for i, inc in enumerate(increments, start=1):
        done += inc
        trace.append((round(i * TICK, 9), min(1.0, done / total)))
    return trace


class TqdmEma:
    """tqdm's estimator: EMAs (smoothing 0.3, bias-corrected) of the increments and of the gaps."""

    def __init__(self, smoothing: float = 0.3) -> None:
        self.alpha = smoothing
        self.dn = self.dt = 0.0
        self.calls = 0
        self.last: tuple[float, float] | None = None

    def update(self, progress: float, *, at: float) -> float | None:
        if self.last is not None:
            beta = 1.0 - self.alpha
            t0, p0 = self.last
            self.dn = self.alpha * (progress - p0) + beta * self.dn
            self.dt = self.alpha * (at - t0) + beta * self.dt
            self.calls += 1
        self.last = (at, progress)
        if progress >= 1.0:
            return 0.0
        if not self.calls or self.dt <= 0 or self.dn <= 0:
            return None
        return (1.0 - progress) / (self.dn / self.dt)  # bias corrections cancel in the ratio


def _ours() -> Callable[[float, float], float | None]:
    est = EtaEstimator()
    return lambda p, t: est.update(p, at=t).eta


def _ema() -> Callable[[float, float], float | None]:
    ema = TqdmEma()
    return lambda p, t: ema.update(p, at=t)


ESTIMATORS: dict[str, Callable[[], Callable[[float, float], float | None]]] = {
    "ours": _ours,
    "tqdm-ema": _ema,
}


def eta_errors(trace: Trace, make: Callable[[], Callable[[float, float], float | None]]) -> float:
    """Mean absolute ETA error (seconds) of a fresh estimator over ``trace``."""
    estimate = make()
    end = next(t for t, p in trace if p >= 1.0)
    errors: list[float] = []
    for t, p in trace:
        eta = estimate(p, t)
        if WARMUP <= t < end:
            truth = end - t
            errors.append(truth if eta is None else abs(min(eta, ETA_CAP) - truth))
    return sum(errors) / len(errors)


def accuracy_table(seeds: int = 5) -> Iterator[tuple[str, float, float]]:
    """``(kind, our mean error, EMA mean error)`` for each kind, averaged over ``seeds``."""
    for kind in KINDS:
        ours = ema = 0.0
        for seed in range(seeds):
            trace = make_trace(kind, seed)
            ours += eta_errors(trace, ESTIMATORS["ours"])
            ema += eta_errors(trace, ESTIMATORS["tqdm-ema"])
        yield kind, ours / seeds, ema / seeds


if __name__ == "__main__":
    for kind, ours, ema in accuracy_table():
        print(f"{kind:<14} ours {ours:8.3f} s   tqdm-ema {ema:8.3f} s   {ema / ours:5.2f}x")
