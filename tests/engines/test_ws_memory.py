"""The WebSocket client over in-memory streams: exact faults, exact (virtual) times.

A ``MemoryServer`` hands the client one end of a ``trio.testing.memory_stream_pair`` per
connection (through ``connect_stream=``) and runs a scripted trio-websocket server on the
other end, so every fault is exact and ``autojump_clock`` makes every time exact.  The
``serve`` fixture makes a server; :func:`connect` opens a client on it with exact defaults
(no jitter, no heartbeat) that each test overrides where it matters.
"""

from __future__ import annotations

import functools
import itertools
import json
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs
import pytest
import trio
import trio.testing
import trio_websocket
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from trio_orch import (
    ConnectionLost,
    ConnectionState,
    DropPolicy,
    Envelope,
    Jitter,
    MessagesPossiblyLost,
    QueueFull,
    ReconnectPolicy,
    RetryPolicy,
    WebSocketClient,
    WebSocketClientStats,
    WebSocketEvent,
    open_ws_client,
)

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

URL = "ws://example.test/ws"
Script = Callable[["Peer"], Awaitable[None]]


@attrs.define(eq=False)
class _Stall(trio.abc.Stream):
    """Server side of a connection that stops reading when ``stalled`` (half-open)."""

    inner: trio.abc.Stream
    stalled: bool = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        data = await self.inner.receive_some(max_bytes)
        while self.stalled:
            await trio.sleep_forever()
        return data

    async def aclose(self) -> None:
        await self.inner.aclose()


@attrs.define(eq=False)
class Peer:
    """The server side of one in-memory connection, for a script to drive."""

    number: int
    stream: _Stall
    nursery: trio.Nursery
    request: trio_websocket.WebSocketRequest | None = None

    async def accept(self) -> trio_websocket.WebSocketConnection:
        self.request = await trio_websocket.wrap_server_stream(self.nursery, self.stream)
        return await self.request.accept()

    async def reject(self, status: int) -> None:
        request = await trio_websocket.wrap_server_stream(self.nursery, self.stream)
        await request.reject(status)

    async def drop(self) -> None:
        await trio.aclose_forcefully(self.stream)


@attrs.define(eq=False)
class MemoryServer:
    nursery: trio.Nursery
    script: Script
    connect_times: list[float] = attrs.Factory(list)
    received: list[str | bytes] = attrs.Factory(list)
    peers: list[Peer] = attrs.Factory(list)
    refuse: bool = False
    _changed: trio.Event = attrs.Factory(trio.Event)

    async def wait_connects(self, n: int) -> None:
        while len(self.connect_times) < n:
            await self._changed.wait()

    @classmethod
    def echoing(cls, nursery: trio.Nursery) -> MemoryServer:
        server = cls(nursery, _never)
        server.script = echo(server)
        return server

    async def connect(self) -> trio.abc.Stream:
        self.connect_times.append(trio.current_time())
        self._changed.set()
        self._changed = trio.Event()
        await trio.lowlevel.checkpoint()
        if self.refuse:
            raise ConnectionRefusedError("refused")
        client, server = trio.testing.memory_stream_pair()
        self.nursery.start_soon(self._run, server)
        return client

    async def _run(self, stream: trio.abc.Stream) -> None:
        async with trio.open_nursery() as nursery:
            peer = Peer(len(self.peers) + 1, _Stall(stream), nursery)
            self.peers.append(peer)
            try:
                await self.script(peer)
            except (trio_websocket.ConnectionClosed, trio.BrokenResourceError):
                pass
            finally:
                nursery.cancel_scope.cancel()
                await trio.aclose_forcefully(stream)


async def _never(peer: Peer) -> None:
    raise AssertionError("this server refuses every connection")


def echo(server: MemoryServer) -> Script:
    async def script(peer: Peer) -> None:
        ws = await peer.accept()
        while True:
            message = await ws.get_message()
            server.received.append(message)
            await ws.send_message(message)

    return script


def no_jitter(**kw: object) -> ReconnectPolicy:
    options: dict[str, object] = {
        "initial_delay": 1.0,
        "max_delay": 8.0,
        "jitter": Jitter.NONE,
        "healthy_after": 5.0,
    }
    options.update(kw)
    return ReconnectPolicy(**options)  # type: ignore[arg-type]


def connect(server: MemoryServer, **options: Any) -> AbstractAsyncContextManager[WebSocketClient]:
    """``open_ws_client`` on ``server``; by default no jitter (``no_jitter()``), no heartbeat."""
    options = {"reconnect": no_jitter(), "heartbeat_interval": None, **options}
    return open_ws_client(URL, connect_stream=server.connect, **options)


Serve = Callable[..., MemoryServer]


@pytest.fixture
def serve(nursery: trio.Nursery) -> Serve:
    """``serve()``: an echoing server; ``serve(script)``: one running ``script`` per peer.

    ``refuse=True`` makes it refuse connections until ``server.refuse`` is set to False.
    """

    def make(script: Script | None = None, *, refuse: bool = False) -> MemoryServer:
        server = MemoryServer.echoing(nursery) if script is None else MemoryServer(nursery, script)
        server.refuse = refuse
        return server

    return make


@attrs.define
class Recorder:
    """A bus (anything with ``emit``) that keeps what it is given."""

    events: list[WebSocketEvent] = attrs.Factory(list)

    def emit(self, event: WebSocketEvent) -> None:
        self.events.append(event)

    def of(self, kind: type[WebSocketEvent]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


async def close_at_once(peer: Peer) -> None:
    await peer.accept()
    await peer.drop()


async def send_numbers(ws: trio_websocket.WebSocketConnection, count: int) -> None:
    """Send the envelopes ``{"t": "n", "data": i}`` for i in 0..count-1."""
    for i in range(count):
        await ws.send_message(f'{{"t":"n","data":{i}}}')


def sending(count: int) -> Script:
    """Accept, send ``count`` numbered envelopes, then keep the connection open."""

    async def script(peer: Peer) -> None:
        await send_numbers(await peer.accept(), count)
        await trio.sleep_forever()

    return script


def reading_then_silent(count: int) -> Script:
    """Accept, read ``count`` messages, then stop reading: no pong, no close reply."""

    async def script(peer: Peer) -> None:
        ws = await peer.accept()
        for _ in range(count):
            await ws.get_message()
        peer.stream.stalled = True
        await trio.sleep_forever()

    return script


# --- reconnect schedule -----------------------------------------------------------------------


async def test_accept_then_close_100_times_never_spins(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    server = serve(close_at_once)
    with capture_logs():
        async with connect(server, reconnect=no_jitter(max_attempts=None)) as client:
            await server.wait_connects(100)
            stats = client.stats
    times = server.connect_times[:100]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # 1, 2, 4, then the 8 s cap; never reset: every connection died before healthy_after.
    assert gaps[:4] == [1.0, 2.0, 4.0, 8.0]
    assert all(g == 8.0 for g in gaps[3:])
    assert times[99] == 1 + 2 + 4 + 8 * 96
    assert stats.attempts == 100
    assert stats.connects >= 99


async def test_accept_then_close_with_default_jitter_follows_the_schedule(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    server = serve(close_at_once)
    policy = ReconnectPolicy(max_attempts=12, initial_delay=1.0, max_delay=30.0)
    with capture_logs(), pytest.raises(ConnectionLost) as info:  # noqa: PT012 - the error comes out of the async with
        async with connect(server, reconnect=policy, rng=random.Random(7)) as client:
            async for _ in client:
                pass
    expected = list(
        RetryPolicy(max_attempts=12, initial_delay=1.0, max_delay=30.0).delays(random.Random(7))
    )
    times = server.connect_times
    assert [round(b - a, 9) for a, b in itertools.pairwise(times)] == [
        round(d, 9) for d in expected
    ]
    assert info.value.attempts == 12


async def test_backoff_resets_only_after_a_healthy_connection(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    lifetimes = iter([0.0, 0.0, 6.0, 0.0, 0.0])

    async def live_a_while(peer: Peer) -> None:
        await peer.accept()
        life = next(lifetimes, None)
        if life is None:
            await trio.sleep_forever()
        await trio.sleep(life)
        await peer.drop()

    server = serve(live_a_while)
    with capture_logs():
        async with connect(server) as client:
            await server.wait_connects(6)
            await client.wait_open()
    # t=0 dies at once; +1 s; dies at once; +2 s -> t=3, lives 6 s (healthy) -> t=9
    # reconnect at once; dies; +1 s (reset) -> t=10; dies; +2 s -> t=12.
    assert server.connect_times == [0.0, 1.0, 3.0, 9.0, 10.0, 12.0]


async def test_attempts_exhausted_raise_connection_lost_naming_url_and_attempts(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    server = serve(refuse=True)
    states: list[ConnectionState] = []
    with capture_logs() as logs, pytest.raises(ConnectionLost) as info:
        async with connect(
            server, reconnect=no_jitter(max_attempts=3), on_state_change=states.append
        ) as client:
            await client.receive()
    assert str(info.value) == (
        "WebSocket connection to 'ws://example.test/ws' lost: gave up after 3 connection attempts"
    )
    assert info.value.url == URL
    assert info.value.attempts == 3
    assert isinstance(info.value.__cause__, ConnectionRefusedError)
    assert server.connect_times == [0.0, 1.0, 3.0]
    assert trio.current_time() == 3.0
    assert states == [ConnectionState.CONNECTING, ConnectionState.CLOSED]
    # Two reconnects (WARNING), then one give-up (ERROR); connecting itself is not logged.
    assert [(e["event"], e["log_level"]) for e in logs] == [
        ("trio_orch.ws.connection_failed", "warning"),
        ("trio_orch.ws.connection_failed", "warning"),
        ("trio_orch.ws.gave_up", "error"),
    ]
    assert [e["delay"] for e in logs[:2]] == [1.0, 2.0]
    assert logs[2]["attempts"] == 3
    assert logs[2]["url"] == URL


async def test_unobserved_give_up_is_raised_when_the_block_ends(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    server = serve(refuse=True)
    with capture_logs(), pytest.raises(ConnectionLost, match=r"gave up after 2 connection"):
        async with connect(server, reconnect=no_jitter(max_attempts=2)):
            await trio.sleep(10)


# --- heartbeat --------------------------------------------------------------------------------


async def test_half_open_connection_is_detected_by_the_heartbeat(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    server = serve()
    changes: list[tuple[float, ConnectionState]] = []

    def record(state: ConnectionState) -> None:
        changes.append((trio.current_time(), state))

    with capture_logs() as logs:
        async with connect(
            server, heartbeat_interval=10.0, heartbeat_timeout=3.0, on_state_change=record
        ) as client:
            await client.wait_open()
            await trio.sleep(25)  # two pings answered at t=10 and t=20
            server.peers[0].stream.stalled = True  # the next ping (t=30) gets no pong
            await server.wait_connects(2)
            await client.wait_open()
            stats = client.stats
    assert changes[:4] == [
        (0.0, ConnectionState.CONNECTING),
        (0.0, ConnectionState.OPEN),
        (33.0, ConnectionState.RECONNECTING),
        (33.0, ConnectionState.OPEN),
    ]
    assert stats.heartbeat_timeouts == 1
    failed = [e for e in logs if e["event"] == "trio_orch.ws.connection_failed"]
    assert len(failed) == 1
    assert failed[0]["error"] == (
        "TooSlowError('no pong within 3.0s: the connection is presumed dead')"
    )


async def test_slow_consumer_is_backpressure_not_a_dead_connection(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    # More than the receive buffer and trio-websocket's own queue (64) hold: nothing reads
    # the socket any more, so the pings go unanswered while nobody reads.
    server = serve(sending(200))
    async with connect(
        server, heartbeat_interval=1.0, heartbeat_timeout=1.0, receive_buffer=2
    ) as client:
        await trio.sleep(60)  # nobody reads for a minute
        assert client.stats.received < 100  # the reader is held back: backpressure
        got = [(await client.receive()).data for _ in range(200)]
        assert client.stats.heartbeat_timeouts == 0
    assert got == list(range(200))
    assert len(server.connect_times) == 1


async def test_the_url_gives_the_resource_and_the_host_header(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    server = serve()
    url = "ws://example.test:8080/feed?token=abc"
    async with open_ws_client(url, connect_stream=server.connect) as client:
        await client.wait_open()
        request = server.peers[0].request
    assert request is not None
    assert request.path == "/feed?token=abc"
    assert request._event.host == "example.test:8080"  # wsproto's request; no public accessor


# --- delivery across reconnects ---------------------------------------------------------------


async def test_buffered_sends_go_out_in_order_once_after_reconnect(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    server = serve()
    with capture_logs():
        async with connect(server) as client:
            await client.wait_open()
            server.refuse = True
            await server.peers[0].drop()
            await trio.testing.wait_all_tasks_blocked()
            assert client.state is ConnectionState.RECONNECTING
            for i in range(5):
                await client.send("n", i)
            assert client.stats.buffered == 5
            server.refuse = False
            await client.wait_open()
            got = [(await client.receive()).data for _ in range(5)]
            stats = client.stats
    assert got == [0, 1, 2, 3, 4]
    assert [m for m in server.received] == [f'{{"t":"n","data":{i}}}' for i in range(5)]
    assert stats.sent == 5
    assert stats.possibly_lost == 0


async def test_message_written_to_a_dying_connection_is_possibly_lost_not_resent(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    async def swallow_then_drop(peer: Peer) -> None:
        ws = await peer.accept()
        if peer.number == 1:
            await ws.get_message()
            await peer.drop()
        while True:
            await ws.get_message()

    server = serve(swallow_then_drop)
    with capture_logs() as logs:
        async with connect(server) as client:
            await client.send("n", 1)
            await server.wait_connects(2)
            await client.wait_open()
            stats = client.stats
    assert stats.sent == 1
    assert stats.possibly_lost == 1
    lost = [e for e in logs if e["event"] == "trio_orch.ws.messages_possibly_lost"]
    assert lost[0]["count"] == 1


async def test_pong_confirms_what_was_written_before_the_ping(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    server = serve()
    with capture_logs():
        async with connect(server, heartbeat_interval=10.0, heartbeat_timeout=2.0) as client:
            await client.send("n", 1)
            await client.send("n", 2)
            await trio.sleep(11)  # the ping at t=10 is answered: both confirmed
            await client.send("n", 3)
            await trio.testing.wait_all_tasks_blocked()
            await server.peers[0].drop()
            await server.wait_connects(2)
            stats = client.stats
    assert stats.sent == 3
    assert stats.possibly_lost == 1


# --- defect 3: the accounting holds on every way out ------------------------------------------


async def swallow(peer: Peer) -> None:
    """Accept and read every message; never answer anything but the pings of trio-websocket."""
    ws = await peer.accept()
    while True:
        await ws.get_message()


async def test_cancelling_the_block_still_counts_unconfirmed_messages_as_possibly_lost(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    # Regression: an unshielded await in the attempt's `finally` was cancelled, and the
    # accounting after it never ran: possibly_lost stayed 0 and nothing was published.
    server = serve(swallow)
    bus = Recorder()
    with capture_logs() as logs, trio.CancelScope() as scope:
        async with connect(server, bus=bus) as client:
            for i in range(3):
                await client.send("n", i)
            await trio.testing.wait_all_tasks_blocked()
            assert client.stats.sent == 3
            scope.cancel()
            await trio.sleep_forever()
    assert trio.current_time() == 0.0
    assert client.state is ConnectionState.CLOSED
    assert client.stats.possibly_lost == 3
    assert [(e.count, e.total) for e in bus.of(MessagesPossiblyLost)] == [(3, 3)]
    lost = [e for e in logs if e["event"] == "trio_orch.ws.messages_possibly_lost"]
    assert [(e["count"], e["total"], e["log_level"]) for e in lost] == [(3, 3, "warning")]


async def test_a_peer_that_never_answers_the_close_leaves_the_messages_possibly_lost(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    # Regression: the graceful close waits for a pong and a close reply that never come;
    # close_timeout then cancels the connection, and the accounting must still run.
    server = serve(reading_then_silent(3))
    bus = Recorder()
    with capture_logs() as logs:
        async with connect(server, bus=bus, close_timeout=2.0) as client:
            for i in range(3):
                await client.send("n", i)
            await trio.testing.wait_all_tasks_blocked()
            assert client.stats.sent == 3
    assert trio.current_time() == 2.0  # close_timeout bounds the whole close
    assert client.state is ConnectionState.CLOSED
    stats = client.stats
    assert (stats.sent, stats.possibly_lost, stats.unsent) == (3, 3, 0)
    assert [(e.count, e.total) for e in bus.of(MessagesPossiblyLost)] == [(3, 3)]
    assert any(e["event"] == "trio_orch.ws.messages_possibly_lost" for e in logs)


async def test_cancelling_aclose_still_counts_unconfirmed_messages(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    server = serve(reading_then_silent(1))
    with capture_logs():
        async with connect(server) as client:
            await client.send("n", 0)
            await trio.testing.wait_all_tasks_blocked()
            with trio.move_on_after(0.5) as scope:
                await client.aclose()  # waits for a pong that never comes; cancelled
            assert scope.cancelled_caught
            # Cancelled or not, aclose returns with the client closed and the books done.
            assert client.state is ConnectionState.CLOSED
            assert client.stats.possibly_lost == 1
            await trio.sleep(1)  # aclose cancels the client's tasks, never this block
            later = trio.current_time()
    assert later == 1.5


# --- the send buffer --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("drop", "kept", "dropped"),
    [
        (DropPolicy.OLDEST, [1, 2], 1),
        (DropPolicy.NEWEST, [0, 1], 1),
    ],
)
async def test_send_buffer_overflow_follows_the_drop_policy(
    serve: Serve,
    autojump_clock: trio.testing.MockClock,
    drop: DropPolicy,
    kept: list[int],
    dropped: int,
) -> None:
    server = serve(refuse=True)
    with capture_logs():
        async with connect(server, send_buffer=2, send_drop=drop) as client:
            for i in range(3):
                await client.send("n", i)
            assert client.stats.dropped == dropped
            assert client.stats.buffered == 2
            server.refuse = False
            got = [(await client.receive()).data for _ in range(2)]
    assert got == kept


async def test_send_buffer_overflow_reject_raises_queue_full(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    server = serve(refuse=True)
    with capture_logs():
        async with connect(
            server,
            reconnect=no_jitter(max_attempts=None),
            send_buffer=2,
            send_drop=DropPolicy.REJECT,
        ) as client:
            await client.send("n", 0)
            await client.send("n", 1)
            with pytest.raises(QueueFull):
                await client.send("n", 2)
            assert client.stats.rejected == 1
            assert client.stats.buffered == 2
    assert client.stats.unsent == 2


async def test_send_buffer_overflow_block_waits_for_room(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    server = serve(refuse=True)
    with capture_logs():
        async with connect(server, send_buffer=1) as client:
            await client.send("n", 0)
            with pytest.raises(trio.WouldBlock):
                client.send_nowait("n", 1)
            with trio.move_on_after(2) as scope:
                await client.send("n", 1)
            assert scope.cancelled_caught
            assert client.stats.buffered == 1
            server.refuse = False
            await client.send("n", 1)  # room appears once connected
            got = [(await client.receive()).data for _ in range(2)]
    assert got == [0, 1]


# --- cancellation -----------------------------------------------------------------------------


async def test_cancel_during_connect_exits_at_once(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    entered = trio.Event()

    async def hang() -> trio.abc.Stream:
        entered.set()
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    with trio.CancelScope() as scope:
        async with open_ws_client(URL, connect_stream=hang, connect_timeout=100.0):
            await entered.wait()
            scope.cancel()
            await trio.sleep_forever()
    assert trio.current_time() == 0.0
    assert trio.lowlevel.current_task().child_nurseries == [nursery]


async def test_cancel_during_backoff_exits_at_once(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    server = serve(refuse=True)
    with capture_logs(), trio.CancelScope() as scope:
        async with connect(server) as client:
            await trio.sleep(1.5)  # attempts at 0 and 1; backing off for 2 s now
            scope.cancel()
    assert trio.current_time() == 1.5
    assert server.connect_times == [0.0, 1.0]
    assert client.state is ConnectionState.CLOSED


async def _cancel_when_blocked(scope: trio.CancelScope) -> None:
    await trio.testing.wait_all_tasks_blocked()
    scope.cancel()


async def test_cancel_during_send_exits_at_once(
    nursery: trio.Nursery, serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    server = serve(refuse=True)
    with capture_logs(), trio.CancelScope() as scope:
        async with connect(server, send_buffer=1) as client:
            await client.send("n", 0)
            nursery.start_soon(_cancel_when_blocked, scope)
            await client.send("n", 1)  # the buffer is full: blocks until cancelled
    assert trio.current_time() == 0.0
    assert client.state is ConnectionState.CLOSED
    assert client.stats.unsent == 1
    assert trio.lowlevel.current_task().child_nurseries == [nursery]


async def test_cancelling_the_block_closes_the_socket_at_once(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    closes: list[object] = []
    ended = trio.Event()

    async def accept_and_wait(peer: Peer) -> None:
        ws = await peer.accept()
        try:
            await ws.get_message()
        except trio_websocket.ConnectionClosed as exc:
            closes.append(exc.reason.code if exc.reason else None)
        finally:
            ended.set()

    server = serve(accept_and_wait)
    with trio.CancelScope() as scope:
        async with connect(server, heartbeat_interval=30.0) as client:
            await client.wait_open()
            scope.cancel()
            await trio.sleep_forever()
    assert client.state is ConnectionState.CLOSED
    await ended.wait()
    assert closes == [1006]  # no closing handshake: the stream was closed
    assert trio.current_time() == 0.0


# --- fatal and retryable endings --------------------------------------------------------------


async def test_fatal_close_code_is_not_retried(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    from trio_orch import FatalCloseCode

    async def policy_violation(peer: Peer) -> None:
        ws = await peer.accept()
        await ws.aclose(1008, "go away")

    server = serve(policy_violation)
    with capture_logs() as logs, pytest.raises(FatalCloseCode) as info:  # noqa: PT012 - the error comes out of the async with
        async with connect(server, reconnect=ReconnectPolicy()) as client:
            async for _ in client:
                pass
    assert info.value.code == 1008
    assert info.value.reason == "go away"
    assert str(info.value) == (
        "WebSocket connection to 'ws://example.test/ws' lost: "
        "the server closed the connection with fatal code 1008 ('go away')"
    )
    assert len(server.connect_times) == 1
    assert [e["event"] for e in logs] == ["trio_orch.ws.gave_up"]


async def test_a_close_code_not_marked_fatal_reconnects(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    async def close_going_away(peer: Peer) -> None:
        ws = await peer.accept()
        if peer.number == 1:
            await ws.aclose(1001)
        await trio.sleep_forever()

    server = serve(close_going_away)
    with capture_logs():
        async with connect(server) as client:
            await server.wait_connects(2)
            await client.wait_open()
    assert server.connect_times == [0.0, 1.0]


async def test_server_that_closes_during_the_handshake_is_retried(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    async def hang_up(peer: Peer) -> None:
        if peer.number == 1:
            await peer.drop()
            return
        await peer.accept()
        await trio.sleep_forever()

    server = serve(hang_up)
    with capture_logs() as logs:
        async with connect(server) as client:
            await client.wait_open()
    assert server.connect_times == [0.0, 1.0]
    failed = [e for e in logs if e["event"] == "trio_orch.ws.connection_failed"]
    assert "ConnectionAbortedError" in failed[0]["error"]


async def test_handshake_that_never_answers_times_out(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    async def silent(peer: Peer) -> None:
        if peer.number == 1:
            await trio.sleep_forever()
        await peer.accept()
        await trio.sleep_forever()

    server = serve(silent)
    with capture_logs() as logs:
        async with connect(server, connect_timeout=4.0) as client:
            await client.wait_open()
    assert server.connect_times == [0.0, 5.0]
    failed = [e for e in logs if e["event"] == "trio_orch.ws.connection_failed"]
    assert failed[0]["error"] == "TooSlowError()"  # a timeout is trio.TooSlowError


# --- the receive buffer -----------------------------------------------------------------------


async def test_receive_drop_oldest_keeps_reading_and_counts_drops(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    server = serve(sending(50))
    with capture_logs():
        async with connect(server, receive_buffer=2, receive_drop=DropPolicy.OLDEST) as client:
            await trio.sleep(1)
            got = [(await client.receive()).data for _ in range(2)]
            stats = client.stats
    assert got == [48, 49]
    assert stats.received == 50
    assert stats.received_dropped == 48


async def test_messages_received_before_a_drop_reach_a_slow_reader(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    async def send_five_then_drop(peer: Peer) -> None:
        ws = await peer.accept()
        if peer.number == 1:
            await send_numbers(ws, 5)
            await peer.drop()
        await trio.sleep_forever()

    server = serve(send_five_then_drop)
    with capture_logs():
        async with connect(server, heartbeat_interval=1.0, receive_buffer=1) as client:
            await client.send("n", "x")  # the writer meets the dead connection too
            await trio.sleep(10)  # a slow application
            assert client.state is ConnectionState.OPEN  # not known dead until read
            got = [(await client.receive()).data for _ in range(5)]
            await server.wait_connects(2)
            await client.wait_open()
    assert got == [0, 1, 2, 3, 4]
    assert server.connect_times == [0.0, 10.0]  # dead connection noticed at t=10


async def test_envelopes_that_cannot_be_buffered_at_close_are_counted(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    server = serve(sending(3))
    with capture_logs() as logs:
        async with connect(server, receive_buffer=1) as client:
            await trio.sleep(1)
    assert client.stats.undelivered == 1  # waiting for room when the client closed
    assert [e.data async for e in client] == [0]  # what the buffer held is still readable
    assert any(e["event"] == "trio_orch.ws.undelivered_on_close" for e in logs)


# --- closing ----------------------------------------------------------------------------------


async def test_graceful_exit_waits_for_the_reconnect_to_flush(
    nursery: trio.Nursery, serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    server = serve(refuse=True)

    async def accept_later() -> None:
        await trio.sleep(2.5)
        server.refuse = False

    nursery.start_soon(accept_later)
    with capture_logs():
        async with connect(server) as client:
            await client.send("n", 1)
            await client.send("n", 2)
    assert server.received == ['{"t":"n","data":1}', '{"t":"n","data":2}']
    assert server.connect_times == [0.0, 1.0, 3.0]
    assert trio.current_time() == 3.0
    assert client.stats.unsent == 0


async def test_graceful_exit_gives_up_after_close_timeout_and_counts_unsent(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    server = serve(refuse=True)
    with capture_logs() as logs:
        async with connect(
            server, reconnect=no_jitter(max_attempts=None), close_timeout=5.0
        ) as client:
            await client.send("n", 1)
            await client.send("n", 2)
    assert trio.current_time() == 5.0
    assert client.stats.unsent == 2
    unsent = [e for e in logs if e["event"] == "trio_orch.ws.unsent_on_close"]
    assert unsent[0]["count"] == 2


async def test_graceful_exit_confirms_with_a_ping_and_does_the_closing_handshake(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    closes: list[tuple[int, str | None]] = []

    async def record_close(peer: Peer) -> None:
        ws = await peer.accept()
        try:
            while True:
                await ws.get_message()
        except trio_websocket.ConnectionClosed as exc:
            reason = exc.reason
            closes.append((reason.code, reason.reason) if reason else (0, None))

    server = serve(record_close)
    with capture_logs() as logs:
        async with connect(server) as client:
            for i in range(3):
                await client.send("n", i)
    await trio.testing.wait_all_tasks_blocked()
    assert closes == [(1000, "client closed")]
    assert client.stats.sent == 3
    assert client.stats.possibly_lost == 0  # the last ping confirmed all three
    assert logs == []  # a normal life logs nothing
    assert trio.current_time() == 0.0


# --- events and errors ------------------------------------------------------------------------


async def test_a_bus_that_fails_to_emit_is_logged_not_fatal(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    class BrokenBus:
        def emit(self, event: object) -> None:
            raise RuntimeError("bus down")

    server = serve()
    with capture_logs() as logs:
        async with connect(server, bus=BrokenBus()) as client:
            await client.send("n", 1)
            assert (await client.receive()).data == 1
    failed = [e for e in logs if e["event"] == "trio_orch.ws.publish_failed"]
    assert failed[0]["event_type"] == "ConnectionStateChanged"


async def test_an_unexpected_error_from_connect_stream_propagates(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def buggy() -> trio.abc.Stream:
        await trio.lowlevel.checkpoint()
        raise ZeroDivisionError("bug")

    with capture_logs(), pytest.raises(ZeroDivisionError, match=r"^bug$"):
        async with open_ws_client(URL, connect_stream=buggy):
            await trio.sleep_forever()


async def test_bad_messages_are_logged_at_once_then_at_most_once_a_second(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    async def garbage(peer: Peer) -> None:
        ws = await peer.accept()
        for _ in range(5):
            await ws.send_message("not json")
        await trio.sleep(2)
        await ws.send_message("still not json")
        await ws.send_message('{"t": "ok", "data": 1}')
        await trio.sleep_forever()

    server = serve(garbage)
    with capture_logs() as logs:
        async with connect(server) as client:
            assert await client.receive() == Envelope("ok", 1)
            assert client.stats.invalid_json == 6
    dropped = [e for e in logs if e["event"] == "trio_orch.ws.message_dropped"]
    # The first at once; the next five are summarised (at the latest when the client closes).
    assert [(e["total"], e["since_last_log"], e["problem"]) for e in dropped] == [
        (1, 1, "invalid_json"),
        (6, 5, "invalid_json"),
    ]
    assert all(e["log_level"] == "warning" for e in dropped)


async def test_bad_messages_not_logged_yet_are_logged_when_the_client_closes(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    async def garbage(peer: Peer) -> None:
        ws = await peer.accept()
        for _ in range(3):
            await ws.send_message("[1]")
        await ws.send_message('{"t": "ok"}')
        await trio.sleep_forever()

    server = serve(garbage)
    with capture_logs() as logs:
        async with connect(server) as client:
            assert await client.receive() == Envelope("ok", None)
    dropped = [e for e in logs if e["event"] == "trio_orch.ws.message_dropped"]
    assert [(e["total"], e["since_last_log"]) for e in dropped] == [(1, 1), (3, 2)]
    assert dropped[-1]["problem"] == "missing_type"
    assert client.stats.missing_type == 3


async def test_a_message_taken_while_the_peer_closes_goes_first_on_the_next_connection(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    async def fill_then_close(peer: Peer) -> None:
        ws = await peer.accept()
        if peer.number == 1:
            await send_numbers(ws, 2)  # the first fills the receive buffer; the reader holds 1
            await ws.aclose(1001)
            return
        while True:
            server.received.append(await ws.get_message())

    server = serve(fill_then_close)
    with capture_logs():
        async with connect(server, receive_buffer=1) as client:
            await trio.testing.wait_all_tasks_blocked()
            # The connection is closed by the peer, but our reader has not seen it yet.
            assert client.state is ConnectionState.OPEN
            await client.send("n", "x")  # the writer takes it, finds the socket closing
            await trio.testing.wait_all_tasks_blocked()
            assert client.stats.buffered == 1  # carried over, not lost, not counted sent
            got = [(await client.receive()).data for _ in range(2)]
            await server.wait_connects(2)
            await client.wait_open()
            await trio.testing.wait_all_tasks_blocked()
            stats = client.stats
    assert got == [0, 1]
    assert server.received == ['{"t":"n","data":"x"}']
    assert (stats.sent, stats.possibly_lost, stats.buffered) == (1, 0, 0)


async def test_envelopes_arriving_while_closing_with_a_full_buffer_are_undelivered(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    async def answer_late(peer: Peer) -> None:
        ws = await peer.accept()
        await ws.send_message('{"t":"n","data":0}')
        await ws.get_message()  # the client's last message, written during its close
        await ws.send_message('{"t":"n","data":1}')
        await trio.sleep_forever()

    server = serve(answer_late)
    with capture_logs() as logs:
        async with connect(server, receive_buffer=1) as client:
            await client.wait_open()
            await trio.testing.wait_all_tasks_blocked()  # envelope 0 fills the buffer
            await client.send("n", "bye")
    stats = client.stats
    assert (stats.received, stats.undelivered, stats.possibly_lost) == (2, 1, 0)
    assert [e.data async for e in client] == [0]
    undelivered = [e for e in logs if e["event"] == "trio_orch.ws.undelivered_on_close"]
    assert [e["count"] for e in undelivered] == [1]


async def test_subprotocols_and_extra_headers_reach_the_handshake(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    server = serve()
    async with connect(
        server, subprotocols=["chat", "v2"], extra_headers=[(b"x-token", b"t0k")]
    ) as client:
        await client.wait_open()
        request = server.peers[0].request
    assert request is not None
    assert request.proposed_subprotocols == ("chat", "v2")
    assert (b"x-token", b"t0k") in request.headers
    assert client.url == URL
    assert repr(client) == "<WebSocketClient 'ws://example.test/ws' CLOSED>"


async def test_a_send_waiting_for_room_sees_the_give_up(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    server = serve(refuse=True)
    with capture_logs(), pytest.raises(ConnectionLost) as info:  # noqa: PT012 - the error comes out of the async with
        async with connect(server, reconnect=no_jitter(max_attempts=2), send_buffer=1) as client:
            await client.send("n", 0)
            await client.send("n", 1)  # blocks for room until the client gives up at t=1
    assert trio.current_time() == 1.0
    assert info.value.attempts == 2
    assert client.stats.unsent == 1
    with pytest.raises(ConnectionLost):
        client.send_nowait("n", 2)


async def test_send_after_a_graceful_close_raises_closed_resource_error(
    serve: Serve, autojump_clock: trio.testing.MockClock
) -> None:
    server = serve()
    async with connect(server) as client:
        await client.wait_open()
    with pytest.raises(
        trio.ClosedResourceError,
        match=r"^the WebSocket client for 'ws://example\.test/ws' is closed$",
    ):
        client.send_nowait("n", 1)
    with pytest.raises(trio.ClosedResourceError):
        await client.wait_open()
    assert not hasattr(client, "statistics")  # one convention: the stats property


async def test_wss_opens_tls_with_the_default_context(nursery: trio.Nursery) -> None:
    # A TCP server that hangs up at once: the TLS handshake fails, which is retryable.
    async def hang_up(stream: trio.SocketStream) -> None:
        await stream.aclose()

    listeners = await nursery.start(functools.partial(trio.serve_tcp, hang_up, 0, host="127.0.0.1"))
    port = listeners[0].socket.getsockname()[1]
    with trio.fail_after(5), capture_logs(), pytest.raises(ConnectionLost) as info:
        async with open_ws_client(
            f"wss://127.0.0.1:{port}/ws", reconnect=no_jitter(max_attempts=1)
        ) as client:
            await client.wait_open()
    assert info.value.attempts == 1
    assert isinstance(info.value.__cause__, ConnectionAbortedError | trio.BrokenResourceError)


# --- properties -------------------------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=40, deadline=None)
@given(messages=st.lists(st.tuples(st.text(min_size=1, max_size=12), JSON), min_size=1, max_size=5))
async def test_any_json_payload_round_trips_unchanged_and_in_order(
    messages: list[tuple[str, object]],
) -> None:
    async with trio.open_nursery() as nursery:
        server = MemoryServer.echoing(nursery)
        async with connect(server) as client:
            for t, data in messages:
                await client.send(t, data)
            got = [await client.receive() for _ in messages]
        nursery.cancel_scope.cancel()
    assert got == [Envelope(t, data) for t, data in messages]
    assert client.stats.untyped == len(messages)


# A property: whatever happens to the connections, nothing is duplicated, reordered or lost
# without being reported.

ACTIONS = st.lists(
    st.one_of(
        st.tuples(st.just("send"), st.integers(1, 5)),
        st.tuples(st.just("drop"), st.just(0)),
        st.tuples(st.just("refuse"), st.booleans().map(int)),
        st.tuples(st.just("wait"), st.integers(0, 3)),
    ),
    max_size=25,
)


@settings(max_examples=60, deadline=None)
@given(actions=ACTIONS, heartbeat=st.sampled_from([None, 2.0]), cancel=st.booleans())
def test_delivery_is_ordered_once_and_every_loss_is_reported(
    actions: list[tuple[str, int]], heartbeat: float | None, cancel: bool
) -> None:
    sent: list[int] = []
    outcome: dict[str, object] = {}

    async def scenario() -> None:
        async with trio.open_nursery() as nursery:
            server = MemoryServer.echoing(nursery)
            with capture_logs(), trio.CancelScope() as scope:
                async with connect(
                    server,
                    reconnect=no_jitter(max_attempts=None, max_delay=2.0),
                    heartbeat_interval=heartbeat,
                    heartbeat_timeout=1.0,
                    close_timeout=30.0,
                    send_buffer=1000,
                    receive_buffer=1000,
                ) as client:
                    for action, arg in actions:
                        if action == "send":
                            for _ in range(arg):
                                sent.append(len(sent))
                                await client.send("n", sent[-1])
                        elif action == "drop":
                            for peer in server.peers:
                                await peer.drop()
                        elif action == "refuse":
                            server.refuse = bool(arg)
                        else:
                            await trio.sleep(arg)
                    server.refuse = False
                    if cancel:  # leave by a cancellation: no flush, no closing handshake
                        scope.cancel()
            await trio.testing.wait_all_tasks_blocked()
            outcome["received"] = [json.loads(m)["data"] for m in server.received]
            outcome["echoes"] = [envelope.data async for envelope in client]
            outcome["stats"] = client.stats
            nursery.cancel_scope.cancel()

    trio.run(scenario, clock=trio.testing.MockClock(autojump_threshold=0))
    received = outcome["received"]
    stats = outcome["stats"]
    assert isinstance(received, list)
    assert isinstance(stats, WebSocketClientStats)
    assert received == sorted(set(received))  # in order, never twice
    assert set(received) <= set(sent)
    if not cancel:
        assert stats.unsent == 0  # the graceful close had time to reconnect and flush
    # Every message the server lacks was reported: never written, or possibly lost.
    missing = len(sent) - len(received)
    assert missing <= stats.possibly_lost + stats.unsent
    echoes = outcome["echoes"]
    assert isinstance(echoes, list)
    assert echoes == sorted(set(echoes))  # what came back: in order, never twice
    assert set(echoes) <= set(received)
