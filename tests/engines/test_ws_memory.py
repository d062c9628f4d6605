"""The WebSocket client over in-memory streams: exact faults, exact (virtual) times.

A ``MemoryServer`` hands the client one end of a ``trio.testing.memory_stream_pair`` per
connection (through ``connect_stream=``) and runs a scripted trio-websocket server on the
other end, so every fault is exact and ``autojump_clock`` makes every time exact.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Awaitable, Callable

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
    QueueFull,
    ReconnectPolicy,
    RetryPolicy,
    WebSocketClientStats,
    open_ws_client,
)

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


async def test_accept_then_close_100_times_never_spins(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def close_at_once(peer: Peer) -> None:
        await peer.accept()
        await peer.drop()

    server = MemoryServer(nursery, close_at_once)
    with capture_logs():
        async with open_ws_client(
            URL,
            reconnect=no_jitter(max_attempts=None),
            heartbeat_interval=None,
            connect_stream=server.connect,
        ) as client:
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
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def close_at_once(peer: Peer) -> None:
        await peer.accept()
        await peer.drop()

    server = MemoryServer(nursery, close_at_once)
    policy = ReconnectPolicy(max_attempts=12, initial_delay=1.0, max_delay=30.0)
    with capture_logs(), pytest.raises(ConnectionLost) as info:  # noqa: PT012 - the error comes out of the async with
        async with open_ws_client(
            URL,
            reconnect=policy,
            heartbeat_interval=None,
            connect_stream=server.connect,
            rng=random.Random(7),
        ) as client:
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
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    lifetimes = iter([0.0, 0.0, 6.0, 0.0, 0.0])

    async def live_a_while(peer: Peer) -> None:
        await peer.accept()
        life = next(lifetimes, None)
        if life is None:
            await trio.sleep_forever()
        await trio.sleep(life)
        await peer.drop()

    server = MemoryServer(nursery, live_a_while)
    with capture_logs():
        async with open_ws_client(
            URL, reconnect=no_jitter(), heartbeat_interval=None, connect_stream=server.connect
        ) as client:
            await server.wait_connects(6)
            await client.wait_open()
    # t=0 dies at once; +1 s; dies at once; +2 s -> t=3, lives 6 s (healthy) -> t=9
    # reconnect at once; dies; +1 s (reset) -> t=10; dies; +2 s -> t=12.
    assert server.connect_times == [0.0, 1.0, 3.0, 9.0, 10.0, 12.0]


async def test_attempts_exhausted_raise_connection_lost_naming_url_and_attempts(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server = MemoryServer(nursery, _never)
    server.refuse = True
    states: list[ConnectionState] = []
    with capture_logs() as logs, pytest.raises(ConnectionLost) as info:
        async with open_ws_client(
            URL,
            reconnect=no_jitter(max_attempts=3),
            heartbeat_interval=None,
            connect_stream=server.connect,
            on_state_change=states.append,
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
    assert [e["event"] for e in logs].count("trio_orch.ws.connection_failed") == 3
    assert any(e["event"] == "trio_orch.ws.gave_up" for e in logs)


async def test_unobserved_give_up_is_raised_when_the_block_ends(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server = MemoryServer(nursery, _never)
    server.refuse = True
    with capture_logs(), pytest.raises(ConnectionLost, match=r"gave up after 2 connection"):
        async with open_ws_client(
            URL,
            reconnect=no_jitter(max_attempts=2),
            heartbeat_interval=None,
            connect_stream=server.connect,
        ):
            await trio.sleep(10)


async def test_half_open_connection_is_detected_by_the_heartbeat(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server = MemoryServer.echoing(nursery)
    changes: list[tuple[float, ConnectionState]] = []

    def record(state: ConnectionState) -> None:
        changes.append((trio.current_time(), state))

    with capture_logs() as logs:
        async with open_ws_client(
            URL,
            reconnect=no_jitter(),
            heartbeat_interval=10.0,
            heartbeat_timeout=3.0,
            connect_stream=server.connect,
            on_state_change=record,
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
    assert any(e["event"] == "trio_orch.ws.heartbeat_timeout" for e in logs)


async def test_slow_consumer_is_backpressure_not_a_dead_connection(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def flood(peer: Peer) -> None:
        ws = await peer.accept()
        for i in range(50):
            await ws.send_message(f'{{"t":"n","data":{i}}}')
        await trio.sleep_forever()

    server = MemoryServer(nursery, flood)
    async with open_ws_client(
        URL,
        heartbeat_interval=1.0,
        heartbeat_timeout=1.0,
        receive_buffer=2,
        connect_stream=server.connect,
    ) as client:
        await trio.sleep(60)  # nobody reads for a minute
        got = [(await client.receive()).data for _ in range(50)]
        assert client.stats.heartbeat_timeouts == 0
    assert got == list(range(50))
    assert len(server.connect_times) == 1


async def test_buffered_sends_go_out_in_order_once_after_reconnect(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server = MemoryServer.echoing(nursery)
    with capture_logs():
        async with open_ws_client(
            URL, reconnect=no_jitter(), heartbeat_interval=None, connect_stream=server.connect
        ) as client:
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
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def swallow_then_drop(peer: Peer) -> None:
        ws = await peer.accept()
        if peer.number == 1:
            await ws.get_message()
            await peer.drop()
        while True:
            await ws.get_message()

    server = MemoryServer(nursery, swallow_then_drop)
    with capture_logs() as logs:
        async with open_ws_client(
            URL, reconnect=no_jitter(), heartbeat_interval=None, connect_stream=server.connect
        ) as client:
            await client.send("n", 1)
            await server.wait_connects(2)
            await client.wait_open()
            stats = client.stats
    assert stats.sent == 1
    assert stats.possibly_lost == 1
    lost = [e for e in logs if e["event"] == "trio_orch.ws.messages_possibly_lost"]
    assert lost[0]["count"] == 1


async def test_pong_confirms_what_was_written_before_the_ping(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server = MemoryServer.echoing(nursery)
    with capture_logs():
        async with open_ws_client(
            URL,
            reconnect=no_jitter(),
            heartbeat_interval=10.0,
            heartbeat_timeout=2.0,
            connect_stream=server.connect,
        ) as client:
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


@pytest.mark.parametrize(
    ("drop", "kept", "dropped"),
    [
        (DropPolicy.OLDEST, [1, 2], 1),
        (DropPolicy.NEWEST, [0, 1], 1),
    ],
)
async def test_send_buffer_overflow_follows_the_drop_policy(
    nursery: trio.Nursery,
    autojump_clock: trio.testing.MockClock,
    drop: DropPolicy,
    kept: list[int],
    dropped: int,
) -> None:
    server = MemoryServer.echoing(nursery)
    server.refuse = True
    with capture_logs():
        async with open_ws_client(
            URL,
            reconnect=no_jitter(),
            heartbeat_interval=None,
            send_buffer=2,
            send_drop=drop,
            connect_stream=server.connect,
        ) as client:
            for i in range(3):
                await client.send("n", i)
            assert client.stats.dropped == dropped
            assert client.stats.buffered == 2
            server.refuse = False
            got = [(await client.receive()).data for _ in range(2)]
    assert got == kept


async def test_send_buffer_overflow_reject_raises_queue_full(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server = MemoryServer(nursery, _never)
    server.refuse = True
    with capture_logs():
        async with open_ws_client(
            URL,
            reconnect=no_jitter(max_attempts=None),
            heartbeat_interval=None,
            send_buffer=2,
            send_drop=DropPolicy.REJECT,
            connect_stream=server.connect,
        ) as client:
            await client.send("n", 0)
            await client.send("n", 1)
            with pytest.raises(QueueFull):
                await client.send("n", 2)
            assert client.stats.rejected == 1
            assert client.stats.buffered == 2
            client_ref = client
    assert client_ref.stats.unsent == 2


async def test_send_buffer_overflow_block_waits_for_room(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server = MemoryServer.echoing(nursery)
    server.refuse = True
    with capture_logs():
        async with open_ws_client(
            URL,
            reconnect=no_jitter(),
            heartbeat_interval=None,
            send_buffer=1,
            connect_stream=server.connect,
        ) as client:
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
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server = MemoryServer(nursery, _never)
    server.refuse = True
    with capture_logs(), trio.CancelScope() as scope:
        async with open_ws_client(
            URL, reconnect=no_jitter(), connect_stream=server.connect
        ) as client:
            await trio.sleep(1.5)  # attempts at 0 and 1; backing off for 2 s now
            scope.cancel()
    assert trio.current_time() == 1.5
    assert server.connect_times == [0.0, 1.0]
    assert client.state is ConnectionState.CLOSED


async def test_cancel_during_send_exits_at_once(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server = MemoryServer(nursery, _never)
    server.refuse = True
    with capture_logs(), trio.CancelScope() as scope:
        async with open_ws_client(
            URL, reconnect=no_jitter(), send_buffer=1, connect_stream=server.connect
        ) as client:
            await client.send("n", 0)
            nursery.start_soon(_cancel_when_blocked, scope)
            await client.send("n", 1)  # the buffer is full: blocks until cancelled
    assert trio.current_time() == 0.0
    assert client.state is ConnectionState.CLOSED
    assert client.stats.unsent == 1
    assert trio.lowlevel.current_task().child_nurseries == [nursery]


async def test_cancelling_the_block_closes_the_socket_at_once(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
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

    server = MemoryServer(nursery, accept_and_wait)
    with trio.CancelScope() as scope:
        async with open_ws_client(URL, connect_stream=server.connect) as client:
            await client.wait_open()
            scope.cancel()
            await trio.sleep_forever()
    assert client.state is ConnectionState.CLOSED
    await ended.wait()
    assert closes == [1006]  # no closing handshake: the stream was closed
    assert trio.current_time() == 0.0


async def _cancel_when_blocked(scope: trio.CancelScope) -> None:
    await trio.testing.wait_all_tasks_blocked()
    scope.cancel()


async def test_fatal_close_code_is_not_retried(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    from trio_orch import FatalCloseCode

    async def policy_violation(peer: Peer) -> None:
        ws = await peer.accept()
        await ws.aclose(1008, "go away")

    server = MemoryServer(nursery, policy_violation)
    with capture_logs(), pytest.raises(FatalCloseCode) as info:  # noqa: PT012 - the error comes out of the async with
        async with open_ws_client(URL, connect_stream=server.connect) as client:
            async for _ in client:
                pass
    assert info.value.code == 1008
    assert info.value.reason == "go away"
    assert str(info.value) == (
        "WebSocket connection to 'ws://example.test/ws' lost: "
        "the server closed the connection with fatal code 1008 ('go away')"
    )
    assert len(server.connect_times) == 1


async def test_a_close_code_not_marked_fatal_reconnects(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def close_going_away(peer: Peer) -> None:
        ws = await peer.accept()
        if peer.number == 1:
            await ws.aclose(1001)
        await trio.sleep_forever()

    server = MemoryServer(nursery, close_going_away)
    with capture_logs():
        async with open_ws_client(
            URL, reconnect=no_jitter(), heartbeat_interval=None, connect_stream=server.connect
        ) as client:
            await server.wait_connects(2)
            await client.wait_open()
    assert server.connect_times == [0.0, 1.0]


async def test_server_that_closes_during_the_handshake_is_retried(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def hang_up(peer: Peer) -> None:
        if peer.number == 1:
            await peer.drop()
            return
        await peer.accept()
        await trio.sleep_forever()

    server = MemoryServer(nursery, hang_up)
    with capture_logs() as logs:
        async with open_ws_client(
            URL, reconnect=no_jitter(), heartbeat_interval=None, connect_stream=server.connect
        ) as client:
            await client.wait_open()
    assert server.connect_times == [0.0, 1.0]
    failed = [e for e in logs if e["event"] == "trio_orch.ws.connection_failed"]
    assert "ConnectionAbortedError" in failed[0]["error"]


async def test_handshake_that_never_answers_times_out(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def silent(peer: Peer) -> None:
        if peer.number == 1:
            await trio.sleep_forever()
        await peer.accept()
        await trio.sleep_forever()

    server = MemoryServer(nursery, silent)
    with capture_logs():
        async with open_ws_client(
            URL,
            reconnect=no_jitter(),
            heartbeat_interval=None,
            connect_timeout=4.0,
            connect_stream=server.connect,
        ) as client:
            await client.wait_open()
    assert server.connect_times == [0.0, 5.0]


async def test_receive_drop_oldest_keeps_reading_and_counts_drops(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def flood(peer: Peer) -> None:
        ws = await peer.accept()
        for i in range(50):
            await ws.send_message(f'{{"t":"n","data":{i}}}')
        await trio.sleep_forever()

    server = MemoryServer(nursery, flood)
    with capture_logs():
        async with open_ws_client(
            URL,
            receive_buffer=2,
            receive_drop=DropPolicy.OLDEST,
            connect_stream=server.connect,
        ) as client:
            await trio.sleep(1)
            got = [(await client.receive()).data for _ in range(2)]
            stats = client.stats
    assert got == [48, 49]
    assert stats.received == 50
    assert stats.received_dropped == 48


async def test_graceful_exit_waits_for_the_reconnect_to_flush(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server = MemoryServer.echoing(nursery)
    server.refuse = True

    async def accept_later() -> None:
        await trio.sleep(2.5)
        server.refuse = False

    nursery.start_soon(accept_later)
    with capture_logs():
        async with open_ws_client(
            URL, reconnect=no_jitter(), heartbeat_interval=None, connect_stream=server.connect
        ) as client:
            await client.send("n", 1)
            await client.send("n", 2)
    assert server.received == ['{"t":"n","data":1}', '{"t":"n","data":2}']
    assert server.connect_times == [0.0, 1.0, 3.0]
    assert trio.current_time() == 3.0
    assert client.stats.unsent == 0


async def test_graceful_exit_gives_up_after_close_timeout_and_counts_unsent(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    server = MemoryServer(nursery, _never)
    server.refuse = True
    with capture_logs() as logs:
        async with open_ws_client(
            URL,
            reconnect=no_jitter(max_attempts=None),
            close_timeout=5.0,
            connect_stream=server.connect,
        ) as client:
            await client.send("n", 1)
            await client.send("n", 2)
    assert trio.current_time() == 5.0
    assert client.stats.unsent == 2
    unsent = [e for e in logs if e["event"] == "trio_orch.ws.unsent_on_close"]
    assert unsent[0]["count"] == 2


async def test_messages_received_before_a_drop_reach_a_slow_reader(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def send_five_then_drop(peer: Peer) -> None:
        ws = await peer.accept()
        if peer.number == 1:
            for i in range(5):
                await ws.send_message(f'{{"t":"n","data":{i}}}')
            await peer.drop()
        await trio.sleep_forever()

    server = MemoryServer(nursery, send_five_then_drop)
    with capture_logs():
        async with open_ws_client(
            URL,
            reconnect=no_jitter(),
            heartbeat_interval=1.0,
            receive_buffer=1,
            connect_stream=server.connect,
        ) as client:
            await client.send("n", "x")  # the writer meets the dead connection too
            await trio.sleep(10)  # a slow application
            assert client.state is ConnectionState.OPEN  # not known dead until read
            got = [(await client.receive()).data for _ in range(5)]
            await server.wait_connects(2)
            await client.wait_open()
    assert got == [0, 1, 2, 3, 4]
    assert server.connect_times == [0.0, 10.0]  # dead connection noticed at t=10


async def test_a_bus_that_fails_to_emit_is_logged_not_fatal(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    class BrokenBus:
        def emit(self, event: object) -> None:
            raise RuntimeError("bus down")

    server = MemoryServer.echoing(nursery)
    with capture_logs() as logs:
        async with open_ws_client(URL, bus=BrokenBus(), connect_stream=server.connect) as client:
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


async def test_envelopes_that_cannot_be_buffered_at_close_are_counted(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
) -> None:
    async def flood(peer: Peer) -> None:
        ws = await peer.accept()
        for i in range(3):
            await ws.send_message(f'{{"t":"n","data":{i}}}')
        await trio.sleep_forever()

    server = MemoryServer(nursery, flood)
    with capture_logs() as logs:
        async with open_ws_client(URL, receive_buffer=1, connect_stream=server.connect) as client:
            await trio.sleep(1)
    assert client.stats.undelivered == 1  # waiting for room when the client closed
    assert [e.data async for e in client] == [0]  # what the buffer held is still readable
    assert any(e["event"] == "trio_orch.ws.undelivered_on_close" for e in logs)


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
        async with open_ws_client(
            URL, heartbeat_interval=None, connect_stream=server.connect
        ) as client:
            for t, data in messages:
                await client.send(t, data)
            got = [await client.receive() for _ in messages]
        nursery.cancel_scope.cancel()
    assert got == [Envelope(t, data) for t, data in messages]
    assert client.stats.untyped == len(messages)


async def test_graceful_exit_confirms_with_a_ping_and_does_the_closing_handshake(
    nursery: trio.Nursery, autojump_clock: trio.testing.MockClock
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

    server = MemoryServer(nursery, record_close)
    with capture_logs() as logs:
        async with open_ws_client(
            URL, heartbeat_interval=None, connect_stream=server.connect
        ) as client:
            for i in range(3):
                await client.send("n", i)
    await trio.testing.wait_all_tasks_blocked()
    assert closes == [(1000, "client closed")]
    assert client.stats.sent == 3
    assert client.stats.possibly_lost == 0  # the last ping confirmed all three
    assert not [e for e in logs if e["event"] == "trio_orch.ws.messages_possibly_lost"]
    assert trio.current_time() == 0.0


# --- a property: whatever happens to the connections, nothing is duplicated, reordered or
# lost without being reported ---------------------------------------------------------------

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
@given(actions=ACTIONS, heartbeat=st.sampled_from([None, 2.0]))
def test_delivery_is_ordered_once_and_every_loss_is_reported(
    actions: list[tuple[str, int]], heartbeat: float | None
) -> None:
    sent: list[int] = []
    outcome: dict[str, object] = {}

    async def scenario() -> None:
        async with trio.open_nursery() as nursery:
            server = MemoryServer.echoing(nursery)
            with capture_logs():
                async with open_ws_client(
                    URL,
                    reconnect=no_jitter(max_attempts=None, max_delay=2.0),
                    heartbeat_interval=heartbeat,
                    heartbeat_timeout=1.0,
                    close_timeout=30.0,
                    send_buffer=1000,
                    receive_buffer=1000,
                    connect_stream=server.connect,
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
    assert stats.unsent == 0  # the graceful close had time to reconnect and flush
    missing = len(sent) - len(received)
    assert missing <= stats.possibly_lost  # every message the server lacks was reported
    echoes = outcome["echoes"]
    assert isinstance(echoes, list)
    assert echoes == sorted(set(echoes))  # what came back: in order, never twice
    assert set(echoes) <= set(received)
