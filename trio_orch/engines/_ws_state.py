"""What the WebSocket client's parts share: buffers, counters and the connection state.

A client is three parts (see :mod:`trio_orch.engines._ws_client`): the user's handle
(:class:`~trio_orch.WebSocketClient`), one supervisor (the reconnect loop) and, per open
connection, a reader, a writer and a heartbeat.  :class:`_Shared` is everything that outlives
a single connection and that more than one part reads or writes: the send and receive
buffers, the messages carried over between connections, the counters behind
:class:`WebSocketClientStats`, and the :class:`~trio_orch.ConnectionState` machine with the
events and callback it drives.  It has no tasks of its own and never blocks.

This module does not import trio-websocket.
"""

from __future__ import annotations

import collections
import typing

import attrs
import trio

from trio_orch._log import DropLogger, get_logger
from trio_orch.engines._ws_envelope import DecodeProblem, Envelope, EnvelopeCodec
from trio_orch.engines._ws_events import (
    ConnectionFailed,
    ConnectionStateChanged,
    MessagesPossiblyLost,
    WebSocketEvent,
)
from trio_orch.engines._ws_policy import ConnectionState
from trio_orch.primitives import open_bounded_channel

if typing.TYPE_CHECKING:
    from trio_orch._exceptions import ConnectionLost
    from trio_orch._log import Logger
    from trio_orch.engines._ws_config import WebSocketConfig
    from trio_orch.engines._ws_envelope import DecodeFailure
    from trio_orch.primitives import BoundedReceiveChannel, BoundedSendChannel

__all__ = ["WebSocketClientStats"]

_logger = get_logger("ws")

#: The bound on every wait in a cleanup path (closing a transport, waiting for the
#: supervisor's final accounting).  Those waits do not depend on the peer, so this is only
#: a guard against a misbehaving stream.
CLEANUP_TIMEOUT = 1.0


@typing.final
@attrs.frozen
class WebSocketClientStats:
    """A snapshot of a :class:`~trio_orch.WebSocketClient`'s counters (``client.stats``).

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
        possibly_lost: messages written to a connection that ended before confirming them
            (it died, the close handshake went unanswered, or the client was cancelled).
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
class _Shared:
    """The state of one client that its handle, supervisor and connections share.

    Build it with :meth:`create`.  ``carry`` holds messages the writer took from the send
    buffer but could not hand to a socket (they go first on the next connection); ``stash``
    holds received envelopes whose delivery a connection's end interrupted (the next reader
    delivers them first).
    """

    config: WebSocketConfig
    codec: EnvelopeCodec
    log: Logger
    out_send: BoundedSendChannel[str]
    out_recv: BoundedReceiveChannel[str]
    in_send: BoundedSendChannel[Envelope]
    in_recv: BoundedReceiveChannel[Envelope]
    counters: _Counters = attrs.Factory(_Counters)
    carry: collections.deque[str] = attrs.Factory(collections.deque)
    stash: collections.deque[Envelope] = attrs.Factory(collections.deque)
    state: ConnectionState = ConnectionState.CLOSED  # until open_ws_client starts it
    state_changed: trio.Event = attrs.Factory(trio.Event)
    #: The attempt of the current series (1 for the first).
    attempt: int = 0
    #: No more sends are accepted: the client is closing or closed.
    closing: bool = False
    #: Why the client gave up, once it did.
    error: ConnectionLost | None = None
    #: Whether the user was shown ``error`` (else leaving the block raises it).
    error_seen: bool = False
    finished: trio.Event = attrs.Factory(trio.Event)
    #: The cancel scope around the supervisor and its connections (entered by the
    #: supervisor; cancelling it closes the client abruptly, never the user's block).
    scope: trio.CancelScope = attrs.Factory(trio.CancelScope)
    #: The cancel scope of the client's nursery, which covers the user's block too
    #: (set by open_ws_client; cancelled only when the supervisor fails with a bug).
    block: trio.CancelScope | None = None
    #: One rate-limited log per kind of bad message (built on the first one).
    decode_logs: dict[DecodeProblem, DropLogger] = attrs.Factory(dict)

    @classmethod
    def create(cls, config: WebSocketConfig) -> _Shared:
        """The shared state of a new client, with empty buffers sized by ``config``."""
        codec = EnvelopeCodec() if config.converter is None else EnvelopeCodec(config.converter)
        out_send, out_recv = open_bounded_channel[str](config.send_buffer, config.send_drop)
        in_send, in_recv = open_bounded_channel[Envelope](
            config.receive_buffer, config.receive_drop
        )
        return cls(
            config=config,
            codec=codec,
            log=_logger.bind(url=config.url),
            out_send=out_send,
            out_recv=out_recv,
            in_send=in_send,
            in_recv=in_recv,
        )

    def pending(self) -> int:
        """Messages not written yet: in the send buffer or carried to the next connection."""
        return self.out_send.stats.size + len(self.carry)

    def snapshot(self) -> WebSocketClientStats:
        """The counters as a :class:`WebSocketClientStats`."""
        c = self.counters
        out = self.out_send.stats
        return WebSocketClientStats(
            state=self.state,
            attempts=c.attempts,
            connects=c.connects,
            received=c.received,
            untyped=c.untyped,
            invalid_json=c.invalid_json,
            missing_type=c.missing_type,
            structure_errors=c.structure_errors,
            sent=c.sent,
            buffered=out.size + len(self.carry),
            dropped=out.dropped,
            rejected=out.rejected,
            possibly_lost=c.possibly_lost,
            unsent=c.unsent,
            heartbeat_timeouts=c.heartbeat_timeouts,
            received_dropped=self.in_send.stats.dropped,
            undelivered=c.undelivered,
        )

    def cancel(self, reason: str) -> None:
        """Stop the supervisor and its connections at once (not the user's block)."""
        self.scope.cancel(reason=reason)

    # --- the state machine and what it reports ---------------------------------------------

    def set_state(self, state: ConnectionState, error: BaseException | None = None) -> None:
        """Move to ``state``: wake waiters, call ``on_state_change``, publish the event.

        A state change is not logged: it is an event (:class:`~trio_orch.ConnectionStateChanged`);
        the failures behind it are logged by :meth:`failed`.
        """
        previous = self.state
        if state is previous:
            return
        self.state = state
        self.state_changed.set()
        self.state_changed = trio.Event()
        callback = self.config.on_state_change
        if callback is not None:
            try:
                callback(state)
            except Exception as exc:
                self.log.exception("trio_orch.ws.callback_failed", error=repr(exc))
        if self.config.bus is not None:
            event = ConnectionStateChanged(
                url=self.config.url,
                previous=previous,
                state=state,
                attempt=self.attempt,
                error=error,
            )
            self.publish(event)

    def publish(self, event: WebSocketEvent) -> None:
        """Emit ``event`` on the bus, if there is one; a failing bus is logged, not raised."""
        bus = self.config.bus
        if bus is None:
            return
        try:
            bus.emit(event)
        except Exception as exc:
            self.log.warning(
                "trio_orch.ws.publish_failed", event_type=type(event).__name__, error=repr(exc)
            )

    def failed(self, error: BaseException, *, retrying: bool, delay: float | None) -> None:
        """Report a failed attempt or a dead connection: logged, and published.

        A failure followed by a reconnect is logged at WARNING
        (``"trio_orch.ws.connection_failed"``); a give-up is logged once, at ERROR, by the
        supervisor (``"trio_orch.ws.gave_up"``).
        """
        if retrying:
            self.log.warning(
                "trio_orch.ws.connection_failed",
                error=repr(error),
                attempt=self.attempt,
                delay=delay,
            )
        self.publish(
            ConnectionFailed(
                url=self.config.url,
                error=error,
                attempt=self.attempt,
                retrying=retrying,
                delay=delay,
            )
        )

    def bad_message(self, failure: DecodeFailure) -> None:
        """Count and log an incoming message that could not become an envelope.

        The log is rate-limited per kind of problem (:class:`~trio_orch._log.DropLogger`):
        the first bad message is logged at once, with its detail; a flood of them is
        summarised at most once a second (the detail is the latest one's), and the rest is
        logged when the client closes (:meth:`flush_logs`).
        """
        problem = failure.problem
        counters = self.counters
        if problem is DecodeProblem.INVALID_JSON:
            counters.invalid_json += 1
        elif problem is DecodeProblem.MISSING_TYPE:
            counters.missing_type += 1
        else:
            counters.structure_errors += 1
        drops = self.decode_logs.get(problem)
        if drops is None:
            drops = DropLogger(self.log, "trio_orch.ws.message_dropped")
            self.decode_logs[problem] = drops
        drops.context.update(problem=problem.value, t=failure.t, detail=failure.detail)
        drops.add()

    def flush_logs(self) -> None:
        """Log the bad messages that a rate-limited log has not reported yet."""
        for drops in self.decode_logs.values():
            drops.flush()

    def possibly_lost(self, count: int) -> None:
        """Count, log and publish ``count`` messages that a connection took down with it."""
        if not count:
            return
        counters = self.counters
        counters.possibly_lost += count
        total = counters.possibly_lost
        self.log.warning("trio_orch.ws.messages_possibly_lost", count=count, total=total)
        self.publish(MessagesPossiblyLost(url=self.config.url, count=count, total=total))
