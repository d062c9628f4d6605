"""The job state machine, as a Hypothesis stateful test against the JobStore interface + queue.

Random sequences of add, cancel, retry, attempts that succeed or fail (transiently or for good),
time passing, shutdown and restart never lose a job, never move a state backwards (an end
state is left only through ``retry``; attempts never go down but through ``retry``), never
leave a job RUNNING once the queue is closed, never run a cancelled job again, and keep the
store's RUNNING jobs exactly the attempts the queue is running.

The queue lives in a Trio run on a thread of its own (the machine's rules are sync), on a
``MockClock`` that only moves when a rule jumps it, so every step is deterministic.  One
machine per store factory of ``tests/engines/job_stores.py``: a durable store adds its factory
there and gets the same machine.
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any

import trio
import trio.testing
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tests.engines.job_stores import STORE_FACTORIES, store_now
from trio_orch import (
    Jitter,
    Job,
    JobQueue,
    JobStateError,
    JobStatus,
    JobStore,
    PermanentError,
    RetryPolicy,
    TaskRegistry,
    TransientError,
    open_job_queue,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

POLICY = RetryPolicy(max_attempts=2, initial_delay=1.0, jitter=Jitter.NONE)
OUTCOMES = ("ok", "transient", "permanent")


class _TrioThread:
    """A Trio run on its own thread, with a MockClock that moves only when jumped."""

    def __init__(self) -> None:
        self.clock = trio.testing.MockClock()
        self._ready = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)
        self._thread.start()
        self._ready.wait()

    def _main(self) -> None:
        try:
            trio.run(self._serve, clock=self.clock)
        except BaseException as exc:  # reported by the machine's teardown
            self.error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._stop = trio.Event()
        async with trio.open_nursery() as nursery:
            self.nursery = nursery
            self.token = trio.lowlevel.current_trio_token()
            self._ready.set()
            await self._stop.wait()
            nursery.cancel_scope.cancel()

    def run(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        return trio.from_thread.run(fn, *args, trio_token=self.token)

    def stop(self) -> None:
        with contextlib.suppress(trio.RunFinishedError):
            trio.from_thread.run_sync(self._stop.set, trio_token=self.token)
        self._thread.join(10)


class _Counting(JobStore):
    """Forwards every call to ``inner`` and counts the calls under way.

    A task waiting for a store's thread or socket counts as blocked for
    ``wait_all_tasks_blocked``; :func:`_settle` also waits until no store call is under way,
    so that every step ends in the same state on every run (Hypothesis replays steps).
    ``next_due`` is not counted: a store may wait in it for new jobs.
    """

    def __init__(self, inner: JobStore) -> None:
        self.inner = inner
        self.clock = inner.clock
        self.inflight = 0

    def __getattribute__(self, name: str) -> Any:
        value = object.__getattribute__(self, name)
        if name in _COUNTED:
            inner = getattr(object.__getattribute__(self, "inner"), name)

            async def counted(*args: Any, **kwargs: Any) -> Any:
                self.inflight += 1
                try:
                    return await inner(*args, **kwargs)
                finally:
                    self.inflight -= 1

            return counted
        return value

    # The abstract methods, for the ABC (the calls go through __getattribute__ above).
    async def add(self, *a: Any) -> Any: ...
    async def claim(self, *a: Any) -> Any: ...
    async def heartbeat(self, *a: Any) -> Any: ...
    async def complete(self, *a: Any) -> Any: ...
    async def fail(self, *a: Any) -> Any: ...
    async def requeue(self, *a: Any) -> Any: ...
    async def requeue_expired(self, *a: Any) -> Any: ...
    async def cancel(self, *a: Any) -> Any: ...
    async def retry(self, *a: Any) -> Any: ...
    async def get(self, *a: Any) -> Any: ...
    async def list(self, *a: Any, **k: Any) -> Any: ...

    async def next_due(self, now: float) -> float | None:
        return await self.inner.next_due(now)


_COUNTED = frozenset(
    {"add", "claim", "heartbeat", "complete", "fail", "requeue", "requeue_expired"}
    | {"cancel", "retry", "get", "list"}
)
_STORES: list[_Counting] = []  # the machine's store (one machine runs at a time)


async def _settle() -> None:
    """Until every task waits on something only a rule can change (no store call under way)."""
    await trio.testing.wait_all_tasks_blocked()
    while _STORES and _STORES[0].inflight:
        await trio.testing.wait_all_tasks_blocked()


class JobMachine(RuleBasedStateMachine):
    make_store: Callable[[], JobStore]

    def __init__(self) -> None:
        super().__init__()
        self.trio = _TrioThread()
        self.store = self.trio.run(self._make_store)
        self.queue: JobQueue | None = None
        self.ids: list[str] = []  # every job id added, in order
        self.seen: dict[str, Job] = {}  # the last snapshot of each
        self.retried: set[str] = set()  # retried since the last observation
        self.token: dict[str, str] = {}  # job id -> the token its payload carries
        self.gates: dict[str, trio.Event] = {}  # token -> a running attempt's gate
        self.outcome: dict[str, str] = {}
        self.starts: dict[str, int] = {}  # token -> attempts started
        self.starts_seen: dict[str, int] = {}  # the same, at the last observation
        self.tasks = TaskRegistry()
        self.tasks.register("work", self._work)

    async def _make_store(self) -> JobStore:
        await trio.lowlevel.checkpoint()
        store = _Counting(type(self).make_store())
        _STORES[:] = [store]
        return store

    def teardown(self) -> None:
        if self.queue is not None:
            self.trio.run(self._close)
        self.trio.stop()
        assert self.trio.error is None, self.trio.error

    # ---- the task and the queue ----------------------------------------------------------

    async def _work(self, payload: Any) -> Any:
        job_id = payload["token"]
        self.starts[job_id] = self.starts.get(job_id, 0) + 1
        gate = self.gates[job_id] = trio.Event()
        try:
            await gate.wait()
        finally:
            del self.gates[job_id]
        outcome = self.outcome.pop(job_id)
        if outcome == "transient":
            raise TransientError("try again")
        if outcome == "permanent":
            raise PermanentError("never")
        return {"token": job_id}

    async def _serve_queue(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        self._close_requested = trio.Event()
        self._closed = trio.Event()
        try:
            async with open_job_queue(
                self.tasks,
                store=self.store,
                concurrency=2,
                retry=POLICY,
                grace=0,
                lease=1000.0,
                poll_interval=1000.0,
            ) as queue:
                task_status.started(queue)
                await self._close_requested.wait()
        finally:
            self._closed.set()

    async def _open(self) -> None:
        self.queue = await self.trio.nursery.start(self._serve_queue)
        await _settle()

    async def _close(self) -> None:
        self._close_requested.set()
        await self._closed.wait()
        self.queue = None
        await _settle()

    # ---- rules ---------------------------------------------------------------------------

    @precondition(lambda self: self.queue is None)
    @rule()
    def start(self) -> None:
        self.trio.run(self._open)

    @precondition(lambda self: self.queue is not None)
    @rule()
    def shutdown(self) -> None:
        self.trio.run(self._close)

    @precondition(lambda self: self.queue is not None)
    @rule(
        priority=st.integers(-1, 1),
        delay=st.sampled_from([None, 0.5, 2.0]),
        key=st.sampled_from([None, None, "k1", "k2"]),
    )
    def add(self, priority: int, delay: float | None, key: str | None) -> None:
        # Ids are the store's: the payload carries a token of ours that the task reports.
        token = f"t{len(self.token)}"

        async def add() -> Job:
            assert self.queue is not None
            run_at = None if delay is None else trio.current_time() + delay
            job = await self.queue.add(
                "work", {"token": token}, key=key, priority=priority, run_at=run_at
            )
            await _settle()
            return job

        job = self.trio.run(add)
        if job.id not in self.token:
            self.ids.append(job.id)
            self.token[job.id] = token
        else:
            assert key is not None, "two adds without a key returned one job"

    @precondition(lambda self: self.gates)
    @rule(data=st.data(), outcome=st.sampled_from(OUTCOMES))
    def finish(self, data: st.DataObject, outcome: str) -> None:
        token = data.draw(st.sampled_from(sorted(self.gates)))

        async def finish() -> None:
            self.outcome[token] = outcome
            self.gates[token].set()
            await _settle()

        self.trio.run(finish)

    @precondition(lambda self: self.ids)
    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        job_id = data.draw(st.sampled_from(self.ids))

        async def cancel() -> None:
            if self.queue is not None:
                await self.queue.cancel(job_id)
            else:  # as `trio-orch jobs cancel` does, with no queue running
                await self.store.cancel(job_id, store_now(self.store))
            await _settle()

        self.trio.run(cancel)

    @precondition(lambda self: self.ids)
    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        job_id = data.draw(st.sampled_from(self.ids))

        async def retry() -> None:
            before = (await self.store.get(job_id)).status
            refused: JobStateError | None = None
            try:
                if self.queue is not None:
                    await self.queue.retry(job_id)
                else:
                    await self.store.retry(job_id, store_now(self.store))
            except JobStateError as exc:
                refused = exc
            if refused is None:
                assert before in (JobStatus.FAILED, JobStatus.CANCELLED)
                self.retried.add(job_id)
            else:
                assert before not in (JobStatus.FAILED, JobStatus.CANCELLED)
                assert refused.status == before.name
            await _settle()

        self.trio.run(retry)

    @rule(seconds=st.sampled_from([0.5, 1.0, 3.0]))
    def advance(self, seconds: float) -> None:
        async def advance() -> None:
            self.trio.clock.jump(seconds)
            await _settle()

        self.trio.run(advance)

    # ---- invariants ----------------------------------------------------------------------

    @invariant()
    def never_lost_never_backwards(self) -> None:
        jobs = {job.id: job for job in self.trio.run(self.store.list)}
        assert set(jobs) == set(self.ids), "a job was lost (or appeared)"
        for job_id, job in jobs.items():
            token = self.token[job_id]
            before = self.seen.get(job_id)
            if before is not None and job_id not in self.retried:
                if before.finished:  # an end state is left only through retry
                    assert job.status is before.status, (before, job)
                    assert job.attempts == before.attempts, (before, job)
                assert job.attempts >= before.attempts, (before, job)
                if before.status is JobStatus.CANCELLED:  # a cancelled job never runs again
                    assert self.starts.get(token, 0) == self.starts_seen.get(token, 0)
            if job.status is JobStatus.SUCCEEDED:
                assert job.result == job.payload
            if job.status is JobStatus.CANCELLED:
                assert token not in self.gates, "a cancelled job's task still runs"
            self.seen[job_id] = job
            self.starts_seen[token] = self.starts.get(token, 0)
        self.retried.clear()
        running = {self.token[i] for i, j in jobs.items() if j.status is JobStatus.RUNNING}
        if self.queue is None:
            assert not running, "a job is stuck RUNNING after shutdown"
        # Every RUNNING job is an attempt this queue runs (waiting for its outcome), and back.
        assert running == set(self.gates)


def _machine(make_store: Callable[[], JobStore]) -> type[JobMachine]:
    return type(
        f"JobMachine_{make_store.__name__}", (JobMachine,), {"make_store": staticmethod(make_store)}
    )


def _test_cases() -> dict[str, Any]:
    cases = {}
    for param in STORE_FACTORIES:
        case = _machine(param.values[0]).TestCase
        # In-memory stores are fast: more examples; a store on disk or a server: fewer.
        examples = 30 if param.id in ("memory", "wall-clock") else 8
        case.settings = settings(max_examples=examples, stateful_step_count=25, deadline=None)
        cases[f"TestJobStateMachine_{param.id.replace('-', '_')}"] = case
    return cases


globals().update(_test_cases())
