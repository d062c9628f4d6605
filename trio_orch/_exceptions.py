"""Every exception that trio_orch defines.

The hierarchy::

    OrchError                     base of every error trio_orch raises itself
    ├── TransientError            mark your own errors as worth retrying
    ├── PermanentError            mark your own errors as never worth retrying
    ├── LimiterFull               ConcurrencyLimiter.run: the wait queue is full
    ├── QueueFull                 a DropPolicy.REJECT channel is full (also a trio.WouldBlock)
    ├── WorkflowDefinitionError   a Workflow is malformed: cycle, unknown dependency, duplicate
    │                             step name, a parameter that is no dependency (a ValueError)
    ├── WorkflowFailed            Workflow.run: a step failed; ``.result`` holds the
    │                             WorkflowResult (defined in trio_orch.engines._workflow_model,
    │                             where WorkflowResult is, to type ``.result`` exactly)
    ├── ConnectionLost            a WebSocket client gave up (attempts ran out)
    │   ├── HandshakeRejected     ... the server refused the handshake with a fatal status
    │   └── FatalCloseCode        ... the server closed with a close code marked fatal
    ├── BusClosed                 the event bus was used after its block ended
    │                             (also a trio.ClosedResourceError)
    └── FlowDeadlock              a blocking send would close a cycle of full actor inboxes

Components higher up (events, workflows, the WebSocket client, ...) add their own
subclasses of :class:`OrchError` here, each under its own heading.

trio's own exceptions are reused where they fit: ``trio.ClosedResourceError``,
``trio.BrokenResourceError``, ``trio.EndOfChannel``, ``trio.WouldBlock``,
``trio.TooSlowError``.  ``trio.Cancelled``, ``KeyboardInterrupt`` and ``SystemExit`` are never
wrapped in any of these.
"""

from __future__ import annotations

import trio


class OrchError(Exception):
    """Base class of every exception defined by trio_orch."""


# --- primitives ---------------------------------------------------------------------------


class TransientError(OrchError):
    """An error that is expected to go away: :func:`trio_orch.classify_error` says TRANSIENT.

    Subclass it (or raise it) to mark your own errors as retryable by the default policy.
    """


class PermanentError(OrchError):
    """An error that retrying cannot fix: :func:`trio_orch.classify_error` says PERMANENT."""


class LimiterFull(OrchError):
    """Raised by :meth:`trio_orch.ConcurrencyLimiter.run` when ``queue_limit`` callers wait.

    Attributes:
        queue_limit: the limit that was reached.
    """

    def __init__(self, queue_limit: int) -> None:
        self.queue_limit = queue_limit
        waiting = (
            "1 caller already waits" if queue_limit == 1 else f"{queue_limit} callers already wait"
        )
        super().__init__(f"limiter queue is full: {waiting}")


class QueueFull(OrchError, trio.WouldBlock):
    """Raised when an item is sent to a full :attr:`DropPolicy.REJECT` channel.

    It is also a :class:`trio.WouldBlock`, so code written for ``send_nowait`` handles it.

    Attributes:
        max_size: the channel's capacity.
    """

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        super().__init__(f"channel is full: {max_size} items queued")


# --- workflows ---------------------------------------------------------------------------


class WorkflowDefinitionError(OrchError, ValueError):
    """A :class:`trio_orch.Workflow` is malformed; raised before any of its steps starts.

    Raised for a dependency cycle (the message names the steps on it), a dependency on an
    unknown step (or on a function that is no step of the workflow), a duplicate step name,
    or a step function with a required parameter that is not one of its dependencies.  It is
    also a :class:`ValueError`.

    Attributes:
        workflow: the id of the workflow.
    """

    def __init__(self, message: str, *, workflow: str = "") -> None:
        self.workflow = workflow
        super().__init__(message)


# --- WebSocket client ---------------------------------------------------------------------


class ConnectionLost(OrchError):
    """A :func:`trio_orch.open_ws_client` client gave up: it is closed and will not reconnect.

    Raised by iterating or receiving from the client, by ``send`` and ``wait_open`` once the
    client has given up, and by the ``async with`` block if nobody saw it before.  The error
    that ended the last attempt is chained as ``__cause__``.

    Attributes:
        url: the URL the client was connected to.
        attempts: the connection attempts made in the last series (since the last healthy
            connection), including the one that failed.
    """

    def __init__(self, url: str, attempts: int, detail: str | None = None) -> None:
        self.url = url
        self.attempts = attempts
        reason = detail or f"gave up after {attempts} connection attempts"
        super().__init__(f"WebSocket connection to {url!r} lost: {reason}")


class HandshakeRejected(ConnectionLost):
    """The server refused the WebSocket handshake with a status the policy treats as fatal.

    By default every status except 500, 502, 503 and 504 is fatal (see
    :attr:`trio_orch.ReconnectPolicy.retry_statuses`); no further attempt is made.

    Attributes:
        status_code: the HTTP status of the refusal.
        body: the response body, if the server sent one.
    """

    def __init__(self, url: str, attempts: int, status_code: int, body: bytes | None) -> None:
        self.status_code = status_code
        self.body = body
        super().__init__(
            url, attempts, f"the server refused the handshake with HTTP status {status_code}"
        )


class FatalCloseCode(ConnectionLost):
    """The server closed the connection with a close code the policy marks fatal.

    The default fatal codes are 1002 (protocol error), 1003 (unsupported data) and 1008
    (policy violation); see :attr:`trio_orch.ReconnectPolicy.fatal_close_codes`.

    Attributes:
        code: the WebSocket close code.
        reason: the close reason the server gave, if any.
    """

    def __init__(self, url: str, attempts: int, code: int, reason: str | None) -> None:
        self.code = code
        self.reason = reason
        super().__init__(
            url, attempts, f"the server closed the connection with fatal code {code} ({reason!r})"
        )


# --- events -------------------------------------------------------------------------------


class BusClosed(OrchError, trio.ClosedResourceError):
    """The event bus was used after its ``async with open_event_bus()`` block ended.

    Also a :class:`trio.ClosedResourceError`, so code written for closed channels handles it.
    """


class FlowDeadlock(OrchError):
    """A blocking send would close a cycle of full ``DropPolicy.BLOCK`` inboxes.

    Raised by ``await bus.publish(...)`` or ``await actor_ref.send(...)`` in the actor (or flow)
    task whose wait would complete the cycle, instead of letting every task on it wait forever.

    Attributes:
        cycle: the names of the tasks on the cycle, starting and ending with the sender.
    """

    def __init__(self, cycle: tuple[str, ...]) -> None:
        self.cycle = cycle
        path = " -> ".join(cycle)
        super().__init__(
            f"circular flow would deadlock: {path} (every inbox on the cycle is full "
            "and blocks); use a drop policy or emit() on one edge of the cycle"
        )
