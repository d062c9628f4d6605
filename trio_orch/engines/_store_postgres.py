"""A durable job store for many machines: :class:`PostgresJobStore` (psycopg 3, psycopg_pool).

psycopg's async API is asyncio-only, so the store uses its *sync* connections, from a
``psycopg_pool.ConnectionPool``, on worker threads (``trio.to_thread.run_sync``).  Claims
take a batch with ``FOR UPDATE SKIP LOCKED``: concurrent workers never wait for each other
and never get the same job.  Writes that queue a job send a ``NOTIFY``; an idle queue's timer
waits for it on a dedicated ``LISTEN`` connection (its socket is watched by Trio itself, no
thread), so a job added anywhere starts within milliseconds, with a slow fallback poll.

psycopg is imported when the store first connects, never by ``import trio_orch``.
"""

from __future__ import annotations

import re
import threading
import time
import zlib
from typing import TYPE_CHECKING, Any, final

import trio

from trio_orch._exceptions import JobStoreError
from trio_orch._log import get_logger
from trio_orch._validate import check_int, check_number
from trio_orch.engines._store_schema import COLUMNS, SqlJobStore, mask_url, migrate

if TYPE_CHECKING:
    from collections.abc import Callable

    import psycopg
    import psycopg_pool

    from trio_orch.engines._jobs_model import Job
    from trio_orch.engines._store_schema import Cursor, R

__all__ = ["PostgresJobStore"]

_logger = get_logger("stores")
_CLOSED = "the store is closed"
_CONNECT = "cannot connect"
_MIGRATE = "cannot migrate the schema"
_POOL = "cannot open the connection pool"
_SCHEMA = re.compile(r"^[a-z_][a-z0-9_]{0,40}$")


def _names(schema: str) -> dict[str, str]:
    return {
        "jobs": f'"{schema}".trio_orch_jobs',
        "runs": f'"{schema}".trio_orch_workflow_runs',
        "checkpoints": f'"{schema}".trio_orch_workflow_steps',
        "migrations": f'"{schema}".trio_orch_migrations',
        "prefix": "trio_orch_",
        "id": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        "json": "JSONB",
        "real": "DOUBLE PRECISION",
    }


def _check_text(dsn: object, schema: object) -> None:
    if not isinstance(dsn, str):
        msg = f"dsn must be a str, got {dsn!r}"
        raise TypeError(msg)
    if not isinstance(schema, str) or not _SCHEMA.match(schema):
        msg = f"schema must be a lower-case SQL name (a-z, 0-9, _), got {schema!r}"
        raise ValueError(msg)


def _scrub(text: str, dsn: str) -> str:
    """``text`` with the DSN's password (if it shows up in a driver's message) masked."""
    from urllib.parse import unquote, urlsplit

    try:
        password = urlsplit(dsn).password
    except ValueError:
        password = None
    if password:
        text = text.replace(password, "***").replace(unquote(password), "***")
    return mask_url(text)


@final
class PostgresJobStore(SqlJobStore):
    """A :class:`~trio_orch.JobStore` in PostgreSQL: durable, shared by workers on many machines.

    ::

        async with open_job_queue(tasks, store=PostgresJobStore("postgresql://...")) as queue: ...
        # or: open_job_queue(tasks, store="postgresql://user:secret@db/jobs")

    On first use the store connects, creates its schema and tables and migrates them
    (versioned; workers starting at once are serialized by ``pg_advisory_xact_lock``).
    Claims take up to the queue's idle workers at once with ``FOR UPDATE SKIP LOCKED``;
    completions (and adds) made at the same time share one transaction.  A job whose worker
    died returns to the queue when its lease expires.  Times are ``clock`` seconds
    (``time.time``), stored as ``double precision``.

    Args:
        dsn: a libpq connection string or URL (``postgresql://user:password@host/db``).
        schema: the PostgreSQL schema holding the tables (created if missing): several
            independent queues can share a database, one schema each.
        max_connections: the pool's size (per process).
        connect_timeout: seconds to wait for a connection (from the pool, or to the server).
        listen: wait for ``NOTIFY`` when idle (``False``: poll every ``poll_interval`` of the
            queue).
        fallback_poll: when listening, the longest an idle queue waits without a
            notification before it looks again anyway.
        batch: the most completions (and adds) written in one transaction.
        clock: the store's clock; ``None``: ``time.time``.  Every process must use the same.

    Raises:
        TypeError, ValueError: a bad argument.
        JobStoreError: (from the first call) the server cannot be reached or the schema
            migrated; the message names the DSN with its password masked.

    Cancellation:
        A call cancelled before it reaches its thread changes nothing; once there, it
        finishes (bounded by ``connect_timeout`` and the server) and returns its answer.
    """

    _lock_row = " FOR UPDATE"

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "public",
        max_connections: int = 10,
        connect_timeout: float = 10.0,
        listen: bool = True,
        fallback_poll: float = 10.0,
        batch: int = 500,
        clock: Callable[[], float] | None = None,
    ) -> None:
        _check_text(dsn, schema)
        check_int("max_connections", max_connections, minimum=1)
        check_number("connect_timeout", connect_timeout, strict=True)
        check_number("fallback_poll", fallback_poll, strict=True)
        check_int("batch", batch, minimum=1)
        super().__init__(clock=clock, batch=batch)
        self._dsn = dsn
        self._url = mask_url(dsn)
        self._schema = schema
        self._max_connections = max_connections
        self._connect_timeout = connect_timeout
        self._listen = bool(listen)
        self._fallback_poll = fallback_poll
        self._pool: psycopg_pool.ConnectionPool[Any] | None = None
        self._open_lock = threading.Lock()
        self._closed = False
        self._listener: psycopg.Connection[Any] | None = None
        self._waiting = False
        names = _names(schema)
        self._names = names
        self._jobs = names["jobs"]
        self._channel = f"trio_orch_{schema}"
        self._lock_key = zlib.crc32(f"trio_orch:{schema}".encode())
        cols = ", ".join(f"j.{c}" for c in COLUMNS.split(", "))
        self._claim_sql = (
            f"WITH picked AS (SELECT id FROM {self._jobs} WHERE status = 'queued'"
            " AND (run_at IS NULL OR run_at <= %s) ORDER BY priority DESC, ready_at, id"
            " LIMIT %s FOR UPDATE SKIP LOCKED)"
            f" UPDATE {self._jobs} AS j SET status = 'running', attempts = j.attempts + 1,"
            " worker = %s, lease_expires = %s, updated_at = %s FROM picked"
            f" WHERE j.id = picked.id RETURNING {cols}, j.ready_at"
        )

    def __repr__(self) -> str:
        return f"<PostgresJobStore {self._url} schema={self._schema!r}>"

    @property
    def url(self) -> str:
        """The DSN, password masked."""
        return self._url

    @property
    def schema(self) -> str:
        """The PostgreSQL schema holding the tables."""
        return self._schema

    # ---- connections -----------------------------------------------------------------------

    def _error(self, what: str, exc: BaseException) -> JobStoreError:
        return JobStoreError(self._url, f"{what}: {_scrub(str(exc).strip(), self._dsn)}")

    def _connect(self, *, autocommit: bool) -> psycopg.Connection[Any]:
        import psycopg

        try:
            return psycopg.connect(
                self._dsn, autocommit=autocommit, connect_timeout=max(1, int(self._connect_timeout))
            )
        except psycopg.Error as exc:
            raise self._error(_CONNECT, exc) from None

    def _migrate_on(self, conn: psycopg.Connection[Any]) -> list[int]:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (self._lock_key,))
            cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"')
            applied = migrate(cur, self._q, self._names, time.time())
        conn.commit()
        return applied

    def _open(self) -> psycopg_pool.ConnectionPool[Any]:
        with self._open_lock:
            if self._closed:
                raise JobStoreError(self._url, _CLOSED)
            if self._pool is not None:
                return self._pool
            import psycopg
            import psycopg_pool

            with self._connect(autocommit=False) as conn:
                try:
                    self._migrate_on(conn)
                except psycopg.Error as exc:
                    raise self._error(_MIGRATE, exc) from None
            pool: psycopg_pool.ConnectionPool[Any] = psycopg_pool.ConnectionPool(
                self._dsn,
                min_size=1,
                max_size=self._max_connections,
                open=False,
                timeout=self._connect_timeout,
                name=f"trio_orch:{self._schema}",
            )
            try:
                pool.open(wait=True, timeout=self._connect_timeout)
            except psycopg_pool.PoolTimeout as exc:
                pool.close()
                raise self._error(_POOL, exc) from None
            self._pool = pool
            return pool

    def _transact(self, fn: Callable[..., R], *args: Any) -> R:
        pool = self._pool if self._pool is not None else self._open()
        with pool.connection() as conn, conn.cursor() as cur:
            return fn(cur, *args)

    def _load(self, value: Any) -> Any:
        return value  # psycopg parses JSONB itself

    def _notify(self, cur: Cursor) -> None:
        cur.execute("SELECT pg_notify(%s, '')", (self._channel,))

    def _claim_rows(
        self, cur: Cursor, worker_id: str, limit: int, lease: float, now: float
    ) -> list[Job]:
        if limit <= 0:
            return []
        cur.execute(self._claim_sql, (now, limit, worker_id, now + lease, now))
        return self._claimed(cur.fetchall())

    async def migrate(self) -> list[int]:
        """Create or migrate the schema now (the first call does it anyway); return versions applied.

        Idempotent: a second call (or another worker's) applies nothing and returns ``[]``.

        Raises:
            JobStoreError: the server cannot be reached or the migration failed.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        return await trio.to_thread.run_sync(self._migrate_now)

    def _migrate_now(self) -> list[int]:
        import psycopg

        with self._connect(autocommit=False) as conn:
            try:
                return self._migrate_on(conn)
            except psycopg.Error as exc:
                raise self._error(_MIGRATE, exc) from None

    # ---- LISTEN / NOTIFY -------------------------------------------------------------------

    def _start_listening(self) -> psycopg.Connection[Any]:
        conn = self._connect(autocommit=True)
        conn.execute(f'LISTEN "{self._channel}"')
        return conn

    def _drop_listener(self, exc: BaseException) -> None:
        if not self._closed:  # closing it is no failure
            _logger.warning("trio_orch.stores.listen_failed", store=self._url, error=repr(exc))
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    def _drain(self, conn: psycopg.Connection[Any]) -> bool:
        """Read what arrived on the LISTEN connection; True if it held a notification."""
        pgconn = conn.pgconn
        pgconn.consume_input()
        got = False
        while pgconn.notifies() is not None:
            got = True
        return got

    async def next_due(self, now: float) -> float | None:
        """See :meth:`JobStore.next_due`; when listening, it also waits for a new job.

        With ``listen`` (the default) and ``now`` the store's present time (as the queue
        passes it), the call waits until a ``NOTIFY`` says a job was queued (it then
        returns ``now``: something may be due at once), until the earliest delayed job is
        due, or ``fallback_poll`` seconds, whichever comes first.  Called with a ``now``
        in the past it answers at once, like every store.

        Cancellation:
            Safe to cancel while waiting; nothing changes.
        """
        listener = self._listener
        if listener is not None and not self._waiting:
            try:
                self._drain(listener)
            except Exception as exc:
                self._drop_listener(exc)
        due = await self._call(self._next_due_row, now)
        if not self._listen or self._waiting or self._closed:
            return due
        until = now + self._fallback_poll if due is None else min(due, now + self._fallback_poll)
        wait = until - self.clock()
        if wait <= 0:
            return due
        self._waiting = True  # one waiter per store (the LISTEN socket has one reader)
        try:
            if self._listener is None:
                self._listener = await trio.to_thread.run_sync(self._start_listening)
                return now  # what was queued before LISTEN sent no notification: look now
            with trio.move_on_after(wait):
                await self._wait_notify(self._listener)
                return now
        except Exception as exc:
            self._drop_listener(exc)
        finally:
            self._waiting = False
        return due

    async def _wait_notify(self, conn: psycopg.Connection[Any]) -> None:
        while True:
            await trio.lowlevel.wait_readable(conn.pgconn.socket)
            if self._drain(conn):
                return

    # ---- closing ---------------------------------------------------------------------------

    def _close(self) -> None:
        with self._open_lock:
            self._closed = True
            pool, self._pool = self._pool, None
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        if pool is not None:
            pool.close(timeout=self._connect_timeout)

    async def aclose(self) -> None:
        """Close the pool and the LISTEN connection; later calls raise :class:`JobStoreError`.

        Cancellation:
            Not cancellable once started: it waits for connections in use to come back.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        self._closed = True
        if self._listener is not None:  # wake a next_due waiting on it: it returns at once
            trio.lowlevel.notify_closing(self._listener.pgconn.socket)
        await trio.to_thread.run_sync(self._close)
