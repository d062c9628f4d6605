"""A fake generation provider: simulated latency, progress, transient and permanent failures.

For tests, examples and benchmarks of :class:`trio_orch.GenerationOrchestrator`,
:func:`trio_orch.poll_job` and :func:`trio_orch.open_job_poller`.  It runs on Trio's clock,
so it is instant and deterministic under ``autojump_clock``.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, final

import attrs
import trio

from trio_orch import GenerationRequest, PollState, PollStatus, Provider
from trio_orch._validate import check_int, check_nonempty_str, check_number

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = ["FakeJob", "FakeProvider"]


@final
@attrs.define(eq=False)
class FakeJob:
    """One job a :class:`FakeProvider` was given.

    Attributes:
        id: the job id ``submit`` returned.
        request: the request.
        submitted_at: ``trio.current_time()`` at submit.
        fails: True if this job ends FAILED.
        cancelled: True once ``cancel`` was called for it (before it ended).
        polls: times (Trio's clock) at which it was polled, in order.
    """

    id: str
    request: GenerationRequest
    submitted_at: float
    fails: bool
    cancelled: bool = False
    polls: list[float] = attrs.field(factory=list)


class FakeProvider(Provider):
    """A :class:`~trio_orch.Provider` that simulates a remote generation backend.

    A job is QUEUED for ``queue_time`` seconds after submit, then RUNNING for ``latency``
    seconds with its progress rising linearly from 0 to 100, then SUCCEEDED with
    ``output(request)`` as its result — or FAILED with ``failure`` for the first
    ``fail_jobs`` jobs (permanent failures).  ``cancel`` makes a job CANCELLED.  Subclass it
    to change one behaviour (a ``cancel`` that fails, a ``poll`` that misbehaves).

    Args:
        id: the provider id.
        capabilities: the features it supports.
        latency: seconds a job runs.
        queue_time: seconds a job waits before it runs.
        poll_duration: seconds each ``poll`` call takes (to test overlapping and missed ticks).
        submit_errors: exceptions the next ``submit`` calls raise, one per call, in order
            (e.g. ``[TransientError("busy")]`` for a transient failure, a
            ``PermanentError`` for a permanent one).
        poll_errors: the same for ``poll``.
        fail_jobs: how many of the first jobs end FAILED.
        failure: the error message of a FAILED job.
        output: the result of a SUCCEEDED job, from its request; default
            ``{"provider": id, "feature": ..., "input": ...}``.

    Attributes:
        jobs: every :class:`FakeJob` by id, in submit order.
        polling: how many ``poll`` calls are under way now.
        max_polling: the most ``poll`` calls ever under way at once.
    """

    def __init__(
        self,
        id: str = "fake",  # the Provider attribute's name
        capabilities: Iterable[str] = ("text",),
        *,
        latency: float = 1.0,
        queue_time: float = 0.0,
        poll_duration: float = 0.0,
        submit_errors: Iterable[Exception] = (),
        poll_errors: Iterable[Exception] = (),
        fail_jobs: int = 0,
        failure: str = "simulated failure",
        output: Callable[[GenerationRequest], Any] | None = None,
    ) -> None:
        self.id = check_nonempty_str("id", id)
        self.capabilities = frozenset(capabilities)
        self.latency = check_number("latency", latency)
        self.queue_time = check_number("queue_time", queue_time)
        self.poll_duration = check_number("poll_duration", poll_duration)
        self.submit_errors: deque[Exception] = deque(submit_errors)
        self.poll_errors: deque[Exception] = deque(poll_errors)
        self.fail_jobs = check_int("fail_jobs", fail_jobs, minimum=0)
        self.failure = failure
        self.output = output
        self.jobs: dict[str, FakeJob] = {}
        self.polling = 0
        self.max_polling = 0

    async def submit(self, request: GenerationRequest) -> str:
        """Start a simulated job; raise the next of ``submit_errors`` if any are left."""
        await trio.lowlevel.checkpoint()
        if self.submit_errors:
            raise self.submit_errors.popleft()
        job_id = f"{self.id}-{len(self.jobs) + 1}"
        fails = len(self.jobs) < self.fail_jobs
        self.jobs[job_id] = FakeJob(job_id, request, trio.current_time(), fails)
        return job_id

    async def poll(self, job_id: str) -> PollStatus:
        """The job's status now; raise the next of ``poll_errors`` if any are left.

        Raises:
            KeyError: unknown job id (a permanent error).
        """
        job = self.jobs[job_id]
        self.polling += 1
        self.max_polling = max(self.max_polling, self.polling)
        try:
            job.polls.append(trio.current_time())
            if self.poll_duration:
                await trio.sleep(self.poll_duration)
            else:
                await trio.lowlevel.checkpoint()
        finally:
            self.polling -= 1
        if self.poll_errors:
            raise self.poll_errors.popleft()
        return self._status(job)

    def _status(self, job: FakeJob) -> PollStatus:
        if job.cancelled:
            return PollStatus(PollState.CANCELLED, error="cancelled")
        elapsed = trio.current_time() - job.submitted_at - self.queue_time
        if elapsed < 0:
            return PollStatus(PollState.QUEUED, progress=0.0)
        if elapsed < self.latency:
            return PollStatus(PollState.RUNNING, progress=100.0 * elapsed / self.latency)
        if job.fails:
            return PollStatus(PollState.FAILED, progress=100.0, error=self.failure)
        output = (
            self.output(job.request)
            if self.output is not None
            else {"provider": self.id, "feature": job.request.feature, "input": job.request.input}
        )
        return PollStatus(PollState.SUCCEEDED, progress=100.0, result=output)

    async def cancel(self, job_id: str) -> None:
        """Mark the job CANCELLED (unless it already ended)."""
        await trio.lowlevel.checkpoint()
        job = self.jobs.get(job_id)
        if job is not None and not self._status(job).state.finished:
            job.cancelled = True
