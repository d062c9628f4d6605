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
* Accuracy: mean absolute ETA error of :class:`trio_orch.EtaEstimator` and of tqdm's EMA of the
  rate (smoothing 0.3) on the synthetic traces of ``benchmarks/_traces.py``.
"""

from __future__ import annotations

import collections
import os
import time

import trio

from benchmarks._report import Figure, best_of, report
from benchmarks._traces import accuracy_table
from trio_orch import open_progress_tracker

SUITE = "progress"
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


def _tqdm_updates() -> tuple[list[object], str]:
    try:
        from tqdm import tqdm  # type: ignore[import-untyped]
    except ImportError:
        return [_TqdmHotPath().update for _ in range(TASKS)], "tqdm.update (hot-path replica)"
    with open(os.devnull, "w") as sink:
        bars = [tqdm(total=10**12, file=sink, mininterval=3600) for _ in range(TASKS)]
    return [bar.update for bar in bars], "tqdm.update"


def _per_call(calls: list[object], rounds: int, arg: object) -> float:
    def run() -> None:
        for _ in range(rounds):
            for call in calls:
                call(arg)  # type: ignore[operator]

    return best_of(run) / (rounds * len(calls)) * 1e6


def _recording(quick: bool) -> list[Figure]:
    rounds = 20 if quick else 300

    async def measure() -> list[Figure]:
        async with open_progress_tracker(tick=3600) as tracker:
            handles = [tracker.track(f"t{i}", total=10**12).advance for i in range(TASKS)]
            ours = _per_call(handles, rounds, 1)
        now = trio.current_time
        deques = [collections.deque(maxlen=1024) for _ in range(TASKS)]
        appends = [lambda v, append=d.append: append((now(), v)) for d in deques]
        deque_us = _per_call(appends, rounds, 1)
        tqdm_calls, tqdm_name = _tqdm_updates()
        tqdm_us = _per_call(tqdm_calls, rounds, 1)
        name = f"record a sample: task.advance(1), {TASKS:,} tasks"
        return [
            Figure(SUITE, name, ours, "µs/call", "deque: ours / it", ours / deque_us, "<= 0.3 µs"),
            Figure(SUITE, f"  {tqdm_name}", tqdm_us, "µs/call", "tqdm: ours / it", ours / tqdm_us),
            Figure(SUITE, "  deque(maxlen).append((current_time(), v))", deque_us, "µs/call"),
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
        batches = tracker.statistics().batches
    return used, batches


def _per_tick(quick: bool) -> list[Figure]:
    seconds, tick = (0.3, 0.05) if quick else (5.0, 0.1)

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
                SUITE,
                f"loop CPU per tick, {TASKS:,} tasks (tick {tick} s)",
                ours_us,
                "µs/tick",
                "raw sleep+to_thread tick",
                ours_us / raw_us,
            ),
            Figure(
                SUITE, "  added by the tracker, per tick", max(0.0, ours_us - raw_us), "µs/tick"
            ),
            Figure(SUITE, "  raw Trio: sleep(tick) + to_thread.run_sync(noop)", raw_us, "µs/tick"),
            Figure(SUITE, f"  worker: one batch of {TASKS:,} estimates, wall", batch_us, "µs"),
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
    return sorted(late)


def _latency(quick: bool) -> list[Figure]:
    seconds = 0.3 if quick else 3.0

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
                    SUITE,
                    f"loop wake-up lateness {label}, tracker of {TASKS:,} tasks ticking",
                    ours_us,
                    "µs",
                    "raw Trio (no tracker)",
                    ours_us / raw_us if raw_us else None,
                )
            )
            figures.append(Figure(SUITE, f"  raw Trio lateness {label}", raw_us, "µs"))
        return figures

    return trio.run(main)


def _accuracy(quick: bool) -> list[Figure]:
    figures = []
    for kind, ours, ema in accuracy_table(seeds=1 if quick else 5):
        figures.append(
            Figure(
                SUITE,
                f"mean |ETA error|, {kind} trace: ours",
                ours,
                "s",
                "tqdm EMA / ours",
                ema / ours,
                "> 1x",
            )
        )
        figures.append(Figure(SUITE, f"  tqdm EMA of rate (0.3), {kind}", ema, "s"))
    return figures


def main(quick: bool = False) -> list[Figure]:
    """Measure and print the progress figures."""
    figures = _recording(quick) + _per_tick(quick) + _latency(quick) + _accuracy(quick)
    return report("progress and ETA", figures)


if __name__ == "__main__":
    main()
