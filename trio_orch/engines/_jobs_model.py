"""The data of the job queue: :class:`JobStatus`, :class:`Job`, :class:`JobSpec`,
:class:`JobQueueStats`, JSON checks.

A :class:`Job` is a frozen snapshot: a :class:`~trio_orch.JobStore` builds a new one for every
answer, so that a store in another process (SQLite, PostgreSQL) and the in-memory store behave
the same.  Payloads and results are JSON data; :func:`to_json_data` checks (and copies) them
once, at :meth:`~trio_orch.JobQueue.add` and when a task returns.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from typing import Any, final

import attrs

__all__ = ["Job", "JobQueueStats", "JobSpec", "JobStatus", "copy_json", "to_json_data"]


class JobStatus(enum.Enum):
    """Where a job is in its life.

    ``QUEUED`` (waiting: due now or at ``run_at``) → ``RUNNING`` (claimed by a worker) →
    ``SUCCEEDED``, ``FAILED`` or ``CANCELLED`` (the end states).  A RUNNING job goes back to
    QUEUED only to wait for a retry's backoff, or when shutdown (or a lost worker) interrupted
    it; an end state is left only through :meth:`~trio_orch.JobQueue.retry` (FAILED or
    CANCELLED → QUEUED, with a fresh attempt budget).
    """

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """True for the end states: SUCCEEDED, FAILED and CANCELLED."""
        return self in _FINISHED


_FINISHED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


@final
@attrs.frozen(kw_only=True)
class Job:
    """A snapshot of one job, as the store saw it when it answered.

    Times are on Trio's clock (``trio.current_time()``) when the job comes from a
    :class:`~trio_orch.JobQueue`; a store's own answers use the store's clock (see
    :attr:`~trio_orch.JobStore.clock`).

    Attributes:
        id: the job's id, chosen by the store.
        task: the name of the registered task that runs it.
        payload: the JSON data passed to the task.
        status: the :class:`JobStatus`.
        attempts: attempts started in the current budget (a claim counts one; an attempt
            interrupted by shutdown stays counted; :meth:`~trio_orch.JobQueue.retry` resets
            it to 0).
        result: what the task returned (JSON data) once SUCCEEDED, else ``None``.
        error: ``"ExceptionType: message"`` of the last failure, else ``None``.
        key: the idempotency key given to ``add``, or ``None``.
        priority: higher runs first.
        run_at: when a QUEUED job becomes due (``None``: at once); set by ``add(run_at=)``
            and by a retry's backoff.
        created_at: when the job was added.
        updated_at: when the job last changed.
        max_attempts: the attempt budget (``add(max_attempts=)`` or the queue's retry policy).
        worker: the id of the worker holding the lease while RUNNING, else ``None``.
        lease_expires: when that lease ends unless renewed by a heartbeat, else ``None``.
    """

    id: str
    task: str
    payload: Any
    status: JobStatus
    attempts: int = 0
    result: Any = None
    error: str | None = None
    key: str | None = None
    priority: int = 0
    run_at: float | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    max_attempts: int = 1
    worker: str | None = None
    lease_expires: float | None = None

    @property
    def finished(self) -> bool:
        """True once the job is SUCCEEDED, FAILED or CANCELLED."""
        return self.status in _FINISHED

    def shifted(self, offset: float) -> Job:
        """This snapshot with every time moved by ``-offset`` (from a store's clock to Trio's)."""
        if not offset:
            return self
        return attrs.evolve(
            self,
            run_at=None if self.run_at is None else self.run_at - offset,
            created_at=self.created_at - offset,
            updated_at=self.updated_at - offset,
            lease_expires=None if self.lease_expires is None else self.lease_expires - offset,
        )


@final
@attrs.frozen(kw_only=True)
class JobSpec:
    """What :meth:`~trio_orch.JobStore.add` stores: a new job, already checked by the queue.

    Attributes:
        task: the registered task's name.
        payload: JSON data, already checked and copied by :func:`to_json_data`: the store
            may keep this object (nothing else refers to it).
        key: the idempotency key, or ``None``.
        priority: higher runs first.
        run_at: when the job becomes due, on the store's clock, or ``None`` (at once).
        max_attempts: the attempt budget (>= 1).
    """

    task: str
    payload: Any
    key: str | None = None
    priority: int = 0
    run_at: float | None = None
    max_attempts: int = 1


# --- statistics ---------------------------------------------------------------------------


@final
@attrs.frozen
class JobQueueStats:
    """A snapshot of one :class:`~trio_orch.JobQueue`: this queue's own doings, not the store's.

    Attributes:
        concurrency: the most attempts this queue runs at once.
        running: attempts running now.
        added: jobs this queue's ``add`` created (an existing ``key`` does not count).
        started: attempts started.
        succeeded: jobs that ended SUCCEEDED here.
        failed: jobs that ended FAILED here.
        retried: failed attempts that were scheduled for a retry
            (:class:`~trio_orch.JobRetrying`).
        cancelled: jobs this queue's ``cancel`` ended.
        requeued: attempts interrupted by shutdown, and expired leases returned to the queue.
        lost: attempts stopped because the store no longer gave this worker their lease.
    """

    concurrency: int
    running: int
    added: int
    started: int
    succeeded: int
    failed: int
    retried: int
    cancelled: int
    requeued: int
    lost: int


# --- JSON data ----------------------------------------------------------------------------


class _NotJson(Exception):
    """Raised inside :func:`_convert`; the path to the bad value is built while unwinding."""

    def __init__(self, error: type[Exception], rule: str, got: str) -> None:
        self.error = error
        self.rule = rule
        self.got = got
        self.path: list[str] = []


def _structured(value: object) -> bool:
    return (
        attrs.has(type(value))
        or (dataclasses.is_dataclass(value) and not isinstance(value, type))
        or isinstance(value, enum.Enum)
    )


def to_json_data(value: object, name: str) -> Any:
    """Return a fresh copy of ``value`` as JSON data, or refuse it naming ``name``.

    JSON data is ``dict`` (with ``str`` keys), ``list``, ``str``, ``int``, finite ``float``,
    ``bool`` and ``None``, nested.  Tuples become lists; attrs classes, dataclasses and enums
    are unstructured with cattrs first.  The copy shares nothing mutable with ``value``.

    Raises:
        TypeError: a value of another type, or a key that is not a ``str`` (the message names
            where: ``payload must be JSON data, got {1, 2} at payload['tags']``).
        ValueError: a NaN or infinite float.
    """
    if type(value) in _IMMUTABLE and value == value and value not in _INFINITIES:
        return value  # the common scalar, without the walk
    try:
        return _convert(value)
    except _NotJson as bad:
        where = f" at {name}{''.join(reversed(bad.path))}" if bad.path else ""
        msg = f"{name} must be JSON data{bad.rule}, got {bad.got}{where}"
        raise bad.error(msg) from None


_INFINITIES = (math.inf, -math.inf)


def _convert(value: Any) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        out: dict[str, Any] = {}
        for k, v in value.items():
            if type(k) is not str:
                raise _NotJson(TypeError, " (object keys are str)", f"key {k!r}")
            try:
                out[k] = v if type(v) is str or type(v) is int else _convert(v)
            except _NotJson as bad:
                bad.path.append(f"[{k!r}]")
                raise
        return out
    if kind is list or kind is tuple:
        items = []
        for i, v in enumerate(value):
            try:
                items.append(_convert(v))
            except _NotJson as bad:
                bad.path.append(f"[{i}]")
                raise
        return items
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _NotJson(ValueError, " (finite numbers only)", repr(value))
        return value
    if isinstance(value, str | int | dict | list | tuple):  # subclasses: as their base
        return _convert(_base_copy(value))
    if _structured(value):
        import cattrs  # imported on first use: `import trio_orch` stays light

        return _convert(cattrs.unstructure(value))
    raise _NotJson(TypeError, "", repr(value))


def _base_copy(value: Any) -> Any:
    """A subclass of a JSON type (an ``IntEnum``, an ``OrderedDict``, ...) as its base type."""
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, dict):
        return dict(value)
    return list(value)  # a list or a tuple


_IMMUTABLE = frozenset({str, int, float, bool, type(None)})


def copy_json(value: Any) -> Any:
    """A deep copy of JSON data already checked by :func:`to_json_data` (cheap for scalars)."""
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _IMMUTABLE else copy_json(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _IMMUTABLE else copy_json(v) for v in value]
    return value
