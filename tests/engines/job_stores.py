"""Store factories shared by the job tests: every JobStore must pass the same tests.

``STORE_FACTORIES`` is what the contract tests (test_jobs_store.py) and the state machine
(test_jobs_machine.py) are parametrized over.  A durable store (SQLite, PostgreSQL) adds its
factory here and inherits every test.

``WallClockStore`` is a store on a clock of its own (Trio's clock plus an offset, standing in
for ``time.time``): it checks that the queue converts ``run_at`` and the snapshots' times and
never mixes the two clocks.  ``ForwardingStore`` injects faults and delays, as a remote store
that is down or slow would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import trio

from tests.engines import store_factories
from trio_orch import Job, JobSpec, JobStatus, JobStore, MemoryJobStore

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

#: What the wall-clock store's clock reads at Trio time 0.
WALL_OFFSET = 1_700_000_000.0


class ForwardingStore(JobStore):
    """A JobStore that forwards every call to a MemoryJobStore, with faults on demand.

    ``faults[name]`` is raised by the next call of the method ``name`` (once);
    ``delays[name]`` seconds are slept after the call (inside it, as a slow remote store).
    """

    def __init__(self) -> None:
        self.inner = MemoryJobStore()
        self.faults: dict[str, BaseException] = {}
        self.delays: dict[str, float] = {}

    async def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        fault = self.faults.pop(name, None)
        if fault is not None:
            await trio.lowlevel.checkpoint()
            raise fault
        result = await getattr(self.inner, name)(*args, **kwargs)
        delay = self.delays.get(name)
        if delay is not None:
            await trio.sleep(delay)
        return result

    async def add(self, spec: JobSpec, now: float) -> tuple[Job, bool]:
        return await self._call("add", spec, now)  # type: ignore[no-any-return]

    async def claim(self, worker_id: str, limit: int, lease: float, now: float) -> list[Job]:
        return await self._call("claim", worker_id, limit, lease, now)  # type: ignore[no-any-return]

    async def heartbeat(
        self, worker_id: str, job_ids: Sequence[str], lease: float, now: float
    ) -> list[str]:
        return await self._call("heartbeat", worker_id, job_ids, lease, now)  # type: ignore[no-any-return]

    async def complete(self, job_id: str, worker_id: str, result: Any, now: float) -> Job | None:
        return await self._call("complete", job_id, worker_id, result, now)  # type: ignore[no-any-return]

    async def fail(
        self, job_id: str, worker_id: str, error: str, retry_at: float | None, now: float
    ) -> Job | None:
        return await self._call("fail", job_id, worker_id, error, retry_at, now)  # type: ignore[no-any-return]

    async def requeue(self, job_id: str, worker_id: str, now: float) -> Job | None:
        return await self._call("requeue", job_id, worker_id, now)  # type: ignore[no-any-return]

    async def requeue_expired(self, now: float) -> list[Job]:
        return await self._call("requeue_expired", now)  # type: ignore[no-any-return]

    async def cancel(self, job_id: str, now: float) -> tuple[Job, JobStatus]:
        return await self._call("cancel", job_id, now)  # type: ignore[no-any-return]

    async def retry(self, job_id: str, now: float) -> Job:
        return await self._call("retry", job_id, now)  # type: ignore[no-any-return]

    async def get(self, job_id: str) -> Job:
        return await self._call("get", job_id)  # type: ignore[no-any-return]

    async def list(self, *, status: JobStatus | None = None, limit: int | None = None) -> list[Job]:
        return await self._call("list", status=status, limit=limit)  # type: ignore[no-any-return]

    async def next_due(self, now: float) -> float | None:
        return await self._call("next_due", now)  # type: ignore[no-any-return]


class WallClockStore(ForwardingStore):
    """A MemoryJobStore behind a clock of its own (Trio's + ``WALL_OFFSET``)."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = self._clock

    @staticmethod
    def _clock() -> float:
        return trio.current_time() + WALL_OFFSET


STORE_FACTORIES: list[Any] = [
    pytest.param(MemoryJobStore, id="memory"),
    pytest.param(WallClockStore, id="wall-clock"),
    pytest.param(store_factories.sqlite_store, id="sqlite"),
    pytest.param(store_factories.postgres_store, id="postgres"),
]


def store_now(store: JobStore) -> float:
    """The store's time now (its clock, or Trio's)."""
    clock: Callable[[], float] | None = store.clock
    return trio.current_time() if clock is None else clock()
