"""Generation: providers chosen by capability, middleware, progress stages, retries, a
timeout, polling a job directly, and requests run in the background on a job queue.

The providers are ``trio_orch.testing.FakeProvider``s (simulated latency, progress and
failures) and the script runs on trio's MockClock, so it finishes at once with exact times.
"""

from __future__ import annotations

import trio
import trio.testing

from trio_orch import (
    GenerationFailed,
    GenerationOrchestrator,
    GenerationRequest,
    GenerationResult,
    Jitter,
    Middleware,
    PermanentError,
    Progress,
    ProviderRegistry,
    RetryPolicy,
    TaskRegistry,
    TransientError,
    open_job_poller,
    open_job_queue,
    poll_job,
)
from trio_orch.testing import FakeProvider


class Audit(Middleware):
    """Logs every request and result (after hooks run in reverse order)."""

    async def before(self, request: GenerationRequest) -> None:
        await trio.lowlevel.checkpoint()
        print(f"  audit: {request.user_id} asks for {request.feature!r}")

    async def after(self, request: GenerationRequest, result: GenerationResult) -> None:
        await trio.lowlevel.checkpoint()
        print(f"  audit: {result.provider_id} answered in {result.duration:g} s")

    async def on_error(self, request: GenerationRequest, error: Exception) -> None:
        await trio.lowlevel.checkpoint()
        print(f"  audit: {request.feature!r} failed: {type(error).__name__}: {error}")


class Quota(Middleware):
    """Refuses users without quota before any provider is asked."""

    async def before(self, request: GenerationRequest) -> None:
        await trio.lowlevel.checkpoint()
        if request.user_id == "mallory":
            raise PermanentError("no quota left")


def show(progress: Progress) -> None:
    print(f"  t={trio.current_time():4.1f}  {progress.stage:<10} {progress.percent:5.1f} %")


async def main() -> None:
    text = FakeProvider("textgen", ["text"], latency=2.0, submit_errors=[TransientError("busy")])
    images = FakeProvider("imagegen", ["image"], latency=4.0, queue_time=1.0, fail_jobs=1)
    registry = ProviderRegistry([text, images])
    gen = GenerationOrchestrator(
        registry,
        retry=RetryPolicy(max_attempts=3, initial_delay=0.5, jitter=Jitter.NONE),
        timeout=30.0,
        middleware=[Audit(), Quota()],
        poll_interval=0.5,
    )

    print("-- text: chosen by capability; the first submit is busy and retried")
    result = await gen.execute(
        GenerationRequest("text", {"prompt": "a haiku"}, "alice"), on_progress=show
    )
    print(f"  output: {result.output}")

    print("-- image: the provider reports the job FAILED")
    try:
        await gen.execute(GenerationRequest("image", {"prompt": "a cat"}, "bob"))
    except GenerationFailed as error:
        print(f"  GenerationFailed: {error}")

    print("-- middleware refuses before any provider is asked")
    try:
        await gen.execute(GenerationRequest("text", "hi", "mallory"))
    except PermanentError as error:
        print(f"  refused: {error}")

    print("-- polling a job directly: poll_job, then open_job_poller with callbacks")
    job_id = await images.submit(GenerationRequest("image", {"prompt": "a dog"}, "carol"))
    polled = await poll_job(images, job_id, interval=1.0, timeout=10.0)
    print(f"  poll_job: {polled.status.state.name} after {polled.attempts} polls")
    job_id = await images.submit(GenerationRequest("image", {"prompt": "a fox"}, "carol"))
    async with open_job_poller(
        images,
        job_id,
        interval=1.0,
        on_progress=lambda s: print(f"  t={trio.current_time():4.1f}  {s.state.name} {s.progress}"),
        on_complete=lambda r: print(f"  done: {r.status.state.name}, result {r.result}"),
    ):
        pass  # the block waits for the job to end

    print("-- background mode: requests as jobs on a job queue")
    tasks = TaskRegistry()
    gen.register_task(tasks)
    async with open_job_queue(tasks, concurrency=2) as queue:
        jobs = [
            await gen.enqueue(queue, GenerationRequest("text", {"prompt": p}, "dave"))
            for p in ("one", "two", "three")
        ]
        for job in jobs:
            finished = await queue.wait(job.id)
            answer = GenerationResult.from_data(finished.result)
            print(
                f"  job {job.id}: {finished.status.name} at t={trio.current_time():g}: {answer.output['input']}"
            )


if __name__ == "__main__":
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
