"""A durable job store for one machine: :class:`SqliteJobStore` (stdlib ``sqlite3``, WAL mode).

Processes on one machine share the database file: SQLite serializes their writes (a claim
is one ``UPDATE ... RETURNING`` inside ``BEGIN IMMEDIATE``, so no job is handed out twice),
and WAL mode lets readers go on while one writes.  Every call runs on a worker thread
(``trio.to_thread.run_sync``) on the store's one connection, behind a lock.
"""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING, Any, final

import trio

from trio_orch._exceptions import JobStoreError
from trio_orch._validate import check_int, check_number
from trio_orch.engines._store_schema import COLUMNS, SqlJobStore, migrate

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable

    from trio_orch.engines._store_schema import Cursor, R

__all__ = ["SqliteJobStore"]

_NAMES = {
    "jobs": "trio_orch_jobs",
    "runs": "trio_orch_workflow_runs",
    "checkpoints": "trio_orch_workflow_steps",
    "migrations": "trio_orch_migrations",
    "prefix": "trio_orch_",
    "id": "INTEGER PRIMARY KEY AUTOINCREMENT",
    "json": "TEXT",
    "real": "REAL",
}


def _check_path(path: object) -> None:
    if not isinstance(path, str | os.PathLike):
        msg = f"path must be a str or a path, got {path!r}"
        raise TypeError(msg)


@final
class SqliteJobStore(SqlJobStore):
    """A :class:`~trio_orch.JobStore` in an SQLite database file: durable, for one machine.

    ::

        async with open_job_queue(tasks, store=SqliteJobStore("jobs.db")) as queue: ...
        # or: open_job_queue(tasks, store="sqlite:///jobs.db")

    The file (and its tables) is created on first use and migrated to the current schema
    (versioned; two processes starting at once are serialized by ``BEGIN IMMEDIATE``).  Any
    number of queues, in any number of processes on this machine, may share it; a job whose
    worker died returns to the queue when its lease expires.  Times are kept on ``clock``
    (``time.time``: wall-clock seconds), so ``run_at`` means the same moment in every process.

    Args:
        path: the database file (``":memory:"``: a private in-memory database, for tests).
        busy_timeout: seconds a call waits for another process's write before failing.
        batch: the most completions (and adds) written in one transaction.
        clock: the store's clock; ``None``: ``time.time``.  Every process sharing the file
            must use the same clock.

    Raises:
        TypeError, ValueError: a bad argument.
        JobStoreError: (from the first call) the file cannot be opened or migrated; the
            message names the path.

    Cancellation:
        A call cancelled before it reaches its thread changes nothing; once there, it
        finishes (bounded by ``busy_timeout``) and returns its answer.
    """

    _lock_row = ""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 30.0,
        batch: int = 500,
        clock: Callable[[], float] | None = None,
    ) -> None:
        _check_path(path)
        check_number("busy_timeout", busy_timeout, strict=True)
        check_int("batch", batch, minimum=1)
        super().__init__(clock=clock, batch=batch)
        self._path = os.fspath(path)
        self._busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._applied: list[int] = []
        self._closed = False
        self._thread_lock = threading.Lock()
        self._names = _NAMES
        self._jobs = _NAMES["jobs"]
        self._claim_sql = (
            f"UPDATE {self._jobs} SET status = 'running', attempts = attempts + 1, worker = ?,"
            " lease_expires = ?, updated_at = ? WHERE id IN"
            f" (SELECT id FROM {self._jobs} INDEXED BY trio_orch_jobs_ready WHERE status = 'queued'"
            " AND (run_at IS NULL OR run_at <= ?) ORDER BY priority DESC, ready_at, id LIMIT ?)"
            f" RETURNING {COLUMNS}, ready_at"
        )

    def __repr__(self) -> str:
        return f"<SqliteJobStore {self._path!r}>"

    @property
    def path(self) -> str:
        """The database file's path."""
        return self._path

    def _q(self, sql: str) -> str:
        return sql.replace("%s", "?")

    def _connect(self) -> sqlite3.Connection:
        import sqlite3  # on first use: `import trio_orch` stays light

        if self._closed:
            raise JobStoreError(self._path, "the store is closed")
        try:
            conn = sqlite3.connect(
                self._path,
                timeout=self._busy_timeout,
                isolation_level=None,  # transactions are explicit: BEGIN IMMEDIATE
                check_same_thread=False,  # one thread at a time, behind the lock
            )
        except sqlite3.Error as exc:
            raise JobStoreError(self._path, f"cannot open the database: {exc}") from exc
        try:
            _enable_wal(conn, time.monotonic() + self._busy_timeout)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._applied = migrate(conn.cursor(), self._q, _NAMES, time.time())
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.close()
            raise JobStoreError(self._path, f"cannot migrate the database: {exc}") from exc
        return conn

    def _transact(self, fn: Callable[..., R], *args: Any) -> R:
        with self._thread_lock:
            conn = self._conn
            if conn is None:
                conn = self._conn = self._connect()
            cur = conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                value = fn(cur, *args)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return value

    def _close(self) -> None:
        with self._thread_lock:
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    async def migrate(self) -> list[int]:
        """Create or migrate the schema now (the first call does it anyway); return versions applied.

        Idempotent: a second call (or another process's) applies nothing and returns ``[]``.

        Raises:
            JobStoreError: the database cannot be opened or migrated.
        """
        return await self._call(self._migrate_rows)

    def _migrate_rows(self, cur: Cursor) -> list[int]:
        applied, self._applied = self._applied, []  # what opening the connection applied
        return applied or migrate(cur, self._q, _NAMES, time.time())

    async def aclose(self) -> None:
        """Close the connection; later calls raise :class:`~trio_orch.JobStoreError`.

        Cancellation:
            Waits (uncancellably) for a call under way on another thread to finish.
        """
        await trio.to_thread.run_sync(self._close)


def _enable_wal(conn: sqlite3.Connection, deadline: float) -> None:
    """Switch to WAL mode, waiting for other connections doing the same until ``deadline``.

    SQLite does not call its busy handler for this pragma, so several workers opening a new
    database at once get "database is locked" at once; retry it (in this worker thread).
    """
    import sqlite3

    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)
        else:
            return
