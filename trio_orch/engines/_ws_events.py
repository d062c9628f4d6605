"""The events a WebSocket client publishes on an event bus.

Subscribe to :class:`WebSocketEvent` to see all of them.  They are how to follow a client's
life (every state change, every failed attempt); the logs carry only the unusual paths: a
failure followed by a reconnect (``"trio_orch.ws.connection_failed"``, WARNING), a give-up
(``"trio_orch.ws.gave_up"``, ERROR) and possibly lost messages
(``"trio_orch.ws.messages_possibly_lost"``, WARNING).
"""

from __future__ import annotations

import typing

import attrs

from trio_orch.engines._ws_policy import ConnectionState  # noqa: TC001 - attrs resolves it
from trio_orch.events import SystemEvent


@attrs.frozen
class WebSocketEvent(SystemEvent):
    """Base class of the events that :func:`trio_orch.open_ws_client` publishes.

    Attributes:
        url: the URL of the client that published it.
    """

    url: str


@typing.final
@attrs.frozen
class ConnectionStateChanged(WebSocketEvent):
    """The client moved from ``previous`` to ``state``.

    Also passed to the client's ``on_state_change`` callback.

    Attributes:
        previous: the state before.
        state: the state now.
        attempt: the attempt of the current series (1 for the first; 0 when closed by the
            user before any attempt).
        error: the error that caused the change, if any (``None`` for normal changes).
    """

    previous: ConnectionState
    state: ConnectionState
    attempt: int
    error: BaseException | None = attrs.field(default=None, eq=False)


@typing.final
@attrs.frozen
class ConnectionFailed(WebSocketEvent):
    """A connection attempt failed, or an open connection died.

    Attributes:
        error: what happened: an ``OSError``; a :class:`trio.TooSlowError` (the attempt
            took longer than ``connect_timeout``, or a pong did not come within
            ``heartbeat_timeout``); a trio-websocket ``ConnectionClosed`` or
            ``ConnectionRejected``.
        attempt: the attempt of the current series that failed.
        retrying: True if the client will try again; False if it gives up.
        delay: seconds until the next attempt, or ``None`` when giving up.
    """

    error: BaseException = attrs.field(eq=False)
    attempt: int
    retrying: bool
    delay: float | None


@typing.final
@attrs.frozen
class MessagesPossiblyLost(WebSocketEvent):
    """Messages were handed to a connection that then ended before confirming them.

    A message is confirmed when the pong arrives for a ping sent after it was written (the
    heartbeat's, or the last ping of a graceful close).  Published however the connection
    ended: it died, the peer did not answer the graceful close within ``close_timeout``, or
    the client's block was cancelled.  Without a heartbeat, every message written to a
    connection that does not close gracefully counts.  They are not resent (that could
    duplicate them).

    Attributes:
        count: messages possibly lost with this connection.
        total: messages possibly lost so far by this client.
    """

    count: int
    total: int
