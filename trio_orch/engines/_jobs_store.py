"""Where a job queue keeps its state: the :class:`JobStore` interface and :class:`MemoryJobStore`.

The queue never keeps a job's state itself: every change goes through one atomic store call,
and every answer is a fresh :class:`~trio_orch.Job` snapshot.  So a store may live in another
process or on another machine (``SqliteJobStore``, ``PostgresJobStore``), shared by many
queues, and the queue does not change.  docs/jobs.md ("Writing a store") states the contract
each method must keep; the tests in tests/engines/test_jobs_store.py check it for any store.

Times are opaque numbers on the store's clock (:attr:`JobStore.clock`): the queue passes
``now`` explicitly to every call and converts ``run_at`` to and from Trio's clock.
"""

from __future__ import annotations

import abc
import heapq
import itertools
from typing import TYPE_CHECKING, Any, TypeAlias, final

import attrs
import trio

from trio_orch._exceptions import JobNotFound, JobStateError
from trio_orch.engines._jobs_model import Job, JobSpec, JobStatus, copy_json

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["JobStore", "MemoryJobStore"]

JobList: TypeAlias = "list[Job]"


class JobStore(abc.ABC):
    """The interface all of a job queue's state goes through.

    Subclass it to keep jobs elsewhere.  Every method is one atomic step that either happens
    completely or not at all, and returns snapshots that share nothing mutable with the
    store.  Times (``now``, ``run_at``, ``retry_at``, leases) are numbers on the store's
    clock; the store never reads a clock itself except through :attr:`clock`.

    Leases: :meth:`claim` hands RUNNING jobs to ``worker_id`` until ``now + lease``;
    :meth:`heartbeat` extends them; :meth:`complete`, :meth:`fail` and :meth:`requeue`
    succeed only for the worker that still holds the lease (they return ``None`` otherwise:
    the job was cancelled, or its lease expired and :meth:`requeue_expired` gave it back).

    See docs/jobs.md, "Writing a store", for the exact semantics of each method.
    """

    #: The store's clock.  ``None`` (the default): the store keeps times on Trio's clock,
    #: as the queue gives them.  A callable (e.g. ``time.time``): the store keeps wall-clock
    #: times, so they name the same moment in every process; the queue then passes ``now``
    #: from it and converts ``run_at`` and the snapshots' times to and from Trio's clock.
    clock: Callable[[], float] | None = None

    @abc.abstractmethod
    async def add(self, spec: JobSpec, now: float) -> tuple[Job, bool]:
        """Store a new QUEUED job; return ``(job, True)``.

        If ``spec.key`` is not ``None`` and a job with that key exists (in any status),
        store nothing and return ``(existing_job, False)``.
        """

    @abc.abstractmethod
    async def claim(self, worker_id: str, limit: int, lease: float, now: float) -> JobList:
        """Move at most ``limit`` due QUEUED jobs to RUNNING for ``worker_id``; return them.

        Due: ``run_at`` is ``None`` or ``<= now``.  Order: higher ``priority`` first, then
        the earlier ready time (``run_at``, or the time the job was queued), then the order
        they were added.  Each claimed job gets ``attempts + 1``, ``worker = worker_id``,
        ``lease_expires = now + lease`` and ``updated_at = now``.  No job is ever handed to
        two workers at once.
        """

    @abc.abstractmethod
    async def heartbeat(
        self, worker_id: str, job_ids: Sequence[str], lease: float, now: float
    ) -> list[str]:
        """Extend to ``now + lease`` the leases ``worker_id`` still holds among ``job_ids``.

        Return the ids it still holds (RUNNING with ``worker == worker_id``); the worker
        stops running the others (they were cancelled, or their lease expired).
        """

    @abc.abstractmethod
    async def complete(self, job_id: str, worker_id: str, result: Any, now: float) -> Job | None:
        """Mark a job ``worker_id`` holds SUCCEEDED with ``result``; ``None`` if not held."""

    @abc.abstractmethod
    async def fail(
        self, job_id: str, worker_id: str, error: str, retry_at: float | None, now: float
    ) -> Job | None:
        """Record a failed attempt of a job ``worker_id`` holds; ``None`` if not held.

        ``retry_at is None``: the job is FAILED with ``error``.  Otherwise it is QUEUED again,
        due at ``retry_at``, keeping ``error`` and its attempt count.
        """

    @abc.abstractmethod
    async def requeue(self, job_id: str, worker_id: str, now: float) -> Job | None:
        """Put a job ``worker_id`` holds back to QUEUED, its attempt counted; ``None`` if not held.

        Used when shutdown interrupts an attempt.  The job is due at once.
        """

    @abc.abstractmethod
    async def requeue_expired(self, now: float) -> JobList:
        """Put every RUNNING job whose lease ended before ``now`` back to QUEUED; return them.

        The attempt stays counted; the job is due at once.
        """

    @abc.abstractmethod
    async def cancel(self, job_id: str, now: float) -> tuple[Job, JobStatus]:
        """Cancel a QUEUED or RUNNING job; return the job and the status it had before.

        The job becomes CANCELLED; a RUNNING job's lease is released, so its worker's next
        heartbeat tells it to stop.  A job that already ended is not changed (the status
        returned is then its current, finished, one).

        Raises:
            JobNotFound: no job has this id.
        """

    @abc.abstractmethod
    async def retry(self, job_id: str, now: float) -> Job:
        """Queue a FAILED or CANCELLED job again, due at once, with a fresh attempt budget.

        ``attempts`` becomes 0 and ``error``, ``result`` and ``run_at`` are cleared.

        Raises:
            JobNotFound: no job has this id.
            JobStateError: the job is QUEUED, RUNNING or SUCCEEDED.
        """

    @abc.abstractmethod
    async def get(self, job_id: str) -> Job:
        """The job with this id.

        Raises:
            JobNotFound: no job has this id.
        """

    @abc.abstractmethod
    async def list(self, *, status: JobStatus | None = None, limit: int | None = None) -> JobList:
        """Jobs in the order they were added, only those in ``status`` if given, at most ``limit``."""

    @abc.abstractmethod
    async def next_due(self, now: float) -> float | None:
        """The earliest ``run_at`` after ``now`` among QUEUED jobs, or ``None`` if there is none.

        The queue's timer sleeps until then (or its ``poll_interval``), then wakes a worker.
        A store that can hear of new jobs (LISTEN/NOTIFY) may instead wait inside this call,
        at most until the time it would report, and return ``now`` when it heard of one.
        """

    async def aclose(self) -> None:
        """Release the store's resources; the default does nothing but checkpoint.

        The queue calls it only for a store it made itself from a URL.
        """
        await trio.lowlevel.checkpoint()


# --- the in-memory store ------------------------------------------------------------------


@attrs.define(eq=False)
class _Record:
    """The memory store's mutable row for one job."""

    id: str
    task: str
    payload: Any
    key: str | None
    priority: int
    run_at: float | None
    created_at: float
    updated_at: float
    max_attempts: int
    status: JobStatus = JobStatus.QUEUED
    attempts: int = 0
    result: Any = None
    error: str | None = None
    worker: str | None = None
    lease_expires: float | None = None
    token: int = 0  # the sequence number of the record's live heap entry

    def snapshot(self) -> Job:
        return Job(
            id=self.id,
            task=self.task,
            payload=copy_json(self.payload),
            status=self.status,
            attempts=self.attempts,
            result=copy_json(self.result),
            error=self.error,
            key=self.key,
            priority=self.priority,
            run_at=self.run_at,
            created_at=self.created_at,
            updated_at=self.updated_at,
            max_attempts=self.max_attempts,
            worker=self.worker,
            lease_expires=self.lease_expires,
        )


@final
class MemoryJobStore(JobStore):
    """A :class:`JobStore` in this process's memory: the default of ``open_job_queue``.

    Times are on Trio's clock (:attr:`~JobStore.clock` is ``None``).  It outlives the queues
    that use it, so a queue opened again on the same store picks up the jobs a previous one
    left QUEUED; it does not outlive the process.  Every method is a checkpoint (at its
    start: a cancelled call changes nothing); claims cost O(log n) per job.
    """

    def __init__(self) -> None:
        self._jobs: dict[str, _Record] = {}
        self._keys: dict[str, str] = {}
        self._ready: list[tuple[int, float, int, str]] = []  # (-priority, ready_at, seq, id)
        self._delayed: list[tuple[float, int, str]] = []  # (run_at, seq, id)
        self._seq = itertools.count(1)
        self._ids = itertools.count(1)

    def __repr__(self) -> str:
        return f"<MemoryJobStore jobs={len(self._jobs)}>"

    # ---- helpers ---------------------------------------------------------------------------

    def _record(self, job_id: str) -> _Record:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise JobNotFound(job_id) from None

    def _enqueue(self, record: _Record, now: float) -> None:
        """Index a QUEUED record: ready at once, or at ``run_at``."""
        seq = next(self._seq)
        record.token = seq
        if record.run_at is not None and record.run_at > now:
            heapq.heappush(self._delayed, (record.run_at, seq, record.id))
        else:
            ready_at = now if record.run_at is None else record.run_at
            heapq.heappush(self._ready, (-record.priority, ready_at, seq, record.id))

    def _live(self, seq: int, job_id: str) -> _Record | None:
        record = self._jobs[job_id]
        if record.token != seq or record.status is not JobStatus.QUEUED:
            return None
        return record

    def _promote(self, now: float) -> None:
        """Move delayed jobs that are due into the ready heap."""
        delayed = self._delayed
        while delayed and delayed[0][0] <= now:
            run_at, seq, job_id = heapq.heappop(delayed)
            record = self._live(seq, job_id)
            if record is not None:
                heapq.heappush(self._ready, (-record.priority, run_at, seq, job_id))

    def _held(self, job_id: str, worker_id: str) -> _Record | None:
        record = self._jobs.get(job_id)
        if record is None or record.status is not JobStatus.RUNNING or record.worker != worker_id:
            return None
        return record

    @staticmethod
    def _release(record: _Record, status: JobStatus, now: float) -> None:
        record.status = status
        record.worker = None
        record.lease_expires = None
        record.updated_at = now

    # ---- the interface ---------------------------------------------------------------------

    async def add(self, spec: JobSpec, now: float) -> tuple[Job, bool]:
        """See :meth:`JobStore.add`."""
        await trio.lowlevel.checkpoint()
        if spec.key is not None:
            existing = self._keys.get(spec.key)
            if existing is not None:
                return self._jobs[existing].snapshot(), False
        job_id = str(next(self._ids))
        record = _Record(
            id=job_id,
            task=spec.task,
            payload=spec.payload,  # the queue's own fresh copy (see JobSpec)
            key=spec.key,
            priority=spec.priority,
            run_at=spec.run_at,
            created_at=now,
            updated_at=now,
            max_attempts=spec.max_attempts,
        )
        self._jobs[job_id] = record
        if spec.key is not None:
            self._keys[spec.key] = job_id
        self._enqueue(record, now)
        return record.snapshot(), True

    async def claim(self, worker_id: str, limit: int, lease: float, now: float) -> JobList:
        """See :meth:`JobStore.claim`."""
        await trio.lowlevel.checkpoint()
        self._promote(now)
        claimed: list[Job] = []
        ready = self._ready
        while ready and len(claimed) < limit:
            _, _, seq, job_id = heapq.heappop(ready)
            record = self._live(seq, job_id)
            if record is None:
                continue
            record.status = JobStatus.RUNNING
            record.attempts += 1
            record.worker = worker_id
            record.lease_expires = now + lease
            record.updated_at = now
            claimed.append(record.snapshot())
        return claimed

    async def heartbeat(
        self, worker_id: str, job_ids: Sequence[str], lease: float, now: float
    ) -> list[str]:
        """See :meth:`JobStore.heartbeat`."""
        await trio.lowlevel.checkpoint()
        held = []
        for job_id in job_ids:
            record = self._held(job_id, worker_id)
            if record is not None:
                record.lease_expires = now + lease
                held.append(job_id)
        return held

    async def complete(self, job_id: str, worker_id: str, result: Any, now: float) -> Job | None:
        """See :meth:`JobStore.complete`."""
        await trio.lowlevel.checkpoint()
        record = self._held(job_id, worker_id)
        if record is None:
            return None
        self._release(record, JobStatus.SUCCEEDED, now)
        record.result = copy_json(result)
        return record.snapshot()

    async def fail(
        self, job_id: str, worker_id: str, error: str, retry_at: float | None, now: float
    ) -> Job | None:
        """See :meth:`JobStore.fail`."""
        await trio.lowlevel.checkpoint()
        record = self._held(job_id, worker_id)
        if record is None:
            return None
        record.error = error
        if retry_at is None:
            self._release(record, JobStatus.FAILED, now)
        else:
            self._release(record, JobStatus.QUEUED, now)
            record.run_at = retry_at
            self._enqueue(record, now)
        return record.snapshot()

    async def requeue(self, job_id: str, worker_id: str, now: float) -> Job | None:
        """See :meth:`JobStore.requeue`."""
        await trio.lowlevel.checkpoint()
        record = self._held(job_id, worker_id)
        if record is None:
            return None
        self._back_to_queue(record, now)
        return record.snapshot()

    def _back_to_queue(self, record: _Record, now: float) -> None:
        self._release(record, JobStatus.QUEUED, now)
        record.run_at = None
        self._enqueue(record, now)

    async def requeue_expired(self, now: float) -> JobList:
        """See :meth:`JobStore.requeue_expired` (a scan of every job: O(n))."""
        await trio.lowlevel.checkpoint()
        expired = [
            record
            for record in self._jobs.values()
            if record.status is JobStatus.RUNNING
            and record.lease_expires is not None
            and record.lease_expires < now
        ]
        for record in expired:
            self._back_to_queue(record, now)
        return [record.snapshot() for record in expired]

    async def cancel(self, job_id: str, now: float) -> tuple[Job, JobStatus]:
        """See :meth:`JobStore.cancel`."""
        await trio.lowlevel.checkpoint()
        record = self._record(job_id)
        previous = record.status
        if not previous.finished:
            self._release(record, JobStatus.CANCELLED, now)
        return record.snapshot(), previous

    async def retry(self, job_id: str, now: float) -> Job:
        """See :meth:`JobStore.retry`."""
        await trio.lowlevel.checkpoint()
        record = self._record(job_id)
        if record.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            raise JobStateError(job_id, record.status.name, "retry")
        record.attempts = 0
        record.error = None
        record.result = None
        self._back_to_queue(record, now)
        return record.snapshot()

    async def get(self, job_id: str) -> Job:
        """See :meth:`JobStore.get`."""
        await trio.lowlevel.checkpoint()
        return self._record(job_id).snapshot()

    async def list(self, *, status: JobStatus | None = None, limit: int | None = None) -> JobList:
        """See :meth:`JobStore.list`."""
        await trio.lowlevel.checkpoint()
        records = self._jobs.values()
        chosen = records if status is None else (r for r in records if r.status is status)
        return [r.snapshot() for r in itertools.islice(chosen, limit)]

    async def next_due(self, now: float) -> float | None:
        """See :meth:`JobStore.next_due`."""
        await trio.lowlevel.checkpoint()
        self._promote(now)
        delayed = self._delayed
        while delayed and self._live(delayed[0][1], delayed[0][2]) is None:
            heapq.heappop(delayed)
        return delayed[0][0] if delayed else None
