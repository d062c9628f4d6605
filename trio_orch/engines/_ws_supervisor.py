"""The WebSocket client's supervisor: connection attempts, reconnects and giving up.

One :class:`_Supervisor` task runs in the client's nursery for the client's whole life.  It
makes connection attempts, waiting between them as the :class:`~trio_orch.ReconnectPolicy`
says; for each attempt that opens, it runs a :class:`~trio_orch.engines._ws_connection._Connection`
(reader, writer, heartbeat) in a per-connection nursery until the connection ends, and then
decides: reconnect, stop (the user closed the client), or give up
(:class:`~trio_orch.ConnectionLost` and its subclasses).

Whatever ends an attempt (the connection died, the peer never answered the close, the
client's block was cancelled), the supervisor closes the transport inside a shielded and
bounded scope and then counts what the connection took with it as possibly lost; and
whatever ends the supervisor, :meth:`_Supervisor._finish` counts what was never sent or
never delivered and closes the client.
"""

from __future__ import annotations

import contextlib
import ssl
import typing

import attrs
import trio
import trio_websocket

from trio_orch._exceptions import ConnectionLost, FatalCloseCode, HandshakeRejected
from trio_orch._groups import leaves, only_cancelled
from trio_orch.engines._ws_connection import _Connection, _GuardStream, _handshake
from trio_orch.engines._ws_policy import ConnectionState
from trio_orch.engines._ws_state import CLEANUP_TIMEOUT

if typing.TYPE_CHECKING:
    from collections.abc import Iterator

    from trio_orch.engines._ws_state import _Shared

#: Errors after which another connection attempt makes sense.
_RETRYABLE: tuple[type[BaseException], ...] = (
    OSError,
    trio.TooSlowError,
    trio.BrokenResourceError,
    trio_websocket.HandshakeError,
    trio_websocket.ConnectionClosed,
)


@attrs.frozen
class _Outcome:
    """What the supervisor learns from one attempt."""

    opened: bool
    healthy: bool
    closed_by_us: bool
    error: BaseException | None


@attrs.define(eq=False)
class _Supervisor:
    """The reconnect loop of one client (see the module docstring)."""

    shared: _Shared
    _ssl_context: ssl.SSLContext | None = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        config = self.shared.config
        context = config.ssl_context
        if config.secure and context is None:
            context = ssl.create_default_context()
        self._ssl_context = context

    async def run(self) -> None:
        """Connect and reconnect until the client is closed or gives up; then close it.

        Raises:
            trio_orch.ConnectionLost: never; a give-up is recorded in ``shared.error`` for
                the handle to raise.
            Exception: an error that is neither retryable nor a give-up (a bug in a
                ``connect_stream``, ...): the client's block is cancelled and it propagates.
        """
        with self.shared.scope, self._ending():
            await self._run_series()

    @contextlib.contextmanager
    def _ending(self) -> Iterator[None]:
        """Record a give-up, and whatever happens close the client on the way out."""
        shared = self.shared
        try:
            yield
        except ConnectionLost as exc:
            shared.error = exc
            shared.log.error(
                "trio_orch.ws.gave_up",
                error=str(exc),
                cause=repr(exc.__cause__),
                attempts=exc.attempts,
            )
        except BaseException as exc:
            # A bug, KeyboardInterrupt...: cancel the block before _finish() wakes its waiters,
            # so that it ends with this error rather than with a ClosedResourceError of its own.
            if not only_cancelled(exc) and shared.block is not None:
                shared.block.cancel(reason="websocket client supervisor failed")
            raise
        finally:
            self._finish()

    async def _run_series(self) -> None:
        shared = self.shared
        policy = shared.config.reconnect
        rng = shared.config.rng
        failures = 0
        delays = policy.delays(rng)
        ever_open = False
        await trio.lowlevel.checkpoint()
        while True:
            if shared.closing and not shared.pending():
                return
            shared.attempt = failures + 1
            outcome = await self._attempt_once(failures + 1)
            if outcome.closed_by_us:
                return
            ever_open = ever_open or outcome.opened
            error = outcome.error or ConnectionAbortedError("the connection ended")
            if outcome.healthy:
                failures = 0
                delays = policy.delays(rng)
                shared.set_state(ConnectionState.RECONNECTING, error)
                shared.failed(error, retrying=True, delay=0.0)
                continue
            failures += 1
            if policy.max_attempts is not None and failures >= policy.max_attempts:
                shared.failed(error, retrying=False, delay=None)
                raise ConnectionLost(shared.config.url, failures) from error
            delay = next(delays)
            shared.set_state(
                ConnectionState.RECONNECTING if ever_open else ConnectionState.CONNECTING, error
            )
            shared.failed(error, retrying=True, delay=delay)
            await trio.sleep(delay)

    async def _attempt_once(self, attempt: int) -> _Outcome:
        """One connection attempt and, if it opens, the life of that connection."""
        await trio.lowlevel.checkpoint()
        shared = self.shared
        config = shared.config
        shared.counters.attempts += 1
        conn: _Connection | None = None
        guard: _GuardStream | None = None
        try:
            async with trio.open_nursery() as nursery:
                with trio.fail_after(config.connect_timeout):
                    guard = _GuardStream(await self._open_stream())
                    ws = await _handshake(nursery, guard, config)
                conn = _Connection(shared, ws, guard, nursery.cancel_scope, trio.current_time())
                shared.counters.connects += 1
                shared.set_state(ConnectionState.OPEN)
                conn.start(nursery)
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
            # On every way out (cancelled included) the transport is closed and the
            # connection's unconfirmed messages are counted: the close is shielded and
            # bounded, and the accounting after it runs whatever the close does.
            try:
                if guard is not None:
                    with trio.CancelScope(shield=True) as cleanup:
                        cleanup.deadline = trio.current_time() + CLEANUP_TIMEOUT
                        await trio.aclose_forcefully(guard)
            finally:
                if conn is not None:
                    shared.possibly_lost(conn.unconfirmed)
        assert conn is not None  # the nursery only exits cleanly after opening
        return self._conclude(conn, attempt)

    def _classify(self, error: BaseException, attempt: int) -> BaseException:
        """Return a retryable error, or raise the fatal error it means."""
        shared = self.shared
        if isinstance(error, trio_websocket.ConnectionRejected):
            if shared.config.reconnect.should_retry_status(error.status_code):
                return error
            shared.failed(error, retrying=False, delay=None)
            raise HandshakeRejected(
                shared.config.url, attempt, error.status_code, error.body
            ) from error
        if isinstance(error, _RETRYABLE):
            return error
        raise error

    def _conclude(self, conn: _Connection, attempt: int) -> _Outcome:
        if conn.closed_cleanly and conn.closing_by_us:
            return _Outcome(opened=True, healthy=True, closed_by_us=True, error=None)
        shared = self.shared
        policy = shared.config.reconnect
        error = conn.error
        reason = error.reason if isinstance(error, trio_websocket.ConnectionClosed) else None
        if reason is not None and policy.is_fatal_close(reason.code):
            assert error is not None
            shared.failed(error, retrying=False, delay=None)
            raise FatalCloseCode(shared.config.url, attempt, reason.code, reason.reason) from error
        lived = trio.current_time() - conn.opened_at
        healthy = lived >= policy.healthy_after
        return _Outcome(opened=True, healthy=healthy, closed_by_us=False, error=error)

    def _finish(self) -> None:
        """Close the client: count what was never sent or delivered, wake every waiter."""
        shared = self.shared
        counters = shared.counters
        unsent = shared.pending()
        if unsent:
            counters.unsent += unsent
            shared.log.warning("trio_orch.ws.unsent_on_close", count=unsent)
        shared.carry.clear()
        stash = shared.stash
        while stash:
            try:
                shared.in_send.send_nowait(stash[0])
            except trio.WouldBlock:
                break
            stash.popleft()
        counters.undelivered += len(stash)
        stash.clear()
        if counters.undelivered:
            shared.log.warning("trio_orch.ws.undelivered_on_close", count=counters.undelivered)
        shared.flush_logs()
        shared.closing = True
        shared.out_send.close()
        shared.in_send.close()
        shared.set_state(ConnectionState.CLOSED, shared.error)
        shared.finished.set()

    async def _open_stream(self) -> trio.abc.Stream:
        config = self.shared.config
        if config.connect_stream is not None:
            return await config.connect_stream()
        if self._ssl_context is None:
            return await trio.open_tcp_stream(config.host, config.port)
        return await trio.open_ssl_over_tcp_stream(
            config.host, config.port, ssl_context=self._ssl_context, https_compatible=True
        )
