"""A reconnecting WebSocket client on trio-websocket, with typed JSON envelopes.

:func:`open_ws_client` checks its options into a :class:`~._ws_config.WebSocketConfig`,
opens a nursery and yields a :class:`WebSocketClient`, the user's handle.  The client is
three parts, each in its own module:

- the handle (here): ``send``, ``receive``, ``register``, ``wait_open``, ``aclose``, ``stats``;
  it only touches the shared buffers and state, never a socket;
- the supervisor (:mod:`._ws_supervisor`), one task in the client's nursery: connection
  attempts, backoff, reconnects, giving up, and the final accounting;
- the connection (:mod:`._ws_connection`): per open connection, a reader, a writer and a
  heartbeat in a per-connection nursery.

What they share (buffers, counters, the connection state) is :class:`~._ws_state._Shared`.
Sends always go through one bounded send buffer and one writer, so they go out in order and
once.  A message the writer took from the buffer but could not hand to the socket goes first
on the next connection; one that was (perhaps partly) written to a connection that then
ended unconfirmed is counted as possibly lost and never resent.
"""

from __future__ import annotations

import contextlib
import typing
from typing import TYPE_CHECKING, Any

import attrs
import trio

from trio_orch._groups import open_nursery_unwrapped
from trio_orch.engines._ws_config import WebSocketConfig
from trio_orch.engines._ws_policy import ConnectionState, ReconnectPolicy
from trio_orch.engines._ws_state import CLEANUP_TIMEOUT, WebSocketClientStats, _Shared
from trio_orch.engines._ws_supervisor import _Supervisor
from trio_orch.primitives import DropPolicy

if TYPE_CHECKING:
    import random
    import ssl
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

    import cattrs

    from trio_orch.engines._ws_config import EventSink
    from trio_orch.engines._ws_envelope import Envelope

__all__ = ["WebSocketClient", "WebSocketClientStats", "open_ws_client"]


@typing.final
@attrs.define(eq=False)
class WebSocketClient:
    """A reconnecting WebSocket client; get one from :func:`open_ws_client`.

    Iterate it (``async for envelope in client``) or call :meth:`receive` for incoming
    :class:`~trio_orch.Envelope` objects; :meth:`send` queues outgoing ones; :meth:`register`
    declares payload types.  See :func:`open_ws_client` for what survives a reconnect.
    """

    _shared: _Shared

    @property
    def url(self) -> str:
        """The URL this client connects to."""
        return self._shared.config.url

    @property
    def state(self) -> ConnectionState:
        """The current :class:`~trio_orch.ConnectionState`."""
        return self._shared.state

    @property
    def converter(self) -> cattrs.Converter:
        """The cattrs converter that (un)structures payloads."""
        return self._shared.codec.converter

    @property
    def stats(self) -> WebSocketClientStats:
        """A frozen snapshot of the client's counters (:class:`~trio_orch.WebSocketClientStats`)."""
        return self._shared.snapshot()

    def register(self, t: str, tp: Any) -> None:
        """Structure the ``data`` of incoming envelopes tagged ``t`` into ``tp`` with cattrs.

        ``tp`` is anything the converter structures: attrs classes, dataclasses, builtins,
        ``list[X]``, ... .  A message whose data does not fit is dropped, counted in
        ``stats.structure_errors`` and logged (``"trio_orch.ws.message_dropped"``, at once
        for the first, then at most once a second).

        Raises:
            TypeError: ``t`` is not a str.
            ValueError: ``t`` is empty or already registered to another type.
        """
        self._shared.codec.register(t, tp)

    async def send(self, t: str, data: Any = None) -> None:
        """Queue the envelope ``{"t": t, "data": unstructure(data)}`` for sending.

        It goes out in order with every other send, at once while OPEN, after the reconnect
        otherwise.  Returning means the message is in the send buffer, not that the server
        has it (see ``stats.possibly_lost``).  When the buffer is full the ``send_drop``
        policy applies: BLOCK waits for room, OLDEST/NEWEST drop (counted in
        ``stats.dropped``), REJECT raises.

        Raises:
            TypeError, ValueError: ``t`` is not a non-empty str, or ``data`` does not
                serialise to JSON (nothing is queued).
            trio_orch.QueueFull: the buffer is full under ``DropPolicy.REJECT``.
            trio_orch.ConnectionLost: the client gave up (also while waiting for room).
            trio.ClosedResourceError: the client was closed.

        Cancellation:
            Either the message is queued, or ``Cancelled`` is raised and nothing was queued.

        Checkpoints:
            Always a checkpoint when it returns.
        """
        shared = self._shared
        if shared.closing:
            self._raise_closed()
        text = shared.codec.encode(t, data)
        try:
            await shared.out_send.send(text)
        except trio.ClosedResourceError:
            if shared.closing:
                self._raise_closed()
            raise

    def send_nowait(self, t: str, data: Any = None) -> None:
        """Like :meth:`send`, but raise :class:`trio.WouldBlock` instead of waiting.

        Raises:
            trio.WouldBlock: the buffer is full under ``DropPolicy.BLOCK``.
            and everything :meth:`send` raises.
        """
        shared = self._shared
        if shared.closing:
            self._raise_closed()
        shared.out_send.send_nowait(shared.codec.encode(t, data))

    async def receive(self) -> Envelope:
        """Wait for the next incoming envelope.

        Envelopes received before a reconnect or before the client closed are delivered
        first.

        Raises:
            trio_orch.ConnectionLost: the client gave up (after the buffered envelopes).
            trio.EndOfChannel: the client was closed and every envelope was delivered.

        Cancellation:
            Either an envelope is returned, or ``Cancelled`` is raised and none was taken.

        Checkpoints:
            Always a checkpoint when it returns.
        """
        try:
            return await self._shared.in_recv.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            error = self._shared.error
            if error is not None:
                self._shared.error_seen = True
                raise error from error.__cause__
            raise trio.EndOfChannel from None

    def __aiter__(self) -> AsyncIterator[Envelope]:
        return self

    async def __anext__(self) -> Envelope:
        """The next envelope; the iteration ends when the client is closed.

        Raises:
            trio_orch.ConnectionLost: the client gave up.

        Cancellation and checkpoints: as :meth:`receive`.
        """
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    async def wait_open(self) -> None:
        """Wait until the client is OPEN (return at once if it is).

        Raises:
            trio_orch.ConnectionLost: the client gave up.
            trio.ClosedResourceError: the client was closed.

        Cancellation:
            Safe: nothing changes but that the wait ends.

        Checkpoints:
            Always a checkpoint when it returns.
        """
        shared = self._shared
        while shared.state is not ConnectionState.OPEN:
            if shared.state is ConnectionState.CLOSED:
                self._raise_closed()
            await shared.state_changed.wait()
        await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        """Close the client gracefully: flush the send buffer, ping, then the closing handshake.

        Waits at most ``close_timeout`` seconds in all (for a reconnect too, if messages
        are buffered), then closes the socket at once.  Whatever could not be written is
        counted in ``stats.unsent``; what was written but not confirmed (the last ping or
        the close got no answer in time) is counted in ``stats.possibly_lost``; both are
        logged.  Iteration ends once the received envelopes are delivered.  Idempotent.

        Cancellation:
            The client is then closed abruptly (the socket is closed at once, without the
            closing handshake); when ``aclose`` raises ``Cancelled`` the client is CLOSED
            all the same, and the accounting above is done.

        Checkpoints:
            Always a checkpoint.
        """
        shared = self._shared
        if shared.state is ConnectionState.CLOSED:
            await trio.lowlevel.checkpoint()
            return
        shared.closing = True
        shared.out_send.close()
        try:
            with trio.move_on_after(shared.config.close_timeout):
                if shared.state is not ConnectionState.OPEN and not shared.pending():
                    shared.cancel("websocket client closed")
                await shared.finished.wait()
        finally:
            shared.cancel("websocket client closed")
            # Cancelled or not, return only once the supervisor has done the final
            # accounting (it is being cancelled, so this is short; bounded regardless).
            with trio.CancelScope(shield=True) as cleanup:
                cleanup.deadline = trio.current_time() + CLEANUP_TIMEOUT
                await shared.finished.wait()
        await trio.lowlevel.checkpoint()

    def __repr__(self) -> str:
        return f"<WebSocketClient {self.url!r} {self.state.name}>"

    def _raise_closed(self) -> typing.NoReturn:
        error = self._shared.error
        if error is not None:
            self._shared.error_seen = True
            raise error from error.__cause__
        msg = f"the WebSocket client for {self.url!r} is closed"
        raise trio.ClosedResourceError(msg)


@contextlib.asynccontextmanager
async def open_ws_client(
    url: str,
    *,
    reconnect: ReconnectPolicy | None = None,
    heartbeat_interval: float | None = 30.0,
    heartbeat_timeout: float = 10.0,
    send_buffer: int = 100,
    send_drop: DropPolicy = DropPolicy.BLOCK,
    receive_buffer: int = 100,
    receive_drop: DropPolicy = DropPolicy.BLOCK,
    on_state_change: Callable[[ConnectionState], object] | None = None,
    bus: EventSink | None = None,
    converter: cattrs.Converter | None = None,
    connect_timeout: float = 10.0,
    close_timeout: float = 5.0,
    ssl_context: ssl.SSLContext | None = None,
    subprotocols: Iterable[str] = (),
    extra_headers: Iterable[tuple[bytes, bytes]] = (),
    max_message_size: int = 2**20,
    connect_stream: Callable[[], Awaitable[trio.abc.Stream]] | None = None,
    rng: random.Random | None = None,
) -> AsyncIterator[WebSocketClient]:
    """Open a reconnecting WebSocket client that speaks JSON envelopes ``{"t", "data"}``.

    ``async with open_ws_client(url) as client:`` returns at once, with the client
    CONNECTING; the first connection is made in the client's own nursery (use
    :meth:`WebSocketClient.wait_open` to wait for it).  Connections that fail or die are
    replaced according to ``reconnect``; when it gives up, the client closes and
    iteration, :meth:`~WebSocketClient.receive`, :meth:`~WebSocketClient.send` and
    :meth:`~WebSocketClient.wait_open` raise :class:`~trio_orch.ConnectionLost` (or its
    subclasses :class:`~trio_orch.HandshakeRejected`, :class:`~trio_orch.FatalCloseCode`).
    If nothing observed that error, leaving the ``async with`` block raises it.

    What survives a reconnect: sends buffered while not OPEN go out in order, once, on
    the next connection; envelopes already received are delivered; registered types stay.
    Messages written to a connection that then ended unconfirmed are counted in
    ``stats.possibly_lost`` (never resent, never claimed delivered), however it ended:
    the connection died, the close went unanswered, or the block was cancelled.

    Args:
        url: a ``ws://`` or ``wss://`` URL.
        reconnect: the :class:`~trio_orch.ReconnectPolicy` (default ``ReconnectPolicy()``).
        heartbeat_interval: seconds between pings; ``None`` disables the heartbeat.
        heartbeat_timeout: a pong missing this long declares the connection dead.
        send_buffer: the send buffer's capacity (``int >= 0``).
        send_drop: the :class:`~trio_orch.DropPolicy` of a full send buffer.
        receive_buffer: how many received envelopes wait for the application (``>= 1``).
        receive_drop: the :class:`~trio_orch.DropPolicy` of a full receive buffer: ``BLOCK``
            (default) pauses reading the socket until the application catches up (the
            heartbeat then waits rather than declaring the connection dead); ``OLDEST``
            or ``NEWEST`` keep reading and drop envelopes (``stats.received_dropped``),
            for applications that do not read everything.  ``REJECT`` is refused.
        on_state_change: a sync callable, called inline with the new
            :class:`~trio_orch.ConnectionState` on every state change (the first is
            ``CONNECTING``, as the block is entered); exceptions it raises are logged and
            ignored.  For the previous state, the attempt and the error, or for async
            handlers, subscribe to :class:`~trio_orch.ConnectionStateChanged` on ``bus=``.
        bus: an event bus (anything with ``emit(event)``, such as
            :func:`~trio_orch.open_event_bus`'s) for the client's
            :class:`~trio_orch.WebSocketEvent` events.
        converter: the cattrs converter (default: cattrs' JSON preset converter).
        connect_timeout: seconds allowed for opening the socket and the handshake; an
            attempt that takes longer fails with :class:`trio.TooSlowError` (retryable).
        close_timeout: seconds allowed for the graceful close when the block ends.
        ssl_context: the TLS context for ``wss://`` (default: the system's).
        subprotocols: WebSocket subprotocols to offer.
        extra_headers: extra HTTP headers for the handshake, as ``(bytes, bytes)`` pairs.
        max_message_size: larger incoming messages close the connection (code 1009).
        connect_stream: an async callable returning a connected ``trio.abc.Stream`` to use
            instead of opening TCP to the URL's host (proxies, tests); the URL still gives
            the Host header and the resource.
        rng: the random source for the backoff jitter.

    Yields:
        The :class:`WebSocketClient`.

    Raises:
        TypeError, ValueError: a bad argument (before anything starts).
        trio_orch.ConnectionLost: the client gave up and nothing observed it.

    Cancellation:
        Leaving the block by an exception or cancellation closes the socket at once
        (no closing handshake); leaving it normally closes gracefully (flush, then the
        closing handshake, within ``close_timeout``).  Either way the counters are final
        when the block has ended, and no task outlives the block.
    """
    config = WebSocketConfig(
        url=url,
        reconnect=ReconnectPolicy() if reconnect is None else reconnect,
        heartbeat_interval=heartbeat_interval,
        heartbeat_timeout=heartbeat_timeout,
        send_buffer=send_buffer,
        send_drop=send_drop,
        receive_buffer=receive_buffer,
        receive_drop=receive_drop,
        on_state_change=on_state_change,
        bus=bus,
        converter=converter,
        connect_timeout=connect_timeout,
        close_timeout=close_timeout,
        ssl_context=ssl_context,
        subprotocols=subprotocols,
        extra_headers=extra_headers,
        max_message_size=max_message_size,
        connect_stream=connect_stream,
        rng=rng,
    )
    shared = _Shared.create(config)
    client = WebSocketClient(shared)
    supervisor = _Supervisor(shared)
    async with open_nursery_unwrapped(f"open_ws_client({url!r})") as nursery:
        shared.block = nursery.cancel_scope
        shared.set_state(ConnectionState.CONNECTING)
        nursery.start_soon(supervisor.run)
        try:
            yield client
        except BaseException:
            shared.closing = True
            shared.cancel("websocket client block raised")
            raise
        await client.aclose()
    error = shared.error
    if error is not None and not shared.error_seen:
        shared.error_seen = True
        raise error from error.__cause__
