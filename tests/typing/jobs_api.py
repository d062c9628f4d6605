"""assert_type checks of the job queue, generation and polling APIs.

NOT meant to be executed: ``mypy --strict tests/typing`` checks it.
"""

from __future__ import annotations

from typing import Any, assert_type

from trio_orch import (
    GenerationOrchestrator,
    GenerationRequest,
    GenerationResult,
    Job,
    JobPoller,
    JobQueue,
    JobQueueStats,
    JobStatus,
    PollResult,
    PollStatus,
    Progress,
    ProviderRegistry,
    TaskRegistry,
    open_job_poller,
    open_job_queue,
    poll_job,
)
from trio_orch.testing import FakeProvider

tasks = TaskRegistry()


@tasks.task("resize")
async def resize(payload: dict[str, Any]) -> dict[str, Any]:
    return payload


async def jobs() -> None:
    async with open_job_queue(tasks, concurrency=3) as queue:
        assert_type(queue, JobQueue)
        job = await queue.add("resize", {"path": "a.png"}, key=None, priority=0)
        assert_type(job, Job)
        assert_type(job.status, JobStatus)
        assert_type(await queue.status(job.id), Job)
        assert_type(await queue.jobs(status=JobStatus.FAILED), list[Job])
        assert_type(await queue.wait(job.id), Job)
        assert_type(await queue.cancel(job.id), Job)
        assert_type(queue.stats, JobQueueStats)


async def generation() -> None:
    provider = FakeProvider("fake", ["text"])
    gen = GenerationOrchestrator(ProviderRegistry([provider]), timeout=30.0)

    def on_progress(progress: Progress) -> None: ...

    result = await gen.execute(GenerationRequest("text", "hi", "u"), on_progress=on_progress)
    assert_type(result, GenerationResult)
    job_id = await provider.submit(GenerationRequest("text", "hi"))
    assert_type(await provider.poll(job_id), PollStatus)
    assert_type(await poll_job(provider, job_id, interval=1.0, timeout=10.0), PollResult)
    async with open_job_poller(provider, job_id) as poller:
        assert_type(poller, JobPoller)
        assert_type(await poller.wait(), PollResult | None)
