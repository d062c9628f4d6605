"""One WebSocket connection of the client, and the client's counters.

:class:`_GuardStream` sits under trio-websocket: it counts writes (to tell whether a message
reached the transport) and turns a peer that hangs up mid-handshake into an ``OSError``.
:class:`_Connection` records what happened to one open connection; :class:`_Outcome` is
what the supervisor learns from one attempt.  :class:`WebSocketClientStats` is the public
snapshot of :class:`_Counters`.
"""

from __future__ import annotations

import typing
import urllib.parse

import attrs
import trio

from trio_orch.engines._ws_policy import ConnectionState  # noqa: TC001 - attrs field type

if typing.TYPE_CHECKING:
    import trio_websocket


@typing.final
@attrs.frozen
class WebSocketClientStats:
    """A snapshot of a :class:`WebSocketClient`'s counters (``client.stats``).

    Attributes:
        state: the connection state.
        attempts: connection attempts made, in all.
        connects: connections that opened, in all.
        received: messages received (well-formed or not).
        untyped: envelopes delivered with raw JSON data (their ``t`` has no registered type).
        invalid_json: messages dropped because they were not JSON.
        missing_type: messages dropped because they had no string ``"t"``.
        structure_errors: messages dropped because ``data`` did not structure.
        sent: messages written to a socket.
        buffered: messages waiting in the send buffer.
        dropped: messages the send buffer's DropPolicy dropped (OLDEST, NEWEST).
        rejected: sends refused by a full ``DropPolicy.REJECT`` buffer.
        possibly_lost: messages written to a connection that died before confirming them.
        unsent: messages still buffered when the client closed (never written).
        heartbeat_timeouts: connections declared dead because a pong did not come.
        received_dropped: received envelopes the receive buffer's DropPolicy dropped.
        undelivered: received envelopes lost because the client was closing and the
            receive buffer was full.
    """

    state: ConnectionState
    attempts: int
    connects: int
    received: int
    untyped: int
    invalid_json: int
    missing_type: int
    structure_errors: int
    sent: int
    buffered: int
    dropped: int
    rejected: int
    possibly_lost: int
    unsent: int
    heartbeat_timeouts: int
    received_dropped: int
    undelivered: int


@attrs.define
class _Counters:
    attempts: int = 0
    connects: int = 0
    received: int = 0
    untyped: int = 0
    invalid_json: int = 0
    missing_type: int = 0
    structure_errors: int = 0
    sent: int = 0
    possibly_lost: int = 0
    unsent: int = 0
    heartbeat_timeouts: int = 0
    undelivered: int = 0


@attrs.define(eq=False)
class _GuardStream(trio.abc.Stream):
    """The transport under trio-websocket: it counts writes and fails a dying handshake.

    trio-websocket waits for the handshake forever if the peer closes the stream before
    answering; while ``handshaking`` this wrapper turns that EOF (or a broken stream) into
    an ``OSError``, which ends the attempt at once.  ``writes`` tells whether a message reached the transport.
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


@attrs.define(eq=False)
class _Connection:
    """One open connection and what happened to it."""

    ws: trio_websocket.WebSocketConnection
    guard: _GuardStream
    scope: trio.CancelScope
    opened_at: float
    written: int = 0
    confirmed: int = 0
    partial: int = 0
    reader_blocked: bool = False
    closing_by_us: bool = False
    closed_cleanly: bool = False
    error: BaseException | None = None
    ended: bool = False

    def end(self, error: BaseException | None = None) -> None:
        if not self.ended:
            self.ended = True
            self.error = error
        self.scope.cancel(reason="websocket connection ended")


@attrs.frozen
class _Outcome:
    opened: bool
    healthy: bool
    closed_by_us: bool
    error: BaseException | None


def _parse_url(url: object) -> tuple[str, int, str, bool]:
    if not isinstance(url, str):
        msg = f"url must be a str, got {url!r}"
        raise TypeError(msg)
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        msg = f"url must be a ws:// or wss:// URL with a host, got {url!r}"
        raise ValueError(msg)
    secure = parts.scheme == "wss"
    try:
        port = parts.port or (443 if secure else 80)
    except ValueError:
        msg = f"url must be a ws:// or wss:// URL with a host, got {url!r}"
        raise ValueError(msg) from None
    resource = parts.path or "/"
    if parts.query:
        resource += "?" + parts.query
    return parts.hostname, port, resource, secure
