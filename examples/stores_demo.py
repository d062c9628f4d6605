"""The same job queue code on the memory, SQLite and (if you give one) PostgreSQL stores.

* the jobs outlive their queue: a second queue on the same SQLite file finds them;
* a worker that dies holding a job (it stops renewing its lease) loses it to another worker
  once the lease expires, with the attempt counted: the task runs again, so it must be
  idempotent;
* ``trio-orch jobs ls --store URL --json`` lists the store's jobs.

PostgreSQL: ``TRIO_ORCH_PG_DSN=postgresql://user:password@host/db python examples/stores_demo.py``.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from trio_orch import JobSpec, JobStore, TaskRegistry, job_store_from_url, open_job_queue
from trio_orch.cli._jobs_cmd import jobs_main

tasks = TaskRegistry()
runs: list[str] = []


@tasks.task("greet")
async def greet(payload: Any) -> str:
    runs.append(payload["name"])  # an idempotent task: running it twice does no harm
    await trio.sleep(0.01)
    return f"hello {payload['name']}"


async def same_code(url: str) -> None:
    """What a program does, whatever the store."""
    async with open_job_queue(tasks, store=url, concurrency=4, poll_interval=0.05) as queue:
        first = await queue.add("greet", {"name": "ada"}, key="ada", priority=1)
        await queue.add("greet", {"name": "bob"}, run_at=trio.current_time() + 0.05)
        done = await queue.wait(first.id)
        await queue.wait_idle()
        jobs = await queue.jobs()
    print(f"{url.split(':')[0]:>10}: {done.result!r}; {[j.status.name for j in jobs]}")


async def dead_worker(store: JobStore) -> None:
    """A worker claims a job and dies (no heartbeat); another worker takes it over."""
    now = time.time()
    job, _ = await store.add(JobSpec(task="greet", payload={"name": "eve"}), now)
    await store.claim("a-worker-that-died", 1, 0.2, now)  # a 0.2 s lease, never renewed
    async with open_job_queue(tasks, store=store, lease=1.0, heartbeat=0.05) as queue:
        done = await queue.wait(job.id)
    print(
        f"dead worker: job {job.id} {done.status.name} on attempt {done.attempts}"
        f" (requeued {queue.stats.requeued} expired lease)"
    )


async def main(folder: Path) -> None:
    await same_code("memory://")
    url = f"sqlite:///{folder}/jobs.db"
    await same_code(url)
    async with open_job_queue(tasks, store=url) as queue:  # "another process", later
        print(f"    reopen: {len(await queue.jobs())} jobs still in {folder.name}/jobs.db")
    store = job_store_from_url(url)
    try:
        await dead_worker(store)
    finally:
        await store.aclose()
    dsn = os.environ.get("TRIO_ORCH_PG_DSN")
    if dsn:
        await same_code(dsn)
    print(f"runs: {sorted(runs)}")


if __name__ == "__main__":
    folder = Path(tempfile.mkdtemp())
    trio.run(main, folder)
    print("trio-orch jobs ls --json:")
    jobs_main(["ls", "--store", f"sqlite:///{folder}/jobs.db", "--json", "--limit", "2"])
