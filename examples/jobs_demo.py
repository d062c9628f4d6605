"""The job queue in action: priorities, delayed jobs, retries, cancel, idempotency keys,
events, and a shutdown that returns an interrupted job to the queue.

Runs on trio's MockClock (autojump), so the "work" takes virtual seconds and the script
finishes at once while printing exact, reproducible times.
"""

from __future__ import annotations

from typing import Any

import attrs
import trio
import trio.testing

from trio_orch import (
    Jitter,
    Job,
    JobEvent,
    MemoryJobStore,
    RetryPolicy,
    TaskRegistry,
    TransientError,
    open_event_bus,
    open_job_queue,
)

tasks = TaskRegistry()
flaky_calls = 0


@attrs.frozen
class Resize:
    path: str
    width: int


@tasks.task("resize")
async def resize(payload: dict[str, Any]) -> dict[str, Any]:
    await trio.sleep(1.0)
    return {"thumbnail": payload["path"].replace(".png", f"-{payload['width']}.png")}


@tasks.task("flaky")
async def flaky(payload: dict[str, Any]) -> str:
    global flaky_calls
    flaky_calls += 1
    await trio.sleep(0.5)
    if flaky_calls < 3:
        raise TransientError(f"upstream busy (call {flaky_calls})")
    return "finally"


@tasks.task("report")
async def report(payload: dict[str, Any]) -> int:
    await trio.sleep(30.0)  # longer than the shutdown grace
    return 1


def show_event(event: JobEvent) -> None:
    fields = attrs.asdict(event, recurse=False)
    detail = ", ".join(f"{k}={v!r}" for k, v in fields.items() if k not in ("job_id", "task"))
    print(
        f"  t={trio.current_time():5.2f}  {type(event).__name__:<12} job {event.job_id} ({event.task}) {detail}"
    )


def done(job: Job) -> None:
    print(f"  t={trio.current_time():5.2f}  on_complete: job {job.id} -> {job.result!r}")


async def main() -> None:
    store = MemoryJobStore()
    policy = RetryPolicy(max_attempts=4, initial_delay=0.25, jitter=Jitter.NONE)
    async with open_event_bus() as bus:
        bus.on(JobEvent, show_event)
        print("-- two workers; at t=0.5 a, b, c are due: c (priority 10) and a run, b waits")
        async with open_job_queue(
            tasks, concurrency=2, store=store, retry=policy, bus=bus, on_complete=done, grace=2.0
        ) as queue:
            await queue.add("resize", Resize("a.png", 64), run_at=0.5)  # attrs: JSON data
            await queue.add("resize", {"path": "b.png", "width": 32}, priority=-1, run_at=0.5)
            urgent = await queue.add(
                "resize", {"path": "c.png", "width": 16}, key="c", priority=10, run_at=0.5
            )
            later = await queue.add("resize", {"path": "d.png", "width": 8}, run_at=5.0)
            same = await queue.add("resize", {"path": "other"}, key="c")  # nothing added
            print(f"  key 'c' returned the existing job: {same.id == urgent.id}")
            flaky_job = await queue.add("flaky")
            cancelled = await queue.add("resize", {"path": "e.png", "width": 4}, run_at=3.0)
            await queue.cancel(cancelled.id)
            for job in (urgent, later, flaky_job):
                finished = await queue.wait(job.id)
                print(
                    f"  job {job.id}: {finished.status.name} after {finished.attempts} attempt(s)"
                )
            await queue.wait_idle()
            print("-- shutdown with a job still running: grace 2 s, then back to QUEUED")
            long = await queue.add("report")
            await trio.sleep(1.0)
        print(f"  t={trio.current_time():5.2f}  the block has ended")
        interrupted = await store.get(long.id)
        print(
            f"  job {long.id}: {interrupted.status.name}, attempts counted: {interrupted.attempts}"
        )
        print(f"  stats: {queue.stats}")


if __name__ == "__main__":
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
