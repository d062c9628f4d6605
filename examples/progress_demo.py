"""Track three simulated downloads; print their progress and ETA range as the estimates come in.

The downloads advance their counters (sync, O(1)); the tracker's worker thread computes the
estimates once per tick; this script prints what ``tracker.updates()`` yields, each ETA as its
80 % range (``format_eta``).
"""

from __future__ import annotations

import random

import trio

from trio_orch import ProgressTask, ProgressTracker, format_eta, open_progress_tracker

SIZES = {"small.iso": 200_000, "medium.iso": 500_000, "large.iso": 800_000}
CHUNK = 4096


async def download(task: ProgressTask, speed: float, seed: int) -> None:
    """Pretend to download ``task.total`` bytes at about ``speed`` bytes per second."""
    rng = random.Random(seed)
    while task.value < task.total:
        chunk = min(CHUNK, task.total - task.value)
        await trio.sleep(chunk / speed * rng.uniform(0.5, 1.5))
        task.advance(chunk)


async def show(tracker: ProgressTracker, start: float) -> None:
    """Print every third batch of estimates."""
    batch = 0
    async for snapshots in tracker.updates():
        batch += 1
        if batch % 3 == 0:
            line = "  ".join(
                f"{name} {s.smoothed:6.1%} eta {format_eta(s):<10}" for name, s in snapshots.items()
            )
            overall = tracker.overall()
            print(
                f"t={overall.at - start:4.1f}s  {line}| all {overall.smoothed:6.1%}"
                f" eta {format_eta(overall)}"
            )


async def main() -> None:
    async with open_progress_tracker(tick=0.1) as tracker, trio.open_nursery() as watchers:
        watchers.start_soon(show, tracker, trio.current_time())
        async with trio.open_nursery() as downloads:
            for seed, (name, size) in enumerate(SIZES.items()):
                task = tracker.track(name, total=size, weight=size)
                downloads.start_soon(download, task, 700_000.0, seed)
        final = await tracker.refresh()
        watchers.cancel_scope.cancel(reason="downloads finished")
    print("done:", ", ".join(f"{n} {s.smoothed:.0%} ({format_eta(s)})" for n, s in final.items()))
    print(f"overall {tracker.overall().smoothed:.0%} after {tracker.stats.batches} batches")


if __name__ == "__main__":
    trio.run(main)
