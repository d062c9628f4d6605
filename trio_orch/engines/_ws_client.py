"""A reconnecting WebSocket client on trio-websocket, with typed JSON envelopes.

:func:`open_ws_client` opens a :class:`WebSocketClient` that owns a nursery with one
supervisor task.  The supervisor makes connection attempts (backoff between them from the
:class:`~trio_orch.ReconnectPolicy`) and, for each open connection, runs three tasks in a
per-connection nursery: a reader (socket → decode → receive buffer), a writer (send buffer →
socket) and a heartbeat (ping, wait for the pong).  Whichever notices the end of the
connection cancels the other two; the supervisor then decides to reconnect or give up.

Sends always go through one bounded send buffer and one writer, so they go out in order and
once.  A message the writer took from the buffer but could not hand to the socket goes first
on the next connection; one that was (perhaps partly) written to a connection that then died
is counted as possibly lost and never resent.
"""

from __future__ import annotations

import collections
import contextlib
import inspect
import ssl
import typing
from typing import TYPE_CHECKING, Any

import attrs
import structlog
import trio
import trio_websocket

from trio_orch._exceptions import ConnectionLost, FatalCloseCode, HandshakeRejected
from trio_orch._groups import leaves, open_nursery_unwrapped
from trio_orch._validate import check_callable, check_instance, check_int, check_number
from trio_orch.engines._ws_connection import (
    WebSocketClientStats,
    _Connection,
    _Counters,
    _GuardStream,
    _Outcome,
    _parse_url,
)
from trio_orch.engines._ws_envelope import DecodeFailure, DecodeProblem, Envelope, EnvelopeCodec
from trio_orch.engines._ws_events import (
    ConnectionFailed,
    ConnectionStateChanged,
    MessagesPossiblyLost,
    WebSocketEvent,
)
from trio_orch.engines._ws_policy import ConnectionState, ReconnectPolicy
from trio_orch.primitives import DropPolicy, open_bounded_channel

if TYPE_CHECKING:
    import random
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator

    import cattrs

    from trio_orch.primitives import BoundedReceiveChannel, BoundedSendChannel

_logger = structlog.get_logger()

#: Errors after which another connection attempt makes sense.
_RETRYABLE: tuple[type[BaseException], ...] = (
    OSError,
    trio.TooSlowError,
    trio.BrokenResourceError,
    trio_websocket.HandshakeError,
    trio_websocket.ConnectionClosed,
)

#: trio-websocket's queue between its socket reader and get_message; larger than its
#: default of 1 so the reader does not stop at every message.
_WS_QUEUE = 64


class _Emitter(typing.Protocol):
    def emit(self, event: WebSocketEvent, /) -> object: ...


@typing.final
@attrs.define(eq=False)
class WebSocketClient:
    """A reconnecting WebSocket client; get one from :func:`open_ws_client`.

    Iterate it (``async for envelope in client``) or call :meth:`receive` for incoming
    :class:`~trio_orch.Envelope` objects; :meth:`send` queues outgoing ones; :meth:`register`
    declares payload types.  See :func:`open_ws_client` for what survives a reconnect.
    """

    _url: str
    _host: str
    _port: int
    _resource: str
    _ssl_context: ssl.SSLContext | None
    _policy: ReconnectPolicy
    _heartbeat_interval: float | None
    _heartbeat_timeout: float
    _connect_timeout: float
    _close_timeout: float
    _on_state_change: Callable[[ConnectionState], object] | None
    _bus: _Emitter | None
    _codec: EnvelopeCodec
    _connect_stream: Callable[[], Awaitable[trio.abc.Stream]] | None
    _rng: random.Random | None
    _subprotocols: tuple[str, ...]
    _extra_headers: list[tuple[bytes, bytes]]
    _max_message_size: int
    _out_send: BoundedSendChannel[str]
    _out_recv: BoundedReceiveChannel[str]
    _in_send: BoundedSendChannel[Envelope]
    _in_recv: BoundedReceiveChannel[Envelope]
    _log: Any
    _carry: collections.deque[str] = attrs.Factory(collections.deque)
    _stash: collections.deque[Envelope] = attrs.Factory(collections.deque)
    _state: ConnectionState = ConnectionState.CLOSED  # until open_ws_client starts it
    _state_changed: trio.Event = attrs.Factory(trio.Event)
    _finished: trio.Event = attrs.Factory(trio.Event)
    _attempt: int = 0
    _error: ConnectionLost | None = None
    _error_seen: bool = False
    _closing: bool = False
    _nursery: trio.Nursery | None = None
    _counters: _Counters = attrs.Factory(_Counters)

    # --- public surface -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The URL this client connects to."""
        return self._url

    @property
    def state(self) -> ConnectionState:
        """The current :class:`~trio_orch.ConnectionState`."""
        return self._state

    @property
    def converter(self) -> cattrs.Converter:
        """The cattrs converter that (un)structures payloads."""
        return self._codec.converter

    @property
    def stats(self) -> WebSocketClientStats:
        """A frozen snapshot of the client's counters."""
        c = self._counters
        out = self._out_send.stats
        return WebSocketClientStats(
            state=self._state,
            attempts=c.attempts,
            connects=c.connects,
            received=c.received,
            untyped=c.untyped,
            invalid_json=c.invalid_json,
            missing_type=c.missing_type,
            structure_errors=c.structure_errors,
            sent=c.sent,
            buffered=out.size + len(self._carry),
            dropped=out.dropped,
            rejected=out.rejected,
            possibly_lost=c.possibly_lost,
            unsent=c.unsent,
            heartbeat_timeouts=c.heartbeat_timeouts,
            received_dropped=self._in_send.stats.dropped,
            undelivered=c.undelivered,
        )

    def statistics(self) -> WebSocketClientStats:
        """The same as :attr:`stats`."""
        return self.stats

    def register(self, t: str, tp: Any) -> None:
        """Structure the ``data`` of incoming envelopes tagged ``t`` into ``tp`` with cattrs.

        ``tp`` is anything the converter structures: attrs classes, dataclasses, builtins,
        ``list[X]``, ... .  A message whose data does not fit is dropped, logged
        (``"trio_orch.ws.message_dropped"``) and counted in ``stats.structure_errors``.

        Raises:
            TypeError: ``t`` is not a str.
            ValueError: ``t`` is empty or already registered to another type.
        """
        self._codec.register(t, tp)

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
        self._check_sendable()
        text = self._codec.encode(t, data)
        try:
            await self._out_send.send(text)
        except trio.ClosedResourceError:
            self._check_sendable()
            raise

    def send_nowait(self, t: str, data: Any = None) -> None:
        """Like :meth:`send`, but raise :class:`trio.WouldBlock` instead of waiting.

        Raises:
            trio.WouldBlock: the buffer is full under ``DropPolicy.BLOCK``.
            and everything :meth:`send` raises.
        """
        self._check_sendable()
        self._out_send.send_nowait(self._codec.encode(t, data))

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
            return await self._in_recv.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            if self._error is not None:
                self._error_seen = True
                raise self._error from self._error.__cause__
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
        while self._state is not ConnectionState.OPEN:
            if self._state is ConnectionState.CLOSED:
                self._raise_closed()
            await self._state_changed.wait()
        await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        """Close the client gracefully: flush the send buffer, ping, then the closing handshake.

        Waits at most ``close_timeout`` seconds (for a reconnect too, if messages are
        buffered); whatever could not be written is counted in ``stats.unsent`` and logged.
        Iteration ends once the received envelopes are delivered.  Idempotent.

        Cancellation:
            The client is then closed abruptly (the socket is closed at once).

        Checkpoints:
            Always a checkpoint.
        """
        if self._state is ConnectionState.CLOSED or self._nursery is None:
            await trio.lowlevel.checkpoint()
            return
        self._closing = True
        self._out_send.close()
        try:
            with trio.move_on_after(self._close_timeout):
                if self._state is not ConnectionState.OPEN and not self._pending():
                    self._nursery.cancel_scope.cancel(reason="websocket client closed")
                await self._finished.wait()
        finally:
            self._nursery.cancel_scope.cancel(reason="websocket client closed")
        await trio.lowlevel.checkpoint()

    def __repr__(self) -> str:
        return f"<WebSocketClient {self._url!r} {self._state.name}>"

    # --- state and events -----------------------------------------------------------------

    def _pending(self) -> int:
        return self._out_send.stats.size + len(self._carry)

    def _check_sendable(self) -> None:
        if self._closing or self._state is ConnectionState.CLOSED:
            self._raise_closed()

    def _raise_closed(self) -> typing.NoReturn:
        if self._error is not None:
            self._error_seen = True
            raise self._error from self._error.__cause__
        msg = f"the WebSocket client for {self._url!r} is closed"
        raise trio.ClosedResourceError(msg)

    def _set_state(self, state: ConnectionState, error: BaseException | None = None) -> None:
        previous = self._state
        if state is previous:
            return
        self._state = state
        self._state_changed.set()
        self._state_changed = trio.Event()
        event = ConnectionStateChanged(
            url=self._url, previous=previous, state=state, attempt=self._attempt, error=error
        )
        self._log.info(
            "trio_orch.ws.connection_state_changed",
            previous=previous.name,
            state=state.name,
            attempt=self._attempt,
        )
        if self._on_state_change is not None:
            try:
                self._on_state_change(state)
            except Exception as exc:
                self._log.exception("trio_orch.ws.callback_failed", error=repr(exc))
        self._publish(event)

    def _publish(self, event: WebSocketEvent) -> None:
        if self._bus is None:
            return
        try:
            self._bus.emit(event)
        except Exception as exc:
            self._log.warning(
                "trio_orch.ws.publish_failed", event_type=type(event).__name__, error=repr(exc)
            )

    def _failed(self, error: BaseException, *, retrying: bool, delay: float | None) -> None:
        self._log.warning(
            "trio_orch.ws.connection_failed",
            error=repr(error),
            attempt=self._attempt,
            retrying=retrying,
            delay=delay,
        )
        self._publish(
            ConnectionFailed(
                url=self._url, error=error, attempt=self._attempt, retrying=retrying, delay=delay
            )
        )

    # --- the supervisor -------------------------------------------------------------------

    async def _supervise(self) -> None:
        with self._ending():
            await self._run_series()

    @contextlib.contextmanager
    def _ending(self) -> Iterator[None]:
        """Record a give-up, and whatever happens close the client on the way out."""
        try:
            yield
        except ConnectionLost as exc:
            self._error = exc
            self._log.error("trio_orch.ws.gave_up", error=str(exc), attempts=exc.attempts)
        except BaseException as exc:
            # A bug, KeyboardInterrupt...: cancel the block before _finish() wakes its waiters,
            # so that it ends with this error rather than with a ClosedResourceError of its own.
            cancelled = all(isinstance(e, trio.Cancelled) for e in leaves(exc))
            if not cancelled and self._nursery is not None:
                self._nursery.cancel_scope.cancel(reason="websocket client supervisor failed")
            raise
        finally:
            self._finish()

    async def _run_series(self) -> None:
        policy = self._policy
        failures = 0
        delays = policy.delays(self._rng)
        ever_open = False
        await trio.lowlevel.checkpoint()
        while True:
            if self._closing and not self._pending():
                return
            self._attempt = failures + 1
            outcome = await self._attempt_once(failures + 1)
            if outcome.closed_by_us:
                return
            ever_open = ever_open or outcome.opened
            error = outcome.error or ConnectionAbortedError("the connection ended")
            if outcome.healthy:
                failures = 0
                delays = policy.delays(self._rng)
                self._set_state(ConnectionState.RECONNECTING, error)
                self._failed(error, retrying=True, delay=0.0)
                continue
            failures += 1
            if policy.max_attempts is not None and failures >= policy.max_attempts:
                self._failed(error, retrying=False, delay=None)
                raise ConnectionLost(self._url, failures) from error
            delay = next(delays)
            self._set_state(
                ConnectionState.RECONNECTING if ever_open else ConnectionState.CONNECTING, error
            )
            self._failed(error, retrying=True, delay=delay)
            await trio.sleep(delay)

    async def _attempt_once(self, attempt: int) -> _Outcome:
        """One connection attempt and, if it opens, the life of that connection."""
        await trio.lowlevel.checkpoint()
        self._counters.attempts += 1
        conn: _Connection | None = None
        guard: _GuardStream | None = None
        try:
            async with trio.open_nursery() as nursery:
                with trio.fail_after(self._connect_timeout):
                    guard = _GuardStream(await self._open_stream())
                    ws = await trio_websocket.wrap_client_stream(
                        nursery,
                        guard,  # type: ignore[arg-type]  # any trio Stream works
                        self._host_header(),
                        self._resource,
                        subprotocols=self._subprotocols,
                        extra_headers=self._extra_headers,
                        message_queue_size=_WS_QUEUE,
                        max_message_size=self._max_message_size,
                    )
                guard.handshaking = False
                conn = _Connection(ws, guard, nursery.cancel_scope, trio.current_time())
                self._opened(conn)
                nursery.start_soon(self._reader, conn)
                nursery.start_soon(self._writer, conn)
                if self._heartbeat_interval is not None:
                    nursery.start_soon(self._heartbeat, conn, self._heartbeat_interval)
        except BaseExceptionGroup as group:
            errors = [e for e in leaves(group) if not isinstance(e, trio.Cancelled)]
            # KeyboardInterrupt, SystemExit...: never retried, even beside a retryable error.
            if not errors or not all(isinstance(e, Exception) for e in errors):
                raise
            # Every leaf is classified, so a fatal one is raised even when it is not first.
            retryable = [self._classify(e, attempt) for e in errors]
            error = retryable[0]
            if conn is None:
                return _Outcome(opened=False, healthy=False, closed_by_us=False, error=error)
            conn.error = conn.error or error
        finally:
            if guard is not None:
                await trio.aclose_forcefully(guard)
            if conn is not None:
                self._closed(conn)
        assert conn is not None  # the nursery only exits cleanly after opening
        return self._conclude(conn, attempt)

    def _classify(self, error: BaseException, attempt: int) -> BaseException:
        """Return a retryable error, or raise the fatal error it means."""
        if isinstance(error, trio_websocket.ConnectionRejected):
            if self._policy.should_retry_status(error.status_code):
                return error
            self._failed(error, retrying=False, delay=None)
            raise HandshakeRejected(self._url, attempt, error.status_code, error.body) from error
        if isinstance(error, _RETRYABLE):
            return error
        raise error

    def _conclude(self, conn: _Connection, attempt: int) -> _Outcome:
        if conn.closed_cleanly and conn.closing_by_us:
            return _Outcome(opened=True, healthy=True, closed_by_us=True, error=None)
        error = conn.error
        reason = error.reason if isinstance(error, trio_websocket.ConnectionClosed) else None
        if reason is not None and self._policy.is_fatal_close(reason.code):
            assert error is not None
            self._failed(error, retrying=False, delay=None)
            raise FatalCloseCode(self._url, attempt, reason.code, reason.reason) from error
        lived = trio.current_time() - conn.opened_at
        healthy = lived >= self._policy.healthy_after
        return _Outcome(opened=True, healthy=healthy, closed_by_us=False, error=error)

    def _opened(self, conn: _Connection) -> None:
        self._counters.connects += 1
        self._log.debug("trio_orch.ws.connected", attempt=self._attempt)
        self._set_state(ConnectionState.OPEN)

    def _closed(self, conn: _Connection) -> None:
        lost = conn.written - conn.confirmed + conn.partial
        if lost:
            self._counters.possibly_lost += lost
            total = self._counters.possibly_lost
            self._log.warning("trio_orch.ws.messages_possibly_lost", count=lost, total=total)
            self._publish(MessagesPossiblyLost(url=self._url, count=lost, total=total))

    def _finish(self) -> None:
        unsent = self._pending()
        if unsent:
            self._counters.unsent += unsent
            self._log.warning("trio_orch.ws.unsent_on_close", count=unsent)
        self._carry.clear()
        while self._stash:
            try:
                self._in_send.send_nowait(self._stash[0])
            except trio.WouldBlock:
                break
            self._stash.popleft()
        self._counters.undelivered += len(self._stash)
        self._stash.clear()
        if self._counters.undelivered:
            count = self._counters.undelivered
            self._log.warning("trio_orch.ws.undelivered_on_close", count=count)
        self._closing = True
        self._out_send.close()
        self._in_send.close()
        self._set_state(ConnectionState.CLOSED, self._error)
        self._finished.set()

    async def _open_stream(self) -> trio.abc.Stream:
        if self._connect_stream is not None:
            return await self._connect_stream()
        if self._ssl_context is None:
            return await trio.open_tcp_stream(self._host, self._port)
        return await trio.open_ssl_over_tcp_stream(
            self._host, self._port, ssl_context=self._ssl_context, https_compatible=True
        )

    def _host_header(self) -> str:
        if self._port in (80, 443):
            return self._host
        return f"{self._host}:{self._port}"

    # --- per-connection tasks -------------------------------------------------------------

    async def _reader(self, conn: _Connection) -> None:
        ws = conn.ws
        decode = self._codec.decode
        registered = self._codec.registered
        counters = self._counters
        deliver = self._in_send
        stash = self._stash
        # Envelopes whose delivery an earlier connection's end interrupted go first.
        while stash:
            conn.reader_blocked = True
            await deliver.send(stash[0])
            stash.popleft()
        conn.reader_blocked = False
        while True:
            try:
                message = await ws.get_message()
            except trio_websocket.ConnectionClosed as exc:
                if not conn.closing_by_us:  # else the writer finishes the closing handshake
                    conn.end(exc)
                await trio.lowlevel.checkpoint()
                return
            counters.received += 1
            item = decode(message)
            if isinstance(item, DecodeFailure):
                self._bad_message(item)
                continue
            if registered(item.t) is None:
                counters.untyped += 1
            try:
                deliver.send_nowait(item)
            except trio.WouldBlock:
                if self._closing:
                    # Nobody will make room any more; keep reading for the close reply.
                    counters.undelivered += 1
                    continue
                # Parked in the stash while we wait, so that if the connection ends
                # meanwhile the envelope is delivered by the next reader, in order.
                stash.append(item)
                conn.reader_blocked = True
                await deliver.send(item)
                stash.pop()
                conn.reader_blocked = False

    def _bad_message(self, failure: DecodeFailure) -> None:
        problem = failure.problem
        counters = self._counters
        if problem is DecodeProblem.INVALID_JSON:
            counters.invalid_json += 1
        elif problem is DecodeProblem.MISSING_TYPE:
            counters.missing_type += 1
        else:
            counters.structure_errors += 1
        self._log.warning(
            "trio_orch.ws.message_dropped",
            problem=problem.value,
            t=failure.t,
            detail=failure.detail,
        )

    async def _writer(self, conn: _Connection) -> None:
        ws, guard, carry = conn.ws, conn.guard, self._carry
        while True:
            if carry:
                text = carry.popleft()
            else:
                try:
                    text = await self._out_recv.receive()
                except trio.EndOfChannel:
                    await self._close_ws(conn)
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
                self._unsent(conn, text, handed=guard.writes != writes)
                await trio.lowlevel.checkpoint()
                return
            except BaseException:
                self._unsent(conn, text, handed=guard.writes != writes)
                raise
            conn.written += 1
            self._counters.sent += 1

    def _unsent(self, conn: _Connection, text: str, *, handed: bool) -> None:
        if handed:
            conn.partial += 1
        else:
            self._carry.appendleft(text)

    async def _close_ws(self, conn: _Connection) -> None:
        """The graceful end: confirm what was written with a last ping, then close."""
        conn.closing_by_us = True
        if conn.written > conn.confirmed:
            mark = conn.written
            with trio.move_on_after(self._heartbeat_timeout):
                try:
                    await conn.ws.ping()
                except trio_websocket.ConnectionClosed:
                    pass
                else:
                    conn.confirmed = mark
        await conn.ws.aclose(1000, "client closed")
        conn.closed_cleanly = True
        conn.end()

    async def _heartbeat(self, conn: _Connection, interval: float) -> None:
        ws = conn.ws
        while True:
            await trio.sleep(interval)
            mark = conn.written
            with trio.move_on_after(self._heartbeat_timeout) as scope:
                try:
                    await ws.ping()
                except trio_websocket.ConnectionClosed:
                    return  # the reader ends the connection after the last message
            if not scope.cancelled_caught:
                conn.confirmed = max(conn.confirmed, mark)
                continue
            if conn.reader_blocked:
                # Our reader is waiting for the application to take envelopes, so nothing
                # reads the socket and no pong can arrive: that is backpressure, not death.
                continue
            self._counters.heartbeat_timeouts += 1
            msg = f"no pong within {self._heartbeat_timeout}s: the connection is presumed dead"
            self._log.warning("trio_orch.ws.heartbeat_timeout", timeout=self._heartbeat_timeout)
            conn.end(trio.TooSlowError(msg))
            return


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
    bus: Any = None,
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
    Messages written to a connection that then died unconfirmed are counted in
    ``stats.possibly_lost`` (never resent, never claimed delivered).

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
        bus: an event bus (``bus.emit(event)``) for the client's
            :class:`~trio_orch.WebSocketEvent` events.
        converter: the cattrs converter (default: cattrs' JSON preset converter).
        connect_timeout: seconds allowed for opening the socket and the handshake.
        close_timeout: seconds allowed for the graceful close when the block ends.
        ssl_context: the TLS context for ``wss://`` (default: the system's).
        subprotocols: WebSocket subprotocols to offer.
        extra_headers: extra HTTP headers for the handshake.
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
        closing handshake, within ``close_timeout``).  No task outlives the block.
    """
    client = _make_client(
        url,
        reconnect=reconnect,
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
    async with open_nursery_unwrapped(f"open_ws_client({url!r})") as nursery:
        client._nursery = nursery
        client._set_state(ConnectionState.CONNECTING)
        nursery.start_soon(client._supervise)
        try:
            yield client
        except BaseException:
            client._closing = True
            nursery.cancel_scope.cancel(reason="websocket client block raised")
            raise
        await client.aclose()
    if client._error is not None and not client._error_seen:
        client._error_seen = True
        raise client._error from client._error.__cause__


def _make_client(url: str, **kw: Any) -> WebSocketClient:
    host, port, resource, secure = _parse_url(url)
    reconnect = kw["reconnect"] if kw["reconnect"] is not None else ReconnectPolicy()
    if not isinstance(reconnect, ReconnectPolicy):
        msg = f"reconnect must be a ReconnectPolicy, got {reconnect!r}"
        raise TypeError(msg)
    check_number("heartbeat_interval", kw["heartbeat_interval"], strict=True, allow_none=True)
    check_number("heartbeat_timeout", kw["heartbeat_timeout"], strict=True)
    check_number("connect_timeout", kw["connect_timeout"], strict=True)
    check_number("close_timeout", kw["close_timeout"], strict=True)
    check_int("send_buffer", kw["send_buffer"], minimum=0)
    check_int("receive_buffer", kw["receive_buffer"], minimum=1)
    check_int("max_message_size", kw["max_message_size"], minimum=1)
    on_state_change = kw["on_state_change"]
    check_callable("on_state_change", on_state_change, allow_none=True)
    if inspect.iscoroutinefunction(on_state_change):
        msg = (
            "on_state_change must be a sync callable (it is called inline; "
            f"subscribe an async handler on a bus instead), got {on_state_change!r}"
        )
        raise TypeError(msg)
    bus = kw["bus"]
    if bus is not None and not callable(getattr(bus, "emit", None)):
        msg = f"bus must have an emit(event) method, got {bus!r}"
        raise TypeError(msg)
    ssl_context = kw["ssl_context"]
    if ssl_context is not None and not secure:
        msg = f"ssl_context is only for wss:// URLs, got {url!r}"
        raise ValueError(msg)
    if secure and ssl_context is None:
        ssl_context = ssl.create_default_context()
    for name in ("send_drop", "receive_drop"):
        check_instance(name, kw[name], DropPolicy, "a DropPolicy")
    if kw["send_buffer"] == 0 and kw["send_drop"] is DropPolicy.OLDEST:
        msg = "send_buffer must be >= 1 with send_drop=DropPolicy.OLDEST, got 0"
        raise ValueError(msg)
    codec = EnvelopeCodec() if kw["converter"] is None else EnvelopeCodec(kw["converter"])
    out_send, out_recv = open_bounded_channel[str](kw["send_buffer"], kw["send_drop"])
    receive_drop = kw["receive_drop"]
    if receive_drop is DropPolicy.REJECT:
        msg = f"receive_drop must be BLOCK, OLDEST or NEWEST, got {receive_drop!r}"
        raise ValueError(msg)
    in_send, in_recv = open_bounded_channel[Envelope](kw["receive_buffer"], receive_drop)
    return WebSocketClient(
        url=url,
        host=host,
        port=port,
        resource=resource,
        ssl_context=ssl_context,
        policy=reconnect,
        heartbeat_interval=kw["heartbeat_interval"],
        heartbeat_timeout=kw["heartbeat_timeout"],
        connect_timeout=kw["connect_timeout"],
        close_timeout=kw["close_timeout"],
        on_state_change=on_state_change,
        bus=bus,
        codec=codec,
        connect_stream=kw["connect_stream"],
        rng=kw["rng"],
        subprotocols=tuple(kw["subprotocols"]),
        extra_headers=list(kw["extra_headers"]),
        max_message_size=kw["max_message_size"],
        out_send=out_send,
        out_recv=out_recv,
        in_send=in_send,
        in_recv=in_recv,
        log=_logger.bind(url=url),
    )
