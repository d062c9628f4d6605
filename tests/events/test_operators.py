"""Stream operators on virtual time: batch, throttle, debounce, dedupe, and pipelines."""

from __future__ import annotations

import itertools
import logging
from typing import Any

import attrs
import pytest
import trio
import trio.testing
from structlog.testing import capture_logs

from trio_orch import (
    Actor,
    Event,
    Operator,
    OperatorStats,
    ThrottleMode,
    batch,
    debounce,
    dedupe,
    open_choreographer,
    open_event_bus,
    open_pipeline,
    start_pipeline,
    throttle,
)

Schedule = list[tuple[float, Any]]


async def run_schedule(schedule: Schedule, *operators: Operator) -> Schedule:
    """Send each item at its (absolute) time; return (time, output) pairs."""
    send, receive = trio.open_memory_channel[Any](100)
    out: Schedule = []
    async with trio.open_nursery() as nursery:

        async def producer() -> None:
            async with send:
                for at, item in schedule:
                    await trio.sleep_until(at)
                    await send.send(item)

        nursery.start_soon(producer)
        async with open_pipeline(receive, *operators) as results:
            async for result in results:
                out.append((trio.current_time(), result))
    return out


async def test_batch_flushes_on_size(autojump_clock: trio.testing.MockClock) -> None:
    op = batch(3, 10.0)
    out = await run_schedule([(0.0, n) for n in range(7)], op)
    assert out == [(0.0, (0, 1, 2)), (0.0, (3, 4, 5)), (0.0, (6,))]
    assert op.stats == OperatorStats(received=7, emitted=3, dropped=0)


async def test_batch_flushes_on_max_wait(autojump_clock: trio.testing.MockClock) -> None:
    out = await run_schedule(
        [(0.0, "a"), (0.5, "b"), (3.0, "c"), (3.9, "d"), (5.0, "e")], batch(10, 1.0)
    )
    # max_wait counts from the first item of each batch.
    assert out == [(1.0, ("a", "b")), (4.0, ("c", "d")), (5.0, ("e",))]


async def test_batch_flushes_partial_batch_when_input_ends(
    autojump_clock: trio.testing.MockClock,
) -> None:
    out = await run_schedule([(0.0, 1), (0.2, 2)], batch(10, 5.0))
    assert out == [(0.2, (1, 2))]


async def test_throttle_delay_spaces_items(autojump_clock: trio.testing.MockClock) -> None:
    op = throttle(4)
    out = await run_schedule([(0.0, n) for n in range(5)] + [(3.0, 5)], op)
    assert out == [(0.0, 0), (0.25, 1), (0.5, 2), (0.75, 3), (1.0, 4), (3.0, 5)]
    assert op.stats == OperatorStats(received=6, emitted=6, dropped=0)


async def test_throttle_drop_discards_early_items(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="trio_orch.operators")
    op = throttle(2, mode=ThrottleMode.DROP)
    schedule: Schedule = [(t / 10, t) for t in range(0, 15)]  # every 0.1 s for 1.4 s
    with capture_logs() as logs:
        out = await run_schedule(schedule, op)
    assert out == [(0.0, 0), (0.5, 5), (1.0, 10)]
    assert op.stats == OperatorStats(received=15, emitted=3, dropped=12)
    # Drops by design are logged at INFO (quiet by default): the first at once.
    assert logs[0]["event"] == "trio_orch.operators.dropped"
    assert logs[0]["log_level"] == "info"


async def test_throttle_latest_keeps_newest_for_next_slot(
    autojump_clock: trio.testing.MockClock,
) -> None:
    op = throttle(2, mode=ThrottleMode.LATEST)
    # Item 0 at 0.0, then one every 0.1 s from 0.11 to 1.21.
    schedule: Schedule = [(0.0, 0)] + [(t / 10 + 0.01, t) for t in range(1, 13)]
    with capture_logs():
        out = await run_schedule(schedule, op)
    # The slot at 0.5 s gets the newest item by then (4, sent at 0.41), and so on; the
    # tail is flushed at its slot after the input ends.
    assert out == [(0.0, 0), (0.5, 4), (1.0, 9), (1.5, 12)]
    assert op.stats.dropped == 13 - 4


async def test_throttle_rate_over_a_long_run(autojump_clock: trio.testing.MockClock) -> None:
    out = await run_schedule([(0.0, n) for n in range(61)], throttle(60))
    assert out[-1] == (pytest.approx(1.0), 60)
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(out)]
    assert all(g == pytest.approx(1 / 60) for g in gaps)


async def test_debounce_emits_last_after_quiet(autojump_clock: trio.testing.MockClock) -> None:
    op = debounce(0.5)
    schedule: Schedule = [(0.0, "a"), (0.2, "b"), (0.4, "c"), (2.0, "d"), (2.6, "e"), (2.7, "f")]
    with capture_logs():
        out = await run_schedule(schedule, op)
    assert out == [(pytest.approx(0.9), "c"), (2.5, "d"), (2.7, "f")]
    assert op.stats == OperatorStats(received=6, emitted=3, dropped=3)


async def test_debounce_waits_full_quiet_period(autojump_clock: trio.testing.MockClock) -> None:
    send, receive = trio.open_memory_channel[str](10)
    async with open_pipeline(receive, debounce(1.0)) as out:
        await send.send("x")
        await trio.sleep(0.99)
        with pytest.raises(trio.WouldBlock):
            out.receive_nowait()  # type: ignore[attr-defined]
        assert await out.receive() == "x"
        assert trio.current_time() == 1.0


async def test_dedupe_window(autojump_clock: trio.testing.MockClock) -> None:
    op = dedupe(lambda item: item["id"], 1.0)
    schedule: Schedule = [
        (0.0, {"id": 1, "v": "a"}),
        (0.1, {"id": 2, "v": "b"}),
        (0.5, {"id": 1, "v": "c"}),  # repeat within the window: dropped
        (1.0, {"id": 1, "v": "d"}),  # the window of id 1 (from 0.0) is over
        (1.05, {"id": 2, "v": "e"}),  # id 2 suppressed until 1.1
        (1.2, {"id": 2, "v": "f"}),
    ]
    with capture_logs():
        out = await run_schedule(schedule, op)
    assert [(t, item["v"]) for t, item in out] == [(0.0, "a"), (0.1, "b"), (1.0, "d"), (1.2, "f")]
    assert op.stats == OperatorStats(received=6, emitted=4, dropped=2)


async def test_dedupe_without_key_and_bounded_memory(
    autojump_clock: trio.testing.MockClock,
) -> None:
    op = dedupe(None, 10.0, max_keys=2)
    with capture_logs():
        out = await run_schedule([(0.0, "a"), (0.1, "b"), (0.2, "c"), (0.3, "a"), (0.4, "c")], op)
    # Only two keys are remembered: "a" was forgotten when "c" came, so it passes again.
    assert [item for _, item in out] == ["a", "b", "c", "a"]


async def test_operators_chain(autojump_clock: trio.testing.MockClock) -> None:
    out = await run_schedule([(0.0, n) for n in range(8)], throttle(4), batch(3, 0.6))
    assert out == [(0.5, (0, 1, 2)), (1.25, (3, 4, 5)), (1.75, (6, 7))]


async def test_start_pipeline_in_callers_nursery() -> None:
    send, receive = trio.open_memory_channel[int](10)
    async with trio.open_nursery() as nursery:
        out = start_pipeline(nursery, receive, batch(2, 1.0))
        async with send:
            for n in range(4):
                await send.send(n)
        got = [item async for item in out]
    assert got == [(0, 1), (2, 3)]
    assert start_pipeline(nursery, receive) is receive


async def test_operator_open_runs_on_a_plain_channel(
    autojump_clock: trio.testing.MockClock,
) -> None:
    send, receive = trio.open_memory_channel[int](10)
    op = batch(3, 0.5)
    async with op.open(receive) as batches:
        async with send:
            for n in range(4):
                await send.send(n)
        got = [(trio.current_time(), b) async for b in batches]
    assert got == [(0.0, (0, 1, 2)), (0.0, (3,))]
    assert op.stats.received == 4
    assert op.stats.emitted == 2


async def test_consumer_closing_output_ends_stage_quietly() -> None:
    send, receive = trio.open_memory_channel[int](10)
    async with trio.open_nursery() as nursery:
        out = start_pipeline(nursery, receive, throttle(1000), max_buffer=0)
        await out.aclose()
        await send.send(1)  # the stage tries to pass it on, finds nobody, and ends
    with pytest.raises(trio.BrokenResourceError):
        send.send_nowait(2)  # the stage closed its input when it ended


async def test_open_pipeline_cancels_stages_on_exit(
    autojump_clock: trio.testing.MockClock,
) -> None:
    send, receive = trio.open_memory_channel[int](10)
    async with open_pipeline(receive, debounce(100.0)) as out:
        await send.send(1)
        await trio.testing.wait_all_tasks_blocked()
    assert trio.current_time() == 0.0  # the debounced item was abandoned, not waited for
    with pytest.raises(trio.EndOfChannel):
        out.receive_nowait()  # type: ignore[attr-defined]
    with pytest.raises(trio.BrokenResourceError):
        send.send_nowait(2)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: batch(0, 1.0), ValueError, r"^max_size must be >= 1, got 0$"),
        (lambda: batch(1.5, 1.0), TypeError, r"^max_size must be an int, got 1.5$"),
        (lambda: batch(2, 0), ValueError, r"^max_wait must be finite and > 0, got 0$"),
        (lambda: throttle(-1), ValueError, r"^per_second must be finite and > 0, got -1$"),
        (
            lambda: throttle(float("inf")),
            ValueError,
            r"^per_second must be finite and > 0, got inf$",
        ),
        (lambda: throttle(True), TypeError, r"^per_second must be a number, got True$"),
        (lambda: throttle(5, mode="drop"), TypeError, r"^mode must be a ThrottleMode, got 'drop'$"),
        (lambda: debounce("1"), TypeError, r"^delay must be a number, got '1'$"),
        (lambda: dedupe(3, 1.0), TypeError, r"^key must be callable or None, got 3$"),
        (
            lambda: dedupe(None, 1.0, max_keys=0),
            ValueError,
            r"^max_keys must be >= 1, got 0$",
        ),
    ],
)
def test_bad_input(make: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        make()


async def test_pipeline_bad_input() -> None:
    _, receive = trio.open_memory_channel[int](1)
    async with trio.open_nursery() as nursery:
        with pytest.raises(TypeError, match=r"^operators must be Operator instances, got 3$"):
            start_pipeline(nursery, receive, 3)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"^max_buffer must be >= 0, got -1$"):
            start_pipeline(nursery, receive, batch(1, 1.0), max_buffer=-1)


# ---- an operator that raises (issue 10, defect 2) -------------------------------------------


def key_failing_on(bad: int) -> Any:
    def key(item: int) -> int:
        if item == bad:
            raise KeyError(item)
        return item

    return key


def queued_channel(items: range) -> trio.MemoryReceiveChannel[int]:
    send, receive = trio.open_memory_channel[int](len(items))
    for item in items:
        send.send_nowait(item)
    send.close()
    return receive


@pytest.mark.parametrize("use_open", [False, True])
async def test_an_operators_error_comes_out_of_the_pipeline_block(use_open: bool) -> None:
    op = dedupe(key_failing_on(3), 1.0)
    receive = queued_channel(range(6))
    got: list[int] = []
    ended_normally = False

    async def consume() -> None:
        nonlocal ended_normally
        block = op.open(receive) if use_open else open_pipeline(receive, op)
        async with block as out:
            async for item in out:
                got.append(item)  # noqa: PERF401 - each item as it comes, before the error
            ended_normally = True  # the consumer must not see the end of the input

    with capture_logs() as logs, pytest.raises(KeyError) as info:
        await consume()
    assert info.value.args == (3,)
    assert not ended_normally
    assert got == [0, 1, 2]
    # 3 raised; 4 and 5 were still queued: all three are counted as dropped, not lost.
    assert op.stats == OperatorStats(received=6, emitted=3, dropped=3)
    failed = [e for e in logs if e["event"] == "trio_orch.operators.failed"]
    assert [(e["operator"], e["queued_dropped"], e["total_dropped"]) for e in failed] == [
        ("dedupe", 2, 3)
    ]
    assert failed[0]["log_level"] == "error"


async def test_an_operators_error_comes_out_of_the_callers_nursery() -> None:
    op = dedupe(key_failing_on(1), 1.0)
    downstream = batch(10, 100.0)

    async def consume() -> None:
        async with trio.open_nursery() as nursery:
            out = start_pipeline(nursery, queued_channel(range(3)), op, downstream)
            async for _ in out:
                pytest.fail("the batch must not be flushed as if the input had ended")

    with capture_logs(), pytest.raises(ExceptionGroup) as info:
        await consume()
    assert info.group_contains(KeyError, depth=1)
    assert op.stats == OperatorStats(received=3, emitted=1, dropped=2)
    assert downstream.stats.emitted == 0


async def test_an_operators_error_in_a_flow_stops_the_choreographer() -> None:
    @attrs.frozen
    class Tick(Event):
        n: int

    class Sink(Actor[Any]):
        async def handle(self, event: Any) -> None:
            await trio.lowlevel.checkpoint()

    async def scenario() -> None:
        async with open_event_bus() as bus, open_choreographer(bus) as choreo:
            ref = await choreo.spawn(Sink())
            choreo.flow(Tick, to=ref, transform=lambda e: e.n).dedupe(key_failing_on(2), 1.0)
            for n in range(4):
                await bus.publish(Tick(n))
            await trio.sleep_forever()

    with capture_logs(), pytest.raises(KeyError):
        await scenario()
