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
    QueueStats,
    Store,
    Workflow,
    WorkflowResult,
    open_bounded_channel,
    open_event_bus,
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


async def events_workflows_ws() -> None:
    async with open_event_bus() as bus:
        bus.emit(UserInput("hi"))
        await bus.publish(UserInput("hi"))
    wf = Workflow("wf")
    assert_type(await wf.run(), WorkflowResult)
    async with open_ws_client("ws://127.0.0.1:8000/ws") as client:
        assert_type(client.state, ConnectionState)
