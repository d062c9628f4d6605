"""JobQueue: add/wait/status, JSON payloads, keys, priorities, run_at, retries, cancel,
grace on shutdown, leases, callbacks, events, stats and bad input (on virtual time)."""

from __future__ import annotations

import dataclasses
import enum
import math
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from structlog.testing import capture_logs

from tests.engines.job_stores import WALL_OFFSET, ForwardingStore, WallClockStore
from tests.faults import hang_then_fail_in_a_child
from trio_orch import (
    Event,
    Jitter,
    Job,
    JobCancelled,
    JobEvent,
    JobFailed,
    JobNotFound,
    JobQueue,
    JobQueued,
    JobQueueStats,
    JobRequeued,
    JobRetrying,
    JobStarted,
    JobStateError,
    JobStatus,
    JobSucceeded,
    MemoryJobStore,
    OrchError,
    PermanentError,
    RetryPolicy,
    TaskRegistry,
    TransientError,
    open_event_bus,
    open_job_queue,
)
from trio_orch.engines._store_url import store_from_url

NO_JITTER = RetryPolicy(max_attempts=3, initial_delay=1.0, jitter=Jitter.NONE)


def registry(log: list[Any] | None = None) -> TaskRegistry:
    """Tasks: echo (returns its payload), sleep (payload["s"] seconds), boom (raises)."""
    tasks = TaskRegistry()

    @tasks.task("echo")
    async def echo(payload: Any) -> Any:
        if log is not None:
            log.append((trio.current_time(), payload))
        await trio.lowlevel.checkpoint()
        return payload

    @tasks.task("sleep")
    async def sleep(payload: Any) -> Any:
        if log is not None:
            log.append((trio.current_time(), payload))
        await trio.sleep(payload["s"])
        return payload.get("v")

    @tasks.task("boom")
    async def boom(payload: Any) -> None:
        if log is not None:
            log.append((trio.current_time(), payload))
        await trio.sleep(1)
        kind = {"transient": TransientError, "permanent": PermanentError, "value": ValueError}
        raise kind[payload["kind"]](payload.get("msg", "boom"))

    return tasks


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.events.append(event)

    def of(self, cls: type[Event]) -> list[Any]:
        return [e for e in self.events if isinstance(e, cls)]


# --- the basics ---------------------------------------------------------------------------


async def test_add_run_wait_and_the_snapshot(autojump_clock: trio.abc.Clock) -> None:
    async with open_job_queue(registry(), concurrency=2) as queue:
        assert isinstance(queue, JobQueue)
        job = await queue.add("sleep", {"s": 2, "v": [1, 2]})
        assert job.status is JobStatus.QUEUED
        assert (job.task, job.payload, job.attempts, job.created_at) == (
            "sleep",
            {"s": 2, "v": [1, 2]},
            0,
            0.0,
        )
        assert job.max_attempts == 3  # the default RetryPolicy's
        done = await queue.wait(job.id)
        assert trio.current_time() == 2.0
        assert done.status is JobStatus.SUCCEEDED
        assert done.finished
        assert done.status.finished
        assert (done.result, done.attempts, done.error, done.updated_at) == ([1, 2], 1, None, 2.0)
        assert (done.worker, done.lease_expires) == (None, None)
        assert await queue.status(job.id) == done
        assert await queue.jobs() == [done]
        assert await queue.jobs(JobStatus.QUEUED) == []
        assert queue.stats == JobQueueStats(
            concurrency=2,
            running=0,
            added=1,
            started=1,
            succeeded=1,
            failed=0,
            retried=0,
            cancelled=0,
            requeued=0,
            lost=0,
        )
        assert isinstance(queue.store, MemoryJobStore)
        assert "open" in repr(queue)
    assert "closed" in repr(queue)


async def test_concurrency_limits_the_running_attempts(autojump_clock: trio.abc.Clock) -> None:
    running = peak = 0
    ends: list[float] = []
    tasks = TaskRegistry()

    @tasks.task("work")
    async def work(_: Any) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await trio.sleep(1)
        running -= 1
        ends.append(trio.current_time())

    async with open_job_queue(tasks, concurrency=2) as queue:
        jobs = [await queue.add("work") for _ in range(5)]
        for job in jobs:
            await queue.wait(job.id)
    assert peak == 2
    assert ends == [1.0, 1.0, 2.0, 2.0, 3.0]


async def test_higher_priority_runs_first_then_add_order(autojump_clock: trio.abc.Clock) -> None:
    log: list[Any] = []
    async with open_job_queue(registry(log), concurrency=1) as queue:
        await queue.add("sleep", {"s": 1, "v": "blocker"})
        await trio.testing.wait_all_tasks_blocked()
        for name, priority in [("low", -1), ("a", 0), ("high", 5), ("b", 0)]:
            await queue.add("echo", name, priority=priority)
        await queue.wait_idle()
    assert [p if isinstance(p, str) else p["v"] for _, p in log] == [
        "blocker",
        "high",
        "a",
        "b",
        "low",
    ]


async def test_run_at_waits_on_trios_clock(autojump_clock: trio.abc.Clock) -> None:
    log: list[Any] = []
    async with open_job_queue(registry(log)) as queue:
        later = await queue.add("echo", "later", run_at=7.5)
        sooner = await queue.add("echo", "sooner", run_at=2.25)
        now = await queue.add("echo", "now", run_at=-100.0)  # in the past: due at once
        assert later.run_at == 7.5
        assert (await queue.wait(later.id)).status is JobStatus.SUCCEEDED
        assert (await queue.status(sooner.id)).finished
        assert (await queue.status(now.id)).finished
    assert log == [(0.0, "now"), (2.25, "sooner"), (7.5, "later")]


async def test_wait_idle_includes_delayed_jobs(autojump_clock: trio.abc.Clock) -> None:
    async with open_job_queue(registry(), poll_interval=100.0) as queue:
        await queue.wait_idle()  # nothing at all
        assert trio.current_time() == 0.0
        await queue.add("sleep", {"s": 1}, run_at=30.0)
        await queue.add("sleep", {"s": 2})
        await queue.wait_idle()
        assert trio.current_time() == 31.0


# --- payloads -----------------------------------------------------------------------------


@attrs.frozen
class Resize:
    path: str
    sizes: tuple[int, ...]


@dataclasses.dataclass
class Point:
    x: int
    y: float


class Color(enum.Enum):
    RED = "red"


async def test_payloads_are_json_data_checked_and_copied_at_add(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with open_job_queue(registry()) as queue:
        payload: dict[str, Any] = {"a": [1, 2.5, "x", None, True], "t": (1, 2)}
        job = await queue.add("echo", payload)
        payload["a"].append("later")  # the job has its own copy
        assert job.payload == {"a": [1, 2.5, "x", None, True], "t": [1, 2]}
        structured = await queue.add(
            "echo", {"r": Resize("a.png", (1, 2)), "p": Point(1, 2.0), "c": Color.RED}
        )
        assert structured.payload == {
            "r": {"path": "a.png", "sizes": [1, 2]},
            "p": {"x": 1, "y": 2.0},
            "c": "red",
        }
        top = await queue.add("echo", Resize("b", ()))
        assert top.payload == {"path": "b", "sizes": []}
        done = await queue.wait(job.id)
        assert done.result == {"a": [1, 2.5, "x", None, True], "t": [1, 2]}
        done.payload["a"].clear()  # snapshots share nothing with the store
        assert (await queue.status(job.id)).payload["a"] == [1, 2.5, "x", None, True]
        assert (await queue.add("echo")).payload is None


@pytest.mark.parametrize(
    ("payload", "error", "message"),
    [
        ({1, 2}, TypeError, r"^payload must be JSON data, got \{1, 2\}$"),
        ({"tags": {1}}, TypeError, r"^payload must be JSON data, got \{1\} at payload\['tags'\]$"),
        (
            {"a": [0, b"x"]},
            TypeError,
            r"^payload must be JSON data, got b'x' at payload\['a'\]\[1\]$",
        ),
        ({1: "x"}, TypeError, r"^payload must be JSON data \(object keys are str\), got key 1$"),
        (
            {"n": math.nan},
            ValueError,
            r"^payload must be JSON data \(finite numbers only\), got nan at payload\['n'\]$",
        ),
        (math.inf, ValueError, r"^payload must be JSON data \(finite numbers only\), got inf$"),
    ],
)
async def test_a_payload_that_is_not_json_is_refused_at_add(
    payload: Any, error: type[Exception], message: str
) -> None:
    store = MemoryJobStore()
    async with open_job_queue(registry(), store=store) as queue:
        with pytest.raises(error, match=message):
            await queue.add("echo", payload)
    assert await store.list() == []


async def test_a_result_that_is_not_json_fails_the_job_at_once(
    autojump_clock: trio.abc.Clock,
) -> None:
    tasks = TaskRegistry()

    @tasks.task("bad")
    async def bad(_: Any) -> object:
        await trio.lowlevel.checkpoint()
        return object

    retry_all = RetryPolicy(max_attempts=5, retry_on=Exception, initial_delay=0)
    async with open_job_queue(tasks, retry=retry_all) as queue:
        done = await queue.wait((await queue.add("bad")).id)
    assert done.status is JobStatus.FAILED
    assert done.attempts == 1
    assert done.error == "TypeError: result must be JSON data, got <class 'object'>"


# --- keys ---------------------------------------------------------------------------------


async def test_add_with_an_existing_key_returns_the_existing_job(
    autojump_clock: trio.abc.Clock,
) -> None:
    events = Recorder()
    async with open_event_bus() as bus:
        bus.on(JobQueued, events)
        async with open_job_queue(registry(), bus=bus) as queue:
            first = await queue.add("echo", {"n": 1}, key="order-7")
            again = await queue.add("echo", {"n": 2}, key="order-7")
            assert again.id == first.id
            assert again.payload == {"n": 1}
            done = await queue.wait(first.id)
            after = await queue.add("echo", {"n": 3}, key="order-7")  # finished: still the same job
            assert after == done
            other = await queue.add("echo", {"n": 4}, key="order-8")
            assert other.id != first.id
            assert queue.stats.added == 2
    assert [e.job_id for e in events.of(JobQueued)] == [first.id, other.id]


# --- retries ------------------------------------------------------------------------------


async def test_transient_errors_are_retried_on_the_policys_schedule(
    autojump_clock: trio.abc.Clock,
) -> None:
    log: list[Any] = []
    events = Recorder()
    async with open_event_bus() as bus:
        bus.on(JobEvent, events)
        async with open_job_queue(registry(log), retry=NO_JITTER, bus=bus) as queue:
            job = await queue.add("boom", {"kind": "transient"})
            with capture_logs() as logs:
                done = await queue.wait(job.id)
    # attempt 1 at 0 (fails at 1), backoff 1 -> attempt 2 at 2 (fails at 3), backoff 2 -> 5.
    assert [t for t, _ in log] == [0.0, 2.0, 5.0]
    assert done.status is JobStatus.FAILED
    assert (done.attempts, done.error) == (3, "TransientError: boom")
    assert [(e.attempt, e.delay) for e in events.of(JobRetrying)] == [(1, 1.0), (2, 2.0)]
    assert events.of(JobFailed) == [JobFailed(job.id, "boom", 3, "TransientError: boom")]
    assert [type(e).__name__ for e in events.events] == [
        "JobQueued",
        "JobStarted",
        "JobRetrying",
        "JobStarted",
        "JobRetrying",
        "JobStarted",
        "JobFailed",
    ]
    assert [e["event"] for e in logs] == ["trio_orch.jobs.failed"]
    assert logs[0]["attempt"] == 3


async def test_a_permanent_error_fails_the_job_at_once(autojump_clock: trio.abc.Clock) -> None:
    async with open_job_queue(registry(), retry=NO_JITTER) as queue:
        for kind in ("permanent", "value"):
            done = await queue.wait((await queue.add("boom", {"kind": kind, "msg": "no"})).id)
            assert done.status is JobStatus.FAILED
            assert done.attempts == 1
        assert queue.stats.failed == 2
        assert queue.stats.retried == 0


async def test_per_job_max_attempts_overrides_the_policys(autojump_clock: trio.abc.Clock) -> None:
    log: list[Any] = []
    async with open_job_queue(registry(log), retry=NO_JITTER) as queue:
        once = await queue.add("boom", {"kind": "transient"}, max_attempts=1)
        assert once.max_attempts == 1
        assert (await queue.wait(once.id)).attempts == 1
        five = await queue.add("boom", {"kind": "transient"}, max_attempts=5)
        done = await queue.wait(five.id)
    assert done.attempts == 5
    assert len(log) == 6


async def test_retry_queues_a_failed_job_again_with_a_fresh_budget(
    autojump_clock: trio.abc.Clock,
) -> None:
    events = Recorder()
    async with open_event_bus() as bus:
        bus.on(JobQueued, events)
        async with open_job_queue(registry(), retry=NO_JITTER) as queue:
            job = await queue.add("boom", {"kind": "permanent"}, key="k")
            failed = await queue.wait(job.id)
            again = await queue.retry(job.id)
            assert again.status is JobStatus.QUEUED
            assert (again.attempts, again.error, again.run_at) == (0, None, None)
            assert (await queue.wait(job.id)).attempts == 1
            assert failed.status is JobStatus.FAILED
            with pytest.raises(JobNotFound, match=r"^no job with id 'nope'$") as info:
                await queue.retry("nope")
            assert info.value.job_id == "nope"


@pytest.mark.parametrize("state", ["queued", "running", "succeeded"])
async def test_retry_refuses_a_job_that_did_not_fail(
    state: str, autojump_clock: trio.abc.Clock
) -> None:
    async with open_job_queue(registry(), concurrency=1) as queue:
        await queue.add("sleep", {"s": 5})
        job = await queue.add("sleep", {"s": 5})
        if state == "running":
            await queue.cancel((await queue.jobs())[0].id)
            await trio.testing.wait_all_tasks_blocked()
        elif state == "succeeded":
            await queue.wait(job.id)
        status = (await queue.status(job.id)).status.name
        assert status == state.upper()
        with pytest.raises(
            JobStateError,
            match=rf"^cannot retry job '{job.id}': it is {status} \(only a FAILED or CANCELLED job can be retried\)$",
        ) as info:
            await queue.retry(job.id)
        assert (info.value.job_id, info.value.status, info.value.operation) == (
            job.id,
            status,
            "retry",
        )
        assert isinstance(info.value, OrchError)


# --- cancel -------------------------------------------------------------------------------


async def test_cancel_a_queued_job_it_never_runs(autojump_clock: trio.abc.Clock) -> None:
    log: list[Any] = []
    events = Recorder()
    async with open_event_bus() as bus:
        bus.on(JobCancelled, events)
        async with open_job_queue(registry(log), bus=bus) as queue:
            job = await queue.add("echo", "x", run_at=5.0)
            cancelled = await queue.cancel(job.id)
            assert cancelled.status is JobStatus.CANCELLED
            assert await queue.wait(job.id) == cancelled
            await trio.sleep(10)
    assert log == []
    assert events.events == [JobCancelled(job.id, "echo", False)]


async def test_cancel_a_running_job_cancels_its_task_and_never_retries(
    autojump_clock: trio.abc.Clock,
) -> None:
    seen: list[str] = []
    tasks = TaskRegistry()

    @tasks.task("long")
    async def long(_: Any) -> None:
        try:
            await trio.sleep(100)
        except trio.Cancelled:
            seen.append(f"cancelled at {trio.current_time()}")
            raise

    events = Recorder()
    async with open_event_bus() as bus:
        bus.on(JobEvent, events)
        async with open_job_queue(
            tasks, bus=bus, retry=RetryPolicy(retry_on=BaseException)
        ) as queue:
            job = await queue.add("long")
            await trio.sleep(3)
            cancelled = await queue.cancel(job.id)
            assert cancelled.status is JobStatus.CANCELLED
            await trio.testing.wait_all_tasks_blocked()
            assert queue.stats.running == 0
            assert await queue.cancel(job.id) == cancelled  # finished: nothing changes
            await trio.sleep(50)
            assert (await queue.status(job.id)).status is JobStatus.CANCELLED
            assert queue.stats.cancelled == 1
    assert seen == ["cancelled at 3.0"]
    assert [type(e).__name__ for e in events.events] == ["JobQueued", "JobStarted", "JobCancelled"]
    assert events.of(JobCancelled) == [JobCancelled(job.id, "long", True)]


async def test_cancel_a_finished_job_changes_nothing(autojump_clock: trio.abc.Clock) -> None:
    async with open_job_queue(registry()) as queue:
        done = await queue.wait((await queue.add("echo", 1)).id)
        assert await queue.cancel(done.id) == done
        assert queue.stats.cancelled == 0


async def test_unknown_ids_raise_job_not_found(autojump_clock: trio.abc.Clock) -> None:
    async with open_job_queue(registry()) as queue:
        for call in (queue.status, queue.cancel, queue.wait, queue.retry):
            with pytest.raises(JobNotFound, match=r"^no job with id 'x'$"):
                await call("x")
        with pytest.raises(LookupError):
            await queue.status("y")


# --- shutdown -----------------------------------------------------------------------------


async def test_shutdown_waits_grace_then_requeues_with_the_attempt_counted(
    autojump_clock: trio.abc.Clock,
) -> None:
    store = MemoryJobStore()
    events = Recorder()
    log: list[Any] = []
    async with open_event_bus() as bus:
        bus.on(JobRequeued, events)
        async with open_job_queue(registry(log), store=store, grace=10.0, bus=bus) as queue:
            quick = await queue.add("sleep", {"s": 4})
            slow = await queue.add("sleep", {"s": 20})
            waiting = await queue.add("echo", "later", run_at=50.0)
            await trio.sleep(1)  # both have started
        assert trio.current_time() == 11.0
        assert queue.stats.requeued == 1
    assert (await store.get(quick.id)).status is JobStatus.SUCCEEDED
    interrupted = await store.get(slow.id)
    assert (interrupted.status, interrupted.attempts, interrupted.worker) == (
        JobStatus.QUEUED,
        1,
        None,
    )
    assert (await store.get(waiting.id)).status is JobStatus.QUEUED
    assert events.events == [JobRequeued(slow.id, "sleep", 1, "shutdown")]
    # A queue opened again on the store picks the jobs up: the attempt was counted.
    async with open_job_queue(registry(log), store=store) as queue:
        again = await queue.wait(slow.id)
        assert (again.status, again.attempts) == (JobStatus.SUCCEEDED, 2)
        assert (await queue.wait(waiting.id)).status is JobStatus.SUCCEEDED


async def test_the_block_end_stops_claiming_queued_jobs_stay(
    autojump_clock: trio.abc.Clock,
) -> None:
    store = MemoryJobStore()
    async with open_job_queue(registry(), store=store, concurrency=1) as queue:
        first = await queue.add("sleep", {"s": 3})
        second = await queue.add("sleep", {"s": 3})
        await trio.sleep(1)
    assert trio.current_time() == 3.0
    assert (await store.get(first.id)).status is JobStatus.SUCCEEDED
    assert (await store.get(second.id)).status is JobStatus.QUEUED
    assert (await store.get(second.id)).attempts == 0


async def test_grace_zero_aborts_at_once(autojump_clock: trio.abc.Clock) -> None:
    store = MemoryJobStore()
    async with open_job_queue(registry(), store=store, grace=0) as queue:
        job = await queue.add("sleep", {"s": 5})
        await trio.sleep(1)
    assert trio.current_time() == 1.0
    assert (await store.get(job.id)).status is JobStatus.QUEUED


async def test_a_raising_block_aborts_and_requeues(autojump_clock: trio.abc.Clock) -> None:
    store = MemoryJobStore()
    job_ids: list[str] = []

    async def body() -> None:
        async with open_job_queue(registry(), store=store, grace=100) as queue:
            job_ids.append((await queue.add("sleep", {"s": 5})).id)
            await trio.sleep(1)
            raise KeyError("mine")

    with pytest.raises(KeyError, match="mine"):
        await body()
    (job_id,) = job_ids
    assert trio.current_time() == 1.0
    assert (await store.get(job_id)).status is JobStatus.QUEUED
    assert (await store.get(job_id)).attempts == 1


async def test_cancelling_the_block_requeues_running_jobs(autojump_clock: trio.abc.Clock) -> None:
    store = MemoryJobStore()
    with trio.move_on_after(2):
        async with open_job_queue(registry(), store=store, grace=100) as queue:
            job = await queue.add("sleep", {"s": 5})
            await trio.sleep_forever()
    assert trio.current_time() == 2.0
    assert (await store.get(job.id)).status is JobStatus.QUEUED
    assert queue.stats.requeued == 1


async def test_a_closed_queue_refuses_new_work(autojump_clock: trio.abc.Clock) -> None:
    async with open_job_queue(registry()) as queue:
        job = await queue.add("echo", 1)
        await queue.wait_idle()
    calls: list[tuple[Any, tuple[Any, ...]]] = [
        (queue.add, ("echo", 1)),
        (queue.retry, (job.id,)),
        (queue.wait, (job.id,)),
    ]
    for call, args in calls:
        with pytest.raises(
            trio.ClosedResourceError,
            match=r"^cannot \w+: the job queue's async with block has ended$",
        ):
            await call(*args)
    with pytest.raises(trio.ClosedResourceError):
        await queue.wait_idle()
    assert (await queue.status(job.id)).status is JobStatus.SUCCEEDED  # reading still works


# --- leases and other workers --------------------------------------------------------------


async def test_a_job_cancelled_in_the_store_stops_at_the_next_heartbeat(
    autojump_clock: trio.abc.Clock,
) -> None:
    store = MemoryJobStore()
    with capture_logs() as logs:
        async with open_job_queue(registry(), store=store, lease=30, heartbeat=10) as queue:
            job = await queue.add("sleep", {"s": 100})
            await trio.sleep(1)
            await store.cancel(job.id, trio.current_time())  # as `trio-orch jobs cancel` would
            await trio.testing.wait_all_tasks_blocked()
            assert queue.stats.running == 1
            await trio.sleep(10)
            assert queue.stats.running == 0
            assert queue.stats.lost == 1
    assert trio.current_time() == 11.0
    assert (await store.get(job.id)).status is JobStatus.CANCELLED
    assert [e["event"] for e in logs] == ["trio_orch.jobs.lease_lost"]


async def test_an_expired_lease_returns_the_job_to_the_queue(
    autojump_clock: trio.abc.Clock,
) -> None:
    store = MemoryJobStore()
    events = Recorder()
    async with open_event_bus() as bus:
        bus.on(JobEvent, events)
        async with open_job_queue(registry(), store=store, lease=6, heartbeat=2, bus=bus) as queue:
            job = await queue.add("echo", "x", run_at=1000.0)
            # A worker elsewhere claims it, then dies: its lease (5 s) is never renewed.
            (claimed,) = await store.claim("dead-worker", 1, 5.0, 1000.0)
            assert claimed.lease_expires == 1005.0
            await trio.sleep_until(1000.0)
            done = await queue.wait(job.id)
    assert done.status is JobStatus.SUCCEEDED
    assert done.attempts == 2
    requeued = events.of(JobRequeued)
    assert requeued == [JobRequeued(job.id, "echo", 1, "lease_expired")]
    assert done.updated_at == 1006.0  # the first heartbeat after 1005


async def test_the_heartbeat_renews_leases_of_long_jobs(autojump_clock: trio.abc.Clock) -> None:
    store = MemoryJobStore()
    async with open_job_queue(registry(), store=store, lease=3, heartbeat=1) as queue:
        job = await queue.add("sleep", {"s": 10})
        await trio.sleep(8.5)
        running = await queue.status(job.id)
        assert running.status is JobStatus.RUNNING
        assert running.lease_expires == 11.0
        assert running.worker == queue.worker_id
        done = await queue.wait(job.id)
    assert done.attempts == 1
    assert queue.stats.requeued == 0


async def test_an_unknown_task_in_the_store_fails_the_job(autojump_clock: trio.abc.Clock) -> None:
    store = MemoryJobStore()
    other = TaskRegistry()

    @other.task("elsewhere")
    async def elsewhere(_: Any) -> None:
        await trio.lowlevel.checkpoint()

    async with open_job_queue(other, store=store, grace=0) as producer:
        job = await producer.add("elsewhere", run_at=1.0)
    async with open_job_queue(registry(), store=store) as queue:
        done = await queue.wait(job.id)
    assert done.status is JobStatus.FAILED
    assert done.error == "LookupError: no task named 'elsewhere' in this worker's TaskRegistry"


async def test_a_store_on_its_own_clock_keeps_wall_times(autojump_clock: trio.abc.Clock) -> None:
    store = WallClockStore()
    log: list[Any] = []
    async with open_job_queue(registry(log), store=store) as queue:
        await trio.sleep(2)
        job = await queue.add("echo", "x", run_at=5.0)
        assert (job.run_at, job.created_at) == (5.0, 2.0)
        stored = await store.get(job.id)
        assert (stored.run_at, stored.created_at) == (5.0 + WALL_OFFSET, 2.0 + WALL_OFFSET)
        done = await queue.wait(job.id)
        assert (done.updated_at, done.run_at) == (5.0, 5.0)
        assert [j.created_at for j in await queue.jobs()] == [2.0]
    assert log == [(5.0, "x")]


# --- callbacks, events, stats --------------------------------------------------------------


async def test_callbacks_get_the_snapshot_sync_or_async(autojump_clock: trio.abc.Clock) -> None:
    got: list[tuple[str, Job]] = []

    def completed(job: Job) -> None:
        got.append(("complete", job))

    async def errored(job: Job) -> None:
        await trio.sleep(1)
        got.append(("error", job))

    async with open_job_queue(
        registry(), on_complete=completed, on_error=errored, retry=NO_JITTER
    ) as queue:
        ok = await queue.wait((await queue.add("echo", 1)).id)
        bad = await queue.add("boom", {"kind": "value"})
        await queue.wait_idle()
    assert got[0] == ("complete", ok)
    assert got[1][0] == "error"
    assert got[1][1].id == bad.id
    assert got[1][1].status is JobStatus.FAILED


async def test_a_failing_callback_is_logged_and_the_queue_goes_on(
    autojump_clock: trio.abc.Clock,
) -> None:
    def broken(job: Job) -> None:
        raise RuntimeError("callback bug")

    with capture_logs() as logs:
        async with open_job_queue(registry(), on_complete=broken) as queue:
            first = await queue.wait((await queue.add("echo", 1)).id)
            second = await queue.wait((await queue.add("echo", 2)).id)
    assert first.status is second.status is JobStatus.SUCCEEDED
    assert [e["event"] for e in logs] == ["trio_orch.jobs.callback_failed"] * 2
    assert logs[0]["error"] == "RuntimeError('callback bug')"


async def test_events_of_a_job_that_succeeds(autojump_clock: trio.abc.Clock) -> None:
    events = Recorder()
    async with open_event_bus() as bus:
        bus.on(Event, events)
        async with open_job_queue(registry(), bus=bus) as queue:
            job = await queue.add("sleep", {"s": 1.5}, priority=3, run_at=1.0)
            await queue.wait(job.id)
    assert events.events == [
        JobQueued(job.id, "sleep", 3, 1.0),
        JobStarted(job.id, "sleep", 1),
        JobSucceeded(job.id, "sleep", 1, 1.5),
    ]


async def test_a_closed_bus_drops_events_with_a_warning(autojump_clock: trio.abc.Clock) -> None:
    async with open_event_bus() as bus:
        pass
    with capture_logs() as logs:
        async with open_job_queue(registry(), bus=bus) as queue:
            await queue.wait((await queue.add("echo", 1)).id)
    assert [e["event"] for e in logs] == ["trio_orch.jobs.event_dropped"] * 3


async def test_stats_is_a_frozen_snapshot(autojump_clock: trio.abc.Clock) -> None:
    async with open_job_queue(registry(), concurrency=4) as queue:
        before = queue.stats
        await queue.add("sleep", {"s": 1})
        await trio.testing.wait_all_tasks_blocked()
        assert queue.stats.running == 1
        assert before.running == 0
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            before.running = 3  # type: ignore[misc]


# --- checkpoints and cancellation -----------------------------------------------------------


async def test_every_public_call_checkpoints(autojump_clock: trio.abc.Clock) -> None:
    async with open_job_queue(registry()) as queue:
        with trio.testing.assert_checkpoints():
            job = await queue.add("echo", 1)
        with trio.testing.assert_checkpoints():
            await queue.status(job.id)
        with trio.testing.assert_checkpoints():
            await queue.jobs()
        with trio.testing.assert_checkpoints():
            await queue.wait(job.id)
        with trio.testing.assert_checkpoints():
            await queue.cancel(job.id)
        with trio.testing.assert_checkpoints():
            await queue.wait_idle()


async def test_a_cancelled_add_stores_nothing(autojump_clock: trio.abc.Clock) -> None:
    store = MemoryJobStore()
    async with open_job_queue(registry(), store=store) as queue:
        with trio.CancelScope() as scope:
            scope.cancel()
            await queue.add("echo", 1)
        assert scope.cancelled_caught
        assert await store.list() == []
        assert queue.stats.added == 0


async def test_a_cancelled_wait_leaves_the_job_alone(autojump_clock: trio.abc.Clock) -> None:
    async with open_job_queue(registry()) as queue:
        job = await queue.add("sleep", {"s": 10})
        with trio.move_on_after(2):
            await queue.wait(job.id)
        assert (await queue.wait(job.id)).status is JobStatus.SUCCEEDED
        assert trio.current_time() == 10.0


# --- bad input ----------------------------------------------------------------------------


async def test_an_unknown_task_is_refused_naming_the_registered_ones() -> None:
    async with open_job_queue(registry()) as queue:
        with pytest.raises(
            ValueError,
            match=r"^task must be a registered task name, got 'resize' \(registered: 'boom', 'echo', 'sleep'\)$",
        ):
            await queue.add("resize", {})
    with pytest.raises(ValueError, match=r"\(registered: none\)$"):
        TaskRegistry().get("x")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"concurrency": -1}, ValueError, r"^concurrency must be >= 0, got -1$"),
        ({"concurrency": 2.5}, TypeError, r"^concurrency must be an int, got 2.5$"),
        ({"grace": -1}, ValueError, r"^grace must be >= 0, got -1$"),
        ({"lease": 0}, ValueError, r"^lease must be finite and > 0, got 0$"),
        ({"heartbeat": -2}, ValueError, r"^heartbeat must be finite and > 0, got -2$"),
        ({"poll_interval": 0}, ValueError, r"^poll_interval must be finite and > 0, got 0$"),
        ({"retry": 3}, TypeError, r"^retry must be a RetryPolicy or None, got 3$"),
        ({"bus": "bus"}, TypeError, r"^bus must be an EventBus or None, got 'bus'$"),
        ({"on_complete": 1}, TypeError, r"^on_complete must be callable or None, got 1$"),
        ({"on_error": 1}, TypeError, r"^on_error must be callable or None, got 1$"),
        ({"store": 1}, TypeError, r"^store must be a JobStore, a store URL or None, got 1$"),
        (
            {"store": "redis://x"},
            ValueError,
            r"^store must be a JobStore or a store URL \(.*memory://.*\), got 'redis://x'$",
        ),
        ({"worker_id": ""}, ValueError, r"^worker_id must not be empty, got ''$"),
    ],
)
async def test_bad_queue_options_are_refused(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        async with open_job_queue(registry(), **kwargs):
            pass  # pragma: no cover


async def test_tasks_must_be_a_registry() -> None:
    with pytest.raises(TypeError, match=r"^tasks must be a TaskRegistry, got \{\}$"):
        async with open_job_queue({}):  # type: ignore[arg-type]
            pass  # pragma: no cover


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"max_attempts": 0}, ValueError, r"^max_attempts must be >= 1, got 0$"),
        ({"key": ""}, ValueError, r"^key must not be empty, got ''$"),
        ({"key": 5}, TypeError, r"^key must be a str, got 5$"),
        ({"run_at": math.nan}, ValueError, r"^run_at must be finite, got nan$"),
        ({"run_at": "soon"}, TypeError, r"^run_at must be a number or None, got 'soon'$"),
        ({"priority": True}, TypeError, r"^priority must be an int, got True$"),
    ],
)
async def test_bad_add_arguments_are_refused(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    async with open_job_queue(registry()) as queue:
        with pytest.raises(error, match=message):
            await queue.add("echo", 1, **kwargs)
        with pytest.raises(TypeError, match=r"^status must be a JobStatus or None, got 'x'$"):
            await queue.jobs("x")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"^limit must be >= 0, got -1$"):
            await queue.jobs(limit=-1)


def test_task_registry() -> None:
    tasks = TaskRegistry()

    @tasks.task("a")
    async def a(payload: Any) -> Any:
        return payload  # pragma: no cover

    assert "a" in tasks
    assert len(tasks) == 1
    assert tasks.names() == ("a",)
    assert tasks.get("a") is a
    assert repr(tasks) == "<TaskRegistry ['a']>"
    with pytest.raises(ValueError, match=r"^name must be unique, got 'a' \(already registered\)$"):
        tasks.register("a", a)
    with pytest.raises(TypeError, match=r"^fn must be an async function, got <function"):
        tasks.register("b", lambda p: p)
    with pytest.raises(TypeError, match=r"^fn must be callable, got 3$"):
        tasks.register("b", 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^name must not be empty, got ''$"):
        tasks.task("")

    class Handler:
        async def __call__(self, payload: Any) -> Any:
            return payload  # pragma: no cover

    tasks.register("handler", Handler())
    import functools

    tasks.register("partial", functools.partial(a))
    assert tasks.names() == ("a", "handler", "partial")


def test_store_urls() -> None:
    assert isinstance(store_from_url("memory://"), MemoryJobStore)
    with pytest.raises(
        ValueError,
        match=r"^store must be a JobStore or a store URL \(.*memory://.*\), got 'memory'$",
    ):
        store_from_url("memory")


# --- a store that is down or slow ---------------------------------------------------------


async def test_a_failing_claim_is_logged_and_tried_again(autojump_clock: trio.abc.Clock) -> None:
    store = ForwardingStore()
    with capture_logs() as logs:
        async with open_job_queue(registry(), store=store, poll_interval=2.0) as queue:
            await trio.testing.wait_all_tasks_blocked()
            store.faults["claim"] = OSError("db down")
            job = await queue.add("echo", 1)
            done = await queue.wait(job.id)
    assert done.status is JobStatus.SUCCEEDED
    assert done.updated_at == 2.0  # the next poll
    assert logs[0]["event"] == "trio_orch.jobs.store_failed"
    assert (logs[0]["call"], logs[0]["error"]) == ("claim", "OSError('db down')")


async def test_a_failing_heartbeat_is_logged_and_tried_again(
    autojump_clock: trio.abc.Clock,
) -> None:
    store = ForwardingStore()
    store.faults["heartbeat"] = OSError("db down")
    with capture_logs() as logs:
        async with open_job_queue(registry(), store=store, lease=3, heartbeat=1) as queue:
            done = await queue.wait((await queue.add("sleep", {"s": 2.5})).id)
    assert (done.status, done.attempts) == (JobStatus.SUCCEEDED, 1)
    assert [(e["event"], e["call"]) for e in logs] == [("trio_orch.jobs.store_failed", "heartbeat")]


@pytest.mark.parametrize(
    ("fault", "error"), [(OSError("db down"), "OSError('db down')"), (None, "timeout")]
)
async def test_a_requeue_that_fails_is_logged_and_the_lease_recovers_the_job(
    fault: Exception | None, error: str, autojump_clock: trio.abc.Clock
) -> None:
    store = ForwardingStore()
    if fault is not None:
        store.faults["requeue"] = fault
    else:
        store.delays["requeue"] = 1000.0  # a store that hangs: the shielded requeue gives up
    with capture_logs() as logs:
        async with open_job_queue(registry(), store=store, grace=0, lease=10) as queue:
            job = await queue.add("sleep", {"s": 100})
            await trio.sleep(1)
    assert trio.current_time() == (1.0 if fault is not None else 6.0)
    stuck = await store.get(job.id)
    assert [(e["event"], e["call"], e["error"]) for e in logs] == [
        ("trio_orch.jobs.store_failed", "requeue", error)
    ]
    if fault is None:
        return  # the hung call did requeue it (then hung): nothing is stuck
    assert stuck.status is JobStatus.RUNNING  # until its lease ends: then any queue takes it back
    store.faults.clear()
    async with open_job_queue(registry(), store=store, lease=10, heartbeat=5) as queue:
        done = await queue.wait(job.id)
    assert (done.status, done.attempts) == (JobStatus.SUCCEEDED, 2)


async def test_jobs_claimed_during_shutdown_go_straight_back(
    autojump_clock: trio.abc.Clock,
) -> None:
    store = ForwardingStore()
    store.delays["claim"] = 2.0  # a slow claim: shutdown begins while it is under way
    log: list[Any] = []
    async with open_job_queue(registry(log), store=store, grace=0) as queue:
        job = await queue.add("echo", 1)
        await trio.sleep(1)
    assert trio.current_time() == 2.0
    back = await store.get(job.id)
    assert (back.status, back.attempts) == (JobStatus.QUEUED, 1)
    assert log == []  # never run
    assert queue.stats.requeued == 1


async def test_a_result_for_a_job_cancelled_meanwhile_is_dropped(
    autojump_clock: trio.abc.Clock,
) -> None:
    store = MemoryJobStore()
    async with open_job_queue(registry(), store=store, heartbeat=100, retry=NO_JITTER) as queue:
        ok = await queue.add("sleep", {"s": 3})
        transient = await queue.add("boom", {"kind": "transient"})
        permanent = await queue.add("boom", {"kind": "permanent"})
        await trio.sleep(0.5)
        for job in (ok, transient, permanent):  # elsewhere: this queue hears of it later
            await store.cancel(job.id, trio.current_time())
        await trio.sleep(5)
        assert queue.stats.succeeded == queue.stats.failed == queue.stats.retried == 0
    for job in (ok, transient, permanent):
        assert (await store.get(job.id)).status is JobStatus.CANCELLED


async def test_a_store_made_from_a_url_is_closed_with_the_queue(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with open_job_queue(registry(), store="memory://") as queue:
        assert isinstance(queue.store, MemoryJobStore)
        assert (await queue.wait((await queue.add("echo", 1)).id)).result == 1


async def test_retry_emits_job_queued(autojump_clock: trio.abc.Clock) -> None:
    events = Recorder()
    async with open_event_bus() as bus:
        bus.on(JobQueued, events)
        async with open_job_queue(registry(), bus=bus) as queue:
            job = await queue.add("echo", 1, run_at=5)
            await queue.cancel(job.id)
            await queue.retry(job.id)
            await queue.wait(job.id)
    assert events.events == [JobQueued(job.id, "echo", 0, 5.0), JobQueued(job.id, "echo", 0, None)]


async def test_subclasses_of_json_types_become_their_base_types(
    autojump_clock: trio.abc.Clock,
) -> None:
    import collections

    class Level(enum.IntEnum):
        HIGH = 3

    class Name(str):
        pass

    Pair = collections.namedtuple("Pair", "a b")  # noqa: PYI024 - a plain namedtuple on purpose
    payload = {
        "ordered": collections.OrderedDict(x=1),
        "level": Level.HIGH,
        "name": Name("n"),
        "pair": Pair(1, True),
        "floats": [1.5, -0.0],
    }
    async with open_job_queue(registry()) as queue:
        job = await queue.add("echo", payload)
    assert job.payload == {
        "ordered": {"x": 1},
        "level": 3,
        "name": "n",
        "pair": [1, True],
        "floats": [1.5, -0.0],
    }
    assert type(job.payload["ordered"]) is dict
    assert type(job.payload["level"]) is int
    assert type(job.payload["name"]) is str
    with pytest.raises(
        ValueError,
        match=r"^payload must be JSON data \(finite numbers only\), got -inf at payload\[0\]$",
    ):
        async with open_job_queue(registry()) as queue:
            await queue.add("echo", [-math.inf])


async def test_a_zero_backoff_retries_at_once(autojump_clock: trio.abc.Clock) -> None:
    log: list[Any] = []
    policy = RetryPolicy(max_attempts=3, initial_delay=0, jitter=Jitter.NONE)
    async with open_job_queue(registry(log), retry=policy) as queue:
        done = await queue.wait((await queue.add("boom", {"kind": "transient"})).id)
    assert [t for t, _ in log] == [0.0, 1.0, 2.0]
    assert done.attempts == 3


async def test_a_failing_next_due_is_logged(autojump_clock: trio.abc.Clock) -> None:
    store = ForwardingStore()
    store.faults["next_due"] = OSError("db down")
    with capture_logs() as logs:
        async with open_job_queue(registry(), store=store) as queue:
            done = await queue.wait((await queue.add("echo", 1, run_at=3.0)).id)
    assert done.updated_at == 3.0
    assert [(e["event"], e["call"]) for e in logs] == [("trio_orch.jobs.store_failed", "next_due")]


async def test_a_job_cancelled_elsewhere_is_not_requeued_at_shutdown(
    autojump_clock: trio.abc.Clock,
) -> None:
    store = MemoryJobStore()
    async with open_job_queue(registry(), store=store, grace=0, heartbeat=100) as queue:
        job = await queue.add("sleep", {"s": 10})
        await trio.sleep(1)
        await store.cancel(job.id, trio.current_time())
    assert (await store.get(job.id)).status is JobStatus.CANCELLED
    assert queue.stats.requeued == 0


async def test_a_producer_only_queue_runs_nothing(autojump_clock: trio.abc.Clock) -> None:
    store = MemoryJobStore()
    log: list[Any] = []
    async with (
        open_job_queue(registry(log), store=store, concurrency=0, poll_interval=0.5) as producer,
        trio.open_nursery() as nursery,
    ):
        job = await producer.add("sleep", {"s": 2.25})
        await trio.sleep(5)
        assert (await producer.status(job.id)).status is JobStatus.QUEUED

        async def worker() -> None:
            async with open_job_queue(registry(log), store=store) as queue:
                await queue.wait_idle()

        nursery.start_soon(worker)
        done = await producer.wait(job.id)  # sees the other queue's work by polling
        assert trio.current_time() == 7.5  # done at 7.25, seen at the next poll
    assert done.status is JobStatus.SUCCEEDED
    assert producer.stats.started == 0
    assert len(log) == 1


async def test_jobs_claimed_for_idle_workers_go_back_when_the_block_is_cancelled(
    autojump_clock: trio.abc.Clock,
) -> None:
    store = ForwardingStore()
    log: list[Any] = []
    with trio.move_on_after(5):
        async with open_job_queue(registry(log), store=store, concurrency=3, grace=100) as queue:
            await trio.testing.wait_all_tasks_blocked()  # three idle workers
            store.delays["claim"] = 1.0  # the next claim takes all three, slowly
            for _ in range(3):
                await queue.add("sleep", {"s": 100}, run_at=2.0)
            await trio.sleep(2.5)  # claimed at 2, handed over at 3
            await trio.sleep_forever()
    assert trio.current_time() == 5.0
    jobs = await store.list()
    assert [(j.status, j.attempts) for j in jobs] == [(JobStatus.QUEUED, 1)] * 3


async def test_jobs_handed_to_idle_workers_go_back_unrun_on_a_cancel(
    autojump_clock: trio.abc.Clock,
) -> None:
    store = MemoryJobStore()
    log: list[Any] = []
    tasks = registry(log)
    scopes: list[trio.CancelScope] = []

    @tasks.task("cancel_all")
    async def cancel_all(_: Any) -> None:
        scopes[0].cancel()  # before the idle workers handed the other jobs got to run
        await trio.sleep(1)

    with trio.CancelScope() as scope:
        scopes.append(scope)
        async with open_job_queue(tasks, store=store, concurrency=3) as queue:
            await trio.testing.wait_all_tasks_blocked()  # three idle workers
            await queue.add("cancel_all", run_at=1.0, priority=1)
            await queue.add("sleep", {"s": 5}, run_at=1.0)
            await queue.add("sleep", {"s": 5}, run_at=1.0)
            await trio.sleep_forever()
    assert trio.current_time() == 1.0
    assert log == []  # the two sleep jobs never ran
    jobs = await store.list()
    assert [(j.status, j.attempts) for j in jobs] == [(JobStatus.QUEUED, 1)] * 3


async def test_a_cancelled_cancel_or_retry_changes_nothing(autojump_clock: trio.abc.Clock) -> None:
    store = MemoryJobStore()
    async with open_job_queue(registry(), store=store, retry=NO_JITTER) as queue:
        job = await queue.add("echo", 1, run_at=10.0)
        with trio.CancelScope() as scope:
            scope.cancel()
            await queue.cancel(job.id)
        assert (await store.get(job.id)).status is JobStatus.QUEUED
        failed = await queue.wait((await queue.add("boom", {"kind": "permanent"})).id)
        with trio.CancelScope() as scope:
            scope.cancel()
            await queue.retry(failed.id)
        assert (await store.get(failed.id)).status is JobStatus.FAILED
        assert queue.stats.cancelled == 0
        await queue.cancel(job.id)


# --- review: bounded exit, no leaked waiter entries ---------------------------------------


async def test_a_store_call_that_hangs_at_shutdown_is_cancelled_after_the_bound(
    autojump_clock: trio.abc.Clock,
) -> None:
    store = ForwardingStore()
    store.delays["claim"] = 1000.0  # the first claim (at once) never comes back in time
    nurseries = len(trio.lowlevel.current_task().child_nurseries)
    with capture_logs() as logs:
        async with open_job_queue(registry(), store=store, grace=0, concurrency=1) as queue:
            await trio.sleep(1)
            assert queue.stats.running == 0
    assert trio.current_time() == 6.0  # the block's end + the 5 s cleanup bound, not 1000
    assert [(e["event"], e["workers"]) for e in logs] == [("trio_orch.jobs.workers_cancelled", 1)]
    assert len(trio.lowlevel.current_task().child_nurseries) == nurseries


async def test_wait_leaves_no_entry_behind_however_it_ends(autojump_clock: trio.abc.Clock) -> None:
    store = MemoryJobStore()
    async with open_job_queue(registry(), store=store) as queue:
        done = await queue.add("echo", 1)
        await queue.wait(done.id)
        await queue.wait(done.id)  # already finished: returns at once
        slow = await queue.add("sleep", {"s": 5})
        with trio.move_on_after(0.5):  # a cancelled wait
            await queue.wait(slow.id)
        with pytest.raises(JobNotFound):
            await queue.wait("nope")
        elsewhere = await queue.add("echo", 2, run_at=100.0)
        await store.cancel(elsewhere.id, trio.current_time())  # finished by someone else
        await queue.wait(elsewhere.id)
        async with trio.open_nursery() as nursery:  # two waiters of one job: both woken
            for _ in range(2):
                nursery.start_soon(queue.wait, slow.id)
            await trio.testing.wait_all_tasks_blocked()
            assert list(queue._waiters) == [slow.id]
        assert trio.current_time() == 5.0  # woken by the finish, not the next poll
        assert queue._waiters == {}  # private: an entry per job ever waited for would leak


async def test_a_cancelled_job_whose_cleanup_raises_does_not_crash_the_queue(
    autojump_clock: trio.abc.Clock,
) -> None:
    tasks = registry()

    @tasks.task("grouped")
    async def grouped(payload: Any) -> None:
        await hang_then_fail_in_a_child()

    with capture_logs() as logs:
        async with open_job_queue(tasks) as queue:
            job = await queue.add("grouped")
            other = await queue.add("sleep", {"s": 5, "v": "ok"})
            await trio.sleep(1)
            await queue.cancel(job.id)  # its cancelled task raises a group: ValueError + Cancelled
            assert (await queue.wait(other.id)).result == "ok"  # the queue lives on
    assert (await queue.store.get(job.id)).status is JobStatus.CANCELLED
    assert [(e["event"], e["job_id"], e["reason"]) for e in logs] == [
        ("trio_orch.jobs.interrupted_attempt_failed", job.id, "cancelled")
    ]
    assert "ValueError('child cleanup failed')" in logs[0]["error"]


async def test_a_requeue_that_times_out_with_a_group_is_logged_not_raised(
    autojump_clock: trio.abc.Clock,
) -> None:
    class GroupedRequeue(ForwardingStore):
        async def requeue(self, job_id: str, worker_id: str, now: float) -> Job | None:
            await hang_then_fail_in_a_child()
            raise AssertionError  # pragma: no cover - never gets here

    store = GroupedRequeue()
    with capture_logs() as logs:
        async with open_job_queue(registry(), store=store, grace=0) as queue:
            job = await queue.add("sleep", {"s": 100})
            await trio.sleep(1)
    assert trio.current_time() == 6.0  # the shielded requeue's bound
    assert [(e["event"], e["call"], e["job_id"]) for e in logs] == [
        ("trio_orch.jobs.store_failed", "requeue", job.id)
    ]
    assert "ValueError('child cleanup failed')" in logs[0]["error"]
    assert queue.stats.requeued == 0


async def test_an_owned_store_whose_close_hangs_is_given_up_with_a_log(
    autojump_clock: trio.abc.Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trio_orch.engines import _store_url

    class BadClose(MemoryJobStore):
        def __init__(self, url: str) -> None:
            super().__init__()
            self.fails = url.startswith("failing")

        async def aclose(self) -> None:
            if self.fails:
                await trio.lowlevel.checkpoint()
                raise OSError("cannot close")
            await trio.sleep_forever()

    monkeypatch.setitem(_store_url._SCHEMES, "hung", BadClose)
    monkeypatch.setitem(_store_url._SCHEMES, "failing", BadClose)
    with capture_logs() as logs:
        async with open_job_queue(registry(), store="hung://") as queue:
            assert isinstance(queue.store, BadClose)
    assert trio.current_time() == 5.0  # the shielded close is bounded
    assert [(e["event"], e["call"], e["error"]) for e in logs] == [
        ("trio_orch.jobs.store_failed", "aclose", "timeout")
    ]
    with pytest.raises(OSError, match=r"^cannot close$"):  # raised as itself
        async with open_job_queue(registry(), store="failing://"):
            pass


@pytest.mark.parametrize(("call", "task"), [("complete", "echo"), ("fail", "boom")])
async def test_a_failing_store_call_at_an_attempts_end_is_logged_and_the_lease_recovers_it(
    call: str, task: str, autojump_clock: trio.abc.Clock
) -> None:
    store = ForwardingStore()
    store.faults[call] = OSError("db down")
    with capture_logs() as logs:
        async with open_job_queue(
            registry(), store=store, lease=3, heartbeat=1, retry=NO_JITTER
        ) as queue:
            job = await queue.add(task, {"kind": "permanent"})
            done = await queue.wait(job.id)  # the queue goes on; the lease brings the job back
    assert (done.status, done.attempts) == (
        (JobStatus.SUCCEEDED, 2) if task == "echo" else (JobStatus.FAILED, 2)
    )
    failed = [e for e in logs if e["event"] == "trio_orch.jobs.store_failed"]
    assert [(e["call"], e["job_id"], e["error"]) for e in failed] == [
        (call, job.id, "OSError('db down')")
    ]
    assert [e["reason"] for e in logs if e["event"] == "trio_orch.jobs.requeued"] == [
        "lease_expired"
    ]
