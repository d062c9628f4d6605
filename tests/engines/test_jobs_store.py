"""The JobStore contract (docs/jobs.md, "Writing a store"), checked for every store factory.

Times are opaque numbers here: each call gets ``now`` explicitly, as the queue passes it.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from tests.engines.job_stores import STORE_FACTORIES
from trio_orch import Job, JobNotFound, JobSpec, JobStateError, JobStatus, JobStore

pytestmark = pytest.mark.parametrize("make_store", STORE_FACTORIES)

W = "worker-a"


def spec(task: str = "t", payload: Any = None, **kw: Any) -> JobSpec:
    return JobSpec(task=task, payload=payload, **kw)


async def add(store: JobStore, now: float = 0.0, **kw: Any) -> Job:
    job, created = await store.add(spec(**kw), now)
    assert created
    return job


async def test_add_stores_a_queued_job(make_store: Any) -> None:
    store = make_store()
    job, created = await store.add(
        JobSpec(task="t", payload={"a": [1]}, key="k", priority=2, run_at=50.0, max_attempts=4),
        10.0,
    )
    assert created
    assert job.status is JobStatus.QUEUED
    assert (job.task, job.payload, job.key, job.priority, job.run_at, job.max_attempts) == (
        "t",
        {"a": [1]},
        "k",
        2,
        50.0,
        4,
    )
    assert (job.attempts, job.created_at, job.updated_at, job.worker) == (0, 10.0, 10.0, None)
    assert await store.get(job.id) == job
    same, created = await store.add(spec(payload="other", key="k"), 11.0)
    assert (same, created) == (job, False)
    assert await store.list() == [job]


async def test_ids_are_unique_and_list_keeps_add_order(make_store: Any) -> None:
    store = make_store()
    jobs = [await add(store, payload=i) for i in range(5)]
    assert len({j.id for j in jobs}) == 5
    assert [j.payload for j in await store.list()] == [0, 1, 2, 3, 4]
    assert [j.payload for j in await store.list(limit=2)] == [0, 1]
    assert await store.list(status=JobStatus.RUNNING) == []


async def test_claim_order_priority_then_ready_time_then_add_order(make_store: Any) -> None:
    store = make_store()
    await add(store, 0.0, payload="late-high", priority=5, run_at=20.0)
    await add(store, 1.0, payload="a")
    await add(store, 2.0, payload="high", priority=5)
    await add(store, 3.0, payload="b")
    await add(store, 4.0, payload="early", run_at=0.5)  # ready since 0.5: before a
    await add(store, 5.0, payload="low", priority=-1)
    claimed = await store.claim(W, 10, 30.0, 10.0)
    assert [j.payload for j in claimed] == ["high", "early", "a", "b", "low"]
    assert all(j.status is JobStatus.RUNNING for j in claimed)
    assert all(
        (j.attempts, j.worker, j.lease_expires, j.updated_at) == (1, W, 40.0, 10.0) for j in claimed
    )
    assert await store.next_due(10.0) == 20.0
    assert await store.claim(W, 10, 30.0, 19.0) == []
    (late,) = await store.claim(W, 10, 30.0, 20.0)
    assert late.payload == "late-high"
    assert await store.next_due(20.0) is None


async def test_claim_respects_limit_and_never_hands_a_job_out_twice(make_store: Any) -> None:
    store = make_store()
    for i in range(5):
        await add(store, payload=i)
    first = await store.claim("w1", 2, 10.0, 1.0)
    second = await store.claim("w2", 10, 10.0, 1.0)
    assert [j.payload for j in first] == [0, 1]
    assert [j.payload for j in second] == [2, 3, 4]
    assert await store.claim("w3", 10, 10.0, 1.0) == []


async def test_heartbeat_extends_only_the_workers_own_leases(make_store: Any) -> None:
    store = make_store()
    a = await add(store)
    b = await add(store)
    await store.claim("w1", 1, 10.0, 0.0)
    await store.claim("w2", 1, 10.0, 0.0)
    held = await store.heartbeat("w1", [a.id, b.id, "missing"], 10.0, 5.0)
    assert held == [a.id]
    assert (await store.get(a.id)).lease_expires == 15.0
    assert (await store.get(b.id)).lease_expires == 10.0


async def test_complete_and_fail_need_the_lease(make_store: Any) -> None:
    store = make_store()
    job = await add(store)
    await store.claim(W, 1, 10.0, 0.0)
    assert await store.complete(job.id, "intruder", 1, 1.0) is None
    assert await store.fail(job.id, "intruder", "E: x", None, 1.0) is None
    assert await store.requeue(job.id, "intruder", 1.0) is None
    done = await store.complete(job.id, W, {"ok": True}, 2.0)
    assert done is not None
    assert (done.status, done.result, done.updated_at, done.worker, done.lease_expires) == (
        JobStatus.SUCCEEDED,
        {"ok": True},
        2.0,
        None,
        None,
    )
    assert await store.complete(job.id, W, 2, 3.0) is None  # only once
    assert await store.complete("missing", W, 2, 3.0) is None


async def test_fail_with_retry_at_queues_the_job_for_later(make_store: Any) -> None:
    store = make_store()
    job = await add(store, max_attempts=3)
    await store.claim(W, 1, 10.0, 0.0)
    back = await store.fail(job.id, W, "TransientError: x", 7.0, 1.0)
    assert back is not None
    assert (back.status, back.run_at, back.error, back.attempts) == (
        JobStatus.QUEUED,
        7.0,
        "TransientError: x",
        1,
    )
    assert await store.next_due(1.0) == 7.0
    assert await store.claim(W, 1, 10.0, 6.9) == []
    (again,) = await store.claim(W, 1, 10.0, 7.0)
    assert again.attempts == 2
    failed = await store.fail(job.id, W, "ValueError: y", None, 8.0)
    assert failed is not None
    assert (failed.status, failed.error, failed.attempts) == (JobStatus.FAILED, "ValueError: y", 2)


async def test_requeue_and_requeue_expired_count_the_attempt(make_store: Any) -> None:
    store = make_store()
    a = await add(store, payload="a")
    b = await add(store, payload="b")
    await store.claim(W, 2, 5.0, 0.0)
    back = await store.requeue(a.id, W, 1.0)
    assert back is not None
    assert (back.status, back.attempts, back.worker, back.run_at) == (
        JobStatus.QUEUED,
        1,
        None,
        None,
    )
    assert await store.requeue_expired(5.0) == []  # b's lease ends at 5: not before
    (expired,) = await store.requeue_expired(5.5)
    assert (expired.id, expired.status, expired.attempts) == (b.id, JobStatus.QUEUED, 1)
    claimed = await store.claim(W, 2, 5.0, 6.0)
    assert sorted(j.attempts for j in claimed) == [2, 2]


async def test_cancel(make_store: Any) -> None:
    store = make_store()
    queued = await add(store)
    running = await add(store)
    await store.claim(W, 1, 10.0, 0.0)  # takes `queued` (added first)
    job, previous = await store.cancel(queued.id, 1.0)
    assert (job.status, previous, job.worker) == (JobStatus.CANCELLED, JobStatus.RUNNING, None)
    assert await store.heartbeat(W, [queued.id], 10.0, 2.0) == []
    assert await store.complete(queued.id, W, 1, 2.0) is None
    job, previous = await store.cancel(running.id, 2.0)
    assert (job.status, previous) == (JobStatus.CANCELLED, JobStatus.QUEUED)
    assert await store.claim(W, 5, 10.0, 3.0) == []
    job, previous = await store.cancel(running.id, 4.0)  # already ended: unchanged
    assert (job.status, previous, job.updated_at) == (JobStatus.CANCELLED, JobStatus.CANCELLED, 2.0)
    with pytest.raises(JobNotFound):
        await store.cancel("missing", 1.0)


async def test_retry(make_store: Any) -> None:
    store = make_store()
    job = await add(store)
    with pytest.raises(JobStateError):
        await store.retry(job.id, 1.0)
    await store.claim(W, 1, 10.0, 0.0)
    with pytest.raises(JobStateError):
        await store.retry(job.id, 1.0)
    await store.fail(job.id, W, "E: x", None, 1.0)
    again = await store.retry(job.id, 2.0)
    assert (
        again.status,
        again.attempts,
        again.error,
        again.result,
        again.run_at,
        again.updated_at,
    ) == (
        JobStatus.QUEUED,
        0,
        None,
        None,
        None,
        2.0,
    )
    (claimed,) = await store.claim(W, 1, 10.0, 3.0)
    await store.complete(claimed.id, W, 5, 4.0)
    with pytest.raises(JobStateError):
        await store.retry(job.id, 5.0)
    cancelled = await add(store)
    await store.cancel(cancelled.id, 6.0)
    assert (await store.retry(cancelled.id, 7.0)).status is JobStatus.QUEUED
    with pytest.raises(JobNotFound):
        await store.retry("missing", 1.0)


async def test_snapshots_share_nothing_with_the_store(make_store: Any) -> None:
    store = make_store()
    job = await add(store, payload={"a": [1]})
    job.payload["a"].append(2)
    (claimed,) = await store.claim(W, 1, 10.0, 0.0)
    assert claimed.payload == {"a": [1]}
    claimed.payload["a"].append(3)
    done = await store.complete(job.id, W, {"r": [1]}, 1.0)
    assert done is not None
    done.result["r"].append(2)
    assert (await store.get(job.id)).payload == {"a": [1]}
    assert (await store.get(job.id)).result == {"r": [1]}
    with pytest.raises(JobNotFound):
        await store.get("missing")


async def test_every_call_checkpoints_and_a_cancelled_call_changes_nothing(
    make_store: Any,
) -> None:
    store = make_store()
    with trio.testing.assert_checkpoints():
        job = await add(store)
    with trio.CancelScope() as scope:
        scope.cancel()
        await store.claim(W, 1, 10.0, 0.0)
    assert (await store.get(job.id)).status is JobStatus.QUEUED
    for call in (
        store.list(),
        store.get(job.id),
        store.next_due(0.0),
        store.requeue_expired(0.0),
        store.heartbeat(W, [job.id], 1.0, 0.0),
        store.aclose(),
    ):
        with trio.testing.assert_checkpoints():
            await call
