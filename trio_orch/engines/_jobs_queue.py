"""The background job queue: :func:`open_job_queue` and :class:`JobQueue`.

Jobs name a task of a :class:`~trio_orch.TaskRegistry` and carry JSON data, so they can wait
in any :class:`~trio_orch.JobStore`.  The queue owns a nursery (the ``async with`` block's)
with ``concurrency`` worker tasks, a timer task and a heartbeat task:

* a worker claims a due job from the store and runs it in a cancel scope of its own (claiming
  one more for each idle worker, handed over without another store call); with nothing to do
  it parks until a job may be due: ``add``, ``retry``, a requeue, or the timer;
* the timer pokes an idle worker when the next delayed job (or a retry's backoff) is due,
  and every ``poll_interval`` for jobs added by other processes;
* the heartbeat renews the leases of the running attempts, stops attempts whose lease was
  lost, and returns the jobs of lost workers to the queue.

Every state change is one store call and the queue keeps no job state of its own beyond the
attempts it is running (their cancel scopes), so a store shared by several queues in several
processes works unchanged.  Nothing outlives the block.
"""

from __future__ import annotations

import inspect
import itertools
import math
import os
import socket
import uuid
from collections import deque
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, final

import attrs
import trio

from trio_orch._groups import open_nursery_unwrapped
from trio_orch._log import get_logger
from trio_orch._shielded import run_shielded
from trio_orch._validate import (
    check_callable,
    check_instance,
    check_int,
    check_nonempty_str,
    check_number,
)
from trio_orch.engines._jobs_events import (
    JobCancelled,
    JobFailed,
    JobQueued,
    JobRequeued,
    JobRetrying,
    JobStarted,
    JobSucceeded,
)
from trio_orch.engines._jobs_model import Job, JobQueueStats, JobSpec, JobStatus, to_json_data
from trio_orch.engines._jobs_registry import TaskRegistry
from trio_orch.engines._jobs_store import JobStore, MemoryJobStore
from trio_orch.engines._store_url import store_from_url
from trio_orch.primitives import RetryPolicy

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from trio_orch.events import Event, EventBus

__all__ = ["JobQueue", "open_job_queue"]

_logger = get_logger("jobs")

#: Seconds a store write after an interrupted attempt may take (it runs shielded).
_CLEANUP_TIMEOUT = 5.0


def _check_priority(priority: object) -> None:
    if isinstance(priority, bool) or not isinstance(priority, int):
        msg = f"priority must be an int, got {priority!r}"
        raise TypeError(msg)


def _check_run_at(run_at: object) -> float:
    if isinstance(run_at, bool) or not isinstance(run_at, int | float):
        msg = f"run_at must be a number or None, got {run_at!r}"
        raise TypeError(msg)
    if not math.isfinite(run_at):
        msg = f"run_at must be finite, got {run_at!r}"
        raise ValueError(msg)
    return float(run_at)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


# --- the queue ----------------------------------------------------------------------------


@attrs.define(eq=False)
class _Attempt:
    """An attempt this queue runs: its cancel scope and why it was cancelled, if it was."""

    job: Job
    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    reason: str | None = None  # "cancelled" | "lost" | "shutdown"


@attrs.define(eq=False)
class _Waiters:
    """The tasks in :meth:`JobQueue.wait` for one job: the event that wakes them, how many."""

    event: trio.Event = attrs.Factory(trio.Event)
    count: int = 0


def _emitter(bus: EventBus) -> Callable[[Event], None]:
    emit = bus.emit

    def safe_emit(event: Event) -> None:
        try:
            emit(event)
        except Exception as exc:
            _logger.warning(
                "trio_orch.jobs.event_dropped", event_type=type(event).__name__, error=repr(exc)
            )

    return safe_emit


def _backoff(policy: RetryPolicy, attempt: int) -> float:
    """The delay before retry number ``attempt`` on ``policy``'s schedule (jitter included)."""
    schedule = attrs.evolve(policy, max_attempts=attempt + 1).delays()
    return next(itertools.islice(schedule, attempt - 1, None))


@final
class JobQueue:
    """A running job queue, from ``async with open_job_queue(...) as queue``.

    Every method goes to the store: a snapshot returned is the store's answer at that
    moment.  Times in :class:`~trio_orch.Job` snapshots are on Trio's clock.

    The store calls of the workers, the timer and the heartbeat never end the block: one
    that raises is logged (``"trio_orch.jobs.store_failed"``) and tried again at the next
    tick, or, for the call that records an attempt's end, left to the job's lease (it goes
    back to QUEUED when the lease ends).
    """

    def __init__(
        self,
        tasks: TaskRegistry,
        store: JobStore,
        *,
        concurrency: int,
        retry: RetryPolicy,
        bus: EventBus | None,
        on_complete: Callable[[Job], object] | None,
        on_error: Callable[[Job], object] | None,
        lease: float,
        heartbeat: float,
        poll_interval: float,
        worker_id: str,
    ) -> None:
        self._tasks = tasks
        self._store = store
        self._concurrency = concurrency
        self._retry = retry
        self._emit = None if bus is None else _emitter(bus)
        self._on_complete = on_complete
        self._on_error = on_error
        self._lease = lease
        self._heartbeat = heartbeat
        self._poll_interval = poll_interval
        self._worker_id = worker_id
        self._running: dict[str, _Attempt] = {}
        self._waiters: dict[str, _Waiters] = {}  # only jobs somebody waits for right now
        self._idle = trio.lowlevel.ParkingLot()  # workers with nothing to do
        self._ready: deque[_Attempt] = deque()  # claimed for idle workers, not started yet
        self._timer_wake = trio.Event()  # something may be due sooner than the timer thinks
        self._workers = 0
        self._workers_done = trio.Event()
        # Workers claim only when something may be due: ``_pokes`` counts the events that
        # may have made a job due (add, retry, a requeue, a timer tick) and that no claim has
        # answered yet.  A claim that finds fewer jobs than it asked for answers the pokes
        # made before it started; pokes made meanwhile remain for the next claim.
        self._pokes = 1
        self._clock = store.clock
        self._quiet = trio.Event()  # set (and replaced) when nothing runs and nothing is due
        self._empty = trio.Event()  # set (and replaced) when the last running attempt ends
        self._service_scope = trio.CancelScope()
        self._closing = False
        self._aborted = False
        self._closed = False
        self._added = self._started = self._succeeded = self._failed = 0
        self._retried = self._cancelled = self._requeued = self._lost = 0

    def __repr__(self) -> str:
        state = "closed" if self._closed else "closing" if self._closing else "open"
        return (
            f"<JobQueue {state} running={len(self._running)}/{self._concurrency} "
            f"worker={self._worker_id!r}>"
        )

    # ---- public ----------------------------------------------------------------------------

    @property
    def stats(self) -> JobQueueStats:
        """A :class:`JobQueueStats` snapshot."""
        return JobQueueStats(
            concurrency=self._concurrency,
            running=len(self._running),
            added=self._added,
            started=self._started,
            succeeded=self._succeeded,
            failed=self._failed,
            retried=self._retried,
            cancelled=self._cancelled,
            requeued=self._requeued,
            lost=self._lost,
        )

    @property
    def store(self) -> JobStore:
        """The :class:`~trio_orch.JobStore` this queue uses."""
        return self._store

    @property
    def worker_id(self) -> str:
        """The id this queue claims jobs under (leases name it)."""
        return self._worker_id

    async def add(
        self,
        task: str,
        payload: Any = None,
        *,
        key: str | None = None,
        max_attempts: int | None = None,
        run_at: float | None = None,
        priority: int = 0,
    ) -> Job:
        """Add a job that runs the task ``task`` with ``payload``; return its snapshot.

        Args:
            task: the name of a task in the queue's :class:`TaskRegistry`.
            payload: JSON data for the task (checked and copied now; tuples become lists,
                attrs classes, dataclasses and enums are unstructured with cattrs).
            key: an idempotency key: if a job with this key exists, in any status, nothing
                is added and that job is returned.
            max_attempts: the job's attempt budget; ``None`` takes the queue's ``retry``
                policy's.  The policy's ``retry_on`` decides in both cases which errors are
                retried.
            run_at: when the job becomes due, an absolute time on Trio's clock
                (``trio.current_time()`` scale); ``None``: at once.
            priority: higher runs first among due jobs (default 0).

        Raises:
            ValueError: ``task`` is not registered (the message lists the names that are);
                ``max_attempts < 1``; an empty ``key``; a non-finite ``run_at`` or number in
                the payload.
            TypeError: ``payload`` is not JSON data (the message says where); an argument of
                the wrong type.
            trio.ClosedResourceError: the queue's block has ended.

        Cancellation:
            Either the job is stored and returned, or ``Cancelled`` propagates; with the
            in-memory store a cancelled ``add`` stores nothing.

        Checkpoints:
            Always (the store call).
        """
        if self._closed:
            self._check_open("add")
        if task not in self._tasks:
            self._tasks.get(task)  # raises, naming the registered tasks
        if key is not None:
            check_nonempty_str("key", key)
        if max_attempts is not None:
            check_int("max_attempts", max_attempts, minimum=1)
        if run_at is not None:
            run_at = _check_run_at(run_at)
        if type(priority) is not int:
            _check_priority(priority)
        data = to_json_data(payload, "payload")
        offset = self._offset()
        spec = JobSpec(
            task=task,
            payload=data,
            key=key,
            priority=priority,
            run_at=None if run_at is None else run_at + offset,
            max_attempts=self._retry.max_attempts if max_attempts is None else max_attempts,
        )
        job, created = await self._store.add(spec, trio.current_time() + offset)
        job = job.shifted(offset)
        if created:
            self._added += 1
            if self._emit is not None:
                self._emit(JobQueued(job.id, job.task, job.priority, job.run_at))
            if job.run_at is None or job.run_at <= trio.current_time():
                self._poke()
            else:
                self._timer_wake.set()
        return job

    async def status(self, job_id: str) -> Job:
        """The job's current snapshot.

        Raises:
            JobNotFound: no job has this id.

        Checkpoints:
            Always (the store call).
        """
        offset = self._offset()
        return (await self._store.get(job_id)).shifted(offset)

    async def jobs(self, status: JobStatus | None = None, *, limit: int | None = None) -> list[Job]:
        """Snapshots of the store's jobs in the order they were added.

        Args:
            status: only jobs in this :class:`~trio_orch.JobStatus`; ``None``: all.
            limit: at most this many; ``None``: all.

        Raises:
            TypeError: ``status`` is not a JobStatus (nor None).
            ValueError: ``limit < 0``.

        Checkpoints:
            Always (the store call).
        """
        check_instance("status", status, JobStatus, "a JobStatus", allow_none=True)
        check_int("limit", limit, minimum=0, allow_none=True)
        offset = self._offset()
        found = await self._store.list(status=status, limit=limit)
        return [job.shifted(offset) for job in found]

    async def cancel(self, job_id: str) -> Job:
        """Cancel the job; return its snapshot.

        A QUEUED job never runs.  A RUNNING job is CANCELLED now and its task is cancelled
        (at once when this queue runs it; at the next heartbeat of the worker that does
        otherwise); it is not retried.  A job that has ended is not changed.  Emits
        :class:`~trio_orch.JobCancelled` when it changed something.

        Raises:
            JobNotFound: no job has this id.

        Cancellation:
            Either the store cancelled the job and the running attempt is cancelled too,
            or ``Cancelled`` propagates.

        Checkpoints:
            Always (the store call).
        """
        offset = self._offset()
        job, previous = await self._store.cancel(job_id, trio.current_time() + offset)
        if previous.finished:
            return job.shifted(offset)
        attempt = self._running.get(job_id)
        if attempt is not None:
            attempt.reason = "cancelled"
            attempt.scope.cancel(reason="the job was cancelled")
        self._cancelled += 1
        if self._emit is not None:
            self._emit(JobCancelled(job.id, job.task, previous is JobStatus.RUNNING))
        self._notify(job_id)
        return job.shifted(offset)

    async def retry(self, job_id: str) -> Job:
        """Queue a FAILED or CANCELLED job again, with a fresh attempt budget; return it.

        Emits :class:`~trio_orch.JobQueued`.

        Raises:
            JobNotFound: no job has this id.
            JobStateError: the job is QUEUED, RUNNING or SUCCEEDED.
            trio.ClosedResourceError: the queue's block has ended.

        Checkpoints:
            Always (the store call).
        """
        self._check_open("retry")
        offset = self._offset()
        job = (await self._store.retry(job_id, trio.current_time() + offset)).shifted(offset)
        if self._emit is not None:
            self._emit(JobQueued(job.id, job.task, job.priority, job.run_at))
        self._poke()
        return job

    async def wait(self, job_id: str) -> Job:
        """Wait until the job is SUCCEEDED, FAILED or CANCELLED; return that snapshot.

        A job this queue finishes wakes the waiter at once; one finished elsewhere (another
        queue on the same store) is seen within ``poll_interval``.  A FAILED job that is
        retried later is not waited for again: ``wait`` returns the FAILED snapshot.

        Raises:
            JobNotFound: no job has this id.
            trio.ClosedResourceError: the queue's block has ended.

        Cancellation:
            Safe to cancel; nothing changes.

        Checkpoints:
            Always (the store call).
        """
        self._check_open("wait")
        waiters = self._waiters.get(job_id)
        if waiters is None:
            waiters = self._waiters[job_id] = _Waiters()
        waiters.count += 1
        try:
            while True:
                event = waiters.event  # before the store call: a finish meanwhile sets it
                job = await self.status(job_id)
                if job.finished:
                    return job
                with trio.move_on_after(self._poll_interval):
                    await event.wait()
        finally:  # the last waiter of a job removes its entry, however it leaves
            waiters.count -= 1
            if not waiters.count and self._waiters.get(job_id) is waiters:
                del self._waiters[job_id]

    async def wait_idle(self) -> None:
        """Wait until no job in the store is QUEUED or RUNNING (delayed jobs included).

        Jobs run by other queues on the same store count too; they are seen within
        ``poll_interval``.

        Raises:
            trio.ClosedResourceError: the queue's block has ended.

        Cancellation:
            Safe to cancel; nothing changes.

        Checkpoints:
            Always.
        """
        self._check_open("wait_idle")
        while True:
            quiet = self._quiet
            if not self._running:
                queued = await self._store.list(status=JobStatus.QUEUED, limit=1)
                running = await self._store.list(status=JobStatus.RUNNING, limit=1)
                if not queued and not running:
                    return
            else:
                await trio.lowlevel.checkpoint()
            with trio.move_on_after(self._poll_interval):
                await quiet.wait()

    # ---- internals -------------------------------------------------------------------------

    def _check_open(self, what: str) -> None:
        if self._closed:
            msg = f"cannot {what}: the job queue's async with block has ended"
            raise trio.ClosedResourceError(msg)

    def _offset(self) -> float:
        """Store time minus Trio time (0 for a store on Trio's clock)."""
        clock = self._clock
        return 0.0 if clock is None else clock() - trio.current_time()

    def _notify(self, job_id: str) -> None:
        waiters = self._waiters.get(job_id)
        if waiters is not None:
            waiters.event.set()
            waiters.event = trio.Event()

    def _poke(self) -> None:
        """A job may be due: let a worker claim (waking an idle one)."""
        self._pokes += 1
        self._idle.unpark()

    def _signal_quiet(self) -> None:
        self._quiet.set()
        self._quiet = trio.Event()

    async def _serve(self) -> None:
        """Run the timer and the heartbeat until shutdown cancels ``_service_scope``."""
        with self._service_scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._heartbeats)
                await self._timer()

    async def _timer(self) -> None:  # noqa: ASYNC910 - a service task: it loops until shutdown
        """Wake an idle worker when a delayed job is due, and every ``poll_interval``."""
        while True:
            wake = self._timer_wake = trio.Event()
            offset = self._offset()
            try:
                due = await self._store.next_due(trio.current_time() + offset)
            except Exception as exc:
                _logger.warning("trio_orch.jobs.store_failed", call="next_due", error=repr(exc))
                due = None
            deadline = trio.current_time() + self._poll_interval
            if due is not None:
                deadline = min(deadline, due - offset)
            with trio.move_on_at(deadline):
                await wake.wait()
            self._poke()

    async def _worker(self) -> None:  # noqa: ASYNC910 - a worker task: it loops until shutdown
        """Claim a job (and one for each idle worker), run it, repeat until shutdown."""
        self._workers += 1
        try:
            while self._ready or not self._closing:
                if self._ready:
                    await trio.lowlevel.checkpoint_if_cancelled()  # not run if cancelled
                    await self._run(self._ready.popleft())
                    continue
                if self._pokes <= 0:  # nothing may have become due since the last claim
                    if not self._running:
                        self._signal_quiet()
                    if not self._closing:
                        await self._idle.park()
                    continue
                pokes = self._pokes
                limit = 1 + len(self._idle)
                offset = self._offset()
                try:
                    claimed = await self._store.claim(
                        self._worker_id, limit, self._lease, trio.current_time() + offset
                    )
                except Exception as exc:
                    _logger.warning("trio_orch.jobs.store_failed", call="claim", error=repr(exc))
                    with trio.move_on_after(self._poll_interval):
                        await self._idle.park()
                    continue
                if len(claimed) < limit:  # nothing more was due: the pokes before it are answered
                    self._pokes = max(0, self._pokes - pokes)
                if not claimed:
                    continue
                attempts = [self._start(job.shifted(offset)) for job in claimed]
                if len(attempts) > 1:
                    self._ready.extend(attempts[1:])
                    self._idle.unpark(count=len(attempts) - 1)
                await self._run(attempts[0])
        finally:
            # Cancelled (or crashing) with jobs claimed for idle workers: give them back
            # without running them (each requeue is shielded and bounded).
            while self._ready:
                attempt = self._ready.popleft()
                attempt.reason = attempt.reason or "shutdown"
                await self._run(attempt)
            self._workers -= 1
            if not self._workers:
                self._workers_done.set()

    def _start(self, job: Job) -> _Attempt:
        attempt = _Attempt(job)
        if self._aborted:  # claimed while shutting down: give it straight back
            attempt.reason = "shutdown"
            attempt.scope.cancel(reason="the job queue is shutting down")
        self._running[job.id] = attempt
        self._started += 1
        return attempt

    async def _run(self, attempt: _Attempt) -> None:  # noqa: ASYNC910 - a task body: the task fn or the store call checkpoints
        job = attempt.job
        settled = False
        try:
            if attempt.reason is not None:  # claimed while shutting down: not run at all
                return  # noqa: ASYNC910 - the finally requeues it (a shielded store call)
            if job.task not in self._tasks:
                error = f"LookupError: no task named {job.task!r} in this worker's TaskRegistry"
                await self._finish_failed(job, error, retryable=False)
                settled = True
                return
            fn = self._tasks.get(job.task)
            if self._emit is not None:
                self._emit(JobStarted(job.id, job.task, job.attempts))
            started = trio.current_time()
            failure: Exception | None = None
            result: Any = None
            retryable = True
            try:
                with attempt.scope:
                    value = await fn(job.payload)
            except (
                Exception
            ) as exc:  # also what the scope leaves of a group once it took its Cancelled
                failure = exc
            else:
                if not attempt.scope.cancelled_caught:
                    try:
                        result = to_json_data(value, "result")
                    except (TypeError, ValueError) as exc:
                        failure, retryable = exc, False
            if attempt.scope.cancelled_caught:
                if failure is not None:  # raised while it was being cancelled: not lost silently
                    _logger.warning(
                        "trio_orch.jobs.interrupted_attempt_failed",
                        job_id=job.id,
                        task=job.task,
                        reason=attempt.reason,
                        error=repr(failure),
                    )
                settled = self._interrupted(attempt)
            elif failure is None:
                await self._finish_succeeded(job, result, trio.current_time() - started)
                settled = True
            else:
                retryable = retryable and self._retry.should_retry(failure)
                await self._finish_failed(job, _describe(failure), retryable=retryable)
                settled = True
        finally:
            if not settled:
                await self._requeue_shielded(job)
            del self._running[job.id]
            if not self._running:
                self._empty.set()
                self._empty = trio.Event()

    def _interrupted(self, attempt: _Attempt) -> bool:
        """The attempt's scope was cancelled; return False if the job still needs a requeue."""
        job = attempt.job
        if attempt.reason == "lost":
            self._lost += 1
            _logger.warning(
                "trio_orch.jobs.lease_lost", job_id=job.id, task=job.task, worker=self._worker_id
            )
            return True
        return attempt.reason == "cancelled"  # "shutdown": the finally requeues it

    async def _requeue_shielded(self, job: Job) -> None:
        """Give an interrupted attempt's job back to the store (shielded and bounded)."""
        done = await run_shielded(
            lambda: self._store.requeue(
                job.id, self._worker_id, trio.current_time() + self._offset()
            ),
            _CLEANUP_TIMEOUT,
        )
        if not done.ok:
            error = "timeout" if done.error is None else repr(done.error)
            _logger.error("trio_orch.jobs.store_failed", call="requeue", job_id=job.id, error=error)
            return
        back = done.value
        if back is not None:
            self._requeued_one(job, "shutdown")

    def _requeued_one(self, job: Job, reason: str) -> None:
        """Count, log and report one job put back to QUEUED (``"shutdown"``: info level)."""
        self._requeued += 1
        log = _logger.info if reason == "shutdown" else _logger.warning
        log(
            "trio_orch.jobs.requeued",
            job_id=job.id,
            task=job.task,
            attempt=job.attempts,
            reason=reason,
        )
        if self._emit is not None:
            self._emit(JobRequeued(job.id, job.task, job.attempts, reason))

    async def _finish_succeeded(self, job: Job, result: Any, duration: float) -> None:
        offset = self._offset()
        try:
            done = await self._store.complete(
                job.id, self._worker_id, result, trio.current_time() + offset
            )
        except Exception as exc:
            self._finish_store_failed("complete", job, exc)
            return  # noqa: ASYNC910 - private: the store call ran (a store checkpoints)
        if done is None:
            return  # cancelled (or the lease was lost) while it ran: the result is dropped
        self._succeeded += 1
        if self._emit is not None:
            self._emit(JobSucceeded(job.id, job.task, job.attempts, duration))
        self._notify(job.id)
        if self._on_complete is not None:
            await self._callback(self._on_complete, done.shifted(offset))

    async def _finish_failed(self, job: Job, error: str, *, retryable: bool) -> None:
        offset = self._offset()
        now = trio.current_time() + offset
        retrying = retryable and job.attempts < job.max_attempts
        delay = _backoff(self._retry, job.attempts) if retrying else 0.0
        try:
            done = await self._store.fail(
                job.id, self._worker_id, error, now + delay if retrying else None, now
            )
        except Exception as exc:
            self._finish_store_failed("fail", job, exc)
            return  # noqa: ASYNC910 - private: the store call ran (a store checkpoints)
        if done is None:
            return
        if retrying:
            self._retried += 1
            if delay <= 0:
                self._poke()
            self._timer_wake.set()  # the timer pokes the workers when the backoff ends
            if self._emit is not None:
                self._emit(JobRetrying(job.id, job.task, job.attempts, delay, error))
            return
        self._failed += 1
        _logger.warning(
            "trio_orch.jobs.failed",
            job_id=job.id,
            task=job.task,
            attempt=job.attempts,
            max_attempts=job.max_attempts,
            error=error,
        )
        if self._emit is not None:
            self._emit(JobFailed(job.id, job.task, job.attempts, error))
        self._notify(job.id)
        if self._on_error is not None:
            await self._callback(self._on_error, done.shifted(offset))

    def _finish_store_failed(self, call: str, job: Job, exc: Exception) -> None:
        """The store call recording an attempt's end raised: the queue goes on.

        The job stays RUNNING under this worker, which no longer renews its lease: when the
        lease ends, a heartbeat (of any queue on the store) puts it back to QUEUED.
        """
        _logger.warning(
            "trio_orch.jobs.store_failed", call=call, job_id=job.id, task=job.task, error=repr(exc)
        )

    async def _callback(self, fn: Callable[[Job], object], job: Job) -> None:  # noqa: ASYNC910 - a private helper: the store call before it checkpointed
        try:
            value = fn(job)
            if inspect.isawaitable(value):
                await value
        except Exception as exc:
            _logger.error(
                "trio_orch.jobs.callback_failed",
                callback=getattr(fn, "__qualname__", repr(fn)),
                job_id=job.id,
                error=repr(exc),
            )

    async def _heartbeats(self) -> None:
        while True:
            await trio.sleep(self._heartbeat)
            try:
                await self._beat()
            except Exception as exc:
                _logger.warning("trio_orch.jobs.store_failed", call="heartbeat", error=repr(exc))

    async def _beat(self) -> None:
        store = self._store
        offset = self._offset()
        ids = list(self._running)
        if ids:
            held = set(
                await store.heartbeat(
                    self._worker_id, ids, self._lease, trio.current_time() + offset
                )
            )
            for job_id in ids:
                attempt = self._running.get(job_id)
                if job_id not in held and attempt is not None and attempt.reason is None:
                    attempt.reason = "lost"
                    attempt.scope.cancel(reason="the worker no longer holds the job's lease")
        for job in await store.requeue_expired(trio.current_time() + offset):
            self._requeued_one(job, "lease_expired")
            self._poke()

    def _abort(self) -> None:
        """Stop claiming; cancel every running attempt (each one's job goes back to QUEUED)."""
        self._closing = self._aborted = True
        self._idle.unpark_all()
        for attempt in self._running.values():
            if attempt.reason is None:
                attempt.reason = "shutdown"
                attempt.scope.cancel(reason="the job queue is shutting down")

    async def _shutdown(self, grace: float) -> None:  # noqa: ASYNC910 - private: the block's exit checkpoints
        """Stop claiming, give running attempts ``grace`` seconds, then abort the rest.

        The heartbeat keeps renewing leases until the last attempt has ended.
        """
        self._closing = True
        self._idle.unpark_all()
        with trio.move_on_after(grace):
            while self._running:
                await self._empty.wait()
        self._abort()
        # Each aborted attempt gives its job back in a shielded store call bounded by the
        # cleanup bound.  Then a claim under way still returns its jobs to the queue and
        # the workers end by themselves; one that does not within the bound is cancelled.
        while self._running:
            await self._empty.wait()
        if self._workers:
            with trio.move_on_after(_CLEANUP_TIMEOUT):
                await self._workers_done.wait()
        if self._workers:  # stuck in a store call: the block cancels them (the bound holds)
            _logger.warning(
                "trio_orch.jobs.workers_cancelled",
                workers=self._workers,
                reason=f"a store call did not return within {_CLEANUP_TIMEOUT:g} s of shutdown",
            )
        self._service_scope.cancel(reason="the job queue has shut down")


def _default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _check_options(
    tasks: object,
    concurrency: object,
    retry: object,
    grace: object,
    bus: object,
    on_complete: object,
    on_error: object,
    lease: object,
    heartbeat: object,
    poll_interval: object,
) -> None:
    if not isinstance(tasks, TaskRegistry):
        msg = f"tasks must be a TaskRegistry, got {tasks!r}"
        raise TypeError(msg)
    check_int("concurrency", concurrency, minimum=0)
    if retry is not None and not isinstance(retry, RetryPolicy):
        msg = f"retry must be a RetryPolicy or None, got {retry!r}"
        raise TypeError(msg)
    check_number("grace", grace, allow_inf=True)
    if bus is not None and not callable(getattr(bus, "emit", None)):
        msg = f"bus must be an EventBus or None, got {bus!r}"
        raise TypeError(msg)
    check_callable("on_complete", on_complete, allow_none=True)
    check_callable("on_error", on_error, allow_none=True)
    check_number("lease", lease, strict=True)
    check_number("heartbeat", heartbeat, strict=True, allow_none=True)
    check_number("poll_interval", poll_interval, strict=True)


@asynccontextmanager
async def open_job_queue(
    tasks: TaskRegistry,
    *,
    concurrency: int = 10,
    store: JobStore | str | None = None,
    retry: RetryPolicy | None = None,
    grace: float = 10.0,
    bus: EventBus | None = None,
    on_complete: Callable[[Job], object] | None = None,
    on_error: Callable[[Job], object] | None = None,
    lease: float = 30.0,
    heartbeat: float | None = None,
    poll_interval: float = 1.0,
    worker_id: str | None = None,
) -> AsyncIterator[JobQueue]:
    """Run a job queue for the block: ``async with open_job_queue(tasks) as queue:``.

    Workers run in the block's nursery, at most ``concurrency`` attempts at once.  When the
    block ends normally the queue stops claiming jobs, gives the running attempts ``grace``
    seconds to finish, then cancels the rest: each of those jobs goes back to QUEUED with its
    attempt counted (it runs again under the next queue on the same store).  Jobs still
    QUEUED stay in the store.  If the block raises or is cancelled, running attempts are
    cancelled at once and requeued the same way.

    Args:
        tasks: the :class:`TaskRegistry` of the tasks jobs may name.
        concurrency: the most attempts running at once.  ``0`` makes a producer-only
            queue: it adds, cancels, retries and waits for jobs but runs none (workers on
            the same store elsewhere do).
        store: where jobs live: a :class:`~trio_orch.JobStore`, a store URL
            (``"memory://"``), or ``None`` for a new :class:`~trio_orch.MemoryJobStore`.
        retry: the retry policy of failed attempts: its ``max_attempts`` is the default
            budget of ``add``, its ``retry_on`` decides which errors are retried (others fail
            the job at once) and its schedule gives the backoff.  ``None``:
            ``RetryPolicy()``.
        grace: seconds running attempts get to finish at shutdown (``math.inf``: wait).
        bus: an event bus for the :class:`~trio_orch.JobEvent` events.
        on_complete: called with the :class:`~trio_orch.Job` snapshot when a job
            SUCCEEDED here; sync or async.  What it raises is logged and ignored.
        on_error: the same when a job FAILED here (not for CANCELLED).
        lease: seconds a claim holds a job without a heartbeat.  A worker that stops
            renewing (it died) loses its jobs to the queue after this.
        heartbeat: seconds between lease renewals (and checks for expired leases);
            ``None``: ``lease / 3``.
        poll_interval: the timer's tick when nothing is due: how soon a job added by
            another process is noticed.
        worker_id: the name leases are taken under; ``None``: ``"host:pid:random"``.

    Raises:
        TypeError, ValueError: a bad argument (the message names it), e.g.
            ``concurrency must be >= 0, got -1``.
        Exception: whatever the block raised.

    Cancellation:
        Cancelling the block cancels running attempts at once; their jobs go back to QUEUED.
        No task outlives the block: a worker still stuck in a store call 5 s after the
        attempts ended is cancelled (logged as ``"trio_orch.jobs.workers_cancelled"``).
    """
    _check_options(
        tasks,
        concurrency,
        retry,
        grace,
        bus,
        on_complete,
        on_error,
        lease,
        heartbeat,
        poll_interval,
    )
    if worker_id is not None:
        check_nonempty_str("worker_id", worker_id)
    owned = isinstance(store, str)  # made here from a URL (the last check): closed here too
    if isinstance(store, str):
        the_store: JobStore = store_from_url(store)
    elif store is None:
        the_store = MemoryJobStore()
    else:
        the_store = check_instance("store", store, JobStore, "a JobStore, a store URL or None")  # type: ignore[type-abstract]  # isinstance only
    queue: JobQueue | None = None
    try:
        async with open_nursery_unwrapped("open_job_queue()") as nursery:
            queue = JobQueue(
                tasks,
                the_store,
                concurrency=concurrency,
                retry=RetryPolicy() if retry is None else retry,
                bus=bus,
                on_complete=on_complete,
                on_error=on_error,
                lease=lease,
                heartbeat=lease / 3 if heartbeat is None else heartbeat,
                poll_interval=poll_interval,
                worker_id=_default_worker_id() if worker_id is None else worker_id,
            )
            nursery.start_soon(queue._serve, name="job queue timer")
            for i in range(concurrency):
                nursery.start_soon(queue._worker, name=f"job queue worker {i}")
            try:
                yield queue
            except BaseException:
                queue._abort()
                queue._service_scope.cancel(reason="the job queue's block raised")
                raise
            await queue._shutdown(grace)
            nursery.cancel_scope.cancel(reason="the job queue has shut down")
    finally:
        if queue is not None:
            queue._closing = queue._closed = True
        if owned:
            closed = await run_shielded(the_store.aclose, _CLEANUP_TIMEOUT)
            if closed.error is not None:
                raise closed.error
            if closed.timed_out:  # given up: not silently
                _logger.error("trio_orch.jobs.store_failed", call="aclose", error="timeout")
