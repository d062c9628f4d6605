"""Polling a long-running remote job to its end: :func:`poll_job`, :func:`open_job_poller`.

A provider (anything with ``async poll(job_id) -> PollStatus``) is asked for the job's status
on a fixed grid of ticks, ``interval`` seconds apart, starting at once:

* polls never overlap: the next poll starts only after the previous one returned;
* missed ticks are not burst: a poll (or its retries) that overruns skips the ticks it
  covered, and the next poll waits for the next tick on the grid;
* a poll that raises goes through the retry policy (transient errors are retried with its
  backoff; others propagate);
* ``timeout`` is a deadline (a cancel scope) that raises :class:`~trio_orch.PollTimeout`
  carrying the last status seen; a cancel from outside exits at once.
"""

from __future__ import annotations

import enum
import inspect
import math
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol, final

import attrs
import trio

from trio_orch._exceptions import PollTimeout
from trio_orch._groups import open_nursery_unwrapped
from trio_orch._validate import check_callable, check_int, check_nonempty_str, check_number
from trio_orch.primitives import RetryPolicy, retry

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

__all__ = [
    "JobPoller",
    "Pollable",
    "PollResult",
    "PollState",
    "PollStatus",
    "open_job_poller",
    "poll_job",
]

_DEFAULT_RETRY = RetryPolicy()


class PollState(enum.Enum):
    """A remote job's state, as its provider reports it."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """True for SUCCEEDED, FAILED and CANCELLED: polling stops."""
        return self in _FINISHED


_FINISHED = frozenset({PollState.SUCCEEDED, PollState.FAILED, PollState.CANCELLED})


def _check_progress(_i: object, _a: object, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        msg = f"progress must be a number or None, got {value!r}"
        raise TypeError(msg)
    if not 0 <= value <= 100:
        msg = f"progress must be between 0 and 100, got {value!r}"
        raise ValueError(msg)


def _check_state(_i: object, _a: object, value: Any) -> None:
    if not isinstance(value, PollState):
        msg = f"state must be a PollState, got {value!r}"
        raise TypeError(msg)


@final
@attrs.frozen
class PollStatus:
    """What one poll of a remote job returned.

    Attributes:
        state: the :class:`PollState`.
        progress: percent done (0 to 100), if the provider knows.
        result: the job's output once SUCCEEDED.
        error: the provider's error message once FAILED (or CANCELLED).

    Raises:
        TypeError: ``state`` is not a PollState, or ``progress`` not a number.
        ValueError: ``progress`` is outside 0..100.
    """

    state: PollState = attrs.field(validator=_check_state)
    progress: float | None = attrs.field(default=None, validator=_check_progress)
    result: Any = None
    error: str | None = None


@final
@attrs.frozen
class PollResult:
    """How a polled job ended: returned by :func:`poll_job`, including when it FAILED.

    Attributes:
        status: the last :class:`PollStatus` (its state is SUCCEEDED, FAILED or CANCELLED).
        result: ``status.result``.
        error: ``status.error``.
        attempts: the polls that returned a status (retried failures not counted).
    """

    status: PollStatus
    result: Any
    error: str | None
    attempts: int

    @property
    def ok(self) -> bool:
        """True if the job SUCCEEDED."""
        return self.status.state is PollState.SUCCEEDED


class Pollable(Protocol):
    """What :func:`poll_job` polls: a :class:`~trio_orch.Provider` or anything alike."""

    async def poll(self, job_id: str, /) -> PollStatus:
        """Return the job's current status."""
        ...


@attrs.define(eq=False)
class _Seen:
    last: PollStatus | None = None
    attempts: int = 0


def _check_poll_args(
    job_id: object, interval: object, max_attempts: object, timeout: object, policy: object
) -> None:
    check_nonempty_str("job_id", job_id)
    check_number("interval", interval, strict=True)
    check_int("max_attempts", max_attempts, minimum=1, allow_none=True)
    check_number("timeout", timeout, strict=True, allow_none=True, allow_inf=True)
    if policy is not None and not isinstance(policy, RetryPolicy):
        msg = f"retry must be a RetryPolicy or None, got {policy!r}"
        raise TypeError(msg)


async def _poll_loop(
    provider: Pollable,
    job_id: str,
    interval: float,
    max_attempts: int | None,
    policy: RetryPolicy,
    seen: _Seen,
    on_status: Callable[[PollStatus], object] | None,
) -> PollResult:
    start = trio.current_time()
    tick = 0
    while True:
        status: object = await retry(provider.poll, job_id, policy=policy)
        if not isinstance(status, PollStatus):
            msg = f"{type(provider).__name__}.poll must return a PollStatus, got {status!r}"
            raise TypeError(msg)
        seen.last = status
        seen.attempts += 1
        if on_status is not None:
            value = on_status(status)
            if inspect.isawaitable(value):
                await value
        if status.state.finished:
            return PollResult(status, status.result, status.error, seen.attempts)
        if max_attempts is not None and seen.attempts >= max_attempts:
            raise PollTimeout(job_id, status, seen.attempts, f"within {max_attempts} polls")
        # The next tick on the grid that is not in the past: overrun ticks are skipped.
        elapsed = (trio.current_time() - start) / interval
        tick = max(tick + 1, math.ceil(elapsed - 1e-9))
        await trio.sleep_until(start + tick * interval)


async def poll_job(
    provider: Pollable,
    job_id: str,
    *,
    interval: float = 1.0,
    max_attempts: int | None = None,
    timeout: float | None = None,  # noqa: ASYNC109 - the contract: a deadline that raises PollTimeout
    retry: RetryPolicy | None = None,
    on_status: Callable[[PollStatus], object] | None = None,
) -> PollResult:
    """Poll ``provider`` about ``job_id`` until the job ends; return how it ended.

    The first poll is at once, the next ones on a grid ``interval`` seconds apart (see the
    module notes: no overlap, no burst).  A FAILED or CANCELLED job is returned, not raised.

    Args:
        provider: anything with ``async poll(job_id) -> PollStatus`` (a
            :class:`~trio_orch.Provider`).
        job_id: the provider's job id.
        interval: seconds between ticks (> 0).
        max_attempts: give up after this many polls returned without an end state;
            ``None``: no limit.
        timeout: give up after this many seconds; ``None``: no limit.
        retry: the policy each poll goes through (transient errors are retried, others
            propagate); ``None``: ``RetryPolicy()``.
        on_status: called (sync or async) with every status polled, the last one included.

    Returns:
        A :class:`PollResult`.

    Raises:
        PollTimeout: ``timeout`` or ``max_attempts`` ran out; ``.last_status`` is the last
            status seen (``None`` if no poll returned), ``.attempts`` the polls made.  It is
            a ``trio.TooSlowError``.
        TypeError: ``poll`` returned something that is not a PollStatus; a bad argument.
        ValueError: a bad argument (the message names it).
        Exception: what a poll raised that the retry policy does not retry (or retried
            until it gave up), unchanged.

    Cancellation:
        Exits at once; the remote job is not cancelled (only watched).

    Checkpoints:
        Always.
    """
    _check_poll_args(job_id, interval, max_attempts, timeout, retry)
    check_callable("on_status", on_status, allow_none=True)
    policy = _DEFAULT_RETRY if retry is None else retry
    return await _poll_job(
        provider, job_id, interval, max_attempts, timeout, policy, _Seen(), on_status
    )


async def _poll_job(
    provider: Pollable,
    job_id: str,
    interval: float,
    max_attempts: int | None,
    timeout: float | None,  # noqa: ASYNC109 - poll_job's, checked there
    policy: RetryPolicy,
    seen: _Seen,
    on_status: Callable[[PollStatus], object] | None,
) -> PollResult:
    if timeout is None or math.isinf(timeout):
        return await _poll_loop(provider, job_id, interval, max_attempts, policy, seen, on_status)
    with trio.move_on_after(timeout):
        return await _poll_loop(provider, job_id, interval, max_attempts, policy, seen, on_status)
    raise PollTimeout(job_id, seen.last, seen.attempts, f"within {timeout:g} s")


# --- polling in the background ------------------------------------------------------------


async def _call(fn: Callable[..., object] | None, *args: object) -> None:  # noqa: ASYNC910 - private: called after a checkpointing poll
    if fn is not None:
        value = fn(*args)
        if inspect.isawaitable(value):
            await value


@final
class JobPoller:
    """A job being polled in the background, from ``async with open_job_poller(...)``.

    Attributes:
        job_id: the provider's job id.
    """

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        self._seen = _Seen()
        self._result: PollResult | None = None
        self._error: Exception | None = None
        self._done = trio.Event()
        self._scope = trio.CancelScope()

    def __repr__(self) -> str:
        state = "polling" if not self._done.is_set() else "done"
        return f"<JobPoller {self.job_id!r} {state} polls={self._seen.attempts}>"

    @property
    def status(self) -> PollStatus | None:
        """The last status polled, or ``None`` before the first poll returned."""
        return self._seen.last

    @property
    def attempts(self) -> int:
        """The polls that returned a status so far."""
        return self._seen.attempts

    @property
    def result(self) -> PollResult | None:
        """How the job ended, once it has; else ``None``."""
        return self._result

    @property
    def done(self) -> bool:
        """True once polling stopped: the job ended, polling failed, or :meth:`cancel`."""
        return self._done.is_set()

    def cancel(self) -> None:
        """Stop polling now (the remote job is not cancelled).  Not a checkpoint."""
        self._scope.cancel(reason="JobPoller.cancel() was called")

    async def wait(self) -> PollResult | None:
        """Wait until polling stops; return the :class:`PollResult` (``None`` after :meth:`cancel`).

        Raises:
            Exception: the error polling failed with (a :class:`~trio_orch.PollTimeout`,
                or what a poll raised).

        Cancellation:
            Safe to cancel; polling goes on.

        Checkpoints:
            Always.
        """
        await self._done.wait()
        if self._error is not None:
            raise self._error
        return self._result

    async def _run(
        self,
        provider: Pollable,
        interval: float,
        max_attempts: int | None,
        timeout: float | None,  # noqa: ASYNC109 - passed on to poll_job
        policy: RetryPolicy,
        on_progress: Callable[[PollStatus], object] | None,
        on_complete: Callable[[PollResult], object] | None,
        on_error: Callable[[Exception], object] | None,
    ) -> None:
        async def on_status(status: PollStatus) -> None:  # noqa: ASYNC910 - a poll_job callback: the poll checkpointed
            if not status.state.finished:
                await _call(on_progress, status)

        try:
            with self._scope:
                try:
                    self._result = await _poll_job(
                        provider,
                        self.job_id,
                        interval,
                        max_attempts,
                        timeout,
                        policy,
                        self._seen,
                        on_status,
                    )
                except Exception as exc:
                    self._error = exc
                    if on_error is None:
                        raise
                    await _call(on_error, exc)
                else:
                    await _call(on_complete, self._result)
        finally:
            self._done.set()


@asynccontextmanager
async def open_job_poller(
    provider: Pollable,
    job_id: str,
    *,
    interval: float = 1.0,
    max_attempts: int | None = None,
    timeout: float | None = None,  # noqa: ASYNC109 - the contract: a deadline that raises PollTimeout
    retry: RetryPolicy | None = None,
    on_progress: Callable[[PollStatus], object] | None = None,
    on_complete: Callable[[PollResult], object] | None = None,
    on_error: Callable[[Exception], object] | None = None,
) -> AsyncIterator[JobPoller]:
    """Poll a job in the block's nursery, as :func:`poll_job` does, reporting by callbacks.

    ``async with open_job_poller(provider, job_id, on_complete=done) as poller:`` — the
    block may do other work meanwhile; when it ends normally it waits until polling stops
    (call :meth:`JobPoller.cancel` to stop early).  Callbacks may be sync or async; what
    they raise propagates out of the block.

    Args:
        provider, job_id, interval, max_attempts, timeout, retry: as for :func:`poll_job`.
        on_progress: called with every status that is not an end state.
        on_complete: called with the :class:`PollResult` when the job ended (in any end
            state, as :func:`poll_job` returns).
        on_error: called with the error when polling failed (``PollTimeout``, or what a
            poll raised); the error then does not propagate out of the block (but
            :meth:`JobPoller.wait` raises it).  ``None``: it propagates out of the block.

    Raises:
        TypeError, ValueError: a bad argument (the message names it).
        Exception: the polling error when there is no ``on_error``; what the block raised.

    Cancellation:
        Cancelling the block stops polling at once.
    """
    _check_poll_args(job_id, interval, max_attempts, timeout, retry)
    check_callable("on_progress", on_progress, allow_none=True)
    check_callable("on_complete", on_complete, allow_none=True)
    check_callable("on_error", on_error, allow_none=True)
    poller = JobPoller(job_id)
    policy = _DEFAULT_RETRY if retry is None else retry
    async with open_nursery_unwrapped("open_job_poller()") as nursery:
        nursery.start_soon(
            poller._run,
            provider,
            interval,
            max_attempts,
            timeout,
            policy,
            on_progress,
            on_complete,
            on_error,
            name=f"poll {job_id}",
        )
        yield poller
