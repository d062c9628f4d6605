"""assert_type checks of the limiter, channel, store, workflow and WebSocket APIs.

NOT meant to be executed: ``make test`` runs ``mypy --strict tests/typing`` on it.
"""

from __future__ import annotations

from typing import assert_type

import attrs
import trio

from trio_orch import (
    AsyncOperation,
    ConcurrencyLimiter,
    ConnectionState,
    DropPolicy,
    EtaEstimator,
    Event,
    LimiterStats,
    ProgressSnapshot,
    ProgressStats,
    QueueStats,
    Store,
    Workflow,
    WorkflowPlan,
    WorkflowResult,
    WorkflowRun,
    format_eta,
    open_bounded_channel,
    open_event_bus,
    open_progress_tracker,
    open_ws_client,
)


async def download(name: str) -> bytes:
    return name.encode()


@attrs.frozen
class UserInput(Event):
    text: str


async def limiter_and_channels() -> None:
    limiter = ConcurrencyLimiter(max_concurrent=5, queue_limit=20)
    assert_type(await limiter.run(download, "file1.zip"), bytes)
    assert_type(limiter.stats, LimiterStats)
    send, receive = open_bounded_channel[int](max_size=10, drop=DropPolicy.OLDEST)
    send.send_nowait(1)
    assert_type(await receive.receive(), int)
    assert_type(send.stats, QueueStats)
    assert isinstance(send, trio.abc.SendChannel)


async def store_and_progress() -> None:
    store = Store(AsyncOperation[int].idle())
    assert_type(store.state, AsyncOperation[int])
    assert_type(EtaEstimator().update(0.5, at=1.0), ProgressSnapshot)
    snap = EtaEstimator().update(0.5, at=1.0)
    assert_type(snap.eta_low, float | None)
    assert_type(format_eta(snap), str)
    async with open_progress_tracker(run_sync=trio.to_thread.run_sync) as tracker:
        assert_type(tracker.stats, ProgressStats)


async def events_workflows_ws() -> None:
    async with open_event_bus() as bus:
        bus.emit(UserInput("hi"))
        await bus.publish(UserInput("hi"))
    wf = Workflow("wf")
    assert_type(await wf.run(), WorkflowResult)
    assert_type(wf.plan(["a"]), WorkflowPlan)
    async with trio.open_nursery() as nursery:
        run: WorkflowRun = await nursery.start(wf.run)
        assert_type(run.result, WorkflowResult | None)
        assert_type(await run.wait_finished(), WorkflowResult)
    async with open_ws_client("ws://127.0.0.1:8000/ws") as client:
        assert_type(client.state, ConnectionState)
    async with open_ws_client("ws://127.0.0.1:8000/ws", bus=bus, subprotocols=["chat"]) as ws:
        assert_type(ws.stats.possibly_lost, int)  # an EventBus is a valid bus=


async def backoff_stats_and_lazy_names() -> None:
    import random
    from collections.abc import Iterator

    import trio_orch

    backoff = trio_orch.Backoff(initial_delay=0.5, jitter=trio_orch.Jitter.NONE)
    assert_type(backoff.delay(1, previous=None, rng=random.Random(1)), float)
    assert_type(backoff.delays(), Iterator[float])
    assert_type(trio_orch.RetryPolicy().backoff, trio_orch.Backoff)
    store = Store(1)
    assert_type(store.stats, trio_orch.StoreStats)
    async with trio_orch.open_debouncer(print, 0.1) as debounced:
        assert_type(debounced.stats, trio_orch.DebouncerStats)
        assert_type(debounced.cancel(), int)
    async with trio_orch.open_throttler(print, per_second=10) as throttled:
        assert_type(throttled.stats, trio_orch.ThrottlerStats)
        assert_type(throttled.cancel(), int)
        assert_type(throttled.per_second, float)
    async with trio_orch.open_throttler(print, interval=0.1) as throttled:
        assert_type(throttled.interval, float)
    # The lazy names are seen by type checkers as the real ones.
    async with trio_orch.open_ws_client("ws://127.0.0.1:8000/ws") as lazy_client:
        assert_type(lazy_client, trio_orch.WebSocketClient)
        assert_type(lazy_client.stats, trio_orch.WebSocketClientStats)


async def durable_stores() -> None:
    import trio_orch

    sqlite = trio_orch.SqliteJobStore("jobs.db")
    assert_type(sqlite.path, str)
    assert_type(await sqlite.migrate(), list[int])
    postgres = trio_orch.PostgresJobStore("postgresql://app@db/jobs", schema="jobs")
    assert_type(postgres.url, str)
    assert_type(await postgres.claim("w", 10, 30.0, 0.0), list[trio_orch.Job])
    assert_type(trio_orch.job_store_from_url("sqlite:///jobs.db"), trio_orch.JobStore)
    run = await trio_orch.run_checkpointed(Workflow("w"), store="sqlite:///runs.db", run_id="r")
    assert_type(run, WorkflowResult)
