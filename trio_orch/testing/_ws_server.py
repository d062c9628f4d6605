"""A local WebSocket server with switchable faults, for examples and tests.

``async with open_ws_test_server() as server:`` serves trio-websocket on 127.0.0.1 (a free
port unless one is given) and echoes every message.  Flip its attributes to make it
misbehave: refuse handshakes with a status, close right after accepting, drop the TCP
connection after N messages, stop answering (stalled pongs: a half-open connection), or
stop and restart on the same port.
"""

from __future__ import annotations

import functools
import socket
import struct
import typing
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING

import attrs
import trio
import trio_websocket

from trio_orch._groups import open_nursery_unwrapped
from trio_orch._validate import check_instance, check_int

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

#: The bound on closing a connection's socket in a cleanup path (it never waits for the peer).
_CLEANUP_TIMEOUT = 1.0


@attrs.define(eq=False)
class _StallableStream(trio.abc.Stream):
    """Holds received bytes back while the server is stalled, so nothing is answered."""

    inner: trio.SocketStream
    server: WebSocketTestServer

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        data = await self.inner.receive_some(max_bytes)
        while self.server.stall_pongs:
            await self.server._unstalled.wait()
        return data

    async def aclose(self) -> None:
        await self.inner.aclose()


@attrs.define(eq=False)
class _ServerConnection:
    stream: trio.SocketStream
    scope: trio.CancelScope
    ws: trio_websocket.WebSocketConnection | None = None

    async def drop(self) -> None:
        """Reset the TCP connection (RST, no closing handshake) and stop its tasks."""
        with suppress(OSError):  # the socket may already be gone
            self.stream.socket.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
        self.scope.cancel(reason="test server dropped the connection")
        await trio.aclose_forcefully(self.stream)


@typing.final
@attrs.define(eq=False)
class WebSocketTestServer:
    """A trio-websocket server on 127.0.0.1 that echoes, with faults you switch on and off.

    Behaviour (change it at any time; it applies from the next handshake or message):

    Attributes:
        echo: send every received message back (default True).
        reject_status: refuse handshakes with this HTTP status (``None``: accept).
        close_on_accept: close every connection with this close code right after
            accepting it (``None``: keep it open).
        drop_after: reset the TCP connection (RST, no closing handshake) when a
            connection has received this many messages, before echoing the last one.
        stall_pongs: while True, received bytes are held back unprocessed: no pong, no
            echo, no close reply — what a half-open connection looks like to the client.

    Observation:

    Attributes:
        port: the port it listens on (kept across :meth:`stop`/:meth:`start`).
        handshakes: handshake requests seen.
        accepted: connections accepted.
        received: every message received, in order.
    """

    port: int = 0
    path: str = "/ws"
    echo: bool = True
    reject_status: int | None = None
    close_on_accept: int | None = None
    drop_after: int | None = None
    handshakes: int = 0
    accepted: int = 0
    received: list[str | bytes] = attrs.Factory(list)
    _stall: bool = False
    _unstalled: trio.Event = attrs.Factory(trio.Event)
    _changed: trio.Event = attrs.Factory(trio.Event)
    _nursery: trio.Nursery | None = None
    _serve_scope: trio.CancelScope | None = None
    _stopped: trio.Event | None = None
    _connections: set[_ServerConnection] = attrs.Factory(set)

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:<port><path>``."""
        return f"ws://127.0.0.1:{self.port}{self.path}"

    @property
    def stall_pongs(self) -> bool:
        """Whether received bytes are held back (see the class docstring)."""
        return self._stall

    @stall_pongs.setter
    def stall_pongs(self, value: bool) -> None:
        self._stall = value
        if not value:
            self._unstalled.set()
            self._unstalled = trio.Event()

    @property
    def connections(self) -> int:
        """Connections open now."""
        return sum(1 for c in self._connections if c.ws is not None)

    async def wait_accepted(self, n: int) -> None:
        """Wait until ``n`` connections were accepted in all."""
        await self._wait(lambda: self.accepted >= n)

    async def wait_handshakes(self, n: int) -> None:
        """Wait until ``n`` handshake requests were seen in all."""
        await self._wait(lambda: self.handshakes >= n)

    async def wait_received(self, n: int) -> None:
        """Wait until ``n`` messages were received in all."""
        await self._wait(lambda: len(self.received) >= n)

    async def send_to_all(self, message: str | bytes) -> None:
        """Send ``message`` on every open connection (e.g. garbage, to test a client)."""
        for conn in list(self._connections):
            if conn.ws is not None:
                with suppress(trio_websocket.ConnectionClosed):
                    await conn.ws.send_message(message)
        await trio.lowlevel.checkpoint()

    async def close_all(self, code: int = 1000, reason: str | None = None) -> None:
        """Close every open connection with a closing handshake and ``code``."""
        for conn in list(self._connections):
            if conn.ws is not None:
                with trio.move_on_after(1):
                    await conn.ws.aclose(code, reason)
        await trio.lowlevel.checkpoint()

    async def drop_all(self) -> None:
        """Reset every connection's TCP stream at once (no closing handshake)."""
        for conn in list(self._connections):
            await conn.drop()
        await trio.lowlevel.checkpoint()

    async def stop(self) -> None:
        """Stop listening and reset every connection, as if the server process died."""
        if self._serve_scope is not None and self._stopped is not None:
            self._serve_scope.cancel(reason="test server stopped")
            await self._stopped.wait()
        await self.drop_all()

    async def start(self) -> None:
        """Listen (again) on :attr:`port`; 0 picks a free port the first time."""
        if self._nursery is None:
            msg = "start the server with open_ws_test_server()"
            raise RuntimeError(msg)
        listeners = await trio.open_tcp_listeners(self.port, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        await self._nursery.start(self._serve, listeners)

    async def _serve(
        self,
        listeners: list[trio.SocketListener],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        self._stopped = stopped = trio.Event()
        try:
            with trio.CancelScope() as scope:
                self._serve_scope = scope
                async with trio.open_nursery() as nursery:
                    serve = functools.partial(
                        trio.serve_listeners, self._handle, listeners, handler_nursery=nursery
                    )
                    await nursery.start(serve)
                    task_status.started()
        finally:
            stopped.set()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def _wait(self, ready: Callable[[], bool]) -> None:
        while not ready():
            await self._changed.wait()
        await trio.lowlevel.checkpoint()

    async def _handle(self, stream: trio.SocketStream) -> None:
        async with trio.open_nursery() as nursery:
            conn = _ServerConnection(stream, nursery.cancel_scope)
            self._connections.add(conn)
            try:
                await self._converse(conn, nursery)
            except trio_websocket.ConnectionClosed:
                pass
            finally:
                self._connections.discard(conn)
                nursery.cancel_scope.cancel(reason="test server connection finished")
                try:
                    with trio.CancelScope(shield=True) as cleanup:
                        cleanup.deadline = trio.current_time() + _CLEANUP_TIMEOUT
                        await trio.aclose_forcefully(stream)
                finally:
                    self._notify()

    async def _converse(self, conn: _ServerConnection, nursery: trio.Nursery) -> None:
        wrapped = _StallableStream(conn.stream, self)
        request = await trio_websocket.wrap_server_stream(nursery, wrapped)
        self.handshakes += 1
        self._notify()
        if self.reject_status is not None:
            await request.reject(self.reject_status)
            return
        ws = await request.accept()
        conn.ws = ws
        self.accepted += 1
        self._notify()
        if self.close_on_accept is not None:
            with trio.move_on_after(1):
                await ws.aclose(self.close_on_accept)
            return
        count = 0
        while True:
            message = await ws.get_message()
            count += 1
            self.received.append(message)
            self._notify()
            if self.drop_after is not None and count >= self.drop_after:
                await conn.drop()
                return
            if self.echo:
                await ws.send_message(message)


@asynccontextmanager
async def open_ws_test_server(
    *, port: int = 0, path: str = "/ws"
) -> AsyncIterator[WebSocketTestServer]:
    """Serve a :class:`WebSocketTestServer` on 127.0.0.1 for the duration of the block.

    Args:
        port: the port to listen on; 0 (default) picks a free one.
        path: the path its :attr:`~WebSocketTestServer.url` names (any path is served).

    Raises:
        TypeError: ``port`` is not an int or ``path`` not a str.
        ValueError: ``port`` is not in 0..65535 or ``path`` does not start with ``/``.
        OSError: the port cannot be listened on.

    Cancellation:
        Leaving the block stops the server and resets its connections.  An error raised in
        the body propagates as itself, never wrapped in an ``ExceptionGroup``.
    """
    _check_server_args(port, path)
    server = WebSocketTestServer(port=port, path=path)
    async with open_nursery_unwrapped("open_ws_test_server()") as nursery:
        server._nursery = nursery
        await server.start()
        try:
            yield server
        finally:
            nursery.cancel_scope.cancel(reason="test server closed")


def _check_server_args(port: object, path: object) -> None:
    if check_int("port", port, minimum=0) > 65535:
        msg = f"port must be in 0..65535, got {port!r}"
        raise ValueError(msg)
    if not check_instance("path", path, str, "a str").startswith("/"):
        msg = f"path must start with '/', got {path!r}"
        raise ValueError(msg)
