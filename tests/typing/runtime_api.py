"""assert_type checks of the monitor, recovery, supervisor, process and command-loop APIs.

NOT meant to be executed: ``make test`` runs ``mypy --strict tests/typing`` on it.
"""

from __future__ import annotations

from typing import assert_type

import trio

from trio_orch import (
    Command,
    CommandLoop,
    ErrorPattern,
    ErrorRecoveryManager,
    FallbackStrategy,
    HistogramSnapshot,
    PerformanceMonitor,
    PerformanceReport,
    ProcessReport,
    RecoveryResult,
    Reply,
    Supervisor,
    SupervisorStats,
    ThresholdViolation,
    monitor_process,
)


async def monitor() -> None:
    m = PerformanceMonitor()

    @m.timer("fetch")
    async def fetch(n: int) -> str:
        await trio.lowlevel.checkpoint()
        return str(n)

    @m.timer("parse")
    def parse(text: str) -> int:
        return len(text)

    assert_type(await fetch(1), str)
    assert_type(parse("x"), int)
    with m.timer("block"):
        pass
    assert_type(m.report(), PerformanceReport)
    assert_type(m.histogram("fetch"), HistogramSnapshot)
    assert_type(m.check_thresholds(), list[ThresholdViolation])
    assert_type(m.to_prometheus(), str)


async def recovery_and_supervision() -> None:
    manager = ErrorRecoveryManager([ErrorPattern(name="x", strategy=FallbackStrategy(0))])
    assert_type(await manager.handle(ValueError()), RecoveryResult)
    assert_type(manager.categorize(ValueError()), ErrorPattern | None)
    async with Supervisor() as sup:
        assert_type(sup.stats, SupervisorStats)
    assert_type(await monitor_process(["true"]), ProcessReport)


async def commands() -> None:
    loop = CommandLoop()

    @loop.command("hi")
    async def hi(command: Command[None], reply: Reply) -> str:
        await reply("hello")
        return "bye"

    assert_type(await loop.run(), int)
