"""Progress and ETA: the cost of recording a sample, the loop's cost per tick, ETA accuracy.

* Recording: ``task.advance(1)`` round-robin over 1,000 tracked tasks, against a bounded
  ``deque.append`` of ``(time, value)`` and tqdm's ``update`` (the real one when tqdm is
  installed, else a replica of its hot path), all in the same loop shape in the same run.
* Per tick: the event loop's CPU time per tick (main-thread ``thread_time``) with 1,000 tasks,
  against a raw Trio task that sleeps a tick and makes one ``trio.to_thread.run_sync`` round
  trip per tick; the difference is what the tracker adds to the loop.  Plus the worker's wall
  time per batch.
* Latency: how late a task sleeping 2 ms at a time wakes up (p50, p99) while a tracker of 1,000
  tasks ticks, against the same task alone.  The worker releases the GIL every 64 estimates, so
  the loop never waits for a whole batch.
* Accuracy: on the seeded trace set of ``benchmarks/_traces.py`` (nine families, cadences 10 ms
  to 10 min, durations 1 s to 10 h), the mean relative ETA error of :class:`trio_orch.EtaEstimator`
  as a ratio against tqdm's EMA (smoothing 0.3), rich's 30 s window and the lifetime average
  rate, per family and as geometric means, and how often the true time left falls inside
  ``[eta_low, eta_high]`` (target: about 80 %).  The traces scored are seeds 1000 on, which
  the estimator was not tuned on (tuning used seeds 0-11).
"""

from __future__ import annotations

import collections
import os
import time
from typing import TYPE_CHECKING

import trio

from trio_orch import open_progress_tracker
from trio_orch.bench import Figure, best_of, measures
from trio_orch.bench.suites._traces import BASELINES, geometric_mean, score

if TYPE_CHECKING:
    from collections.abc import Sequence

TASKS = 1_000


class _TqdmHotPath:
    """What ``tqdm.update(n)`` does between two refreshes (used when tqdm is not installed)."""

    def __init__(self) -> None:
        self.disable = False
        self.n = 0
        self.last_print_n = 0
        self.miniters = 1 << 30
        self.mininterval = 0.1
        self.last_print_t = time.time()

    def update(self, n: int = 1) -> bool | None:
        if self.disable:
            return None
        if n < 0:
            self.last_print_n += n
        self.n += n
        if (
            self.n - self.last_print_n >= self.miniters
            and time.time() - self.last_print_t >= self.mininterval
        ):
            return True
        return None


def _tqdm_updates(tasks: int) -> tuple[list[object], str]:
    try:
        from tqdm import tqdm  # type: ignore[import-untyped]
    except ImportError:
        return [_TqdmHotPath().update for _ in range(tasks)], "tqdm.update (hot-path replica)"
    with open(os.devnull, "w") as sink:
        bars = [tqdm(total=10**12, file=sink, mininterval=3600) for _ in range(tasks)]
    return [bar.update for bar in bars], "tqdm.update"


def _per_call(calls: Sequence[object], rounds: int, arg: object) -> float:
    def run() -> None:
        for _ in range(rounds):
            for call in calls:
                call(arg)  # type: ignore[operator]

    return best_of(run) / (rounds * len(calls)) * 1e6


def _recording(quick: bool) -> list[Figure]:
    rounds, tasks = (5, 100) if quick else (300, TASKS)

    async def measure() -> list[Figure]:
        async with open_progress_tracker(tick=3600) as tracker:
            handles = [tracker.track(f"t{i}", total=10**12).advance for i in range(tasks)]
            ours = _per_call(handles, rounds, 1)
        now = trio.current_time
        deques: list[collections.deque[tuple[float, float]]] = [
            collections.deque(maxlen=1024) for _ in range(tasks)
        ]
        appends = [lambda v, append=d.append: append((now(), v)) for d in deques]
        deque_us = _per_call(appends, rounds, 1)
        tqdm_calls, tqdm_name = _tqdm_updates(tasks)
        tqdm_us = _per_call(tqdm_calls, rounds, 1)
        name = f"record a sample: task.advance(1), {tasks:,} tasks"
        deque_name = "deque(maxlen).append((current_time(), v))"
        return [
            Figure(name, ours, "µs/call", deque_name, ours / deque_us, "<= 0.3 µs"),
            Figure(name, ours, "µs/call", tqdm_name, ours / tqdm_us),
        ]

    return trio.run(measure)


async def _loop_cpu(seconds: float, tick: float, tasks: int | None) -> tuple[float, int]:
    """Main-thread CPU seconds over ``seconds``: a raw Trio ticker (``tasks`` None) or a tracker."""
    if tasks is None:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await trio.sleep(tick)
                await trio.to_thread.run_sync(lambda: None)
                ticks += 1

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ticker)
            start = time.thread_time()
            await trio.sleep(seconds)
            used = time.thread_time() - start
            nursery.cancel_scope.cancel(reason="measured")
        return used, ticks
    async with open_progress_tracker(tick=tick) as tracker:
        handles = [tracker.track(f"t{i}", total=10**6) for i in range(tasks)]
        for handle in handles:
            handle.advance(1)
        start = time.thread_time()
        await trio.sleep(seconds)
        used = time.thread_time() - start
        batches = tracker.stats.batches
    return used, batches


def _per_tick(quick: bool) -> list[Figure]:
    seconds, tick = (0.1, 0.02) if quick else (2.0, 0.1)

    async def main() -> list[Figure]:
        raw, ticks = await _loop_cpu(seconds, tick, None)
        used, batches = await _loop_cpu(seconds, tick, TASKS)
        raw_us = raw / max(ticks, 1) * 1e6
        ours_us = used / max(batches, 1) * 1e6
        async with open_progress_tracker(tick=3600) as tracker:
            for i in range(TASKS):
                tracker.track(f"t{i}", total=1000).advance(i)
            start = time.perf_counter()
            for _ in range(5):
                await trio.sleep(0.001)
                await tracker.refresh()
            batch_us = (time.perf_counter() - start - 0.005) / 5 * 1e6
        return [
            Figure(
                f"loop CPU per tick, {TASKS:,} tasks (tick {tick} s)",
                ours_us,
                "µs/tick",
                "raw sleep+to_thread tick",
                ours_us / raw_us,
            ),
            Figure("  added by the tracker, per tick", max(0.0, ours_us - raw_us), "µs/tick"),
            Figure("  raw Trio: sleep(tick) + to_thread.run_sync(noop)", raw_us, "µs/tick"),
            Figure(f"  worker: one batch of {TASKS:,} estimates, wall", batch_us, "µs"),
        ]

    return trio.run(main)


async def _lateness(seconds: float) -> list[float]:
    """How late a task that sleeps 2 ms at a time wakes up, sorted (seconds)."""
    late = []
    end = trio.current_time() + seconds
    while trio.current_time() < end:
        deadline = trio.current_time() + 0.002
        await trio.sleep_until(deadline)
        late.append(trio.current_time() - deadline)
    return sorted(late)  # noqa: ASYNC910 - its loop's awaits checkpoint


def _latency(quick: bool) -> list[Figure]:
    seconds = 0.1 if quick else 1.0

    async def main() -> list[Figure]:
        raw = await _lateness(seconds)
        async with open_progress_tracker(tick=0.1) as tracker:
            for i in range(TASKS):
                tracker.track(f"t{i}", total=10**6).advance(i)
            ours = await _lateness(seconds)
        figures = []
        for label, q in (("p50", 0.5), ("p99", 0.99)):
            ours_us = ours[int(len(ours) * q)] * 1e6
            raw_us = raw[int(len(raw) * q)] * 1e6
            figures.append(
                Figure(
                    f"loop wake-up lateness {label}, tracker of {TASKS:,} tasks ticking",
                    ours_us,
                    "µs",
                    "raw Trio (no tracker)",
                    ours_us / raw_us if raw_us else None,
                )
            )
            figures.append(Figure(f"  raw Trio lateness {label}", raw_us, "µs"))
        return figures

    return trio.run(main)


def _accuracy(quick: bool) -> list[Figure]:
    scores = score(seeds=1 if quick else 40, first_seed=1000)
    figures = []
    for s in scores:
        figures += [
            Figure(
                f"mean relative |ETA error|, {s.family}",
                s.ours * 100,
                "% of run",
                name,
                s.ours / s.baselines[name],
                baseline_value=s.baselines[name] * 100,
                higher_is_better=False,
            )
            for name in BASELINES
        ]
        figures.append(Figure(f"80% range covers the true time, {s.family}", s.coverage * 100, "%"))
    for name, target in (("tqdm", "<= 0.8"), ("rich", "< 1"), ("average", "< 1")):
        geo = geometric_mean([s.ours / s.baselines[name] for s in scores])
        figures.append(
            Figure(f"geometric mean over families, ours / {name}", geo, "x", target=target)
        )
    cover = sum(s.coverage for s in scores) / len(scores)
    figures.append(Figure("80% range: share of true times inside", cover * 100, "%", target="~80"))
    return figures


@measures
def suite(quick: bool) -> list[Figure]:
    """Measure the progress figures."""
    figures = _recording(quick) + _per_tick(quick) + _latency(quick) + _accuracy(quick)
    return figures
