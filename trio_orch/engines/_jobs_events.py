"""The events a job queue publishes on an event bus.

Pass a bus to :func:`trio_orch.open_job_queue` (``bus=``) and the queue emits, with the bus's
non-blocking ``emit``, per job:

* :class:`JobQueued` when ``add`` created the job (not when a ``key`` found an existing one)
  and when ``retry`` queued it again;
* :class:`JobStarted` when a worker of this queue starts an attempt;
* :class:`JobRetrying` when an attempt failed and the job waits for its backoff;
* :class:`JobRequeued` when shutdown interrupted the job, or an expired lease (a lost worker)
  returned it to the queue;
* one of :class:`JobSucceeded`, :class:`JobFailed` or :class:`JobCancelled` when it ends.

All of them subclass :class:`JobEvent` (a :class:`~trio_orch.SystemEvent`), so
``bus.on(JobEvent, handler)`` sees every one.  The queue's log has only the unusual paths
(``"trio_orch.jobs.failed"``, ``"trio_orch.jobs.requeued"``, ``"trio_orch.jobs.lease_lost"``,
a failing callback or store call).
"""

from __future__ import annotations

from typing import final

import attrs

from trio_orch.events import SystemEvent

__all__ = [
    "JobCancelled",
    "JobEvent",
    "JobFailed",
    "JobQueued",
    "JobRequeued",
    "JobRetrying",
    "JobStarted",
    "JobSucceeded",
]


@attrs.frozen
class JobEvent(SystemEvent):
    """Base class of every event a job queue publishes.

    Attributes:
        job_id: the job's id.
        task: the job's task name.
    """

    job_id: str
    task: str


@final
@attrs.frozen
class JobQueued(JobEvent):
    """The job was added (or queued again by ``retry``).

    Attributes:
        priority: the job's priority.
        run_at: when it becomes due on Trio's clock, or ``None`` (at once).
    """

    priority: int
    run_at: float | None


@final
@attrs.frozen
class JobStarted(JobEvent):
    """A worker of this queue started an attempt.

    Attributes:
        attempt: the attempt's number in the job's budget (1 is the first).
    """

    attempt: int


@final
@attrs.frozen
class JobSucceeded(JobEvent):
    """The task returned; the job is SUCCEEDED.

    Attributes:
        attempt: the attempt that succeeded.
        duration: seconds the attempt took, on Trio's clock.
    """

    attempt: int
    duration: float


@final
@attrs.frozen
class JobFailed(JobEvent):
    """The job is FAILED: a non-retryable error, or its attempts ran out.

    Attributes:
        attempt: the attempt that failed last.
        error: ``"ExceptionType: message"``.
    """

    attempt: int
    error: str


@final
@attrs.frozen
class JobRetrying(JobEvent):
    """An attempt failed with an error the retry policy retries; the job waits ``delay``.

    Attributes:
        attempt: the attempt that failed.
        delay: seconds of backoff before the job is due again.
        error: ``"ExceptionType: message"``.
    """

    attempt: int
    delay: float
    error: str


@final
@attrs.frozen
class JobCancelled(JobEvent):
    """``cancel`` ended the job: it never runs again (unless retried).

    Attributes:
        was_running: True if an attempt was running (its task was cancelled).
    """

    was_running: bool


@final
@attrs.frozen
class JobRequeued(JobEvent):
    """An attempt was interrupted and the job is QUEUED again, the attempt counted.

    Attributes:
        attempt: the attempt that was interrupted.
        reason: ``"shutdown"`` (the queue's block ended before the job did) or
            ``"lease_expired"`` (the worker holding it stopped renewing its lease).
    """

    attempt: int
    reason: str
