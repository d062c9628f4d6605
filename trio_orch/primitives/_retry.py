"""Retry with exponential backoff and jitter: :func:`retry`, :func:`retrying`, :class:`RetryPolicy`.

The success path does nothing but one checkpoint and the call itself: everything a policy
needs (the retry predicate, the backoff cap) is computed once when the policy is built, and
the retry machinery (delays, logging, the testing switch) is only touched after a failure.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import itertools
import math
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Any, ParamSpec, TypeAlias, TypeVar, TypeVarTuple, final, overload

import attrs
import trio

from trio_orch._groups import leaves
from trio_orch._log import callable_name, get_logger
from trio_orch._validate import (
    callable_validator,
    check_int,
    instance_validator,
    int_validator,
    number_validator,
)
from trio_orch.primitives._backoff import Backoff
from trio_orch.primitives._backoff import Jitter as Jitter  # its old home; still importable
from trio_orch.primitives._errors import is_transient

if TYPE_CHECKING:
    import random

T = TypeVar("T")
P = ParamSpec("P")
PosArgsT = TypeVarTuple("PosArgsT")

#: What ``retry_on`` accepts: a predicate, an exception type, or a tuple of them.
RetryOn: TypeAlias = (
    Callable[[Exception], bool] | type[BaseException] | tuple[type[BaseException], ...]
)

_logger = get_logger("retry")

# Never retried, whatever retry_on says.  They are not Exceptions, so ``except Exception``
# already lets them through; the check also covers odd classes that inherit from both.
_NEVER_RETRIED = (trio.Cancelled, KeyboardInterrupt, SystemExit, GeneratorExit)


@final
@attrs.frozen
class RetryDetails:
    """What :attr:`RetryPolicy.on_retry` is called with, just before the backoff sleep.

    Attributes:
        fn_name: the retried callable's ``__qualname__`` (or ``repr`` when it has none).
        attempt: the number of the attempt that just failed (1 is the first call).
        max_attempts: the attempts allowed in all (after :func:`retry_testing`).
        delay: seconds retry is about to sleep.
        error: the exception the failed attempt raised.
    """

    fn_name: str
    attempt: int
    max_attempts: int
    delay: float
    error: Exception


# --- validation ---------------------------------------------------------------------------


def _is_exception_type(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, BaseException)


def _check_retry_on(_i: object, _a: object, value: object) -> None:
    ok = all(map(_is_exception_type, value)) if isinstance(value, tuple) else callable(value)
    if not ok:
        msg = f"retry_on must be a predicate or a tuple of exception types, got {value!r}"
        raise TypeError(msg)


def _accepts_types(types: tuple[type[BaseException], ...]) -> Callable[[Exception], bool]:
    def accepts(exc: Exception) -> bool:
        return isinstance(exc, types)

    return accepts


# --- the policy ---------------------------------------------------------------------------


@final
@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How :func:`retry` retries: attempts, exponential backoff with jitter, what to retry.

    The delay before retry ``n`` (n = 1, 2, ...) is
    ``base = min(max_delay, initial_delay * multiplier ** (n - 1))`` randomised by ``jitter``
    (see :class:`Jitter`); the four delay fields make the policy's :attr:`backoff`
    (a :class:`Backoff`, the one schedule trio_orch has).  The power never overflows: past
    the cap it is the cap, for any ``n``.  The formula clamps: ``initial_delay`` above
    ``max_delay`` is not an error, every delay is then ``max_delay`` (so
    ``RetryPolicy(initial_delay=100)`` waits 30 s, the default cap, before each retry).

    Args:
        max_attempts: every attempt counts, the first call included (3 → at most 2 retries).
        initial_delay: seconds of the first base delay.
        max_delay: the cap of every delay, in seconds.
        multiplier: growth of the base delay per retry (``1`` keeps it constant).
        jitter: how delays are randomised.
        retry_on: which errors are retried: a predicate ``(exc) -> bool``, an exception
            type, or a tuple of them.  For an ``ExceptionGroup`` it is asked about every leaf
            and the group is retried only if it accepts all of them.  ``trio.Cancelled``,
            ``KeyboardInterrupt``, ``SystemExit`` and every other non-``Exception`` are never
            retried, whatever it says.
        timeout: seconds that bound all attempts *and* sleeps together, or ``None`` (no
            cancel scope at all).  ``math.inf`` is the same as ``None``.
        on_retry: called (synchronously) with a :class:`RetryDetails` before every backoff
            sleep.  Whatever it raises propagates and ends the retrying.

    Raises:
        TypeError: an argument has the wrong type (the message names it and its value).
        ValueError: ``max_attempts < 1``; a delay that is negative, infinite or NaN;
            ``multiplier < 1``; ``timeout <= 0`` or NaN.
    """

    max_attempts: int = attrs.field(default=3, validator=int_validator(minimum=1))
    initial_delay: float = attrs.field(default=1.0, validator=number_validator())
    max_delay: float = attrs.field(default=30.0, validator=number_validator())
    multiplier: float = attrs.field(default=2.0, validator=number_validator(minimum=1))
    jitter: Jitter = attrs.field(
        default=Jitter.FULL, validator=instance_validator(Jitter, "a Jitter")
    )
    retry_on: RetryOn = attrs.field(default=is_transient, validator=_check_retry_on)
    timeout: float | None = attrs.field(
        default=None,
        validator=number_validator(strict=True, allow_none=True, allow_inf=True),
    )
    on_retry: Callable[[RetryDetails], object] | None = attrs.field(
        default=None, validator=callable_validator(allow_none=True)
    )

    #: The :class:`Backoff` schedule built from the four delay fields.
    backoff: Backoff = attrs.field(init=False, repr=False, eq=False, hash=False)
    # Built once per policy, so that a call pays nothing for them.
    _accepts: Callable[[Exception], bool] = attrs.field(init=False, repr=False, eq=False)
    _scope_timeout: float | None = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        retry_on = self.retry_on
        if isinstance(retry_on, tuple):
            accepts = _accepts_types(retry_on)
        elif _is_exception_type(retry_on):
            accepts = _accepts_types((retry_on,))  # type: ignore[arg-type]  # checked above
        else:
            accepts = retry_on  # type: ignore[assignment]  # a predicate
        timeout = None if self.timeout is None or math.isinf(self.timeout) else self.timeout
        backoff = Backoff(
            initial_delay=self.initial_delay,
            max_delay=self.max_delay,
            multiplier=self.multiplier,
            jitter=self.jitter,
        )
        object.__setattr__(self, "backoff", backoff)
        object.__setattr__(self, "_accepts", accepts)
        object.__setattr__(self, "_scope_timeout", timeout)

    def base_delay(self, retry_number: int) -> float:
        """The un-jittered delay before retry ``retry_number`` (1 = the first retry).

        ``min(max_delay, initial_delay * multiplier ** (retry_number - 1))``, computed
        without overflow for any ``retry_number`` (see :meth:`Backoff.base_delay`).

        Raises:
            TypeError: ``retry_number`` is not an int.
            ValueError: ``retry_number < 1``.
        """
        return self.backoff.base_delay(retry_number)

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """Yield the ``max_attempts - 1`` delays, in seconds, before each retry.

        The first ``max_attempts - 1`` delays of :attr:`backoff`'s schedule
        (:meth:`Backoff.delays`); every delay is in ``[0, max_delay]``.

        Args:
            rng: the source of randomness; pass a seeded ``random.Random`` for a
                reproducible schedule.  ``None`` uses the ``random`` module's generator.
        """
        return self._delays(rng, self.max_attempts)

    def _delays(self, rng: random.Random | None, attempts: int) -> Iterator[float]:
        return itertools.islice(self.backoff.delays(rng), attempts - 1)

    def should_retry(self, error: BaseException) -> bool:
        """Whether this policy retries ``error`` (attempts and deadlines aside).

        ``False`` for every non-``Exception`` (``trio.Cancelled``, ``KeyboardInterrupt``,
        ``SystemExit``, ...); for an ``ExceptionGroup``, ``True`` only when ``retry_on``
        accepts every leaf.
        """
        if isinstance(error, BaseExceptionGroup):
            return isinstance(error, Exception) and all(
                self._accepts_leaf(leaf) for leaf in leaves(error)
            )
        return self._accepts_leaf(error)

    def _accepts_leaf(self, exc: BaseException) -> bool:
        if not isinstance(exc, Exception) or isinstance(exc, _NEVER_RETRIED):
            return False
        return bool(self._accepts(exc))


_DEFAULT_POLICY = RetryPolicy()


# --- the testing switch -------------------------------------------------------------------


@final
@attrs.frozen
class _Testing:
    attempts: int | None
    cap: bool

    def max_attempts(self, configured: int) -> int:
        if self.attempts is None:
            return configured
        return min(configured, self.attempts) if self.cap else self.attempts


_TESTING: contextvars.ContextVar[_Testing | None] = contextvars.ContextVar(
    "trio_orch_retry_testing", default=None
)


@contextlib.contextmanager
def retry_testing(*, attempts: int | None = None, cap: bool = False) -> Iterator[None]:
    """Within the ``with`` block, retries do not back off: every delay is 0.

    For your own tests of code that retries.  The switch lives in a context variable, so it
    covers the current task and the tasks it starts inside the block, and ends with it:
    nothing leaks into other tests or other tasks.

    Args:
        attempts: replace every policy's ``max_attempts`` (``None`` keeps it).
        cap: with ``attempts``, only lower ``max_attempts`` to it, never raise it.

    Raises:
        TypeError: ``attempts`` is neither ``None`` nor an ``int``.
        ValueError: ``attempts < 1``.

    Timeouts and deadlines still apply; each retry still checkpoints (``trio.sleep(0)``).
    Use it as a ``with`` block (as a decorator it would not cover an ``async def``).
    """
    if attempts is not None:
        check_int("attempts", attempts, minimum=1)
    token = _TESTING.set(_Testing(attempts, cap))
    try:
        yield
    finally:
        _TESTING.reset(token)


# --- retrying -----------------------------------------------------------------------------


def _plural(n: int) -> str:
    return f"{n} attempt" if n == 1 else f"{n} attempts"


@attrs.define
class _Progress:
    """Where a timed retry got to, for the TooSlowError it may have to raise."""

    attempt: int = 1
    error: Exception | None = None


_FIRST_ATTEMPT = _Progress()


async def _retry_after_failure(
    fn: Callable[..., Awaitable[T]],
    args: tuple[object, ...],
    kwargs: dict[str, Any],
    policy: RetryPolicy,
    error: Exception,
    progress: _Progress | None,
) -> T:
    """Attempt 1 raised ``error``; retry until success, a give-up, or cancellation."""
    testing = _TESTING.get()
    max_attempts = (
        policy.max_attempts if testing is None else testing.max_attempts(policy.max_attempts)
    )
    delays = None if testing is not None else policy._delays(None, max_attempts)
    attempt = 1
    while True:
        if progress is not None:
            progress.error = error
        if not policy.should_retry(error):
            if attempt > 1:
                error.add_note(
                    f"trio_orch.retry: {callable_name(fn)} raised this non-retryable error "
                    f"on attempt {attempt} of {max_attempts}"
                )
            raise error
        if attempt >= max_attempts:
            _give_up(fn, error, attempt, "exhausted", 0.0)
            raise error
        delay = 0.0 if delays is None else next(delays)
        if trio.current_time() + delay >= trio.current_effective_deadline():
            _give_up(fn, error, attempt, "deadline", delay)
            raise error
        _schedule(fn, policy, error, attempt, max_attempts, delay)
        await trio.sleep(delay)
        attempt += 1
        if progress is not None:
            progress.attempt = attempt
        try:
            return await fn(*args, **kwargs)
        except Exception as exc:
            error = exc


def _schedule(
    fn: object, policy: RetryPolicy, error: Exception, attempt: int, max_attempts: int, delay: float
) -> None:
    name = callable_name(fn)
    _logger.warning(
        "trio_orch.retry.scheduled",
        fn=name,
        attempt=attempt,
        max_attempts=max_attempts,
        delay=delay,
        error=repr(error),
    )
    if policy.on_retry is not None:
        policy.on_retry(RetryDetails(name, attempt, max_attempts, delay, error))


def _give_up(fn: object, error: Exception, attempt: int, reason: str, delay: float) -> None:
    name = callable_name(fn)
    if reason == "deadline":
        note = (
            f"trio_orch.retry: gave up on {name} after {_plural(attempt)}: the next retry, "
            f"in {delay:.6g} s, would end past the deadline"
        )
    else:
        note = f"trio_orch.retry: gave up on {name} after {_plural(attempt)}"
    error.add_note(note)
    _logger.warning(
        "trio_orch.retry.gave_up",
        fn=name,
        attempt=attempt,
        reason=reason,
        delay=delay,
        error=repr(error),
    )


async def _retry_with_timeout(
    fn: Callable[..., Awaitable[T]],
    args: tuple[object, ...],
    kwargs: dict[str, Any],
    policy: RetryPolicy,
    seconds: float,
) -> T:
    progress = _FIRST_ATTEMPT  # never mutated: replaced once the first attempt fails
    with trio.CancelScope(deadline=trio.current_time() + seconds):
        try:
            return await fn(*args, **kwargs)
        except Exception as exc:
            error = exc
        progress = _Progress(error=error)
        return await _retry_after_failure(fn, args, kwargs, policy, error, progress)
    # Only reached when our own deadline cancelled an attempt or a sleep.
    msg = (
        f"{callable_name(fn)} did not succeed within the retry timeout of {seconds!r} s "
        f"({_plural(progress.attempt)} started)"
    )
    raise trio.TooSlowError(msg) from progress.error


async def retry(
    fn: Callable[[*PosArgsT], Awaitable[T]],
    *args: *PosArgsT,
    policy: RetryPolicy = _DEFAULT_POLICY,
) -> T:
    """Call ``await fn(*args)``, retrying per ``policy``; return its value.

    Args:
        fn: the async function to call; ``args`` go to it (use ``functools.partial`` for
            keyword arguments).
        policy: attempts, backoff, what to retry, timeout (default ``RetryPolicy()``).

    Returns:
        What ``fn`` returned on the first attempt that succeeded.

    Raises:
        Exception: an error ``policy`` does not retry propagates at once, unchanged.  When
            attempts run out, or the next backoff would end past the effective deadline, the
            last error propagates: the same object, with a note saying why and after how
            many attempts (and a ``"trio_orch.retry.gave_up"`` log event).
        trio.TooSlowError: ``policy.timeout`` expired while an attempt or a sleep was under
            way (chained from the last failure, if any).

    Cancellation:
        ``trio.Cancelled``, ``KeyboardInterrupt``, ``SystemExit`` (and any non-``Exception``)
        propagate at once and are never retried.  A cancel during a backoff sleep ends
        ``retry`` with no further attempt.

    Checkpoints:
        Always: one checkpoint before the first call, and every retry sleeps (for 0 s
        under :func:`retry_testing`).  Each retry is logged at WARNING on the stdlib logger
        ``trio_orch.retry`` as ``"trio_orch.retry.scheduled"``; a give-up as
        ``"trio_orch.retry.gave_up"``, also at WARNING.
    """
    await trio.lowlevel.checkpoint()
    timeout = policy._scope_timeout
    if timeout is not None:
        return await _retry_with_timeout(fn, args, {}, policy, timeout)
    try:
        return await fn(*args)
    except Exception as exc:
        error = exc
    return await _retry_after_failure(fn, args, {}, policy, error, None)


def _wrap(
    fn: Callable[P, Awaitable[T]], policy: RetryPolicy
) -> Callable[P, Coroutine[Any, Any, T]]:
    @functools.wraps(fn)
    async def retrying_wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        await trio.lowlevel.checkpoint()
        timeout = policy._scope_timeout
        if timeout is not None:
            return await _retry_with_timeout(fn, args, kwargs, policy, timeout)
        try:
            return await fn(*args, **kwargs)
        except Exception as exc:
            error = exc
        return await _retry_after_failure(fn, args, kwargs, policy, error, None)

    return retrying_wrapper


@final
@attrs.frozen
class _Decorator:
    policy: RetryPolicy

    def __call__(self, fn: Callable[P, Awaitable[T]]) -> Callable[P, Coroutine[Any, Any, T]]:
        return _wrap(fn, self.policy)


@overload
def retrying(policy: Callable[P, Awaitable[T]], /) -> Callable[P, Coroutine[Any, Any, T]]: ...


@overload
def retrying(
    policy: RetryPolicy | None = None, /
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Coroutine[Any, Any, T]]]: ...


def retrying(policy: object = None, /) -> Any:
    """Decorate an async function so that every call goes through :func:`retry`.

    Use it as ``@retrying(policy)``, ``@retrying()`` or bare ``@retrying`` (the default
    policy).  The wrapper keeps the function's signature (``ParamSpec``), name, docstring and
    ``__wrapped__``, passes keyword arguments through, and works on methods.

    Raises:
        TypeError: ``policy`` is neither a :class:`RetryPolicy`, ``None`` nor a callable.

    The wrapper raises, cancels and checkpoints exactly as :func:`retry` does.
    """
    if policy is None:
        return _Decorator(_DEFAULT_POLICY)
    if isinstance(policy, RetryPolicy):
        return _Decorator(policy)
    if callable(policy):
        return _wrap(policy, _DEFAULT_POLICY)
    msg = f"policy must be a RetryPolicy, got {policy!r}"
    raise TypeError(msg)
