"""One open connection of the WebSocket client: its reader, writer and heartbeat.

:func:`_handshake` turns a connected stream into a trio-websocket connection;
:class:`_Connection` then runs three tasks on it, in the per-connection nursery that the
supervisor owns:

- the **reader** takes messages from the socket, decodes them and delivers the envelopes to
  the receive buffer (first those a previous connection's end interrupted);
- the **writer** takes messages from the send buffer (first those carried over) and writes
  them, one at a time, in order; when the send buffer is closed it does the graceful close;
- the **heartbeat** pings every ``heartbeat_interval`` and declares the connection dead when
  no pong comes within ``heartbeat_timeout``.

Whichever notices the end of the connection calls :meth:`_Connection.end`, which cancels
the other two.  The connection also keeps the delivery accounting: a message is *written*
once ``send_message`` returned, *confirmed* once the pong of a later ping arrived, and
*partial* if the connection died while it was being handed to the transport.
:attr:`_Connection.unconfirmed` is what the supervisor reports as possibly lost when the
connection ends, however it ends.

:class:`_GuardStream` sits under trio-websocket: it counts writes (to tell whether a message
reached the transport) and turns a peer that hangs up mid-handshake into an ``OSError``.
"""

from __future__ import annotations

import typing

import attrs
import trio
import trio_websocket

from trio_orch.engines._ws_envelope import DecodeFailure

if typing.TYPE_CHECKING:
    from trio_orch.engines._ws_config import WebSocketConfig
    from trio_orch.engines._ws_state import _Shared

#: trio-websocket's queue between its socket reader and get_message; larger than its
#: default of 1 so the reader does not stop at every message.
_WS_QUEUE = 64


@attrs.define(eq=False)
class _GuardStream(trio.abc.Stream):
    """The transport under trio-websocket: it counts writes and fails a dying handshake.

    trio-websocket waits for the handshake forever if the peer closes the stream before
    answering; while ``handshaking`` this wrapper turns that EOF (or a broken stream) into
    an ``OSError``, which ends the attempt at once.  ``writes`` tells whether a message
    reached the transport.
    """

    inner: trio.abc.Stream
    handshaking: bool = True
    writes: int = 0

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self.writes += 1
        try:
            await self.inner.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            if self.handshaking:
                msg = "the connection broke during the WebSocket handshake"
                raise ConnectionAbortedError(msg) from exc
            raise

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        try:
            data = await self.inner.receive_some(max_bytes)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            if self.handshaking:
                msg = "the connection broke during the WebSocket handshake"
                raise ConnectionAbortedError(msg) from exc
            raise
        if not data and self.handshaking:
            msg = "the server closed the connection during the WebSocket handshake"
            raise ConnectionAbortedError(msg)
        return data

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _handshake(
    nursery: trio.Nursery, guard: _GuardStream, config: WebSocketConfig
) -> trio_websocket.WebSocketConnection:
    """Do the opening handshake over ``guard``; trio-websocket's reader runs in ``nursery``."""
    ws = await trio_websocket.wrap_client_stream(
        nursery,
        guard,  # type: ignore[arg-type]  # any trio Stream works
        config.host_header,
        config.resource,
        subprotocols=config.subprotocols,
        extra_headers=list(config.extra_headers),
        message_queue_size=_WS_QUEUE,
        max_message_size=config.max_message_size,
    )
    guard.handshaking = False
    return ws


@attrs.define(eq=False)
class _Connection:
    """One open connection, its three tasks, and what happened to it.

    Args:
        shared: the client's shared state (buffers, counters).
        ws: the open trio-websocket connection.
        guard: the stream under it.
        scope: the cancel scope of the per-connection nursery; :meth:`end` cancels it.
        opened_at: when the handshake completed (``trio.current_time()``).
    """

    shared: _Shared
    ws: trio_websocket.WebSocketConnection
    guard: _GuardStream
    scope: trio.CancelScope
    opened_at: float
    #: Messages ``send_message`` returned for.
    written: int = 0
    #: Of those, how many the pong of a later ping confirmed.
    confirmed: int = 0
    #: Messages that were (perhaps partly) handed to the transport when it failed.
    partial: int = 0
    #: The reader waits for room in the receive buffer (so no pong can be read).
    reader_blocked: bool = False
    #: The writer started the graceful close.
    closing_by_us: bool = False
    #: The closing handshake completed.
    closed_cleanly: bool = False
    #: Why the connection ended (``None``: a clean end, or not ended yet).
    error: BaseException | None = None
    ended: bool = False

    @property
    def unconfirmed(self) -> int:
        """Messages written (or partly written) to this connection and never confirmed."""
        return self.written - self.confirmed + self.partial

    def start(self, nursery: trio.Nursery) -> None:
        """Start the reader, the writer and (if configured) the heartbeat in ``nursery``."""
        nursery.start_soon(self._read)
        nursery.start_soon(self._write)
        interval = self.shared.config.heartbeat_interval
        if interval is not None:
            nursery.start_soon(self._heartbeat, interval)

    def end(self, error: BaseException | None = None) -> None:
        """End the connection (the first call records ``error``): cancel its tasks."""
        if not self.ended:
            self.ended = True
            self.error = error
        self.scope.cancel(reason="websocket connection ended")

    # --- the reader -----------------------------------------------------------------------

    async def _read(self) -> None:
        ws = self.ws
        shared = self.shared
        decode = shared.codec.decode
        registered = shared.codec.registered
        counters = shared.counters
        deliver = shared.in_send
        stash = shared.stash
        # Envelopes whose delivery an earlier connection's end interrupted go first.
        while stash:
            self.reader_blocked = True
            await deliver.send(stash[0])
            stash.popleft()
        self.reader_blocked = False
        while True:
            try:
                message = await ws.get_message()
            except trio_websocket.ConnectionClosed as exc:
                if not self.closing_by_us:  # else the writer finishes the closing handshake
                    self.end(exc)
                await trio.lowlevel.checkpoint()
                return
            counters.received += 1
            item = decode(message)
            if isinstance(item, DecodeFailure):
                shared.bad_message(item)
                continue
            if registered(item.t) is None:
                counters.untyped += 1
            try:
                deliver.send_nowait(item)
            except trio.WouldBlock:
                if shared.closing:
                    # Nobody will make room any more; keep reading for the close reply.
                    counters.undelivered += 1
                    continue
                # Parked in the stash while we wait, so that if the connection ends
                # meanwhile the envelope is delivered by the next reader, in order.
                stash.append(item)
                self.reader_blocked = True
                await deliver.send(item)
                stash.pop()
                self.reader_blocked = False

    # --- the writer -----------------------------------------------------------------------

    async def _write(self) -> None:
        ws, guard = self.ws, self.guard
        shared = self.shared
        carry, receive, counters = shared.carry, shared.out_recv.receive, shared.counters
        while True:
            if carry:
                text = carry.popleft()
            else:
                try:
                    text = await receive()
                except trio.EndOfChannel:
                    await self._close_gracefully()
                    return
            if ws.closed is not None:
                # Closing: the reader ends the connection once it has taken every message
                # trio-websocket still holds, so nothing received is lost.
                carry.appendleft(text)
                await trio.lowlevel.checkpoint()
                return
            writes = guard.writes
            try:
                await ws.send_message(text)
            except trio_websocket.ConnectionClosed:
                self._unsent(text, handed=guard.writes != writes)
                await trio.lowlevel.checkpoint()
                return
            except BaseException:
                self._unsent(text, handed=guard.writes != writes)
                raise
            self.written += 1
            counters.sent += 1

    def _unsent(self, text: str, *, handed: bool) -> None:
        """A write failed: count it as partial if it reached the transport, else carry it."""
        if handed:
            self.partial += 1
        else:
            self.shared.carry.appendleft(text)

    async def _close_gracefully(self) -> None:
        """Confirm what was written with a last ping, then do the closing handshake.

        The ping waits at most ``heartbeat_timeout``; the closing handshake has no bound of
        its own.  Both are within the client's ``close_timeout``, which cancels the
        connection if the peer does not answer; the supervisor then counts what was not
        confirmed as possibly lost.
        """
        self.closing_by_us = True
        if self.written > self.confirmed:
            mark = self.written
            with trio.move_on_after(self.shared.config.heartbeat_timeout):
                try:
                    await self.ws.ping()
                except trio_websocket.ConnectionClosed:
                    pass
                else:
                    self.confirmed = mark
        await self.ws.aclose(1000, "client closed")
        self.closed_cleanly = True
        self.end()

    # --- the heartbeat --------------------------------------------------------------------

    async def _heartbeat(self, interval: float) -> None:
        ws = self.ws
        shared = self.shared
        timeout = shared.config.heartbeat_timeout
        while True:
            await trio.sleep(interval)
            mark = self.written
            with trio.move_on_after(timeout) as scope:
                try:
                    await ws.ping()
                except trio_websocket.ConnectionClosed:
                    return  # the reader ends the connection after the last message
            if not scope.cancelled_caught:
                self.confirmed = max(self.confirmed, mark)
                continue
            if self.reader_blocked:
                # Our reader is waiting for the application to take envelopes, so nothing
                # reads the socket and no pong can arrive: that is backpressure, not death.
                continue
            shared.counters.heartbeat_timeouts += 1
            msg = f"no pong within {timeout}s: the connection is presumed dead"
            self.end(trio.TooSlowError(msg))
            return
