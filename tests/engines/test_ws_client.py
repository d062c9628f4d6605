"""The WebSocket client end to end, against a real trio-websocket server on 127.0.0.1.

These tests use the real clock (sockets and a mock clock do not mix reliably), with tiny
backoff delays and no timing assertions; exact times are in ``test_ws_memory.py``.  Every
wait is bounded by ``trio.fail_after`` so that a bug fails fast instead of hanging.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from typing import TYPE_CHECKING

import attrs
import cattrs
import pytest
import trio
import trio.testing
from structlog.testing import capture_logs

from trio_orch import (
    ConnectionFailed,
    ConnectionLost,
    ConnectionState,
    ConnectionStateChanged,
    Envelope,
    Event,
    FatalCloseCode,
    HandshakeRejected,
    Jitter,
    MessagesPossiblyLost,
    ReconnectPolicy,
    WebSocketEvent,
    open_event_bus,
    open_ws_client,
)
from trio_orch.testing import WebSocketTestServer, open_ws_test_server

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

FAST = ReconnectPolicy(
    max_attempts=None, initial_delay=0.001, max_delay=0.01, jitter=Jitter.NONE, healthy_after=60
)
LIMIT = 5.0  # seconds any single test step may take before it counts as hung


@attrs.frozen
class Hello:
    client_info: str
    version: int = 1


@dataclasses.dataclass(frozen=True)
class Welcome:
    session: str
    features: list[str]


@pytest.fixture
async def server() -> AsyncIterator[WebSocketTestServer]:
    async with open_ws_test_server() as server:
        yield server


class StateLog:
    def __init__(self) -> None:
        self.states: list[ConnectionState] = []
        self._changed = trio.Event()

    def __call__(self, state: ConnectionState) -> None:
        self.states.append(state)
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(self, state: ConnectionState, count: int = 1) -> None:
        while self.states.count(state) < count:
            await self._changed.wait()


async def test_echo_round_trip_with_typed_payloads(server: WebSocketTestServer) -> None:
    with trio.fail_after(LIMIT), capture_logs():
        async with open_ws_client(server.url, reconnect=FAST) as client:
            client.register("hello", Hello)
            client.register("welcome", Welcome)
            client.register("numbers", list[int])
            await client.send("hello", Hello(client_info="python"))
            await client.send("welcome", Welcome("s-1", ["a", "b"]))
            await client.send("numbers", [1, 2, 3])
            await client.send("raw", {"free": ["form"]})
            got = [await client.receive() for _ in range(4)]
            stats = client.stats
    assert got == [
        Envelope("hello", Hello("python")),
        Envelope("welcome", Welcome("s-1", ["a", "b"])),
        Envelope("numbers", [1, 2, 3]),
        Envelope("raw", {"free": ["form"]}),
    ]
    assert json.loads(server.received[0]) == {
        "t": "hello",
        "data": {"client_info": "python", "version": 1},
    }
    assert stats.sent == 4
    assert stats.received == 4
    assert stats.untyped == 1


async def test_a_custom_converter_is_used_both_ways(server: WebSocketTestServer) -> None:
    converter = cattrs.Converter()
    converter.register_unstructure_hook(datetime.date, lambda d: d.isoformat())
    converter.register_structure_hook(datetime.date, lambda v, _: datetime.date.fromisoformat(v))
    with trio.fail_after(LIMIT), capture_logs():
        async with open_ws_client(server.url, converter=converter) as client:
            assert client.converter is converter
            client.register("day", datetime.date)
            await client.send("day", datetime.date(2024, 2, 29))
            envelope = await client.receive()
    assert server.received == ['{"t":"day","data":"2024-02-29"}']
    assert envelope == Envelope("day", datetime.date(2024, 2, 29))


async def test_garbage_messages_are_counted_and_logged_never_fatal(
    server: WebSocketTestServer,
) -> None:
    with trio.fail_after(LIMIT), capture_logs() as logs:
        async with open_ws_client(server.url, reconnect=FAST) as client:
            client.register("hello", Hello)
            await client.wait_open()
            messages: list[str | bytes] = [
                "not json",
                b"\xff\xfe",
                "[1, 2]",
                '{"data": 1}',
                '{"t": 5}',
                '{"t": "hello", "data": {"wrong": 1}}',
                '{"t": "hello", "data": "nope"}',
            ]
            for garbage in messages:
                await server.send_to_all(garbage)
            await server.send_to_all('{"t": "hello", "data": {"client_info": "ok"}}')
            envelope = await client.receive()
            stats = client.stats
    assert envelope == Envelope("hello", Hello("ok"))
    assert (stats.invalid_json, stats.missing_type, stats.structure_errors) == (2, 3, 2)
    assert stats.received == 8
    assert stats.connects == 1
    # Rate-limited per kind of problem: the first at once (with its detail), the rest
    # summarised (at the latest when the client closes), so the totals always add up.
    dropped = [e for e in logs if e["event"] == "trio_orch.ws.message_dropped"]
    firsts = [(e["problem"], e["t"]) for e in dropped if e["total"] == 1]
    assert firsts == [("invalid_json", None), ("missing_type", None), ("structure_error", "hello")]
    last = {e["problem"]: e["total"] for e in dropped}
    assert last == {"invalid_json": 2, "missing_type": 3, "structure_error": 2}
    assert all(e["log_level"] == "warning" for e in dropped)


async def test_abrupt_drop_mid_stream_reconnects_and_delivers_buffered_sends_in_order(
    server: WebSocketTestServer,
) -> None:
    log = StateLog()
    server.drop_after = 3
    with trio.fail_after(LIMIT), capture_logs() as logs:
        async with open_ws_client(
            server.url, reconnect=FAST, on_state_change=log, heartbeat_interval=None
        ) as client:
            await client.wait_open()
            server.reject_status = 503  # hold the reconnect off while we buffer
            for i in range(3):
                await client.send("before", i)
            await log.wait_for(ConnectionState.RECONNECTING)
            for i in range(5):
                await client.send("buffered", i)
            server.drop_after = None
            server.reject_status = None
            await log.wait_for(ConnectionState.OPEN, 2)
            await server.wait_received(8)
            stats = client.stats
    after = [json.loads(m) for m in server.received[3:]]
    assert after == [{"t": "buffered", "data": i} for i in range(5)]
    assert log.states[:4] == [
        ConnectionState.CONNECTING,
        ConnectionState.OPEN,
        ConnectionState.RECONNECTING,
        ConnectionState.OPEN,
    ]
    assert stats.sent == 8
    assert stats.possibly_lost == 3  # written to the dropped connection, never confirmed
    assert any(e["event"] == "trio_orch.ws.messages_possibly_lost" for e in logs)


async def test_server_stops_and_restarts_on_the_same_port(server: WebSocketTestServer) -> None:
    log = StateLog()
    port = server.port
    with trio.fail_after(LIMIT), capture_logs() as logs:
        async with open_ws_client(server.url, reconnect=FAST, on_state_change=log) as client:
            await client.wait_open()
            await server.stop()
            await log.wait_for(ConnectionState.RECONNECTING)
            await client.send("queued", "while down")
            while client.stats.attempts < 3:  # noqa: ASYNC110 - refused at least once while down
                await trio.sleep(0.001)
            await server.start()
            await log.wait_for(ConnectionState.OPEN, 2)
            envelope = await client.receive()
    assert server.port == port
    assert envelope == Envelope("queued", "while down")
    failed = [e for e in logs if e["event"] == "trio_orch.ws.connection_failed"]
    assert any(e["error"].startswith("OSError") for e in failed)  # refused while down


async def test_handshake_503_is_retried(server: WebSocketTestServer) -> None:
    server.reject_status = 503
    with trio.fail_after(LIMIT), capture_logs():
        async with open_ws_client(server.url, reconnect=FAST) as client:
            await server.wait_handshakes(3)
            server.reject_status = None
            await client.wait_open()
    assert server.handshakes >= 4
    assert server.accepted == 1


async def test_handshake_403_is_fatal(server: WebSocketTestServer) -> None:
    server.reject_status = 403
    events: list[Event] = []
    with trio.fail_after(LIMIT), capture_logs():
        async with open_event_bus() as bus:
            bus.on(WebSocketEvent, events.append)
            with pytest.raises(HandshakeRejected) as info:
                async with open_ws_client(server.url, reconnect=FAST, bus=bus) as client:
                    await client.wait_open()
            await trio.testing.wait_all_tasks_blocked()
    assert info.value.status_code == 403
    assert info.value.attempts == 1
    assert isinstance(info.value, ConnectionLost)
    assert str(info.value) == (
        f"WebSocket connection to {server.url!r} lost: "
        "the server refused the handshake with HTTP status 403"
    )
    assert server.handshakes == 1
    assert client.state is ConnectionState.CLOSED
    failed = [e for e in events if isinstance(e, ConnectionFailed)]
    assert [(e.retrying, e.delay) for e in failed] == [(False, None)]
    changes = [e for e in events if isinstance(e, ConnectionStateChanged)]
    assert [(c.previous, c.state) for c in changes] == [
        (ConnectionState.CLOSED, ConnectionState.CONNECTING),
        (ConnectionState.CONNECTING, ConnectionState.CLOSED),
    ]
    assert isinstance(changes[-1].error, HandshakeRejected)
    with pytest.raises(HandshakeRejected):
        await client.send("late", 1)


async def test_fatal_close_code_from_a_real_server(server: WebSocketTestServer) -> None:
    server.close_on_accept = 1003
    with trio.fail_after(LIMIT), capture_logs(), pytest.raises(FatalCloseCode) as info:  # noqa: PT012 - the error comes out of the async with
        async with open_ws_client(server.url, reconnect=FAST) as client:
            async for _ in client:
                pass
    assert info.value.code == 1003
    assert server.accepted == 1


async def test_user_marked_fatal_close_code(server: WebSocketTestServer) -> None:
    server.close_on_accept = 4001
    policy = attrs.evolve(FAST, fatal_close_codes={4001})
    with trio.fail_after(LIMIT), capture_logs(), pytest.raises(FatalCloseCode) as info:
        async with open_ws_client(server.url, reconnect=policy) as client:
            await client.receive()
    assert info.value.code == 4001


async def test_half_open_real_connection_is_detected(server: WebSocketTestServer) -> None:
    log = StateLog()
    with trio.fail_after(LIMIT), capture_logs():
        async with open_ws_client(
            server.url,
            reconnect=FAST,
            heartbeat_interval=0.02,
            heartbeat_timeout=0.05,
            on_state_change=log,
        ) as client:
            await client.wait_open()
            server.stall_pongs = True
            await log.wait_for(ConnectionState.RECONNECTING)
            server.stall_pongs = False
            await log.wait_for(ConnectionState.OPEN, 2)
            assert client.stats.heartbeat_timeouts >= 1


async def test_events_are_published_on_the_bus(server: WebSocketTestServer) -> None:
    events: list[Event] = []
    server.drop_after = 1
    with trio.fail_after(LIMIT), capture_logs():
        async with open_event_bus() as bus:
            bus.on(WebSocketEvent, events.append)
            async with open_ws_client(server.url, reconnect=FAST, bus=bus) as client:
                await client.send("x", 1)
                await server.wait_accepted(2)
                server.drop_after = None
                await client.wait_open()
            await trio.testing.wait_all_tasks_blocked()
    kinds = {type(e) for e in events}
    assert {ConnectionStateChanged, ConnectionFailed, MessagesPossiblyLost} <= kinds
    assert all(e.url == server.url for e in events if isinstance(e, WebSocketEvent))


async def test_graceful_exit_flushes_the_send_buffer(server: WebSocketTestServer) -> None:
    with trio.fail_after(LIMIT), capture_logs() as logs:
        async with open_ws_client(server.url) as client:
            for i in range(20):
                await client.send("n", i)
    assert logs == []  # connecting, messages and a graceful close are not logged
    assert [json.loads(m)["data"] for m in server.received] == list(range(20))
    assert client.state is ConnectionState.CLOSED
    assert client.stats.possibly_lost == 0
    assert client.stats.unsent == 0
    with pytest.raises(trio.ClosedResourceError, match=r"is closed$"):
        await client.send("late", 1)
    echoes = [envelope.data async for envelope in client]  # what arrived before the close
    assert echoes == list(range(len(echoes)))
    with pytest.raises(trio.EndOfChannel):
        await client.receive()


async def test_aclose_ends_iteration(server: WebSocketTestServer) -> None:
    with trio.fail_after(LIMIT), capture_logs():
        async with open_ws_client(server.url) as client:
            await client.send("n", 1)
            seen = []
            async for envelope in client:
                seen.append(envelope.data)
                await client.aclose()
            # The iteration ended by itself: aclose cancels the client's tasks, not the block.
            await trio.lowlevel.checkpoint()
            assert client.state is ConnectionState.CLOSED
            finished_block = True
    assert seen == [1]
    assert finished_block
    assert client.stats.possibly_lost == 0
