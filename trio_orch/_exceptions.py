"""Every exception that trio_orch defines.

The hierarchy::

    OrchError                     base of every error trio_orch raises itself
    ├── TransientError            mark your own errors as worth retrying
    ├── PermanentError            mark your own errors as never worth retrying
    ├── LimiterFull               ConcurrencyLimiter.run: the wait queue is full
    └── QueueFull                 a DropPolicy.REJECT channel is full (also a trio.WouldBlock)

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


class LimiterFull(OrchError):  # noqa: N818 - the contract's name
    """Raised by :meth:`trio_orch.ConcurrencyLimiter.run` when ``queue_limit`` callers wait.

    Attributes:
        queue_limit: the limit that was reached.
    """

    def __init__(self, queue_limit: int) -> None:
        self.queue_limit = queue_limit
        super().__init__(f"limiter queue is full: {queue_limit} callers already wait")


class QueueFull(OrchError, trio.WouldBlock):  # noqa: N818 - the contract's name
    """Raised when an item is sent to a full :attr:`DropPolicy.REJECT` channel.

    It is also a :class:`trio.WouldBlock`, so code written for ``send_nowait`` handles it.

    Attributes:
        max_size: the channel's capacity.
    """

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        super().__init__(f"channel is full: {max_size} items queued")
