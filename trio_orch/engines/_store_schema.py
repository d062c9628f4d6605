"""What the durable job stores share: the table, its migrations, the SQL, group commits.

:class:`SqlJobStore` implements every :class:`~trio_orch.JobStore` method once, as SQL run in
one transaction on a worker thread (``trio.to_thread.run_sync``: the database drivers block).
:class:`~trio_orch.SqliteJobStore` and :class:`~trio_orch.PostgresJobStore` supply the
connection, the transaction and the few statements whose dialects differ.

Times are seconds on the store's clock (``time.time`` by default), stored as floating point
numbers, so that ``run_at`` names the same moment in every process; the queue converts them
to and from Trio's clock (see :attr:`~trio_orch.JobStore.clock`).
"""

from __future__ import annotations

import abc
import json
import re
import time
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeAlias, TypeVar

import attrs
import trio

from trio_orch._exceptions import JobNotFound, JobStateError
from trio_orch._log import get_logger
from trio_orch.engines._jobs_model import Job, JobSpec, JobStatus
from trio_orch.engines._jobs_store import JobStore

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

__all__ = ["MIGRATIONS", "Cursor", "GroupCommit", "SqlJobStore", "mask_url"]

_logger = get_logger("stores")

JobList: TypeAlias = "list[Job]"
T = TypeVar("T")
R = TypeVar("R")

#: The columns every query returns, in the order :func:`_job` reads them.
COLUMNS = (
    "id, task, payload, status, attempts, result, error, key, priority, run_at, "
    "created_at, updated_at, max_attempts, worker, lease_expires"
)

#: The schema's versions: (version, statements).  ``{jobs}``, ``{runs}`` and ``{checkpoints}``
#: are the tables' names,
#: ``{id}`` the id column's type, ``{json}`` the JSON column type and ``{real}`` the time type.
#: Append only: a version, once released, never changes.
MIGRATIONS: tuple[tuple[int, tuple[str, ...]], ...] = (
    (
        1,
        (
            """CREATE TABLE {jobs} (
                id {id},
                task TEXT NOT NULL,
                payload {json} NOT NULL,
                status TEXT NOT NULL CHECK (status IN
                    ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
                attempts INTEGER NOT NULL DEFAULT 0,
                result {json},
                error TEXT,
                key TEXT UNIQUE,
                priority INTEGER NOT NULL DEFAULT 0,
                run_at {real},
                ready_at {real} NOT NULL,
                created_at {real} NOT NULL,
                updated_at {real} NOT NULL,
                max_attempts INTEGER NOT NULL,
                worker TEXT,
                lease_expires {real}
            )""",
            "CREATE INDEX {prefix}jobs_ready ON {jobs} (priority DESC, ready_at, id) "
            "WHERE status = 'queued'",
            "CREATE INDEX {prefix}jobs_leases ON {jobs} (lease_expires) WHERE status = 'running'",
            "CREATE INDEX {prefix}jobs_status ON {jobs} (status, id)",
        ),
    ),
    (
        2,  # durable workflows: each run's definition, and the result of each succeeded step
        (
            """CREATE TABLE {runs} (
                run_id TEXT PRIMARY KEY,
                workflow TEXT NOT NULL,
                fingerprint TEXT NOT NULL,
                created_at {real} NOT NULL
            )""",
            """CREATE TABLE {checkpoints} (
                run_id TEXT NOT NULL,
                step TEXT NOT NULL,
                value {json} NOT NULL,
                saved_at {real} NOT NULL,
                PRIMARY KEY (run_id, step)
            )""",
        ),
    ),
)

_QUEUED = JobStatus.QUEUED.value
_RUNNING = JobStatus.RUNNING.value
_FINISHED_VALUES = frozenset(s.value for s in JobStatus if s.finished)
_STATUS = {s.value: s for s in JobStatus}
_PASSWORD = re.compile(r"(://[^:/?#@]*:)([^@/?#]*)(@)")
_PASSWORD_PARAM = re.compile(r"(?i)(password=)([^&\s]*)")


def mask_url(url: str) -> str:
    """``url`` with its password (``user:secret@`` or ``password=secret``) shown as ``***``."""
    url = _PASSWORD.sub(lambda m: f"{m[1]}***{m[3]}" if m[2] else m[0], url)
    return _PASSWORD_PARAM.sub(r"\1***", url)


def parse_id(job_id: str) -> int | None:
    """A store's integer id from the text the queue knows it by (``None``: no such job)."""
    if type(job_id) is str and job_id.isascii() and job_id.isdigit() and len(job_id) < 19:
        return int(job_id)
    return None


class Cursor(Protocol):
    """The DB-API cursor methods the shared SQL uses (sqlite3's and psycopg's both have them)."""

    def execute(self, sql: Any, params: Any = ..., /) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchone(self) -> Any: ...


# --- group commit -------------------------------------------------------------------------


@attrs.define(eq=False)
class _Entry(Generic[T, R]):
    item: T
    done: trio.Event = attrs.field(factory=trio.Event)
    taken: bool = False
    lead: bool = False
    result: R | None = None
    error: BaseException | None = None


class GroupCommit(Generic[T, R]):
    """Runs concurrent calls of one kind as one transaction (a group commit).

    A call waits while a batch is being written; the batch written next holds every call
    that arrived meanwhile (at most ``max_batch``).  One of the waiting calls writes it (the
    leader); the others wait for its answer.  ``flush`` runs on a worker thread and returns
    one answer per item (an exception instance: that call raises it).

    Cancellation: a call whose item has not been taken yet is withdrawn; once taken, the
    write is finished (shielded: the driver's own timeouts bound it) and its answer returned.
    """

    def __init__(
        self,
        flush: Callable[[list[T]], list[R | Exception]],
        max_batch: int,
        run: Callable[..., Awaitable[Any]],
    ) -> None:
        self._flush = flush
        self._run = run
        self._max_batch = max_batch
        self._pending: list[_Entry[T, R]] = []
        self._busy = False

    async def submit(self, item: T) -> R:
        """Write ``item`` with whatever else is pending; return its answer."""
        await trio.lowlevel.checkpoint_if_cancelled()
        entry: _Entry[T, R] = _Entry(item)
        self._pending.append(entry)
        if self._busy:
            try:
                await entry.done.wait()
            except trio.Cancelled:
                if not entry.taken and not entry.lead:
                    self._pending.remove(entry)
                    raise
            if entry.lead and not entry.taken:
                await self._lead(entry)
            else:
                with trio.CancelScope(shield=True):  # taken: the write is under way
                    await entry.done.wait()
        else:
            self._busy = True
            await self._lead(entry)
        if entry.error is not None:
            raise entry.error
        return entry.result  # type: ignore[return-value]

    async def _lead(self, own: _Entry[T, R]) -> None:  # noqa: ASYNC910 - `own` is pending: the loop's thread call runs at least once
        """Write batches until ``own`` is answered, then hand the role to a waiting call."""
        try:
            while not own.taken:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                for entry in batch:
                    entry.taken = True
                try:
                    with trio.CancelScope(shield=True):
                        answers: list[Any] = await self._run(
                            self._flush, [entry.item for entry in batch]
                        )
                except BaseException as exc:  # every caller in the batch gets it
                    answers = [exc] * len(batch)
                for entry, answer in zip(batch, answers, strict=True):
                    if isinstance(answer, BaseException):
                        entry.error = answer
                    else:
                        entry.result = answer
                    entry.done.set()
        finally:
            if self._pending:
                nxt = self._pending[0]
                nxt.lead = True
                nxt.done.set()
            else:
                self._busy = False


# --- the shared store ---------------------------------------------------------------------


def _job(row: Sequence[Any], load: Callable[[Any], Any]) -> Job:
    return Job(
        id=str(row[0]),
        task=row[1],
        payload=load(row[2]),
        status=_STATUS[row[3]],
        attempts=row[4],
        result=None if row[5] is None else load(row[5]),
        error=row[6],
        key=row[7],
        priority=row[8],
        run_at=row[9],
        created_at=row[10],
        updated_at=row[11],
        max_attempts=row[12],
        worker=row[13],
        lease_expires=row[14],
    )


def _order(job: Job, ready: float) -> tuple[int, float, int]:
    return (-job.priority, ready, int(job.id))


class SqlJobStore(JobStore):
    """A :class:`~trio_orch.JobStore` in a SQL database: the logic both durable stores share.

    Subclasses give the connection (:meth:`_transact`), the jobs table's name and the
    statements whose dialects differ.  Every method is one transaction on a worker thread.
    A store object is used from one Trio run at a time (its group commits use Trio events).
    Cancellation: a call cancelled before it starts changes nothing; once it runs on its
    thread it is finished (the drivers' timeouts bound it) and its answer returned.
    """

    clock: Callable[[], float]  # never None: the durable stores keep wall-clock time
    _jobs: str  # the jobs table, qualified
    _names: dict[str, str]  # the tables' names and the dialect's types (see MIGRATIONS)
    _claim_sql: str  # UPDATE ... RETURNING of a batch: params worker, lease, now, now, limit

    def __init__(self, *, clock: Callable[[], float] | None, batch: int) -> None:
        self.clock = time.time if clock is None else clock
        self._completions: GroupCommit[tuple[int | None, str, str, float], Job | None]
        self._completions = GroupCommit(self._complete_many, batch, self._run_blocking)
        self._adds: GroupCommit[tuple[JobSpec, float], tuple[Job, bool]]
        self._adds = GroupCommit(self._add_many, batch, self._run_blocking)
        self._claims: GroupCommit[tuple[str, int, float, float], list[Job]]
        self._claims = GroupCommit(self._claim_many, batch, self._run_blocking)

    # ---- what a subclass provides -------------------------------------------------------

    @abc.abstractmethod
    def _transact(self, fn: Callable[..., R], *args: Any) -> R:
        """Run ``fn(cursor, *args)`` in one transaction (on a worker thread); return its value."""

    def _load(self, value: Any) -> Any:
        """A JSON column's value as Python data."""
        return json.loads(value)

    def _notify(self, cur: Cursor) -> None:
        """Tell listening workers that a job may be due (PostgreSQL); nothing by default."""

    def _q(self, sql: str) -> str:
        """``sql`` (written with ``%s`` placeholders) in the driver's placeholder style."""
        return sql

    async def _run_blocking(self, fn: Callable[..., R], *args: Any) -> R:
        """:meth:`_in_thread`, looked up at each call (tests replace it on the instance)."""
        return await self._in_thread(fn, *args)

    async def _in_thread(self, fn: Callable[..., R], *args: Any) -> R:
        """Run the blocking ``fn(*args)`` on a worker thread (not cancellable once started)."""
        return await trio.to_thread.run_sync(fn, *args)

    async def _call(self, fn: Callable[..., R], *args: Any) -> R:
        await trio.lowlevel.checkpoint_if_cancelled()
        return await self._in_thread(self._transact, fn, *args)

    def _select(self, cur: Cursor, job_id: int | None, text_id: str, *, lock: str = "") -> Job:
        row = None
        if job_id is not None:
            cur.execute(
                self._q(f"SELECT {COLUMNS} FROM {self._jobs} WHERE id = %s{lock}"), (job_id,)
            )
            row = cur.fetchone()
        if row is None:
            raise JobNotFound(text_id)
        return _job(row, self._load)

    _lock_row = ""  # " FOR UPDATE" where the dialect has it

    # ---- the interface -------------------------------------------------------------------

    async def add(self, spec: JobSpec, now: float) -> tuple[Job, bool]:
        """See :meth:`JobStore.add` (concurrent adds share one transaction)."""
        return await self._adds.submit((spec, now))

    def _add_many(self, items: list[tuple[JobSpec, float]]) -> list[tuple[Job, bool] | Exception]:
        return self._transact(self._add_rows, items)

    def _add_rows(
        self, cur: Cursor, items: list[tuple[JobSpec, float]]
    ) -> list[tuple[Job, bool] | Exception]:
        insert = self._q(
            f"INSERT INTO {self._jobs} (task, payload, status, key, priority, run_at, ready_at,"
            " created_at, updated_at, max_attempts, attempts)"
            " VALUES (%s, %s, 'queued', %s, %s, %s, %s, %s, %s, %s, 0)"
            f" ON CONFLICT (key) DO NOTHING RETURNING {COLUMNS}"
        )
        by_key = self._q(f"SELECT {COLUMNS} FROM {self._jobs} WHERE key = %s")
        answers: list[tuple[Job, bool] | Exception] = []
        created = False
        for spec, now in items:
            ready = now if spec.run_at is None else spec.run_at
            cur.execute(
                insert,
                (
                    spec.task,
                    json.dumps(spec.payload),
                    spec.key,
                    spec.priority,
                    spec.run_at,
                    ready,
                    now,
                    now,
                    spec.max_attempts,
                ),
            )
            row = cur.fetchone()
            if row is not None:
                answers.append((_job(row, self._load), True))
                created = True
                continue
            cur.execute(by_key, (spec.key,))
            answers.append((_job(cur.fetchone(), self._load), False))
        if created:
            self._notify(cur)
        return answers

    async def claim(self, worker_id: str, limit: int, lease: float, now: float) -> list[Job]:
        """See :meth:`JobStore.claim`: one atomic ``UPDATE ... RETURNING`` of a batch.

        Concurrent claims (a queue's workers that became idle together) share one
        statement: the first caller gets the first jobs.
        """
        return await self._claims.submit((worker_id, limit, lease, now))

    def _claim_many(
        self, items: list[tuple[str, int, float, float]]
    ) -> list[list[Job] | Exception]:
        return self._transact(self._claim_groups, items)

    def _claim_groups(
        self, cur: Cursor, items: list[tuple[str, int, float, float]]
    ) -> list[list[Job] | Exception]:
        """One claim per (worker, lease) for the whole batch, shared out in order."""
        groups: dict[tuple[str, float], list[int]] = {}
        for index, (worker_id, _, lease, _) in enumerate(items):
            groups.setdefault((worker_id, lease), []).append(index)
        answers: list[list[Job] | Exception] = [[] for _ in items]
        for (worker_id, lease), indexes in groups.items():
            total = sum(max(0, items[i][1]) for i in indexes)
            now = max(items[i][3] for i in indexes)
            jobs = self._claim_rows(cur, worker_id, total, lease, now)
            start = 0
            for i in indexes:
                limit = max(0, items[i][1])
                answers[i] = jobs[start : start + limit]
                start += limit
        return answers

    def _claim_rows(
        self, cur: Cursor, worker_id: str, limit: int, lease: float, now: float
    ) -> list[Job]:
        if limit <= 0:
            return []
        cur.execute(self._q(self._claim_sql), (worker_id, now + lease, now, now, limit))
        return self._claimed(cur.fetchall())

    def _claimed(self, rows: list[Any]) -> list[Job]:
        """Claimed rows (the columns and ``ready_at``) as jobs, in the claim order."""
        jobs = [(_job(row, self._load), row[15]) for row in rows]
        jobs.sort(key=lambda pair: _order(*pair))
        return [job for job, _ in jobs]

    async def heartbeat(
        self, worker_id: str, job_ids: Sequence[str], lease: float, now: float
    ) -> list[str]:
        """See :meth:`JobStore.heartbeat`."""
        return await self._call(self._heartbeat_rows, worker_id, list(job_ids), lease, now)

    def _heartbeat_rows(
        self, cur: Cursor, worker_id: str, job_ids: list[str], lease: float, now: float
    ) -> list[str]:
        ids = [i for i in (parse_id(j) for j in job_ids) if i is not None]
        if not ids:
            return []
        marks = ", ".join(["%s"] * len(ids))
        cur.execute(
            self._q(
                f"UPDATE {self._jobs} SET lease_expires = %s WHERE status = 'running'"
                f" AND worker = %s AND id IN ({marks}) RETURNING id"
            ),
            (now + lease, worker_id, *ids),
        )
        held = {str(row[0]) for row in cur.fetchall()}
        return [j for j in job_ids if j in held]

    async def complete(self, job_id: str, worker_id: str, result: Any, now: float) -> Job | None:
        """See :meth:`JobStore.complete` (concurrent completions share one transaction)."""
        return await self._completions.submit(
            (parse_id(job_id), worker_id, json.dumps(result), now)
        )

    def _complete_many(
        self, items: list[tuple[int | None, str, str, float]]
    ) -> list[Job | Exception | None]:
        return self._transact(self._complete_rows, items)

    def _complete_rows(
        self, cur: Cursor, items: list[tuple[int | None, str, str, float]]
    ) -> list[Job | Exception | None]:
        """One ``UPDATE ... FROM (VALUES ...)`` for the batch (one statement per item if an
        id repeats: the second completion of a job must find it done)."""
        valid = [item for item in items if item[0] is not None]
        if len({item[0] for item in valid}) < len(valid):
            return [self._complete_one(cur, *item) for item in items]
        done: dict[int, Job] = {}
        if valid:
            names = self._names
            row = (
                f"(CAST(%s AS BIGINT), CAST(%s AS TEXT), CAST(%s AS {names['json']}),"
                f" CAST(%s AS {names['real']}))"
            )
            values = ", ".join([row] * len(valid))
            cur.execute(
                self._q(
                    f"WITH v (v_id, v_worker, v_result, v_now) AS (VALUES {values})"
                    f" UPDATE {self._jobs} SET status = 'succeeded', result = v_result,"
                    " worker = NULL, lease_expires = NULL, updated_at = v_now FROM v"
                    " WHERE id = v_id AND worker = v_worker AND status = 'running'"
                    f" RETURNING {COLUMNS}"
                ),
                [value for item in valid for value in item],
            )
            for found in cur.fetchall():
                done[found[0]] = _job(found, self._load)
        return [None if job_id is None else done.get(job_id) for job_id, *_ in items]

    def _complete_one(
        self, cur: Cursor, job_id: int | None, worker_id: str, result: str, now: float
    ) -> Job | None:
        if job_id is None:
            return None
        cur.execute(
            self._q(
                f"UPDATE {self._jobs} SET status = 'succeeded', result = %s, worker = NULL,"
                " lease_expires = NULL, updated_at = %s"
                f" WHERE id = %s AND worker = %s AND status = 'running' RETURNING {COLUMNS}"
            ),
            (result, now, job_id, worker_id),
        )
        row = cur.fetchone()
        return None if row is None else _job(row, self._load)

    async def fail(
        self, job_id: str, worker_id: str, error: str, retry_at: float | None, now: float
    ) -> Job | None:
        """See :meth:`JobStore.fail`."""
        return await self._call(self._fail_row, parse_id(job_id), worker_id, error, retry_at, now)

    def _fail_row(
        self,
        cur: Cursor,
        job_id: int | None,
        worker_id: str,
        error: str,
        retry_at: float | None,
        now: float,
    ) -> Job | None:
        if job_id is None:
            return None
        params: tuple[float, ...] = ()
        if retry_at is None:
            sets = "status = 'failed'"
        else:
            sets, params = "status = 'queued', run_at = %s, ready_at = %s", (retry_at, retry_at)
        cur.execute(
            self._q(
                f"UPDATE {self._jobs} SET {sets}, error = %s, worker = NULL,"
                " lease_expires = NULL, updated_at = %s"
                f" WHERE id = %s AND worker = %s AND status = 'running' RETURNING {COLUMNS}"
            ),
            (*params, error, now, job_id, worker_id),
        )
        row = cur.fetchone()
        if row is None:
            return None
        if retry_at is not None:
            self._notify(cur)
        return _job(row, self._load)

    _REQUEUE = (
        "status = 'queued', run_at = NULL, ready_at = %s, worker = NULL, lease_expires = NULL,"
        " updated_at = %s"
    )

    async def requeue(self, job_id: str, worker_id: str, now: float) -> Job | None:
        """See :meth:`JobStore.requeue`."""
        return await self._call(self._requeue_row, parse_id(job_id), worker_id, now)

    def _requeue_row(
        self, cur: Cursor, job_id: int | None, worker_id: str, now: float
    ) -> Job | None:
        if job_id is None:
            return None
        cur.execute(
            self._q(
                f"UPDATE {self._jobs} SET {self._REQUEUE}"
                f" WHERE id = %s AND worker = %s AND status = 'running' RETURNING {COLUMNS}"
            ),
            (now, now, job_id, worker_id),
        )
        row = cur.fetchone()
        if row is None:
            return None
        self._notify(cur)
        return _job(row, self._load)

    async def requeue_expired(self, now: float) -> list[Job]:
        """See :meth:`JobStore.requeue_expired` (uses the index of RUNNING leases)."""
        return await self._call(self._requeue_expired_rows, now)

    def _requeue_expired_rows(self, cur: Cursor, now: float) -> list[Job]:
        cur.execute(
            self._q(
                f"UPDATE {self._jobs} SET {self._REQUEUE}"
                f" WHERE status = 'running' AND lease_expires < %s RETURNING {COLUMNS}"
            ),
            (now, now, now),
        )
        jobs = sorted((_job(row, self._load) for row in cur.fetchall()), key=lambda j: int(j.id))
        if jobs:
            self._notify(cur)
        return jobs

    async def cancel(self, job_id: str, now: float) -> tuple[Job, JobStatus]:
        """See :meth:`JobStore.cancel`."""
        return await self._call(self._cancel_row, job_id, now)

    def _cancel_row(self, cur: Cursor, text_id: str, now: float) -> tuple[Job, JobStatus]:
        job_id = parse_id(text_id)
        job = self._select(cur, job_id, text_id, lock=self._lock_row)
        if job.finished:
            return job, job.status
        cur.execute(
            self._q(
                f"UPDATE {self._jobs} SET status = 'cancelled', worker = NULL,"
                f" lease_expires = NULL, updated_at = %s WHERE id = %s RETURNING {COLUMNS}"
            ),
            (now, job_id),
        )
        return _job(cur.fetchone(), self._load), job.status

    async def retry(self, job_id: str, now: float) -> Job:
        """See :meth:`JobStore.retry`."""
        return await self._call(self._retry_row, job_id, now)

    def _retry_row(self, cur: Cursor, text_id: str, now: float) -> Job:
        job_id = parse_id(text_id)
        job = self._select(cur, job_id, text_id, lock=self._lock_row)
        if job.status not in (JobStatus.FAILED, JobStatus.CANCELLED):
            raise JobStateError(text_id, job.status.name, "retry")
        cur.execute(
            self._q(
                f"UPDATE {self._jobs} SET {self._REQUEUE}, attempts = 0, error = NULL,"
                f" result = NULL WHERE id = %s RETURNING {COLUMNS}"
            ),
            (now, now, job_id),
        )
        row = cur.fetchone()
        self._notify(cur)
        return _job(row, self._load)

    async def get(self, job_id: str) -> Job:
        """See :meth:`JobStore.get`."""
        return await self._call(self._get_row, job_id)

    def _get_row(self, cur: Cursor, text_id: str) -> Job:
        return self._select(cur, parse_id(text_id), text_id)

    async def list(self, *, status: JobStatus | None = None, limit: int | None = None) -> JobList:
        """See :meth:`JobStore.list`."""
        return await self._call(self._list_rows, status, limit)

    def _list_rows(self, cur: Cursor, status: JobStatus | None, limit: int | None) -> JobList:
        where, params = ("", ()) if status is None else (" WHERE status = %s", (status.value,))
        if limit is not None:
            where, params = f"{where} ORDER BY id LIMIT %s", (*params, limit)
        else:
            where = f"{where} ORDER BY id"
        cur.execute(self._q(f"SELECT {COLUMNS} FROM {self._jobs}{where}"), params)
        return [_job(row, self._load) for row in cur.fetchall()]

    # ---- workflow checkpoints (trio_orch.engines._workflow_checkpoints) ---------------------

    async def open_checkpoints(
        self, run_id: str, workflow: str, fingerprint: str
    ) -> tuple[str, dict[str, Any]]:
        """Start (or find) the workflow run ``run_id``; return its fingerprint and checkpoints.

        The first call for a ``run_id`` records ``workflow`` and ``fingerprint``; later calls
        return the fingerprint recorded then (the caller refuses a changed definition) and
        ``{step: value}`` of the steps that succeeded (JSON data).
        """
        return await self._call(self._open_checkpoint_rows, run_id, workflow, fingerprint)

    def _open_checkpoint_rows(
        self, cur: Cursor, run_id: str, workflow: str, fingerprint: str
    ) -> tuple[str, dict[str, Any]]:
        runs, checkpoints = self._names["runs"], self._names["checkpoints"]
        cur.execute(
            self._q(
                f"INSERT INTO {runs} (run_id, workflow, fingerprint, created_at)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (run_id) DO NOTHING"
            ),
            (run_id, workflow, fingerprint, time.time()),
        )
        cur.execute(self._q(f"SELECT fingerprint FROM {runs} WHERE run_id = %s"), (run_id,))
        recorded = cur.fetchone()[0]
        cur.execute(self._q(f"SELECT step, value FROM {checkpoints} WHERE run_id = %s"), (run_id,))
        return recorded, {row[0]: self._load(row[1]) for row in cur.fetchall()}

    async def save_checkpoint(self, run_id: str, step: str, value: Any) -> None:
        """Record that ``step`` of the run ``run_id`` succeeded with ``value`` (JSON data)."""
        await self._call(self._save_checkpoint_row, run_id, step, json.dumps(value))

    def _save_checkpoint_row(self, cur: Cursor, run_id: str, step: str, value: str) -> None:
        cur.execute(
            self._q(
                f"INSERT INTO {self._names['checkpoints']} (run_id, step, value, saved_at)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (run_id, step)"
                " DO UPDATE SET value = excluded.value, saved_at = excluded.saved_at"
            ),
            (run_id, step, value, time.time()),
        )

    async def next_due(self, now: float) -> float | None:
        """See :meth:`JobStore.next_due`."""
        return await self._call(self._next_due_row, now)

    def _next_due_row(self, cur: Cursor, now: float) -> float | None:
        cur.execute(
            self._q(
                f"SELECT MIN(run_at) FROM {self._jobs} WHERE status = 'queued' AND run_at > %s"
            ),
            (now,),
        )
        row = cur.fetchone()
        return None if row is None else row[0]


def migrate(cur: Cursor, q: Callable[[str], str], names: dict[str, str], now: float) -> list[int]:
    """Apply the :data:`MIGRATIONS` the database lacks; return the versions applied.

    The caller holds the lock that serializes migrations (``BEGIN IMMEDIATE`` in SQLite,
    ``pg_advisory_xact_lock`` in PostgreSQL) and commits.
    """
    table = names["migrations"]
    cur.execute(
        f"CREATE TABLE IF NOT EXISTS {table} "
        f"(version INTEGER PRIMARY KEY, applied_at {names['real']} NOT NULL)"
    )
    cur.execute(f"SELECT version FROM {table}")
    have = {row[0] for row in cur.fetchall()}
    applied = []
    for version, statements in MIGRATIONS:
        if version in have:
            continue
        for statement in statements:
            cur.execute(statement.format(**names))
        cur.execute(q(f"INSERT INTO {table} (version, applied_at) VALUES (%s, %s)"), (version, now))
        applied.append(version)
    if applied:
        _logger.info("trio_orch.stores.migrated", table=names["jobs"], versions=applied)
    return applied
