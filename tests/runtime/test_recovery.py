"""ErrorRecoveryManager: patterns, categorize, each strategy, counts and events."""

from __future__ import annotations

import re

import pytest
import trio

from trio_orch import (
    ErrorEscalated,
    ErrorPattern,
    ErrorRecovered,
    ErrorRecoveryManager,
    ErrorSeverity,
    EscalateStrategy,
    FallbackStrategy,
    PerformanceMonitor,
    RestartStrategy,
    RetryPolicy,
    RetryStrategy,
    open_event_bus,
)


def test_patterns_match_by_type_message_and_predicate() -> None:
    by_type = ErrorPattern(name="conn", error_type=ConnectionError)
    by_message = ErrorPattern(name="quota", message=r"quota \d+ exceeded")
    both = ErrorPattern(name="both", error_type=ValueError, message=re.compile("bad"))
    by_predicate = ErrorPattern(name="odd", predicate=lambda e: len(str(e)) % 2 == 1)
    manager = ErrorRecoveryManager([by_type, by_message, both, by_predicate])
    assert manager.categorize(ConnectionResetError()) is by_type
    assert manager.categorize(RuntimeError("quota 5 exceeded")) is by_message
    assert manager.categorize(ValueError("bad input")) is both
    assert manager.categorize(ValueError("good")) is None
    assert manager.categorize(KeyError("x")) is by_predicate  # "'x'" has 3 characters
    assert manager.patterns == (by_type, by_message, both, by_predicate)
    manager.remove_pattern("odd")
    assert manager.categorize(KeyError("x")) is None
    with pytest.raises(KeyError):
        manager.remove_pattern("odd")


def test_bad_patterns() -> None:
    with pytest.raises(ValueError, match=r"^name must not be empty, got ''$"):
        ErrorPattern(name="")
    with pytest.raises(
        TypeError, match=r"^message must be a regex str, a compiled pattern or None, got 3$"
    ):
        ErrorPattern(name="x", message=3)  # type: ignore[arg-type]
    manager = ErrorRecoveryManager([ErrorPattern(name="x")])
    with pytest.raises(ValueError, match=r"^pattern name must be unique, got 'x' twice$"):
        manager.add_pattern(ErrorPattern(name="x"))
    with pytest.raises(TypeError, match=r"^pattern must be an ErrorPattern, got 'x'$"):
        manager.add_pattern("x")  # type: ignore[arg-type]


async def test_fallback_recovers_and_counts() -> None:
    async with open_event_bus() as bus:
        recovered: list[ErrorRecovered] = []
        bus.on(ErrorRecovered, recovered.append)
        monitor = PerformanceMonitor()
        manager = ErrorRecoveryManager(
            [ErrorPattern(name="missing", error_type=KeyError, strategy=FallbackStrategy({}))],
            bus=bus,
            monitor=monitor,
        )
        error = KeyError("cfg")
        result = await manager.handle(error)
        assert result.recovered
        assert result.value == {}
        assert result.pattern is not None
        assert result.pattern.name == "missing"
        assert result.error is None
        unmatched = await manager.handle(ValueError("x"))
        assert not unmatched.recovered
        assert unmatched.pattern is None
        assert unmatched.error is not None
        stats = manager.stats
        assert (stats.handled, stats.recovered, stats.unmatched) == (2, 1, 1)
        assert stats.by_pattern == {"missing": 1}
        assert monitor.report().counters == {"recovery.missing": 1}
        assert recovered == [ErrorRecovered("missing", error, "FallbackStrategy")]


async def test_retry_reruns_the_operation(autojump_clock: trio.abc.Clock) -> None:
    calls = 0

    async def operation() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError("flaky")
        return "ok"

    policy = RetryPolicy(max_attempts=5, initial_delay=1.0)
    manager = ErrorRecoveryManager(
        [
            ErrorPattern(
                name="net",
                error_type=ConnectionError,
                retryable=True,
                strategy=RetryStrategy(policy),
            )
        ]
    )
    result = await manager.handle(ConnectionError("first"), {"operation": operation})
    assert result.recovered
    assert (result.value, result.attempts, calls) == ("ok", 3, 3)


async def test_retry_that_gives_up_is_not_recovered(autojump_clock: trio.abc.Clock) -> None:
    async def operation() -> None:
        raise ConnectionError("down")

    policy = RetryPolicy(max_attempts=2, initial_delay=0.1)
    manager = ErrorRecoveryManager(
        [ErrorPattern(name="net", error_type=ConnectionError, strategy=RetryStrategy(policy))]
    )
    result = await manager.handle(ConnectionError("first"), {"operation": operation})
    assert not result.recovered
    assert isinstance(result.error, ConnectionError)
    assert result.attempts == 2
    with pytest.raises(ValueError, match=r"^context\['operation'\] must be an async callable"):
        await manager.handle(ConnectionError("x"), {})


async def test_restart_then_rerun() -> None:
    events: list[str] = []

    async def restart() -> None:
        events.append("restart")

    async def operation() -> int:
        events.append("run")
        return 42

    manager = ErrorRecoveryManager(
        [
            ErrorPattern(
                name="db", error_type=OSError, strategy=RestartStrategy(restart, component="db")
            )
        ]
    )
    result = await manager.handle(OSError("gone"), {"operation": operation})
    assert (result.recovered, result.value, result.attempts) == (True, 42, 1)
    assert events == ["restart", "run"]

    async def broken_restart() -> None:
        raise RuntimeError("cannot restart")

    other = ErrorRecoveryManager([ErrorPattern(name="x", strategy=RestartStrategy())])
    failed = await other.handle(OSError("gone"), {"restart": broken_restart})
    assert not failed.recovered
    assert isinstance(failed.error, RuntimeError)


async def test_escalate_is_logged_and_emitted(caplog: pytest.LogCaptureFixture) -> None:
    async with open_event_bus() as bus:
        escalated: list[ErrorEscalated] = []
        bus.on(ErrorEscalated, escalated.append)
        manager = ErrorRecoveryManager(
            [
                ErrorPattern(
                    name="fatal", severity=ErrorSeverity.CRITICAL, strategy=EscalateStrategy()
                )
            ],
            bus=bus,
        )
        error = RuntimeError("disk on fire")
        result = await manager.handle(error)
        assert (result.recovered, result.escalated, result.error) == (False, True, error)
        assert escalated == [ErrorEscalated("fatal", error, ErrorSeverity.CRITICAL)]
        assert manager.stats.escalated == 1
        assert [r.name for r in caplog.records] == ["trio_orch.recovery"]
        assert "trio_orch.recovery.escalated" in caplog.records[0].getMessage()


async def test_pattern_without_strategy_only_categorizes() -> None:
    manager = ErrorRecoveryManager([ErrorPattern(name="noted")])
    result = await manager.handle(ValueError("x"))
    assert not result.recovered
    assert result.pattern is manager.patterns[0]


async def test_cancellation_is_never_handled() -> None:
    manager = ErrorRecoveryManager([ErrorPattern(name="all", strategy=FallbackStrategy(1))])
    with pytest.raises(KeyboardInterrupt):
        await manager.handle(KeyboardInterrupt())

    async def slow() -> None:
        await trio.sleep_forever()

    retrying = ErrorRecoveryManager(
        [ErrorPattern(name="all", strategy=RetryStrategy(RetryPolicy(max_attempts=3)))]
    )
    with trio.move_on_after(0.01) as scope:
        await retrying.handle(ValueError("x"), {"operation": slow})
    assert scope.cancelled_caught
