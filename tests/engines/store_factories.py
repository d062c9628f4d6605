"""Factories of the durable stores for the shared store tests (tests/engines/job_stores.py).

Their stores run each database call inline, in the calling Trio task, instead of on a worker
thread: the state machine (test_jobs_machine.py) settles with ``wait_all_tasks_blocked``,
which counts a task waiting for a thread as blocked.  (The threads are tested in
test_stores*.py.)  The PostgreSQL one does not LISTEN, for the same reason.
Each call makes a store on a fresh database (SQLite: a new file; PostgreSQL: a new schema
on the session's server), closing the stores made before it (a Hypothesis example's store
is dead once its example ends).  Their clock is Trio's plus an offset, like the
wall-clock test store, so that delayed jobs become due when a test moves Trio's clock.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import trio

from tests import pg
from trio_orch import PostgresJobStore, SqliteJobStore

if TYPE_CHECKING:
    from collections.abc import Callable

R = TypeVar("R")
WALL_OFFSET = 1_700_000_000.0
_made: list[Any] = []
_files = itertools.count(1)
_folder: list[Path] = []


def trio_wall_clock() -> float:
    """Trio's clock plus :data:`WALL_OFFSET` (a stand-in for ``time.time`` that tests can move)."""
    return trio.current_time() + WALL_OFFSET


def folder() -> Path:
    """A temporary folder for this session's database files."""
    if not _folder:
        _folder.append(Path(tempfile.mkdtemp(prefix="trio-orch-sqlite-")))
    return _folder[0]


def close_all() -> None:
    """Close every store made so far."""
    while _made:
        _made.pop()._close()


def remove_files() -> None:
    """Delete the session's database files."""
    while _folder:
        shutil.rmtree(_folder.pop(), ignore_errors=True)


async def _inline(fn: Callable[..., R], *args: Any) -> R:
    await trio.lowlevel.checkpoint()
    return fn(*args)


def sqlite_store() -> SqliteJobStore:
    """A SqliteJobStore on a new file."""
    close_all()
    store = SqliteJobStore(folder() / f"jobs{next(_files)}.db", clock=trio_wall_clock)
    store._in_thread = _inline  # type: ignore[method-assign]
    _made.append(store)
    return store


def postgres_store() -> PostgresJobStore:
    """A PostgresJobStore on a new schema of the session's server (skips without one)."""
    dsn = pg.pg_dsn()
    close_all()
    store = PostgresJobStore(dsn, schema=pg.fresh_schema(), clock=trio_wall_clock, listen=False)
    store._in_thread = _inline  # type: ignore[method-assign]
    _made.append(store)
    return store
