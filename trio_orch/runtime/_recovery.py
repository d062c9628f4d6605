"""ErrorRecoveryManager: match an error to a pattern, then apply that pattern's strategy.

Patterns are tried in the order they were added; the first that matches wins.  A pattern
matches by exception type, by a regex searched in ``str(error)``, and by a predicate; every
criterion given must hold.  Its strategy decides what recovery means:

=====================  =================================================================
strategy               what :meth:`ErrorRecoveryManager.handle` does
=====================  =================================================================
``RetryStrategy``      re-runs ``context["operation"]`` (an async callable) under a
                       :class:`~trio_orch.RetryPolicy`; recovered with its value
``RestartStrategy``    awaits the restart callable (or ``context["restart"]``), then
                       re-runs ``context["operation"]`` once if there is one
``FallbackStrategy``   recovered at once with the fallback value
``EscalateStrategy``   not recovered, ``escalated=True``, logged at ERROR
none                   not recovered (the pattern only categorizes)
=====================  =================================================================

``trio.Cancelled``, ``KeyboardInterrupt`` and ``SystemExit`` are never handled: passing one
re-raises it at once, and a strategy that is cancelled propagates the cancellation.
"""

from __future__ import annotations

import enum
import re
from typing import TYPE_CHECKING, Any, final

import attrs
import trio

from trio_orch._log import get_logger
from trio_orch._validate import check_instance, check_nonempty_str
from trio_orch.events import SystemEvent
from trio_orch.primitives import RetryPolicy, retry

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from trio_orch.events import EventBus
    from trio_orch.runtime._monitor import PerformanceMonitor

__all__ = [
    "ErrorEscalated",
    "ErrorPattern",
    "ErrorRecovered",
    "ErrorRecoveryManager",
    "ErrorSeverity",
    "EscalateStrategy",
    "FallbackStrategy",
    "RecoveryEvent",
    "RecoveryResult",
    "RecoveryStats",
    "RestartStrategy",
    "RetryStrategy",
]

_logger = get_logger("recovery")
_NEVER_HANDLED = (trio.Cancelled, KeyboardInterrupt, SystemExit, GeneratorExit)


class ErrorSeverity(enum.Enum):
    """How bad an error is: ``LOW``, ``MEDIUM``, ``HIGH`` or ``CRITICAL``."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


@final
@attrs.frozen
class RetryStrategy:
    """Re-run ``context["operation"]`` under ``policy``; recovered if an attempt succeeds."""

    policy: RetryPolicy = attrs.field(factory=RetryPolicy)


@final
@attrs.frozen
class RestartStrategy:
    """Restart a component, then re-run ``context["operation"]`` once if there is one.

    Attributes:
        restart: an async callable that restarts the component; ``None`` takes
            ``context["restart"]``.
        component: the component's name, for reports.
    """

    restart: Callable[[], Awaitable[object]] | None = None
    component: str | None = None


@final
@attrs.frozen
class FallbackStrategy:
    """Recover at once with ``value``."""

    value: object


@final
@attrs.frozen
class EscalateStrategy:
    """Do not recover: report the error as escalated (logged at ERROR, an event)."""


Strategy = RetryStrategy | RestartStrategy | FallbackStrategy | EscalateStrategy


def _compile(value: object) -> re.Pattern[str] | None:
    if value is None or isinstance(value, re.Pattern):
        return value
    if isinstance(value, str):
        return re.compile(value)
    msg = f"message must be a regex str, a compiled pattern or None, got {value!r}"
    raise TypeError(msg)


@final
@attrs.frozen(kw_only=True)
class ErrorPattern:
    """A kind of error, and what to do about it.

    Args:
        name: the pattern's name, used in counts and events.
        error_type: match instances of this type (or tuple of types).
        message: a regex searched in ``str(error)``.
        predicate: ``fn(error) -> bool``.
        severity: an :class:`ErrorSeverity` (default ``MEDIUM``).
        retryable: whether errors of this kind are worth retrying (informative for callers
            of :meth:`ErrorRecoveryManager.categorize`).
        strategy: what :meth:`ErrorRecoveryManager.handle` does (``None``: only categorize).

    Every criterion given must hold; a pattern with none matches every ``Exception``.
    """

    name: str = attrs.field()
    error_type: type[BaseException] | tuple[type[BaseException], ...] | None = None
    message: re.Pattern[str] | None = attrs.field(default=None, converter=_compile)
    predicate: Callable[[BaseException], bool] | None = None
    severity: ErrorSeverity = ErrorSeverity.MEDIUM
    retryable: bool = False
    strategy: Strategy | None = None

    @name.validator
    def _check_name(self, _: object, value: object) -> None:
        check_nonempty_str("name", value)

    def matches(self, error: BaseException) -> bool:
        """Whether ``error`` is of this kind."""
        if self.error_type is not None and not isinstance(error, self.error_type):
            return False
        if self.message is not None and self.message.search(str(error)) is None:
            return False
        return self.predicate is None or bool(self.predicate(error))


@final
@attrs.frozen
class RecoveryResult:
    """What :meth:`ErrorRecoveryManager.handle` did.

    Attributes:
        recovered: True when the strategy produced a value in place of the error.
        value: that value (the operation's result, or the fallback).
        pattern: the matching pattern, or ``None``.
        error: the error that remains: the original, or the last one a retry or restart saw;
            ``None`` when recovered.
        escalated: True when the pattern's strategy escalated.
        attempts: how many times the operation was re-run.
    """

    recovered: bool
    value: object = None
    pattern: ErrorPattern | None = None
    error: BaseException | None = None
    escalated: bool = False
    attempts: int = 0


@final
@attrs.frozen
class RecoveryStats:
    """Counts so far: errors handled, recovered, escalated, and handled per pattern name."""

    handled: int
    recovered: int
    escalated: int
    unmatched: int
    by_pattern: Mapping[str, int]


@attrs.frozen
class RecoveryEvent(SystemEvent):
    """Base class of the events an :class:`ErrorRecoveryManager` publishes."""


@final
@attrs.frozen
class ErrorRecovered(RecoveryEvent):
    """``error`` matched ``pattern`` and its strategy recovered."""

    pattern: str
    error: BaseException
    strategy: str


@final
@attrs.frozen
class ErrorEscalated(RecoveryEvent):
    """``error`` matched ``pattern``, whose strategy escalated it."""

    pattern: str
    error: BaseException
    severity: ErrorSeverity


@final
class ErrorRecoveryManager:
    """Categorize errors by pattern and recover from them by strategy.

    Args:
        patterns: patterns to add, in order.
        bus: where :class:`ErrorRecovered` / :class:`ErrorEscalated` go (``bus.emit``).
        monitor: a :class:`~trio_orch.PerformanceMonitor` that gets a counter
            ``recovery.<pattern>`` per handled error, so counts by pattern appear in its
            reports.
    """

    def __init__(
        self,
        patterns: list[ErrorPattern] | tuple[ErrorPattern, ...] = (),
        *,
        bus: EventBus | None = None,
        monitor: PerformanceMonitor | None = None,
    ) -> None:
        self._patterns: list[ErrorPattern] = []
        self._bus = bus
        self._monitor = monitor
        self._by_pattern: dict[str, int] = {}
        self._handled = self._recovered = self._escalated = self._unmatched = 0
        for pattern in patterns:
            self.add_pattern(pattern)

    def add_pattern(self, pattern: ErrorPattern) -> None:
        """Add ``pattern`` after the others.

        Raises:
            TypeError: not an :class:`ErrorPattern`.
            ValueError: a pattern with that name exists.
        """
        check_instance("pattern", pattern, ErrorPattern, "an ErrorPattern")
        if any(p.name == pattern.name for p in self._patterns):
            msg = f"pattern name must be unique, got {pattern.name!r} twice"
            raise ValueError(msg)
        self._patterns.append(pattern)

    def remove_pattern(self, name: str) -> None:
        """Remove the pattern called ``name`` (a missing name is a ``KeyError``)."""
        for index, pattern in enumerate(self._patterns):
            if pattern.name == name:
                del self._patterns[index]
                return
        raise KeyError(name)

    @property
    def patterns(self) -> tuple[ErrorPattern, ...]:
        """The patterns, in matching order."""
        return tuple(self._patterns)

    def categorize(self, error: BaseException) -> ErrorPattern | None:
        """The first pattern ``error`` matches, or ``None``."""
        for pattern in self._patterns:
            if pattern.matches(error):
                return pattern
        return None

    @property
    def stats(self) -> RecoveryStats:
        """A frozen snapshot of the counts."""
        return RecoveryStats(
            handled=self._handled,
            recovered=self._recovered,
            escalated=self._escalated,
            unmatched=self._unmatched,
            by_pattern=dict(self._by_pattern),
        )

    async def handle(
        self, error: BaseException, context: Mapping[str, Any] | None = None
    ) -> RecoveryResult:
        """Categorize ``error`` and apply its pattern's strategy.

        Args:
            error: the error to recover from.
            context: what strategies may use: ``"operation"`` (an async callable taking no
                arguments, re-run by retry and restart) and ``"restart"`` (an async
                callable, for :class:`RestartStrategy` without its own).

        Returns:
            A :class:`RecoveryResult`; an unmatched error gives ``recovered=False``.

        Raises:
            trio.Cancelled, KeyboardInterrupt, SystemExit: ``error`` is one of them (re-raised
                as it is), or the strategy was cancelled.
            ValueError: the strategy needs ``context["operation"]`` / ``["restart"]``.

        Checkpoints: always, once at least.
        """
        if isinstance(error, _NEVER_HANDLED):
            raise error
        context = context or {}
        self._handled += 1
        pattern = self.categorize(error)
        if pattern is None:
            self._unmatched += 1
            await trio.lowlevel.checkpoint()
            return RecoveryResult(recovered=False, error=error)
        self._by_pattern[pattern.name] = self._by_pattern.get(pattern.name, 0) + 1
        if self._monitor is not None:
            self._monitor.increment(f"recovery.{pattern.name}")
        result = await self._apply(pattern, error, context)
        if result.recovered:
            self._recovered += 1
            if self._bus is not None:
                strategy = type(pattern.strategy).__name__
                self._bus.emit(ErrorRecovered(pattern.name, error, strategy))
        elif result.escalated:
            self._escalated += 1
            _logger.error(
                "trio_orch.recovery.escalated",
                pattern=pattern.name,
                severity=pattern.severity.value,
                error=repr(error),
            )
            if self._bus is not None:
                self._bus.emit(ErrorEscalated(pattern.name, error, pattern.severity))
        return result

    async def _apply(
        self, pattern: ErrorPattern, error: BaseException, context: Mapping[str, Any]
    ) -> RecoveryResult:
        await trio.lowlevel.checkpoint()
        strategy = pattern.strategy
        if isinstance(strategy, FallbackStrategy):
            return RecoveryResult(recovered=True, value=strategy.value, pattern=pattern)
        if isinstance(strategy, EscalateStrategy):
            return RecoveryResult(recovered=False, pattern=pattern, error=error, escalated=True)
        if isinstance(strategy, RetryStrategy):
            operation = _needed(context, "operation", pattern)
            attempts = 0

            async def attempt() -> object:
                nonlocal attempts
                attempts += 1
                return await operation()

            try:
                value = await retry(attempt, policy=strategy.policy)
            except Exception as exc:
                return RecoveryResult(
                    recovered=False, pattern=pattern, error=exc, attempts=attempts
                )
            return RecoveryResult(recovered=True, value=value, pattern=pattern, attempts=attempts)
        if isinstance(strategy, RestartStrategy):
            restart = strategy.restart or _needed(context, "restart", pattern)
            operation = context.get("operation")
            try:
                await restart()
                value = None if operation is None else await operation()
            except Exception as exc:
                _logger.warning(
                    "trio_orch.recovery.restart_failed",
                    pattern=pattern.name,
                    component=strategy.component,
                    error=repr(exc),
                )
                return RecoveryResult(
                    recovered=False,
                    pattern=pattern,
                    error=exc,
                    attempts=0 if operation is None else 1,
                )
            return RecoveryResult(
                recovered=True, value=value, pattern=pattern, attempts=0 if operation is None else 1
            )
        return RecoveryResult(recovered=False, pattern=pattern, error=error)


def _needed(context: Mapping[str, Any], key: str, pattern: ErrorPattern) -> Any:
    value = context.get(key)
    if not callable(value):
        msg = f"context[{key!r}] must be an async callable for pattern {pattern.name!r}, got {value!r}"
        raise ValueError(msg)
    return value
